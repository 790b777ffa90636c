-- A revision per kind of content, bumped together with the store's (id 1): 2 for providers,
-- 3 for ACL bindings. A proxy applying a change re-reads only the kind that changed.
INSERT INTO store_revision (id, value) VALUES (2, 0);
INSERT INTO store_revision (id, value) VALUES (3, 0);
