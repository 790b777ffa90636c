//! A real Keycloak 26 (harness/keycloak, the realm deploy/keycloak/realm-kop.json that
//! docker-compose.yml imports too) registered through the management API as a user would,
//! with the body docs/identity-providers/keycloak.md shows:
//! each real client library logs in with Keycloak tokens of each algorithm and produces and
//! consumes; a key rotated in through Keycloak's admin REST API is accepted without a restart;
//! a Keycloak user's token is a management API login (single sign-on).

mod common;

use std::time::Duration;

use common::binary::{Binary, oauth_listener_config};
use common::raw::Raw;
use common::{env, keycloak_admin, run_client, unique_tag};
use serde_json::{Value, json};

const TOKEN: &str = "keycloak-test-token";

fn issuer() -> String {
    env("KOP_KEYCLOAK_ISSUER")
}

fn http() -> reqwest::Client {
    kafka_oidc_proxy::identity::http_client().expect("client")
}

/// An access token from Keycloak: a service account's (client-credentials grant) or a user's
/// (password grant through the realm's kop-management client).
async fn token(form: &[(&str, &str)], client: &str) -> String {
    let answer: Value = http()
        .post(env("KOP_KEYCLOAK_TOKEN_URL"))
        .basic_auth(client, Some(format!("{client}-secret")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        )
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {answer}"))
        .to_owned()
}

async fn service_token(client: &str) -> String {
    token(&[("grant_type", "client_credentials")], client).await
}

async fn user_token(user: &str) -> String {
    let password = format!("{user}-password");
    token(
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", &password),
        ],
        "kop-management",
    )
    .await
}

/// The `kid` of a token's header.
fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid")
}

/// The proxy binary with the management API (SQLite, an API token for every organization) and
/// single sign-on through the realm's kop-management client; no provider in the file.
async fn proxy() -> (Binary, String) {
    let (base, path) = oauth_listener_config("keycloak");
    let dir = path.with_extension("d");
    let keys = common::store_keys_line(&dir);
    let config = format!(
        "{base}[identity]\nallow_http_loopback = true\n\
         [management]\nlisten = \"127.0.0.1:0\"\n\
         [[management.tokens]]\nname = \"test\"\norganization = \"*\"\nsha256 = \"{}\"\n\
         [management.sso]\nissuer = \"{}\"\naudience = \"kafka-management\"\n\
         scope = \"kafka-management\"\nsub_claim_name = \"preferred_username\"\n\
         [[management.sso.admin_groups]]\ngroup = \"platform-admins\"\norganization = \"*\"\n\
         [store]\ndata_dir = {:?}\n{keys}",
        kafka_oidc_proxy::management::token_hash(TOKEN),
        issuer(),
        dir.display().to_string(),
    );
    std::fs::write(&path, config).expect("config");
    let proxy = Binary::start(&path).await;
    let line = proxy.line(&["management API listening"]).await;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .expect("addr= in the line");
    (proxy, format!("http://{addr}"))
}

async fn call(
    api: &str,
    bearer: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http()
        .request(method, format!("{api}{path}"))
        .bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("management API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The registration body of docs/identity-providers/keycloak.md, as printed there, with the
/// guide's example host replaced by the test Keycloak's.
fn guide_registration() -> Value {
    let guide = std::fs::read_to_string(common::repo().join("docs/identity-providers/keycloak.md"))
        .expect("the Keycloak guide");
    let start = guide
        .find("oauth-providers/")
        .and_then(|at| guide[at..].find("-d '").map(|d| at + d + 4))
        .expect("a curl -d body after the oauth-providers URL");
    let end = start + guide[start..].find("}'").expect("the body's end") + 1;
    let base = issuer().trim_end_matches("/realms/kop").to_owned();
    let body = guide[start..end].replace("https://keycloak.example.com", &base);
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("the guide's body is not JSON ({e}): {body}"))
}

/// Registers the realm as organization `org`'s provider with the Keycloak guide's own body,
/// and lets its producers do anything with every topic and group.
async fn register(api: &str, org: &str) {
    let body = guide_registration();
    assert_eq!(
        body["issuer"],
        issuer(),
        "the guide's issuer, on the test Keycloak"
    );
    assert_eq!(body["token_endpoint_uri"], env("KOP_KEYCLOAK_TOKEN_URL"));
    let (status, body) = call(
        api,
        TOKEN,
        reqwest::Method::POST,
        &format!("/organizations/{org}/oauth-providers/"),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let acls = json!([
        {"principal": "Group:producers", "resource_type": "TOPIC", "resource_name": "*",
         "operation": "ALL", "permission": "ALLOW"},
        {"principal": "Group:producers", "resource_type": "GROUP", "resource_name": "*",
         "operation": "ALL", "permission": "ALLOW"},
    ]);
    let (status, body) = call(
        api,
        TOKEN,
        reqwest::Method::POST,
        &format!("/organizations/{org}/acls/"),
        Some(acls),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Logs in with `token` and sends one Metadata request; the SASL error code (0: accepted).
async fn login(bootstrap: &str, token: &str) -> i16 {
    let (_c, code) = Raw::login(bootstrap, token).await;
    code
}

#[tokio::test]
async fn each_client_logs_in_with_keycloak_tokens_of_each_algorithm() {
    let (mut proxy, api) = proxy().await;
    register(&api, "kc").await;
    let bootstrap = proxy.bootstrap("oauth").await;
    let token_url = env("KOP_KEYCLOAK_TOKEN_URL");
    let mut runs = tokio::task::JoinSet::new();
    for client in ["confluent", "kafka-python", "kafkajs", "java"] {
        for login in ["kafka-producer", "kafka-es256", "kafka-eddsa"] {
            let (bootstrap, token_url) = (bootstrap.clone(), token_url.clone());
            runs.spawn(async move {
                let _slot = common::client_slots().acquire().await.expect("slots");
                let secret = format!("{login}-secret");
                let topic = format!("kc-{client}-{login}-{}", unique_tag());
                let run = run_client(
                    client,
                    "basic",
                    &[
                        "--bootstrap",
                        &bootstrap,
                        "--security-protocol",
                        "SASL_PLAINTEXT",
                        "--oauth-token-url",
                        &token_url,
                        "--oauth-client-id",
                        login,
                        "--oauth-client-secret",
                        &secret,
                        "--topic",
                        &topic,
                        "--messages",
                        "200",
                    ],
                )
                .await;
                eprintln!("{client} as {login}: {}", run.json);
                assert_eq!(run.json["ok"], true, "{client} as {login}: {}", run.json);
            });
        }
    }
    while let Some(done) = runs.join_next().await {
        done.expect("a client run");
    }
    // Every login was Keycloak's, for the registered provider.
    let log = proxy.log();
    for login in ["kafka-producer", "kafka-es256", "kafka-eddsa"] {
        assert!(
            log.contains(&format!("principal=\"User:service-account-{login}\"")),
            "no session of service-account-{login} in the log"
        );
    }
    assert!(proxy.alive());
}

#[tokio::test]
async fn a_key_rotated_in_keycloak_is_accepted_without_a_restart() {
    let (proxy, api) = proxy().await;
    register(&api, "kc-rotation").await;
    let bootstrap = proxy.bootstrap("oauth").await;
    let before = service_token("kafka-producer").await;
    assert_eq!(login(&bootstrap, &before).await, 0);

    // A new RSA key with a higher priority: Keycloak signs new tokens with it at once.
    let realm = keycloak_admin("GET", "", None).await;
    let name = format!("rsa-rotated-{}", unique_tag());
    keycloak_admin(
        "POST",
        "/components",
        Some(json!({
            "name": name, "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider", "parentId": realm["id"],
            "config": {"priority": [format!("{}", 200 + unique_priority())], "keySize": ["2048"]},
        })),
    )
    .await;
    let mut after = service_token("kafka-producer").await;
    for _ in 0..50 {
        if kid(&after) != kid(&before) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = service_token("kafka-producer").await;
    }
    assert_ne!(kid(&after), kid(&before), "Keycloak signs with the new key");
    assert_eq!(
        login(&bootstrap, &after).await,
        0,
        "the new key, fetched on first use"
    );
    assert_eq!(
        login(&bootstrap, &before).await,
        0,
        "the old key, still published"
    );
}

/// A priority above every earlier run's rotated key, so that the new key signs.
fn unique_priority() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        % 1_000_000
}

#[tokio::test]
async fn a_keycloak_user_logs_in_to_the_management_api() {
    let (_proxy, api) = proxy().await;
    register(&api, "kc-sso").await;
    let alice = user_token("alice").await;
    let (status, body) = call(
        &api,
        &alice,
        reqwest::Method::GET,
        "/organizations/kc-sso/oauth-providers/",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1, "{body}");
    // bob is in no admin group; a Kafka client's token is for another audience.
    let bob = user_token("bob").await;
    let (status, _) = call(
        &api,
        &bob,
        reqwest::Method::GET,
        "/organizations/kc-sso/acls/",
        None,
    )
    .await;
    assert_eq!(status, 403);
    let client = service_token("kafka-admin").await;
    let (status, _) = call(
        &api,
        &client,
        reqwest::Method::GET,
        "/organizations/kc-sso/acls/",
        None,
    )
    .await;
    assert_eq!(status, 401);
}
