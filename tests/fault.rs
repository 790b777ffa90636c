//! A broker is stopped and restarted while an idempotent acks=all producer and a consumer run
//! through the proxy: every acknowledged message is consumed exactly once afterwards, and the
//! proxy neither crashes nor leaks connections. A proxy started while the broker is down opens
//! its port when it returns.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::raw::Raw;
use common::{ProxyOptions, cluster, env, run_client, start_proxy};
use kafka_protocol::messages::MetadataRequest;

/// Restarts node 2 even if the test fails half-way, so later tests find a whole cluster.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        cluster(&["start-node", "2"]);
    }
}

#[tokio::test]
async fn broker_restart_under_load() {
    let proxy = start_proxy(ProxyOptions::default()).await;
    let bootstrap = proxy.bootstrap();
    let topic = format!("fault-{}", std::process::id());
    let acked = std::env::temp_dir().join(format!("{topic}.acked"));
    let acked_arg = acked.to_str().expect("utf-8 path").to_owned();

    let producer = {
        let (b, t, a) = (bootstrap.clone(), topic.clone(), acked_arg.clone());
        tokio::spawn(async move {
            run_client(
                "java",
                "produce-continuous",
                &[
                    "--bootstrap",
                    &b,
                    "--topic",
                    &t,
                    "--duration-s",
                    "40",
                    "--rate",
                    "200",
                    "--acked-file",
                    &a,
                    "--keep-topic",
                    "--timeout",
                    "240",
                ],
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A consumer reading the same topic through the proxy across the outage.
    let consumer = {
        let b = bootstrap.clone();
        let t = topic.clone();
        tokio::spawn(async move {
            tokio::process::Command::new(env("KOP_KAFKA_CLUSTER_SH"))
                .args([
                    "tool",
                    "console-consumer",
                    "--bootstrap-server",
                    &b,
                    "--topic",
                    &t,
                    "--from-beginning",
                ])
                .args([
                    "--max-messages",
                    "6000",
                    "--timeout-ms",
                    "90000",
                    "--group",
                    &format!("{t}-live"),
                ])
                .kill_on_drop(true)
                .output()
                .await
                .expect("console consumer runs")
        })
    };

    tokio::time::sleep(Duration::from_secs(6)).await;
    let restart = RestartOnDrop;
    cluster(&["stop-node", "2"]);
    // A proxy started now learns only nodes 1 and 3; node 2 must get its listener when it
    // comes back, without a restart.
    let late = start_proxy(ProxyOptions::default()).await;
    let late_nodes: Vec<i32> = late
        .proxy
        .broker_ports("test")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(late_nodes, [1, 3], "only the running brokers get listeners");
    tokio::time::sleep(Duration::from_secs(12)).await;
    drop(restart); // start-node 2
    let mut node2 = None;
    for _ in 0..200 {
        node2 = late
            .proxy
            .broker_ports("test")
            .into_iter()
            .find(|(n, _)| *n == 2);
        if node2.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, port) = node2.expect("node 2 got a listener after it came back");
    let mut c = Raw::connect(&format!("127.0.0.1:{port}")).await;
    let metadata = c
        .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    assert!(
        metadata
            .brokers
            .iter()
            .any(|b| b.node_id.0 == 2 && b.port == i32::from(port)),
        "node 2 served through its new port"
    );

    let produced = producer.await.expect("producer task");
    let acked_count = produced.json["acked"]
        .as_u64()
        .or_else(|| produced.json["acknowledged"].as_u64());
    eprintln!("producer: {}", produced.json);
    let consumed = consumer.await.expect("consumer task");
    let lines = String::from_utf8_lossy(&consumed.stdout).lines().count();
    assert!(
        consumed.status.success(),
        "live consumer failed: {}",
        String::from_utf8_lossy(&consumed.stderr)
    );
    assert_eq!(
        lines, 6000,
        "the live consumer read 6000 messages across the broker restart"
    );

    let verified = run_client(
        "java",
        "consume-verify",
        &[
            "--bootstrap",
            &bootstrap,
            "--topic",
            &topic,
            "--acked-file",
            &acked_arg,
        ],
    )
    .await;
    eprintln!("verify: {} (producer acked {acked_count:?})", verified.json);
    let _ = std::fs::remove_file(&acked);

    let stats = proxy.proxy.stats();
    for _ in 0..100 {
        if stats.client_connections.load(Ordering::Relaxed) == 0
            && stats.upstream_connections.load(Ordering::Relaxed) == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stats.client_connections.load(Ordering::Relaxed),
        0,
        "client connections leaked"
    );
    assert_eq!(
        stats.upstream_connections.load(Ordering::Relaxed),
        0,
        "upstream connections leaked"
    );
    assert!(!common::logs().contains("panic"), "the proxy panicked");
}
