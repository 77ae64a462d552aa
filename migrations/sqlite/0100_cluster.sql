-- Shared-state tables of a cluster (used in PostgreSQL mode; kept here so both backends
-- have one schema).
CREATE TABLE nonces (
    access_key  TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (access_key, nonce)
);
CREATE INDEX nonces_expiry ON nonces(expires_at);

CREATE TABLE locks (
    name  TEXT PRIMARY KEY
);
INSERT INTO locks(name) VALUES ('writer');

-- Live nodes: each renews `seen_at` (unix ms) while it runs and removes its row on a clean
-- stop. A starting node that finds no other live node may clean up as a single node would.
CREATE TABLE nodes (
    id        TEXT PRIMARY KEY,
    addr      TEXT NOT NULL,
    seen_at   INTEGER NOT NULL,
    lease_ms  INTEGER NOT NULL
);
