-- createInstances / modifyInstancePassword / rebuildInstance: the instance's password, kept
-- only as a salted SHA-256 (`salt$hex`), for the guest to be given at boot.
ALTER TABLE instances ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
