//! Shared harness for the integration tests: the real three-node cluster started by
//! `harness/kafka/cluster.sh` (its addresses come from the environment that `scripts/test.sh`
//! sets), an in-process proxy on ephemeral ports, the real client programs under
//! `harness/clients/`, and captured proxy logs.

#![allow(dead_code, unreachable_pub)]

pub mod acls;
pub mod binary;
pub mod metadata;
pub mod raw;
pub mod sni;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kafka_oidc_proxy::config::Config;
use kafka_oidc_proxy::proxy::Proxy;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An environment variable the harness must have set; the message says how.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests with scripts/test.sh, which starts the Kafka cluster and exports its addresses")
    })
}

/// The cluster's PLAINTEXT bootstrap servers.
pub fn kafka_bootstrap() -> Vec<String> {
    env("KOP_KAFKA_BOOTSTRAP")
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// For a bench that needs the cluster and the provider: their bootstrap servers and issuer,
/// or `None` after saying that `bench` measures nothing without them.
pub fn bench_services(bench: &str) -> Option<(String, String)> {
    match (
        std::env::var("KOP_KAFKA_BOOTSTRAP"),
        std::env::var("KOP_IDP_ISSUER"),
    ) {
        (Ok(bootstrap), Ok(issuer)) => Some((bootstrap, issuer)),
        _ => {
            eprintln!(
                "{bench} bench: KOP_KAFKA_BOOTSTRAP and KOP_IDP_ISSUER are not set (see the top of benches/{bench}.rs); nothing measured"
            );
            None
        }
    }
}

/// For benches: an in-process proxy with one listener `bench` (`authentication` as given) in
/// front of `bootstrap`, the test provider `issuer` as organization acme's, and Group:producers
/// allowed everything on the topic named `topic` (`*`: every topic); once it knows the cluster.
pub async fn bench_proxy(
    bootstrap: &str,
    issuer: &str,
    authentication: &str,
    topic: &str,
) -> Proxy {
    let servers: Vec<String> = bootstrap.split(',').map(|s| format!("{s:?}")).collect();
    let text = format!(
        "[upstream]\nbootstrap_servers = [{}]\n\
         [[listeners]]\nname = \"bench\"\nbind_address = \"127.0.0.1\"\n\
         advertised_host = \"127.0.0.1\"\nbootstrap_port = 0\nbroker_port_base = 0\n\
         authentication = {authentication:?}\n\
         [identity]\nallow_http_loopback = true\n\
         [[identity.providers]]\norganization = \"acme\"\nidentifier = \"main-idp\"\n\
         issuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\n{}",
        servers.join(", "),
        acl("ALLOW", "Group:producers", "ALL", "TOPIC", "LITERAL", topic),
    );
    let config = Config::parse(&text).expect("bench config");
    let proxy = Proxy::start(config).await.expect("proxy starts");
    tokio::time::timeout(Duration::from_secs(60), proxy.ready())
        .await
        .expect("the proxy reaches the cluster");
    proxy
}

/// A record batch (v2, uncompressed) of one record holding `value`, as a producer without
/// idempotence writes it.
pub fn record_batch(value: bytes::Bytes) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: Some(value),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("record batch");
    buf.freeze()
}

/// Directory with the harness's test CA and certificates.
pub fn tls_dir() -> PathBuf {
    PathBuf::from(env("KOP_TLS_DIR"))
}

/// Installs (once) a tracing subscriber that prints to the test output and keeps every line
/// for [`logs`].
pub fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kafka_oidc_proxy=debug"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

fn log_buffer() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(Mutex::default)
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .expect("log buffer")
            .extend_from_slice(buf);
        std::io::stderr().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line captured so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().expect("log buffer")).into_owned()
}

/// Waits up to 10 s for a log line containing every one of `parts`.
pub async fn wait_for_log(parts: &[&str]) -> String {
    for _ in 0..100 {
        if let Some(line) = logs().lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no log line with {parts:?} in:\n{}", logs());
}

/// Options for a test proxy.
pub struct ProxyOptions {
    pub bootstrap_servers: Vec<String>,
    pub extra_upstream: String,
    pub listener_tls: Option<(PathBuf, PathBuf)>,
    pub limits: String,
    /// Wait until the proxy has reached the cluster.
    pub wait_ready: bool,
    /// The listener's `authentication`.
    pub authentication: &'static str,
    /// Extra TOML appended to the config (e.g. `[identity]` with providers).
    pub extra: String,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            bootstrap_servers: kafka_bootstrap(),
            extra_upstream: String::new(),
            listener_tls: None,
            limits: String::new(),
            wait_ready: true,
            authentication: "none",
            extra: String::new(),
        }
    }
}

/// A proxy running in this process on ephemeral ports.
pub struct TestProxy {
    pub proxy: Proxy,
    pub bootstrap: SocketAddr,
    /// The configuration it runs with.
    pub config: Config,
}

impl TestProxy {
    pub fn bootstrap(&self) -> String {
        self.bootstrap.to_string()
    }
}

/// Starts a proxy in front of the cluster and waits until it knows the brokers' versions.
pub async fn start_proxy(options: ProxyOptions) -> TestProxy {
    init_logs();
    let servers: Vec<String> = options
        .bootstrap_servers
        .iter()
        .map(|s| format!("{s:?}"))
        .collect();
    let tls = match &options.listener_tls {
        Some((cert, key)) => format!("[listeners.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n"),
        None => String::new(),
    };
    let text = format!(
        "[upstream]\nbootstrap_servers = [{}]\nmetadata_refresh_secs = 5\n{}\n\
         [[listeners]]\nname = \"test\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"127.0.0.1\"\n\
         bootstrap_port = 0\nbroker_port_base = 0\nauthentication = {:?}\n{tls}\n[limits]\nshutdown_grace_secs = 5\n{}\n{}\n",
        servers.join(", "),
        options.extra_upstream,
        options.authentication,
        options.limits,
        options.extra,
    );
    let config =
        Config::parse(&text).unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"));
    let proxy = Proxy::start(config.clone()).await.expect("proxy starts");
    if options.wait_ready {
        tokio::time::timeout(Duration::from_secs(60), proxy.ready())
            .await
            .expect("the proxy reaches the cluster within 60 s");
    }
    let bootstrap = proxy.bootstrap_addr("test").expect("test listener");
    TestProxy {
        proxy,
        bootstrap,
        config,
    }
}

/// A proxy with OAUTHBEARER and `extra` (its `[management]` among it), and its management API
/// serving in this process.
pub async fn start_with_management(
    extra: String,
) -> (TestProxy, kafka_oidc_proxy::management::Running) {
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra,
        ..ProxyOptions::default()
    })
    .await;
    let running = kafka_oidc_proxy::management::start(
        &proxy.config,
        proxy.config.management.as_ref().expect("management"),
        proxy.proxy.published(),
    )
    .await
    .expect("management starts");
    (proxy, running)
}

/// Keycloak's admin REST API on realm kop (`harness/keycloak/keycloak.sh admin`), as its
/// bootstrap administrator: the answer's JSON (null when it has none).
pub async fn keycloak_admin(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut args = vec!["admin".to_owned(), method.to_owned(), path.to_owned()];
    if let Some(body) = body {
        args.push(body.to_string());
    }
    let out = tokio::process::Command::new(env("KOP_KEYCLOAK_SH"))
        .args(&args)
        .output()
        .await
        .expect("keycloak.sh runs");
    assert!(
        out.status.success(),
        "keycloak.sh admin {method} {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// The JSON line a client program printed, once it exited successfully.
pub struct ClientRun {
    pub json: serde_json::Value,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `harness/clients/run.sh CLIENT SCENARIO ARGS...`; panics with its output unless it
/// exits 0 and prints `"ok": true`. A run whose failure the client program attributes to a
/// known bug of the library itself (`"client_fault"` in its JSON, e.g. kafka-python's
/// coordinator livelock) is reported and run once more; a second failure fails the test.
pub async fn run_client(client: &str, scenario: &str, args: &[&str]) -> ClientRun {
    let mut run = try_run_client(client, scenario, args).await;
    if let Err(message) = &run
        && message.contains("\"client_fault\"")
    {
        eprintln!("{client} {scenario}: library fault, running it once more: {message}");
        run = try_run_client(client, scenario, args).await;
    }
    match run {
        Ok(run) => run,
        Err(message) => panic!("{client} {scenario} failed: {message}"),
    }
}

/// As [`run_client`], returning the failure instead of panicking.
pub async fn try_run_client(
    client: &str,
    scenario: &str,
    args: &[&str],
) -> Result<ClientRun, String> {
    try_run_client_in(&[], client, scenario, args).await
}

/// As [`try_run_client`], the client program started by the command `wrapper` (its first
/// word the program, the client program's path and arguments appended), e.g. in a mount
/// namespace of its own.
pub async fn try_run_client_in(
    wrapper: &[&str],
    client: &str,
    scenario: &str,
    args: &[&str],
) -> Result<ClientRun, String> {
    let script = repo().join("harness/clients/run.sh");
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = tokio::process::Command::new(program);
            c.args(rest).arg(&script);
            c
        }
        None => tokio::process::Command::new(&script),
    };
    let output = tokio::time::timeout(
        Duration::from_secs(400),
        command
            .arg(client)
            .arg(scenario)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "timed out after 400 s".to_owned())?
    .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .unwrap_or(serde_json::Value::Null);
    if !output.status.success() || json.get("ok") != Some(&serde_json::Value::Bool(true)) {
        let tail: String = stderr
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(format!(
            "exit {:?}\nstdout: {stdout}\nstderr (tail):\n{tail}",
            output.status.code()
        ));
    }
    Ok(ClientRun {
        json,
        stdout,
        stderr,
    })
}

/// Shared across tests of one binary: runs at most `n` client programs at once (they are
/// heavy on a 2-core machine).
pub fn client_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(2))
}

/// Runs `harness/kafka/cluster.sh ARGS...` and panics unless it succeeds.
pub fn cluster(args: &[&str]) {
    let script = env("KOP_KAFKA_CLUSTER_SH");
    let status = std::process::Command::new(&script)
        .args(args)
        .status()
        .expect("run cluster.sh");
    assert!(status.success(), "cluster.sh {args:?} failed");
}

fn http() -> reqwest::Client {
    kafka_oidc_proxy::identity::http_client().expect("http client")
}

/// The test identity provider (harness/idp, real oidc-provider), from the environment.
pub struct Idp;

impl Idp {
    pub fn issuer() -> String {
        env("KOP_IDP_ISSUER")
    }

    pub fn second_issuer() -> String {
        env("KOP_IDP2_ISSUER")
    }

    /// `[identity]` TOML registering both test issuers (organizations acme and globex).
    pub fn identity_toml(extra_identity: &str) -> String {
        let provider = |org: &str, id: &str, issuer: &str| {
            format!(
                "[[identity.providers]]\norganization = {org:?}\nidentifier = {id:?}\nissuer = {issuer:?}\n\
                 audience = \"kafka\"\nscope = \"kafka\"\njwks_min_refresh_secs = 1\n"
            )
        };
        format!(
            "[identity]\nallow_http_loopback = true\n{extra_identity}\n{}{}",
            provider("acme", "main-idp", &Self::issuer()),
            provider("globex", "second-idp", &Self::second_issuer()),
        )
    }

    /// `[authorization]` that makes every user of both test organizations a super user, for
    /// tests about authentication rather than authorization (no binding denies).
    pub fn allow_everyone() -> &'static str {
        "[authorization.super_users]\nacme = [\"User:*\"]\nglobex = [\"User:*\"]\n"
    }

    /// An access token for `client` by the client-credentials grant.
    pub async fn token(issuer: &str, client: &str) -> String {
        let url = format!("{issuer}/token");
        let response = http()
            .post(&url)
            .basic_auth(client, Some(format!("{client}-secret")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=kafka")
            .send()
            .await
            .unwrap_or_else(|e| panic!("token request to {url}: {e}"));
        let body: serde_json::Value = response.json().await.expect("token response is JSON");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {body}"))
            .to_owned()
    }

    /// Calls an admin hook of an issuer (see harness/idp/server.mjs).
    pub async fn admin(issuer: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = http()
            .post(format!("{issuer}{path}"))
            .header(env("KOP_IDP_ADMIN_HEADER"), env("KOP_IDP_ADMIN_TOKEN"))
            .json(&body)
            .send()
            .await
            .expect("admin hook");
        let status = response.status();
        let text = response.text().await.expect("admin body");
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    }

    /// The issuer's test state (keys, JWKS status, hit counters; see harness/idp/server.mjs).
    pub async fn state(issuer: &str) -> serde_json::Value {
        http()
            .get(format!("{issuer}/admin/state"))
            .header(env("KOP_IDP_ADMIN_HEADER"), env("KOP_IDP_ADMIN_TOKEN"))
            .send()
            .await
            .expect("admin state")
            .json()
            .await
            .expect("admin state is JSON")
    }

    /// A token signed by the issuer's admin hook, for negative cases.
    pub async fn sign(issuer: &str, body: serde_json::Value) -> String {
        match Self::admin(issuer, "/admin/sign", body).await {
            serde_json::Value::String(s) => s,
            v => v["token"]
                .as_str()
                .unwrap_or_else(|| panic!("no token in {v}"))
                .to_owned(),
        }
    }
}

/// The client-program options that make a library log in as `client` of the main issuer.
pub fn login_args(client: &str) -> Vec<String> {
    login_args_at(&Idp::issuer(), client)
}

/// The client-program options that make a library log in as `client` of `issuer`.
pub fn login_args_at(issuer: &str, client: &str) -> Vec<String> {
    [
        "--security-protocol",
        "SASL_PLAINTEXT",
        "--oauth-token-url",
        &format!("{issuer}/token"),
        "--oauth-client-id",
        client,
        "--oauth-client-secret",
        &format!("{client}-secret"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `scenario` of `client` against `proxy`, logged in as `login`, with `extra` options.
pub async fn run_as(
    proxy: &TestProxy,
    client: &str,
    scenario: &str,
    login: &str,
    extra: &[&str],
) -> serde_json::Value {
    let _slot = client_slots().acquire().await.expect("slots");
    let bootstrap = proxy.bootstrap();
    let login = login_args(login);
    let mut args = vec!["--bootstrap", bootstrap.as_str()];
    args.extend(login.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let run = run_client(client, scenario, &args).await;
    eprintln!("{client} {scenario}: {}", run.json);
    run.json
}

/// A directory of its own under the system's temporary directory, `<prefix>-<unique tag>`
/// (not created), removed with everything in it when dropped: when the test passes and when
/// it panics.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(prefix: &str) -> Scratch {
        Scratch(std::env::temp_dir().join(format!("{prefix}-{}", unique_tag())))
    }
}

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A suffix that makes topic, group and transactional-id names unique to one test run.
pub fn unique_tag() -> String {
    // Two tests of one process may read the same clock value: a counter tells them apart.
    static TAKEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = TAKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{}{}{n}", std::process::id(), nanos % 1_000_000_000)
}

/// Writes a new store key file into `dir` and answers the `[store]` line that names it.
pub fn store_keys_line(dir: &std::path::Path) -> String {
    std::fs::create_dir_all(dir).expect("key dir");
    let path = dir.join("store-keys");
    let key = kafka_oidc_proxy::store::secrets::SecretKeys::generate("test").expect("key");
    std::fs::write(&path, format!("{key}\n")).expect("key file");
    format!("secret_keys_file = {:?}\n", path.display().to_string())
}

/// One `[[authorization.acls]]` entry of organization acme, in TOML.
pub fn acl(
    permission: &str,
    principal: &str,
    op: &str,
    rt: &str,
    pattern: &str,
    name: &str,
) -> String {
    format!(
        "[[authorization.acls]]\norganization = \"acme\"\nprincipal = {principal:?}\n\
         resource_type = {rt:?}\nresource_name = {name:?}\npattern_type = {pattern:?}\n\
         operation = {op:?}\npermission = {permission:?}\n"
    )
}

/// A fresh, empty database on the harness's PostgreSQL (scripts/test.sh starts it), as a
/// `postgres://` URL.
pub async fn postgres_database() -> String {
    use sqlx::Connection;
    let url = env("KOP_PG_URL");
    let name = format!("kop_test_{}", unique_tag());
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("PostgreSQL answers");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("database created");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// The `q` quantile (0.5, 0.99...) of `samples`, nearest rank.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort_unstable();
    v.get(((v.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or_default()
}
