//! Load figures for the management API: creates and lists per second while the store fills up
//! to 1,000 identity providers and 10,000 ACL bindings and once it holds them, what a committed
//! change costs at that size until the data plane has applied it, and (PostgreSQL) how long a
//! second proxy sharing the store takes to apply a change made through the first one.
//!
//!   cargo bench --bench management                                           # SQLite only
//!   (eval "$(harness/postgres/pg.sh env)"; cargo bench --bench management)   # and PostgreSQL
//!
//! Everything runs in this process: real proxies (`Proxy::start`; the data plane needs no
//! Kafka cluster, so the upstream is a closed port), the API as `management::start` runs it,
//! applying to `Proxy::published()`, and a loopback HTTP server publishing the providers'
//! signing keys. Each registered provider has an issuer and JWKS URL of its own on that
//! server, so the data plane's key fetches (one when a provider is added, then one every
//! 300 s) stay inside the process and succeed: a failed fetch would be retried every 10 s.
//! The second proxy runs on a runtime of its own, as a second process would.
//!
//! All providers and bindings belong to one organization, `bench`: the worst case for a list,
//! which counts and sorts the whole organization. The configuration file has one provider, of
//! organization `platform`. One client sends one request at a time over a kept-alive
//! connection; latencies are end to end, and client, API, store and data plane share the
//! machine's cores.
//!
//! Every committed change is applied to the data plane before the answer: a binding this
//! proxy changed rebuilds its organization's part of the snapshot (here the only one, holding
//! every binding), anything else the whole snapshot after reading back what the proxy cannot
//! know (the kinds of content other writers changed). So a POST costs more as the store grows
//! and filling by POST alone would take minutes on a busy machine. So the
//! order is: bindings first (no stored provider yet), filled with
//! arrays and timed one POST at a time at the start, the middle and the end of the fill;
//! providers by POST for `KOP_BENCH_FILL_SECS`, the rest written to the store directly (A's
//! next poll applies them) and the last `KOP_BENCH_SAMPLES` by POST again; the lists; single
//! and array binding POSTs at full size; (PostgreSQL) B started and the propagation sampled;
//! last, with A's API and its poll stopped, the parts of one change's cost.
//! Then, on a fresh store of its own, the many-organizations shape: `KOP_BENCH_ORGS`
//! organizations of `KOP_BENCH_ORG_ACLS` bindings each, filled with one array per
//! organization, then `KOP_BENCH_CREATES` one-binding POSTs, each to a random organization,
//! one at a time, and an organization's lists.
//! Management requests need `management.max_body_bytes` raised to 256 KiB here: an array of
//! 1,000 bindings (the API's limit) is about 170 KB, above the default of 64 KiB.
//!
//! Settings (environment):
//!   KOP_BENCH_PROVIDERS   providers to fill up to (1000)
//!   KOP_BENCH_ACLS        ACL bindings to fill up to (10000)
//!   KOP_BENCH_BATCH       bindings per array POST (1000, the API's limit)
//!   KOP_BENCH_SINGLES     one-binding POSTs timed at each of the three fill levels (50)
//!   KOP_BENCH_FILL_SECS   seconds of one-at-a-time provider POSTs before the direct fill (15)
//!   KOP_BENCH_SAMPLES     samples of each measurement at full size (5)
//!   KOP_BENCH_LIST_SECS   seconds each list case runs (1)
//!   KOP_BENCH_POLL_MS     store.poll_interval_ms of the proxies (1000, the default)
//!   KOP_BENCH_ORGS        organizations of the many-organizations store (1000)
//!   KOP_BENCH_ORG_ACLS    bindings of each of them (100; at most 1,000, one array each)
//!   KOP_BENCH_CREATES     one-binding POSTs timed on it, each to a random organization (2000)
//!   KOP_BENCH_SHAPES      which shapes to measure ("one-org,many-orgs")
//!   KOP_PG_URL            PostgreSQL server to create a fresh database on (unset: skipped)

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_oidc_proxy::authz::{AclBinding, AuthorizationConfig};
use kafka_oidc_proxy::config::{Config, VirtualCluster};
use kafka_oidc_proxy::field_errors::FieldErrors;
use kafka_oidc_proxy::identity::{ProviderSpec, http_client};
use kafka_oidc_proxy::management::{self, Api, Running};
use kafka_oidc_proxy::proxy::Proxy;
use kafka_oidc_proxy::snapshot::{Publish, Snapshot, Stored};
use kafka_oidc_proxy::store::{Store, StoredAcl, StoredProvider};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The API token of the bench (allowed every organization).
const TOKEN: &str = "bench-admin-token";
/// The organization everything is registered in.
const ORG: &str = "bench";

/// What to measure, from the environment.
struct Settings {
    providers: usize,
    acls: usize,
    batch: usize,
    singles: usize,
    fill_time: Duration,
    samples: usize,
    list_time: Duration,
    poll_ms: u64,
    orgs: usize,
    org_acls: usize,
    creates: usize,
    /// Which shapes to measure: `one-org`, `many-orgs`.
    shapes: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        fn number(name: &str, default: u64) -> u64 {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
                Err(_) => default,
            }
        }
        let count = |name, default| usize::try_from(number(name, default)).expect("count");
        let settings = Self {
            providers: count("KOP_BENCH_PROVIDERS", 1000),
            acls: count("KOP_BENCH_ACLS", 10_000),
            batch: count("KOP_BENCH_BATCH", 1000).clamp(1, 1000),
            singles: count("KOP_BENCH_SINGLES", 50).max(1),
            fill_time: Duration::from_secs(number("KOP_BENCH_FILL_SECS", 15)),
            samples: count("KOP_BENCH_SAMPLES", 5).max(1),
            list_time: Duration::from_secs(number("KOP_BENCH_LIST_SECS", 1)),
            poll_ms: number("KOP_BENCH_POLL_MS", 1000).max(1),
            orgs: count("KOP_BENCH_ORGS", 1000).max(1),
            org_acls: count("KOP_BENCH_ORG_ACLS", 100).clamp(1, 1000),
            creates: count("KOP_BENCH_CREATES", 2000).max(1),
            shapes: std::env::var("KOP_BENCH_SHAPES")
                .unwrap_or_else(|_| "one-org,many-orgs".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
        };
        for shape in &settings.shapes {
            assert!(
                ["one-org", "many-orgs"].contains(&shape.as_str()),
                "KOP_BENCH_SHAPES: unknown shape {shape:?} (one-org, many-orgs)"
            );
        }
        assert!(
            settings.providers > settings.samples,
            "KOP_BENCH_PROVIDERS must be more than KOP_BENCH_SAMPLES"
        );
        assert!(
            settings.acls >= 2 * settings.singles,
            "KOP_BENCH_ACLS must be at least twice KOP_BENCH_SINGLES"
        );
        settings
    }
}

// -------------------------------------------------------------------------------------------
// Figures

/// Latencies in milliseconds, and the wall time they were taken in.
#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    wall: Duration,
}

impl Samples {
    fn push(&mut self, d: Duration) {
        self.ms.push(d.as_secs_f64() * 1000.0);
    }

    /// `later - earlier` in milliseconds, negative when `later` came first.
    fn push_between(&mut self, earlier: Instant, later: Instant) {
        let ms = if later >= earlier {
            (later - earlier).as_secs_f64()
        } else {
            -(earlier - later).as_secs_f64()
        };
        self.ms.push(ms * 1000.0);
    }

    /// The samples of `range`, as if taken back to back.
    fn part(&self, range: Range<usize>) -> Self {
        let ms = self.ms[range].to_vec();
        let wall = Duration::from_secs_f64(ms.iter().sum::<f64>() / 1000.0);
        Self { ms, wall }
    }

    /// The nearest-rank percentile `p` (0-100).
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

/// One line of the table.
struct Row {
    backend: &'static str,
    operation: String,
    count: usize,
    /// Requests per second, where the row is a stream of requests.
    rate: Option<f64>,
    p50: f64,
    p99: f64,
    note: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// A stream of requests: its rate and latencies.
    fn requests(&mut self, backend: &'static str, operation: &str, s: &Samples, note: &str) {
        let rate = s.ms.len() as f64 / s.wall.as_secs_f64().max(1e-9);
        self.add(backend, operation, s, Some(rate), note);
    }

    /// Durations that are not a stream of requests: latencies only.
    fn latencies(&mut self, backend: &'static str, operation: &str, s: &Samples, note: &str) {
        self.add(backend, operation, s, None, note);
    }

    fn add(
        &mut self,
        backend: &'static str,
        operation: &str,
        s: &Samples,
        rate: Option<f64>,
        note: &str,
    ) {
        let row = Row {
            backend,
            operation: operation.to_owned(),
            count: s.ms.len(),
            rate,
            p50: s.percentile(50.0),
            p99: s.percentile(99.0),
            note: note.to_owned(),
        };
        // Progress while the bench runs; the whole table is printed at the end.
        eprintln!("{}", Self::line(&row));
        self.rows.push(row);
    }

    fn header() -> String {
        format!(
            "{:<8} {:<58} {:>6} {:>8} {:>9} {:>9}  note",
            "backend", "operation", "count", "req/s", "p50 ms", "p99 ms"
        )
    }

    fn line(r: &Row) -> String {
        let rate = r.rate.map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"));
        format!(
            "{:<8} {:<58} {:>6} {:>8} {:>9.2} {:>9.2}  {}",
            r.backend, r.operation, r.count, rate, r.p50, r.p99, r.note
        )
    }

    fn print(&self) {
        println!("\n{}", Self::header());
        for r in &self.rows {
            println!("{}", Self::line(r));
        }
    }
}

// -------------------------------------------------------------------------------------------
// The providers' keys

/// A loopback server answering `GET /{tenant}/jwks` with the identity tests' public keys, and
/// recording when each tenant's keys were fetched.
struct KeyServer {
    base: String,
    fetches: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

impl KeyServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the key server");
        let addr = listener.local_addr().expect("key server address");
        let fetches: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
        let log = fetches.clone();
        let jwks = axum::routing::get(
            move |axum::extract::Path(tenant): axum::extract::Path<String>| async move {
                let mut log = log.lock().expect("fetch log");
                log.entry(tenant).or_default().push(Instant::now());
                (
                    [("content-type", "application/json")],
                    include_str!("../src/identity/testdata/jwks.json"),
                )
            },
        );
        let app = axum::Router::new().route("/{tenant}/jwks", jwks);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}"),
            fetches,
        }
    }

    /// The issuer of `tenant`.
    fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    /// When `tenant`'s keys were fetched for the `nth` time (from 1), waiting up to 30 s.
    async fn fetched(&self, tenant: &str, nth: usize) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let at = self
                .fetches
                .lock()
                .expect("fetch log")
                .get(tenant)
                .and_then(|v| v.get(nth - 1).copied());
            if let Some(at) = at {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "{tenant}'s keys not fetched {nth} times within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Key fetches so far, all tenants together.
    fn total(&self) -> usize {
        let log = self.fetches.lock().expect("fetch log");
        log.values().map(Vec::len).sum()
    }
}

// -------------------------------------------------------------------------------------------
// The data plane, observed

/// A change to look for in what the data plane is given.
#[derive(Clone)]
enum Change {
    /// A provider with this identifier.
    Provider(String),
    /// A binding with this resource name.
    Acl(String),
}

impl Change {
    fn is_in(&self, providers: &[ProviderSpec], acls: &[Arc<AclBinding>]) -> bool {
        match self {
            Self::Provider(id) => providers.iter().any(|p| &p.identifier == id),
            Self::Acl(name) => acls.iter().any(|a| &a.resource_name == name),
        }
    }
}

/// A proxy's own data plane, with the duration of each apply recorded and, when asked, the
/// moment a given change has been applied.
struct Observed {
    proxy: Arc<dyn Publish>,
    durations: Mutex<Vec<Duration>>,
    watch: Mutex<Option<(Change, oneshot::Sender<Instant>)>>,
}

impl Observed {
    fn new(proxy: Arc<dyn Publish>) -> Arc<Self> {
        Arc::new(Self {
            proxy,
            durations: Mutex::default(),
            watch: Mutex::default(),
        })
    }

    /// Resolves with the moment the first apply that contains `change` has returned.
    fn watch(&self, change: Change) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        *self.watch.lock().expect("watch") = Some((change, tx));
        rx
    }

    /// The apply durations since the last call.
    fn take_durations(&self) -> Samples {
        let mut s = Samples::default();
        for d in std::mem::take(&mut *self.durations.lock().expect("durations")) {
            s.push(d);
        }
        s
    }
}

impl Observed {
    /// Applies `content`, recording the duration and, if it holds the watched change and the
    /// apply succeeds, the moment it returned.
    fn record<T>(
        &self,
        content: T,
        contains: impl Fn(&Change, &T) -> bool,
        apply: impl FnOnce(T) -> Result<(), FieldErrors>,
    ) -> Result<(), FieldErrors> {
        let mut watch = self.watch.lock().expect("watch");
        let watched = watch
            .as_ref()
            .is_some_and(|(change, _)| contains(change, &content));
        let start = Instant::now();
        let result = apply(content);
        let applied = Instant::now();
        self.durations
            .lock()
            .expect("durations")
            .push(applied - start);
        if result.is_ok()
            && watched
            && let Some((_, tx)) = watch.take()
        {
            let _ = tx.send(applied);
        }
        result
    }
}

impl Publish for Observed {
    fn set_file(&self, authorization: &AuthorizationConfig) -> Result<(), FieldErrors> {
        self.proxy.set_file(authorization)
    }

    fn set_stored(&self, stored: Stored) -> Result<(), FieldErrors> {
        self.record(
            stored,
            |c, s| c.is_in(&s.providers, &s.acls),
            |s| self.proxy.set_stored(s),
        )
    }

    fn set_stored_providers(&self, providers: Vec<ProviderSpec>) -> Result<(), FieldErrors> {
        self.record(
            providers,
            |c, providers| c.is_in(providers, &[]),
            |providers| self.proxy.set_stored_providers(providers),
        )
    }

    fn set_stored_acls(&self, organization: &str, acls: Vec<Arc<AclBinding>>) {
        let _ = self.record(
            acls,
            |c, acls| c.is_in(&[], acls),
            |acls| {
                self.proxy.set_stored_acls(organization, acls);
                Ok(())
            },
        );
    }

    fn change_stored_acls(
        &self,
        organization: &str,
        added: Vec<Arc<AclBinding>>,
        removed: Vec<AclBinding>,
    ) {
        let _ = self.record(
            (added, removed),
            |c, (added, _)| c.is_in(&[], added),
            |(added, removed)| {
                self.proxy.change_stored_acls(organization, added, removed);
                Ok(())
            },
        );
    }

    fn set_stored_clusters(&self, clusters: Vec<VirtualCluster>) {
        self.proxy.set_stored_clusters(clusters);
    }

    fn clusters_open(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        self.proxy.clusters_open()
    }

    fn current(&self) -> Arc<Snapshot> {
        self.proxy.current()
    }
}

// -------------------------------------------------------------------------------------------
// Proxies

/// A proxy with its management API.
struct Instance {
    proxy: Proxy,
    /// The management API (with its store poll) until `stop_api`.
    api: Mutex<Option<Running>>,
    addr: SocketAddr,
    observed: Arc<Observed>,
    config: Config,
}

impl Instance {
    /// A proxy on the store at `store_url` whose configuration file registers one provider,
    /// of `platform_issuer`.
    async fn start(store_url: &str, platform_issuer: &str, poll_ms: u64) -> Self {
        let text = format!(
            "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\nmetadata_refresh_secs = 3600\n\
             [[listeners]]\nname = \"bench\"\nbind_address = \"127.0.0.1\"\n\
             advertised_host = \"127.0.0.1\"\nbootstrap_port = 0\nbroker_port_base = 0\n\
             authentication = \"oauthbearer\"\n\
             [identity]\nallow_http_loopback = true\n\
             [[identity.providers]]\norganization = \"platform\"\nidentifier = \"platform-idp\"\n\
             issuer = {platform_issuer:?}\njwks_endpoint_uri = \"{platform_issuer}/jwks\"\n\
             audience = \"kafka\"\n\
             [management]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 262144\n\
             [[management.tokens]]\nname = \"bench\"\nsha256 = {hash:?}\norganization = \"*\"\n\
             [store]\nurl = {store_url:?}\npoll_interval_ms = {poll_ms}\n\
             secret_keys_file = {keys:?}\n",
            hash = management::token_hash(TOKEN),
            keys = store_keys_file().display().to_string(),
        );
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("bench config: {e}\n{text}"));
        let proxy = Proxy::start(config.clone()).await.expect("proxy starts");
        let observed = Observed::new(proxy.published());
        let api = management::start(
            &config,
            config.management.as_ref().expect("management"),
            observed.clone(),
        )
        .await
        .expect("management API starts");
        Self {
            proxy,
            addr: api.addr(),
            api: Mutex::new(Some(api)),
            observed,
            config,
        }
    }

    /// Stops the management API and its store poll; the proxy keeps running.
    async fn stop_api(&self) {
        let api = self.api.lock().expect("api").take();
        if let Some(api) = api {
            api.stop().await;
        }
    }

    async fn stop(self) {
        self.stop_api().await;
        self.proxy.shutdown(Duration::from_secs(2)).await;
    }
}

/// A second proxy on a runtime and threads of its own, as another process would be: its
/// snapshot rebuilds (synchronous work) do not hold up the first proxy's runtime.
struct Separate {
    observed: Arc<Observed>,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Separate {
    async fn start(store_url: String, platform_issuer: String, poll_ms: u64) -> Self {
        let (ready, started) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("second runtime");
            runtime.block_on(async move {
                let b = Instance::start(&store_url, &platform_issuer, poll_ms).await;
                let _ = ready.send(b.observed.clone());
                let _ = stopped.await;
                b.stop().await;
            });
        });
        let observed = started.await.expect("second proxy starts");
        Self {
            observed,
            stop,
            thread,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join")
            .expect("second proxy stops");
    }
}

// -------------------------------------------------------------------------------------------
// Requests

/// A provider of its own tenant on the key server, with every field the API takes.
fn provider_body(keys: &KeyServer, tenant: &str) -> Value {
    let issuer = keys.issuer(tenant);
    json!({
        "organization": ORG, "identifier": tenant, "issuer": issuer,
        "jwks_endpoint_uri": format!("{issuer}/jwks"), "audience": "kafka", "scope": "kafka",
        "token_endpoint_uri": format!("{issuer}/token"),
        "authorize_endpoint_uri": format!("{issuer}/authorize"),
        "sub_claim_name": "sub", "groups_claim_name": "groups", "refresh_token": true,
        "cfk_client_id": "platform", "cfk_client_secret": "platform-secret",
    })
}

/// The same provider as the API stores it, for writes that bypass the API.
fn stored_provider(keys: &KeyServer, tenant: &str) -> StoredProvider {
    let issuer = keys.issuer(tenant);
    let now = now_micros();
    StoredProvider {
        id: uuid::Uuid::new_v4().to_string(),
        organization: ORG.into(),
        identifier: tenant.into(),
        jwks_endpoint_uri: Some(format!("{issuer}/jwks")),
        audience: "kafka".into(),
        scope: "kafka".into(),
        token_endpoint_uri: Some(format!("{issuer}/token")),
        sub_claim_name: "sub".into(),
        groups_claim_name: "groups".into(),
        authorize_endpoint_uri: Some(format!("{issuer}/authorize")),
        refresh_token: true,
        cfk_client_id: Some("platform".into()),
        cfk_client_secret: Some("platform-secret".into()),
        created_at: now,
        updated_at: now,
        issuer,
    }
}

/// The key the bench's stores seal client secrets with (every proxy of a run shares it).
const STORE_KEY: &str = "bench:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A file holding [`STORE_KEY`], as `store.secret_keys_file` names it.
fn store_keys_file() -> std::path::PathBuf {
    let path = store_keys_path();
    std::fs::write(&path, STORE_KEY).expect("store key file");
    path
}

/// Where [`store_keys_file`] writes; removed at the end of the run.
fn store_keys_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kop-bench-store-keys-{}", std::process::id()))
}

/// A handle of its own on the store at `url`, sealing with [`STORE_KEY`].
async fn open_store(url: &str) -> Store {
    let keys = kafka_oidc_proxy::store::secrets::SecretKeys::parse(STORE_KEY).expect("key");
    Store::open(url)
        .await
        .expect("store")
        .with_secret_keys(Some(keys))
        .await
        .expect("store keys")
}

/// Binding `i`, in the shapes platform teams write (as `benches/authz.rs`): literal topics per
/// team, team prefixes, consumer-group prefixes, a few DENYs and transactional ids, for 100
/// teams. Each `i` gives a distinct binding.
fn acl_body(i: usize) -> Value {
    let team = format!("team-{}", i % 100);
    let group = format!("Group:{team}");
    let service = format!("User:svc-{i}");
    let (principal, resource_type, pattern_type, name, operation, permission) = match i % 10 {
        0..=3 => (
            group,
            "TOPIC",
            "LITERAL",
            format!("{team}.events-{i}"),
            "WRITE",
            "ALLOW",
        ),
        4 | 5 => (
            group,
            "TOPIC",
            "PREFIXED",
            format!("{team}.{i}."),
            "READ",
            "ALLOW",
        ),
        6 | 7 => (
            group,
            "GROUP",
            "PREFIXED",
            format!("{team}-{i}-"),
            "READ",
            "ALLOW",
        ),
        8 => (
            service,
            "TOPIC",
            "LITERAL",
            format!("{team}.audit"),
            "ALL",
            "DENY",
        ),
        _ => (
            service,
            "TRANSACTIONAL_ID",
            "PREFIXED",
            format!("tx-{team}-{i}-"),
            "WRITE",
            "ALLOW",
        ),
    };
    json!({
        "principal": principal, "resource_type": resource_type, "resource_name": name,
        "pattern_type": pattern_type, "operation": operation, "permission": permission,
    })
}

/// A binding as the API stores it, for writes that bypass the API.
fn stored_acl(name: &str) -> StoredAcl {
    StoredAcl {
        id: uuid::Uuid::new_v4().to_string(),
        organization: ORG.into(),
        permission: "ALLOW".into(),
        principal: "Group:team-1".into(),
        host: "*".into(),
        operation: "WRITE".into(),
        resource_type: "TOPIC".into(),
        pattern_type: "LITERAL".into(),
        resource_name: name.into(),
        created_at: now_micros(),
    }
}

fn now_micros() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_micros()).expect("time")
}

/// The bench's HTTP client of one instance's API, for organization `ORG`.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self {
            http: http_client().expect("HTTP client"),
            base: format!("http://{addr}/organizations/{ORG}"),
        }
    }

    /// The same client (and connection pool) for organization `org`.
    fn with_org(&self, addr: SocketAddr, org: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: format!("http://{addr}/organizations/{org}"),
        }
    }

    /// POSTs `body` to `path` and reads the whole answer; panics unless it is 201.
    async fn post(&self, path: &str, body: &Value) {
        let request = self.http.post(format!("{}{path}", self.base)).json(body);
        Self::send(request, 201).await;
    }

    /// The `next` link of the page at `path_and_query`, relative to the organization (the
    /// page itself when it is the last).
    async fn next_of(&self, path_and_query: &str) -> String {
        let request = self.http.get(format!("{}{path_and_query}", self.base));
        let response = request.bearer_auth(TOKEN).send().await.expect("answered");
        let body: Value = response.json().await.expect("a JSON page");
        let Some(next) = body["next"].as_str() else {
            return path_and_query.to_owned();
        };
        let org_path = self
            .base
            .find("/organizations/")
            .map_or("", |at| &self.base[at..]);
        next.strip_prefix(org_path)
            .expect("a link of the organization")
            .to_owned()
    }

    /// GETs `path_and_query` and reads the whole answer, returning its length; panics unless
    /// it is 200.
    async fn get(&self, path_and_query: &str) -> usize {
        let request = self.http.get(format!("{}{path_and_query}", self.base));
        Self::send(request, 200).await
    }

    async fn send(request: reqwest::RequestBuilder, expected: u16) -> usize {
        let response = request.bearer_auth(TOKEN).send().await.expect("answered");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("answer body");
        assert_eq!(status, expected, "{}", String::from_utf8_lossy(&body));
        body.len()
    }
}

/// Runs `op` for each of `range`, one after the other, timing each.
async fn timed(range: Range<usize>, mut op: impl AsyncFnMut(usize)) -> Samples {
    let mut s = Samples::default();
    let start = Instant::now();
    for i in range {
        let t = Instant::now();
        op(i).await;
        s.push(t.elapsed());
    }
    s.wall = start.elapsed();
    s
}

// -------------------------------------------------------------------------------------------
// The measurements

/// One backend's measurements, on proxy A (`a`), and what its store holds so far.
struct Bench<'a> {
    backend: &'static str,
    settings: &'a Settings,
    keys: &'a KeyServer,
    table: &'a mut Table,
    a: &'a Instance,
    client: Client,
    store_url: &'a str,
    /// Providers stored (the configuration file's one aside).
    providers: usize,
    /// Bindings stored.
    bindings: usize,
}

impl Bench<'_> {
    /// What the store holds, for the table.
    fn state(&self) -> String {
        format!("{} providers, {} bindings", self.providers, self.bindings)
    }

    /// The tenant of the key server, and identifier, of provider `i` of this backend.
    fn tenant(&self, i: usize) -> String {
        format!("{}-{i}", self.backend)
    }

    /// Rows for one-at-a-time POSTs and the data plane's applies they caused.
    fn creates(&mut self, operation: &str, posts: &Samples, applies: &Samples) {
        self.table.requests(self.backend, operation, posts, "");
        let note = format!("{} applies", applies.ms.len());
        self.table.latencies(
            self.backend,
            "  of which the data plane's apply",
            applies,
            &note,
        );
    }

    /// Fills the bindings up to `settings.acls` with arrays, timing `settings.singles`
    /// one-binding POSTs at the start, in the middle and at the end.
    async fn fill_acls(&mut self) {
        let (total, singles, batch) = (
            self.settings.acls,
            self.settings.singles,
            self.settings.batch,
        );
        let mut arrays = Samples::default();
        let mut in_arrays = 0;
        for level in [0, total / 2, total - singles] {
            while self.bindings < level {
                let n = batch.min(level - self.bindings);
                let body = Value::Array((self.bindings..self.bindings + n).map(acl_body).collect());
                let t = Instant::now();
                self.client.post("/acls/", &body).await;
                arrays.push(t.elapsed());
                arrays.wall += t.elapsed();
                self.bindings += n;
                in_arrays += n;
            }
            let state = self.state();
            self.a.observed.take_durations();
            let client = &self.client;
            let posts = timed(self.bindings..self.bindings + singles, async |i| {
                client.post("/acls/", &acl_body(i)).await;
            })
            .await;
            self.bindings += singles;
            let applies = self.a.observed.take_durations();
            let operation = format!("create ACL binding, 1 per POST, from {state}");
            self.creates(&operation, &posts, &applies);
        }
        let rate = in_arrays as f64 / arrays.wall.as_secs_f64().max(1e-9);
        self.table.requests(
            self.backend,
            &format!("create ACL bindings, arrays of {batch}, up to {total}"),
            &arrays,
            &format!("{rate:.0} bindings/s, {} providers", self.providers),
        );
    }

    /// Registers providers one POST at a time for `settings.fill_time`, writes the rest but
    /// `settings.samples` to the store directly, waits for the proxy's poll to apply them,
    /// and registers the last ones by POST again.
    async fn fill_providers(&mut self) {
        let (total, samples) = (self.settings.providers, self.settings.samples);
        let keys = self.keys;
        let deadline = Instant::now() + self.settings.fill_time;
        let from = self.state();
        self.a.observed.take_durations();
        let mut posts = Samples::default();
        let start = Instant::now();
        while self.providers < total - samples && Instant::now() < deadline {
            let t = Instant::now();
            let body = provider_body(keys, &self.tenant(self.providers));
            self.client.post("/oauth-providers/", &body).await;
            posts.push(t.elapsed());
            self.providers += 1;
        }
        posts.wall = start.elapsed();
        let applies = self.a.observed.take_durations();
        let n = self.providers;
        let operation = format!("create provider, 1 per POST, from {from}, to {n}");
        self.creates(&operation, &posts, &applies);
        let tenth = (n / 10).max(1);
        let b = self.backend;
        let first = format!("  first {tenth} of them");
        self.table.requests(b, &first, &posts.part(0..tenth), "");
        let last = format!("  last {tenth} of them");
        self.table.requests(b, &last, &posts.part(n - tenth..n), "");

        if self.providers < total - samples {
            let store = open_store(self.store_url).await;
            let last = self.tenant(total - samples - 1);
            let applied = self.a.observed.watch(Change::Provider(last));
            let from = self.providers;
            let writes = timed(from..total - samples, async |i| {
                let p = stored_provider(keys, &self.tenant(i));
                store.create_provider(&p).await.expect("store write");
            })
            .await;
            self.providers = total - samples;
            let operation = format!(
                "create provider, store write only, {from} -> {}",
                self.providers
            );
            self.table
                .requests(b, &operation, &writes, "no apply; A's poll applies them");
            tokio::time::timeout(Duration::from_secs(60), applied)
                .await
                .expect("applied within 60 s")
                .expect("applied");
        }

        let from = self.state();
        self.a.observed.take_durations();
        let client = &self.client;
        let posts = timed(self.providers..total, async |i| {
            let body = provider_body(keys, &self.tenant(i));
            client.post("/oauth-providers/", &body).await;
        })
        .await;
        self.providers = total;
        let applies = self.a.observed.take_durations();
        let operation = format!("create provider, 1 per POST, from {from}");
        self.creates(&operation, &posts, &applies);
    }

    /// GETs each list case for `settings.list_time`, one request at a time.
    async fn lists(&mut self) {
        let last_providers = self.providers.saturating_sub(100);
        let last_acls = self.bindings.saturating_sub(100);
        // The last pages as a client paging through gets them: by the link of the page before.
        let before_last = |n: usize| n.saturating_sub(200);
        let providers_link = self
            .client
            .next_of(&format!(
                "/oauth-providers/?offset={}",
                before_last(self.providers)
            ))
            .await;
        let acls_link = self
            .client
            .next_of(&format!("/acls/?offset={}", before_last(self.bindings)))
            .await;
        let cases = [
            (
                "providers, default page (limit 100)",
                "/oauth-providers/".to_owned(),
            ),
            (
                "providers, limit=1000",
                "/oauth-providers/?limit=1000".to_owned(),
            ),
            (
                "providers, last page (offset=count-100)",
                format!("/oauth-providers/?offset={last_providers}"),
            ),
            (
                "providers, last page by the next link (after=)",
                providers_link,
            ),
            ("ACLs, default page (limit 100)", "/acls/".to_owned()),
            ("ACLs, limit=1000", "/acls/?limit=1000".to_owned()),
            (
                "ACLs, last page (offset=count-100)",
                format!("/acls/?offset={last_acls}"),
            ),
            ("ACLs, last page by the next link (after=)", acls_link),
            (
                "ACLs, principal=Group:team-7",
                "/acls/?principal=Group:team-7".to_owned(),
            ),
            (
                "ACLs, resource_type=TOPIC&pattern_type=PREFIXED",
                "/acls/?resource_type=TOPIC&pattern_type=PREFIXED".to_owned(),
            ),
            (
                "ACLs, resource_name=team-7.events-7",
                "/acls/?resource_name=team-7.events-7".to_owned(),
            ),
        ];
        let state = self.state();
        for (name, path) in cases {
            let mut s = Samples::default();
            let mut bytes = 0;
            let start = Instant::now();
            while start.elapsed() < self.settings.list_time || s.ms.len() < 5 {
                let t = Instant::now();
                bytes = self.client.get(&path).await;
                s.push(t.elapsed());
            }
            s.wall = start.elapsed();
            self.table.requests(
                self.backend,
                &format!("list {name}"),
                &s,
                &format!("{bytes} B answer; {state}"),
            );
        }
    }

    /// One-binding POSTs and arrays once the store is full.
    async fn acls_at_size(&mut self) {
        let from = self.state();
        self.a.observed.take_durations();
        let client = &self.client;
        let posts = timed(
            self.bindings..self.bindings + self.settings.samples,
            async |i| {
                client.post("/acls/", &acl_body(i)).await;
            },
        )
        .await;
        self.bindings += self.settings.samples;
        let applies = self.a.observed.take_durations();
        let operation = format!("create ACL binding, 1 per POST, from {from}");
        self.creates(&operation, &posts, &applies);

        let from = self.state();
        let batch = self.settings.batch;
        let arrays = self.settings.samples.min(2);
        let posts = timed(0..arrays, async |_| {
            let body = Value::Array(
                (self.bindings..self.bindings + batch)
                    .map(acl_body)
                    .collect(),
            );
            self.client.post("/acls/", &body).await;
            self.bindings += batch;
        })
        .await;
        let rate = (arrays * batch) as f64 / posts.wall.as_secs_f64().max(1e-9);
        let operation = format!("create ACL bindings, arrays of {batch}, from {from}");
        self.table.requests(
            self.backend,
            &operation,
            &posts,
            &format!("{rate:.0} bindings/s"),
        );
    }

    /// What a committed change costs on the instance that made it, at full size: the store
    /// write alone, then `Api::sync` (revision, read everything, convert, apply), of which the
    /// data plane's apply. A's management API is stopped first, so that no poll applies the
    /// same writes meanwhile; the writes go through a store handle of their own and the syncs
    /// through an `Api` over the same store and proxy, so that each part is timed by itself.
    async fn apply_cost(&mut self) {
        let a = self.a;
        a.stop_api().await;
        let store = open_store(self.store_url).await;
        let api = Api::new(
            &a.config,
            a.config.management.as_ref().expect("management"),
            store.clone(),
            a.observed.clone(),
            http_client().expect("HTTP client"),
        );
        api.sync().await.expect("first sync");
        let observed = &a.observed;
        observed.take_durations();
        let state = self.state();
        let (mut writes, mut syncs) = (Samples::default(), Samples::default());
        for i in 0..self.settings.samples {
            let t = Instant::now();
            let acl = stored_acl(&format!("apply-cost-{i}"));
            store.create_acls(&[acl]).await.expect("store write");
            writes.push(t.elapsed());
            self.bindings += 1;
            let t = Instant::now();
            api.sync().await.expect("sync");
            syncs.push(t.elapsed());
        }
        let applies = observed.take_durations();
        let b = self.backend;
        let note = format!("at {state}");
        let t = &mut *self.table;
        t.latencies(b, "ACL binding: store write only", &writes, &note);
        t.latencies(
            b,
            "ACL binding: then Api::sync (read all, apply)",
            &syncs,
            &note,
        );
        t.latencies(b, "  of which the data plane's apply", &applies, "");
    }

    /// From a POST on A to the data planes having applied it: on A itself (before its answer)
    /// and, with a second proxy B on the same store, on B by its store poll. With B, each
    /// sample starts at a pseudo-random point of B's poll cycle.
    async fn propagation(&mut self, b: Option<&Separate>) {
        let mut rows: BTreeMap<String, Samples> = BTreeMap::new();
        let mut jitter = Jitter(0x5eed);
        let state = self.state();
        if let Some(b) = b {
            let first = b.observed.take_durations();
            let operation = "B: data plane apply of everything at its start";
            self.table
                .latencies(self.backend, operation, &first, &state);
        }
        for i in 0..self.settings.samples {
            for kind in ["provider", "ACL binding"] {
                if b.is_some() {
                    tokio::time::sleep(Duration::from_millis(jitter.below(self.settings.poll_ms)))
                        .await;
                }
                let marker = format!(
                    "{}-propagation-{i}-{}",
                    self.backend,
                    kind.replace(' ', "-")
                );
                let (path, body, change) = if kind == "provider" {
                    let body = provider_body(self.keys, &marker);
                    ("/oauth-providers/", body, Change::Provider(marker.clone()))
                } else {
                    let mut body = acl_body(i);
                    body["resource_name"] = Value::String(marker.clone());
                    ("/acls/", body, Change::Acl(marker.clone()))
                };
                let on_a = self.a.observed.watch(change.clone());
                let on_b = b.map(|b| b.observed.watch(change));
                let sent = Instant::now();
                self.client.post(path, &body).await;
                let answered = Instant::now();
                let applied_a = on_a.await.expect("applied on A");
                rows.entry(format!("{kind}: POST sent -> A applied"))
                    .or_default()
                    .push_between(sent, applied_a);
                rows.entry(format!("{kind}: A applied -> 201 received"))
                    .or_default()
                    .push_between(applied_a, answered);
                let Some(on_b) = on_b else { continue };
                let applied_b = tokio::time::timeout(Duration::from_secs(30), on_b)
                    .await
                    .expect("B applies within 30 s")
                    .expect("applied on B");
                rows.entry(format!("{kind}: POST sent -> B applied"))
                    .or_default()
                    .push_between(sent, applied_b);
                // Negative when B's poll came between A's commit and A's answer.
                rows.entry(format!("{kind}: 201 from A -> B applied"))
                    .or_default()
                    .push_between(answered, applied_b);
                if kind == "provider" {
                    // Both data planes fetch a new provider's keys once they have it: A while
                    // answering, B after its poll; B's fetch is the second unless B was first.
                    let nth = if applied_b >= applied_a { 2 } else { 1 };
                    let fetched = self.keys.fetched(&marker, nth).await;
                    rows.entry(format!("{kind}: 201 from A -> B fetched its keys"))
                        .or_default()
                        .push_between(answered, fetched);
                }
            }
            self.providers += 1;
            self.bindings += 1;
        }
        for (name, samples) in &rows {
            self.table.latencies(
                self.backend,
                &format!("propagation, {name}"),
                samples,
                &state,
            );
        }
        if let Some(b) = b {
            let applies = b.observed.take_durations();
            let note = format!("{} polls that found a change", applies.ms.len());
            self.table.latencies(
                self.backend,
                "B: data plane apply per poll",
                &applies,
                &note,
            );
        }
    }
}

/// A deterministic pseudo-random sequence (a 64-bit LCG), for waits of varying length.
struct Jitter(u64);

impl Jitter {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Measures one backend: proxy A on `store_url`, filled, listed, its apply cost at size and,
/// with `second`, the propagation to a proxy B on the same store.
async fn measure(
    backend: &'static str,
    store_url: &str,
    second: bool,
    settings: &Settings,
    keys: &KeyServer,
    table: &mut Table,
) {
    let started = Instant::now();
    let platform = keys.issuer("platform");
    let a = Instance::start(store_url, &platform, settings.poll_ms).await;
    let fetches = keys.total();
    let mut bench = Bench {
        backend,
        settings,
        keys,
        table,
        a: &a,
        client: Client::new(a.addr),
        store_url,
        providers: 0,
        bindings: 0,
    };
    bench.fill_acls().await;
    bench.fill_providers().await;
    bench.lists().await;
    bench.acls_at_size().await;
    // B starts on the full store: its first sync applies everything at once.
    let b = if second {
        Some(Separate::start(store_url.to_owned(), platform, settings.poll_ms).await)
    } else {
        None
    };
    bench.propagation(b.as_ref()).await;
    if let Some(b) = b {
        b.stop().await;
    }
    bench.apply_cost().await;
    eprintln!(
        "{backend}: {} key fetches by the data planes, {:.0} s",
        keys.total() - fetches,
        started.elapsed().as_secs_f64()
    );
    a.stop().await;
}

/// The many-organizations shape on the fresh store at `store_url`: `settings.orgs`
/// organizations of `settings.org_acls` bindings, then `settings.creates` one-binding POSTs
/// to random organizations, one at a time (each applied to the data plane before its answer),
/// and one organization's lists.
async fn many_organizations(
    backend: &'static str,
    store_url: &str,
    settings: &Settings,
    keys: &KeyServer,
    table: &mut Table,
) {
    let started = Instant::now();
    let a = Instance::start(store_url, &keys.issuer("platform"), settings.poll_ms).await;
    let (orgs, per_org) = (settings.orgs, settings.org_acls);
    let base = Client::new(a.addr);
    let client = |o: usize| base.with_org(a.addr, &format!("org-{o}"));
    let mut fill = Samples::default();
    let start = Instant::now();
    for o in 0..orgs {
        let body = Value::Array((0..per_org).map(acl_body).collect());
        let t = Instant::now();
        client(o).post("/acls/", &body).await;
        fill.push(t.elapsed());
    }
    fill.wall = start.elapsed();
    let shape = format!("{orgs} organizations x {per_org} bindings");
    let rate = (orgs * per_org) as f64 / fill.wall.as_secs_f64().max(1e-9);
    let fill_note = format!("{rate:.0} bindings/s");
    let t = &mut *table;
    t.requests(
        backend,
        &format!("fill {shape}, one array each"),
        &fill,
        &fill_note,
    );
    a.observed.take_durations();
    let mut jitter = Jitter(7);
    let mut posts = Samples::default();
    let start = Instant::now();
    for i in 0..settings.creates {
        let o = jitter.below(orgs as u64) as usize;
        let c = client(o);
        let t = Instant::now();
        c.post("/acls/", &acl_body(per_org + i)).await;
        posts.push(t.elapsed());
    }
    posts.wall = start.elapsed();
    let applies = a.observed.take_durations();
    let p999 = posts.percentile(99.9);
    let note = format!("p99.9 {p999:.2} ms; applied before each answer");
    t.requests(
        backend,
        "create ACL binding, 1 per POST, random org.",
        &posts,
        &note,
    );
    let note = format!("p99.9 {:.3} ms", applies.percentile(99.9));
    t.latencies(
        backend,
        "  of which the data plane's apply",
        &applies,
        &note,
    );
    let one = client(0);
    let link = one.next_of("/acls/?limit=10").await;
    for (name, path) in [
        (
            "list ACLs of one organization, default page",
            "/acls/".to_owned(),
        ),
        ("list ACLs of one organization, by the next link", link),
    ] {
        let mut s = Samples::default();
        let start = Instant::now();
        while start.elapsed() < settings.list_time || s.ms.len() < 5 {
            let t = Instant::now();
            one.get(&path).await;
            s.push(t.elapsed());
        }
        s.wall = start.elapsed();
        let note = format!("p99.9 {:.2} ms", s.percentile(99.9));
        t.requests(backend, name, &s, &note);
    }
    eprintln!(
        "{backend}: {shape}, {:.0} s",
        started.elapsed().as_secs_f64()
    );
    a.stop().await;
}

/// A fresh database on the PostgreSQL server at `server_url`: its URL and its name.
async fn postgres_database(server_url: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!("kop_bench_{}_{}", std::process::id(), now_micros());
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .expect("PostgreSQL answers");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("database created");
    let base = server_url.rsplit_once('/').map_or(server_url, |(b, _)| b);
    (format!("{base}/{name}"), name)
}

async fn drop_postgres_database(server_url: &str, name: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .expect("PostgreSQL answers");
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    if let Err(e) = sqlx::Executor::execute(&mut admin, drop.as_str()).await {
        eprintln!("cannot drop database {name}: {e}");
    }
}

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The upstream is a closed port on purpose: its refresh warnings are noise here.
        tracing_subscriber::EnvFilter::new("warn,kafka_oidc_proxy::proxy=error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::from_env();
    let keys = KeyServer::start().await;
    let mut table = Table::default();
    let started = Instant::now();

    let dir = std::env::temp_dir().join(format!("kop-bench-management-{}", std::process::id()));
    let sqlite = format!("sqlite://{}/store.db", dir.display());
    let shape = |name: &str| settings.shapes.iter().any(|s| s == name);
    if shape("one-org") {
        measure("sqlite", &sqlite, false, &settings, &keys, &mut table).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    if shape("many-orgs") {
        let many = format!("sqlite://{}/many.db", dir.display());
        many_organizations("sqlite", &many, &settings, &keys, &mut table).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    match std::env::var("KOP_PG_URL") {
        Ok(server) => {
            if shape("one-org") {
                let (url, name) = postgres_database(&server).await;
                measure("postgres", &url, true, &settings, &keys, &mut table).await;
                drop_postgres_database(&server, &name).await;
            }
            if shape("many-orgs") {
                let (url, name) = postgres_database(&server).await;
                many_organizations("postgres", &url, &settings, &keys, &mut table).await;
                drop_postgres_database(&server, &name).await;
            }
        }
        Err(_) => eprintln!(
            "KOP_PG_URL is not set: PostgreSQL skipped (eval \"$(harness/postgres/pg.sh env)\")"
        ),
    }

    table.print();
    if shape("one-org") {
        println!(
            "\none organization: filled to {} providers and {} bindings in {ORG:?}",
            settings.providers, settings.acls
        );
    }
    if shape("many-orgs") {
        println!(
            "many organizations: {} of {} bindings each, {} POSTs timed",
            settings.orgs, settings.org_acls, settings.creates
        );
    }
    println!(
        "store.poll_interval_ms {}; {:.0} s in all",
        settings.poll_ms,
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(store_keys_path());
}
