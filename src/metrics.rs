//! Prometheus metrics of the process (one registry, as Prometheus scrapes a process), served at
//! `/metrics` by the metrics listener and the management API. Labels stay bounded: listeners,
//! API keys, organizations and providers (both registered by the operator), brokers, outcomes
//! and reasons; never topic names or principals.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use kafka_protocol::messages::ApiKey;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
    /// `bootstrap` (the bootstrap port) or `broker` (a broker's port).
    connection: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    listener: String,
    /// `unauthenticated`, `authenticated`, or `open` on a listener without authentication.
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    organization: String,
    provider: String,
    /// `success` or `failure`.
    result: &'static str,
    /// Why it failed (`expired`, `audience`...); empty on success.
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    organization: String,
    api: &'static str,
    /// `allowed` or `denied`.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
    /// `bootstrap` or `broker`: which kind of port the request came in on.
    connection: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    listener: String,
    connection: &'static str,
    /// `in` (from clients) or `out` (to clients).
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BrokerLabels {
    broker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    issuer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    issuer: String,
    /// `success` or `failure`.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;

/// One API key's request count and latency, resolved once so that a request pays two
/// updates and no label lookup.
#[derive(Clone)]
pub struct RequestMetric {
    count: Counter,
    seconds: Histogram,
    own: Histogram,
}

impl RequestMetric {
    /// A request of this API key arrived.
    pub fn arrived(&self) {
        self.count.inc();
    }

    /// Its response was written, `elapsed` after it arrived, of which `upstream` passed
    /// between the request handed to the broker's connection and the broker's response read
    /// (zero for an answer the proxy made itself).
    pub fn answered(&self, elapsed: Duration, upstream: Duration) {
        self.seconds.observe(elapsed.as_secs_f64());
        self.own
            .observe(elapsed.saturating_sub(upstream).as_secs_f64());
    }
}

/// Bytes from and to the clients of one listener.
#[derive(Clone)]
pub struct ListenerBytes {
    /// From clients: request frames, size prefix included.
    pub received: Counter,
    /// To clients: response frames, size prefix included.
    pub sent: Counter,
}

/// Every metric the proxy exports.
pub struct Metrics {
    registry: Registry,
    connections: Family<ConnectionLabels, Gauge>,
    connections_opened: Family<ListenerLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    authentications: Family<AuthLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    requests: Vec<Option<RequestMetric>>,
    bytes: Family<BytesLabels, Counter>,
    upstream_errors: Family<BrokerLabels, Counter>,
    jwks_fetches: Family<FetchLabels, Counter>,
    jwks_loaded_at: Family<IssuerLabels, Seconds>,
    jwks_key_age: Family<IssuerLabels, Seconds>,
    store_apply: Histogram,
    store_synced: Seconds,
}

/// Latency buckets from 100 µs to about 26 s, each twice the one before.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 19)
}

/// Buckets of the proxy's own part of a request, 10 µs to 1 s in steps of 1, 2, 5.
const OWN_BUCKETS: [f64; 16] = [
    1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0,
];

/// Kafka's name of an API key (Produce, Fetch, SaslAuthenticate...).
fn api_name(api: ApiKey) -> &'static str {
    API_NAMES
        .iter()
        .find(|(k, _)| *k == api as i16)
        .map_or("Unknown", |(_, n)| n)
}

/// Names of the API keys, from the crate's enum (its `Debug` is the variant name, which is
/// Kafka's name). Kafka's keys are below 100.
static API_NAMES: LazyLock<Vec<(i16, &'static str)>> = LazyLock::new(|| {
    (0..200)
        .filter_map(|k| ApiKey::try_from(k).ok())
        .map(|api| {
            let name: &'static str = Box::leak(format!("{api:?}").into_boxed_str());
            (api as i16, name)
        })
        .collect()
});

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("kop");
        let connections = Family::<ConnectionLabels, Gauge>::default();
        registry.register(
            "client_connections",
            "Client connections open, by listener and state",
            connections.clone(),
        );
        let connections_opened = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "client_connections_opened",
            "Client connections accepted, by listener and kind of port (bootstrap or broker)",
            connections_opened.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "client_connections_refused",
            "Client connections refused at accept, by the limit that refused them",
            refusals.clone(),
        );
        let authentications = Family::<AuthLabels, Counter>::default();
        registry.register(
            "authentications",
            "Client authentications and re-authentications, by organization, provider, result and reason",
            authentications.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "authorization_decisions",
            "Authorization decisions (one per resource checked), by organization, API key and result",
            decisions.clone(),
        );
        let request_count = Family::<ApiLabels, Counter>::default();
        registry.register(
            "requests",
            "Client requests, by API key and kind of port (bootstrap or broker)",
            request_count.clone(),
        );
        let request_seconds = Family::<ApiLabels, Histogram, _>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register_with_unit(
            "request_duration",
            "From a client request's arrival to its response written back, by API key and kind of port",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let request_own =
            Family::<ApiLabels, Histogram, _>::new_with_constructor(|| Histogram::new(OWN_BUCKETS));
        registry.register_with_unit(
            "request_proxy_duration",
            "The proxy's own part of a request's duration: from its arrival to its response \
             written back, less the time from its handing to the broker's connection to the \
             broker's response read, by API key and kind of port",
            Unit::Seconds,
            request_own.clone(),
        );
        let mut requests = Vec::new();
        for &(key, name) in API_NAMES.iter() {
            for (kind, connection) in CONNECTION_KINDS.iter().enumerate() {
                let index = usize::try_from(key).unwrap_or(0) * 2 + kind;
                if requests.len() <= index {
                    requests.resize(index + 1, None);
                }
                let labels = ApiLabels {
                    api: name,
                    connection,
                };
                let count = request_count.get_or_create(&labels).clone();
                let seconds = request_seconds.get_or_create(&labels).clone();
                let own = request_own.get_or_create(&labels).clone();
                requests[index] = Some(RequestMetric {
                    count,
                    seconds,
                    own,
                });
            }
        }
        let bytes = Family::<BytesLabels, Counter>::default();
        registry.register_with_unit(
            "client",
            "Bytes of Kafka frames from and to clients, by listener, kind of port and direction",
            Unit::Bytes,
            bytes.clone(),
        );
        let upstream_errors = Family::<BrokerLabels, Counter>::default();
        registry.register(
            "upstream_connection_errors",
            "Failed or broken connections to brokers, by broker (host:port)",
            upstream_errors.clone(),
        );
        let jwks_fetches = Family::<FetchLabels, Counter>::default();
        registry.register(
            "jwks_fetches",
            "Fetches of identity providers' keys, by issuer and result",
            jwks_fetches.clone(),
        );
        let jwks_loaded_at = Family::<IssuerLabels, Seconds>::default();
        registry.register_with_unit(
            "jwks_last_success_timestamp",
            "When an identity provider's keys were last fetched successfully (Unix time)",
            Unit::Seconds,
            jwks_loaded_at.clone(),
        );
        let jwks_key_age = Family::<IssuerLabels, Seconds>::default();
        registry.register_with_unit(
            "jwks_key_age",
            "Age of the keys in use for an identity provider, since their last successful fetch",
            Unit::Seconds,
            jwks_key_age.clone(),
        );
        let store_apply = Histogram::new(latency_buckets());
        registry.register_with_unit(
            "store_apply_duration",
            "Reading a store change and applying it to the data plane",
            Unit::Seconds,
            store_apply.clone(),
        );
        let store_synced = Seconds::default();
        registry.register_with_unit(
            "store_last_sync_timestamp",
            "When this proxy last found its data plane current with the store (Unix time; \
             the sync lag is time() minus this)",
            Unit::Seconds,
            store_synced.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "The proxy's version (always 1)",
            build.clone(),
        );
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        Self {
            registry,
            connections,
            connections_opened,
            refusals,
            authentications,
            decisions,
            requests,
            bytes,
            upstream_errors,
            jwks_fetches,
            jwks_loaded_at,
            jwks_key_age,
            store_apply,
            store_synced,
        }
    }

    /// The metrics in Prometheus's text exposition format (OpenMetrics 1.0 text).
    pub fn render(&self) -> String {
        self.refresh_ages();
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    fn refresh_ages(&self) {
        let now = unix_seconds(SystemTime::now());
        for issuer in self.issuers() {
            let at = self.jwks_loaded_at.get_or_create(&issuer).get();
            if at > 0.0 {
                self.jwks_key_age.get_or_create(&issuer).set(now - at);
            }
        }
    }

    fn issuers(&self) -> Vec<IssuerLabels> {
        KNOWN_ISSUERS
            .lock()
            .map(|s| {
                s.iter()
                    .map(|i| IssuerLabels { issuer: i.clone() })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The request metrics of an API key on a bootstrap (`bootstrap` true) or broker port.
    pub fn request(&self, api: ApiKey, bootstrap: bool) -> Option<&RequestMetric> {
        let index = usize::try_from(api as i16).ok()? * 2 + usize::from(!bootstrap);
        self.requests.get(index).and_then(Option::as_ref)
    }

    /// The byte counters of a listener's bootstrap port (`bootstrap` true) or broker ports.
    pub fn listener_bytes(&self, listener: &str, bootstrap: bool) -> ListenerBytes {
        let labels = |direction| BytesLabels {
            listener: listener.to_owned(),
            connection: connection_kind(bootstrap),
            direction,
        };
        // One statement each: a family's guard lives to the end of its statement, and a
        // second lookup in the same statement would wait for it.
        let received = self.bytes.get_or_create(&labels("in")).clone();
        let sent = self.bytes.get_or_create(&labels("out")).clone();
        ListenerBytes { received, sent }
    }

    /// The series of `listener`'s connections, whose states are those its authentication
    /// reaches (`authenticates`: unauthenticated, then authenticated; otherwise open).
    pub fn listener(&self, listener: &str, authenticates: bool) -> ListenerMetrics {
        let opened = |bootstrap| {
            self.connections_opened
                .get_or_create(&ListenerLabels {
                    listener: listener.to_owned(),
                    connection: connection_kind(bootstrap),
                })
                .clone()
        };
        // A state the listener never reaches keeps a gauge of its own that is not exported,
        // rather than a series that would always read 0.
        let state = |phase: Phase| {
            if authenticates == (phase != Phase::Open) {
                self.connections
                    .get_or_create(&ConnectionLabels {
                        listener: listener.to_owned(),
                        state: phase.label(),
                    })
                    .clone()
            } else {
                Gauge::default()
            }
        };
        ListenerMetrics {
            opened: [opened(true), opened(false)],
            bytes: [
                self.listener_bytes(listener, true),
                self.listener_bytes(listener, false),
            ],
            states: Arc::new(Phase::ALL.map(state)),
        }
    }

    /// A connection refused at accept by `reason` (the limit).
    pub fn refused(&self, reason: &'static str) {
        self.refusals.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// The counter of an authentication outcome; `provider` is `organization/identifier` or
    /// `-`, `outcome` `success` or a failure reason.
    pub fn authentication(&self, organization: &str, provider: &str, outcome: &str) -> Counter {
        let (result, reason) = if outcome == "success" {
            ("success", "")
        } else {
            ("failure", outcome)
        };
        self.authentications
            .get_or_create(&AuthLabels {
                organization: organization.to_owned(),
                provider: provider.to_owned(),
                result,
                reason: reason.to_owned(),
            })
            .clone()
    }

    /// One request's authorization decisions.
    pub fn decisions(&self, organization: &str, api: ApiKey, allowed: u64, denied: u64) {
        for (result, n) in [("allowed", allowed), ("denied", denied)] {
            if n > 0 {
                self.decisions
                    .get_or_create(&DecisionLabels {
                        organization: organization.to_owned(),
                        api: api_name(api),
                        result,
                    })
                    .inc_by(n);
            }
        }
    }

    /// A connection to `broker` (host:port) failed or broke.
    pub fn upstream_error(&self, broker: &str) {
        self.upstream_errors
            .get_or_create(&BrokerLabels {
                broker: broker.to_owned(),
            })
            .inc();
    }

    /// A fetch of `issuer`'s keys ended.
    pub fn jwks_fetch(&self, issuer: &str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.jwks_fetches
            .get_or_create(&FetchLabels {
                issuer: issuer.to_owned(),
                result,
            })
            .inc();
        if let Ok(mut known) = KNOWN_ISSUERS.lock()
            && !known.iter().any(|i| i == issuer)
        {
            known.push(issuer.to_owned());
        }
        if ok {
            let labels = IssuerLabels {
                issuer: issuer.to_owned(),
            };
            self.jwks_loaded_at
                .get_or_create(&labels)
                .set(unix_seconds(SystemTime::now()));
            self.jwks_key_age.get_or_create(&labels).set(0.0);
        }
    }

    /// A store change read and applied to the data plane in `elapsed`.
    pub fn store_applied(&self, elapsed: Duration) {
        self.store_apply.observe(elapsed.as_secs_f64());
    }

    /// The data plane was found current with the store (nothing new, or a change applied).
    pub fn store_synced(&self) {
        self.store_synced.set(unix_seconds(SystemTime::now()));
    }
}

/// The `connection` label's values, in the order of [`Metrics::request`]'s index.
const CONNECTION_KINDS: [&str; 2] = ["bootstrap", "broker"];

fn connection_kind(bootstrap: bool) -> &'static str {
    CONNECTION_KINDS[usize::from(!bootstrap)]
}

/// Issuers whose keys were fetched, for the key-age gauges.
static KNOWN_ISSUERS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A connection counted in the open-connections gauge of its current state.
pub struct ConnectionState {
    states: Arc<[Gauge; 3]>,
    phase: Phase,
}

impl ConnectionState {
    /// The connection moves to `phase`.
    pub fn set(&mut self, phase: Phase) {
        self.states[self.phase as usize].dec();
        self.phase = phase;
        self.states[phase as usize].inc();
    }
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.states[self.phase as usize].dec();
    }
}

/// The state of a client connection, the `state` label of `kop_client_connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// On a listener without authentication.
    Open,
    Unauthenticated,
    Authenticated,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Open, Phase::Unauthenticated, Phase::Authenticated];

    fn label(self) -> &'static str {
        match self {
            Phase::Open => "open",
            Phase::Unauthenticated => "unauthenticated",
            Phase::Authenticated => "authenticated",
        }
    }
}

/// One listener's connection series, found once when it starts: a lookup in a family hashes
/// and copies its labels under the family's lock, which a connection need not pay.
pub struct ListenerMetrics {
    /// Connections opened, by kind of port (bootstrap, broker).
    opened: [Counter; 2],
    bytes: [ListenerBytes; 2],
    /// Open connections by [`Phase`].
    states: Arc<[Gauge; 3]>,
}

impl ListenerMetrics {
    /// A connection accepted on a bootstrap (`bootstrap` true) or broker port, counted open in
    /// `phase` until it changes phase or closes.
    pub fn connection(&self, bootstrap: bool, phase: Phase) -> ConnectionState {
        self.opened[usize::from(!bootstrap)].inc();
        self.states[phase as usize].inc();
        ConnectionState {
            states: self.states.clone(),
            phase,
        }
    }

    /// The byte counters of its bootstrap port (`bootstrap` true) or broker ports.
    pub fn bytes(&self, bootstrap: bool) -> &ListenerBytes {
        &self.bytes[usize::from(!bootstrap)]
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: the process's metrics.
pub async fn scrape() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        METRICS.render(),
    )
}

/// What `/readyz` of the metrics listener reports, made on each probe.
pub type Readiness = std::sync::Arc<dyn Fn() -> ReadinessReport + Send + Sync>;

/// The data plane's state as `/readyz` reports it.
#[derive(Debug, Clone, Default)]
pub struct ReadinessReport {
    /// Every upstream cluster.
    pub upstreams: Vec<UpstreamReadiness>,
    /// The providers without signing keys (`organization/identifier`), and whether each is
    /// one of the configuration file's.
    pub providers_without_keys: Vec<(String, bool)>,
}

/// One upstream cluster in [`ReadinessReport`].
#[derive(Debug, Clone)]
pub struct UpstreamReadiness {
    pub name: String,
    /// Whether its brokers answered the last metadata refresh.
    pub answers: bool,
    /// Whether more than one organization depends on it (a listener's own ports serve it,
    /// or virtual clusters of several organizations): only such an upstream decides
    /// readiness.
    pub shared: bool,
}

impl ReadinessReport {
    /// Why the proxy is not ready (empty: ready): a shared upstream that does not answer, a
    /// provider of the configuration file without keys.
    pub fn reasons(&self) -> Vec<String> {
        let upstreams = self.upstreams.iter().filter(|u| u.shared && !u.answers);
        let providers = self.providers_without_keys.iter().filter(|(_, file)| *file);
        upstreams
            .map(|u| format!("upstream cluster {} does not answer", u.name))
            .chain(providers.map(|(p, _)| format!("identity provider {p} has no signing keys yet")))
            .collect()
    }

    /// The `/readyz` answer: 200 when ready, else 503, with each upstream's state and the
    /// providers without keys either way.
    fn answer(&self) -> (axum::http::StatusCode, serde_json::Value) {
        let reasons = self.reasons();
        let state = |answers: bool| {
            if answers {
                "answering"
            } else {
                "not answering"
            }
        };
        let shared = self.upstreams.iter().filter(|u| u.shared);
        let mut body = serde_json::json!({
            "status": if reasons.is_empty() { "ready" } else { "not ready" },
            "upstream": state(shared.clone().all(|u| u.answers)),
            "upstreams": self
                .upstreams
                .iter()
                .map(|u| (u.name.clone(), serde_json::Value::from(state(u.answers))))
                .collect::<serde_json::Map<_, _>>(),
            "providers_without_keys": self
                .providers_without_keys
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>(),
        });
        if reasons.is_empty() {
            return (axum::http::StatusCode::OK, body);
        }
        body["detail"] = format!("Not ready: {}.", reasons.join("; ")).into();
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

/// The metrics listener's routes: `/metrics`; `/healthz`, 200 while the process serves;
/// `/readyz`, 200 when every upstream cluster more than one organization depends on answers
/// and every provider of the configuration file has keys, else 503 with what is missing.
pub fn router(readiness: Readiness) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/metrics", get(scrape))
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let (status, body) = readiness().answer();
                async move { (status, axum::Json(body)) }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_is_decided_by_what_every_organization_depends_on() {
        let upstream = |name: &str, answers, shared| UpstreamReadiness {
            name: name.into(),
            answers,
            shared,
        };
        let mut report = ReadinessReport {
            upstreams: vec![
                upstream("default", true, true),
                upstream("acme-own", false, false),
            ],
            providers_without_keys: vec![("acme/registered".into(), false)],
        };
        let (status, body) = report.answer();
        assert_eq!(status, axum::http::StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["upstream"], "answering");
        assert_eq!(body["upstreams"]["acme-own"], "not answering");
        assert_eq!(body["providers_without_keys"][0], "acme/registered");
        assert!(body.get("detail").is_none());

        report.upstreams[0].answers = false;
        report
            .providers_without_keys
            .push(("platform/file".into(), true));
        let (status, body) = report.answer();
        assert_eq!(status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "not ready");
        assert_eq!(body["upstream"], "not answering");
        assert_eq!(
            body["detail"],
            "Not ready: upstream cluster default does not answer; \
             identity provider platform/file has no signing keys yet."
        );
    }

    #[test]
    fn api_keys_are_named_as_kafka_names_them() {
        assert_eq!(api_name(ApiKey::Produce), "Produce");
        assert_eq!(api_name(ApiKey::SaslAuthenticate), "SaslAuthenticate");
        assert_eq!(api_name(ApiKey::DescribeGroups), "DescribeGroups");
        // Every key has its two request metrics, one per kind of port.
        for &(key, _) in API_NAMES.iter() {
            let api = ApiKey::try_from(key).expect("a key");
            assert!(METRICS.request(api, true).is_some());
            assert!(METRICS.request(api, false).is_some());
        }
    }

    #[test]
    fn the_exposition_ends_as_openmetrics_requires() {
        let text = METRICS.render();
        assert!(text.contains("# TYPE kop_requests counter"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
