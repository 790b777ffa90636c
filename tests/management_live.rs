//! The management API on a running proxy, end to end with the real provider, cluster and Java
//! client: a provider registered through the API authenticates on the next connection, an ACL
//! created through it lets a real client produce, deleting the ACL denies the next request of
//! a live connection, and deleting the provider refuses new connections and ends its live
//! sessions within the grace period. Virtual clusters registered, changed and deleted through it
//! open and close their ports and connections before the answer. No restart anywhere.

mod common;

use common::raw::Raw;
use common::{Idp, TestProxy};
use kafka_oidc_proxy::kafka::error_code::{SASL_AUTHENTICATION_FAILED, TOPIC_AUTHORIZATION_FAILED};
use kafka_oidc_proxy::management;
use kafka_oidc_proxy::snapshot::Publish;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::{Value, json};

const TOKEN: &str = "live-test-admin-token";

async fn topic_code(c: &mut Raw, topic: &str) -> i16 {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_owned())),
        ))]));
    let r = c.request(12, &request).await;
    r.topics[0].error_code
}

/// `topic_code` once the broker that answers knows the topic: a topic created a moment ago
/// reaches the brokers' metadata one broker after the other, and until then it is unknown
/// (UNKNOWN_TOPIC_OR_PARTITION, 3) there.
async fn created_topic_code(c: &mut Raw, topic: &str) -> i16 {
    for _ in 0..50 {
        let code = topic_code(c, topic).await;
        if code != 3 {
            return code;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    3
}

async fn api(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    api_as(TOKEN, http, method, url, body).await
}

async fn api_as(
    token: &str,
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A proxy with OAUTHBEARER and `extra` (its `[management]` among it), and its management API.
async fn live(extra: String) -> (TestProxy, management::Running) {
    common::start_with_management(extra).await
}

#[tokio::test]
async fn providers_and_acls_registered_through_the_api_apply_at_once() {
    let t = common::unique_tag();
    let dir = std::env::temp_dir().join(format!("kop-live-{t}"));
    // The file knows only acme (the main provider); globex comes through the API.
    let extra = format!(
        "[identity]\nallow_http_loopback = true\nremoved_provider_grace_secs = 2\n\
         [[identity.providers]]\norganization = \"acme\"\nidentifier = \"main-idp\"\n\
         issuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\n\
         [authorization.super_users]\nacme = [\"Group:platform-admins\"]\n\
         [management]\nlisten = \"127.0.0.1:0\"\n\
         [[management.tokens]]\nname = \"t\"\nsha256 = {hash:?}\norganization = \"*\"\n\
         [store]\ndata_dir = {dir:?}\n{keys}",
        issuer = Idp::issuer(),
        hash = management::token_hash(TOKEN),
        dir = dir.display().to_string(),
        keys = common::store_keys_line(&dir),
    );
    let (proxy, running) = live(extra).await;
    let base = format!("http://{}/organizations/globex", running.addr());
    let http = kafka_oidc_proxy::identity::http_client().expect("client");
    let topic = format!("globex.live{t}");
    let created = common::run_as(
        &proxy,
        "java",
        "authz-admin",
        "kafka-admin",
        &["--create", &topic],
    )
    .await;
    assert_eq!(created["create"][&topic], "ok", "{created}");

    // Unknown issuer: refused.
    let second = Idp::token(&Idp::second_issuer(), "kafka-producer").await;
    let (_, code) = Raw::login(&proxy.bootstrap(), &second).await;
    assert_eq!(code, SASL_AUTHENTICATION_FAILED);

    // Registered through the API: the next connection authenticates.
    let (status, provider) = api(
        &http,
        reqwest::Method::POST,
        format!("{base}/oauth-providers/"),
        Some(json!({
            "organization": "globex", "identifier": "second-idp",
            "issuer": Idp::second_issuer(), "audience": "kafka", "scope": "kafka",
            "token_endpoint_uri": format!("{}/token", Idp::second_issuer()),
            "refresh_token": true
        })),
    )
    .await;
    assert_eq!(status, 201, "{provider}");
    let (mut live, code) = Raw::login(&proxy.bootstrap(), &second).await;
    assert_eq!(code, 0, "the registered provider's token is accepted");
    assert_eq!(
        topic_code(&mut live, &topic).await,
        TOPIC_AUTHORIZATION_FAILED,
        "no grant yet"
    );

    // An ACL through the API: the live connection's next request, and a real client.
    let (status, binding) = api(
        &http,
        reqwest::Method::POST,
        format!("{base}/acls/"),
        Some(json!({
            "principal": "User:kafka-producer", "resource_type": "TOPIC",
            "resource_name": topic, "operation": "WRITE", "permission": "ALLOW"
        })),
    )
    .await;
    assert_eq!(status, 201, "{binding}");
    assert_eq!(topic_code(&mut live, &topic).await, 0);
    let login = [
        "--security-protocol",
        "SASL_PLAINTEXT",
        "--oauth-token-url",
        &format!("{}/token", Idp::second_issuer()),
        "--oauth-client-id",
        "kafka-producer",
        "--oauth-client-secret",
        "kafka-producer-secret",
    ];
    let bootstrap = proxy.bootstrap();
    let mut args = vec!["--bootstrap", bootstrap.as_str()];
    args.extend_from_slice(&login);
    args.extend_from_slice(&["--topics", &topic]);
    let produced = common::run_client("java", "authz-produce", &args)
        .await
        .json;
    assert_eq!(produced["produce"][&topic], "ok", "{produced}");

    // A new client secret (client settings only): the live session goes on past the grace
    // period, and the provider's tokens still authenticate.
    let id = provider["id"].as_str().expect("id");
    let (status, patched) = api(
        &http,
        reqwest::Method::PATCH,
        format!("{base}/oauth-providers/{id}/"),
        Some(json!({ "cfk_client_secret": "rotated-secret" })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    common::wait_for_log(&["identity provider changed (client settings only)", "globex"]).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        topic_code(&mut live, &topic).await,
        0,
        "the session went on"
    );
    let (_, code) = Raw::login(&proxy.bootstrap(), &second).await;
    assert_eq!(code, 0);

    // The ACL deleted: the live connection's next request is denied.
    let id = binding["id"].as_str().expect("id");
    let (status, _) = api(
        &http,
        reqwest::Method::DELETE,
        format!("{base}/acls/{id}/"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        topic_code(&mut live, &topic).await,
        TOPIC_AUTHORIZATION_FAILED
    );

    // The provider deleted: new connections are refused, the live session ends within the
    // grace period.
    let id = provider["id"].as_str().expect("id");
    let (status, _) = api(
        &http,
        reqwest::Method::DELETE,
        format!("{base}/oauth-providers/{id}/"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, code) = Raw::login(&proxy.bootstrap(), &second).await;
    assert_eq!(code, SASL_AUTHENTICATION_FAILED);
    live.expect_closed().await;
    common::wait_for_log(&["closing client connection", "identity provider removed"]).await;
    // acme's file provider was never touched.
    let acme = Idp::token(&Idp::issuer(), "kafka-admin").await;
    let (_, code) = Raw::login(&proxy.bootstrap(), &acme).await;
    assert_eq!(code, 0);

    // The file's bindings, as a SIGHUP reload replaces them, are listed read-only.
    let file: kafka_oidc_proxy::authz::AuthorizationConfig = toml::from_str(&format!(
        "[[acls]]\norganization = \"acme\"\nprincipal = \"Group:producers\"\n\
         resource_type = \"TOPIC\"\nresource_name = {topic:?}\noperation = \"WRITE\"\n\
         permission = \"ALLOW\"\n"
    ))
    .expect("authorization");
    proxy.proxy.published().set_file(&file).expect("reloaded");
    let acme_acls = format!("http://{}/organizations/acme/acls/", running.addr());
    let (status, list) = api(&http, reqwest::Method::GET, acme_acls, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(
        (
            &list["results"][0]["resource_name"],
            &list["results"][0]["read_only"]
        ),
        (&json!(topic), &json!(true)),
        "{list}"
    );
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A port nothing listens on now, with the `extra` ports above it free too.
fn free_ports(extra: u16) -> u16 {
    loop {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = probe.local_addr().expect("address").port();
        drop(probe);
        let Some(last) = port.checked_add(extra) else {
            continue;
        };
        if (port..=last).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return port;
        }
    }
}

/// A free bootstrap port outside the broker range of `base` (base + node id, node ids below
/// 1024), which the API refuses as a bootstrap port.
fn bootstrap_outside(base: u16) -> u16 {
    loop {
        let port = free_ports(0);
        if port < base || port - base >= 1024 {
            return port;
        }
    }
}

/// A bootstrap port and a broker port base (with three free ports after it) that the API
/// takes together.
fn cluster_ports() -> (u16, u16) {
    let base = free_ports(3);
    (bootstrap_outside(base), base)
}

#[tokio::test]
async fn virtual_clusters_registered_through_the_api_open_and_close_at_once() {
    const ACME_TOKEN: &str = "live-test-acme-token";
    let t = common::unique_tag();
    let dir = std::env::temp_dir().join(format!("kop-live-clusters-{t}"));
    let (cert, key) = common::sni::wildcard_certificate(&dir.join("tls"));
    // A fixed port, which the API's answers name.
    let sni_port = free_ports(0);
    let extra = format!(
        "{identity}{everyone}\
         [[listeners]]\nname = \"sni\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"127.0.0.1\"\n\
         bootstrap_port = {sni_port}\nsni_domain = \"kafka.test\"\nauthentication = \"oauthbearer\"\n\
         [listeners.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n\
         [upstreams.dedicated]\nbootstrap_servers = [{dedicated:?}]\n\
         [management]\nlisten = \"127.0.0.1:0\"\n\
         [[management.tokens]]\nname = \"platform\"\nsha256 = {hash:?}\norganization = \"*\"\n\
         [[management.tokens]]\nname = \"acme\"\nsha256 = {acme:?}\norganization = \"acme\"\n\
         [store]\ndata_dir = {dir:?}\n{keys}",
        identity = Idp::identity_toml(""),
        everyone = Idp::allow_everyone(),
        dedicated = common::env("KOP_KAFKA_DEDICATED_BOOTSTRAP"),
        hash = management::token_hash(TOKEN),
        acme = management::token_hash(ACME_TOKEN),
        dir = dir.display().to_string(),
        keys = common::store_keys_line(&dir),
    );
    let (proxy, running) = live(extra).await;
    let http = kafka_oidc_proxy::identity::http_client().expect("client");
    let clusters = |org: &str| format!("http://{}/organizations/{org}/clusters/", running.addr());
    let globex = Idp::token(&Idp::second_issuer(), "kafka-producer").await;
    let acme = Idp::token(&Idp::issuer(), "kafka-producer").await;
    let (port, base) = cluster_ports();
    let body = json!({
        "name": "main", "listener": "test", "bootstrap_port": port, "broker_port_base": base
    });

    // Which upstream cluster an organization reaches is the platform's decision: the
    // organization's own administrators may read its clusters, not make them.
    let (status, refused) = api_as(
        ACME_TOKEN,
        &http,
        reqwest::Method::POST,
        clusters("acme"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, _) = api_as(
        ACME_TOKEN,
        &http,
        reqwest::Method::POST,
        clusters("globex"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 404, "another organization");
    let (status, invalid) = api(
        &http,
        reqwest::Method::POST,
        clusters("globex"),
        Some(json!({
            "name": "Main", "listener": "nowhere", "upstream": "elsewhere",
            "bootstrap_port": 0, "broker_port_base": base
        })),
    )
    .await;
    assert_eq!(status, 400, "{invalid}");
    for field in ["name", "listener", "upstream", "bootstrap_port"] {
        assert!(invalid[field].is_array(), "{field}: {invalid}");
    }

    // Registered: its ports are open when the answer comes.
    let (status, created) = api(
        &http,
        reqwest::Method::POST,
        clusters("globex"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let bootstrap = format!("127.0.0.1:{port}");
    assert_eq!(created["bootstrap_servers"], json!(bootstrap));
    let (mut live, code) = Raw::login(&bootstrap, &globex).await;
    assert_eq!(code, 0, "globex's token on globex's cluster");
    let m = live.request(12, &MetadataRequest::default()).await;
    let mut ports: Vec<i32> = m.brokers.iter().map(|b| b.port).collect();
    ports.sort();
    let base = i32::from(base);
    assert_eq!(ports, [base + 1, base + 2, base + 3]);
    let (_, code) = Raw::login(&bootstrap, &acme).await;
    assert_eq!(code, SASL_AUTHENTICATION_FAILED, "acme's token there");
    let (status, conflict) = api(
        &http,
        reqwest::Method::POST,
        clusters("acme"),
        Some(json!({
            "name": "main", "listener": "test", "bootstrap_port": bootstrap_outside(port),
            "broker_port_base": port
        })),
    )
    .await;
    assert_eq!(status, 409, "{conflict}");
    assert!(conflict["broker_port_base"].is_array(), "{conflict}");
    let (status, listed) = api_as(
        ACME_TOKEN,
        &http,
        reqwest::Method::GET,
        clusters("acme"),
        None,
    )
    .await;
    assert_eq!((status, &listed["count"]), (200, &json!(0)), "{listed}");

    // Moved to the dedicated upstream: the live session ends, and the next one sees its broker.
    let id = created["id"].as_str().expect("id");
    let (status, moved) = api(
        &http,
        reqwest::Method::PATCH,
        format!("{}{id}/", clusters("globex")),
        Some(json!({ "upstream": "dedicated" })),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    live.expect_closed().await;
    let (mut again, code) = Raw::login(&bootstrap, &globex).await;
    assert_eq!(code, 0);
    let m = again.request(12, &MetadataRequest::default()).await;
    assert_eq!(m.brokers.len(), 1, "the one-node cluster");

    // Deleted: its ports and its connections close.
    let delete = async |id: &str| {
        let url = format!("{}{id}/", clusters("globex"));
        api(&http, reqwest::Method::DELETE, url, None).await.0
    };
    assert_eq!(delete(id).await, 204);
    again.expect_closed().await;
    assert!(tokio::net::TcpStream::connect(&bootstrap).await.is_err());

    // In a namespace: the organization's names carry its prefix at the broker; a namespace
    // that overlaps it on the same upstream cluster is refused.
    let (status, spaced) = api(
        &http,
        reqwest::Method::POST,
        clusters("globex"),
        Some(json!({
            "name": "spaced", "listener": "test", "namespace": "globex.",
            "bootstrap_port": port, "broker_port_base": base
        })),
    )
    .await;
    assert_eq!(status, 201, "{spaced}");
    assert_eq!(spaced["namespace"], "globex.");
    let (other_port, other_base) = cluster_ports();
    let (status, overlap) = api(
        &http,
        reqwest::Method::POST,
        clusters("acme"),
        Some(json!({
            "name": "main", "listener": "test", "namespace": "globex.x",
            "bootstrap_port": other_port, "broker_port_base": other_base
        })),
    )
    .await;
    assert_eq!(status, 409, "{overlap}");
    assert!(overlap["namespace"].is_array(), "{overlap}");
    let (mut c, code) = Raw::login(&bootstrap, &globex).await;
    assert_eq!(code, 0);
    let topic = format!("spaced-{t}");
    let created = c
        .request(
            7,
            &kafka_protocol::messages::CreateTopicsRequest::default()
                .with_topics(vec![
                    kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.clone())))
                        .with_num_partitions(1)
                        .with_replication_factor(3),
                ])
                .with_timeout_ms(30_000),
        )
        .await;
    assert_eq!(created.topics[0].name.0.as_str(), topic);
    assert_eq!(created.topics[0].error_code, 0);
    let (mut shared, code) = Raw::login(&proxy.bootstrap(), &globex).await;
    assert_eq!(code, 0);
    assert_eq!(
        created_topic_code(&mut shared, &format!("globex.{topic}")).await,
        0
    );
    assert_eq!(delete(spaced["id"].as_str().expect("id")).await, 204);

    // On the listener that routes by server name: no ports, a name.
    let (status, invalid) = api(
        &http,
        reqwest::Method::POST,
        clusters("globex"),
        Some(json!({ "name": "edge", "listener": "sni", "bootstrap_port": port })),
    )
    .await;
    assert_eq!(status, 400, "{invalid}");
    assert!(invalid["bootstrap_port"].is_array(), "{invalid}");
    let (status, edge) = api(
        &http,
        reqwest::Method::POST,
        clusters("globex"),
        Some(json!({ "name": "edge", "listener": "sni" })),
    )
    .await;
    assert_eq!(status, 201, "{edge}");
    let sni = proxy
        .proxy
        .bootstrap_addr("globex/edge")
        .expect("globex/edge");
    assert_eq!(
        edge["bootstrap_servers"],
        json!(format!("globex-edge.kafka.test:{}", sni.port()))
    );
    common::sni::handshake(sni, "globex-edge-broker-1.kafka.test")
        .await
        .expect("routed by its name");
    // Server names are unique on the listener: globex-edge's cluster a would be globex's
    // cluster edge-a, and no cluster's name may pose as another's broker.
    for (org, name, status) in [
        ("globex", "edge-a", 201),
        ("globex-edge", "a", 409),
        ("globex-edge", "broker-1", 400),
    ] {
        let (got, body) = api(
            &http,
            reqwest::Method::POST,
            clusters(org),
            Some(json!({ "name": name, "listener": "sni" })),
        )
        .await;
        assert_eq!(got, status, "{org}/{name}: {body}");
        if status != 201 {
            assert!(body["name"].is_array(), "{body}");
        }
    }
    assert_eq!(delete(edge["id"].as_str().expect("id")).await, 204);
    let refused = common::sni::handshake(sni, "globex-edge.kafka.test")
        .await
        .expect_err("closed before any certificate");
    assert!(!refused.contains("certificate"), "{refused}");
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
