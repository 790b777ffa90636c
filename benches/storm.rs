//! A reconnect storm through the proxy binary, as after a proxy or broker restart: N clients
//! (5,000) connect at once from 50 loopback addresses, each with its own access token from the
//! real test provider that the proxy has not seen, log in (SaslHandshake, SaslAuthenticate)
//! and close. For each signing algorithm of the provider (RS256, ES256, EdDSA) it reports the
//! time until every login was answered, the login latency (connect to answer) p50 and p99, and
//! the proxy process's CPU per login (user + system time from /proc/PID/stat over the storm,
//! and the user part alone) against the crypto limit: the signature check alone of the same
//! tokens, with the key decoded beforehand, on one core, and the proxy's page faults per login
//! (fresh memory it touched). A last storm logs in N times with one
//! token the proxy has already verified: what a login costs without its signature check.
//!
//! The first row is the socket floor: the same storm against a server (this bench, run as
//! its own process with `--socket-floor`) that does a login's socket work and nothing else.
//! It accepts on the same backlog, sets TCP_NODELAY, reads each frame, answers SaslHandshake
//! and SaslAuthenticate with success, and closes at the client's end. Its CPU per login is what
//! any server pays the kernel and the runtime for those connections. Each later row shows
//! what its login costs beyond that floor, and that cost against the crypto limit: the
//! proxy's bookkeeping around a signature check, apart from TCP.
//!
//! On loopback the system part includes the clients' side of TCP: a segment the proxy sends is
//! received, and its reader woken, within the proxy's send.
//!
//! The proxy is the binary at its default log level, its limits on unauthenticated
//! connections raised to N (at the defaults, 1,000 and 256 per address, the rest would be
//! refused at accept). The storm's clients run on the same machine.
//!
//! Needs the test cluster and provider (what `scripts/test.sh` starts; `KOP_KEEP_CLUSTER=1
//! scripts/test.sh --test addresses` leaves them running), then:
//!
//!   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
//!   cargo bench --bench storm [-- --connections N] [--only RS256,ES256,EdDSA,cached]
//!
//! Without them it says so and measures nothing. Under `cargo test` it storms with 50
//! connections: every login must succeed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Idp;
use common::binary::{Binary, Cpu};
use common::raw::Raw;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use kafka_oidc_proxy::identity::crypto::PublicKey;
use kafka_oidc_proxy::kafka::codec::FrameReader;
use kafka_oidc_proxy::kafka::encode_response;
use kafka_oidc_proxy::kafka::header::parse_request_header;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateResponse, SaslHandshakeResponse};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The test provider's client that signs with each algorithm (harness/idp/server.mjs).
const CLIENTS: [(&str, &str); 3] = [
    ("RS256", "kafka-producer"),
    ("ES256", "kafka-es256"),
    ("EdDSA", "kafka-eddsa"),
];
const SOURCES: usize = 50;

struct Storm {
    served: Duration,
    latencies: Vec<Duration>,
    failures: Vec<String>,
    /// The server's user and system CPU time over the storm.
    cpu: Cpu,
}

impl Storm {
    fn cpu_per_login(&self) -> Duration {
        let n = self.latencies.len() + self.failures.len();
        (self.cpu.user + self.cpu.system) / n.max(1) as u32
    }
}

fn main() {
    if std::env::args().any(|a| a == "--socket-floor") {
        serve_socket_floor();
        return;
    }
    let measuring = std::env::args().any(|a| a == "--bench");
    let connections = std::env::args()
        .skip_while(|a| a != "--connections")
        .nth(1)
        .map(|n| n.parse::<usize>().expect("--connections N"))
        .unwrap_or(if measuring { 5_000 } else { 50 });
    // The storms to run, by their row's label (all of them by default): a profile of one
    // kind of login runs that one alone.
    let only: Option<Vec<String>> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .map(|list| list.split(',').map(str::to_owned).collect());
    let runs = |label: &str| only.as_ref().is_none_or(|o| o.iter().any(|l| l == label));
    let Some((_, issuer)) = common::bench_services("storm") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let config = common::binary::many_clients_config("storm", connections);
        let proxy = Binary::start_quiet(&config).await;
        let addr = proxy.bootstrap("oauth").await;
        let keys = keys(&issuer).await;
        println!(
            "storm: {connections} logins at once per algorithm from {SOURCES} addresses, proxy pid {}",
            proxy.pid()
        );
        println!(
            "{:<6} {:>10} {:>9} {:>9} {:>9} {:>14} {:>10} {:>13} {:>6} {:>13} {:>6} {:>7}",
            "alg",
            "all served",
            "logins/s",
            "p50",
            "p99",
            "CPU per login",
            "user part",
            "crypto limit",
            "ratio",
            "beyond floor",
            "ratio",
            "faults"
        );
        let floor = {
            let server = SocketFloor::start().await;
            let any = Idp::token(&issuer, CLIENTS[0].1).await;
            let storm = storm(server.pid, &server.addr, &vec![any; connections]).await;
            let failed = report("floor", &storm, None, None);
            assert!(!failed, "every login of the socket floor's storm succeeds");
            storm.cpu_per_login()
        };
        let mut failed = false;
        let mut seen = String::new();
        for (alg, client) in CLIENTS.into_iter().filter(|(alg, _)| runs(alg)) {
            let tokens = tokens(&issuer, client, connections + 1).await;
            // The first login fetches the provider's keys; the storm measures logins alone.
            let (_, code) = Raw::login(&addr, &tokens[connections]).await;
            assert_eq!(code, 0, "{alg}: the warm-up login is refused");
            seen.clone_from(&tokens[connections]);
            let limit = crypto_limit(&keys, &tokens[..connections]);
            let storm = storm(proxy.pid(), &addr, &tokens[..connections]).await;
            failed |= report(alg, &storm, Some(floor), Some(limit));
        }
        if runs("cached") {
            if seen.is_empty() {
                seen = Idp::token(&issuer, CLIENTS[0].1).await;
                let (_, code) = Raw::login(&addr, &seen).await;
                assert_eq!(code, 0, "the warm-up login is refused");
            }
            let again = vec![seen; connections];
            let storm = storm(proxy.pid(), &addr, &again).await;
            failed |= report("cached", &storm, Some(floor), None);
        }
        assert!(!failed, "every login of the storm succeeds");
    });
}

/// Prints one storm's row: its CPU per login beyond the socket `floor` and both against the
/// crypto `limit`, where given. True if a login failed.
fn report(label: &str, storm: &Storm, floor: Option<Duration>, limit: Option<Duration>) -> bool {
    let n = storm.latencies.len() + storm.failures.len();
    let per_login = storm.cpu_per_login();
    let beyond = floor.map(|f| per_login.saturating_sub(f));
    let ratio = |d: Option<Duration>| match (d, limit) {
        (Some(d), Some(l)) => format!("{:.1}×", d.as_secs_f64() / l.as_secs_f64()),
        _ => "-".to_owned(),
    };
    let (whole, over) = (ratio(Some(per_login)), ratio(beyond));
    let limit = limit.map_or("-".to_owned(), |l| format!("{:.1} µs", micros(l)));
    let beyond = beyond.map_or("-".to_owned(), |b| format!("{:.1} µs", micros(b)));
    println!(
        "{label:<6} {:>8.2} s {:>9.0} {:>6.1} ms {:>6.1} ms {:>11.1} µs {:>7.1} µs {limit:>13} {whole:>6} {beyond:>13} {over:>6} {:>7.1}",
        storm.served.as_secs_f64(),
        n as f64 / storm.served.as_secs_f64(),
        common::quantile(&storm.latencies, 0.50).as_secs_f64() * 1e3,
        common::quantile(&storm.latencies, 0.99).as_secs_f64() * 1e3,
        micros(per_login),
        micros(storm.cpu.user / n as u32),
        storm.cpu.faults as f64 / n as f64,
    );
    if let Some(first) = storm.failures.first() {
        println!(
            "{label}: {} logins failed, first: {first}",
            storm.failures.len()
        );
    }
    !storm.failures.is_empty()
}

/// `n` distinct access tokens for `client`, fetched 16 at a time.
async fn tokens(issuer: &str, client: &'static str, n: usize) -> Vec<String> {
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut fetches = Vec::with_capacity(n);
    for _ in 0..n {
        let (issuer, limit) = (issuer.to_owned(), limit.clone());
        fetches.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore");
            Idp::token(&issuer, client).await
        }));
    }
    let mut tokens = Vec::with_capacity(n);
    for fetch in fetches {
        tokens.push(fetch.await.expect("token fetch"));
    }
    tokens
}

/// Every login at once against the server at `addr`, process `pid`, whose CPU time is read
/// before the first and after the last.
async fn storm(pid: u32, addr: &str, tokens: &[String]) -> Storm {
    let cpu_before = Cpu::of(pid);
    let start = Instant::now();
    let mut logins = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1 + (i % SOURCES) as u8));
        let (addr, token) = (addr.to_owned(), token.clone());
        logins.push(tokio::spawn(async move {
            let began = Instant::now();
            let (_connection, code) = Raw::login_from(&addr, Some(source), &token).await;
            (began.elapsed(), code)
        }));
    }
    let (mut latencies, mut failures) = (Vec::with_capacity(tokens.len()), Vec::new());
    for login in logins {
        match login.await {
            Ok((latency, 0)) => latencies.push(latency),
            Ok((_, code)) => failures.push(format!("error code {code}")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let served = start.elapsed();
    // The last connections' ends are the proxy's work too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Storm {
        served,
        latencies,
        failures,
        cpu: Cpu::of(pid).since(cpu_before),
    }
}

/// The signing keys the provider publishes, by key id.
async fn keys(issuer: &str) -> Vec<(String, PublicKey)> {
    let jwks: JwkSet = kafka_oidc_proxy::identity::http_client()
        .expect("http client")
        .get(format!("{issuer}/jwks"))
        .send()
        .await
        .expect("jwks request")
        .json()
        .await
        .expect("a JWKS");
    jwks.keys
        .iter()
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, PublicKey::from_jwk(jwk)?)))
        .collect()
}

/// What the signature check alone of each token costs on one core, on average.
fn crypto_limit(keys: &[(String, PublicKey)], tokens: &[String]) -> Duration {
    let checks: Vec<(&PublicKey, Algorithm, &[u8], Vec<u8>)> = tokens
        .iter()
        .map(|token| {
            let header: serde_json::Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().expect("a header"))
                    .expect("base64"),
            )
            .expect("a JSON header");
            let kid = header["kid"].as_str().expect("a kid");
            let alg: Algorithm = header["alg"]
                .as_str()
                .expect("an alg")
                .parse()
                .expect("alg");
            let key = &keys
                .iter()
                .find(|(id, _)| id == kid)
                .expect("a published key")
                .1;
            let (signed, signature) = token.rsplit_once('.').expect("three parts");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64");
            (key, alg, signed.as_bytes(), signature)
        })
        .collect();
    let start = Instant::now();
    for (key, alg, signed, signature) in &checks {
        assert!(
            key.verify(*alg, signed, signature),
            "the provider's signature verifies"
        );
    }
    start.elapsed() / checks.len() as u32
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The socket floor's server, run as this bench's own process so that its CPU time is its
/// own; it ends with the bench (its stdin closes).
struct SocketFloor {
    _child: tokio::process::Child,
    pid: u32,
    addr: String,
}

impl SocketFloor {
    async fn start() -> SocketFloor {
        let mut child = tokio::process::Command::new(std::env::current_exe().expect("this bench"))
            .arg("--socket-floor")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the socket floor's server");
        let stdout = child.stdout.take().expect("its stdout");
        let mut addr = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut addr)
            .await
            .expect("its address");
        SocketFloor {
            pid: child.id().expect("running"),
            _child: child,
            addr: addr.trim().to_owned(),
        }
    }
}

/// Serves logins with nothing but their socket work, on the runtime the proxy uses (one
/// worker thread per core), until stdin closes.
fn serve_socket_floor() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("bind");
        let listener = socket.listen(4096).expect("listen");
        println!("{}", listener.local_addr().expect("its address"));
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer_logins(stream));
            }
        }
    });
}

/// Answers SaslHandshake and SaslAuthenticate with success until the client closes.
async fn answer_logins(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut frames = FrameReader::new(read, 1 << 20);
    // Reads what each frame needs, as the proxy does before a client has authenticated.
    frames.set_read_ahead(false);
    while let Ok(Some(frame)) = frames.next_frame().await {
        let Ok(header) = parse_request_header(&frame) else {
            return;
        };
        let (version, id) = (header.api_version, header.correlation_id);
        let response = match header.api() {
            Some(api @ ApiKey::SaslHandshake) => encode_response(
                api,
                version,
                id,
                &SaslHandshakeResponse::default().with_mechanisms(vec!["OAUTHBEARER".into()]),
            ),
            Some(api @ ApiKey::SaslAuthenticate) => {
                encode_response(api, version, id, &SaslAuthenticateResponse::default())
            }
            _ => return,
        };
        let response = response.expect("an encodable response");
        if write.write_all(&response).await.is_err() {
            return;
        }
    }
}
