-- The ACL bindings each committed write created or deleted, by id: a proxy catching up reads
-- back only those bindings instead of every binding of the organizations the write changed.
-- `rows_logged` is 1 where a write logged every binding it changed (writes of more than 100
-- bindings, and those of older releases, did not: their organizations are read back whole).
ALTER TABLE store_changes ADD COLUMN rows_logged BIGINT NOT NULL DEFAULT 0;
CREATE TABLE store_changed_rows (
    revision BIGINT NOT NULL,
    organization TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (revision, id)
);
