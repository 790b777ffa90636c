//! The management REST API: organizations register their identity providers and the ACL
//! bindings that grant their users and groups access. What it accepts is stored (see
//! [`crate::store`]) and applied to the data plane before the answer is sent, so a new
//! provider's tokens authenticate on the very next connection. Proxies sharing one store
//! notice each other's changes by the store's notifications (PostgreSQL) and by polling its
//! revision.
//!
//! Callers authenticate with an API token or, with single sign-on, an access token of the
//! platform's identity provider (see [`auth`]).

mod acls;
mod auth;
mod body;
mod clusters;
mod console;
mod errors;
mod openapi;
mod providers;
mod time;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::authz::AclBinding;
use crate::config::{Management, VirtualCluster};
use crate::identity::ProviderSpec;
use crate::metrics::METRICS;
use crate::snapshot::{Publish, Stored};
use crate::store::{Position, Revisions, Store, StoredProvider, Written};
use errors::ApiError;

pub use providers::REDACTED;

/// How long a change to the virtual clusters waits for the proxy to open and close their
/// ports before it is answered.
const CLUSTERS_OPEN_WAIT: Duration = Duration::from_secs(5);

/// The API's state.
pub struct Api {
    store: Store,
    auth: auth::Authenticator,
    plain_http: crate::identity::PlainHttp,
    max_body_bytes: usize,
    /// Providers of the configuration file: read-only here.
    config_providers: Vec<ProviderSpec>,
    /// The same, as the API shows them.
    file_providers: Vec<StoredProvider>,
    /// When the configuration file was read: what its items show as `created_at`.
    loaded_at: i64,
    /// What the configuration file says about virtual clusters.
    clusters: clusters::Rules,
    /// Where committed changes are published for the data plane.
    data_plane: Arc<dyn Publish>,
    /// What was last applied, by revision.
    applied: Mutex<Applied>,
    /// What the last readiness probe of the store found.
    store_health: StoreHealth,
    /// The web console's login client, when `[management.console]` configures one.
    console: Option<Arc<console::Oidc>>,
    /// Fetches what providers publish (the console's provider test).
    http: reqwest::Client,
}

impl Api {
    /// The API of `management` in `config` over `store`, applying to `data_plane`; `http`
    /// fetches the single sign-on provider's keys.
    pub fn new(
        config: &crate::config::Config,
        management: &Management,
        store: Store,
        data_plane: Arc<dyn Publish>,
        http: reqwest::Client,
    ) -> Arc<Self> {
        let plain_http = config.identity.plain_http();
        let config_providers = config.identity.providers.clone();
        let loaded_at = time::now_micros();
        let file_providers = config_providers
            .iter()
            .map(|spec| providers::from_file(spec, loaded_at))
            .collect();
        let console = match (&management.console, &management.sso) {
            (Some(c), Some(sso)) => Some(Arc::new(console::Oidc::new(c, sso, http.clone()))),
            _ => None,
        };
        Arc::new(Self {
            console,
            http: http.clone(),
            file_providers,
            loaded_at,
            clusters: clusters::Rules::of(config, loaded_at),
            store,
            auth: auth::Authenticator::new(
                management.tokens.clone(),
                management.sso.as_ref(),
                http,
            ),
            plain_http,
            max_body_bytes: management.max_body_bytes,
            config_providers,
            data_plane,
            applied: Mutex::new(Applied::default()),
            store_health: StoreHealth::default(),
        })
    }

    /// The fields of a JSON object body, within the body limit.
    async fn fields(
        &self,
        headers: &HeaderMap,
        body: axum::body::Body,
    ) -> Result<body::Fields, ApiError> {
        Ok(body::Fields::new(
            body::json_object(headers, body, self.max_body_bytes).await?,
        ))
    }

    /// Checks the caller's credentials against `org` (see [`auth`]).
    async fn authorize(&self, headers: &HeaderMap, org: &str) -> Result<auth::ApiCaller, ApiError> {
        self.auth.authorize(headers, org).await
    }

    /// An organization's providers from the configuration file.
    fn file_providers<'a>(&'a self, org: &'a str) -> impl Iterator<Item = &'a StoredProvider> {
        self.file_providers
            .iter()
            .filter(move |p| p.organization == org)
    }

    /// One of an organization's stored providers, 404 if there is none.
    async fn find(&self, org: &str, id: &str) -> Result<StoredProvider, ApiError> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::NotFound);
        }
        self.store
            .provider(org, id)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// After a committed change: applies the store to the data plane now.
    async fn changed(&self) {
        if let Err(e) = self.sync().await {
            tracing::error!(error = %e, "a committed change could not be applied yet; retrying on the next poll");
        }
    }

    /// After a committed change to the virtual clusters: applies the store to the data plane
    /// and waits (a few seconds at most) until the proxy has opened and closed their ports.
    async fn changed_clusters(&self) {
        self.changed().await;
        if tokio::time::timeout(CLUSTERS_OPEN_WAIT, self.data_plane.clusters_open())
            .await
            .is_err()
        {
            tracing::warn!(
                "virtual clusters not yet opened and closed as stored; answering anyway"
            );
        }
    }

    /// After this proxy committed `change` to the bindings of `organization`, making the
    /// revisions `written`: if it is the only change since the bindings were last read, it is
    /// made to what was read instead of reading every binding back, and the next apply makes
    /// the same change to the data plane's index of that organization; then the store is
    /// applied.
    async fn changed_acls(&self, organization: &str, written: Written, change: AclChange) {
        let mut known = None;
        {
            let mut applied = self.applied.lock().await;
            let Applied {
                acls,
                pending,
                all,
                providers,
                clusters,
            } = &mut *applied;
            if let Some((read, by_org)) = acls.as_mut()
                && *read + 1 == written.of_kind
            {
                let by_org = Arc::make_mut(by_org);
                match change {
                    AclChange::Added(new) => {
                        // Already read if a poll read the bindings just after the commit: then
                        // taken out and put in again, which leaves them as they are.
                        let ids: std::collections::HashSet<String> =
                            new.iter().map(|(id, _)| id.clone()).collect();
                        change_organization(
                            by_org,
                            pending,
                            organization,
                            |id| ids.contains(id),
                            new,
                        );
                    }
                    AclChange::Removed(gone) => {
                        change_organization(
                            by_org,
                            pending,
                            organization,
                            |id| id == gone,
                            Vec::new(),
                        );
                    }
                }
                *read = written.of_kind;
                // Nothing else was written since the last apply: the store's revisions are
                // known without asking it.
                if *all == Some(written.all - 1)
                    && let Some((providers, _)) = providers
                    && let Some((clusters, _)) = clusters
                {
                    known = Some(Revisions {
                        all: written.all,
                        providers: *providers,
                        acls: written.of_kind,
                        clusters: *clusters,
                    });
                }
            }
        }
        if let Err(e) = self.sync_at(known).await {
            tracing::error!(error = %e, "a committed change could not be applied yet; retrying on the next poll");
        }
    }

    /// Applies the store's current content to the data plane if it changed since the last
    /// time (or always, the first time). Only the kinds of content whose revision moved are
    /// read again: the providers alone keep the compiled bindings; for bindings, this proxy's
    /// own change and the bindings the store's change log names are made as changes, the
    /// organizations the log names without their bindings are rebuilt, and everything is
    /// rebuilt when the log does not reach back to the last apply.
    pub async fn sync(&self) -> Result<bool, crate::store::StoreError> {
        self.sync_at(None).await
    }

    /// As [`Api::sync`], with the store's revisions `known` when this proxy's own write made
    /// them and nothing was applied since: then they are not read from the store again.
    async fn sync_at(&self, known: Option<Revisions>) -> Result<bool, crate::store::StoreError> {
        let mut applied = self.applied.lock().await;
        let revisions = match known {
            Some(known) if applied.all == Some(known.all - 1) => known,
            _ => self.store.revisions().await?,
        };
        if applied.all == Some(revisions.all) {
            METRICS.store_synced();
            return Ok(false);
        }
        let started = std::time::Instant::now();
        // Read (and kept) before the apply, even if it fails: the content is what the store
        // holds at these revisions either way.
        if applied.providers.as_ref().map(|(r, _)| *r) != Some(revisions.providers) {
            let specs = self
                .store
                .all_providers()
                .await?
                .iter()
                .map(spec_of)
                .collect();
            applied.providers = Some((revisions.providers, Arc::new(specs)));
            applied.pending.providers = true;
        }
        if applied.acls.as_ref().map(|(r, _)| *r) != Some(revisions.acls) {
            // The organizations written since the last apply, when the change log holds every
            // write since: only theirs are read back and rebuilt.
            let changed = match applied.all {
                Some(after) if applied.acls.is_some() => {
                    self.store.changed_since(after, revisions.all).await?
                }
                _ => None,
            };
            let Applied { acls, pending, .. } = &mut *applied;
            match (changed, acls.as_mut()) {
                (Some(changed), Some((read, by_org))) => {
                    let by_org = Arc::make_mut(by_org);
                    for org in &changed.acls {
                        if let Some(ids) = changed.acl_rows.get(org) {
                            // Only the bindings the writes logged: those still stored are
                            // there now, the others are gone.
                            let list: Vec<&str> = ids.iter().map(String::as_str).collect();
                            let now = self.store.acls_by_id(&list).await?;
                            let now = now.into_iter().filter_map(identified).collect();
                            change_organization(by_org, pending, org, |id| ids.contains(id), now);
                            continue;
                        }
                        let bindings: Vec<IdentifiedBinding> = self
                            .store
                            .acls_of(org)
                            .await?
                            .into_iter()
                            .filter_map(identified)
                            .collect();
                        if bindings.is_empty() {
                            by_org.remove(org);
                        } else {
                            by_org.insert(org.clone(), bindings);
                        }
                        pending.rebuild(org);
                    }
                    *read = revisions.acls;
                }
                _ => {
                    let mut by_org = AclsByOrganization::new();
                    for (id, b) in self
                        .store
                        .all_acls()
                        .await?
                        .into_iter()
                        .filter_map(identified)
                    {
                        let org = by_org.entry(b.organization.clone()).or_default();
                        org.push((id, b));
                    }
                    *acls = Some((revisions.acls, Arc::new(by_org)));
                    pending.all_acls = true;
                }
            }
        }
        if applied.clusters.as_ref().map(|(r, _)| *r) != Some(revisions.clusters) {
            let clusters = self.store.all_clusters().await?;
            let clusters = clusters.iter().map(clusters::cluster_of).collect();
            applied.clusters = Some((revisions.clusters, Arc::new(clusters)));
            applied.pending.clusters = true;
        }
        let clusters = applied
            .clusters
            .as_ref()
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let specs = applied
            .providers
            .as_ref()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let acls = applied
            .acls
            .as_ref()
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let counts = (specs.len(), acls.values().map(Vec::len).sum::<usize>());
        let pending = std::mem::replace(&mut applied.pending, Pending::nothing());
        // Building the whole snapshot takes milliseconds at thousands of providers and
        // bindings: off the runtime's workers, which carry the Kafka traffic.
        let data_plane = self.data_plane.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            if pending.clusters {
                data_plane.set_stored_clusters(clusters.as_ref().clone());
            }
            if pending.all_acls {
                // The providers go with them, changed or not: those registered as before
                // are kept as they are.
                return data_plane.set_stored(Stored {
                    providers: specs.as_ref().clone(),
                    acls: acls.values().flatten().map(|(_, b)| b.clone()).collect(),
                });
            }
            if pending.providers {
                data_plane.set_stored_providers(specs.as_ref().clone())?;
            }
            for (org, change) in pending.organizations {
                match change {
                    OrgChange::Rebuild => {
                        let bindings = acls.get(&org).into_iter().flatten();
                        let bindings = bindings.map(|(_, b)| b.clone()).collect();
                        data_plane.set_stored_acls(&org, bindings);
                    }
                    OrgChange::Change { added, removed } => {
                        data_plane.change_stored_acls(&org, added, removed);
                    }
                }
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| {
            Err(crate::field_errors::FieldErrors::one(
                "store",
                format!("apply failed: {e}"),
            ))
        });
        match outcome {
            Ok(()) => {
                tracing::info!(
                    revision = revisions.all,
                    providers = counts.0,
                    bindings = counts.1,
                    "store applied"
                );
                applied.all = Some(revisions.all);
                METRICS.store_applied(started.elapsed());
                METRICS.store_synced();
                Ok(true)
            }
            Err(problems) => {
                // Tried again, whole, on the next sync.
                applied.pending = Pending::everything();
                for (field, message) in problems {
                    tracing::error!(field, message, "store not applied");
                }
                Ok(false)
            }
        }
    }
}

/// The content last read from the store, by revision (bindings with their ids, by
/// organization), the store revision last applied, and what the next apply must rebuild.
#[derive(Default)]
struct Applied {
    all: Option<i64>,
    providers: Option<(i64, Arc<Vec<ProviderSpec>>)>,
    acls: Option<(i64, Arc<AclsByOrganization>)>,
    clusters: Option<(i64, Arc<Vec<VirtualCluster>>)>,
    pending: Pending,
}

/// Stored bindings with their ids, by organization.
type AclsByOrganization = HashMap<String, Vec<IdentifiedBinding>>;

/// What the next apply must rebuild: at first, after content was read back from the store and
/// after a failed apply, what was read (everything, after a failure); after this proxy's own
/// binding changes, the change to each organization it changed.
#[derive(Debug)]
struct Pending {
    /// The stored providers.
    providers: bool,
    /// The stored virtual clusters.
    clusters: bool,
    /// Every organization's stored bindings.
    all_acls: bool,
    /// What to do to the stored bindings of these organizations.
    organizations: BTreeMap<String, OrgChange>,
}

/// What the next apply does to one organization's stored bindings.
#[derive(Debug)]
enum OrgChange {
    /// Replaces them with the ones read from the store.
    Rebuild,
    /// Removes these and adds those: this proxy's own write, the only one since they were
    /// read, or the bindings the change log named, read back.
    Change {
        added: Vec<Arc<AclBinding>>,
        removed: Vec<AclBinding>,
    },
}

impl Default for Pending {
    fn default() -> Self {
        Self::everything()
    }
}

impl Pending {
    fn everything() -> Self {
        Self {
            providers: true,
            clusters: true,
            all_acls: true,
            organizations: Default::default(),
        }
    }

    fn nothing() -> Self {
        Self {
            providers: false,
            clusters: false,
            all_acls: false,
            organizations: Default::default(),
        }
    }

    /// An organization whose bindings were read back: they replace the data plane's.
    fn rebuild(&mut self, organization: &str) {
        if !self.all_acls {
            self.organizations
                .insert(organization.to_owned(), OrgChange::Rebuild);
        }
    }

    /// `removed` went from an organization's bindings and `added` came. A second change
    /// before the next apply rebuilds the organization instead: the order of the two would be
    /// lost in one combined change.
    fn change(
        &mut self,
        organization: &str,
        added: Vec<Arc<AclBinding>>,
        removed: Vec<AclBinding>,
    ) {
        if self.all_acls {
            return;
        }
        match self.organizations.entry(organization.to_owned()) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(OrgChange::Change { added, removed });
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                e.insert(OrgChange::Rebuild);
            }
        }
    }
}

/// Takes the bindings whose id `gone` names out of an organization's list and puts `came` in
/// after the others; `pending` records both as one change to the organization.
fn change_organization(
    by_org: &mut AclsByOrganization,
    pending: &mut Pending,
    organization: &str,
    gone: impl Fn(&str) -> bool,
    came: Vec<IdentifiedBinding>,
) {
    let held = by_org.entry(organization.to_owned()).or_default();
    let mut removed = Vec::new();
    held.retain(|(id, b)| {
        let out = gone(id);
        if out {
            removed.push(AclBinding::clone(b));
        }
        !out
    });
    let added = came.iter().map(|(_, b)| b.clone()).collect();
    held.extend(came);
    if held.is_empty() {
        by_org.remove(organization);
    }
    pending.change(organization, added, removed);
}

/// A stored binding's id and the binding, which the data plane's index shares.
type IdentifiedBinding = (String, Arc<AclBinding>);

/// A stored binding as the data plane takes it, with its id; `None` for one it cannot read.
fn identified(a: crate::store::StoredAcl) -> Option<IdentifiedBinding> {
    let b = acls::binding_of(&a)?;
    Some((a.id, Arc::new(b)))
}

/// A change this proxy made to the stored bindings.
pub(crate) enum AclChange {
    /// These were created (ids and bindings).
    Added(Vec<IdentifiedBinding>),
    /// The binding of this id was deleted.
    Removed(String),
}

/// The data plane's form of a stored provider, with the defaults of the configuration file
/// for what the API does not set (clock skew, JWKS refresh timing).
fn spec_of(p: &StoredProvider) -> ProviderSpec {
    ProviderSpec {
        organization: p.organization.clone(),
        identifier: p.identifier.clone(),
        issuer: p.issuer.clone(),
        jwks_endpoint_uri: p.jwks_endpoint_uri.clone(),
        audience: p.audience.clone(),
        scope: p.scope.clone(),
        token_endpoint_uri: p.token_endpoint_uri.clone(),
        sub_claim_name: p.sub_claim_name.clone(),
        groups_claim_name: p.groups_claim_name.clone(),
        authorize_endpoint_uri: p.authorize_endpoint_uri.clone(),
        refresh_token: p.refresh_token,
        cfk_client_id: p.cfk_client_id.clone(),
        cfk_client_secret: p.cfk_client_secret.clone().map(Into::into),
        clock_skew_secs: crate::identity::default_clock_skew(),
        jwks_refresh_secs: crate::identity::default_jwks_refresh(),
        jwks_min_refresh_secs: crate::identity::default_jwks_min_refresh(),
    }
}

/// The SHA-256 of an API token as the configuration lists it.
pub fn token_hash(token: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.trim().as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One page of a list: `limit` items from `offset`, the stored ones after `after` when the
/// page follows a `next` link (the same place, found from an index instead of by counting).
pub(crate) struct Page {
    limit: i64,
    offset: i64,
    after: Option<Position>,
}

/// One page's items, how many there are in all, and the list position of its last stored
/// item.
pub(crate) type PageItems = (Vec<Value>, i64, Option<Position>);

impl Page {
    /// The list answer: `count`, `next` and `previous` page links and the `results`. The
    /// links are to `collection` of `org`, with the list's `filters` kept, all percent-encoded;
    /// `next` also carries where its stored items start (`after`, the position of this page's
    /// last stored item).
    fn body(
        &self,
        org: &str,
        collection: &str,
        filters: &[(&str, &str)],
        (results, count, last): PageItems,
    ) -> Value {
        let path = format!("/organizations/{}/{collection}/", path_segment(org));
        let link = |offset: i64, after: Option<&Position>| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.extend_pairs(filters);
            query.append_pair("limit", &self.limit.to_string());
            query.append_pair("offset", &offset.to_string());
            if let Some(p) = after {
                query.append_pair("after", &p.to_param());
            }
            format!("{path}?{}", query.finish())
        };
        let next = (self.offset + self.limit < count)
            .then(|| link(self.offset + self.limit, last.as_ref()));
        let previous = (self.offset > 0).then(|| link((self.offset - self.limit).max(0), None));
        json!({ "count": count, "next": next, "previous": previous, "results": results })
    }

    /// This page over the configuration file's items (`fixed`, listed first, already shown)
    /// and the store's after them; `stored(limit, offset, after)` reads a page of the store's
    /// items (from `after` when given, else from `offset`), counts them all and gives the
    /// position of the last one read.
    async fn over(
        &self,
        fixed: Vec<Value>,
        stored: impl AsyncFnOnce(i64, i64, Option<&Position>) -> Result<PageItems, ApiError>,
    ) -> Result<PageItems, ApiError> {
        let before = fixed.len() as i64;
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let mut results: Vec<Value> = fixed.into_iter().skip(skip).take(take).collect();
        let stored_offset = (self.offset - before).max(0);
        let stored_limit = self.limit - results.len() as i64;
        // A position is only used where the page starts past the file's items.
        let after = self.after.as_ref().filter(|_| self.offset >= before);
        // The store is asked even when the page is full of the file's items: for the count.
        let (items, count, last) = stored(stored_limit.max(1), stored_offset, after).await?;
        let last = if stored_limit > 0 && !items.is_empty() {
            results.extend(items);
            last
        } else {
            None
        };
        Ok((results, count + before, last))
    }
}

/// `segment` percent-encoded for a URL path: everything but RFC 3986's unreserved characters.
fn path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An item of the configuration file as the API shows it: marked read-only.
fn read_only(mut v: Value) -> Value {
    v["read_only"] = Value::Bool(true);
    v
}

/// The management listener's routes: the API's, and the console's when it is configured.
pub fn app(api: Arc<Api>) -> Router {
    let routes = router(api.clone());
    match api.console.clone() {
        Some(oidc) => routes.clone().merge(console::router(api, oidc, routes)),
        None => routes,
    }
}

/// The API's routes. Each collection and item path is served with and without its trailing
/// slash.
pub fn router(api: Arc<Api>) -> Router {
    let collection = get(providers::list).post(providers::create);
    let item = get(providers::get)
        .put(providers::replace)
        .patch(providers::patch)
        .delete(providers::delete);
    let acl_collection = get(acls::list).post(acls::create);
    let acl_item = get(acls::get).delete(acls::delete);
    let cluster_collection = get(clusters::list).post(clusters::create);
    let cluster_item = get(clusters::get)
        .put(clusters::replace)
        .patch(clusters::patch)
        .delete(clusters::delete);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/readyz", get(readyz))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .route("/organizations/{org}/oauth-providers", collection.clone())
        .route("/organizations/{org}/oauth-providers/", collection)
        .route("/organizations/{org}/oauth-providers/{id}", item.clone())
        .route("/organizations/{org}/oauth-providers/{id}/", item)
        .route("/organizations/{org}/acls", acl_collection.clone())
        .route("/organizations/{org}/acls/", acl_collection)
        .route("/organizations/{org}/acls/{id}", acl_item.clone())
        .route("/organizations/{org}/acls/{id}/", acl_item)
        .route("/organizations/{org}/clusters", cluster_collection.clone())
        .route("/organizations/{org}/clusters/", cluster_collection)
        .route("/organizations/{org}/clusters/{id}", cluster_item.clone())
        .route("/organizations/{org}/clusters/{id}/", cluster_item)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound })
        .with_state(api)
}

async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// How long the readiness probe waits for the store.
const READY_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the store is probed for readiness.
const READY_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What the last readiness probe of the store found: `Some(None)` when it would take a
/// write, `Some(Some(why))` when not; `None` before the first probe.
type StoreHealth = std::sync::Mutex<Option<Option<String>>>;

/// Probes the store once, waiting at most [`READY_STORE_TIMEOUT`], and records what it found.
/// The probe runs on its own task (cancelling it inside a transaction would be unsafe), and
/// its handle is returned so that a caller can wait for it to end before probing again.
async fn probe_once(api: &Arc<Api>) -> (Option<String>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let probe = tokio::spawn({
        let api = api.clone();
        async move {
            let _ = tx.send(api.store.probe().await);
        }
    });
    let found = match tokio::time::timeout(READY_STORE_TIMEOUT, rx).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "readiness: the store failed");
            Some("the store is unavailable".to_owned())
        }
        Ok(Err(_)) => Some("the store probe ended without an answer".to_owned()),
        Err(_) => Some(format!(
            "the store did not answer within {} s",
            READY_STORE_TIMEOUT.as_secs()
        )),
    };
    if let Ok(mut h) = api.store_health.lock() {
        *h = Some(found.clone());
    }
    (found, probe)
}

/// Probes the store every [`READY_PROBE_INTERVAL`], one probe at a time, so that readiness
/// answers from the last result without touching the store itself.
async fn probe_store(api: Arc<Api>, shutdown: CancellationToken) {
    loop {
        let (_, probe) = probe_once(&api).await;
        // A probe still waiting on a locked store is not doubled.
        let _ = probe.await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(READY_PROBE_INTERVAL) => {}
        }
    }
}

/// Ready when the store takes writes (probed every second, answering within 2 s) and every
/// provider of the configuration file (the platform's own) has signing keys. Providers
/// registered through the API that have none are listed but do not make the proxy unready:
/// one organization's unreachable provider must not take the proxy out of its load balancer
/// for everyone.
async fn readyz(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let last = api.store_health.lock().map(|h| h.clone()).ok().flatten();
    let store = match last {
        Some(found) => found,
        None => probe_once(&api).await.0,
    };
    let mut reasons: Vec<String> = store.into_iter().collect();
    let mut without_keys = Vec::new();
    let current = api.data_plane.current();
    for (label, from_file) in current.providers_without_keys(&api.config_providers) {
        if from_file {
            reasons.push(format!("identity provider {label} has no signing keys yet"));
        }
        without_keys.push(label);
    }
    if reasons.is_empty() {
        let body = json!({ "status": "ready", "providers_without_keys": without_keys });
        return (axum::http::StatusCode::OK, axum::Json(body)).into_response();
    }
    let body = json!({
        "detail": format!("Not ready: {}.", reasons.join("; ")),
        "providers_without_keys": without_keys,
    });
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(body),
    )
        .into_response()
}

/// Serves the API on `listener` until `shutdown`, and applies the changes other proxies make
/// to the store: at once when the store tells of them (PostgreSQL), and by polling its
/// revision every `poll` in any case.
pub async fn serve(
    listener: TcpListener,
    api: Arc<Api>,
    poll: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let poller = tokio::spawn(follow_store(api.clone(), poll, shutdown.clone()));
    if let Some(provider) = api.auth.sso_provider() {
        tokio::spawn(crate::identity::keep_keys_fresh(shutdown.clone(), provider));
    }
    let prober = tokio::spawn(probe_store(api.clone(), shutdown.clone()));
    let result = axum::serve(listener, app(api))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    poller.abort();
    prober.abort();
    result
}

/// Applies the store's changes until `shutdown`: each one the store notifies, and whatever a
/// poll every `poll` finds (all of them on SQLite; on PostgreSQL, those committed while the
/// notifications were interrupted).
async fn follow_store(api: Arc<Api>, poll: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changes = None;
    loop {
        let notified = async {
            match changes.as_mut() {
                Some(c) => crate::store::Changes::next(c).await,
                None => std::future::pending().await,
            }
        };
        let polled = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => true,
            n = notified => match n {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "store change notifications interrupted; polling until they resume");
                    changes = None;
                    continue;
                }
            },
        };
        if polled && changes.is_none() {
            match api.store.changes().await {
                Ok(c) => changes = c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the store's changes; polling")
                }
            }
        }
        if let Err(e) = api.sync().await {
            tracing::warn!(error = %e, "management store sync failed");
        }
    }
}

/// Why the management API did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    SecretKeys(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("management.listen {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A running management API.
pub struct Running {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops serving and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Opens the store of `config`, applies what it holds to `data_plane`, and serves the API on
/// `management.listen`.
pub async fn start(
    config: &crate::config::Config,
    management: &Management,
    data_plane: Arc<dyn Publish>,
) -> Result<Running, StartError> {
    let url = config.store.url();
    let keys = config.store.secret_keys().map_err(StartError::SecretKeys)?;
    let store = Store::open(&url).await?.with_secret_keys(keys).await?;
    tracing::info!(backend = ?store.backend(), "management store open");
    let api = Api::new(
        config,
        management,
        store,
        data_plane,
        crate::identity::http_client()?,
    );
    api.sync().await?;
    let listener = TcpListener::bind(management.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: management.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: management.listen,
        source,
    })?;
    tracing::info!(%addr, "management API listening");
    let shutdown = CancellationToken::new();
    let poll = Duration::from_millis(config.store.poll_interval_ms);
    let task = tokio::spawn(serve(listener, api, poll, shutdown.clone()));
    Ok(Running {
        addr,
        shutdown,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_are_percent_encoded_and_keep_the_filters() {
        let page = Page {
            limit: 2,
            offset: 2,
            after: None,
        };
        let last_stored = Position {
            created_at: 17,
            id: "a:b".into(),
        };
        let body = page.body(
            "acme corp/ü",
            "acls",
            &[("principal", "Group:a&b c"), ("resource_name", "orders.*")],
            (Vec::new(), 5, Some(last_stored)),
        );
        let path = "/organizations/acme%20corp%2F%C3%BC/acls/";
        let filters = "principal=Group%3Aa%26b+c&resource_name=orders.*";
        assert_eq!(
            body["next"],
            format!("{path}?{filters}&limit=2&offset=4&after=17%3Aa%3Ab")
        );
        assert_eq!(
            body["previous"],
            format!("{path}?{filters}&limit=2&offset=0")
        );
        let last = Page {
            limit: 2,
            offset: 4,
            after: None,
        }
        .body("acme", "oauth-providers", &[], (Vec::new(), 5, None));
        assert_eq!(last["next"], Value::Null);
        assert_eq!(
            last["previous"],
            "/organizations/acme/oauth-providers/?limit=2&offset=2"
        );
    }

    #[test]
    fn positions_read_back_what_links_carry_and_nothing_else() {
        let p = Position {
            created_at: 1_733_000_000_000_000,
            id: "0b6f:x".into(),
        };
        assert_eq!(Position::from_param(&p.to_param()), Some(p));
        for bad in ["", "12", "12:", "x:1", ":id", "1.5:id"] {
            assert_eq!(Position::from_param(bad), None, "{bad:?}");
        }
    }
}
