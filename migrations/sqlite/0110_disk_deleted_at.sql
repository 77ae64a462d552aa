-- deleteDisk leaves the row reading `deleted` for a while (`--deleted-retention`), as JD
-- does; this is when it was deleted. NULL for every disk not deleted.
ALTER TABLE disks ADD COLUMN deleted_at INTEGER;
