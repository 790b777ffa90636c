//! The management API over HTTP, on a real SQLite store: the product documentation's example,
//! and every error rule (400 malformed or invalid, 401, 404 for other organizations, 409,
//! 413, 415). What reaches the data plane is recorded.

mod common;

use std::sync::{Arc, Mutex};

use kafka_oidc_proxy::authz::{AclBinding, AuthorizationConfig};
use kafka_oidc_proxy::config::{Config, VirtualCluster};
use kafka_oidc_proxy::field_errors::FieldErrors;
use kafka_oidc_proxy::identity::ProviderSpec;
use kafka_oidc_proxy::management::{self, Running};
use kafka_oidc_proxy::snapshot::{Publish, Snapshot, Stored};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "platform-admin-token";
const ACME_TOKEN: &str = "acme-team-token";

/// The providers and bindings the API applied last, the configuration file's bindings
/// (replaced by a test as a reload would), each apply: `everything`, `providers`, or
/// `acls of ORG` or `change to acls of ORG`, `clusters`; and the stored virtual clusters.
#[derive(Default)]
struct Recorded(
    Mutex<Vec<ProviderSpec>>,
    Mutex<Vec<AclBinding>>,
    Mutex<Vec<AclBinding>>,
    Mutex<Vec<String>>,
    Mutex<Vec<VirtualCluster>>,
);

impl Publish for Recorded {
    fn set_file(&self, authorization: &AuthorizationConfig) -> Result<(), FieldErrors> {
        *self.2.lock().expect("lock") = authorization.acls.clone();
        Ok(())
    }

    fn set_stored(&self, stored: Stored) -> Result<(), FieldErrors> {
        *self.0.lock().expect("lock") = stored.providers;
        *self.1.lock().expect("lock") = stored.acls.iter().map(|b| (**b).clone()).collect();
        self.3.lock().expect("lock").push("everything".into());
        Ok(())
    }

    fn set_stored_providers(&self, providers: Vec<ProviderSpec>) -> Result<(), FieldErrors> {
        *self.0.lock().expect("lock") = providers;
        self.3.lock().expect("lock").push("providers".into());
        Ok(())
    }

    fn set_stored_acls(&self, organization: &str, acls: Vec<Arc<AclBinding>>) {
        let applies = &mut self.3.lock().expect("lock");
        applies.push(format!("acls of {organization}"));
        let mut all = self.1.lock().expect("lock");
        all.retain(|b| b.organization != organization);
        all.extend(acls.iter().map(|b| (**b).clone()));
    }

    fn change_stored_acls(
        &self,
        organization: &str,
        added: Vec<Arc<AclBinding>>,
        removed: Vec<AclBinding>,
    ) {
        let applies = &mut self.3.lock().expect("lock");
        applies.push(format!("change to acls of {organization}"));
        let mut all = self.1.lock().expect("lock");
        for b in &removed {
            if let Some(at) = all.iter().position(|a| a == b) {
                all.remove(at);
            }
        }
        all.extend(added.iter().map(|b| (**b).clone()));
    }

    fn set_stored_clusters(&self, clusters: Vec<VirtualCluster>) {
        self.3.lock().expect("lock").push("clusters".into());
        *self.4.lock().expect("lock") = clusters;
    }

    fn clusters_open(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(std::future::ready(()))
    }

    fn current(&self) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            file_acls: self.2.lock().expect("lock").clone().into(),
            ..Snapshot::default()
        })
    }
}

struct Server {
    running: Running,
    applied: Arc<Recorded>,
    http: reqwest::Client,
    dir: std::path::PathBuf,
}

fn config(store: &str, extra: &str) -> Config {
    let text = format!(
        r#"
        [upstream]
        bootstrap_servers = ["127.0.0.1:9"]
        [[listeners]]
        name = "plain"
        bind_address = "127.0.0.1"
        advertised_host = "localhost"
        bootstrap_port = 0
        broker_port_base = 0
        authentication = "none"
        [management]
        listen = "127.0.0.1:0"
        [[management.tokens]]
        name = "admin"
        sha256 = "{admin}"
        organization = "*"
        [[management.tokens]]
        name = "acme"
        sha256 = "{acme}"
        organization = "acme"
        [store]
        {store}
        {extra}
        "#,
        admin = management::token_hash(ADMIN_TOKEN),
        acme = management::token_hash(ACME_TOKEN),
        store = store,
    );
    Config::parse(&text).expect("config")
}

/// Which database a test server stores in.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn server(extra: &str) -> Server {
    server_on(Backend::Sqlite, extra).await
}

async fn server_on(backend: Backend, extra: &str) -> Server {
    let dir = std::env::temp_dir().join(format!("kop-management-{}", common::unique_tag()));
    let store = match backend {
        Backend::Sqlite => format!("data_dir = \"{}\"", dir.display()),
        Backend::Postgres => format!("url = \"{}\"", common::postgres_database().await),
    } + "\n"
        + &common::store_keys_line(&dir);
    start_server(dir, &store, extra).await
}

/// A server whose `[store]` section is `store`, keeping its files in `dir`.
async fn start_server(dir: std::path::PathBuf, store: &str, extra: &str) -> Server {
    let config = config(store, extra);
    let applied = Arc::new(Recorded::default());
    *applied.2.lock().expect("lock") = config.authorization.acls.clone();
    let running = management::start(
        &config,
        config.management.as_ref().expect("management"),
        applied.clone(),
    )
    .await
    .expect("starts");
    Server {
        running,
        applied,
        http: kafka_oidc_proxy::identity::http_client().expect("client"),
        dir,
    }
}

impl Server {
    /// The applies recorded after the first `n`.
    fn applies_since(&self, n: usize) -> Vec<String> {
        self.applied.3.lock().expect("lock")[n..].to_vec()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.expect("answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The product documentation's request.
fn seed(org: &str) -> Value {
    json!({
        "organization": org,
        "identifier": "dev-47119201",
        "issuer": "https://dev-47119201.okta.com/oauth2/default",
        "jwks_endpoint_uri": "https://dev-47119201.okta.com/oauth2/default/v1/keys",
        "audience": "api://default",
        "scope": "kafka",
        "token_endpoint_uri": "https://dev-47119201.okta.com/oauth2/default/v1/token",
        "sub_claim_name": "sub",
        "groups_claim_name": "groups",
        "authorize_endpoint_uri": "https://dev-47119201.okta.com/oauth2/default/v1/authorize",
        "refresh_token": true,
        "cfk_client_id": "<oidc-client-id>",
        "cfk_client_secret": "<oidc-client-secret>"
    })
}

fn is_rfc3339_micros(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 27
        && s.ends_with('Z')
        && s.as_bytes()[10] == b'T'
        && s.as_bytes()[19] == b'.'
        && s[20..26].bytes().all(|b| b.is_ascii_digit())
}

use reqwest::Method;

#[tokio::test]
async fn the_documented_example_is_created_read_listed_changed_and_deleted() {
    documented_example(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_documented_example_on_postgresql() {
    documented_example(Backend::Postgres).await;
}

async fn documented_example(backend: Backend) {
    let s = server_on(backend, "").await;
    let path = "/organizations/acme/oauth-providers/";
    let (status, created) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(seed("acme")))
        .await;
    assert_eq!(status, 201, "{created}");
    // Exactly the documented fields, plus id and the two times; the secret write-only.
    let mut expected = seed("acme");
    expected["cfk_client_secret"] = json!(management::REDACTED);
    let mut keys: Vec<&String> = created.as_object().expect("object").keys().collect();
    keys.sort();
    let mut want: Vec<String> = expected
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .chain(["id", "created_at", "updated_at"].map(String::from))
        .collect();
    want.sort();
    assert_eq!(keys, want.iter().collect::<Vec<_>>());
    for (k, v) in expected.as_object().expect("object") {
        assert_eq!(&created[k], v, "{k}");
    }
    let id = created["id"].as_str().expect("id").to_owned();
    let uuid = uuid::Uuid::parse_str(&id).expect("a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert!(is_rfc3339_micros(&created["created_at"]), "{created}");
    assert!(is_rfc3339_micros(&created["updated_at"]), "{created}");

    // The data plane got it, secret included.
    let applied = s.applied.0.lock().expect("lock").clone();
    assert_eq!(applied.len(), 1);
    assert_eq!(
        applied[0].issuer,
        "https://dev-47119201.okta.com/oauth2/default"
    );
    assert_eq!(
        applied[0].cfk_client_secret.as_ref().map(|x| x.expose()),
        Some("<oidc-client-secret>")
    );

    // GET, with and without the trailing slash.
    for item in [format!("{path}{id}/"), format!("{path}{id}")] {
        let (status, got) = s.send(Method::GET, &item, Some(ACME_TOKEN), None).await;
        assert_eq!(status, 200);
        assert_eq!(got, created);
    }
    let (status, list) = s
        .send(
            Method::GET,
            "/organizations/acme/oauth-providers",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0], created);
    assert_eq!(list["next"], Value::Null);

    // PATCH changes what it names and updated_at; the redacted secret sent back keeps it.
    let (status, patched) = s
        .send(
            Method::PATCH,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            Some(json!({"scope": "kafka admin", "cfk_client_secret": management::REDACTED})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["scope"], "kafka admin");
    assert_eq!(patched["created_at"], created["created_at"]);
    assert!(patched["updated_at"].as_str() > created["updated_at"].as_str());
    let applied = s.applied.0.lock().expect("lock").clone();
    assert_eq!(
        applied[0].cfk_client_secret.as_ref().map(|x| x.expose()),
        Some("<oidc-client-secret>")
    );

    // PUT replaces: what it leaves out takes its default (the secret is kept).
    let mut body = seed("acme");
    body.as_object_mut().expect("object").remove("scope");
    body.as_object_mut()
        .expect("object")
        .remove("cfk_client_secret");
    let (status, put) = s
        .send(
            Method::PUT,
            &format!("{path}{id}"),
            Some(ACME_TOKEN),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["scope"], "");
    assert_eq!(put["cfk_client_secret"], management::REDACTED);

    let (status, _) = s
        .send(
            Method::DELETE,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(s.applied.0.lock().expect("lock").is_empty());
    let (status, gone) = s
        .send(Method::GET, &format!("{path}{id}/"), Some(ACME_TOKEN), None)
        .await;
    assert_eq!((status, &gone["detail"]), (404, &json!("Not found.")));
}

#[tokio::test]
async fn tokens_are_required_and_scoped_to_their_organization() {
    let s = server("").await;
    let path = "/organizations/acme/oauth-providers/";
    let (status, body) = s.send(Method::GET, path, None, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = s.send(Method::GET, path, Some("wrong"), None).await;
    assert_eq!(status, 401);
    // A token for acme sees nothing of beta, not even that it exists.
    let other = "/organizations/beta/oauth-providers/";
    let (status, body) = s
        .send(Method::POST, other, Some(ACME_TOKEN), Some(seed("beta")))
        .await;
    assert_eq!((status, &body["detail"]), (404, &json!("Not found.")));
    let (status, _) = s.send(Method::GET, other, Some(ACME_TOKEN), None).await;
    assert_eq!(status, 404);
    let (status, _) = s.send(Method::GET, other, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200);
}

/// `[management.sso]` with the harness's provider: its admins manage every organization,
/// team-a manages acme.
fn sso_config() -> String {
    format!(
        "[identity]\nallow_http_loopback = true\n\
         [management.sso]\nissuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\n\
         [[management.sso.admin_groups]]\ngroup = \"platform-admins\"\norganization = \"*\"\n\
         [[management.sso.admin_groups]]\ngroup = \"team-a\"\norganization = \"acme\"\n",
        issuer = common::Idp::issuer(),
    )
}

#[tokio::test]
async fn single_sign_on_admits_admin_groups_to_their_organizations() {
    common::init_logs();
    let s = server(&sso_config()).await;
    let issuer = common::Idp::issuer();
    let (acme, globex) = (
        "/organizations/acme/oauth-providers/",
        "/organizations/globex/oauth-providers/",
    );
    // Group platform-admins: every organization; changes are logged under the user's name.
    let admin = common::Idp::token(&issuer, "kafka-admin").await;
    let mut body = seed("globex");
    body["identifier"] = json!(format!("sso-{}", common::unique_tag()));
    let (status, created) = s.send(Method::POST, globex, Some(&admin), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    common::wait_for_log(&["provider registered", &id, "by=sso:kafka-admin"]).await;
    // Group team-a: acme only; globex does not exist for it.
    let team = common::Idp::token(&issuer, "kafka-producer").await;
    let (status, _) = s.send(Method::GET, acme, Some(&team), None).await;
    assert_eq!(status, 200);
    let (status, _) = s.send(Method::GET, globex, Some(&team), None).await;
    assert_eq!(status, 404);
    let item = format!("{globex}{id}/");
    let (status, _) = s.send(Method::DELETE, &item, Some(&team), None).await;
    assert_eq!(status, 404);
    // A valid token of a user in no admin group.
    let outsider = common::Idp::token(&issuer, "kafka-consumer").await;
    let (status, body) = s.send(Method::GET, acme, Some(&outsider), None).await;
    assert_eq!(status, 403, "{body}");
    // API tokens still work beside single sign-on.
    let (status, _) = s.send(Method::DELETE, &item, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn single_sign_on_refuses_bad_tokens_saying_why() {
    let s = server(&sso_config()).await;
    let issuer = common::Idp::issuer();
    let admin_claims = |extra: Value| {
        let mut claims = json!({"sub": "kafka-admin", "client_id": "kafka-admin", "groups": ["platform-admins"]});
        for (k, v) in extra.as_object().expect("object") {
            claims[k] = v.clone();
        }
        json!({ "claims": claims })
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let cases = [
        (
            common::Idp::sign(&issuer, json!({"key": "unpublished"})).await,
            "token signing key not found",
        ),
        (
            common::Idp::sign(&issuer, admin_claims(json!({"aud": "other"}))).await,
            "token audience not accepted",
        ),
        (
            common::Idp::sign(&issuer, admin_claims(json!({"exp": now - 3600}))).await,
            "token expired",
        ),
        (
            common::Idp::sign(&issuer, admin_claims(json!({"scope": "other"}))).await,
            "token lacks the required scope",
        ),
        (
            common::Idp::token(&common::Idp::second_issuer(), "kafka-producer").await,
            "token issuer not accepted",
        ),
        ("not-a-token".to_owned(), "malformed token"),
    ];
    for (token, why) in cases {
        let response = s
            .http
            .get(s.url("/organizations/acme/acls/"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status().as_u16(), 401, "{why}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii");
        assert_eq!(challenge, "Bearer error=\"invalid_token\"", "{why}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body["detail"],
            json!(format!("The access token was refused: {why}.")),
        );
    }
    // The same admin claims, properly signed, are accepted: the cases above fail for their
    // one defect only.
    let good = common::Idp::sign(&issuer, admin_claims(json!({}))).await;
    let (status, body) = s
        .send(Method::GET, "/organizations/acme/acls/", Some(&good), None)
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn bad_bodies_get_a_clear_answer_naming_each_field() {
    let s = server("").await;
    let path = "/organizations/acme/oauth-providers/";
    let post = |body: Value| s.send(Method::POST, path, Some(ACME_TOKEN), Some(body));

    // Malformed JSON, and not an object.
    let raw = s
        .http
        .post(s.url(path))
        .bearer_auth(ACME_TOKEN)
        .header("content-type", "application/json")
        .body("{\"identifier\": ")
        .send()
        .await
        .expect("answered");
    assert_eq!(raw.status().as_u16(), 400);
    let body: Value = raw.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("JSON parse error")
    );
    let (status, _) = post(json!([1, 2])).await;
    assert_eq!(status, 400);

    // Not declared as JSON.
    let raw = s
        .http
        .post(s.url(path))
        .bearer_auth(ACME_TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(raw.status().as_u16(), 415);

    // Missing and unknown fields, wrong types, another organization, bad URLs: all at once.
    let mut body = seed("beta");
    let o = body.as_object_mut().expect("object");
    o.remove("audience");
    o.insert("colour".into(), json!("blue"));
    o.insert("refresh_token".into(), json!("yes"));
    o.insert("issuer".into(), json!("http://idp.example.com"));
    o.insert("jwks_endpoint_uri".into(), json!("not a url"));
    let (status, errors) = post(body).await;
    assert_eq!(status, 400, "{errors}");
    for field in [
        "audience",
        "colour",
        "refresh_token",
        "organization",
        "issuer",
        "jwks_endpoint_uri",
    ] {
        assert!(errors[field].is_array(), "{field} named: {errors}");
    }
    assert_eq!(errors["audience"][0], "This field is required.");
    assert_eq!(errors["colour"][0], "Unknown field.");

    // Loopback http only when the operator allows it.
    let mut local = seed("acme");
    local["issuer"] = json!("http://127.0.0.1:19400");
    let (status, errors) = post(local.clone()).await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["issuer"].is_array());

    // Over 64 KiB.
    let mut big = seed("acme");
    big["scope"] = json!("x".repeat(70 * 1024));
    let (status, body) = post(big).await;
    assert_eq!(status, 413, "{body}");

    // Duplicates in the organization: the identifier, and the issuer and audience.
    let (status, _) = post(seed("acme")).await;
    assert_eq!(status, 201);
    let (status, errors) = post(seed("acme")).await;
    assert_eq!(status, 409, "{errors}");
    assert!(errors["identifier"].is_array(), "{errors}");
    let mut same_issuer = seed("acme");
    same_issuer["identifier"] = json!("another");
    let (status, errors) = post(same_issuer).await;
    assert_eq!(status, 409, "{errors}");
    assert!(errors["issuer"].is_array(), "{errors}");
    // Another organization registers the same corporate provider: nothing tells it that
    // acme has.
    let (status, body) = s
        .send(
            Method::POST,
            "/organizations/beta/oauth-providers/",
            Some(ADMIN_TOKEN),
            Some(seed("beta")),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Unknown paths, ids and methods.
    let (status, _) = s
        .send(
            Method::GET,
            &format!("{path}not-a-uuid/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s.send(Method::DELETE, path, Some(ACME_TOKEN), None).await;
    assert_eq!(status, 405);
    let (status, _) = s
        .send(Method::GET, "/nothing", Some(ACME_TOKEN), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .send(
            Method::GET,
            "/organizations/acme/oauth-providers/?limit=abc",
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn loopback_http_is_accepted_when_allowed_and_health_answers() {
    let s = server("[identity]\nallow_http_loopback = true").await;
    let mut local = seed("acme");
    local["issuer"] = json!("http://127.0.0.1:19400");
    local["jwks_endpoint_uri"] = json!("http://127.0.0.1:19400/jwks");
    let (status, body) = s
        .send(
            Method::POST,
            "/organizations/acme/oauth-providers",
            Some(ADMIN_TOKEN),
            Some(local),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for path in ["/healthz", "/readyz"] {
        let (status, _) = s.send(Method::GET, path, None, None).await;
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn acl_bindings_are_created_one_or_many_listed_with_filters_and_deleted() {
    acl_lifecycle(Backend::Sqlite).await;
}

#[tokio::test]
async fn acl_bindings_on_postgresql() {
    acl_lifecycle(Backend::Postgres).await;
}

async fn acl_lifecycle(backend: Backend) {
    let s = server_on(backend, "").await;
    let path = "/organizations/acme/acls/";
    let one = json!({
        "principal": "Group:payments",
        "resource_type": "TOPIC",
        "resource_name": "payments.",
        "pattern_type": "PREFIXED",
        "operation": "WRITE",
        "permission": "ALLOW"
    });
    let (status, created) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(one))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["host"], "*", "the default host");
    assert_eq!(created["organization"], "acme");
    assert!(is_rfc3339_micros(&created["created_at"]), "{created}");
    let many = json!([
        {"principal": "Group:payments", "resource_type": "GROUP", "resource_name": "payments-",
         "pattern_type": "PREFIXED", "operation": "READ", "permission": "ALLOW"},
        {"principal": "User:mallory", "resource_type": "TOPIC", "resource_name": "*",
         "operation": "ALL", "permission": "DENY"}
    ]);
    let (status, batch) = s
        .send(
            Method::POST,
            "/organizations/acme/acls",
            Some(ACME_TOKEN),
            Some(many),
        )
        .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch.as_array().map(Vec::len), Some(2));
    assert_eq!(batch[1]["pattern_type"], "LITERAL", "the default pattern");
    assert_eq!(s.applied.1.lock().expect("lock").len(), 3);

    let list = |query: &str| {
        let path = format!("{path}{query}");
        let s = &s;
        async move { s.send(Method::GET, &path, Some(ACME_TOKEN), None).await }
    };
    let (status, all) = list("").await;
    assert_eq!((status, &all["count"]), (200, &json!(3)));
    let (_, by_principal) = list("?principal=Group:payments").await;
    assert_eq!(by_principal["count"], 2);
    let (_, by_type) = list("?resource_type=topic&pattern_type=prefixed").await;
    assert_eq!(
        by_type["count"], 1,
        "names are matched as Kafka writes them"
    );
    let (_, by_name) = list("?resource_name=*").await;
    assert_eq!(by_name["results"][0]["principal"], "User:mallory");
    let (_, paged) = list("?limit=2&offset=0").await;
    assert_eq!(paged["results"].as_array().map(Vec::len), Some(2));
    // `next` also says where its stored items start: after the last one of this page.
    let next = paged["next"].as_str().expect("next");
    let id = paged["results"][1]["id"].as_str().expect("id");
    assert!(
        next.starts_with("/organizations/acme/acls/?limit=2&offset=2&after=")
            && next.ends_with(&format!("%3A{id}")),
        "{next}"
    );
    let (status, rest) = s
        .send(
            Method::GET,
            paged["next"].as_str().expect("next"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        rest["results"][0], all["results"][2],
        "the page after, by position"
    );
    // Without the position the same page comes from the offset.
    let (_, by_offset) = list("?limit=2&offset=2").await;
    assert_eq!(by_offset["results"], rest["results"]);
    let (status, bad) = list("?after=yesterday").await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad["after"].is_array(), "{bad}");
    // A filtered list's links keep the filter, as Kafka writes it, percent-encoded; following
    // them pages through the filtered list.
    let (_, first) = list("?principal=Group:payments&limit=1").await;
    let next = first["next"].as_str().expect("a next page");
    assert!(
        next.starts_with(
            "/organizations/acme/acls/?principal=Group%3Apayments&limit=1&offset=1&after="
        ),
        "{next}"
    );
    let (status, second) = s.send(Method::GET, next, Some(ACME_TOKEN), None).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["results"][0]["principal"], "Group:payments");
    assert_ne!(second["results"][0]["id"], first["results"][0]["id"]);
    assert_eq!(second["next"], Value::Null, "{second}");
    assert_eq!(
        second["previous"],
        "/organizations/acme/acls/?principal=Group%3Apayments&limit=1&offset=0"
    );
    let (status, bad) = list("?resource_type=QUEUE").await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad["resource_type"].is_array());

    let id = created["id"].as_str().expect("id");
    let (status, got) = s
        .send(Method::GET, &format!("{path}{id}"), Some(ACME_TOKEN), None)
        .await;
    assert_eq!((status, &got), (200, &created));
    let (status, _) = s
        .send(
            Method::DELETE,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(s.applied.1.lock().expect("lock").len(), 2);
    let (status, _) = s
        .send(
            Method::DELETE,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .send(
            Method::GET,
            "/organizations/beta/acls/",
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404, "another organization's bindings");
}

#[tokio::test]
async fn an_identical_binding_is_stored_once() {
    stored_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_identical_binding_is_stored_once_on_postgresql() {
    stored_once(Backend::Postgres).await;
}

/// Posting a binding again (a client retrying after a crash) answers the stored one with 200;
/// duplicates within an array collapse; deleting the binding then removes the grant.
async fn stored_once(backend: Backend) {
    let s = server_on(backend, "").await;
    let path = "/organizations/acme/acls/";
    let one = json!({
        "principal": "Group:payments", "resource_type": "TOPIC", "resource_name": "payments.",
        "pattern_type": "PREFIXED", "operation": "WRITE", "permission": "ALLOW"
    });
    let (status, first) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(one.clone()))
        .await;
    assert_eq!(status, 201, "{first}");
    // The same binding as Kafka's names in another case, with the default host spelt out.
    let again = json!({
        "principal": "Group:payments", "resource_type": "topic", "resource_name": "payments.",
        "pattern_type": "prefixed", "operation": "write", "permission": "allow", "host": "*"
    });
    let (status, second) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(again))
        .await;
    assert_eq!(status, 200, "nothing created: {second}");
    assert_eq!(second, first, "the stored binding is answered");
    let other = json!({
        "principal": "User:alice", "resource_type": "GROUP", "resource_name": "g",
        "operation": "READ", "permission": "ALLOW"
    });
    let (status, batch) = s
        .send(
            Method::POST,
            path,
            Some(ACME_TOKEN),
            Some(json!([one.clone(), other.clone(), other])),
        )
        .await;
    assert_eq!(status, 201, "one new binding: {batch}");
    assert_eq!(
        batch.as_array().map(Vec::len),
        Some(2),
        "duplicates collapse"
    );
    assert_eq!(batch[0], first);
    let (status, repeat) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(batch.clone()))
        .await;
    assert_eq!((status, &repeat), (200, &batch), "the same batch again");
    let (_, all) = s.send(Method::GET, path, Some(ACME_TOKEN), None).await;
    assert_eq!(all["count"], 2);
    assert_eq!(s.applied.1.lock().expect("lock").len(), 2);
    let id = first["id"].as_str().expect("id");
    let (status, _) = s
        .send(
            Method::DELETE,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let applied = s.applied.1.lock().expect("lock").clone();
    assert_eq!(applied.len(), 1, "the grant is gone: {applied:?}");
}

/// The client secret column of the provider `id`, as the SQLite file holds it.
async fn stored_secret(dir: &std::path::Path, id: &str) -> Option<String> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}/kafka-oidc-proxy.db", dir.display());
    let mut c = sqlx::AnyConnection::connect(&url)
        .await
        .expect("the store file");
    sqlx::query("SELECT cfk_client_secret FROM oauth_providers WHERE id = $1")
        .bind(id)
        .fetch_one(&mut c)
        .await
        .expect("the row")
        .try_get("cfk_client_secret")
        .expect("the column")
}

#[tokio::test]
async fn client_secrets_are_sealed_at_rest_and_refused_without_a_key() {
    let dir = common::Scratch::new("kop-secrets");
    let plain_store = format!("data_dir = {:?}", dir.display().to_string());
    let mut servers = Vec::new();
    // Without a key: a secret is refused, naming the field and the fix; the rest is stored.
    let s = start_server(dir.clone(), &plain_store, "").await;
    let path = "/organizations/acme/oauth-providers/";
    let (status, refused) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(seed("acme")))
        .await;
    assert_eq!(status, 400, "{refused}");
    let why = refused["cfk_client_secret"][0].as_str().unwrap_or_default();
    assert!(why.contains("store.secret_keys_file"), "{refused}");
    let mut without = seed("acme");
    without["cfk_client_secret"] = Value::Null;
    let (status, created) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(without))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    // Kept running: dropping a server removes its directory.
    servers.push(s);
    // A store written before secrets were sealed: one in clear.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}/kafka-oidc-proxy.db", dir.display());
        let mut c = sqlx::AnyConnection::connect(&url).await.expect("store");
        sqlx::query("UPDATE oauth_providers SET cfk_client_secret = 'from-before' WHERE id = $1")
            .bind(&id)
            .execute(&mut c)
            .await
            .expect("in clear");
    }
    // With a key: sealed on start, in use in clear.
    let keyed = format!("{plain_store}\n{}", common::store_keys_line(&dir));
    let s = start_server(dir.clone(), &keyed, "").await;
    let sealed = stored_secret(&dir, &id).await.expect("a secret");
    assert!(sealed.starts_with("enc:v1:test:"), "{sealed}");
    assert!(!sealed.contains("from-before"));
    let applied = s.applied.0.lock().expect("lock").clone();
    assert_eq!(
        applied[0].cfk_client_secret.as_ref().map(|x| x.expose()),
        Some("from-before")
    );
    let (status, changed) = s
        .send(
            Method::PATCH,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            Some(json!({"cfk_client_secret": "rotated"})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["cfk_client_secret"], management::REDACTED);
    let resealed = stored_secret(&dir, &id).await.expect("a secret");
    assert!(resealed.starts_with("enc:v1:test:") && !resealed.contains("rotated"));
    servers.push(s);
    // A new key first, the old one after it: re-sealed with the new one on start.
    let old = std::fs::read_to_string(dir.join("store-keys")).expect("old key");
    let new = kafka_oidc_proxy::store::secrets::SecretKeys::generate("next").expect("key");
    std::fs::write(dir.join("store-keys"), format!("{new}\n{old}")).expect("keys");
    let both = format!(
        "{plain_store}\nsecret_keys_file = {:?}\n",
        dir.join("store-keys").display().to_string()
    );
    let s = start_server(dir.clone(), &both, "").await;
    let next = stored_secret(&dir, &id).await.expect("a secret");
    assert!(next.starts_with("enc:v1:next:"), "{next}");
    let applied = s.applied.0.lock().expect("lock").clone();
    assert_eq!(
        applied[0].cfk_client_secret.as_ref().map(|x| x.expose()),
        Some("rotated")
    );
    servers.push(s);
    // Without any key, a sealed store does not start, saying why.
    let config = config(&plain_store, "");
    let e = management::start(
        &config,
        config.management.as_ref().expect("management"),
        Arc::new(Recorded::default()),
    )
    .await
    .err()
    .expect("refused");
    assert!(
        e.to_string().contains("no store keys are configured"),
        "{e}"
    );
    drop(servers);
}

#[tokio::test]
async fn bad_acl_bindings_are_refused_naming_each_field_and_nothing_is_stored() {
    let s = server("").await;
    let path = "/organizations/acme/acls/";
    let (status, errors) = s
        .send(
            Method::POST,
            path,
            Some(ACME_TOKEN),
            Some(json!({
                "principal": "Role:admin",
                "resource_type": "CLUSTER",
                "resource_name": "prod",
                "operation": "FLY",
                "colour": "red"
            })),
        )
        .await;
    assert_eq!(status, 400, "{errors}");
    for field in ["principal", "operation", "permission", "colour"] {
        assert!(errors[field].is_array(), "{field}: {errors}");
    }
    // In a batch, each problem names its item; one bad item stores none.
    let (status, errors) = s
        .send(
            Method::POST,
            path,
            Some(ACME_TOKEN),
            Some(json!([
                {"principal": "User:alice", "resource_type": "TOPIC", "resource_name": "a",
                 "operation": "READ", "permission": "ALLOW"},
                {"principal": "User:bob", "resource_type": "CLUSTER", "resource_name": "prod",
                 "operation": "ALTER", "permission": "ALLOW"}
            ])),
        )
        .await;
    assert_eq!(status, 400, "{errors}");
    assert!(errors["[1].resource_name"].is_array(), "{errors}");
    let (_, all) = s.send(Method::GET, path, Some(ACME_TOKEN), None).await;
    assert_eq!(all["count"], 0);
    let (status, _) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(json!([])))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_openapi_document_describes_what_is_served() {
    let s = server("").await;
    let (status, doc) = s.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for p in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/organizations/{org}/oauth-providers/",
        "/organizations/{org}/oauth-providers/{id}/",
        "/organizations/{org}/acls/",
        "/organizations/{org}/acls/{id}/",
    ] {
        assert!(paths.iter().any(|x| x.as_str() == p), "{p} documented");
    }
    // Every field of an answer is a documented property, and every required one is there.
    let (_, provider) = s
        .send(
            Method::POST,
            "/organizations/acme/oauth-providers/",
            Some(ACME_TOKEN),
            Some(seed("acme")),
        )
        .await;
    let acl = json!({"principal": "User:a", "resource_type": "TOPIC", "resource_name": "t",
                     "operation": "READ", "permission": "ALLOW"});
    let (_, acl) = s
        .send(
            Method::POST,
            "/organizations/acme/acls/",
            Some(ACME_TOKEN),
            Some(acl),
        )
        .await;
    for (schema, answer) in [("Provider", provider), ("Acl", acl)] {
        let schema = &doc["components"]["schemas"][schema];
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let mut keys: Vec<String> = answer
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        required.sort();
        keys.sort();
        assert_eq!(required, keys, "{schema}");
        for k in &keys {
            assert!(schema["properties"][k].is_object(), "{k} documented");
        }
    }
}

#[tokio::test]
async fn providers_of_the_configuration_file_are_listed_read_only() {
    let s = server(
        "[[identity.providers]]\norganization = \"acme\"\nidentifier = \"from-file\"\n\
         issuer = \"https://file.example.com\"\naudience = \"kafka\"\n",
    )
    .await;
    let path = "/organizations/acme/oauth-providers/";
    let (status, created) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(seed("acme")))
        .await;
    assert_eq!(status, 201, "{created}");
    let (_, list) = s.send(Method::GET, path, Some(ACME_TOKEN), None).await;
    assert_eq!(list["count"], 2, "{list}");
    let file = &list["results"][0];
    assert_eq!(file["identifier"], "from-file");
    assert_eq!(file["read_only"], true);
    assert_eq!(list["results"][1]["id"], created["id"]);
    assert!(list["results"][1].get("read_only").is_none());
    // Paging runs over both.
    let (_, second) = s
        .send(
            Method::GET,
            &format!("{path}?limit=1&offset=1"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(second["results"][0]["id"], created["id"], "{second}");
    assert_eq!(
        second["previous"],
        "/organizations/acme/oauth-providers/?limit=1&offset=0"
    );
    let id = file["id"].as_str().expect("id");
    let (status, got) = s
        .send(Method::GET, &format!("{path}{id}/"), Some(ACME_TOKEN), None)
        .await;
    assert_eq!((status, &got), (200, file));
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let body = (method != Method::DELETE).then(|| json!({"scope": "x"}));
        let (status, answer) = s
            .send(
                method.clone(),
                &format!("{path}{id}/"),
                Some(ACME_TOKEN),
                body,
            )
            .await;
        assert_eq!(status, 409, "{method}: {answer}");
    }
    // Its identifier is taken.
    let mut same = seed("acme");
    same["identifier"] = json!("from-file");
    same["issuer"] = json!("https://other.example.com");
    let (status, errors) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(same))
        .await;
    assert_eq!(status, 409, "{errors}");
    // Another organization sees none of them.
    let (_, beta) = s
        .send(
            Method::GET,
            "/organizations/beta/oauth-providers/",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(beta["count"], 0);
}

#[tokio::test]
async fn acl_bindings_of_the_configuration_file_are_listed_read_only() {
    let file_binding = |principal: &str| {
        format!(
            "[[authorization.acls]]\norganization = \"acme\"\nprincipal = {principal:?}\n\
             resource_type = \"TOPIC\"\nresource_name = \"orders.\"\npattern_type = \"PREFIXED\"\n\
             operation = \"READ\"\npermission = \"ALLOW\"\n"
        )
    };
    let s = server(&format!(
        "[[identity.providers]]\norganization = \"acme\"\nidentifier = \"from-file\"\n\
         issuer = \"https://file.example.com\"\naudience = \"kafka\"\n{}{}",
        file_binding("Group:readers"),
        file_binding("User:alice"),
    ))
    .await;
    let path = "/organizations/acme/acls/";
    let body = json!({"principal": "Group:readers", "resource_type": "GROUP",
        "resource_name": "orders-app", "operation": "READ", "permission": "ALLOW"});
    let (status, created) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let (_, list) = s.send(Method::GET, path, Some(ACME_TOKEN), None).await;
    assert_eq!(list["count"], 3, "{list}");
    let file = list["results"][0].clone();
    assert_eq!(
        (
            &file["principal"],
            &file["resource_name"],
            &file["read_only"]
        ),
        (&json!("Group:readers"), &json!("orders."), &json!(true)),
        "{list}"
    );
    assert_eq!(list["results"][1]["principal"], "User:alice");
    assert_eq!(list["results"][2]["id"], created["id"]);
    assert!(list["results"][2].get("read_only").is_none());
    // Filters and paging run over both.
    let (_, readers) = s
        .send(
            Method::GET,
            &format!("{path}?principal=Group:readers"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(readers["count"], 2, "{readers}");
    let (_, topics) = s
        .send(
            Method::GET,
            &format!("{path}?resource_type=TOPIC&limit=1&offset=1"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(topics["count"], 2, "{topics}");
    assert_eq!(topics["results"][0]["principal"], "User:alice", "{topics}");
    let (_, last) = s
        .send(
            Method::GET,
            &format!("{path}?limit=2&offset=2"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(last["results"][0]["id"], created["id"], "{last}");
    // One of them by its id, which stays the same across loads; it cannot be deleted.
    let id = file["id"].as_str().expect("id");
    let item = format!("{path}{id}/");
    let (status, got) = s.send(Method::GET, &item, Some(ACME_TOKEN), None).await;
    assert_eq!((status, &got), (200, &file));
    let (status, answer) = s.send(Method::DELETE, &item, Some(ACME_TOKEN), None).await;
    assert_eq!(status, 409, "{answer}");
    // A reload that drops it: gone from the list, and its id is unknown.
    let alice = s.applied.2.lock().expect("lock")[1].clone();
    *s.applied.2.lock().expect("lock") = vec![alice];
    let (_, list) = s.send(Method::GET, path, Some(ACME_TOKEN), None).await;
    assert_eq!(list["count"], 2, "{list}");
    let (status, _) = s.send(Method::GET, &item, Some(ACME_TOKEN), None).await;
    assert_eq!(status, 404);
    // Another organization sees none of them.
    let (_, beta) = s
        .send(
            Method::GET,
            "/organizations/beta/acls/",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(beta["count"], 0);
}

#[tokio::test]
async fn a_change_made_beside_the_api_is_read_back_before_its_own_next_change_applies() {
    // No poll during the test: only the API's own changes apply.
    let s = server("poll_interval_ms = 600000").await;
    let path = "/organizations/acme/acls/";
    let binding = |name: &str| {
        json!({"principal": "User:a", "resource_type": "TOPIC", "resource_name": name,
               "operation": "READ", "permission": "ALLOW"})
    };
    let names = |s: &Server| -> Vec<String> {
        let mut v: Vec<String> = s
            .applied
            .1
            .lock()
            .expect("lock")
            .iter()
            .map(|b| b.resource_name.clone())
            .collect();
        v.sort();
        v
    };
    let last_apply = |s: &Server| s.applied.3.lock().expect("lock").last().cloned();
    let (status, one) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(binding("one")))
        .await;
    assert_eq!(status, 201, "{one}");
    assert_eq!(names(&s), ["one"]);
    let (status, _) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(binding("one-b")))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        last_apply(&s).as_deref(),
        Some("change to acls of acme"),
        "the API's own binding change is made to its organization alone"
    );
    // Another writer of the same store (a second proxy) adds a binding the API has not read.
    let url = format!("sqlite://{}/kafka-oidc-proxy.db", s.dir.display());
    let other = kafka_oidc_proxy::store::Store::open(&url)
        .await
        .expect("opens");
    let beside = kafka_oidc_proxy::store::StoredAcl {
        id: uuid::Uuid::new_v4().to_string(),
        organization: "acme".into(),
        permission: "ALLOW".into(),
        principal: "User:a".into(),
        host: "*".into(),
        operation: "READ".into(),
        resource_type: "TOPIC".into(),
        pattern_type: "LITERAL".into(),
        resource_name: "beside".into(),
        created_at: 1,
    };
    let in_beta = kafka_oidc_proxy::store::StoredAcl {
        id: uuid::Uuid::new_v4().to_string(),
        organization: "beta".into(),
        resource_name: "beta-beside".into(),
        ..beside.clone()
    };
    other
        .create_acls(&[beside.clone(), in_beta])
        .await
        .expect("stored");
    assert_eq!(names(&s), ["one", "one-b"], "not applied yet: no poll");
    // The API's next change applies both; the store's change log names the bindings the
    // writes since the last read changed, and only they are read back and made as changes.
    let applies_before = s.applied.3.lock().expect("lock").len();
    let (status, two) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(binding("two")))
        .await;
    assert_eq!(status, 201);
    assert_eq!(names(&s), ["beside", "beta-beside", "one", "one-b", "two"]);
    assert_eq!(
        s.applies_since(applies_before),
        ["change to acls of acme", "change to acls of beta"]
    );
    // The same for deletions.
    other
        .delete_acl("acme", &beside.id)
        .await
        .expect("deleted")
        .expect("there");
    let id = one["id"].as_str().expect("id");
    let (status, _) = s
        .send(
            Method::DELETE,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(names(&s), ["beta-beside", "one-b", "two"]);
    // A provider change keeps the compiled bindings.
    let (status, created) = s
        .send(
            Method::POST,
            "/organizations/acme/oauth-providers/",
            Some(ACME_TOKEN),
            Some(seed("acme")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(last_apply(&s).as_deref(), Some("providers"));
    assert_eq!(s.applied.0.lock().expect("lock").len(), 1);
    assert_eq!(names(&s), ["beta-beside", "one-b", "two"]);
    // The API's own deletion, alone since the last read, is made as a change too.
    let id = two["id"].as_str().expect("id");
    let (status, _) = s
        .send(
            Method::DELETE,
            &format!("{path}{id}/"),
            Some(ACME_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(last_apply(&s).as_deref(), Some("change to acls of acme"));
    assert_eq!(names(&s), ["beta-beside", "one-b"]);
    // A write of more bindings than the log names one by one: their organization is read
    // back whole.
    let many: Vec<kafka_oidc_proxy::store::StoredAcl> = (0..101)
        .map(|i| kafka_oidc_proxy::store::StoredAcl {
            id: uuid::Uuid::new_v4().to_string(),
            organization: "beta".into(),
            resource_name: format!("many-{i}"),
            ..beside.clone()
        })
        .collect();
    other.create_acls(&many).await.expect("stored");
    let applies_before = s.applied.3.lock().expect("lock").len();
    let (status, _) = s
        .send(Method::POST, path, Some(ACME_TOKEN), Some(binding("three")))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        s.applies_since(applies_before),
        ["change to acls of acme", "acls of beta"]
    );
    assert_eq!(names(&s).len(), 3 + 101);
}

#[tokio::test]
async fn clusters_registered_at_once_keep_server_names_and_namespaces_apart() {
    clusters_registered_at_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn clusters_registered_at_once_on_postgresql() {
    clusters_registered_at_once(Backend::Postgres).await;
}

/// Virtual clusters registered all at once on a listener that routes by server name: four
/// whose server names are one (organization `a`'s `b-c-d-e`, `a-b`'s `c-d-e`...: all
/// `a-b-c-d-e`), then four whose namespaces on the upstream cluster hold one another. Of each
/// four, one is stored and three are refused by the field at fault: the store makes the checks
/// in the transaction that writes, and writers of clusters wait for each other.
async fn clusters_registered_at_once(backend: Backend) {
    let tls = common::Scratch::new("kop-at-once-tls");
    let (cert, key) = common::sni::wildcard_certificate(&tls);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let extra = format!(
        "[[listeners]]\nname = \"sni\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"127.0.0.1\"\n\
         bootstrap_port = {port}\nsni_domain = \"kafka.test\"\nauthentication = \"none\"\n\
         [listeners.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n"
    );
    let s = server_on(backend, &extra).await;
    let at_once = async |bodies: [(&str, Value); 4]| {
        let [a, b, c, d] = bodies.map(|(org, body)| {
            let path = format!("/organizations/{org}/clusters/");
            let s = &s;
            async move {
                s.send(Method::POST, &path, Some(ADMIN_TOKEN), Some(body))
                    .await
            }
        });
        let (a, b, c, d) = tokio::join!(a, b, c, d);
        let answers = [a, b, c, d];
        let stored = answers.iter().filter(|(status, _)| *status == 201).count();
        let refused: Vec<Value> = answers
            .into_iter()
            .filter(|(status, _)| *status == 409)
            .map(|(_, body)| body)
            .collect();
        (stored, refused)
    };

    let same_name = [
        ("a", "b-c-d-e"),
        ("a-b", "c-d-e"),
        ("a-b-c", "d-e"),
        ("a-b-c-d", "e"),
    ]
    .map(|(org, name)| (org, json!({ "name": name, "listener": "sni" })));
    let (stored, refused) = at_once(same_name).await;
    assert_eq!((stored, refused.len()), (1, 3), "{refused:?}");
    assert!(refused.iter().all(|r| r["name"].is_array()), "{refused:?}");

    let overlapping = ["ns.", "ns.a", "ns.ab", "ns.abc"].map(|ns| {
        let name = format!("spaced-{}", ns.len());
        (
            "acme",
            json!({ "name": name, "listener": "sni", "namespace": ns }),
        )
    });
    let (stored, refused) = at_once(overlapping).await;
    assert_eq!((stored, refused.len()), (1, 3), "{refused:?}");
    assert!(
        refused.iter().all(|r| r["namespace"].is_array()),
        "{refused:?}"
    );
}
