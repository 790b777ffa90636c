//! TLS on both sides, and the proxy's own SASL towards brokers: librdkafka with
//! security.protocol=SSL against a TLS listener of the proxy (test CA made by the harness), the
//! proxy over TLS to the brokers' SSL listener, and over SASL PLAIN / SCRAM to their SASL
//! listener.

mod common;

use common::raw::Raw;
use common::{ProxyOptions, client_slots, env, run_client, start_proxy, tls_dir, wait_for_log};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

fn bootstrap(var: &str) -> Vec<String> {
    env(var).split(',').map(str::to_owned).collect()
}

#[tokio::test]
async fn librdkafka_over_tls_to_the_proxy() {
    let dir = tls_dir();
    let proxy = start_proxy(ProxyOptions {
        listener_tls: Some((dir.join("proxy.pem"), dir.join("proxy.key"))),
        ..ProxyOptions::default()
    })
    .await;
    let ca = dir.join("ca.pem");
    let _slot = client_slots().acquire().await.expect("slots");
    let args = [
        "--bootstrap",
        &proxy.bootstrap(),
        "--security-protocol",
        "SSL",
        "--ca-file",
        ca.to_str().expect("utf-8 path"),
    ];
    run_client("confluent", "basic", &args).await;
}

#[tokio::test]
async fn proxy_to_brokers_over_tls() {
    let ca = tls_dir().join("ca.pem");
    let proxy = start_proxy(ProxyOptions {
        bootstrap_servers: bootstrap("KOP_KAFKA_SSL_BOOTSTRAP"),
        extra_upstream: format!("[upstream.tls]\nca_file = {ca:?}\n"),
        ..ProxyOptions::default()
    })
    .await;
    let _slot = client_slots().acquire().await.expect("slots");
    run_client("confluent", "basic", &["--bootstrap", &proxy.bootstrap()]).await;
}

async fn sasl_proxy(mechanism: &str, password: &str, wait_ready: bool) -> common::TestProxy {
    start_proxy(ProxyOptions {
        bootstrap_servers: bootstrap("KOP_KAFKA_SASL_BOOTSTRAP"),
        extra_upstream: format!(
            "[upstream.sasl]\nmechanism = {mechanism:?}\nusername = {:?}\npassword = {password:?}\n",
            env("KOP_KAFKA_SASL_USER")
        ),
        wait_ready,
        ..ProxyOptions::default()
    })
    .await
}

#[tokio::test]
async fn proxy_authenticates_to_brokers_with_plain_and_scram() {
    let password = env("KOP_KAFKA_SASL_PASSWORD");
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let proxy = sasl_proxy(mechanism, &password, true).await;
        let mut c = Raw::connect(&proxy.bootstrap()).await;
        assert_eq!(
            c.request(3, &ApiVersionsRequest::default())
                .await
                .error_code,
            0
        );
        let metadata = c
            .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
            .await;
        assert_eq!(metadata.brokers.len(), 3, "{mechanism}");
        if mechanism == "SCRAM-SHA-512" {
            let _slot = client_slots().acquire().await.expect("slots");
            run_client(
                "kafka-python",
                "basic",
                &["--bootstrap", &proxy.bootstrap(), "--messages", "2000"],
            )
            .await;
        }
    }
}

#[tokio::test]
async fn wrong_upstream_password_is_reported_and_never_logged() {
    let _proxy = sasl_proxy("SCRAM-SHA-256", "not-the-password", false).await;
    let line = wait_for_log(&[
        "upstream metadata refresh failed",
        "sasl authentication to the broker failed",
    ])
    .await;
    assert!(
        !common::logs().contains("not-the-password"),
        "the password appeared in the logs: {line}"
    );
}
