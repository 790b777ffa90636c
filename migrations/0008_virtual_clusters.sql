-- Virtual clusters registered through the management API: each belongs to one organization,
-- runs on one of the upstream clusters of the configuration file, and has ports of its own on
-- one of its listeners (none on a listener that routes by server name: NULL), and optionally
-- a namespace (a name prefix) on a shared upstream cluster. Revision 4 is
-- theirs; ports are unique among them (the API also checks them against the configuration
-- file's).
CREATE TABLE virtual_clusters (
    id TEXT PRIMARY KEY,
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    upstream TEXT NOT NULL,
    listener TEXT NOT NULL,
    bootstrap_port BIGINT,
    broker_port_base BIGINT,
    namespace TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT virtual_clusters_name UNIQUE (organization, name),
    CONSTRAINT virtual_clusters_bootstrap_port UNIQUE (bootstrap_port),
    CONSTRAINT virtual_clusters_broker_port_base UNIQUE (broker_port_base)
);
CREATE INDEX virtual_clusters_list ON virtual_clusters (organization, created_at, id);
INSERT INTO store_revision (id, value) VALUES (4, 0);
