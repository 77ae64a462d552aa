-- detachDisk: a detached disk stays in its instance's describeInstance dataDisks with status
-- `detached` for a while (Terraform waits for exactly that), recorded here when the
-- detachment ends.
CREATE TABLE recent_detachments (
    disk_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    device_name TEXT NOT NULL,
    auto_delete BOOLEAN NOT NULL DEFAULT FALSE,
    detached_at BIGINT NOT NULL,
    PRIMARY KEY (disk_id, instance_id)
);
CREATE INDEX recent_detachments_by_instance ON recent_detachments(instance_id);
