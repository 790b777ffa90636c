//! Hostile requests of authenticated clients against the real binary: every list-of-names
//! request, at any size it may have, costs the proxy a bounded amount of memory and of log,
//! and the other clients are served throughout.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::binary::Binary;
use common::raw::{Raw, connect_from};
use common::{Idp, acl};
use kafka_oidc_proxy::kafka::header::parse_response_header;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

/// `limits.max_request_bytes` and `limits.max_request_entries` at their defaults.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
const MAX_REQUEST_ENTRIES: usize = 100_000;

/// A request whose one array of names is repeated as often as the test likes: `head`, the
/// array's count, `entry` that many times, `tail` (all in the request's flexible version).
struct Shape {
    api: ApiKey,
    version: i16,
    head: &'static [u8],
    entry: &'static [u8],
    tail: &'static [u8],
}

/// Every list-of-names request, with the smallest entry its version allows: an empty name.
const SHAPES: &[Shape] = &[
    Shape {
        api: ApiKey::DescribeGroups,
        version: 5,
        head: &[],
        entry: &[1],
        tail: &[0, 0],
    },
    Shape {
        api: ApiKey::DeleteGroups,
        version: 2,
        head: &[],
        entry: &[1],
        tail: &[0],
    },
    Shape {
        api: ApiKey::ConsumerGroupDescribe,
        version: 0,
        head: &[],
        entry: &[1],
        tail: &[0, 0],
    },
    Shape {
        api: ApiKey::DescribeTransactions,
        version: 0,
        head: &[],
        entry: &[1],
        tail: &[0],
    },
    Shape {
        api: ApiKey::FindCoordinator,
        version: 4,
        head: &[0],
        entry: &[1],
        tail: &[0],
    },
    Shape {
        api: ApiKey::DeleteTopics,
        version: 5,
        head: &[],
        entry: &[1],
        tail: &[0, 0, 0x75, 0x30, 0],
    },
    // groups: {group_id "", topics null, no tags}
    Shape {
        api: ApiKey::OffsetFetch,
        version: 8,
        head: &[],
        entry: &[1, 0, 0],
        tail: &[0, 0],
    },
];

fn uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// The request frame with `entries` names; its header is v2 (flexible).
fn frame(shape: &Shape, entries: usize, correlation_id: i32) -> Bytes {
    let mut b = BytesMut::with_capacity(32 + entries * shape.entry.len());
    b.put_i32(0);
    b.put_i16(shape.api as i16);
    b.put_i16(shape.version);
    b.put_i32(correlation_id);
    b.put_i16(4);
    b.put_slice(b"evil");
    b.put_u8(0);
    b.put_slice(shape.head);
    uvarint(&mut b, entries as u32 + 1);
    for _ in 0..entries {
        b.put_slice(shape.entry);
    }
    b.put_slice(shape.tail);
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// How many entries of the response to `shape` carry an error, and how many there are.
fn failed_entries(shape: &Shape, frame: &Bytes) -> (usize, usize) {
    let (_, offset) =
        parse_response_header(frame, shape.api.response_header_version(shape.version))
            .expect("response header");
    let mut body = frame.slice(offset..);
    let v = shape.version;
    let codes: Vec<i16> = match shape.api {
        ApiKey::DescribeGroups => DescribeGroupsResponse::decode(&mut body, v)
            .map(|r| r.groups.iter().map(|g| g.error_code).collect()),
        ApiKey::DeleteGroups => DeleteGroupsResponse::decode(&mut body, v)
            .map(|r| r.results.iter().map(|g| g.error_code).collect()),
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeResponse::decode(&mut body, v)
            .map(|r| r.groups.iter().map(|g| g.error_code).collect()),
        ApiKey::DescribeTransactions => DescribeTransactionsResponse::decode(&mut body, v)
            .map(|r| r.transaction_states.iter().map(|t| t.error_code).collect()),
        ApiKey::FindCoordinator => FindCoordinatorResponse::decode(&mut body, v)
            .map(|r| r.coordinators.iter().map(|c| c.error_code).collect()),
        ApiKey::DeleteTopics => DeleteTopicsResponse::decode(&mut body, v)
            .map(|r| r.responses.iter().map(|t| t.error_code).collect()),
        ApiKey::OffsetFetch => OffsetFetchResponse::decode(&mut body, v)
            .map(|r| r.groups.iter().map(|g| g.error_code).collect()),
        _ => unreachable!(),
    }
    .expect("a well-formed response");
    (codes.iter().filter(|&&c| c != 0).count(), codes.len())
}

/// A client that asks for Metadata over and over on its own connection and counts the
/// answers: it must keep being served while the others attack.
fn bystander(mut c: Raw) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let task = tokio::spawn(async move {
        loop {
            let r = c
                .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
                .await;
            assert_eq!(r.topics.len(), 0);
            count.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (served, task)
}

/// Asserts that `c` is served: a Metadata request gets the brokers.
async fn assert_served(c: &mut Raw, what: &str) {
    let r = c
        .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    assert!(!r.brokers.is_empty(), "{what}");
}

async fn login(addr: &str, client: &str) -> Raw {
    let token = Idp::token(&Idp::issuer(), client).await;
    let (c, code) = Raw::login(addr, &token).await;
    assert_eq!(code, 0, "{client} authenticates");
    c
}

/// A configuration file for the binary: an OAUTHBEARER listener on the real cluster, the
/// test provider, Group:producers may describe orders.* topics, and `limits` (TOML lines).
fn config_file(limits: &str) -> std::path::PathBuf {
    config_file_with(limits, "")
}

/// As [`config_file`], with `identity` (TOML lines) in `[identity]`.
fn config_file_with(limits: &str, identity: &str) -> std::path::PathBuf {
    let (base, path) = common::binary::oauth_listener_config("hardening");
    let config = format!(
        "{base}[limits]\n{limits}\n{}{}",
        Idp::identity_toml(identity),
        acl(
            "ALLOW",
            "Group:producers",
            "DESCRIBE",
            "TOPIC",
            "PREFIXED",
            "orders."
        ),
    );
    std::fs::write(&path, config).expect("write config");
    path
}

/// Waits until the bystander has been answered again.
async fn still_served(served: &AtomicU64, what: &str) {
    let before = served.load(Ordering::Relaxed);
    for _ in 0..300 {
        if served.load(Ordering::Relaxed) > before + 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bystander was not served after {what}");
}

/// RLIMIT_DATA of the proxy in the amplification test.
const MEMORY_LIMIT: u64 = 512 * 1024 * 1024;

#[tokio::test]
async fn list_of_names_requests_cost_bounded_memory_and_log() {
    let path = config_file("");
    // Under a memory limit far below the 3.456 GB that one such request once asked for.
    let mut proxy = Binary::start_limited(&path, MEMORY_LIMIT).await;
    let addr = proxy.bootstrap("oauth").await;
    assert_eq!(
        proxy.limit("Max data size"),
        MEMORY_LIMIT.to_string(),
        "the memory limit applies"
    );
    let (served, bystander_task) = bystander(login(&addr, "kafka-producer").await);
    still_served(&served, "start").await;

    for shape in SHAPES {
        let name = format!("{:?} v{}", shape.api, shape.version);
        // 16 Mi names, the frame that ended the process: refused from its header.
        let big = frame(shape, 16 * 1024 * 1024, 1);
        // As large as a non-Produce frame may be: more entries than one request may hold.
        let largest = frame(shape, (MAX_REQUEST_BYTES - 64) / shape.entry.len(), 2);
        assert!(largest.len() - 4 <= MAX_REQUEST_BYTES);
        // As many entries as one request may hold: answered, every entry denied.
        let most = frame(shape, MAX_REQUEST_ENTRIES, 3);
        for (what, f) in [
            ("16 Mi names", &big),
            ("largest", &largest),
            ("most entries", &most),
        ] {
            let mut attacker = login(&addr, "kafka-consumer").await;
            let lines = proxy.log().lines().count();
            let before = proxy.reset_peak();
            let _ = attacker.try_send_bytes(f).await;
            if what == "most entries" {
                let answer = attacker.read_frame().await.expect("an answer");
                let (failed, all) = failed_entries(shape, &answer);
                assert_eq!(
                    (failed, all),
                    (MAX_REQUEST_ENTRIES, MAX_REQUEST_ENTRIES),
                    "{name}"
                );
            } else {
                attacker.expect_closed().await;
            }
            still_served(&served, &format!("{name} ({what})")).await;
            let grown = proxy.status_kib("VmHWM").saturating_sub(before) * 1024;
            let logged = proxy.log().lines().count() - lines;
            eprintln!(
                "{name} {what}: frame {} bytes, peak RSS +{} KiB, {logged} log lines",
                f.len(),
                grown / 1024
            );
            assert!(proxy.alive(), "{name} ({what}) ended the proxy");
            assert!(logged <= 4, "{name} ({what}) logged {logged} lines");
            // A refused frame costs at most itself; an answered one its response besides,
            // which for one-byte names is about twelve times the request.
            let bound = if what == "most entries" {
                32 * 1024 * 1024
            } else {
                4 * f.len() as u64
            };
            assert!(
                grown < bound,
                "{name} ({what}): peak RSS grew by {grown} bytes for a {}-byte frame",
                f.len()
            );
        }
    }
    bystander_task.abort();
    let _ = std::fs::remove_file(&path);
}

/// A client's 32 KB client id and 32 KB SASL mechanism name reach the log cut to a bounded
/// length, marked as cut.
#[tokio::test]
async fn client_supplied_strings_are_cut_in_logs() {
    let proxy = common::start_proxy(common::ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone(),
        ..common::ProxyOptions::default()
    })
    .await;
    let tag = common::unique_tag();
    let client_id = format!("{tag}{}", "c".repeat(32_000));
    let mechanism = format!("{tag}{}", "m".repeat(32_000));
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(ApiKey::SaslHandshake as i16);
    b.put_i16(1);
    b.put_i32(1);
    b.put_i16(client_id.len() as i16);
    b.put_slice(client_id.as_bytes());
    b.put_i16(mechanism.len() as i16);
    b.put_slice(mechanism.as_bytes());
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    c.send_bytes(&b).await;
    c.expect_closed().await;
    let line =
        common::wait_for_log(&["closing client connection", "unsupported SASL mechanism"]).await;
    assert!(line.contains("…[truncated, "), "{line}");
    assert!(line.len() < 2048, "a {}-byte log line", line.len());
    for l in common::logs().lines().filter(|l| l.contains(&tag)) {
        assert!(
            l.len() < 2048,
            "a {}-byte log line: {}…",
            l.len(),
            &l[..200]
        );
    }
}

/// One peer holding idle connections gets only its share of unauthenticated slots; another
/// client still connects, logs in and is served, and the refusals make one log line.
#[tokio::test]
async fn one_peer_cannot_take_every_slot() {
    let path = config_file("max_connections = 300\nmax_unauthenticated_per_address = 100");
    let mut proxy = Binary::start(&path).await;
    let addr = proxy.bootstrap("oauth").await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = connect_from(Ipv4Addr::new(127, 0, 0, 2).into(), &addr).await {
            idle.push(s);
        }
    }
    // The refused ones are closed by the proxy at once.
    let line = proxy
        .line(&[
            "connection refused",
            "limits.max_unauthenticated_per_address",
        ])
        .await;
    assert!(line.contains("peer=127.0.0.2"), "{line}");
    let mut c = login(&addr, "kafka-producer").await;
    assert_served(&mut c, "served while the peer holds its share").await;
    let refusals = proxy
        .log()
        .lines()
        .filter(|l| l.contains("connection refused"))
        .count();
    assert_eq!(refusals, 1, "200 refusals, one line");
    assert!(proxy.alive());
    drop(idle);
    let _ = std::fs::remove_file(&path);
}

/// A client that pipelines requests before it authenticates and never reads the answers
/// holds its connection only until the authentication deadline: the proxy stops waiting to
/// write to it, closes it and frees its unauthenticated slot (the only one here) for the next
/// client.
#[tokio::test]
async fn a_client_that_does_not_read_its_answers_is_closed_at_its_deadline() {
    let path = config_file_with(
        "max_unauthenticated_connections = 1",
        "authentication_timeout_secs = 2",
    );
    let mut proxy = Binary::start(&path).await;
    let addr = proxy.bootstrap("oauth").await;
    // ApiVersions v0 requests, answered by the proxy itself, far more than the sockets hold
    // of their answers; the client's receive buffer is kept small.
    let mut requests = BytesMut::new();
    for id in 0..40_000 {
        requests.put_i32(10);
        requests.put_i16(ApiKey::ApiVersions as i16);
        requests.put_i16(0);
        requests.put_i32(id);
        requests.put_i16(-1);
    }
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket
        .connect(addr.parse().expect("address"))
        .await
        .expect("connect");
    let (_unread, mut write) = stream.into_split();
    let flood = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = write.write_all(&requests).await;
        write
    });
    let line = proxy
        .line(&[
            "closing client connection",
            "the client did not read its answers",
        ])
        .await;
    assert!(line.contains("side=\"downstream\""), "{line}");
    // Its slot is free: another client logs in and is served.
    let mut c = login(&addr, "kafka-producer").await;
    assert_served(&mut c, "served after the stalled client").await;
    assert!(proxy.alive());
    flood.abort();
    let _ = std::fs::remove_file(&path);
}

/// 5,000 connections from 50 addresses each send all but the last byte of a 512,000-byte
/// SaslAuthenticate frame: only the unauthenticated cap is admitted, their frames draw on the
/// shared budget, and the proxy's memory grows by far less than the frames; a client that
/// logged in before is served meanwhile.
#[tokio::test]
async fn unauthenticated_frames_share_one_budget() {
    let path = config_file("");
    let mut proxy = Binary::start(&path).await;
    let addr = proxy.bootstrap("oauth").await;
    // A client logged in before: served throughout.
    let mut c = login(&addr, "kafka-producer").await;
    let before = proxy.reset_peak();
    // SaslHandshake v1 "OAUTHBEARER", then the start of a SaslAuthenticate v2 frame.
    let mut hello = BytesMut::new();
    hello.put_i32(23);
    hello.put_i16(ApiKey::SaslHandshake as i16);
    hello.put_i16(1);
    hello.put_i32(1);
    hello.put_i16(-1);
    hello.put_i16(11);
    hello.put_slice(b"OAUTHBEARER");
    let auth_start = hello.len();
    hello.put_i32(512_000);
    hello.put_i16(ApiKey::SaslAuthenticate as i16);
    hello.put_i16(2);
    hello.put_i32(2);
    hello.put_i16(-1);
    hello.put_u8(0);
    // All but the last byte of the frame.
    hello.resize(auth_start + 4 + 511_999, b'x');
    let hello = hello.freeze();
    let mut attackers = Vec::new();
    for i in 0..5_000 {
        let source = Ipv4Addr::new(127, 0, 1, 1 + (i % 50) as u8).into();
        let (addr, hello) = (addr.clone(), hello.clone());
        attackers.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if let Ok(mut s) = connect_from(source, &addr).await {
                let _ = s.write_all(&hello).await;
                // Hold the connection until the test ends.
                tokio::time::sleep(Duration::from_secs(120)).await;
            }
        }));
    }
    assert_served(&mut c, "served while the attackers connect").await;
    // Let the admitted attackers push what they can.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let grown = proxy.status_kib("VmHWM").saturating_sub(before) * 1024;
    eprintln!(
        "5,000 pre-login connections: peak RSS +{} KiB",
        grown / 1024
    );
    assert!(proxy.alive());
    assert!(grown < 100 * 1024 * 1024, "peak RSS grew by {grown} bytes");
    assert_served(&mut c, "still served").await;
    for a in attackers {
        a.abort();
    }
    let _ = std::fs::remove_file(&path);
}
