//! What the management API stores outlives the proxy process: a graceful restart and a
//! kill -9, on SQLite and on PostgreSQL, with the real binary.

mod common;

use std::process::Stdio;
use std::time::Duration;

use kafka_oidc_proxy::management;
use serde_json::{Value, json};

const TOKEN: &str = "restart-test-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Proxy {
    child: tokio::process::Child,
}

impl Proxy {
    async fn start(config: &std::path::Path, api: &str) -> Proxy {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-oidc-proxy"))
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let http = http();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{api}/readyz")).send().await
                && r.status().is_success()
            {
                return Proxy { child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the management API did not become ready at {api}");
    }

    fn kill9(&mut self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn terminate(&mut self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    async fn wait(&mut self) {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the proxy exits")
            .expect("status");
    }
}

fn http() -> reqwest::Client {
    kafka_oidc_proxy::identity::http_client().expect("client")
}

async fn post(api: &str, path: &str, body: Value) -> Value {
    let r = http()
        .post(format!("{api}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 201);
    r.json().await.expect("json")
}

async fn get(api: &str, path: &str) -> Value {
    let r = http()
        .get(format!("{api}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.expect("json")
}

async fn survives_restarts(store: String) {
    let dir = common::Scratch::new("kop-restart");
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let config = dir.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\n\
             [[listeners]]\nname = \"plain\"\nbind_address = \"127.0.0.1\"\n\
             advertised_host = \"127.0.0.1\"\nbootstrap_port = 0\nbroker_port_base = 0\n\
             authentication = \"none\"\n\
             [management]\nlisten = \"127.0.0.1:{port}\"\n\
             [[management.tokens]]\nname = \"t\"\nsha256 = {hash:?}\norganization = \"*\"\n\
             [store]\n{store}\n",
            hash = management::token_hash(TOKEN),
        ),
    )
    .expect("config written");
    let api = format!("http://127.0.0.1:{port}");
    let mut proxy = Proxy::start(&config, &api).await;
    let provider = post(
        &api,
        "/organizations/acme/oauth-providers/",
        json!({"identifier": "dev-1", "issuer": "https://idp.example.com", "audience": "kafka"}),
    )
    .await;
    let binding = post(
        &api,
        "/organizations/acme/acls/",
        json!({"principal": "Group:g", "resource_type": "TOPIC", "resource_name": "t",
               "operation": "READ", "permission": "ALLOW"}),
    )
    .await;
    // kill -9 right after the answers: what was answered 201 is committed.
    proxy.kill9();
    proxy.wait().await;
    let mut proxy = Proxy::start(&config, &api).await;
    let id = provider["id"].as_str().expect("id");
    assert_eq!(
        get(&api, &format!("/organizations/acme/oauth-providers/{id}/")).await,
        provider
    );
    let id = binding["id"].as_str().expect("id");
    assert_eq!(
        get(&api, &format!("/organizations/acme/acls/{id}/")).await,
        binding
    );
    proxy.terminate();
    proxy.wait().await;
    let mut proxy = Proxy::start(&config, &api).await;
    let listed = get(&api, "/organizations/acme/oauth-providers/").await;
    assert_eq!(listed["count"], 1);
    proxy.terminate();
    proxy.wait().await;
}

#[tokio::test]
async fn sqlite_keeps_everything_across_a_restart_and_a_kill_9() {
    let dir = common::Scratch::new("kop-restart-db");
    survives_restarts(format!("data_dir = {:?}", dir.display().to_string())).await;
}

#[tokio::test]
async fn postgresql_keeps_everything_across_a_restart_and_a_kill_9() {
    let url = common::postgres_database().await;
    survives_restarts(format!("url = {url:?}")).await;
}

/// Polls /readyz until its status is `want`; returns the body.
async fn readiness(api: &str, want: u16) -> Value {
    let mut last = None;
    for _ in 0..150 {
        if let Ok(r) = http().get(format!("{api}/readyz")).send().await {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or_default();
            if status == want {
                return body;
            }
            last = Some((status, body));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {want}; last {last:?}");
}

/// Readiness tells the truth: not ready while another writer holds the SQLite store locked,
/// nor while a provider of the configuration file has no keys; a provider registered through
/// the API without keys is listed but keeps the proxy ready.
#[tokio::test]
async fn readiness_follows_the_store_and_the_platforms_providers() {
    use sqlx::Connection;
    let dir = common::Scratch::new("kop-ready");
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let config = dir.join("proxy.toml");
    let base = format!(
        "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\n\
         [[listeners]]\nname = \"plain\"\nbind_address = \"127.0.0.1\"\n\
         advertised_host = \"127.0.0.1\"\nbootstrap_port = 0\nbroker_port_base = 0\n\
         authentication = \"none\"\n\
         [management]\nlisten = \"127.0.0.1:{port}\"\n\
         [[management.tokens]]\nname = \"t\"\nsha256 = {hash:?}\norganization = \"*\"\n\
         [store]\ndata_dir = {data:?}\n",
        hash = management::token_hash(TOKEN),
        data = dir.display().to_string(),
    );
    std::fs::write(&config, &base).expect("config written");
    let api = format!("http://127.0.0.1:{port}");
    let mut proxy = Proxy::start(&config, &api).await;
    post(
        &api,
        "/organizations/acme/oauth-providers/",
        json!({"identifier": "dev-1", "issuer": "https://idp.example.com", "audience": "kafka"}),
    )
    .await;
    let ready = readiness(&api, 200).await;
    assert_eq!(ready["providers_without_keys"], json!(["acme/dev-1"]));
    let db = format!("sqlite://{}/kafka-oidc-proxy.db", dir.display());
    sqlx::any::install_default_drivers();
    let mut locker = sqlx::AnyConnection::connect(&db)
        .await
        .expect("a second writer");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .expect("locked");
    let locked = readiness(&api, 503).await;
    assert!(
        locked["detail"]
            .as_str()
            .is_some_and(|d| d.contains("the store did not answer within 2 s")),
        "{locked}"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("released");
    readiness(&api, 200).await;
    proxy.terminate();
    proxy.wait().await;

    // A provider of the configuration file whose keys cannot be had: not ready, saying which.
    std::fs::write(
        &config,
        format!(
            "{base}[identity]\nallow_http_loopback = true\n[[identity.providers]]\n\
             organization = \"acme\"\nidentifier = \"platform\"\nissuer = \"http://127.0.0.1:9\"\n\
             jwks_endpoint_uri = \"http://127.0.0.1:9/jwks\"\naudience = \"kafka\"\n"
        ),
    )
    .expect("config written");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-oidc-proxy"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let unready = readiness(&api, 503).await;
    assert!(
        unready["detail"]
            .as_str()
            .is_some_and(|d| d.contains("identity provider acme/platform has no signing keys yet")),
        "{unready}"
    );
    let _ = child.kill().await;
}
