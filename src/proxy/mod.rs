//! The data plane: endpoints (a bootstrap port and one port per broker of its upstream cluster,
//! for each listener with ports and each virtual cluster), client sessions, upstream connections
//! and the background topology refresh of each upstream cluster.

mod admission;
mod auth;
#[doc(hidden)]
pub mod fuzzing;
mod link;
mod namespace;
mod rewrite;
#[cfg(test)]
mod scripted;
mod session;
mod sni;
#[cfg(test)]
mod tests;
pub mod topology;
pub mod upstream;
pub mod upstream_token;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::authz::Decisions;
use crate::config::{
    Authentication, Config, Endpoint, FieldErrors, Listener, Sni, Upstream, VirtualCluster,
};
use crate::snapshot::{Publish, Published};
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
    /// An endpoint names an upstream cluster that is not configured.
    #[error("no upstream cluster is named {0:?}")]
    UnknownUpstream(String),
    /// A virtual cluster names a listener that routes by server name and is not open.
    #[error("no listener routing by server name is named {0:?}")]
    UnknownListener(String),
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

/// One endpoint clients connect to: a listener's ports, or a virtual cluster's.
pub(crate) struct EndpointState {
    /// What it was made from (its name, listener, ports, organization, server name): an
    /// endpoint whose configuration changes is replaced.
    pub(crate) spec: Endpoint,
    /// The upstream cluster it serves, an index into [`Shared::upstreams`].
    pub(crate) upstream: usize,
    /// A virtual cluster's namespace on its upstream cluster.
    pub(crate) namespace: Option<namespace::Namespace>,
    acceptor: Option<TlsAcceptor>,
    broker_ports: Mutex<HashMap<i32, u16>>,
    /// The bound bootstrap address (where it is reached by server name, its listener's).
    bootstrap: SocketAddr,
    /// Cancelled when the endpoint is removed or replaced, and at shutdown: its ports close
    /// and its connections end.
    pub(crate) closed: CancellationToken,
    /// Its accept loops: a replacement binds the same ports only once they have ended.
    accepting: TaskTracker,
    /// Its connections' series.
    pub(crate) metrics: crate::metrics::ListenerMetrics,
}

/// One upstream cluster: how the proxy reaches it and what it knows of it.
pub(crate) struct UpstreamCluster {
    pub(crate) name: String,
    pub(crate) config: Upstream,
    pub(crate) topology: Topology,
    pub(crate) connector: Connector,
    /// Asks for a refresh now (a new broker was seen).
    refresh: tokio::sync::Notify,
    /// Whether the last broker metadata refresh succeeded.
    answers: std::sync::atomic::AtomicBool,
}

/// State shared by every task of one proxy instance.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// Where clients connect now; replaced whole when virtual clusters change.
    endpoints: ArcSwap<Vec<Arc<EndpointState>>>,
    /// Held while endpoints are opened and closed, so that two changes never interleave.
    endpoints_changing: tokio::sync::Mutex<()>,
    /// The bound address of each listener that routes by server name, by listener name.
    sni_listeners: Mutex<HashMap<String, SocketAddr>>,
    pub(crate) upstreams: Vec<UpstreamCluster>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) decisions: Arc<Decisions>,
    admission: Arc<admission::Admission>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Identity providers and the compiled ACLs. Each request reads the ACLs of the moment
    /// it arrives.
    pub(crate) published: Arc<Published>,
    /// Authentication outcomes by organization, provider and outcome (`success` or a failure
    /// reason), each with its metric: a login of a provider and outcome seen before allocates
    /// nothing.
    auth_counts: Mutex<HashMap<String, HashMap<String, AuthOutcomes>>>,
}

/// One provider's authentication outcomes: each one's count and its metric.
type AuthOutcomes = HashMap<&'static str, (u64, Counter)>;

/// A running proxy.
pub struct Proxy {
    shared: Arc<Shared>,
}

impl Proxy {
    /// Binds every listener's bootstrap port, starts accepting and starts the background
    /// topology refresh (which opens the per-broker ports as brokers are discovered).
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let http = crate::identity::http_client()?;
        let mut upstreams = Vec::new();
        for (name, upstream) in config.upstream_clusters() {
            upstreams.push(UpstreamCluster {
                name: name.to_owned(),
                config: upstream.clone(),
                topology: Topology::default(),
                connector: Connector::new(upstream.clone(), http.clone())?,
                refresh: tokio::sync::Notify::new(),
                answers: std::sync::atomic::AtomicBool::new(false),
            });
        }

        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let published = Arc::new(Published::new(
            &config,
            http,
            tracker.clone(),
            shutdown.clone(),
        ));
        let shared = Arc::new(Shared {
            published,
            auth_counts: Mutex::default(),
            admission: admission::Admission::new(&config.limits),
            config,
            endpoints: ArcSwap::from_pointee(Vec::new()),
            endpoints_changing: tokio::sync::Mutex::new(()),
            sni_listeners: Mutex::default(),
            upstreams,
            stats: Arc::default(),
            decisions: Arc::default(),
            shutdown,
            tracker,
        });
        for l in shared.config.listeners.clone() {
            if l.sni_domain.is_some() {
                shared.open_sni_listener(l).await?;
            }
        }
        let mut clusters = shared.published.clusters();
        let (generation, first) = clusters.borrow_and_update().clone();
        let wanted = shared.config.endpoints_with(&first);
        let mut endpoints = Vec::new();
        for e in wanted {
            endpoints.push(shared.open_endpoint(e).await?);
        }
        shared.endpoints.store(Arc::new(endpoints));
        shared
            .tracker
            .spawn(follow_clusters(shared.clone(), generation, clusters));
        for upstream in 0..shared.upstreams.len() {
            shared.tracker.spawn(refresh_loop(shared.clone(), upstream));
        }
        Ok(Self { shared })
    }

    /// The bound bootstrap address of an endpoint: a listener's name, or
    /// `<organization>/<cluster>`.
    pub fn bootstrap_addr(&self, listener: &str) -> Option<SocketAddr> {
        let endpoints = self.shared.endpoints.load();
        endpoints
            .iter()
            .find(|e| e.name() == listener)
            .map(|e| e.bootstrap)
    }

    /// Takes the parts of a reloaded configuration file that apply live (on SIGHUP):
    /// `[authorization]`, for the next request of every connection, and the virtual
    /// clusters, each new one opened and each removed or changed one closed with its
    /// connections. The clusters are checked against the listeners and upstream clusters the
    /// proxy runs with, which change only with a restart. With problems, nothing changes.
    pub fn reload(&self, file: Config) -> Result<(), FieldErrors> {
        let mut running = self.shared.config.clone();
        running.clusters = file.clusters;
        running.validate()?;
        self.shared.published.set_file(&file.authorization)?;
        self.shared.published.set_file_clusters(running.clusters);
        Ok(())
    }

    /// The proxy ports opened so far on an endpoint, by broker node id.
    pub fn broker_ports(&self, listener: &str) -> Vec<(i32, u16)> {
        let endpoints = self.shared.endpoints.load();
        let Some(l) = endpoints.iter().find(|l| l.name() == listener) else {
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
        let Ok(counts) = self.shared.auth_counts.lock() else {
            return BTreeMap::new();
        };
        let label = |organization: &str, provider: &str| match organization {
            "" => provider.to_owned(),
            _ => format!("{organization}/{provider}"),
        };
        counts
            .iter()
            .flat_map(|(organization, providers)| {
                providers.iter().flat_map(move |(provider, outcomes)| {
                    outcomes.iter().map(move |(outcome, (n, _))| {
                        ((label(organization, provider), (*outcome).to_owned()), *n)
                    })
                })
            })
            .collect()
    }

    /// What the data plane decides with, and its writers' interface: the configuration
    /// file's reload and the management API write through it.
    pub fn published(&self) -> Arc<Published> {
        self.shared.published.clone()
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
    /// the brokers of each upstream cluster answered its last metadata refresh, and the
    /// providers without keys.
    ///
    /// Only what every organization depends on decides: an upstream that a listener's own
    /// ports serve, or virtual clusters of more than one organization, and a provider of the
    /// configuration file. An upstream only one organization's virtual clusters reach, and a
    /// provider registered through the API, are reported without making the proxy unready:
    /// otherwise one organization's cluster or provider being down would take every proxy
    /// out of its load balancer, and every other organization with them.
    pub fn readiness(&self) -> crate::metrics::Readiness {
        let shared = self.shared.clone();
        Arc::new(move || {
            let endpoints = shared.endpoints.load();
            let upstreams = shared
                .upstreams
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let mut organizations = std::collections::BTreeSet::new();
                    let mut open_to_all = false;
                    for e in endpoints.iter().filter(|e| e.upstream == i) {
                        match &e.spec.organization {
                            Some(org) => {
                                organizations.insert(org.as_str());
                            }
                            None => open_to_all = true,
                        }
                    }
                    crate::metrics::UpstreamReadiness {
                        name: u.name.clone(),
                        answers: u.answers.load(Ordering::Relaxed),
                        shared: open_to_all || organizations.len() > 1,
                    }
                })
                .collect();
            let providers_without_keys = shared
                .published
                .load()
                .providers_without_keys(&shared.config.identity.providers);
            crate::metrics::ReadinessReport {
                upstreams,
                providers_without_keys,
            }
        })
    }

    /// Waits until the first complete refresh of every upstream cluster: the brokers, their
    /// API versions and their listeners are known.
    pub async fn ready(&self) {
        for upstream in &self.shared.upstreams {
            upstream.topology.wait_known().await;
        }
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

impl EndpointState {
    /// The listener's name, or `<organization>/<cluster>`.
    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    /// The listener whose address, authentication and TLS it uses.
    pub(crate) fn config(&self) -> &Listener {
        &self.spec.listener
    }

    /// Set where clients reach it by server name on its listener's one port.
    pub(crate) fn sni(&self) -> Option<&Sni> {
        self.spec.sni.as_ref()
    }
}

impl Shared {
    /// Binds an endpoint's bootstrap port and starts accepting; its broker ports open for
    /// the brokers known so far, and for the others as they are seen.
    async fn open_endpoint(
        self: &Arc<Self>,
        e: Endpoint,
    ) -> Result<Arc<EndpointState>, StartError> {
        let acceptor = e
            .listener
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()?;
        if e.listener.authentication == Authentication::None {
            tracing::warn!(
                listener = %e.name,
                "listener runs with authentication = \"none\": INSECURE, every client is anonymous and every request is forwarded"
            );
        }
        let upstream = self
            .upstreams
            .iter()
            .position(|u| u.name == e.upstream)
            .ok_or_else(|| StartError::UnknownUpstream(e.upstream.clone()))?;
        let (bootstrap, tcp) = match &e.sni {
            // Reached through its listener's accept loop, by server name.
            Some(_) => {
                let bound = self
                    .sni_listeners
                    .lock()
                    .ok()
                    .and_then(|l| l.get(&e.listener.name).copied())
                    .ok_or_else(|| StartError::UnknownListener(e.listener.name.clone()))?;
                (bound, None)
            }
            None => {
                let addr = SocketAddr::new(e.listener.bind_address, e.bootstrap_port);
                let tcp = bind(&e.name, addr, self.config.limits.listen_backlog).await?;
                let bound = tcp.local_addr().map_err(|source| StartError::Bind {
                    listener: e.name.clone(),
                    addr,
                    source,
                })?;
                (bound, Some(tcp))
            }
        };
        let metrics = crate::metrics::METRICS
            .listener(&e.name, e.listener.authentication != Authentication::None);
        let endpoint = Arc::new(EndpointState {
            metrics,
            upstream,
            namespace: e.namespace.clone().map(namespace::Namespace::new),
            acceptor,
            broker_ports: Mutex::default(),
            bootstrap,
            spec: e,
            closed: self.shutdown.child_token(),
            accepting: TaskTracker::new(),
        });
        tracing::info!(
            listener = %endpoint.name(),
            addr = %bootstrap,
            server_name = endpoint.sni().map(Sni::bootstrap),
            tls = endpoint.acceptor.is_some(),
            upstream = %self.upstreams[upstream].name,
            organization = endpoint.spec.organization.as_deref(),
            "bootstrap listener ready"
        );
        if let Some(tcp) = tcp {
            endpoint.accepting.spawn(accept_loop(
                self.clone(),
                endpoint.clone(),
                Target::Bootstrap,
                tcp,
            ));
        }
        for (node, _) in self.upstreams[upstream].topology.nodes() {
            if let Err(e) = self.broker_port(&endpoint, node) {
                tracing::error!(listener = %endpoint.name(), node, error = %e, "cannot open broker listener");
            }
        }
        Ok(endpoint)
    }

    /// Opens the endpoints of virtual clusters that are new or changed and closes those of
    /// clusters removed or changed (ending their connections); the others stay as they are.
    async fn apply_clusters(self: &Arc<Self>, clusters: &[VirtualCluster]) {
        let _changing = self.endpoints_changing.lock().await;
        let known =
            |c: &&VirtualCluster| self.config.listeners.iter().any(|l| l.name == c.listener);
        for c in clusters.iter().filter(|c| !known(c)) {
            tracing::error!(organization = %c.organization, cluster = %c.name, listener = %c.listener, "cannot open virtual cluster: the proxy runs no listener of this name");
        }
        let wanted = self.config.endpoints_with(clusters);
        let current = self.endpoints.load_full();
        let (kept, gone): (Vec<_>, Vec<_>) = current
            .iter()
            .cloned()
            .partition(|e| wanted.contains(&e.spec));
        // Published without the closed ones first, so that no refresh opens ports for them.
        self.endpoints.store(Arc::new(kept.clone()));
        for e in &gone {
            e.closed.cancel();
            e.accepting.close();
            e.accepting.wait().await;
            tracing::info!(listener = %e.name(), "virtual cluster closed");
        }
        let mut next = kept;
        for spec in wanted {
            if next.iter().any(|e| e.spec == spec) {
                continue;
            }
            let name = spec.name.clone();
            match self.open_endpoint(spec).await {
                Ok(e) => next.push(e),
                Err(e) => {
                    tracing::error!(listener = %name, error = %e, "cannot open virtual cluster")
                }
            }
        }
        self.endpoints.store(Arc::new(next));
    }

    /// Binds a listener that routes by server name and starts accepting on it.
    async fn open_sni_listener(self: &Arc<Self>, l: Listener) -> Result<(), StartError> {
        let Some(tls) = &l.tls else {
            return Err(StartError::UnknownListener(l.name.clone()));
        };
        let acceptor = crate::tls::acceptor(tls)?;
        let addr = SocketAddr::new(l.bind_address, l.bootstrap_port.unwrap_or_default());
        let tcp = bind(&l.name, addr, self.config.limits.listen_backlog).await?;
        let bound = tcp.local_addr().map_err(|source| StartError::Bind {
            listener: l.name.clone(),
            addr,
            source,
        })?;
        tracing::info!(listener = %l.name, addr = %bound, domain = l.sni_domain.as_deref(), "listener routing by server name ready");
        if let Ok(mut open) = self.sni_listeners.lock() {
            open.insert(l.name.clone(), bound);
        }
        self.tracker
            .spawn(sni::accept_loop(self.clone(), l, acceptor, tcp));
        Ok(())
    }

    /// The session rules of an endpoint.
    pub(crate) fn auth_rules<'a>(&self, endpoint: &'a EndpointState) -> auth::Rules<'a> {
        auth::Rules {
            max_session: Duration::from_secs(self.config.identity.max_session_lifetime_secs),
            organization: endpoint.spec.organization.as_deref(),
        }
    }

    /// The upstream cluster an endpoint serves.
    pub(crate) fn upstream_of(&self, endpoint: &EndpointState) -> &UpstreamCluster {
        &self.upstreams[endpoint.upstream]
    }

    /// Counts an authentication outcome of `organization`'s `provider`; a token that named no
    /// registered provider is counted with an empty organization and provider `-`.
    pub(crate) fn record_auth(&self, organization: &str, provider: &str, outcome: &'static str) {
        let Ok(mut counts) = self.auth_counts.lock() else {
            return;
        };
        let providers = match counts.get_mut(organization) {
            Some(providers) => providers,
            None => counts.entry(organization.to_owned()).or_default(),
        };
        let outcomes = match providers.get_mut(provider) {
            Some(outcomes) => outcomes,
            None => providers.entry(provider.to_owned()).or_default(),
        };
        let (n, counter) = outcomes.entry(outcome).or_insert_with(|| {
            let counter = crate::metrics::METRICS.authentication(organization, provider, outcome);
            (0, counter)
        });
        *n += 1;
        counter.inc();
    }

    /// Records a broker's real address in an upstream cluster's topology; a new broker gets
    /// listeners and a versions check.
    pub(crate) fn register_broker(&self, upstream: usize, node: i32, host: &str, port: i32) {
        let u = &self.upstreams[upstream];
        if u.topology.record(node, host, port) && !u.topology.has_versions_of(node) {
            u.refresh.notify_one();
        }
    }

    /// The proxy port of broker `node` on an endpoint, opening it on first use.
    pub(crate) fn broker_port(
        self: &Arc<Self>,
        endpoint: &Arc<EndpointState>,
        node: i32,
    ) -> Result<u16, std::io::Error> {
        let l = endpoint;
        if l.closed.is_cancelled() {
            return Err(std::io::Error::other("the endpoint is closed"));
        }
        if l.sni().is_some() {
            // Every broker on the listener's one port, told apart by its name.
            return Ok(l.bootstrap.port());
        }
        let mut ports = l
            .broker_ports
            .lock()
            .map_err(|_| std::io::Error::other("listener table poisoned"))?;
        if let Some(port) = ports.get(&node) {
            return Ok(*port);
        }
        let base = l.spec.broker_port_base;
        let port = if base == 0 {
            0
        } else {
            u16::try_from(i64::from(base) + i64::from(node)).map_err(|_| {
                std::io::Error::other(format!(
                    "broker_port_base {base} + node id {node} is not a port"
                ))
            })?
        };
        let addr = SocketAddr::new(l.config().bind_address, port);
        let tcp = listen(addr, self.config.limits.listen_backlog)?;
        let bound = tcp.local_addr()?.port();
        tracing::info!(listener = %l.name(), node, port = bound, "broker listener ready");
        ports.insert(node, bound);
        drop(ports);
        l.accepting.spawn(accept_loop(
            self.clone(),
            l.clone(),
            Target::Node(node),
            tcp,
        ));
        Ok(bound)
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    target: Target,
    tcp: TcpListener,
) {
    let name = endpoint.name().to_owned();
    loop {
        let accepted = tokio::select! {
            _ = endpoint.closed.cancelled() => break,
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
        let authenticates = endpoint.config().authentication != Authentication::None;
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
        let task = session::serve(
            shared.clone(),
            endpoint.clone(),
            target,
            socket,
            peer,
            admitted,
        );
        shared.tracker.spawn(task.instrument(span));
    }
}

/// Keeps an upstream cluster's broker list and versions current: at start (retrying until a
/// broker answers), every `metadata_refresh_secs`, and at once when a new broker is seen.
async fn refresh_loop(shared: Arc<Shared>, upstream: usize) {
    let u = &shared.upstreams[upstream];
    let every = Duration::from_secs(u.config.metadata_refresh_secs);
    let mut retry = Duration::from_millis(200);
    loop {
        let refreshed = refresh(&shared, upstream).await;
        u.answers.store(refreshed.is_ok(), Ordering::Relaxed);
        let wait = match refreshed {
            Ok(()) => {
                retry = Duration::from_millis(200);
                every
            }
            Err(e) => {
                tracing::warn!(upstream = %u.name, error = %e, "upstream metadata refresh failed");
                retry = (retry * 2).min(Duration::from_secs(5));
                retry
            }
        };
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = u.refresh.notified() => {}
        }
    }
}

async fn refresh(shared: &Arc<Shared>, upstream: usize) -> Result<(), UpstreamError> {
    let u = &shared.upstreams[upstream];
    let client_id = u.config.client_id.clone();
    let (addr, mut stream) = u.connector.connect_bootstrap().await?;
    if !u.topology.versions().is_known() {
        let versions = upstream::fetch_api_versions(&mut stream, &client_id).await?;
        u.topology.merge_versions(None, &versions);
    }
    let metadata = upstream::fetch_brokers(&mut stream, &client_id).await?;
    drop(stream);
    tracing::debug!(upstream = %u.name, %addr, brokers = metadata.brokers.len(), "upstream metadata refreshed");
    for b in &metadata.brokers {
        u.topology.record(b.node_id.0, &b.host, b.port);
    }
    for (node, addr) in u.topology.nodes() {
        if !u.topology.has_versions_of(node) {
            // One unreachable broker must not keep the others from getting their listeners;
            // its versions are fetched on a later refresh.
            let fetched = async {
                let mut s = u.connector.connect(&addr).await?;
                upstream::fetch_api_versions(&mut s, &client_id).await
            };
            match fetched.await {
                Ok(versions) => u.topology.merge_versions(Some(node), &versions),
                Err(e) => {
                    tracing::warn!(upstream = %u.name, node, %addr, error = %e, "cannot fetch the API versions of a broker")
                }
            }
        }
        for l in shared.endpoints.load().iter() {
            if l.upstream != upstream {
                continue;
            }
            if let Err(e) = shared.broker_port(l, node) {
                tracing::error!(listener = %l.name(), node, error = %e, "cannot open broker listener");
            }
        }
    }
    u.topology.mark_known();
    Ok(())
}

/// Opens and closes virtual clusters' endpoints as the published virtual clusters change.
async fn follow_clusters(
    shared: Arc<Shared>,
    opened: u64,
    mut clusters: tokio::sync::watch::Receiver<(u64, Arc<[VirtualCluster]>)>,
) {
    shared.published.clusters_opened(opened);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            changed = clusters.changed() => if changed.is_err() { return },
        }
        let (generation, now) = clusters.borrow_and_update().clone();
        shared.apply_clusters(&now).await;
        shared.published.clusters_opened(generation);
    }
}
