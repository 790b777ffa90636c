//! The data plane: listeners (a bootstrap port and one port per broker on each configured
//! listener), client sessions, upstream connections and the background topology refresh.

mod admission;
mod auth;
#[doc(hidden)]
pub mod fuzzing;
mod link;
mod rewrite;
#[cfg(test)]
mod scripted;
mod session;
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

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::authz::Decisions;
use crate::config::{Authentication, Config, Listener};
use crate::snapshot::Published;
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
    /// Identity providers and the compiled ACLs. Each request reads the ACLs of the moment
    /// it arrives.
    pub(crate) published: Arc<Published>,
    /// Authentication outcomes by provider and outcome (`success` or a failure reason).
    auth_counts: Mutex<BTreeMap<(String, String), u64>>,
    /// Whether the last broker metadata refresh succeeded.
    upstream_answers: std::sync::atomic::AtomicBool,
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
            upstream_answers: std::sync::atomic::AtomicBool::new(false),
            admission: admission::Admission::new(&config.limits),
            config,
            listeners,
            topology: Topology::default(),
            connector,
            stats: Arc::default(),
            decisions: Arc::default(),
            shutdown,
            tracker,
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
    /// the brokers answered the last metadata refresh, and the providers without keys.
    pub fn readiness(&self) -> crate::metrics::Readiness {
        let shared = self.shared.clone();
        Arc::new(move || {
            (
                shared.upstream_answers.load(Ordering::Relaxed),
                shared.published.load().providers_without_keys(),
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
    pub(crate) fn auth_rules(&self) -> auth::Rules {
        auth::Rules {
            max_session: Duration::from_secs(self.config.identity.max_session_lifetime_secs),
        }
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
