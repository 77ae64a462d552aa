-- A disk whose creation failed holds no data and keeps no layer: its layer row and file go
-- with the failure at once (they used to stay, the row without a file, until the disk was
-- deleted), so `top_layer_id` may be NULL. SQLite cannot drop a NOT NULL constraint: the
-- table is rebuilt the way sqlite.org/lang_altertable.html section 7 describes: Kiln runs
-- migrations with foreign keys off and checks them all afterwards (store::open_sqlite).
CREATE TABLE disks_new (
    id              TEXT PRIMARY KEY,
    pin             TEXT NOT NULL,
    region          TEXT NOT NULL,
    az              TEXT NOT NULL,
    category        TEXT NOT NULL,          -- cloud | local
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    disk_type       TEXT NOT NULL,
    size_gb         INTEGER NOT NULL,
    iops            INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,
    task            TEXT,
    top_layer_id    TEXT REFERENCES layers(id),
    snapshot_id     TEXT NOT NULL DEFAULT '',
    multi_attachable INTEGER NOT NULL DEFAULT 0,
    encrypted       INTEGER NOT NULL DEFAULT 0,
    charge_mode     TEXT NOT NULL DEFAULT 'postpaid_by_duration',
    created_at      INTEGER NOT NULL,
    seq             INTEGER NOT NULL
);
INSERT INTO disks_new SELECT * FROM disks;
DROP TABLE disks;
ALTER TABLE disks_new RENAME TO disks;
CREATE INDEX disks_owner ON disks(pin, region, seq);
CREATE INDEX disks_top ON disks(top_layer_id);
-- The planner statistics of 0102 went with the old table.
DELETE FROM sqlite_stat1 WHERE tbl = 'disks';
INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES
    ('disks', 'sqlite_autoindex_disks_1', '100000 1'),
    ('disks', 'disks_owner', '100000 1000 1000 1'),
    ('disks', 'disks_top', '100000 1');
