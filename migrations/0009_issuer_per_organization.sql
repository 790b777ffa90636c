-- One corporate identity provider may serve several organizations: a provider's issuer and
-- audience are unique within its organization, no longer across organizations (the virtual
-- cluster a client connects to decides which organization its token is for). SQLite cannot
-- drop a constraint: the table is rebuilt, its rows and its list-order index kept.
CREATE TABLE oauth_providers_next (
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
    CONSTRAINT oauth_providers_org_identifier UNIQUE (organization, identifier),
    CONSTRAINT oauth_providers_org_issuer_audience UNIQUE (organization, issuer, audience)
);
INSERT INTO oauth_providers_next (id, organization, identifier, issuer, jwks_endpoint_uri,
    audience, scope, token_endpoint_uri, sub_claim_name, groups_claim_name,
    authorize_endpoint_uri, refresh_token, cfk_client_id, cfk_client_secret, created_at,
    updated_at)
SELECT id, organization, identifier, issuer, jwks_endpoint_uri, audience, scope,
    token_endpoint_uri, sub_claim_name, groups_claim_name, authorize_endpoint_uri,
    refresh_token, cfk_client_id, cfk_client_secret, created_at, updated_at
FROM oauth_providers;
DROP TABLE oauth_providers;
ALTER TABLE oauth_providers_next RENAME TO oauth_providers;
CREATE INDEX oauth_providers_list_order ON oauth_providers (organization, created_at, id);
