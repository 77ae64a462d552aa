//! The vpc service's models (Vpc, Subnet, NetworkSecurityGroup, SecurityGroupRule,
//! ElasticIp, NetworkInterface, Quota), field for field as the SDKs name them.

use schemars::JsonSchema;
use serde::Serialize;

use super::local_time;
use crate::http::schema::{Empty, NONE};
use crate::service::vpc::{
    cidr, ElasticIpRow, NetworkInterfaceRow, SecurityGroupRow, SecurityGroupRuleRow, SubnetRow,
    VpcDetail, VpcQuota,
};

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Vpc")]
pub struct VpcView<'a> {
    vpc_id: &'a str,
    /// `""`: its subnets may use any private range.
    address_prefix: &'a str,
    description: &'a str,
    vpc_name: &'a str,
    acl_ids: Empty,
    route_table_ids: Empty,
    subnets: Vec<SubnetView<'a>>,
    created_time: String,
    tags: Empty,
}

pub fn vpc(d: &VpcDetail) -> VpcView<'_> {
    let v = &d.vpc;
    VpcView {
        vpc_id: &v.id,
        address_prefix: &v.address_prefix,
        description: &v.description,
        vpc_name: &v.name,
        acl_ids: NONE,
        route_table_ids: NONE,
        // Inside a VPC the subnets' address counts are not shown (JD gives the list).
        subnets: d.subnets.iter().map(|s| subnet(s, 0)).collect(),
        created_time: local_time(v.created_at),
        tags: NONE,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Subnet")]
pub struct SubnetView<'a> {
    subnet_id: &'a str,
    subnet_name: &'a str,
    vpc_id: &'a str,
    address_prefix: &'a str,
    /// Addresses left to hand out.
    available_ip_count: i64,
    description: &'a str,
    route_table_id: &'static str,
    acl_id: &'static str,
    /// First and last address handed out (network, gateway, DHCP and broadcast reserved).
    start_ip: String,
    end_ip: String,
    created_time: String,
    /// `standard`.
    subnet_type: &'static str,
    az: &'static str,
    tags: Empty,
}

/// A subnet with `used` of its addresses handed out.
pub fn subnet(s: &SubnetRow, used: i64) -> SubnetView<'_> {
    let net = cidr::parse_private(&s.address_prefix);
    let (start, end) = net
        .as_ref()
        .map(cidr::usable_range)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_default();
    let usable = net.as_ref().map_or(0, |n| cidr::usable_count(n) as i64);
    SubnetView {
        subnet_id: &s.id,
        subnet_name: &s.name,
        vpc_id: &s.vpc_id,
        address_prefix: &s.address_prefix,
        available_ip_count: (usable - used).max(0),
        description: &s.description,
        route_table_id: "",
        acl_id: "",
        start_ip: start,
        end_ip: end,
        created_time: local_time(s.created_at),
        subnet_type: "standard",
        az: "",
        tags: NONE,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "SecurityGroupRule")]
pub struct SecurityGroupRuleView<'a> {
    rule_id: &'a str,
    /// 0 in, 1 out.
    direction: i64,
    /// `ALLOW`.
    rule_action: &'static str,
    priority: i64,
    /// 300 all, 6 TCP, 17 UDP, 1 ICMP.
    protocol: i64,
    /// `CIDR`.
    address_prefix_type: &'static str,
    address_prefix: &'a str,
    ip_version: i64,
    from_port: i64,
    to_port: i64,
    created_time: String,
    description: &'a str,
    /// `custom`.
    rule_type: &'static str,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "NetworkSecurityGroup")]
pub struct SecurityGroupView<'a> {
    network_security_group_id: &'a str,
    network_security_group_name: &'a str,
    description: &'a str,
    vpc_id: &'a str,
    security_group_rules: Vec<SecurityGroupRuleView<'a>>,
    created_time: String,
    /// `default` or `custom`.
    network_security_group_type: &'static str,
}

pub fn security_group<'a>(
    g: &'a SecurityGroupRow,
    rules: &'a [SecurityGroupRuleRow],
) -> SecurityGroupView<'a> {
    SecurityGroupView {
        network_security_group_id: &g.id,
        network_security_group_name: &g.name,
        description: &g.description,
        vpc_id: &g.vpc_id,
        security_group_rules: rules
            .iter()
            .map(|r| SecurityGroupRuleView {
                rule_id: &r.id,
                direction: r.direction,
                rule_action: "ALLOW",
                priority: 100,
                protocol: r.protocol,
                address_prefix_type: "CIDR",
                address_prefix: &r.address_prefix,
                ip_version: 4,
                from_port: r.from_port,
                to_port: r.to_port,
                created_time: local_time(r.created_at),
                description: &r.description,
                rule_type: "custom",
            })
            .collect(),
        created_time: local_time(g.created_at),
        network_security_group_type: if g.is_default { "default" } else { "custom" },
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ElasticIp")]
pub struct ElasticIpView<'a> {
    elastic_ip_id: &'a str,
    elastic_ip_name: &'a str,
    elastic_ip_address: &'a str,
    bandwidth_mbps: i64,
    provider: &'a str,
    /// The address of the interface it is on (`""` when on none).
    private_ip_address: &'a str,
    network_interface_id: &'a str,
    instance_id: &'a str,
    /// `compute` when on an instance.
    instance_type: &'static str,
    created_time: String,
    az: &'static str,
    /// `standard`.
    ip_type: &'static str,
    /// `ASSOCIATED` or `NOT_ASSOCIATED`.
    status: &'static str,
    /// `UP`.
    state: &'static str,
    tags: Empty,
}

pub fn elastic_ip(e: &ElasticIpRow) -> ElasticIpView<'_> {
    let associated = e.nic_id.is_some();
    ElasticIpView {
        elastic_ip_id: &e.id,
        elastic_ip_name: &e.name,
        elastic_ip_address: &e.address,
        bandwidth_mbps: e.bandwidth_mbps,
        provider: &e.provider,
        private_ip_address: &e.private_ip,
        network_interface_id: e.nic_id.as_deref().unwrap_or(""),
        instance_id: e.instance_id.as_deref().unwrap_or(""),
        instance_type: if e.instance_id.is_some() {
            "compute"
        } else {
            ""
        },
        created_time: local_time(e.created_at),
        az: "",
        ip_type: "standard",
        status: if associated {
            "ASSOCIATED"
        } else {
            "NOT_ASSOCIATED"
        },
        state: "UP",
        tags: NONE,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivateIpView<'a> {
    private_ip_address: &'a str,
    elastic_ip_id: &'a str,
    elastic_ip_address: &'a str,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "NetworkInterface")]
pub struct NetworkInterfaceView<'a> {
    network_interface_name: &'a str,
    network_interface_id: &'a str,
    az_type: &'static str,
    az: &'static str,
    /// `Primary` or `Secondary`.
    role: &'a str,
    mac_address: &'a str,
    vpc_id: &'a str,
    subnet_id: &'a str,
    network_security_group_ids: Vec<String>,
    sanity_check: i64,
    primary_ip: PrivateIpView<'a>,
    secondary_ips: Empty,
    instance_type: &'static str,
    instance_id: &'a str,
    instance_owner_id: &'a str,
    /// 1 for an instance's primary interface.
    device_index: i64,
    description: &'static str,
    /// `attached` or `detached`.
    attachment_status: &'static str,
    /// `enabled`.
    network_interface_status: &'static str,
    created_time: String,
    tags: Empty,
}

/// An interface with the elastic IP on it, if any.
pub fn network_interface<'a>(
    n: &'a NetworkInterfaceRow,
    eip: Option<&'a ElasticIpRow>,
) -> NetworkInterfaceView<'a> {
    let attached = n.instance_id.is_some();
    NetworkInterfaceView {
        network_interface_name: &n.id,
        network_interface_id: &n.id,
        az_type: "standard",
        az: "",
        role: &n.role,
        mac_address: &n.mac,
        vpc_id: &n.vpc_id,
        subnet_id: &n.subnet_id,
        network_security_group_ids: n.security_groups(),
        sanity_check: 1,
        primary_ip: PrivateIpView {
            private_ip_address: &n.private_ip,
            elastic_ip_id: eip.map_or("", |e| e.id.as_str()),
            elastic_ip_address: eip.map_or("", |e| e.address.as_str()),
        },
        secondary_ips: NONE,
        instance_type: if attached { "compute" } else { "" },
        instance_id: n.instance_id.as_deref().unwrap_or(""),
        instance_owner_id: if attached { &n.pin } else { "" },
        device_index: if attached { 1 } else { 0 },
        description: "",
        attachment_status: if attached { "attached" } else { "detached" },
        network_interface_status: "enabled",
        created_time: local_time(n.created_at),
        tags: NONE,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "VpcQuota")]
pub struct VpcQuotaView {
    /// `vpc`, `subnet`, `security_group`, `elastic_ip` or `network_interface`.
    r#type: &'static str,
    /// The VPC, for `subnet` and `security_group`.
    parent_resource_id: String,
    max_limit: i64,
    count: i64,
}

pub fn vpc_quota(q: VpcQuota) -> VpcQuotaView {
    VpcQuotaView {
        r#type: q.kind.as_str(),
        parent_resource_id: q.parent_resource_id,
        max_limit: q.max_limit,
        count: q.count,
    }
}
