//! The web console in a real browser: Debian's headless Chromium, driven by playwright-core
//! (harness/browser/console.mjs), against a running proxy's management listener with the console
//! logging users in at a real Keycloak (harness/keycloak, realm kop, its client kop-management).
//! alice (group platform-admins) logs in through Keycloak's login page, registers a provider
//! (the form first names her faulty fields), tests it with a token, changes it, adds an ACL
//! binding, asks why a request is denied, reads the client settings, deletes both and logs out.
//! bob (group developers, which manages that one organization) sees it alone; a user in no admin
//! group is refused; a forged login state and a forged CSRF token are refused. Every page passes
//! axe-core's WCAG 2 A/AA rules; screenshots of each step are in target/harness/console/.

mod common;

use common::{Idp, env, keycloak_admin, start_with_management};
use serde_json::Value;

/// Lets the realm's client `client_id` send browsers back to `url` (the console).
async fn allow_redirects_to(client_id: &str, url: &str) {
    let clients = keycloak_admin("GET", &format!("/clients?clientId={client_id}"), None).await;
    let id = clients[0]["id"]
        .as_str()
        .expect("the client's id")
        .to_owned();
    let mut client = keycloak_admin("GET", &format!("/clients/{id}"), None).await;
    let uris = client["redirectUris"]
        .as_array_mut()
        .expect("redirect URIs");
    let pattern = Value::String(format!("{url}/*"));
    if !uris.contains(&pattern) {
        uris.push(pattern);
    }
    keycloak_admin("PUT", &format!("/clients/{id}"), Some(client)).await;
}

/// A user of realm kop with a password and no group.
async fn user_without_groups(name: &str, password: &str) {
    keycloak_admin(
        "POST",
        "/users",
        Some(serde_json::json!({
            "username": name, "enabled": true, "emailVerified": true,
            "email": format!("{name}@example.com"), "firstName": "Carol", "lastName": "Nobody",
            "credentials": [{"type": "password", "value": password, "temporary": false}]
        })),
    )
    .await;
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The first of `n` consecutive ports nothing listens on now.
fn free_ports(n: u16) -> u16 {
    loop {
        let first = free_port();
        let all: Vec<_> = (0..n)
            .map_while(|i| std::net::TcpListener::bind(("127.0.0.1", first.checked_add(i)?)).ok())
            .collect();
        if all.len() == usize::from(n) {
            return first;
        }
    }
}

/// A console at `port` for the realm's client `client` (secret `<client>-secret`, or
/// kop-management's), with `org`'s virtual cluster at `ports` and bob's group managing `org`.
async fn console_proxy(
    t: &str,
    port: u16,
    client: (&str, &str),
    org: &str,
    ports: u16,
) -> (common::TestProxy, kafka_oidc_proxy::management::Running) {
    let dir = std::env::temp_dir().join(format!("kop-console-{t}"));
    let console = format!("http://127.0.0.1:{port}/console");
    let extra = format!(
        "[identity]\nallow_http_loopback = true\n\
         [management]\nlisten = \"127.0.0.1:{port}\"\n\
         [management.sso]\nissuer = {issuer:?}\naudience = \"kafka-management\"\n\
         scope = \"kafka-management\"\nsub_claim_name = \"preferred_username\"\n\
         [[management.sso.admin_groups]]\ngroup = \"platform-admins\"\norganization = \"*\"\n\
         [[management.sso.admin_groups]]\ngroup = \"developers\"\norganization = {org:?}\n\
         [management.console]\nurl = {console:?}\nclient_id = {id:?}\nclient_secret = {secret:?}\n\
         [[clusters]]\norganization = {org:?}\nname = \"main\"\nlistener = \"test\"\n\
         bootstrap_port = {ports}\nbroker_port_base = {brokers}\n\
         [store]\ndata_dir = {dir:?}\n{keys}",
        id = client.0,
        secret = client.1,
        brokers = ports + 1,
        issuer = env("KOP_KEYCLOAK_ISSUER"),
        dir = dir.display().to_string(),
        keys = common::store_keys_line(&dir),
    );
    start_with_management(extra).await
}

/// Runs harness/browser/console.mjs with `vars`; its result line.
async fn browser(t: &str, vars: &[(&str, String)]) -> Value {
    let work = std::path::PathBuf::from(
        std::env::var("KOP_WORK").unwrap_or_else(|_| "target/harness".into()),
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/browser/console.mjs");
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("KOP_BROWSER_MODULES", work.join("browser"))
        .env("KOP_SHOTS", work.join("console").join(t))
        .env("KOP_ADMIN", "alice")
        .env("KOP_ADMIN_PASSWORD", "alice-password")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result line: {stdout}"));
    eprintln!("{result:#}");
    assert_eq!(result["ok"], true, "{result:#}");
    result
}

#[tokio::test]
async fn a_user_manages_an_organization_in_the_console_in_a_real_browser() {
    let t = common::unique_tag();
    let port = free_port();
    let console = format!("http://127.0.0.1:{port}/console");
    allow_redirects_to("kop-management", &console).await;
    // The organization's virtual cluster (the whole upstream), which the connect page offers.
    let org = format!("console-{t}");
    let ports = free_ports(4);
    let (_proxy, _running) = console_proxy(
        &t,
        port,
        ("kop-management", "kop-management-secret"),
        &org,
        ports,
    )
    .await;
    let carol = format!("carol-{t}");
    user_without_groups(&carol, "carol-password").await;
    let result = browser(
        &t,
        &[
            ("KOP_CONSOLE_URL", console.clone()),
            ("KOP_CONSOLE_ORG", org.clone()),
            ("KOP_PROVIDER_ISSUER", Idp::issuer()),
            ("KOP_BOOTSTRAP", format!("127.0.0.1:{ports}")),
            (
                "KOP_TEST_TOKEN",
                Idp::token(&Idp::issuer(), "kafka-producer").await,
            ),
            ("KOP_SCOPED", "bob".into()),
            ("KOP_SCOPED_PASSWORD", "bob-password".into()),
            ("KOP_OTHER", carol.clone()),
            ("KOP_OTHER_PASSWORD", "carol-password".into()),
        ],
    )
    .await;
    assert_eq!(result["forged_csrf_status"], 403);
    assert_eq!(result["forged_state_status"], 400);
    assert_eq!(result["logged_out"], true);
    assert_eq!(result["other_org_status"], 404);
    // The librdkafka settings the connect page gives are the ones a client needs here, with the
    // scope the provider asks for since it was changed.
    let librdkafka = result["settings"]["librdkafka"].as_str().expect("settings");
    for line in [
        format!("bootstrap.servers=127.0.0.1:{ports}"),
        "security.protocol=SASL_PLAINTEXT".to_owned(),
        "sasl.mechanism=OAUTHBEARER".to_owned(),
        format!(
            "sasl.oauthbearer.token.endpoint.url={}/token",
            Idp::issuer()
        ),
        "sasl.oauthbearer.scope=other-scope".to_owned(),
    ] {
        assert!(
            librdkafka.lines().any(|l| l == line),
            "{line} in {librdkafka}"
        );
    }
    let axe = result["axe"].as_object().expect("axe results");
    assert!(axe.len() >= 6, "{axe:?}");
    for (page, violations) in axe {
        assert_eq!(
            violations.as_array().map(Vec::len),
            Some(0),
            "{page}: {violations:#}"
        );
    }
    let shots_taken = result["screenshots"].as_array().map_or(0, Vec::len);
    assert!(shots_taken >= 10, "{shots_taken} screenshots");
}

/// A session outlives its access token: the console refreshes it on the server with the refresh
/// token, and the browser is never sent back to the provider. The realm gets a client of its
/// own for this, whose access tokens live 35 s (the console refreshes 30 s before expiry).
#[tokio::test]
async fn a_console_session_outlives_its_access_token() {
    let t = common::unique_tag();
    let port = free_port();
    let console = format!("http://127.0.0.1:{port}/console");
    let client = format!("kop-console-{t}");
    let secret = format!("{client}-secret");
    keycloak_admin(
        "POST",
        "/clients",
        Some(serde_json::json!({
            "clientId": client, "enabled": true, "protocol": "openid-connect",
            "publicClient": false, "secret": secret, "standardFlowEnabled": true,
            "directAccessGrantsEnabled": false, "fullScopeAllowed": false,
            "redirectUris": [format!("{console}/*")],
            "defaultClientScopes": ["kafka-management"],
            "attributes": {
                "pkce.code.challenge.method": "S256",
                "access.token.lifespan": "35",
                "post.logout.redirect.uris": "+"
            }
        })),
    )
    .await;
    let org = format!("refresh-{t}");
    let (_proxy, _running) = console_proxy(&t, port, (&client, &secret), &org, free_ports(4)).await;
    let result = browser(
        &t,
        &[
            ("KOP_CONSOLE_MODE", "refresh".into()),
            ("KOP_CONSOLE_URL", console.clone()),
            ("KOP_CONSOLE_ORG", org.clone()),
            ("KOP_PROVIDER_ISSUER", Idp::issuer()),
            ("KOP_REFRESH_WAIT_S", "8".into()),
        ],
    )
    .await;
    assert_eq!(result["after_wait"], true, "{result:#}");
    assert_eq!(result["left_console"], false, "{result:#}");
    let logs = common::logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("console session refreshed") && l.contains("user=alice")),
        "no refresh in the log"
    );
}
