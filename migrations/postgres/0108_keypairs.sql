-- Key pairs (createKeypair / importKeypair): an account's keys in a region, by name. Only the
-- public key is kept (its OpenSSH one-line form) with its MD5 fingerprint; the private key
-- createKeypair makes is handed out once and never stored. Which instances use a key is on
-- the instances' rows (`key_names`, 0107), so describeInstance stays one query.
CREATE TABLE keypairs (
    pin TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (pin, region, name)
);
CREATE INDEX keypairs_by_owner ON keypairs(pin, region, seq);
