-- Kiln metadata, PostgreSQL flavour (the same tables as migrations/sqlite; integers are
-- BIGINT, flags BOOLEAN). Plain SQL that CockroachDB and YugabyteDB also accept. Times are unix milliseconds (UTC); the wire formats them.
-- Every tenant resource carries its account (`pin`) and region.

CREATE TABLE accounts (
    pin         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    access_key  TEXT NOT NULL UNIQUE,
    secret_key  TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

-- One qcow2 file each; `backing_id` is the layer it overlays.
CREATE TABLE layers (
    id          TEXT PRIMARY KEY,
    backing_id  TEXT REFERENCES layers(id),
    size_bytes  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX layers_backing ON layers(backing_id);

CREATE TABLE instances (
    id              TEXT PRIMARY KEY,
    pin             TEXT NOT NULL,
    region          TEXT NOT NULL,
    az              TEXT NOT NULL,
    name            TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    instance_type   TEXT NOT NULL,
    image_id        TEXT NOT NULL,
    status          TEXT NOT NULL,
    -- the running underlay task (`create`, `stop`, `createImage`, …) or NULL when idle
    task            TEXT,
    private_ip      TEXT NOT NULL,
    primary_nic     TEXT,
    charge_mode     TEXT NOT NULL DEFAULT 'postpaid_by_duration',
    charge_on_stopped TEXT NOT NULL DEFAULT 'keepCharging',
    created_at      BIGINT NOT NULL,
    seq             BIGINT NOT NULL
);
CREATE INDEX instances_owner ON instances(pin, region, seq);

-- Cloud disks (disk API) and local disks (only seen through their instance).
CREATE TABLE disks (
    id              TEXT PRIMARY KEY,
    pin             TEXT NOT NULL,
    region          TEXT NOT NULL,
    az              TEXT NOT NULL,
    category        TEXT NOT NULL,          -- cloud | local
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    disk_type       TEXT NOT NULL,
    size_gb         BIGINT NOT NULL,
    iops            BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,
    task            TEXT,
    top_layer_id    TEXT NOT NULL REFERENCES layers(id),
    snapshot_id     TEXT NOT NULL DEFAULT '',
    multi_attachable BOOLEAN NOT NULL DEFAULT FALSE,
    encrypted       BOOLEAN NOT NULL DEFAULT FALSE,
    charge_mode     TEXT NOT NULL DEFAULT 'postpaid_by_duration',
    created_at      BIGINT NOT NULL,
    seq             BIGINT NOT NULL
);
CREATE INDEX disks_owner ON disks(pin, region, seq);
CREATE INDEX disks_top ON disks(top_layer_id);

CREATE TABLE attachments (
    disk_id      TEXT NOT NULL REFERENCES disks(id),
    instance_id  TEXT NOT NULL REFERENCES instances(id),
    device_name  TEXT NOT NULL,
    status       TEXT NOT NULL,
    auto_delete  BOOLEAN NOT NULL DEFAULT FALSE,
    attached_at  BIGINT NOT NULL,
    PRIMARY KEY (disk_id, instance_id)
);
CREATE UNIQUE INDEX attachments_device ON attachments(instance_id, device_name);

CREATE TABLE snapshots (
    id           TEXT PRIMARY KEY,
    pin          TEXT NOT NULL,
    region       TEXT NOT NULL,
    disk_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    size_gb      BIGINT NOT NULL,
    -- the frozen layer, set when the freeze step has run
    layer_id     TEXT REFERENCES layers(id),
    encrypted    BOOLEAN NOT NULL DEFAULT FALSE,
    -- the image whose createImage/importImage made it ('' for createSnapshot)
    made_for_image TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    seq          BIGINT NOT NULL
);
CREATE INDEX snapshots_owner ON snapshots(pin, region, seq);
CREATE INDEX snapshots_layer ON snapshots(layer_id);

-- Public images have pin '' and region '' (visible in every region).
CREATE TABLE images (
    id               TEXT PRIMARY KEY,
    pin              TEXT NOT NULL,
    region           TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    image_source     TEXT NOT NULL,
    platform         TEXT NOT NULL,
    os_version       TEXT NOT NULL,
    os_type          TEXT NOT NULL,
    architecture     TEXT NOT NULL,
    system_disk_size_gb BIGINT NOT NULL,
    status           TEXT NOT NULL,
    root_device_type TEXT NOT NULL,
    -- the layer instances boot from (public base or localDisk copy)
    layer_id         TEXT REFERENCES layers(id),
    snapshot_id      TEXT NOT NULL DEFAULT '',
    instance_id      TEXT NOT NULL DEFAULT '',
    size_mb          BIGINT NOT NULL DEFAULT 0,
    login_name       TEXT NOT NULL DEFAULT '',
    imported         BOOLEAN NOT NULL DEFAULT FALSE,
    -- block-device mapping of a private image (vda first), JSON of ImageBlockDevice[]
    block_devices    TEXT NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL,
    seq              BIGINT NOT NULL
);
CREATE INDEX images_owner ON images(pin, region, seq);
CREATE INDEX images_layer ON images(layer_id);

-- importImage/exportImage as clients see them (imageTasks); ids are decimal strings.
CREATE TABLE image_tasks (
    id           TEXT PRIMARY KEY,
    pin          TEXT NOT NULL,
    region       TEXT NOT NULL,
    action       TEXT NOT NULL,             -- ImportImage | ExportImage
    status       TEXT NOT NULL,             -- pending | running | failed | finished
    progress     BIGINT NOT NULL DEFAULT 0,
    image_id     TEXT NOT NULL,
    image_name   TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',  -- imageUrl (import) or ossUrl (export)
    objects      TEXT NOT NULL DEFAULT '[]',-- exported files, JSON array
    error        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL DEFAULT 0,
    seq          BIGINT NOT NULL
);
CREATE INDEX image_tasks_owner ON image_tasks(pin, region, seq);

-- Durable asynchronous work. A worker claims a due task under a lease and runs its
-- current step; `step` records progress so a restart resumes where it stopped.
CREATE TABLE tasks (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    step         BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL,             -- pending | done | failed
    run_after    BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL DEFAULT '{}',
    error        TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX tasks_due ON tasks(state, run_after);

-- Idempotency: the first result of a call with a given clientToken.
CREATE TABLE client_tokens (
    pin         TEXT NOT NULL,
    region      TEXT NOT NULL,
    operation   TEXT NOT NULL,
    token       TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (pin, region, operation, token)
);

CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
