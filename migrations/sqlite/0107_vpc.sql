-- The vpc service: VPCs, subnets, security groups and their rules, network interfaces (each
-- instance has a primary one holding an address of its subnet) and elastic IPs. Instances
-- keep what describeInstance shows of them (vpc, subnet, elastic IP, key pairs) on their row,
-- written in the same transaction as the resource it names, so listing stays one query.
CREATE TABLE vpcs (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    address_prefix TEXT NOT NULL DEFAULT '',
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX vpcs_by_owner ON vpcs(pin, region, seq);
CREATE UNIQUE INDEX vpcs_one_default ON vpcs(pin, region) WHERE is_default = 1;

CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    region TEXT NOT NULL,
    vpc_id TEXT NOT NULL REFERENCES vpcs(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    address_prefix TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX subnets_by_owner ON subnets(pin, region, seq);
CREATE INDEX subnets_by_vpc ON subnets(vpc_id);

CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    region TEXT NOT NULL,
    vpc_id TEXT NOT NULL REFERENCES vpcs(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX security_groups_by_owner ON security_groups(pin, region, seq);
CREATE INDEX security_groups_by_vpc ON security_groups(vpc_id);

CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
    direction INTEGER NOT NULL,
    protocol INTEGER NOT NULL,
    address_prefix TEXT NOT NULL,
    from_port INTEGER NOT NULL,
    to_port INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX security_group_rules_by_group ON security_group_rules(group_id, seq);

CREATE TABLE network_interfaces (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    region TEXT NOT NULL,
    vpc_id TEXT NOT NULL,
    subnet_id TEXT NOT NULL REFERENCES subnets(id),
    instance_id TEXT,
    role TEXT NOT NULL,
    private_ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    security_group_ids TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (subnet_id, private_ip)
);
CREATE INDEX network_interfaces_by_owner ON network_interfaces(pin, region, seq);
CREATE INDEX network_interfaces_by_instance ON network_interfaces(instance_id);

CREATE TABLE elastic_ips (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL UNIQUE,
    bandwidth_mbps INTEGER NOT NULL,
    provider TEXT NOT NULL,
    nic_id TEXT,
    private_ip TEXT NOT NULL DEFAULT '',
    instance_id TEXT,
    with_instance INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX elastic_ips_by_owner ON elastic_ips(pin, region, seq);
CREATE INDEX elastic_ips_by_nic ON elastic_ips(nic_id);

ALTER TABLE instances ADD COLUMN vpc_id TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN subnet_id TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN elastic_ip_id TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN elastic_ip_address TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN key_names TEXT NOT NULL DEFAULT '[]';
