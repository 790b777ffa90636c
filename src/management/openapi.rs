//! The OpenAPI 3.0 document of the API, served at `/openapi.json`. Each path is also served
//! without its trailing slash; the document lists the canonical form.

use serde_json::{Value, json};

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable_string() -> Value {
    json!({ "type": "string", "nullable": true })
}

/// A name as providers take it: not blank, no control characters, at most 1024 characters.
fn text() -> Value {
    json!({
        "type": "string", "maxLength": 1024,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    })
}

/// An https URL (the operator may also allow loopback http, which this pattern leaves out).
fn url(nullable: bool) -> Value {
    json!({
        "type": "string", "nullable": nullable,
        "pattern": "^https://[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
    })
}

fn error_responses(extra: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    let mut responses = serde_json::Map::new();
    let detail = json!({ "$ref": "#/components/schemas/Detail" });
    let fields = json!({ "$ref": "#/components/schemas/FieldErrors" });
    for (code, description) in extra {
        let schema = match *code {
            "400" | "409" => json!({ "oneOf": [fields.clone(), detail.clone()] }),
            _ => detail.clone(),
        };
        responses.insert(
            (*code).to_owned(),
            json!({
                "description": description,
                "content": { "application/json": { "schema": schema } }
            }),
        );
    }
    responses
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn operation(
    id: &str,
    summary: &str,
    ok: (&str, Value),
    errors: &[(&str, &str)],
    body: Option<Value>,
) -> Value {
    let mut responses = error_responses(errors);
    responses.insert(ok.0.to_owned(), ok.1);
    let mut op = json!({ "operationId": id, "summary": summary, "responses": responses });
    if let Some(schema) = body {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema } }
        });
    }
    op
}

const READ: &[(&str, &str)] = &[
    ("401", "No valid API token or single sign-on token."),
    ("403", "A single sign-on user in no admin group."),
    ("404", "No such organization or resource for this caller."),
    ("503", "The store is unavailable."),
];
const WRITE: &[(&str, &str)] = &[
    ("400", "Malformed JSON, or fields at fault, each named."),
    ("401", "No valid API token or single sign-on token."),
    (
        "403",
        "A single sign-on user in no admin group; for virtual clusters, a caller who is not a platform administrator.",
    ),
    ("404", "No such organization or resource for this caller."),
    ("409", "A uniqueness rule, with the field at fault."),
    ("413", "The body is larger than the limit."),
    ("415", "The body is not declared as application/json."),
    ("503", "The store is unavailable."),
];
const DELETE: &[(&str, &str)] = &[
    ("401", "No valid API token or single sign-on token."),
    (
        "403",
        "A single sign-on user in no admin group; for virtual clusters, a caller who is not a platform administrator.",
    ),
    ("404", "No such organization or resource for this caller."),
    ("409", "Defined in the configuration file: read-only here."),
    ("503", "The store is unavailable."),
];
const LIST: &[(&str, &str)] = &[
    ("400", "A query parameter at fault, named."),
    ("401", "No valid API token or single sign-on token."),
    ("403", "A single sign-on user in no admin group."),
    ("404", "No such organization for this caller."),
    ("503", "The store is unavailable."),
];

/// The document.
pub(crate) fn document() -> Value {
    let provider_fields = json!({
        "organization": string(),
        "identifier": text(),
        "issuer": url(false),
        "jwks_endpoint_uri": url(true),
        "audience": text(),
        "scope": string(),
        "token_endpoint_uri": url(true),
        "sub_claim_name": text(),
        "groups_claim_name": text(),
        "authorize_endpoint_uri": url(true),
        "refresh_token": { "type": "boolean" },
        "cfk_client_id": nullable_string(),
        "cfk_client_secret": { "type": "string", "nullable": true, "writeOnly": true,
            "description": "write-only: answered as \"********\"; sending that value keeps the stored secret" },
        "id": { "type": "string", "readOnly": true },
        "created_at": { "type": "string", "readOnly": true },
        "updated_at": { "type": "string", "readOnly": true },
    });
    let mut provider_out = provider_fields.clone();
    provider_out["read_only"] = json!({ "type": "boolean", "enum": [true],
        "description": "present (true) on providers of the configuration file, which the API does not change" });
    provider_out["id"] = json!({ "type": "string", "format": "uuid" });
    provider_out["created_at"] = json!({ "type": "string", "format": "date-time" });
    provider_out["updated_at"] = json!({ "type": "string", "format": "date-time" });
    provider_out["cfk_client_secret"] =
        json!({ "type": "string", "nullable": true, "enum": ["********", null] });
    let provider_keys: Vec<&str> = vec![
        "id",
        "organization",
        "identifier",
        "issuer",
        "jwks_endpoint_uri",
        "audience",
        "scope",
        "token_endpoint_uri",
        "sub_claim_name",
        "groups_claim_name",
        "authorize_endpoint_uri",
        "refresh_token",
        "cfk_client_id",
        "cfk_client_secret",
        "created_at",
        "updated_at",
    ];
    let acl_fields = json!({
        "organization": string(),
        "principal": { "type": "string", "pattern": "^(User|Group):.+$", "description": "User:<name>, User:* or Group:<name>" },
        "host": { "type": "string", "description": "* (the default) or an IP address" },
        "resource_type": { "type": "string", "enum": ["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"] },
        "resource_name": { "type": "string", "minLength": 1, "description": "a name, a prefix (PREFIXED), * (LITERAL: every resource of the type); kafka-cluster for CLUSTER" },
        "pattern_type": { "type": "string", "enum": ["LITERAL", "PREFIXED"], "description": "LITERAL is the default" },
        "operation": { "type": "string", "enum": ["ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"] },
        "permission": { "type": "string", "enum": ["ALLOW", "DENY"] },
        "id": { "type": "string", "readOnly": true },
        "created_at": { "type": "string", "readOnly": true },
    });
    let mut acl_out = acl_fields.clone();
    acl_out["id"] = json!({ "type": "string", "format": "uuid" });
    acl_out["created_at"] = json!({ "type": "string", "format": "date-time" });
    acl_out["read_only"] = json!({ "type": "boolean", "enum": [true],
        "description": "present (true) on bindings of the configuration file, which the API does not change" });
    let acl_keys = [
        "id",
        "organization",
        "principal",
        "host",
        "resource_type",
        "resource_name",
        "pattern_type",
        "operation",
        "permission",
        "created_at",
    ];
    let port = json!({ "type": "integer", "minimum": 1, "maximum": 65535, "nullable": true,
        "description": "required on a listener with ports; left out on one that routes by server name (SNI)" });
    let cluster_fields = json!({
        "organization": string(),
        "name": { "type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
            "description": "a DNS label, unique in the organization" },
        "upstream": { "type": "string", "description": "an upstream cluster of the configuration file (default: default)" },
        "listener": { "type": "string", "description": "a listener of the configuration file, whose address, authentication and TLS the cluster uses" },
        "bootstrap_port": port.clone(),
        "broker_port_base": { "type": "integer", "minimum": 1, "maximum": 65535, "nullable": true,
            "description": "broker node N is served on broker_port_base + N; left out on a listener that routes by server name (SNI)" },
        "namespace": { "type": "string", "nullable": true, "pattern": "^[A-Za-z0-9._-]{1,100}$",
            "description": "a namespace on a shared upstream cluster: every topic, group and transactional id its clients name gains this prefix at the broker" },
        "bootstrap_servers": { "type": "string", "nullable": true, "readOnly": true },
        "id": { "type": "string", "readOnly": true },
        "created_at": { "type": "string", "readOnly": true },
        "updated_at": { "type": "string", "readOnly": true },
    });
    let mut cluster_out = cluster_fields.clone();
    cluster_out["id"] = json!({ "type": "string", "format": "uuid" });
    cluster_out["created_at"] = json!({ "type": "string", "format": "date-time" });
    cluster_out["updated_at"] = json!({ "type": "string", "format": "date-time" });
    cluster_out["bootstrap_servers"] = json!({ "type": "string", "nullable": true,
        "description": "host:port clients bootstrap from" });
    cluster_out["bootstrap_port"] =
        json!({ "type": "integer", "minimum": 0, "maximum": 65535, "nullable": true });
    cluster_out["broker_port_base"] =
        json!({ "type": "integer", "minimum": 0, "maximum": 65535, "nullable": true });
    cluster_out["read_only"] = json!({ "type": "boolean", "enum": [true],
        "description": "present (true) on virtual clusters of the configuration file, which the API does not change" });
    let cluster_keys = [
        "id",
        "organization",
        "name",
        "upstream",
        "listener",
        "bootstrap_port",
        "broker_port_base",
        "namespace",
        "bootstrap_servers",
        "created_at",
        "updated_at",
    ];
    let page = |item: &str| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": { "type": "integer", "minimum": 0 },
                "next": nullable_string(),
                "previous": nullable_string(),
                "results": { "type": "array", "items": { "$ref": format!("#/components/schemas/{item}") } }
            }
        })
    };
    let org = json!({ "name": "org", "in": "path", "required": true, "schema": string() });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": string() });
    let paging = [
        json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 0, "maximum": 1000 } }),
        json!({ "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0, "maximum": 2147483647_i64 } }),
        json!({ "name": "after", "in": "query", "schema": string(),
                "description": "Where the page's stored items start, as a list's next link gives it (opaque); the page is then read from an index instead of by counting past offset items." }),
    ];
    let reference = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let mut acl_list_params = vec![org.clone()];
    for f in [
        "principal",
        "resource_type",
        "resource_name",
        "pattern_type",
    ] {
        let schema = match f {
            "principal" | "resource_type" | "pattern_type" => acl_fields[f].clone(),
            _ => string(),
        };
        acl_list_params.push(json!({ "name": f, "in": "query", "schema": schema }));
    }
    acl_list_params.extend(paging.iter().cloned());
    let mut provider_list_params = vec![org.clone()];
    provider_list_params.extend(paging.iter().cloned());

    let mut list_providers = operation(
        "listProviders",
        "List an organization's identity providers",
        ("200", json_response("One page.", reference("ProviderPage"))),
        LIST,
        None,
    );
    list_providers["parameters"] = json!(provider_list_params);
    let mut list_acls = operation(
        "listAcls",
        "List an organization's ACL bindings",
        ("200", json_response("One page.", reference("AclPage"))),
        LIST,
        None,
    );
    list_acls["parameters"] = json!(acl_list_params);

    let mut create_provider = operation(
        "createProvider",
        "Register an identity provider",
        ("201", json_response("Registered.", reference("Provider"))),
        WRITE,
        Some(reference("ProviderInput")),
    );
    create_provider["parameters"] = json!([org.clone()]);
    let item_link = |op: &str| json!({ "operationId": op, "parameters": { "org": "$request.path.org", "id": "$response.body#/id" } });
    create_provider["responses"]["201"]["links"] = json!({
        "GetProvider": item_link("getProvider"),
        "ReplaceProvider": item_link("replaceProvider"),
        "PatchProvider": item_link("patchProvider"),
        "DeleteProvider": item_link("deleteProvider"),
    });
    let mut list_clusters = operation(
        "listClusters",
        "List an organization's virtual clusters",
        ("200", json_response("One page.", reference("ClusterPage"))),
        LIST,
        None,
    );
    list_clusters["parameters"] = json!(provider_list_params);
    let mut create_cluster = operation(
        "createCluster",
        "Register a virtual cluster (platform administrators); its ports are open when answered",
        ("201", json_response("Registered.", reference("Cluster"))),
        WRITE,
        Some(reference("ClusterInput")),
    );
    create_cluster["parameters"] = json!([org.clone()]);
    create_cluster["responses"]["201"]["links"] = json!({
        "GetCluster": item_link("getCluster"),
        "ReplaceCluster": item_link("replaceCluster"),
        "PatchCluster": item_link("patchCluster"),
        "DeleteCluster": item_link("deleteCluster"),
    });
    let cluster_item = json!({
        "parameters": [org.clone(), id.clone()],
        "get": operation("getCluster", "A virtual cluster",
            ("200", json_response("The virtual cluster.", reference("Cluster"))), READ, None),
        "put": operation("replaceCluster", "Replace a virtual cluster (platform administrators); its connections end",
            ("200", json_response("Replaced.", reference("Cluster"))), WRITE, Some(reference("ClusterInput"))),
        "patch": operation("patchCluster", "Change some fields of a virtual cluster (platform administrators); its connections end",
            ("200", json_response("Changed.", reference("Cluster"))), WRITE, Some(reference("ClusterPatch"))),
        "delete": operation("deleteCluster", "Delete a virtual cluster (platform administrators); its ports and connections close",
            ("204", json!({ "description": "Deleted." })), DELETE, None),
    });
    let cluster_schemas = json!({
        "ClusterInput": {
            "type": "object", "additionalProperties": false,
            "required": ["name", "listener"],
            "properties": cluster_fields.clone()
        },
        "ClusterPatch": {
            "type": "object", "additionalProperties": false,
            "properties": cluster_fields
        },
        "Cluster": {
            "type": "object", "additionalProperties": false,
            "required": cluster_keys,
            "properties": cluster_out
        },
        "ClusterPage": page("Cluster"),
    });
    let mut create_acls = operation(
        "createAcls",
        "Create one ACL binding, or several at once (all or none)",
        (
            "201",
            json_response(
                "Created.",
                json!({ "oneOf": [reference("Acl"), { "type": "array", "items": reference("Acl") }] }),
            ),
        ),
        WRITE,
        Some(json!({
            "oneOf": [reference("AclInput"), { "type": "array", "minItems": 1, "maxItems": 1000, "items": reference("AclInput") }]
        })),
    );
    create_acls["parameters"] = json!([org.clone()]);
    create_acls["responses"]["200"] = json_response(
        "Nothing created: every binding was already stored, and the stored ones are answered.",
        json!({ "oneOf": [reference("Acl"), { "type": "array", "items": reference("Acl") }] }),
    );
    create_acls["responses"]["201"]["links"] = json!({
        "GetAcl": item_link("getAcl"),
        "DeleteAcl": item_link("deleteAcl"),
    });

    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "kafka-oidc-proxy management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Identity providers, ACL bindings and virtual clusters per organization. Changes apply to the running proxy at once."
        },
        "security": [{ "bearerAuth": [] }],
        "paths": {
            "/healthz": { "get": {
                "summary": "Liveness", "security": [],
                "responses": { "200": json_response("Alive.", json!({ "type": "object" })) }
            }},
            "/readyz": { "get": {
                "summary": "Readiness: the store answers within 2 s and every provider of the configuration file has signing keys", "security": [],
                "responses": {
                    "200": json_response("Ready; providers registered through the API that have no keys yet are listed.", json!({ "type": "object" })),
                    "503": json_response("Not ready, saying why.", reference("Detail"))
                }
            }},
            "/openapi.json": { "get": {
                "summary": "This document", "security": [],
                "responses": { "200": json_response("The document.", json!({ "type": "object" })) }
            }},
            "/organizations/{org}/oauth-providers/": {
                "get": list_providers,
                "post": create_provider
            },
            "/organizations/{org}/oauth-providers/{id}/": {
                "parameters": [org.clone(), id.clone()],
                "get": operation(
        "getProvider",
        "An identity provider", ("200", json_response("The provider.", reference("Provider"))), READ, None),
                "put": operation(
        "replaceProvider",
        "Replace an identity provider", ("200", json_response("Replaced.", reference("Provider"))), WRITE, Some(reference("ProviderInput"))),
                "patch": operation(
        "patchProvider",
        "Change some fields of an identity provider", ("200", json_response("Changed.", reference("Provider"))), WRITE, Some(reference("ProviderPatch"))),
                "delete": operation(
        "deleteProvider",
        "Delete an identity provider", ("204", json!({ "description": "Deleted." })), DELETE, None)
            },
            "/organizations/{org}/acls/": {
                "get": list_acls,
                "post": create_acls
            },
            "/organizations/{org}/acls/{id}/": {
                "parameters": [org, id],
                "get": operation(
        "getAcl",
        "An ACL binding", ("200", json_response("The binding.", reference("Acl"))), READ, None),
                "delete": operation(
        "deleteAcl",
        "Delete an ACL binding", ("204", json!({ "description": "Deleted." })), DELETE, None)
            }
        },
        "components": {
            "securitySchemes": { "bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "An API token of the configuration, or (with management.sso) an access token of the platform's identity provider for a user in an admin group."
            } },
            "schemas": {
                "ProviderInput": {
                    "type": "object", "additionalProperties": false,
                    "required": ["identifier", "issuer", "audience"],
                    "properties": provider_fields.clone()
                },
                "ProviderPatch": {
                    "type": "object", "additionalProperties": false,
                    "properties": provider_fields
                },
                "Provider": {
                    "type": "object", "additionalProperties": false,
                    "required": provider_keys,
                    "properties": provider_out
                },
                "ProviderPage": page("Provider"),
                "AclInput": {
                    "type": "object", "additionalProperties": false,
                    "required": ["principal", "resource_type", "resource_name", "operation", "permission"],
                    "properties": acl_fields
                },
                "Acl": {
                    "type": "object", "additionalProperties": false,
                    "required": acl_keys,
                    "properties": acl_out
                },
                "AclPage": page("Acl"),
                "Detail": {
                    "type": "object", "required": ["detail"],
                    "properties": { "detail": string() }
                },
                "FieldErrors": {
                    "type": "object",
                    "description": "Each field at fault, with its messages",
                    "additionalProperties": { "type": "array", "items": string() }
                }
            }
        }
    });
    document["paths"]["/organizations/{org}/clusters/"] =
        json!({ "get": list_clusters, "post": create_cluster });
    document["paths"]["/organizations/{org}/clusters/{id}/"] = cluster_item;
    if let (Some(schemas), Value::Object(more)) = (
        document["components"]["schemas"].as_object_mut(),
        cluster_schemas,
    ) {
        schemas.extend(more);
    }
    document
}
