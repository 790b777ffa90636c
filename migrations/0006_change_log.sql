-- Which organizations each committed write changed, by the store revision (id 1) it made and
-- the kind it bumped (2 providers, 3 ACL bindings): a proxy catching up reads back only those
-- organizations. Writes keep about the last 10,000 revisions; a proxy further behind, or one
-- that finds a revision missing (written by an older release), reads everything back.
CREATE TABLE store_changes (
    revision BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    organization TEXT NOT NULL,
    PRIMARY KEY (revision, kind, organization)
);
