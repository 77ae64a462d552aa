-- How many images (per source) and snapshots each account has in each region, kept by
-- triggers in the same transaction as the rows themselves, so it can never drift. Quota
-- checks and describeImages' totalCount read one row here instead of counting an index
-- range that grows with the account.
CREATE TABLE resource_counts (
    kind   TEXT NOT NULL,            -- 'image' or 'snapshot'
    pin    TEXT NOT NULL,
    region TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '', -- image_source for images, '' for snapshots
    n      BIGINT NOT NULL,
    PRIMARY KEY (kind, pin, region, source)
);

INSERT INTO resource_counts(kind, pin, region, source, n)
    SELECT 'image', pin, region, image_source, COUNT(*) FROM images
    GROUP BY pin, region, image_source;
INSERT INTO resource_counts(kind, pin, region, source, n)
    SELECT 'snapshot', pin, region, '', COUNT(*) FROM snapshots GROUP BY pin, region;

CREATE FUNCTION count_image() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts(kind, pin, region, source, n)
            VALUES ('image', NEW.pin, NEW.region, NEW.image_source, 1)
            ON CONFLICT (kind, pin, region, source) DO UPDATE SET n = resource_counts.n + 1;
    ELSE
        UPDATE resource_counts SET n = n - 1
            WHERE kind = 'image' AND pin = OLD.pin AND region = OLD.region
              AND source = OLD.image_source;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION count_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts(kind, pin, region, source, n)
            VALUES ('snapshot', NEW.pin, NEW.region, '', 1)
            ON CONFLICT (kind, pin, region, source) DO UPDATE SET n = resource_counts.n + 1;
    ELSE
        UPDATE resource_counts SET n = n - 1
            WHERE kind = 'snapshot' AND pin = OLD.pin AND region = OLD.region
              AND source = '';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER images_counted AFTER INSERT OR DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION count_image();
CREATE TRIGGER snapshots_counted AFTER INSERT OR DELETE ON snapshots
    FOR EACH ROW EXECUTE FUNCTION count_snapshot();
