-- An ACL binding is stored once: posting an identical one answers the stored one. Identical
-- bindings stored before this migration collapse into the oldest (the grant they make is the
-- same), and the store's revisions move on so that every proxy re-reads the bindings.
DELETE FROM acl_bindings WHERE EXISTS (
    SELECT 1 FROM acl_bindings older
    WHERE older.organization = acl_bindings.organization
      AND older.permission = acl_bindings.permission
      AND older.principal = acl_bindings.principal
      AND older.host = acl_bindings.host
      AND older.operation = acl_bindings.operation
      AND older.resource_type = acl_bindings.resource_type
      AND older.pattern_type = acl_bindings.pattern_type
      AND older.resource_name = acl_bindings.resource_name
      AND (older.created_at < acl_bindings.created_at
           OR (older.created_at = acl_bindings.created_at AND older.id < acl_bindings.id))
);

CREATE UNIQUE INDEX acl_bindings_identity ON acl_bindings
    (organization, resource_type, resource_name, pattern_type, principal, host, operation, permission);

UPDATE store_revision SET value = value + 1 WHERE id IN (1, 3);
