//! ACLs as unmodified clients see them: the Java client (kafka-clients 4.4.0), confluent-kafka
//! (librdkafka), kafka-python and kafkajs through the proxy, with real tokens, against the
//! three-node cluster. Each refusal must surface as the client's own authorization error, and
//! everything allowed must work.

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

/// How one library names each refusal (its own error name or code string, as its authz-*
/// scenario reports it).
struct Refusals {
    /// Produce, create and delete on a topic without the grant.
    topic: &'static str,
    /// A consumer group without READ.
    group: &'static str,
    /// A transactional id without WRITE.
    transactional_id: &'static str,
    /// kafkajs only: what it really got from FindCoordinator. kafkajs asks every broker, drops
    /// each error but GROUP_COORDINATOR_NOT_AVAILABLE and reports KafkaJSGroupCoordinatorNotFound;
    /// its scenario shows the dropped error types as "coordinator_errors".
    coordinator_errors: bool,
}

/// The policy of [`proxy`] as one library sees it: a producer writes orders.* and gets the
/// library's topic-authorization error for payments.*; a consumer with a group outside
/// orders-* gets its group-authorization error while an allowed group consumes and commits;
/// the transactional id outside orders-tx* is refused at init; the admin client lists only
/// orders.*, creates and deletes only orders.new*.
async fn each_grant_as_seen_by(client: &str, refusals: Refusals) {
    let proxy = proxy().await;
    let run = |scenario: &'static str, login: &'static str, args: Vec<String>| {
        let proxy = &proxy;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_as(proxy, client, scenario, login, &args).await
        }
    };
    let t = common::unique_tag();
    let (orders, payments) = (format!("orders.{t}"), format!("payments.{t}"));
    let created = run(
        "authz-admin",
        "kafka-admin",
        vec!["--create".into(), format!("{orders},{payments}")],
    )
    .await;
    assert_eq!(created["create"][&orders], "ok", "{created}");
    assert_eq!(created["create"][&payments], "ok", "{created}");

    let produced = run(
        "authz-produce",
        "kafka-producer",
        vec!["--topics".into(), format!("{orders},{payments}")],
    )
    .await;
    assert_eq!(produced["produce"][&orders], "ok", "{produced}");
    assert_eq!(produced["produce"][&payments], refusals.topic, "{produced}");

    // Automatic creation, per topic as in Kafka: one producer writes an existing topic, a new
    // one it may create (orders.new*) and a new one it may not.
    let (creatable, uncreatable) = (format!("orders.newauto{t}"), format!("orders.other{t}"));
    let produced = run(
        "authz-produce",
        "kafka-producer",
        vec![
            "--topics".into(),
            format!("{orders},{creatable},{uncreatable}"),
        ],
    )
    .await;
    assert_eq!(produced["produce"][&orders], "ok", "{produced}");
    assert_eq!(produced["produce"][&creatable], "ok", "{produced}");
    assert_eq!(
        produced["produce"][&uncreatable], refusals.topic,
        "{produced}"
    );

    let consume = |group: String| {
        run(
            "authz-consume",
            "kafka-consumer",
            ["--topics", &orders, "--group", &group, "--duration-s", "8"]
                .map(str::to_owned)
                .to_vec(),
        )
    };
    let txn = |id: String| {
        run(
            "authz-txn",
            "kafka-producer",
            vec![
                "--topic".into(),
                orders.clone(),
                "--transactional-id".into(),
                id,
            ],
        )
    };
    let (new_orders, new_payments) = (format!("orders.new{t}"), format!("payments.new{t}"));
    let admin = run(
        "authz-admin",
        "kafka-producer",
        vec![
            "--create".into(),
            format!("{new_orders},{new_payments}"),
            "--delete".into(),
            format!("{new_orders},{payments}"),
        ],
    );
    let (refused, consumed, txn_ok, txn_refused, admin) = tokio::join!(
        consume(format!("analytics-{t}")),
        consume(format!("orders-{t}")),
        txn(format!("orders-tx-{t}")),
        txn(format!("billing-tx-{t}")),
        admin,
    );

    assert_eq!(refused["consume"], refusals.group, "{refused}");
    assert_eq!(refused["commit"], "skipped", "{refused}");
    assert_eq!(consumed["consume"], "ok", "{consumed}");
    assert!(consumed["records"].as_u64() >= Some(1), "{consumed}");
    assert_eq!(consumed["commit"], "ok", "{consumed}");

    assert_eq!(txn_ok["txn"], "ok", "{txn_ok}");
    assert_eq!(txn_ok["step"], "done", "{txn_ok}");
    assert_eq!(
        txn_refused["txn"], refusals.transactional_id,
        "{txn_refused}"
    );
    assert_eq!(txn_refused["step"], "init", "{txn_refused}");
    if refusals.coordinator_errors {
        let dropped = |json: &Value, error: &str| {
            json["coordinator_errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(|e| e == error))
        };
        assert!(dropped(&refused, "GROUP_AUTHORIZATION_FAILED"), "{refused}");
        assert!(
            dropped(&txn_refused, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"),
            "{txn_refused}"
        );
    }

    let listed: Vec<&str> = admin["list_topics"]
        .as_array()
        .unwrap_or_else(|| panic!("a topic list: {admin}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(listed.contains(&orders.as_str()), "{admin}");
    assert!(
        listed.iter().all(|n| n.starts_with("orders.")),
        "only what it may describe: {admin}"
    );
    assert_eq!(admin["create"][&new_orders], "ok", "{admin}");
    assert_eq!(admin["create"][&new_payments], refusals.topic, "{admin}");
    assert_eq!(admin["delete"][&new_orders], "ok", "{admin}");
    assert_eq!(admin["delete"][&payments], refusals.topic, "{admin}");

    // The platform admin still sees payments: the refusal deleted nothing.
    let after = run("authz-admin", "kafka-admin", Vec::new()).await;
    let all = after["list_topics"].to_string();
    assert!(all.contains(&format!("\"{payments}\"")), "{after}");
    assert!(!all.contains(&format!("\"{new_payments}\"")), "{after}");
}

#[tokio::test]
async fn confluent_kafka_reports_librdkafkas_authorization_errors() {
    each_grant_as_seen_by(
        "confluent",
        Refusals {
            topic: "TOPIC_AUTHORIZATION_FAILED",
            group: "GROUP_AUTHORIZATION_FAILED",
            transactional_id: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
            coordinator_errors: false,
        },
    )
    .await;
}

#[tokio::test]
async fn kafka_python_reports_its_authorization_errors() {
    each_grant_as_seen_by(
        "kafka-python",
        Refusals {
            topic: "TopicAuthorizationFailedError",
            group: "GroupAuthorizationFailedError",
            transactional_id: "TransactionalIdAuthorizationFailedError",
            coordinator_errors: false,
        },
    )
    .await;
}

#[tokio::test]
async fn kafkajs_reports_topic_refusals_and_drops_coordinator_refusals() {
    each_grant_as_seen_by(
        "kafkajs",
        Refusals {
            topic: "TOPIC_AUTHORIZATION_FAILED",
            group: "KafkaJSGroupCoordinatorNotFound",
            transactional_id: "KafkaJSGroupCoordinatorNotFound",
            coordinator_errors: true,
        },
    )
    .await;
}
