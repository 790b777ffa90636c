//! `kafka-oidc-proxy api`, the binary as a user runs it, against a running proxy's management
//! API with its SQLite store and the real provider: every command on providers, ACL bindings
//! and virtual clusters, the API's refusals with the fields they name and exit code 1, the
//! command's own failures with exit code 2, tables for people and JSON for scripts.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Idp, TestProxy, start_with_management};
use kafka_oidc_proxy::management;
use serde_json::{Value, json};

const TOKEN: &str = "cli-test-admin-token";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts a refusal naming each of `fields`, one line each under the reason.
    fn names_fields(&self, fields: &[&str]) {
        assert_eq!(self.code, 1, "{}", self.stderr);
        for field in fields {
            assert!(
                self.stderr.contains(&format!("\n  {field}: ")),
                "{field}: {}",
                self.stderr
            );
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: not JSON: {}", self.stdout))
    }
}

/// Runs `kafka-oidc-proxy api ARGS` with `env`, `stdin` on its standard input.
async fn cli(url: &str, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-oidc-proxy"));
    command
        .arg("api")
        .args(args)
        .env_remove("KAFKA_OIDC_PROXY_API_TOKEN")
        .env("KAFKA_OIDC_PROXY_API_URL", url)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("the binary runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin written");
        child.wait_with_output().expect("it ends")
    })
    .await
    .expect("joined");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!("api {args:?} -> {}\n{}{}", run.code, run.stdout, run.stderr);
    run
}

/// A proxy with the management API (an administrator token of every organization, the main
/// provider in the file for acme, a SQLite store) and the API's URL.
async fn live() -> (TestProxy, management::Running, String) {
    let t = common::unique_tag();
    let dir = std::env::temp_dir().join(format!("kop-cli-{t}"));
    let extra = format!(
        "[identity]\nallow_http_loopback = true\n\
         [[identity.providers]]\norganization = \"acme\"\nidentifier = \"main-idp\"\n\
         issuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\n\
         [management]\nlisten = \"127.0.0.1:0\"\n\
         [[management.tokens]]\nname = \"t\"\nsha256 = {hash:?}\norganization = \"*\"\n\
         [[management.tokens]]\nname = \"a\"\nsha256 = {acme:?}\norganization = \"acme\"\n\
         [store]\ndata_dir = {dir:?}\n{keys}",
        issuer = Idp::issuer(),
        hash = management::token_hash(TOKEN),
        acme = management::token_hash("acme-only-token"),
        dir = dir.display().to_string(),
        keys = common::store_keys_line(&dir),
    );
    let (proxy, running) = start_with_management(extra).await;
    let url = format!("http://{}", running.addr());
    (proxy, running, url)
}

#[tokio::test]
async fn providers_through_the_command_line() {
    let (_proxy, _running, url) = live().await;
    let token = [("KAFKA_OIDC_PROXY_API_TOKEN", TOKEN)];
    let second = Idp::second_issuer();

    // Without a token, the command is not made (2); with a wrong one, the API refuses (1).
    let none = cli(&url, &[], &["providers", "--org", "globex", "list"], "").await;
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("KAFKA_OIDC_PROXY_API_TOKEN"),
        "{}",
        none.stderr
    );
    let wrong = cli(
        &url,
        &[("KAFKA_OIDC_PROXY_API_TOKEN", "not-a-token")],
        &["providers", "--org", "globex", "list"],
        "",
    )
    .await;
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains("401 Unauthorized"),
        "{}",
        wrong.stderr
    );

    // Registered from flags; the answer is a field per line.
    let token_endpoint = format!("{second}/token");
    let created = cli(
        &url,
        &token,
        &[
            "providers",
            "--org",
            "globex",
            "create",
            "--identifier",
            "second-idp",
            "--issuer",
            &second,
            "--audience",
            "kafka",
            "--scope",
            "kafka",
            "--token-endpoint-uri",
            &token_endpoint,
            "--refresh-token",
            "false",
        ],
        "",
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["identifier", "second-idp"]),
        "{}",
        created.stdout
    );
    let id = created
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("id "))
        .expect("an id line")
        .trim()
        .to_owned();

    // Listed in a table, shown as JSON for scripts.
    let listed = cli(&url, &token, &["providers", "--org", "globex", "list"], "").await;
    assert_eq!(listed.code, 0);
    let header = listed.stdout.lines().next().expect("a header");
    assert!(
        header.starts_with("ID") && header.contains("ISSUER"),
        "{header}"
    );
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains(&second)),
        "{}",
        listed.stdout
    );
    let shown = cli(
        &url,
        &token,
        &["providers", "--org", "globex", "get", &id, "-o", "json"],
        "",
    )
    .await;
    assert_eq!(shown.code, 0);
    let shown = shown.json();
    assert_eq!(shown["issuer"], json!(second));
    assert_eq!(shown["refresh_token"], json!(false));

    // Changed by PATCH, from a JSON body on stdin with a flag over it.
    let updated = cli(
        &url,
        &token,
        &[
            "providers",
            "--org",
            "globex",
            "update",
            &id,
            "--json",
            "-",
            "--scope",
            "kafka",
            "-o",
            "json",
        ],
        r#"{"sub_claim_name": "client_id", "scope": "ignored"}"#,
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let updated = updated.json();
    assert_eq!(updated["sub_claim_name"], json!("client_id"));
    assert_eq!(updated["scope"], json!("kafka"));

    // Refusals name each field, exit 1, and with -o json give the API's body.
    let invalid = cli(
        &url,
        &token,
        &[
            "providers",
            "--org",
            "globex",
            "create",
            "--identifier",
            "x",
        ],
        "",
    )
    .await;
    assert!(
        invalid.stderr.contains("400 Bad Request"),
        "{}",
        invalid.stderr
    );
    invalid.names_fields(&["issuer", "audience"]);
    let duplicate = cli(
        &url,
        &token,
        &[
            "providers",
            "--org",
            "globex",
            "create",
            "--identifier",
            "second-idp",
            "--issuer",
            &second,
            "--audience",
            "other",
            "-o",
            "json",
        ],
        "",
    )
    .await;
    assert_eq!(duplicate.code, 1);
    assert!(
        duplicate.json()["identifier"].is_array(),
        "{}",
        duplicate.stdout
    );
    // The configuration file's provider is read-only.
    let file = cli(&url, &token, &["providers", "--org", "acme", "list"], "").await;
    let line = file
        .stdout
        .lines()
        .find(|l| l.contains("main-idp"))
        .expect("the file's provider");
    assert!(line.trim_end().ends_with("yes"), "{line}");
    // A token of another organization may not touch globex: to it, globex does not exist.
    let other = cli(
        &url,
        &[("KAFKA_OIDC_PROXY_API_TOKEN", "acme-only-token")],
        &["providers", "--org", "globex", "delete", &id],
        "",
    )
    .await;
    assert_eq!(other.code, 1);
    assert!(other.stderr.contains("404 Not Found"), "{}", other.stderr);

    // Deleted, then gone; the token may also come from a file.
    let dir = common::Scratch::new("kop-cli-token");
    std::fs::create_dir_all(&dir).expect("dir");
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let token_file = token_file.display().to_string();
    let deleted = cli(
        &url,
        &[],
        &[
            "providers",
            "--org",
            "globex",
            "delete",
            &id,
            "--token-file",
            &token_file,
        ],
        "",
    )
    .await;
    assert_eq!((deleted.code, deleted.stdout.as_str()), (0, "deleted\n"));
    let gone = cli(
        &url,
        &token,
        &["providers", "--org", "globex", "get", &id],
        "",
    )
    .await;
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("404 Not Found"), "{}", gone.stderr);
}

#[tokio::test]
async fn acls_and_clusters_through_the_command_line() {
    let (_proxy, _running, url) = live().await;
    let token = [("KAFKA_OIDC_PROXY_API_TOKEN", TOKEN)];

    // More bindings than one page of the API: the list follows every page.
    let http = kafka_oidc_proxy::identity::http_client().expect("client");
    for i in 0..105 {
        let status = http
            .post(format!("{url}/organizations/globex/acls/"))
            .bearer_auth(TOKEN)
            .json(&json!({
                "principal": format!("User:u{i}"), "resource_type": "TOPIC",
                "resource_name": "orders", "operation": "READ", "permission": "ALLOW"
            }))
            .send()
            .await
            .expect("answered")
            .status();
        assert_eq!(status, 201);
    }
    let all = cli(
        &url,
        &token,
        &["acls", "--org", "globex", "list", "-o", "json"],
        "",
    )
    .await;
    assert_eq!(all.code, 0);
    assert_eq!(all.json()["results"].as_array().map(Vec::len), Some(105));

    // Created from a JSON body on stdin; found by a filter; deleted.
    let created = cli(
        &url,
        &token,
        &[
            "acls", "--org", "globex", "create", "--json", "-", "-o", "json",
        ],
        r#"{"principal": "Group:ops", "resource_type": "TOPIC", "resource_name": "orders.",
            "pattern_type": "PREFIXED", "operation": "WRITE", "permission": "ALLOW"}"#,
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let filtered = cli(
        &url,
        &token,
        &[
            "acls",
            "--org",
            "globex",
            "list",
            "--principal",
            "Group:ops",
        ],
        "",
    )
    .await;
    let rows: Vec<&str> = filtered.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{}", filtered.stdout);
    assert!(
        rows[0].starts_with(&id) && rows[0].contains("TOPIC:PREFIXED:orders."),
        "{}",
        rows[0]
    );
    let invalid = cli(
        &url,
        &token,
        &[
            "acls",
            "--org",
            "globex",
            "create",
            "--principal",
            "Nobody:x",
            "--resource-type",
            "TOPIC",
            "--resource-name",
            "t",
            "--operation",
            "READ",
        ],
        "",
    )
    .await;
    invalid.names_fields(&["principal", "permission"]);
    let deleted = cli(
        &url,
        &token,
        &["acls", "--org", "globex", "delete", &id],
        "",
    )
    .await;
    assert_eq!(deleted.code, 0);
    let malformed = cli(
        &url,
        &token,
        &["acls", "--org", "globex", "create", "--json", "-"],
        "[not json",
    )
    .await;
    assert_eq!(malformed.code, 2);
    assert!(malformed.stderr.contains("--json"), "{}", malformed.stderr);

    // Virtual clusters: listed, and a create refused with the fields it lacks.
    let listed = cli(&url, &token, &["clusters", "--org", "globex", "list"], "").await;
    assert_eq!(listed.code, 0);
    assert!(listed.stdout.starts_with("ID"), "{}", listed.stdout);
    let refused = cli(
        &url,
        &token,
        &[
            "clusters",
            "--org",
            "globex",
            "create",
            "--namespace",
            "globex.",
        ],
        "",
    )
    .await;
    refused.names_fields(&["name", "listener"]);
    // Nothing listens there: the command is not made.
    let unreachable = cli(
        "http://127.0.0.1:9",
        &token,
        &["clusters", "--org", "globex", "list"],
        "",
    )
    .await;
    assert_eq!(unreachable.code, 2);
}
