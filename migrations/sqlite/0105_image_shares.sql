-- shareImage: which other accounts may see and launch an image (its owner's pin is on the
-- image). releaseImage: a released image is a community image, listed for every account.
CREATE TABLE image_shares (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    pin TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (image_id, pin)
);
CREATE INDEX image_shares_by_pin ON image_shares(pin, image_id);

ALTER TABLE images ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
CREATE INDEX images_released ON images(region, seq) WHERE released = 1;
