//! `/metrics` of the real binary while a real client (librdkafka) produces through it: the
//! exposition is parsed by the Prometheus project's own OpenMetrics parser
//! (harness/metrics/scrape.py), and the figures add up with what the client itself counted on
//! its broker connections (librdkafka's statistics): requests, bytes both ways, connections.
//! Also the metrics listener's `/healthz` and `/readyz`.

mod common;

use common::binary::{Binary, oauth_listener_config};
use common::{Idp, login_args, repo, run_client, unique_tag};
use serde_json::Value;

/// Scrapes `url` and parses it with prometheus_client's OpenMetrics parser.
async fn scrape(url: &str) -> Value {
    let python = repo().join("target/harness/venv/bin/python");
    let out = tokio::process::Command::new(python)
        .arg(repo().join("harness/metrics/scrape.py"))
        .arg(url)
        .output()
        .await
        .expect("scrape.py runs");
    assert!(
        out.status.success(),
        "the exposition does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("scrape.py prints JSON")
}

/// The sum of the samples named `name` whose labels include every pair of `labels`.
fn sum(scraped: &Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    scraped["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().expect("a number"))
        .sum()
}

async fn get(url: &str) -> (u16, Value) {
    let response = kafka_oidc_proxy::identity::http_client()
        .expect("client")
        .get(url)
        .send()
        .await
        .expect("the metrics listener answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn metrics_add_up_with_what_a_real_client_counted() {
    let (base, path) = oauth_listener_config("metrics");
    let config = format!(
        "{base}[metrics]\nlisten = \"127.0.0.1:0\"\n{}{}",
        Idp::identity_toml(""),
        Idp::allow_everyone()
    );
    std::fs::write(&path, config).expect("config");
    let proxy = Binary::start(&path).await;
    let bootstrap = proxy.bootstrap("oauth").await;
    let line = proxy.line(&["metrics listening"]).await;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .expect("addr= in the line")
        .to_owned();
    let url = format!("http://{addr}");

    // Before any client: the build and nothing counted yet.
    let before = scrape(&format!("{url}/metrics")).await;
    assert_eq!(sum(&before, "kop_build_info", &[]), 1.0);
    assert_eq!(sum(&before, "kop_requests_total", &[]), 0.0);
    assert!(
        before["content_type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{}",
        before["content_type"]
    );

    let topic = format!("metrics-{}", unique_tag());
    let mut args = vec!["--bootstrap", bootstrap.as_str()];
    let login = login_args("kafka-producer");
    args.extend(login.iter().map(String::as_str));
    args.extend_from_slice(&["--topic", &topic, "--messages", "2000"]);
    let run = run_client("confluent", "produce-stats", &args).await;
    let client = &run.json["librdkafka"];
    eprintln!("librdkafka counted {client}");
    let counted = |k: &str| client[k].as_f64().expect("a librdkafka total");
    // The client is gone; every connection it made is closed by now or soon.
    let after = scrape(&format!("{url}/metrics")).await;

    // Every request the client sent on its broker connections, and every byte both ways
    // (librdkafka's statistics leave out its bootstrap connection, which the proxy counts
    // apart: one connection, its requests and bytes).
    let broker = [("connection", "broker")];
    assert_eq!(sum(&after, "kop_requests_total", &broker), counted("tx"));
    assert_eq!(
        sum(
            &after,
            "kop_client_bytes_total",
            &[("connection", "broker"), ("direction", "in")]
        ),
        counted("txbytes")
    );
    assert_eq!(
        sum(
            &after,
            "kop_client_bytes_total",
            &[("connection", "broker"), ("direction", "out")]
        ),
        counted("rxbytes")
    );
    assert_eq!(
        sum(
            &after,
            "kop_client_connections_opened_total",
            &[("listener", "oauth"), ("connection", "broker")]
        ),
        counted("connects")
    );
    assert_eq!(
        sum(
            &after,
            "kop_client_connections_opened_total",
            &[("connection", "bootstrap")]
        ),
        1.0
    );
    let bootstrap = [("connection", "bootstrap")];
    assert!(
        sum(&after, "kop_requests_total", &bootstrap) >= 3.0,
        "ApiVersions and the login"
    );
    assert!(
        sum(
            &after,
            "kop_client_bytes_total",
            &[("connection", "bootstrap"), ("direction", "in")]
        ) > 0.0
    );
    // Each request answered once, its latency observed under its API key.
    let produce = sum(&after, "kop_requests_total", &[("api", "Produce")]);
    assert!(produce >= 1.0);
    assert_eq!(
        sum(
            &after,
            "kop_request_duration_seconds_count",
            &[("api", "Produce")]
        ),
        produce
    );
    assert_eq!(
        sum(&after, "kop_request_duration_seconds_count", &broker),
        counted("rx")
    );
    // The proxy's own part is observed for every request: all of a local answer's time, and
    // of a forwarded one only what the broker did not take.
    let own_and_whole = |field: &str, labels: &[(&str, &str)]| {
        (
            sum(
                &after,
                &format!("kop_request_proxy_duration_seconds_{field}"),
                labels,
            ),
            sum(
                &after,
                &format!("kop_request_duration_seconds_{field}"),
                labels,
            ),
        )
    };
    for api in ["Produce", "ApiVersions"] {
        let (own, whole) = own_and_whole("count", &[("api", api)]);
        assert_eq!(own, whole, "{api}");
    }
    let (own, whole) = own_and_whole("sum", &[("api", "Produce")]);
    assert!(
        own > 0.0 && own < whole,
        "Produce: {own} s of the proxy's own in {whole} s"
    );
    let (own, whole) = own_and_whole(
        "sum",
        &[("api", "ApiVersions"), ("connection", "bootstrap")],
    );
    assert_eq!(
        own, whole,
        "ApiVersions is answered by the proxy: all of its time is the proxy's"
    );
    // Logins by organization and provider; authorization by organization and API key.
    let logins = sum(
        &after,
        "kop_authentications_total",
        &[
            ("organization", "acme"),
            ("provider", "main-idp"),
            ("result", "success"),
        ],
    );
    assert_eq!(
        logins,
        counted("connects") + 1.0,
        "one login per connection"
    );
    assert!(
        sum(
            &after,
            "kop_authorization_decisions_total",
            &[
                ("organization", "acme"),
                ("api", "Produce"),
                ("result", "allowed")
            ]
        ) >= produce
    );
    assert!(sum(&after, "kop_jwks_fetches_total", &[("result", "success")]) >= 1.0);
    // No label carries a topic name or a principal.
    let text = after["samples"].to_string();
    assert!(!text.contains(&topic), "a topic name in the labels");
    assert!(
        !text.contains("kafka-producer"),
        "a principal in the labels"
    );

    // The data plane's health.
    assert_eq!(get(&format!("{url}/healthz")).await.0, 200);
    let (status, body) = get(&format!("{url}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"], "answering", "{body}");
    let _ = std::fs::remove_file(&path);
}
