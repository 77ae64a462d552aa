-- Fixed statistics for SQLite's query planner (sqlite.org/optoverview.html, "Manual
-- control of query plans using SQLITE_STAT tables"). Without any, a query such as
-- describeImages?ids.1=a&ids.2=b (`pin = ? AND region = ? AND id IN (…)`) was planned as a
-- walk of the account's whole (pin, region) index range instead of two primary-key
-- lookups: every poll of a benchmark client cost more as the account grew. These rows say
-- what is true of every Kiln database: an account holds many rows, an id one. Kiln never
-- runs ANALYZE, so they stay as written.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl IN ('images', 'instances', 'disks', 'snapshots', 'image_tasks');
INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES
    ('images', 'sqlite_autoindex_images_1', '100000 1'),
    ('images', 'images_owner', '100000 1000 1000 1'),
    ('images', 'images_list', '100000 1000 1000 500 1 1'),
    ('images', 'images_layer', '100000 2'),
    ('instances', 'sqlite_autoindex_instances_1', '100000 1'),
    ('instances', 'instances_owner', '100000 1000 1000 1'),
    ('disks', 'sqlite_autoindex_disks_1', '100000 1'),
    ('disks', 'disks_owner', '100000 1000 1000 1'),
    ('disks', 'disks_top', '100000 1'),
    ('snapshots', 'sqlite_autoindex_snapshots_1', '100000 1'),
    ('snapshots', 'snapshots_owner', '100000 1000 1000 1'),
    ('snapshots', 'snapshots_layer', '100000 2'),
    ('image_tasks', 'sqlite_autoindex_image_tasks_1', '100000 1'),
    ('image_tasks', 'image_tasks_owner', '100000 1000 1000 1');
