//! `/organizations/{org}/clusters/`: an organization's virtual clusters. A virtual cluster runs
//! on one of the upstream clusters the configuration file names, with ports of its own on one of
//! its listeners; only the organization's tokens authenticate there. Which upstream cluster an
//! organization reaches is the platform's decision: an organization's own administrators may
//! list and read its clusters (to connect to them), and only a platform administrator (a grant
//! for every organization) may create, change or delete them.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{Fields, Given, Mode, query};
use super::errors::ApiError;
use super::providers::PageQuery;
use super::time::{now_micros, rfc3339_micros};
use super::{Api, read_only};
use crate::config::{
    Config, DEFAULT_UPSTREAM, SNI_BROKER_INFIX, Sni, VirtualCluster, check_namespace, is_dns_label,
};
use crate::store::{Position, StoredCluster};

/// The fields the API sets itself.
const READ_ONLY: [&str; 4] = ["id", "created_at", "updated_at", "bootstrap_servers"];

/// What the configuration file says about virtual clusters: the listeners and upstream
/// clusters they may name, the ports its own endpoints hold, and its own clusters (shown
/// read-only).
pub(crate) struct Rules {
    listeners: Vec<ListenerRule>,
    upstreams: Vec<String>,
    /// The ports the configuration file's endpoints bind.
    ports: Vec<u16>,
    file: Vec<StoredCluster>,
}

/// What a virtual cluster takes from the listener it names.
struct ListenerRule {
    name: String,
    advertised_host: String,
    /// Set on a listener that routes by server name: its domain and its one port.
    sni: Option<(String, u16)>,
    /// Its own bootstrap port, when it serves its upstream cluster to every organization.
    port: Option<u16>,
    tls: bool,
    oauthbearer: bool,
}

/// Where clients of an organization connect, as the console's connect page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// What it is (a virtual cluster's name, or a shared listener's).
    pub(crate) label: String,
    pub(crate) bootstrap: String,
    pub(crate) tls: bool,
}

impl Rules {
    pub(crate) fn of(config: &Config, loaded_at: i64) -> Self {
        Self {
            listeners: config
                .listeners
                .iter()
                .map(|l| ListenerRule {
                    name: l.name.clone(),
                    advertised_host: l.advertised_host.clone(),
                    sni: l
                        .sni_domain
                        .clone()
                        .map(|d| (d, l.bootstrap_port.unwrap_or_default())),
                    port: l.bootstrap_port.filter(|_| l.sni_domain.is_none()),
                    tls: l.tls.is_some(),
                    oauthbearer: l.authentication == crate::config::Authentication::Oauthbearer,
                })
                .collect(),
            upstreams: config
                .upstream_clusters()
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect(),
            ports: config
                .endpoints()
                .iter()
                .flat_map(|e| [e.bootstrap_port, e.broker_port_base])
                .filter(|p| *p != 0)
                .collect(),
            file: config
                .clusters
                .iter()
                .map(|c| from_file(c, loaded_at))
                .collect(),
        }
    }

    fn file<'a>(&'a self, org: &'a str) -> impl Iterator<Item = &'a StoredCluster> {
        self.file.iter().filter(move |c| c.organization == org)
    }

    fn listener(&self, name: &str) -> Option<&ListenerRule> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// Where OAUTHBEARER clients connect: each of `clusters` (the organization's virtual
    /// clusters, as the API answers them) on a listener that authenticates, then every
    /// listener that serves its upstream cluster to all organizations.
    pub(crate) fn entries(&self, clusters: &[serde_json::Value]) -> Vec<Entry> {
        let mut entries: Vec<Entry> = clusters
            .iter()
            .filter_map(|c| {
                let listener = self.listener(c["listener"].as_str()?)?;
                Some(Entry {
                    label: format!("virtual cluster {}", c["name"].as_str()?),
                    bootstrap: c["bootstrap_servers"].as_str()?.to_owned(),
                    tls: listener.tls,
                })
                .filter(|_| listener.oauthbearer)
            })
            .collect();
        // A port of 0 is chosen when the listener starts: not one to tell clients.
        entries.extend(
            self.listeners
                .iter()
                .filter(|l| l.oauthbearer)
                .filter_map(|l| {
                    Some(Entry {
                        label: format!("listener {} (the whole cluster)", l.name),
                        bootstrap: format!("{}:{}", l.advertised_host, l.port.filter(|p| *p != 0)?),
                        tls: l.tls,
                    })
                }),
        );
        entries
    }
}

/// A virtual cluster of the configuration file in the stored form, with an id derived from
/// its organization and name (stable across restarts).
fn from_file(c: &VirtualCluster, loaded_at: i64) -> StoredCluster {
    let key = format!("kafka-oidc-proxy:cluster:{}/{}", c.organization, c.name);
    StoredCluster {
        id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string(),
        organization: c.organization.clone(),
        name: c.name.clone(),
        upstream: c.upstream.clone(),
        listener: c.listener.clone(),
        bootstrap_port: c.bootstrap_port,
        broker_port_base: c.broker_port_base,
        namespace: c.namespace.clone(),
        created_at: loaded_at,
        updated_at: loaded_at,
    }
}

/// The data plane's form of a stored virtual cluster.
pub(crate) fn cluster_of(c: &StoredCluster) -> VirtualCluster {
    VirtualCluster {
        organization: c.organization.clone(),
        name: c.name.clone(),
        upstream: c.upstream.clone(),
        listener: c.listener.clone(),
        bootstrap_port: c.bootstrap_port,
        broker_port_base: c.broker_port_base,
        namespace: c.namespace.clone(),
    }
}

/// A virtual cluster as the API shows it, with the address clients bootstrap from.
fn to_json(api: &Api, c: &StoredCluster) -> Value {
    let bootstrap = api
        .clusters
        .listener(&c.listener)
        .and_then(|l| match &l.sni {
            Some((domain, port)) => {
                let sni = Sni {
                    domain: domain.clone(),
                    label: cluster_of(c).sni_label(),
                };
                Some(format!("{}:{port}", sni.bootstrap()))
            }
            None => c
                .bootstrap_port
                .map(|p| format!("{}:{p}", l.advertised_host)),
        });
    json!({
        "id": c.id,
        "organization": c.organization,
        "name": c.name,
        "upstream": c.upstream,
        "listener": c.listener,
        "bootstrap_port": c.bootstrap_port,
        "broker_port_base": c.broker_port_base,
        "namespace": c.namespace,
        "bootstrap_servers": bootstrap,
        "created_at": rfc3339_micros(c.created_at),
        "updated_at": rfc3339_micros(c.updated_at),
    })
}

/// Applies a body to `c` (a blank one for a create), checking every field.
fn read_body(api: &Api, org: &str, mode: Mode, fields: &mut Fields, c: &mut StoredCluster) {
    fields.ignore(&READ_ONLY);
    fields.organization(org);
    let required = mode != Mode::Patch;
    for (field, slot) in [("name", &mut c.name), ("listener", &mut c.listener)] {
        match fields.string(field) {
            Given::Value(v) => *slot = v,
            Given::Null => fields.error(field, "Must not be null."),
            Given::Absent if required => fields.error(field, "This field is required."),
            Given::Absent => {}
        }
    }
    match fields.string("namespace") {
        Given::Value(v) => c.namespace = Some(v),
        Given::Null => c.namespace = None,
        Given::Absent if required => c.namespace = None,
        Given::Absent => {}
    }
    match fields.string("upstream") {
        Given::Value(v) => c.upstream = v,
        Given::Null => fields.error("upstream", "Must not be null."),
        Given::Absent if required => c.upstream = DEFAULT_UPSTREAM.to_owned(),
        Given::Absent => {}
    }
    for (field, slot) in [
        ("bootstrap_port", &mut c.bootstrap_port),
        ("broker_port_base", &mut c.broker_port_base),
    ] {
        match fields.port(field) {
            Given::Value(v) => *slot = Some(v),
            Given::Null => *slot = None,
            Given::Absent if required => *slot = None,
            Given::Absent => {}
        }
    }
    check(&api.clusters, fields, c);
}

/// The rules on the values, as for virtual clusters in the configuration file. A field
/// already refused is not reported again.
fn check(rules: &Rules, fields: &mut Fields, c: &StoredCluster) {
    let mut problem = |field: &str, message: String| {
        if !fields.has_error(field) {
            fields.error(field, message);
        }
    };
    if !is_dns_label(&c.name) {
        problem(
            "name",
            "Must be a DNS label: 1-63 lowercase letters, digits and '-', not starting or ending with '-'.".into(),
        );
    }
    if let Some(Err(e)) = c.namespace.as_deref().map(check_namespace) {
        problem("namespace", format!("{e}."));
    }
    if !rules.upstreams.contains(&c.upstream) {
        problem(
            "upstream",
            format!(
                "Must be one of the proxy's upstream clusters: {}.",
                rules.upstreams.join(", ")
            ),
        );
    }
    let ports = [
        ("bootstrap_port", c.bootstrap_port.is_some()),
        ("broker_port_base", c.broker_port_base.is_some()),
    ];
    match rules.listener(&c.listener) {
        None => {
            let names: Vec<_> = rules.listeners.iter().map(|l| l.name.as_str()).collect();
            problem(
                "listener",
                format!(
                    "Must be one of the proxy's listeners: {}.",
                    names.join(", ")
                ),
            );
        }
        Some(l) if l.sni.is_some() => {
            for (field, _) in ports.iter().filter(|(_, set)| *set) {
                problem(
                    field,
                    "Not used on a listener that routes by server name (SNI): leave it out.".into(),
                );
            }
            if !is_dns_label(&c.organization) {
                problem(
                    "organization",
                    "Must be a DNS label for a virtual cluster reached by server name (SNI)."
                        .into(),
                );
            }
            if cluster_of(c).sni_label().contains(SNI_BROKER_INFIX) {
                problem(
                    "name",
                    format!(
                        "The server name <organization>-<name> must not contain {SNI_BROKER_INFIX:?}: brokers are named so."
                    ),
                );
            }
        }
        Some(_) => {
            for (field, _) in ports.iter().filter(|(_, set)| !*set) {
                problem(field, "This field is required.".into());
            }
        }
    }
    if let (Some(port), Some(base)) = (c.bootstrap_port, c.broker_port_base)
        && port >= base
        && port - base < 1024
    {
        problem(
            "bootstrap_port",
            format!(
                "Port {port} would be the port of broker node {}, since broker_port_base is {base}.",
                port - base
            ),
        );
    }
}

/// A conflict with the configuration file: its clusters' namespaces, names (and server
/// names), and the ports of its endpoints (the store checks the stored clusters, [`clash`]).
fn config_conflict(rules: &Rules, c: &StoredCluster) -> Option<ApiError> {
    if let Some(e) = file_namespace_conflict(rules, c) {
        return Some(e);
    }
    if rules.file(&c.organization).any(|f| f.name == c.name) {
        return Some(ApiError::conflict(
            "name",
            "the configuration file defines a virtual cluster with this name",
        ));
    }
    let label = cluster_of(c).sni_label();
    let same_name =
        |f: &StoredCluster| f.listener == c.listener && cluster_of(f).sni_label() == label;
    if rules.listener(&c.listener).is_some_and(|l| l.sni.is_some())
        && rules.file.iter().any(same_name)
    {
        return Some(ApiError::conflict(
            "name",
            "the configuration file defines a virtual cluster of this server name",
        ));
    }
    let taken = |p: Option<u16>| p.filter(|p| rules.ports.contains(p));
    if let Some(port) = taken(c.bootstrap_port) {
        return Some(ApiError::conflict(
            "bootstrap_port",
            format!("port {port} is in use"),
        ));
    }
    taken(c.broker_port_base)
        .map(|port| ApiError::conflict("broker_port_base", format!("port {port} is in use")))
}

/// Whether two clusters' namespaces on the same upstream cluster hold one another: each would
/// see the other's names.
fn namespaces_overlap(c: &StoredCluster, o: &StoredCluster) -> bool {
    let Some(mine) = &c.namespace else {
        return false;
    };
    o.id != c.id
        && o.upstream == c.upstream
        && o.namespace
            .as_ref()
            .is_some_and(|n| n.starts_with(mine.as_str()) || mine.starts_with(n.as_str()))
}

const OVERLAPPING_NAMESPACE: &str =
    "overlaps the namespace of another virtual cluster on this upstream cluster";

/// A cluster of the configuration file whose namespace overlaps this one's.
fn file_namespace_conflict(rules: &Rules, c: &StoredCluster) -> Option<ApiError> {
    rules
        .file
        .iter()
        .any(|f| namespaces_overlap(c, f))
        .then(|| ApiError::conflict("namespace", OVERLAPPING_NAMESPACE))
}

/// The API's rules between a cluster being written (`c`) and another stored one (`o`), which
/// the store checks in the transaction that writes `c`: the same server name on a listener that
/// routes by server name (organization `a-b`'s cluster `c` and organization `a`'s cluster
/// `b-c` are both `a-b-c`), or overlapping namespaces on one upstream cluster.
fn clash(rules: &Rules, c: &StoredCluster, o: &StoredCluster) -> Option<(&'static str, String)> {
    let by_name = rules.listener(&c.listener).is_some_and(|l| l.sni.is_some());
    if by_name && o.listener == c.listener && cluster_of(o).sni_label() == cluster_of(c).sni_label()
    {
        return Some((
            "name",
            format!(
                "another virtual cluster on listener {:?} has the server name {:?}",
                c.listener,
                cluster_of(c).sni_label()
            ),
        ));
    }
    namespaces_overlap(c, o).then(|| ("namespace", OVERLAPPING_NAMESPACE.to_owned()))
}

fn blank(org: &str) -> StoredCluster {
    let now = now_micros();
    StoredCluster {
        id: uuid::Uuid::new_v4().to_string(),
        organization: org.to_owned(),
        name: String::new(),
        upstream: DEFAULT_UPSTREAM.to_owned(),
        listener: String::new(),
        bootstrap_port: None,
        broker_port_base: None,
        namespace: None,
        created_at: now,
        updated_at: now,
    }
}

/// POST: registers a virtual cluster; its ports open before the answer.
pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(org) = path.map_err(|_| ApiError::NotFound)?;
    let caller = api.auth.authorize_platform(&headers, &org).await?;
    let mut fields = api.fields(&headers, body).await?;
    let mut c = blank(&org);
    read_body(&api, &org, Mode::Create, &mut fields, &mut c);
    fields.finish()?;
    if let Some(e) = config_conflict(&api.clusters, &c) {
        return Err(e);
    }
    let rules = &api.clusters;
    api.store
        .create_cluster(&c, &|c, o| clash(rules, c, o))
        .await?;
    api.changed_clusters().await;
    tracing::info!(organization = %org, id = %c.id, name = %c.name, upstream = %c.upstream, by = %caller, "virtual cluster registered");
    Ok((StatusCode::CREATED, axum::Json(to_json(&api, &c))).into_response())
}

/// GET on the collection: one page of the organization's virtual clusters.
pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(org) = path.map_err(|_| ApiError::NotFound)?;
    api.authorize(&headers, &org).await?;
    let mut params = query(raw.as_deref(), &["limit", "offset", "after"])?;
    let page = PageQuery::from(&mut params).check()?;
    let fixed = api
        .clusters
        .file(&org)
        .map(|c| read_only(to_json(&api, c)))
        .collect();
    let items = page
        .over(fixed, async |limit, offset, after| {
            let (items, count) = api.store.clusters(&org, limit, offset, after).await?;
            let last = items.last().map(|c| Position {
                created_at: c.created_at,
                id: c.id.clone(),
            });
            let shown = items.iter().map(|c| to_json(&api, c)).collect();
            Ok((shown, count, last))
        })
        .await?;
    Ok(axum::Json(page.body(&org, "clusters", &[], items)).into_response())
}

/// GET on one virtual cluster.
pub(crate) async fn get(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    api.authorize(&headers, &org).await?;
    if let Some(c) = api.clusters.file(&org).find(|c| c.id == id) {
        return Ok(axum::Json(read_only(to_json(&api, c))).into_response());
    }
    let c = find(&api, &org, &id).await?;
    Ok(axum::Json(to_json(&api, &c)).into_response())
}

async fn find(api: &Api, org: &str, id: &str) -> Result<StoredCluster, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::NotFound);
    }
    api.store.cluster(org, id).await?.ok_or(ApiError::NotFound)
}

/// PUT: replaces a virtual cluster; its connections end and it opens again as it now reads.
pub(crate) async fn replace(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    change(api, org, id, headers, body, Mode::Replace).await
}

/// PATCH: changes some of a virtual cluster's fields.
pub(crate) async fn patch(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    change(api, org, id, headers, body, Mode::Patch).await
}

async fn change(
    api: Arc<Api>,
    org: String,
    id: String,
    headers: HeaderMap,
    body: Body,
    mode: Mode,
) -> Result<Response, ApiError> {
    let caller = api.auth.authorize_platform(&headers, &org).await?;
    if api.clusters.file(&org).any(|c| c.id == id) {
        return Err(ApiError::ReadOnly);
    }
    let mut c = find(&api, &org, &id).await?;
    let mut fields = api.fields(&headers, body).await?;
    read_body(&api, &org, mode, &mut fields, &mut c);
    fields.finish()?;
    if let Some(e) = config_conflict(&api.clusters, &c) {
        return Err(e);
    }
    c.updated_at = now_micros().max(c.created_at);
    let rules = &api.clusters;
    if !api
        .store
        .update_cluster(&c, &|c, o| clash(rules, c, o))
        .await?
    {
        return Err(ApiError::NotFound);
    }
    api.changed_clusters().await;
    tracing::info!(organization = %org, id = %c.id, name = %c.name, by = %caller, "virtual cluster changed");
    Ok(axum::Json(to_json(&api, &c)).into_response())
}

/// DELETE: removes a virtual cluster; its ports and its connections close.
pub(crate) async fn delete(
    State(api): State<Arc<Api>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((org, id)) = path.map_err(|_| ApiError::NotFound)?;
    let caller = api.auth.authorize_platform(&headers, &org).await?;
    if api.clusters.file(&org).any(|c| c.id == id) {
        return Err(ApiError::ReadOnly);
    }
    if uuid::Uuid::parse_str(&id).is_err() || !api.store.delete_cluster(&org, &id).await? {
        return Err(ApiError::NotFound);
    }
    api.changed_clusters().await;
    tracing::info!(organization = %org, id = %id, by = %caller, "virtual cluster deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
