//! Real, unmodified Kafka clients through the proxy against the three-node cluster: each
//! creates a topic (6 partitions, RF 3), produces and consumes back 10,000 keyed messages with
//! no loss and no duplicates, runs a two-member consumer group that commits and rebalances,
//! deletes the topic; plus acks=0, idempotent and transactional producers.
//! The checks live in the client programs (harness/clients/); a failed check fails the test.

mod common;

use common::{ProxyOptions, client_slots, run_client, start_proxy};

async fn scenarios(client: &str, list: &[&[&str]]) {
    let proxy = start_proxy(ProxyOptions::default()).await;
    let bootstrap = proxy.bootstrap();
    for args in list {
        let (scenario, extra) = args.split_first().expect("scenario name");
        let _slot = client_slots().acquire().await.expect("slots");
        let mut all = vec!["--bootstrap", bootstrap.as_str()];
        all.extend_from_slice(extra);
        let run = run_client(client, scenario, &all).await;
        eprintln!("{client} {scenario}: {}", run.json);
    }
    let stats = proxy.proxy.stats();
    assert!(
        proxy
            .proxy
            .shutdown(std::time::Duration::from_secs(10))
            .await,
        "drains"
    );
    assert_eq!(
        stats
            .upstream_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "upstream connections leaked"
    );
}

#[tokio::test]
async fn confluent_kafka() {
    scenarios(
        "confluent",
        &[
            &["basic"],
            &["group"],
            &["acks0"],
            &["idempotent"],
            &["transactions"],
        ],
    )
    .await;
}

#[tokio::test]
async fn kafka_python() {
    scenarios(
        "kafka-python",
        &[&["basic"], &["group"], &["acks0"], &["idempotent"]],
    )
    .await;
}

#[tokio::test]
async fn kafkajs() {
    scenarios(
        "kafkajs",
        &[
            &["basic"],
            &["group"],
            &["acks0"],
            &["idempotent"],
            &["transactions"],
        ],
    )
    .await;
}

#[tokio::test]
async fn java() {
    scenarios(
        "java",
        &[
            &["basic"],
            &["group"],
            &["group", "--group-protocol", "consumer"],
            &["acks0"],
            &["idempotent"],
            &["transactions"],
        ],
    )
    .await;
}
