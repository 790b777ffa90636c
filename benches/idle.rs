//! What an idle authenticated connection costs the proxy binary: N clients (10,000, fewer when
//! the descriptor limit cannot hold a client and an upstream connection each) connect from 50
//! loopback addresses to the proxy's three broker ports in turn, as clients spread over the
//! brokers, log in with an access token and ask for Metadata (which opens the proxy's own
//! connection to that broker), then stay open. Reports the proxy's resident memory before and
//! with them all open, per connection, and its descriptors and threads.
//!
//! Needs the test cluster and provider (what `scripts/test.sh` starts; `KOP_KEEP_CLUSTER=1
//! scripts/test.sh --test addresses` leaves them running), then:
//!
//!   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
//!   cargo bench --bench idle [-- --connections N]
//!
//! Without them it says so and measures nothing. Under `cargo test` it holds 60 connections.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::Idp;
use common::binary::Binary;
use common::raw::Raw;
use kafka_protocol::messages::MetadataRequest;

const SOURCES: usize = 50;

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let asked = std::env::args()
        .skip_while(|a| a != "--connections")
        .nth(1)
        .map(|n| n.parse::<usize>().expect("--connections N"));
    let Some((_, issuer)) = common::bench_services("idle") else {
        return;
    };
    // The proxy holds two descriptors a connection (client and upstream), this process one.
    let room = descriptor_limit().saturating_sub(200) / 2;
    let connections = asked
        .unwrap_or(if measuring { 10_000 } else { 60 })
        .min(room);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let config = common::binary::many_clients_config("idle", connections);
        let proxy = Binary::start_quiet(&config).await;
        let bootstrap = proxy.bootstrap("oauth").await;
        let token = Idp::token(&issuer, "kafka-producer").await;
        let brokers = brokers(&bootstrap, &token).await;
        // One login of each kind first, so that the keys, the caches and the runtime's
        // threads are there before the baseline.
        for broker in &brokers {
            drop(idle(broker, None, &token).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = proxy.status_kib("VmRSS");
        let mut open = Vec::with_capacity(connections);
        for chunk in (0..connections).collect::<Vec<_>>().chunks(500) {
            let mut logins = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let broker = brokers[i % brokers.len()].clone();
                let source = IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1 + (i % SOURCES) as u8));
                let token = token.clone();
                logins.push(tokio::spawn(async move {
                    idle(&broker, Some(source), &token).await
                }));
            }
            for login in logins {
                open.push(login.await.expect("a login"));
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let with = proxy.status_kib("VmRSS");
        let per = (with.saturating_sub(before)) as f64 * 1024.0 / connections as f64;
        println!(
            "idle: {connections} authenticated connections over {} brokers from {SOURCES} addresses",
            brokers.len()
        );
        println!("proxy RSS before  {:>8} KiB", before);
        println!("proxy RSS with    {:>8} KiB", with);
        println!("per connection    {:>8.1} KiB (client and upstream side)", per / 1024.0);
        println!("descriptors       {:>8}", count(proxy.pid(), "fd"));
        println!("threads           {:>8}", count(proxy.pid(), "task"));
        assert_eq!(open.len(), connections);
        drop(open);
    });
}

/// The proxy's broker addresses, as its Metadata answers them.
async fn brokers(bootstrap: &str, token: &str) -> Vec<String> {
    let (mut c, code) = Raw::login(bootstrap, token).await;
    assert_eq!(code, 0, "login");
    let m = c
        .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    m.brokers
        .iter()
        .map(|b| format!("{}:{}", b.host, b.port))
        .collect()
}

/// A connection that logged in and had its Metadata answered (so the proxy's upstream
/// connection is open), then does nothing.
async fn idle(addr: &str, source: Option<IpAddr>, token: &str) -> Raw {
    let (mut c, code) = Raw::login_from(addr, source, token).await;
    assert_eq!(code, 0, "login");
    let m = c
        .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    assert!(!m.brokers.is_empty(), "Metadata answered");
    c
}

/// This process's soft limit on open descriptors.
fn descriptor_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// How many entries /proc/<pid>/<dir> has (fd: descriptors, task: threads).
fn count(pid: u32, dir: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/{dir}"))
        .map(|d| d.count())
        .unwrap_or(0)
}
