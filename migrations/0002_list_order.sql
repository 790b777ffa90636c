-- Lists page through an organization's items in creation order: an index in that order lets
-- a page be read without sorting the whole organization.
CREATE INDEX oauth_providers_list_order ON oauth_providers (organization, created_at, id);
CREATE INDEX acl_bindings_list_order ON acl_bindings (organization, created_at, id);
