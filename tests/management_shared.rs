//! Two proxies sharing one store: a provider registered through one proxy's API authenticates
//! clients on the other proxy too, and its deletion there too, with no restart. On PostgreSQL
//! the store's notification (LISTEN/NOTIFY) tells the other proxy; on SQLite, which has none,
//! the store poll (store.poll_interval_ms) does.

mod common;

use std::time::{Duration, Instant};

use common::raw::Raw;
use common::{Idp, TestProxy};
use kafka_oidc_proxy::management::{self, Running};
use serde_json::json;

const TOKEN: &str = "shared-store-token";

/// Whether `token` authenticates on `addr`.
async fn authenticates(addr: &str, token: &str) -> bool {
    Raw::login(addr, token).await.1 == 0
}

async fn proxy_on(store_url: &str, poll_ms: u64) -> (TestProxy, Running) {
    let extra = format!(
        "[identity]\nallow_http_loopback = true\n\
         [[identity.providers]]\norganization = \"acme\"\nidentifier = \"main-idp\"\n\
         issuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\n\
         [management]\nlisten = \"127.0.0.1:0\"\n\
         [[management.tokens]]\nname = \"t\"\nsha256 = {hash:?}\norganization = \"*\"\n\
         [store]\nurl = {store_url:?}\npoll_interval_ms = {poll_ms}\n",
        issuer = Idp::issuer(),
        hash = management::token_hash(TOKEN),
    );
    common::start_with_management(extra).await
}

/// Waits (generously) until `check` holds; returns how long it took.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: not within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// With a poll every 10 minutes, only the notification can tell the other proxy in time.
#[tokio::test]
async fn two_proxies_on_one_postgresql_apply_each_others_changes_when_notified() {
    let store = common::postgres_database().await;
    apply_each_others_changes(&store, 600_000).await;
}

#[tokio::test]
async fn two_proxies_on_one_sqlite_file_apply_each_others_changes_by_polling() {
    let dir = common::Scratch::new("kop-shared");
    let store = format!("sqlite://{}/store.db", dir.display());
    apply_each_others_changes(&store, 200).await;
}

async fn apply_each_others_changes(store: &str, poll_ms: u64) {
    let (a, api_a) = proxy_on(store, poll_ms).await;
    let (b, _api_b) = proxy_on(store, poll_ms).await;
    let second = Idp::token(&Idp::second_issuer(), "kafka-producer").await;
    assert!(!authenticates(&b.bootstrap(), &second).await);

    let http = kafka_oidc_proxy::identity::http_client().expect("client");
    let created = http
        .post(format!(
            "http://{}/organizations/globex/oauth-providers/",
            api_a.addr()
        ))
        .bearer_auth(TOKEN)
        .json(
            &json!({"identifier": "second-idp", "issuer": Idp::second_issuer(),
                      "audience": "kafka", "scope": "kafka"}),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status().as_u16(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    assert!(
        authenticates(&a.bootstrap(), &second).await,
        "at once where it was registered"
    );
    let took = until("the other proxy accepts the new provider", async || {
        authenticates(&b.bootstrap(), &second).await
    })
    .await;
    eprintln!("the other proxy applied the new provider after {took:?}");

    let id = created["id"].as_str().expect("id");
    let deleted = http
        .delete(format!(
            "http://{}/organizations/globex/oauth-providers/{id}/",
            api_a.addr()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answered");
    assert_eq!(deleted.status().as_u16(), 204);
    let took = until("the other proxy refuses the deleted provider", async || {
        !authenticates(&b.bootstrap(), &second).await
    })
    .await;
    eprintln!("the other proxy applied the deletion after {took:?}");
}
