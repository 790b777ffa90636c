//! ACLs as unmodified clients see them: the Java client (kafka-clients 4.4.0) through the
//! proxy, with real tokens, against the three-node cluster. Each refusal must surface as the
//! client's own authorization exception, and everything allowed must work.

mod common;

use common::{Idp, ProxyOptions, TestProxy, acl, run_as, start_proxy};
use serde_json::Value;

/// The platform team's policy of the tests: producers write `orders.*`, may create and delete
/// `orders.new*` and use transactional ids `orders-tx*`; consumers read `orders.*` with groups
/// `orders-*`; platform admins may do anything.
async fn proxy() -> TestProxy {
    let acls = [
        acl(
            "ALLOW",
            "Group:producers",
            "WRITE",
            "TOPIC",
            "PREFIXED",
            "orders.",
        ),
        acl(
            "ALLOW",
            "Group:producers",
            "CREATE",
            "TOPIC",
            "PREFIXED",
            "orders.new",
        ),
        acl(
            "ALLOW",
            "Group:producers",
            "DELETE",
            "TOPIC",
            "PREFIXED",
            "orders.new",
        ),
        acl(
            "ALLOW",
            "Group:producers",
            "WRITE",
            "TRANSACTIONAL_ID",
            "PREFIXED",
            "orders-tx",
        ),
        acl(
            "ALLOW",
            "Group:consumers",
            "READ",
            "TOPIC",
            "PREFIXED",
            "orders.",
        ),
        acl(
            "ALLOW",
            "Group:consumers",
            "READ",
            "GROUP",
            "PREFIXED",
            "orders-",
        ),
    ];
    start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: format!(
            "{}[authorization.super_users]\nacme = [\"Group:platform-admins\"]\n{}",
            Idp::identity_toml(""),
            acls.concat()
        ),
        ..ProxyOptions::default()
    })
    .await
}

async fn java(proxy: &TestProxy, scenario: &str, login: &str, extra: &[&str]) -> Value {
    run_as(proxy, "java", scenario, login, extra).await
}

/// Creates topics as a platform admin (who may do anything).
async fn create(proxy: &TestProxy, topics: &[&str]) {
    let json = java(
        proxy,
        "authz-admin",
        "kafka-admin",
        &["--create", &topics.join(",")],
    )
    .await;
    for t in topics {
        assert_eq!(json["create"][t], "ok", "{json}");
    }
}

#[tokio::test]
async fn each_refusal_is_the_java_clients_own_authorization_error() {
    let proxy = proxy().await;
    let t = common::unique_tag();
    let orders = format!("orders.{t}");
    let payments = format!("payments.{t}");
    create(&proxy, &[&orders, &payments]).await;

    // A producer in group `producers` writes orders.* but not payments.
    let produced = java(
        &proxy,
        "authz-produce",
        "kafka-producer",
        &["--topics", &format!("{orders},{payments}")],
    )
    .await;
    assert_eq!(produced["produce"][&orders], "ok", "{produced}");
    assert_eq!(
        produced["produce"][&payments], "TopicAuthorizationException",
        "{produced}"
    );

    // A consumer reads orders.* with a group orders-*, and is refused any other group.
    let denied_group = format!("analytics-{t}");
    let allowed_group = format!("orders-{t}");
    let consume = |group: &str| {
        let args = ["--topics", &orders, "--group", group, "--duration-s", "10"].map(str::to_owned);
        let proxy = &proxy;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            java(proxy, "authz-consume", "kafka-consumer", &args).await
        }
    };
    let (refused, consumed) = tokio::join!(consume(&denied_group), consume(&allowed_group));
    assert_eq!(
        refused["consume"], "GroupAuthorizationException",
        "{refused}"
    );
    assert_eq!(consumed["consume"], "ok", "{consumed}");
    assert!(consumed["records"].as_u64() >= Some(1), "{consumed}");
    assert_eq!(consumed["commit"], "ok", "{consumed}");

    // Transactions need WRITE on the transactional id.
    let (allowed_id, denied_id) = (format!("orders-tx-{t}"), format!("billing-tx-{t}"));
    let txn = |id: &str| {
        let args = ["--topic", &orders, "--transactional-id", id].map(str::to_owned);
        let proxy = &proxy;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            java(proxy, "authz-txn", "kafka-producer", &args).await
        }
    };
    let (txn_ok, txn_refused) = tokio::join!(txn(&allowed_id), txn(&denied_id));
    assert_eq!(txn_ok["txn"], "ok", "{txn_ok}");
    assert_eq!(
        txn_refused["txn"], "TransactionalIdAuthorizationException",
        "{txn_refused}"
    );
    assert_eq!(txn_refused["step"], "init", "{txn_refused}");
}

#[tokio::test]
async fn an_admin_client_sees_and_changes_only_what_its_grants_allow() {
    let proxy = proxy().await;
    let t = common::unique_tag();
    let orders = format!("orders.a{t}");
    let payments = format!("payments.a{t}");
    create(&proxy, &[&orders, &payments]).await;
    let (new_orders, new_payments) = (format!("orders.new{t}"), format!("payments.new{t}"));
    let json = java(
        &proxy,
        "authz-admin",
        "kafka-producer",
        &[
            "--create",
            &format!("{new_orders},{new_payments}"),
            "--delete",
            &format!("{new_orders},{payments}"),
        ],
    )
    .await;
    let listed: Vec<&str> = json["list_topics"]
        .as_array()
        .unwrap_or_else(|| panic!("a topic list: {json}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(listed.contains(&orders.as_str()), "{json}");
    assert!(
        listed.iter().all(|n| n.starts_with("orders.")),
        "only what it may describe: {json}"
    );
    assert_eq!(json["create"][&new_orders], "ok", "{json}");
    assert_eq!(
        json["create"][&new_payments], "TopicAuthorizationException",
        "{json}"
    );
    assert_eq!(json["delete"][&new_orders], "ok", "{json}");
    assert_eq!(
        json["delete"][&payments], "TopicAuthorizationException",
        "{json}"
    );
    // The platform admin still sees payments: the refusal deleted nothing.
    let admin = java(&proxy, "authz-admin", "kafka-admin", &[]).await;
    let all = admin["list_topics"].to_string();
    assert!(all.contains(&payments), "{admin}");
    assert!(!all.contains(&new_payments), "{admin}");
}
