-- How many images (per source) and snapshots each account has in each region, kept by
-- triggers in the same transaction as the rows themselves, so it can never drift. Quota
-- checks and describeImages' totalCount read one row here instead of counting an index
-- range that grows with the account.
CREATE TABLE resource_counts (
    kind   TEXT NOT NULL,            -- 'image' or 'snapshot'
    pin    TEXT NOT NULL,
    region TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '', -- image_source for images, '' for snapshots
    n      INTEGER NOT NULL,
    PRIMARY KEY (kind, pin, region, source)
);

INSERT INTO resource_counts(kind, pin, region, source, n)
    SELECT 'image', pin, region, image_source, COUNT(*) FROM images
    GROUP BY pin, region, image_source;
INSERT INTO resource_counts(kind, pin, region, source, n)
    SELECT 'snapshot', pin, region, '', COUNT(*) FROM snapshots GROUP BY pin, region;

CREATE TRIGGER images_counted AFTER INSERT ON images BEGIN
    INSERT OR IGNORE INTO resource_counts(kind, pin, region, source, n)
        VALUES ('image', NEW.pin, NEW.region, NEW.image_source, 0);
    UPDATE resource_counts SET n = n + 1
        WHERE kind = 'image' AND pin = NEW.pin AND region = NEW.region
          AND source = NEW.image_source;
END;

CREATE TRIGGER images_uncounted AFTER DELETE ON images BEGIN
    UPDATE resource_counts SET n = n - 1
        WHERE kind = 'image' AND pin = OLD.pin AND region = OLD.region
          AND source = OLD.image_source;
END;

CREATE TRIGGER snapshots_counted AFTER INSERT ON snapshots BEGIN
    INSERT OR IGNORE INTO resource_counts(kind, pin, region, source, n)
        VALUES ('snapshot', NEW.pin, NEW.region, '', 0);
    UPDATE resource_counts SET n = n + 1
        WHERE kind = 'snapshot' AND pin = NEW.pin AND region = NEW.region AND source = '';
END;

CREATE TRIGGER snapshots_uncounted AFTER DELETE ON snapshots BEGIN
    UPDATE resource_counts SET n = n - 1
        WHERE kind = 'snapshot' AND pin = OLD.pin AND region = OLD.region AND source = '';
END;
