//! The data plane: listeners (a bootstrap port and one port per broker on each configured
//! listener), client sessions, upstream connections and the background topology refresh.

mod admission;
mod auth;
#[doc(hidden)]
pub mod fuzzing;
mod link;
mod rewrite;
mod session;
pub mod topology;
pub mod upstream;
pub mod upstream_token;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::authz::{AclIndex, AuthorizationConfig, Decisions};
use crate::config::{Authentication, Config, Listener};
use crate::identity::{Provider, ProviderSpec, Providers};
pub use admission::Refusals;
use topology::Topology;
use upstream::{Connector, UpstreamError};

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener's port could not be bound.
    #[error("listener {listener}: cannot bind {addr}: {source}")]
    Bind {
        /// The listener's name.
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// A TLS file could not be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The proxy's own OAUTHBEARER settings are incomplete.
    #[error("{0}")]
    Token(#[from] upstream_token::TokenError),
    /// The HTTP client for identity providers could not be built.
    #[error("identity provider HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Where a listener's connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The bootstrap port: any reachable bootstrap server.
    Bootstrap,
    /// A broker's port: that broker.
    Node(i32),
}

/// Gauges of open connections, for tests and (later) metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Client connections currently open.
    pub client_connections: AtomicI64,
    /// Upstream connections currently open.
    pub upstream_connections: AtomicI64,
    /// In-band re-authentications to brokers that limit the SASL session (KIP-368).
    pub upstream_reauthentications: AtomicU64,
    /// Client connections closed because their session reached the token's expiry without a
    /// re-authentication.
    pub sessions_expired: AtomicU64,
    /// Successful in-band re-authentications of clients (KIP-368).
    pub client_reauthentications: AtomicU64,
}

/// Counts an open connection in a gauge of [`Stats`] for as long as it lives.
pub(crate) struct Gauge<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> Gauge<'a> {
    pub(crate) fn new(g: &'a std::sync::atomic::AtomicI64) -> Self {
        g.fetch_add(1, Ordering::Relaxed);
        Self(g)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct ListenerState {
    pub(crate) config: Listener,
    acceptor: Option<TlsAcceptor>,
    broker_ports: Mutex<HashMap<i32, u16>>,
}

/// State shared by every task of one proxy instance.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) listeners: Vec<ListenerState>,
    pub(crate) topology: Topology,
    pub(crate) connector: Connector,
    pub(crate) stats: Arc<Stats>,
    pub(crate) decisions: Arc<Decisions>,
    admission: Arc<admission::Admission>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    refresh: tokio::sync::Notify,
    /// Identity providers and the compiled ACLs: an immutable snapshot, swapped whole when
    /// they change. Each request reads the ACLs of the moment it arrives.
    snapshot: RwLock<Arc<Snapshot>>,
    /// Authentication outcomes by provider and outcome (`success` or a failure reason).
    auth_counts: Mutex<BTreeMap<(String, String), u64>>,
    /// Where the snapshot comes from: the configuration file's ACL section (replaced on
    /// SIGHUP) and what the management API stored. Held while a new snapshot is built, so
    /// that two changes never interleave.
    sources: Mutex<Sources>,
    /// The client for identity providers.
    http: reqwest::Client,
    /// Whether the last broker metadata refresh succeeded.
    upstream_answers: std::sync::atomic::AtomicBool,
}

/// The parts a snapshot is built from.
#[derive(Default)]
struct Sources {
    file_authorization: AuthorizationConfig,
    stored_acls: Vec<crate::authz::AclBinding>,
}

/// What the data plane decides with, replaced whole on every change (DESIGN.md decision 12).
#[derive(Default)]
pub(crate) struct Snapshot {
    pub(crate) providers: Arc<Providers>,
    pub(crate) acls: Arc<AclIndex>,
}

/// A running proxy.
pub struct Proxy {
    shared: Arc<Shared>,
    bootstrap: Vec<(String, SocketAddr)>,
}

impl Proxy {
    /// Binds every listener's bootstrap port, starts accepting and starts the background
    /// topology refresh (which opens the per-broker ports as brokers are discovered).
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let http = crate::identity::http_client()?;
        let connector = Connector::new(config.upstream.clone(), http.clone())?;
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for l in &config.listeners {
            let acceptor = l.tls.as_ref().map(crate::tls::acceptor).transpose()?;
            if l.authentication == Authentication::None {
                tracing::warn!(
                    listener = %l.name,
                    "listener runs with authentication = \"none\": INSECURE, every client is anonymous and every request is forwarded"
                );
            }
            listeners.push(ListenerState {
                config: l.clone(),
                acceptor,
                broker_ports: Mutex::default(),
            });
        }
        let providers = Providers::from_specs(&config.identity.providers, &http);
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(Snapshot {
                providers: Arc::new(providers),
                acls: Arc::new(config.authorization.index()),
            })),
            auth_counts: Mutex::default(),
            sources: Mutex::new(Sources {
                file_authorization: config.authorization.clone(),
                stored_acls: Vec::new(),
            }),
            http: http.clone(),
            upstream_answers: std::sync::atomic::AtomicBool::new(false),
            admission: admission::Admission::new(&config.limits),
            config,
            listeners,
            topology: Topology::default(),
            connector,
            stats: Arc::default(),
            decisions: Arc::default(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            refresh: tokio::sync::Notify::new(),
        });
        let mut bootstrap = Vec::new();
        for (index, l) in shared.listeners.iter().enumerate() {
            let addr = SocketAddr::new(l.config.bind_address, l.config.bootstrap_port);
            let tcp = bind(&l.config.name, addr, shared.config.limits.listen_backlog).await?;
            let local = tcp.local_addr().map_err(|source| StartError::Bind {
                listener: l.config.name.clone(),
                addr,
                source,
            })?;
            tracing::info!(listener = %l.config.name, addr = %local, tls = l.acceptor.is_some(), "bootstrap listener ready");
            bootstrap.push((l.config.name.clone(), local));
            shared
                .tracker
                .spawn(accept_loop(shared.clone(), index, Target::Bootstrap, tcp));
        }
        shared.tracker.spawn(refresh_loop(shared.clone()));
        for provider in shared.providers().iter() {
            shared.tracker.spawn(crate::identity::keep_keys_fresh(
                shared.shutdown.clone(),
                provider.clone(),
            ));
        }
        Ok(Self { shared, bootstrap })
    }

    /// The bound bootstrap address of a listener.
    pub fn bootstrap_addr(&self, listener: &str) -> Option<SocketAddr> {
        self.bootstrap
            .iter()
            .find(|(n, _)| n == listener)
            .map(|(_, a)| *a)
    }

    /// The proxy ports opened so far on a listener, by broker node id.
    pub fn broker_ports(&self, listener: &str) -> Vec<(i32, u16)> {
        let Some(l) = self
            .shared
            .listeners
            .iter()
            .find(|l| l.config.name == listener)
        else {
            return Vec::new();
        };
        let mut ports: Vec<_> = l
            .broker_ports
            .lock()
            .map(|p| p.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
        ports.sort();
        ports
    }

    /// Authentication outcomes so far, by (provider, outcome).
    pub fn auth_counts(&self) -> BTreeMap<(String, String), u64> {
        self.shared
            .auth_counts
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Replaces the ACL bindings and super users of the configuration file (those the
    /// management API stored stay). The next request of every connection is decided by the
    /// new ones; nothing restarts. A section with problems (each with its field) changes
    /// nothing.
    pub fn set_authorization(
        &self,
        authorization: &AuthorizationConfig,
    ) -> Result<(), Vec<(String, String)>> {
        let organizations = self
            .shared
            .config
            .identity
            .providers
            .iter()
            .map(|p| p.organization.as_str())
            .collect();
        let problems = authorization.problems(&organizations);
        if !problems.is_empty() {
            return Err(problems);
        }
        let Ok(mut sources) = self.shared.sources.lock() else {
            return Err(vec![("authorization".into(), "state unavailable".into())]);
        };
        sources.file_authorization = authorization.clone();
        let providers = self.shared.providers();
        self.shared.install(providers, &sources);
        tracing::info!(
            bindings = authorization.acls.len(),
            "authorization replaced"
        );
        Ok(())
    }

    /// Makes `stored` (beside the configuration file's) the identity providers and
    /// `stored_acls` the API's ACL bindings. A provider registered as before keeps its key
    /// cache. A new one's tokens authenticate on the next connection; a removed one's tokens
    /// are refused on new connections at once, and the sessions it authenticated end at their
    /// next re-authentication or after `identity.removed_provider_grace_secs`, whichever comes
    /// first. A changed one counts as removed and added, unless only its client settings
    /// changed ([`Provider::succeeded_by`]): then its sessions go on. Problems (each with its
    /// field) change nothing.
    pub fn set_stored(
        &self,
        stored: Vec<ProviderSpec>,
        stored_acls: Vec<crate::authz::AclBinding>,
    ) -> Result<(), Vec<(String, String)>> {
        let file = &self.shared.config.identity.providers;
        let problems = stored_problems(file, &stored);
        if !problems.is_empty() {
            return Err(problems);
        }
        let Ok(mut sources) = self.shared.sources.lock() else {
            return Err(vec![("store".into(), "state unavailable".into())]);
        };
        let current = self.shared.providers();
        let mut kept = Vec::new();
        let mut added = Vec::new();
        let mut succeeded = Vec::new();
        // Identifiers are unique in an organization (checked above): one lookup per spec,
        // so that a change costs the same with 10 providers as with thousands.
        let by_name: HashMap<(&str, &str), &Arc<Provider>> = current
            .iter()
            .map(|p| {
                (
                    (p.spec.organization.as_str(), p.spec.identifier.as_str()),
                    p,
                )
            })
            .collect();
        for spec in file.iter().chain(&stored) {
            let same_name = by_name
                .get(&(spec.organization.as_str(), spec.identifier.as_str()))
                .copied();
            if let Some(p) = same_name.filter(|p| p.is_registered_as(spec)) {
                kept.push(p.clone());
                continue;
            }
            let predecessor = same_name.and_then(|p| Some((p.clone(), p.succeeded_by(spec)?)));
            let p = match predecessor {
                Some((old, next)) => {
                    succeeded.push(old);
                    Arc::new(next)
                }
                None => Arc::new(Provider::new(spec.clone(), self.shared.http.clone())),
            };
            added.push(p.clone());
            kept.push(p);
        }
        let kept_ptrs: std::collections::HashSet<*const Provider> =
            kept.iter().map(Arc::as_ptr).collect();
        let gone = |p: &&Arc<Provider>| !kept_ptrs.contains(&Arc::as_ptr(p));
        for p in current.iter().filter(gone) {
            // A succeeded provider's keys loop stops; its successor runs its own.
            p.retired.cancel();
        }
        let removed: Vec<Arc<Provider>> = current
            .iter()
            .filter(gone)
            .filter(|p| !succeeded.iter().any(|s| Arc::ptr_eq(s, p)))
            .cloned()
            .collect();
        sources.stored_acls = stored_acls;
        self.shared
            .install(Arc::new(Providers::new(kept)), &sources);
        drop(sources);
        for p in &succeeded {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, "identity provider changed (client settings only); its sessions go on");
        }
        for p in &added {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, issuer = %p.spec.issuer, "identity provider added");
            self.shared.tracker.spawn(crate::identity::keep_keys_fresh(
                self.shared.shutdown.clone(),
                p.clone(),
            ));
        }
        let grace = Duration::from_secs(self.shared.config.identity.removed_provider_grace_secs);
        for p in removed {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, grace_secs = grace.as_secs(), "identity provider removed; its sessions end at re-authentication or after the grace period");
            let shutdown = self.shared.shutdown.clone();
            self.shared.tracker.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => p.revoked.cancel(),
                    _ = shutdown.cancelled() => {}
                }
            });
        }
        Ok(())
    }

    /// The proxy as the management API's data plane.
    pub fn data_plane(&self) -> Arc<dyn crate::management::DataPlane> {
        Arc::new(Self {
            shared: self.shared.clone(),
            bootstrap: Vec::new(),
        })
    }

    /// Open-connection gauges.
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Authorization decisions, by outcome.
    pub fn decisions(&self) -> Arc<Decisions> {
        self.shared.decisions.clone()
    }

    /// Connections refused at accept, by the limit that refused them.
    pub fn refusals(&self) -> Arc<Refusals> {
        self.shared.admission.refusals.clone()
    }

    /// The data plane's readiness, as the metrics listener's `/readyz` reports it: whether
    /// the brokers answered the last metadata refresh, and the providers without keys.
    pub fn readiness(&self) -> crate::metrics::Readiness {
        let shared = self.shared.clone();
        Arc::new(move || {
            (
                shared.upstream_answers.load(Ordering::Relaxed),
                shared.providers_without_keys(),
            )
        })
    }

    /// Waits until the first complete refresh: the brokers, their API versions and their
    /// listeners are known.
    pub async fn ready(&self) {
        self.shared.topology.wait_known().await;
    }

    /// Stops accepting, lets in-flight requests finish for up to `grace`, then returns.
    /// Returns false if some connections were still busy at the deadline.
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.shared.shutdown.cancel();
        self.shared.tracker.close();
        let drained = tokio::time::timeout(grace, self.shared.tracker.wait())
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                open = self.shared.stats.client_connections.load(Ordering::Relaxed),
                "shutdown deadline reached with connections still open"
            );
        }
        drained
    }
}

async fn bind(listener: &str, addr: SocketAddr, backlog: u32) -> Result<TcpListener, StartError> {
    listen(addr, backlog).map_err(|source| StartError::Bind {
        listener: listener.to_owned(),
        addr,
        source,
    })
}

/// A listening socket with `backlog` (`limits.listen_backlog`): during a burst of connects,
/// a short backlog makes the kernel drop SYNs, which clients retry only after a second.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

impl Shared {
    /// Builds and swaps in the snapshot of `providers` and the ACLs of `sources`.
    fn install(&self, providers: Arc<Providers>, sources: &Sources) {
        let mut authorization = sources.file_authorization.clone();
        authorization
            .acls
            .extend(sources.stored_acls.iter().cloned());
        let next = Snapshot {
            providers,
            acls: Arc::new(authorization.index()),
        };
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(next);
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The current identity providers.
    pub(crate) fn providers(&self) -> Arc<Providers> {
        self.snapshot().providers.clone()
    }

    /// The current ACLs.
    pub(crate) fn acls(&self) -> Arc<AclIndex> {
        self.snapshot().acls.clone()
    }

    pub(crate) fn auth_rules(&self) -> auth::Rules {
        auth::Rules {
            max_session: Duration::from_secs(self.config.identity.max_session_lifetime_secs),
        }
    }

    /// The providers (`organization`, `identifier`) that have no keys yet.
    fn providers_without_keys(&self) -> Vec<(String, String)> {
        self.providers()
            .iter()
            .filter(|p| !p.jwks.has_keys())
            .map(|p| (p.spec.organization.clone(), p.spec.identifier.clone()))
            .collect()
    }

    pub(crate) fn record_auth(&self, provider: &str, outcome: &str) {
        crate::metrics::METRICS.authentication(provider, outcome);
        if let Ok(mut counts) = self.auth_counts.lock() {
            *counts
                .entry((provider.to_owned(), outcome.to_owned()))
                .or_default() += 1;
        }
    }

    /// Records a broker's real address; a new broker gets listeners and a versions check.
    pub(crate) fn register_broker(&self, node: i32, host: &str, port: i32) {
        if self.topology.record(node, host, port) && !self.topology.has_versions_of(node) {
            self.refresh.notify_one();
        }
    }

    /// The proxy port of broker `node` on a listener, opening it on first use.
    pub(crate) fn broker_port(
        self: &Arc<Self>,
        listener: usize,
        node: i32,
    ) -> Result<u16, std::io::Error> {
        let l = &self.listeners[listener];
        let mut ports = l
            .broker_ports
            .lock()
            .map_err(|_| std::io::Error::other("listener table poisoned"))?;
        if let Some(port) = ports.get(&node) {
            return Ok(*port);
        }
        let base = l.config.broker_port_base;
        let port = if base == 0 {
            0
        } else {
            u16::try_from(i64::from(base) + i64::from(node)).map_err(|_| {
                std::io::Error::other(format!(
                    "broker_port_base {base} + node id {node} is not a port"
                ))
            })?
        };
        let addr = SocketAddr::new(l.config.bind_address, port);
        let tcp = listen(addr, self.config.limits.listen_backlog)?;
        let bound = tcp.local_addr()?.port();
        tracing::info!(listener = %l.config.name, node, port = bound, "broker listener ready");
        ports.insert(node, bound);
        drop(ports);
        self.tracker
            .spawn(accept_loop(self.clone(), listener, Target::Node(node), tcp));
        Ok(bound)
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: usize, target: Target, tcp: TcpListener) {
    let name = shared.listeners[listener].config.name.clone();
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            a = tcp.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let authenticates =
            shared.listeners[listener].config.authentication != Authentication::None;
        let Some(admitted) = shared.admission.admit(&name, peer.ip(), authenticates) else {
            continue;
        };
        let span = tracing::info_span!(
            "conn",
            %peer,
            listener = %name,
            target = ?target,
            client_id = tracing::field::Empty,
            principal = tracing::field::Empty
        );
        let task = session::serve(shared.clone(), listener, target, socket, peer, admitted);
        shared.tracker.spawn(task.instrument(span));
    }
}

/// Keeps the broker list and versions current: at start (retrying until a broker answers),
/// every `upstream.metadata_refresh_secs`, and at once when a new broker is seen.
async fn refresh_loop(shared: Arc<Shared>) {
    let every = Duration::from_secs(shared.config.upstream.metadata_refresh_secs);
    let mut retry = Duration::from_millis(200);
    loop {
        let refreshed = refresh(&shared).await;
        shared
            .upstream_answers
            .store(refreshed.is_ok(), Ordering::Relaxed);
        let wait = match refreshed {
            Ok(()) => {
                retry = Duration::from_millis(200);
                every
            }
            Err(e) => {
                tracing::warn!(error = %e, "upstream metadata refresh failed");
                retry = (retry * 2).min(Duration::from_secs(5));
                retry
            }
        };
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = shared.refresh.notified() => {}
        }
    }
}

async fn refresh(shared: &Arc<Shared>) -> Result<(), UpstreamError> {
    let client_id = shared.config.upstream.client_id.clone();
    let (addr, mut stream) = shared.connector.connect_bootstrap().await?;
    if !shared.topology.versions().is_known() {
        let versions = upstream::fetch_api_versions(&mut stream, &client_id).await?;
        shared.topology.merge_versions(None, &versions);
    }
    let metadata = upstream::fetch_brokers(&mut stream, &client_id).await?;
    drop(stream);
    tracing::debug!(%addr, brokers = metadata.brokers.len(), "upstream metadata refreshed");
    for b in &metadata.brokers {
        shared.topology.record(b.node_id.0, &b.host, b.port);
    }
    for (node, addr) in shared.topology.nodes() {
        if !shared.topology.has_versions_of(node) {
            // One unreachable broker must not keep the others from getting their listeners;
            // its versions are fetched on a later refresh.
            let fetched = async {
                let mut s = shared.connector.connect(&addr).await?;
                upstream::fetch_api_versions(&mut s, &client_id).await
            };
            match fetched.await {
                Ok(versions) => shared.topology.merge_versions(Some(node), &versions),
                Err(e) => {
                    tracing::warn!(node, %addr, error = %e, "cannot fetch the API versions of a broker")
                }
            }
        }
        for listener in 0..shared.listeners.len() {
            if let Err(e) = shared.broker_port(listener, node) {
                tracing::error!(listener = %shared.listeners[listener].config.name, node, error = %e, "cannot open broker listener");
            }
        }
    }
    shared.topology.mark_known();
    Ok(())
}

impl crate::management::DataPlane for Proxy {
    fn apply(
        &self,
        providers: Vec<ProviderSpec>,
        acls: Vec<crate::authz::AclBinding>,
    ) -> Result<(), Vec<(String, String)>> {
        self.set_stored(providers, acls)
    }

    fn file_acls(&self) -> Vec<crate::authz::AclBinding> {
        self.shared
            .sources
            .lock()
            .map(|s| s.file_authorization.acls.clone())
            .unwrap_or_default()
    }

    fn providers_without_keys(&self) -> Vec<(String, String)> {
        self.shared.providers_without_keys()
    }
}

/// What would make the stored providers clash with the file's or with each other (the API
/// checks each write; this guards what two writers may have raced in).
fn stored_problems(file: &[ProviderSpec], stored: &[ProviderSpec]) -> Vec<(String, String)> {
    let mut names = std::collections::HashSet::new();
    let mut issuers = std::collections::HashSet::new();
    for p in file {
        names.insert((p.organization.as_str(), p.identifier.as_str()));
        issuers.insert((p.issuer.as_str(), p.audience.as_str()));
    }
    let mut problems = Vec::new();
    for p in stored {
        let at = || format!("store provider {}/{}", p.organization, p.identifier);
        if !names.insert((p.organization.as_str(), p.identifier.as_str())) {
            problems.push((at(), "identifier registered twice".to_owned()));
        }
        if !issuers.insert((p.issuer.as_str(), p.audience.as_str())) {
            problems.push((at(), "issuer and audience registered twice".to_owned()));
        }
    }
    problems
}
