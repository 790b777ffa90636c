-- A list of bindings filtered by principal or by resource name reads the matching bindings in
-- creation order from these, instead of walking the whole organization.
CREATE INDEX acl_bindings_by_principal ON acl_bindings (organization, principal, created_at, id);
CREATE INDEX acl_bindings_by_resource_name ON acl_bindings (organization, resource_name, created_at, id);
