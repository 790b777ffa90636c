//! No client ever learns a real broker address: every broker a client sees (Metadata,
//! FindCoordinator, DescribeCluster) is a proxy address.

mod common;

use std::collections::BTreeSet;

use common::raw::Raw;
use common::{ProxyOptions, client_slots, kafka_bootstrap, run_client, start_proxy};
use kafka_protocol::messages::{DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest};

fn proxy_addresses(proxy: &common::TestProxy) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = proxy
        .proxy
        .broker_ports("test")
        .into_iter()
        .map(|(_, port)| format!("127.0.0.1:{port}"))
        .collect();
    set.insert(proxy.bootstrap());
    set
}

#[tokio::test]
async fn raw_responses_hold_only_proxy_addresses() {
    let proxy = start_proxy(ProxyOptions::default()).await;
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let mut seen = Vec::new();
    for version in [0, 1, 4, 9, 12] {
        let request =
            MetadataRequest::default().with_topics(if version == 0 { Some(vec![]) } else { None });
        let r = c.request(version, &request).await;
        assert_eq!(
            r.brokers.len(),
            3,
            "Metadata v{version} lists the three brokers"
        );
        seen.extend(
            r.brokers
                .iter()
                .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))),
        );
    }
    for version in [0, 3] {
        let r = c
            .request(
                version,
                &FindCoordinatorRequest::default().with_key("addresses-test".into()),
            )
            .await;
        if r.error_code == 0 {
            seen.push((r.node_id.0, format!("{}:{}", r.host.as_str(), r.port)));
        }
    }
    for version in [4, 6] {
        let r = c
            .request(
                version,
                &FindCoordinatorRequest::default()
                    .with_coordinator_keys(vec!["addresses-test".into(), "other".into()]),
            )
            .await;
        seen.extend(
            r.coordinators
                .iter()
                .filter(|k| k.error_code == 0)
                .map(|k| (k.node_id.0, format!("{}:{}", k.host.as_str(), k.port))),
        );
    }
    for version in [0, 1, 2] {
        let r = c.request(version, &DescribeClusterRequest::default()).await;
        assert_eq!(r.brokers.len(), 3);
        seen.extend(
            r.brokers
                .iter()
                .map(|b| (b.broker_id.0, format!("{}:{}", b.host.as_str(), b.port))),
        );
    }
    let allowed = proxy_addresses(&proxy);
    let real: Vec<String> = kafka_bootstrap();
    assert!(
        seen.iter().any(|(_, a)| a != &proxy.bootstrap()),
        "some broker addresses were seen"
    );
    for (node, addr) in &seen {
        assert!(
            !real.contains(addr),
            "node {node}: real address {addr} leaked"
        );
        assert!(
            allowed.contains(addr),
            "node {node}: {addr} is not a proxy address ({allowed:?})"
        );
    }
    // Each node keeps one proxy address across APIs and versions.
    let mut by_node = std::collections::BTreeMap::new();
    for (node, addr) in seen {
        assert_eq!(
            by_node.entry(node).or_insert_with(|| addr.clone()),
            &addr,
            "node {node} has two addresses"
        );
    }
}

#[tokio::test]
async fn real_clients_only_learn_proxy_addresses() {
    let proxy = start_proxy(ProxyOptions::default()).await;
    let bootstrap = proxy.bootstrap();
    let real = kafka_bootstrap();
    for client in ["java", "confluent", "kafkajs", "kafka-python"] {
        let _slot = client_slots().acquire().await.expect("slots");
        let run = run_client(
            client,
            "brokers",
            &["--bootstrap", &bootstrap, "--messages", "100"],
        )
        .await;
        let addresses: Vec<String> = run.json["addresses"]
            .as_array()
            .unwrap_or_else(|| panic!("{client}: no addresses in {}", run.json))
            .iter()
            .map(|a| a.as_str().expect("address string").to_owned())
            .collect();
        assert!(addresses.len() >= 3, "{client} saw {addresses:?}");
        let allowed = proxy_addresses(&proxy);
        for a in &addresses {
            assert!(
                !real.contains(a),
                "{client} learned the real broker address {a}"
            );
            assert!(
                allowed.contains(a),
                "{client} learned {a}, not a proxy address ({allowed:?})"
            );
        }
    }
}
