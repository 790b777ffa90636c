-- Identity providers and ACL bindings registered through the management API, per
-- organization. Portable between SQLite and PostgreSQL: text, 64-bit integers (booleans as
-- 0/1, times as microseconds since the Unix epoch, UTC).
CREATE TABLE oauth_providers (
    id TEXT PRIMARY KEY,
    organization TEXT NOT NULL,
    identifier TEXT NOT NULL,
    issuer TEXT NOT NULL,
    jwks_endpoint_uri TEXT,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_endpoint_uri TEXT,
    sub_claim_name TEXT NOT NULL,
    groups_claim_name TEXT NOT NULL,
    authorize_endpoint_uri TEXT,
    refresh_token BIGINT NOT NULL,
    cfk_client_id TEXT,
    cfk_client_secret TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT oauth_providers_identifier UNIQUE (organization, identifier),
    CONSTRAINT oauth_providers_issuer_audience UNIQUE (issuer, audience)
);

CREATE TABLE acl_bindings (
    id TEXT PRIMARY KEY,
    organization TEXT NOT NULL,
    permission TEXT NOT NULL,
    principal TEXT NOT NULL,
    host TEXT NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    pattern_type TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX acl_bindings_organization ON acl_bindings (organization);

-- Bumped by every committed change, so that each proxy sharing the store notices it.
CREATE TABLE store_revision (
    id BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO store_revision (id, value) VALUES (1, 0);
