-- How far a pending image's data has come (copyImages), in percent.
ALTER TABLE images ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;
