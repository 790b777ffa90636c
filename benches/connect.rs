//! How long a new client connection takes to be ready, through the proxy and direct to a
//! broker, measured side by side: TCP connect, ApiVersions, (SaslHandshake and
//! SaslAuthenticate with an access token from the real provider,) and a first Metadata request
//! answered. Through the proxy that includes opening its upstream connection.
//!
//! Needs the test cluster and provider (what `scripts/test.sh` starts; `KOP_KEEP_CLUSTER=1
//! scripts/test.sh --test addresses` leaves them running), then:
//!
//!   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
//!   cargo bench --bench connect
//!
//! Without them it says so and measures nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use bytes::Bytes;
use common::raw::Raw;
use criterion::{BatchSize, Criterion};
use kafka_oidc_proxy::identity::http_client;
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};

/// Connects and makes the connection ready to produce: returns once Metadata is answered.
async fn ready(addr: &str, token: Option<&str>) -> Raw {
    let mut c = Raw::connect(addr).await;
    // Brokers refuse ApiVersions v3 without a client software name (INVALID_REQUEST).
    let versions = ApiVersionsRequest::default()
        .with_client_software_name("kop-bench".into())
        .with_client_software_version("1".into());
    assert_eq!(c.request(3, &versions).await.error_code, 0);
    if let Some(token) = token {
        let hs = SaslHandshakeRequest::default().with_mechanism("OAUTHBEARER".into());
        assert_eq!(c.request(1, &hs).await.error_code, 0);
        let message = format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}");
        let auth = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let r = c.request(2, &auth).await;
        assert!(
            r.error_code == 0 && r.auth_bytes.is_empty(),
            "token refused"
        );
    }
    let metadata = MetadataRequest::default().with_topics(Some(vec![]));
    assert!(!c.request(12, &metadata).await.brokers.is_empty());
    c
}

async fn token(http: &reqwest::Client, issuer: &str) -> String {
    let body: serde_json::Value = http
        .post(format!("{issuer}/token"))
        .basic_auth("kafka-producer", Some("kafka-producer-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=kafka")
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token response");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn main() {
    let Some((bootstrap, issuer)) = common::bench_services("connect") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = http_client().expect("http client");
    let open = rt.block_on(common::bench_proxy(&bootstrap, &issuer, "none", "*"));
    let oauth = rt.block_on(common::bench_proxy(&bootstrap, &issuer, "oauthbearer", "*"));
    let open_addr = open.bootstrap_addr("bench").expect("listener").to_string();
    let oauth_addr = oauth.bootstrap_addr("bench").expect("listener").to_string();
    let broker = bootstrap.split(',').next().unwrap_or_default().to_owned();
    let same_token = rt.block_on(token(&http, &issuer));

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("connection_ready");
    group.bench_function("direct", |b| b.iter(|| rt.block_on(ready(&broker, None))));
    group.bench_function("proxy_no_auth", |b| {
        b.iter(|| rt.block_on(ready(&open_addr, None)))
    });
    group.bench_function("proxy_oauthbearer_cached_token", |b| {
        b.iter(|| rt.block_on(ready(&oauth_addr, Some(&same_token))))
    });
    group.bench_function("proxy_oauthbearer_new_token", |b| {
        b.iter_batched(
            || rt.block_on(token(&http, &issuer)),
            |t| rt.block_on(ready(&oauth_addr, Some(&t))),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    c.final_summary();
}
