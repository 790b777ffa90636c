//! `kafka-oidc-proxy api`: a command-line client of the management API, for people (tables)
//! and scripts (`--output json`, the API's own answers). It talks to a management URL with an
//! API token from `KAFKA_OIDC_PROXY_API_TOKEN` or a file, and exits non-zero on every refusal,
//! showing the API's reason and each field it refused.
//!
//! Exit codes: 0 done; 1 the API refused (any 4xx or 5xx answer); 2 the command could not be
//! made (no token, an unreadable file, invalid JSON, the API unreachable).

mod render;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

pub use render::{Output, Shown};

/// The environment variable holding the API token.
pub const TOKEN_ENV: &str = "KAFKA_OIDC_PROXY_API_TOKEN";

/// Pages followed at most by a list, so that a listing always ends.
const MAX_PAGES: usize = 1000;

/// `kafka-oidc-proxy api ...`
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// The management API's base URL.
    #[arg(
        long,
        global = true,
        env = "KAFKA_OIDC_PROXY_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// A file holding the API token (its first line); default: the token in
    /// KAFKA_OIDC_PROXY_API_TOKEN.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// PEM CA certificates to trust for an https URL, besides the public roots.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// `table` for people, `json` for scripts (the API's answer as it came).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    resource: Resource,
}

#[derive(Subcommand, Debug)]
enum Resource {
    /// The identity providers of an organization.
    Providers {
        /// The organization.
        #[arg(long)]
        org: String,
        #[command(subcommand)]
        verb: Verb<ProviderFields, NoFilter>,
    },
    /// The ACL bindings of an organization.
    Acls {
        /// The organization.
        #[arg(long)]
        org: String,
        #[command(subcommand)]
        verb: Verb<AclFields, AclFilter>,
    },
    /// The virtual clusters of an organization.
    Clusters {
        /// The organization.
        #[arg(long)]
        org: String,
        #[command(subcommand)]
        verb: Verb<ClusterFields, NoFilter>,
    },
}

/// What to do with a collection or one of its items.
#[derive(Subcommand, Debug)]
enum Verb<F: Args, L: Args> {
    /// Lists every item (following the API's pages).
    List {
        #[command(flatten)]
        filter: L,
    },
    /// Shows one item.
    Get { id: String },
    /// Creates an item from flags, a JSON body, or both (flags win).
    Create {
        #[command(flatten)]
        body: Body<F>,
    },
    /// Changes the given fields of an item (PATCH), from flags, a JSON body, or both.
    Update {
        id: String,
        #[command(flatten)]
        body: Body<F>,
    },
    /// Deletes an item.
    Delete { id: String },
}

/// A request body: a JSON object from a file (`-`: stdin), with the flags' fields over it.
#[derive(Args, Debug)]
struct Body<F: Args> {
    /// A JSON object with the item's fields (`-` reads it from stdin).
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    fields: F,
}

/// Fields given as flags, in the API's names.
trait Fields {
    fn given(&self) -> Vec<(&'static str, Value)>;
}

/// Query parameters of a list.
trait Filter {
    fn params(&self) -> Vec<(&'static str, String)>;
}

#[derive(Args, Debug)]
struct NoFilter {}

impl Filter for NoFilter {
    fn params(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[derive(Args, Debug)]
struct AclFilter {
    /// Only bindings of this principal (`User:<name>`, `Group:<name>`).
    #[arg(long)]
    principal: Option<String>,
    /// Only bindings of this resource type.
    #[arg(long)]
    resource_type: Option<String>,
    /// Only bindings of this resource name.
    #[arg(long)]
    resource_name: Option<String>,
    /// Only bindings of this pattern type (LITERAL, PREFIXED).
    #[arg(long)]
    pattern_type: Option<String>,
}

impl Filter for AclFilter {
    fn params(&self) -> Vec<(&'static str, String)> {
        [
            ("principal", &self.principal),
            ("resource_type", &self.resource_type),
            ("resource_name", &self.resource_name),
            ("pattern_type", &self.pattern_type),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.clone()?)))
        .collect()
    }
}

/// The strings among `fields` that were given.
fn strings<const N: usize>(
    fields: [(&'static str, &Option<String>); N],
) -> Vec<(&'static str, Value)> {
    fields
        .into_iter()
        .filter_map(|(k, v)| Some((k, Value::String(v.clone()?))))
        .collect()
}

#[derive(Args, Debug)]
struct ProviderFields {
    /// A name for the provider, unique in the organization.
    #[arg(long)]
    identifier: Option<String>,
    /// The issuer (`iss`) of its tokens.
    #[arg(long)]
    issuer: Option<String>,
    /// Where its signing keys are; default: discovered from the issuer.
    #[arg(long)]
    jwks_endpoint_uri: Option<String>,
    /// The audience (`aud`) its tokens must carry.
    #[arg(long)]
    audience: Option<String>,
    /// The scope its tokens must carry.
    #[arg(long)]
    scope: Option<String>,
    /// Where clients get tokens.
    #[arg(long)]
    token_endpoint_uri: Option<String>,
    /// The claim naming the user.
    #[arg(long)]
    sub_claim_name: Option<String>,
    /// The claim listing the user's groups.
    #[arg(long)]
    groups_claim_name: Option<String>,
    /// Where users log in.
    #[arg(long)]
    authorize_endpoint_uri: Option<String>,
    /// Whether clients may refresh their tokens.
    #[arg(long)]
    refresh_token: Option<bool>,
    /// The client id of the platform's own client.
    #[arg(long)]
    cfk_client_id: Option<String>,
    /// Its secret (write-only: the API never shows it).
    #[arg(long)]
    cfk_client_secret: Option<String>,
}

impl Fields for ProviderFields {
    fn given(&self) -> Vec<(&'static str, Value)> {
        let mut given = strings([
            ("identifier", &self.identifier),
            ("issuer", &self.issuer),
            ("jwks_endpoint_uri", &self.jwks_endpoint_uri),
            ("audience", &self.audience),
            ("scope", &self.scope),
            ("token_endpoint_uri", &self.token_endpoint_uri),
            ("sub_claim_name", &self.sub_claim_name),
            ("groups_claim_name", &self.groups_claim_name),
            ("authorize_endpoint_uri", &self.authorize_endpoint_uri),
            ("cfk_client_id", &self.cfk_client_id),
            ("cfk_client_secret", &self.cfk_client_secret),
        ]);
        if let Some(b) = self.refresh_token {
            given.push(("refresh_token", Value::Bool(b)));
        }
        given
    }
}

#[derive(Args, Debug)]
struct AclFields {
    /// `User:<name>` or `Group:<name>`.
    #[arg(long)]
    principal: Option<String>,
    /// The client address (`*`: any, the default).
    #[arg(long)]
    host: Option<String>,
    /// TOPIC, GROUP, TRANSACTIONAL_ID or CLUSTER.
    #[arg(long)]
    resource_type: Option<String>,
    /// The resource's name (`*` for all).
    #[arg(long)]
    resource_name: Option<String>,
    /// LITERAL (the default) or PREFIXED.
    #[arg(long)]
    pattern_type: Option<String>,
    /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS,
    /// IDEMPOTENT_WRITE, CLUSTER_ACTION or ALL.
    #[arg(long)]
    operation: Option<String>,
    /// ALLOW or DENY.
    #[arg(long)]
    permission: Option<String>,
}

impl Fields for AclFields {
    fn given(&self) -> Vec<(&'static str, Value)> {
        strings([
            ("principal", &self.principal),
            ("host", &self.host),
            ("resource_type", &self.resource_type),
            ("resource_name", &self.resource_name),
            ("pattern_type", &self.pattern_type),
            ("operation", &self.operation),
            ("permission", &self.permission),
        ])
    }
}

#[derive(Args, Debug)]
struct ClusterFields {
    /// The cluster's name (a DNS label).
    #[arg(long)]
    name: Option<String>,
    /// The upstream cluster it runs on.
    #[arg(long)]
    upstream: Option<String>,
    /// The listener whose address, authentication and TLS it uses.
    #[arg(long)]
    listener: Option<String>,
    /// Its bootstrap port.
    #[arg(long)]
    bootstrap_port: Option<u16>,
    /// The port of its first broker (the others follow).
    #[arg(long)]
    broker_port_base: Option<u16>,
    /// Its namespace on a shared upstream, e.g. `acme.`.
    #[arg(long)]
    namespace: Option<String>,
}

impl Fields for ClusterFields {
    fn given(&self) -> Vec<(&'static str, Value)> {
        let mut given = strings([
            ("name", &self.name),
            ("upstream", &self.upstream),
            ("listener", &self.listener),
            ("namespace", &self.namespace),
        ]);
        for (k, v) in [
            ("bootstrap_port", self.bootstrap_port),
            ("broker_port_base", self.broker_port_base),
        ] {
            if let Some(p) = v {
                given.push((k, Value::from(p)));
            }
        }
        given
    }
}

/// Why a command could not be made (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no API token: set {TOKEN_ENV} or give --token-file")]
    NoToken,
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("--json: {0}")]
    Json(String),
    #[error("{0}")]
    Url(String),
    #[error("{url}: {message}")]
    Unreachable { url: String, message: String },
}

/// An answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Runs the command; the text for stdout and stderr, and the exit code.
pub async fn run(args: ApiArgs) -> Shown {
    match request(&args).await {
        Ok(answer) => {
            let (kind, act) = args.resource.kind();
            render::answer(kind, act, args.output, &answer)
        }
        Err(e) => Shown::failed(2, format!("api: {e}")),
    }
}

/// What a command is about, for its rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Providers,
    Acls,
    Clusters,
}

/// How an item was acted on, for its rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    List,
    One,
    Deleted,
}

impl Resource {
    fn kind(&self) -> (Kind, Act) {
        let (kind, act) = match self {
            Resource::Providers { verb, .. } => (Kind::Providers, verb.act()),
            Resource::Acls { verb, .. } => (Kind::Acls, verb.act()),
            Resource::Clusters { verb, .. } => (Kind::Clusters, verb.act()),
        };
        (kind, act)
    }
}

impl<F: Args, L: Args> Verb<F, L> {
    fn act(&self) -> Act {
        match self {
            Verb::List { .. } => Act::List,
            Verb::Delete { .. } => Act::Deleted,
            _ => Act::One,
        }
    }
}

/// One HTTP request to make.
struct Call {
    method: reqwest::Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    list: bool,
}

fn call<F: Args + Fields, L: Args + Filter>(
    collection: &str,
    verb: &Verb<F, L>,
) -> Result<Call, CliError> {
    let item = |id: &str| format!("{collection}{}/", segment(id));
    let plain = |method, path| Call {
        method,
        path,
        query: Vec::new(),
        body: None,
        list: false,
    };
    Ok(match verb {
        Verb::List { filter } => Call {
            query: filter.params(),
            list: true,
            ..plain(reqwest::Method::GET, collection.to_owned())
        },
        Verb::Get { id } => plain(reqwest::Method::GET, item(id)),
        Verb::Delete { id } => plain(reqwest::Method::DELETE, item(id)),
        Verb::Create { body } => Call {
            body: Some(body.json()?),
            ..plain(reqwest::Method::POST, collection.to_owned())
        },
        Verb::Update { id, body } => Call {
            body: Some(body.json()?),
            ..plain(reqwest::Method::PATCH, item(id))
        },
    })
}

impl<F: Args + Fields> Body<F> {
    fn json(&self) -> Result<Value, CliError> {
        let mut object = match &self.json {
            None => Map::new(),
            Some(path) => {
                let text = if path.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin())
                } else {
                    std::fs::read_to_string(path)
                }
                .map_err(|e| CliError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                match serde_json::from_str(&text) {
                    Ok(Value::Object(o)) => o,
                    Ok(_) => return Err(CliError::Json("not a JSON object".into())),
                    Err(e) => return Err(CliError::Json(e.to_string())),
                }
            }
        };
        for (k, v) in self.fields.given() {
            object.insert(k.to_owned(), v);
        }
        Ok(Value::Object(object))
    }
}

/// `s` percent-encoded for a URL path segment.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn token(args: &ApiArgs) -> Result<String, CliError> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => std::env::var(TOKEN_ENV)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    if token.is_empty() {
        return Err(CliError::NoToken);
    }
    Ok(token)
}

async fn request(args: &ApiArgs) -> Result<Answer, CliError> {
    let token = token(args)?;
    let (org, call) = match &args.resource {
        Resource::Providers { org, verb } => (org, call("oauth-providers/", verb)?),
        Resource::Acls { org, verb } => (org, call("acls/", verb)?),
        Resource::Clusters { org, verb } => (org, call("clusters/", verb)?),
    };
    let extra = match &args.ca_file {
        Some(path) => crate::tls::certs(path).map_err(|e| CliError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        None => Vec::new(),
    };
    let http = crate::identity::http_client_trusting(extra)
        .map_err(|e| CliError::Url(format!("cannot make an HTTP client: {e}")))?;
    let base = url::Url::parse(&args.url)
        .map_err(|e| CliError::Url(format!("--url {:?}: {e}", args.url)))?;
    let mut url = base
        .join(&format!("organizations/{}/{}", segment(org), call.path))
        .map_err(|e| CliError::Url(format!("--url {:?}: {e}", args.url)))?;
    url.query_pairs_mut()
        .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
    if call.query.is_empty() {
        url.set_query(None);
    }
    let send = async |method: reqwest::Method, url: url::Url, body: Option<&Value>| {
        let mut r = http
            .request(method, url.clone())
            .bearer_auth(&token)
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            r = r.json(b);
        }
        let unreachable = |e: reqwest::Error| CliError::Unreachable {
            url: url.to_string(),
            message: e.without_url().to_string(),
        };
        let response = r.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok::<_, CliError>(Answer { status, body })
    };
    let first = send(call.method.clone(), url.clone(), call.body.as_ref()).await?;
    if !call.list || first.status >= 300 {
        return Ok(first);
    }
    // A list: every page's results, in one answer of the API's shape.
    let mut results: Vec<Value> = Vec::new();
    let mut page = first;
    for _ in 0..MAX_PAGES {
        if page.status >= 300 {
            return Ok(page);
        }
        if let Some(items) = page.body["results"].as_array() {
            results.extend(items.iter().cloned());
        }
        let Some(next) = page.body["next"].as_str() else {
            break;
        };
        let next = url
            .join(next)
            .map_err(|e| CliError::Url(format!("next page {next:?}: {e}")))?;
        page = send(reqwest::Method::GET, next, None).await?;
    }
    let count = results.len();
    Ok(Answer {
        status: 200,
        body: serde_json::json!({ "count": count, "next": null, "previous": null, "results": results }),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        api: ApiArgs,
    }

    fn parse(args: &[&str]) -> ApiArgs {
        Cli::try_parse_from(std::iter::once("api").chain(args.iter().copied()))
            .expect("parses")
            .api
    }

    #[test]
    fn flags_make_the_body_over_the_json_file() {
        let dir = std::env::temp_dir().join(format!("kop-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("p.json");
        std::fs::write(&file, r#"{"issuer": "https://a", "audience": "kafka"}"#).expect("write");
        let args = parse(&[
            "providers",
            "--org",
            "acme",
            "create",
            "--json",
            file.to_str().expect("utf-8"),
            "--audience",
            "other",
            "--refresh-token",
            "false",
        ]);
        let Resource::Providers { org, verb } = &args.resource else {
            panic!("providers");
        };
        assert_eq!(org, "acme");
        let c = call("oauth-providers/", verb).expect("call");
        assert_eq!(c.method, reqwest::Method::POST);
        assert_eq!(
            c.body.expect("body"),
            serde_json::json!({"issuer": "https://a", "audience": "other", "refresh_token": false})
        );
    }

    #[test]
    fn an_id_and_filters_go_where_the_api_reads_them() {
        let args = parse(&["acls", "--org", "a b", "delete", "x/y"]);
        let Resource::Acls { verb, .. } = &args.resource else {
            panic!("acls");
        };
        let c = call("acls/", verb).expect("call");
        assert_eq!(
            (c.method, c.path.as_str()),
            (reqwest::Method::DELETE, "acls/x%2Fy/")
        );
        let args = parse(&[
            "acls",
            "--org",
            "acme",
            "list",
            "--principal",
            "Group:ops",
            "-o",
            "json",
        ]);
        assert_eq!(args.output, Output::Json);
        let Resource::Acls { verb, .. } = &args.resource else {
            panic!("acls");
        };
        let c = call("acls/", verb).expect("call");
        assert!(c.list);
        assert_eq!(c.query, vec![("principal", "Group:ops".to_owned())]);
    }

    #[test]
    fn a_json_body_that_is_not_an_object_is_refused() {
        let dir = std::env::temp_dir().join(format!("kop-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("p.json");
        std::fs::write(&file, "[1]").expect("write");
        let args = parse(&[
            "clusters",
            "--org",
            "acme",
            "update",
            "c1",
            "--json",
            file.to_str().expect("utf-8"),
        ]);
        let Resource::Clusters { verb, .. } = &args.resource else {
            panic!("clusters");
        };
        assert!(matches!(call("clusters/", verb), Err(CliError::Json(_))));
    }
}
