//! Administrative operations and KIP-848 consumer groups under ACLs, as the Java client
//! (kafka-clients 4.4.0) sees them through the proxy with real tokens against the three-node
//! cluster: topic operations follow the grants on the topic, cluster operations need grants on
//! the cluster, groups need theirs, and each refusal is the client's own authorization
//! exception.

mod common;

use common::{Idp, ProxyOptions, TestProxy, acl, run_as, start_proxy};
use serde_json::Value;

/// A proxy with `grants`; platform admins may do anything.
async fn proxy(grants: &[String]) -> TestProxy {
    start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: format!(
            "{}[authorization.super_users]\nacme = [\"Group:platform-admins\"]\n{}",
            Idp::identity_toml(""),
            grants.concat()
        ),
        ..ProxyOptions::default()
    })
    .await
}

async fn admin(proxy: &TestProxy, login: &str, args: &[&str]) -> Value {
    run_as(proxy, "java", "authz-admin", login, args).await
}

/// Every operation of the scenario, by the topic operations and the cluster ones.
const TOPIC_OPS: [&str; 7] = [
    "describe_topic",
    "describe_configs",
    "alter_configs",
    "create_partitions",
    "delete_records",
    "describe_producers",
    "list_offsets",
];
const CLUSTER_OPS: [&str; 5] = [
    "elect_leaders",
    "list_reassignments",
    "describe_log_dirs",
    "describe_client_quotas",
    "broker_configs",
];

#[tokio::test]
async fn admin_operations_follow_topic_and_cluster_grants() {
    // Producers may administer topics `orders.ops*`, and have no cluster grants.
    let grants = [
        "ALTER",
        "DESCRIBE",
        "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS",
        "DELETE",
        "READ",
    ]
    .map(|op| {
        acl(
            "ALLOW",
            "Group:producers",
            op,
            "TOPIC",
            "PREFIXED",
            "orders.ops",
        )
    });
    let proxy = proxy(&grants).await;
    let t = common::unique_tag();
    let (granted, other, admins) = (
        format!("orders.ops{t}"),
        format!("payments.ops{t}"),
        format!("orders.opsadmin{t}"),
    );
    let created = admin(
        &proxy,
        "kafka-admin",
        &["--create", &format!("{granted},{other},{admins}")],
    )
    .await;
    for name in [&granted, &other, &admins] {
        assert_eq!(created["create"][name], "ok", "{created}");
    }

    let ops = |login: &'static str, topic: &str| {
        let (proxy, args) = (&proxy, ["--ops".to_owned(), topic.to_owned()]);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            admin(proxy, login, &args).await
        }
    };
    let (on_granted, on_other, as_admin) = tokio::join!(
        ops("kafka-producer", &granted),
        ops("kafka-producer", &other),
        ops("kafka-admin", &admins),
    );
    for op in TOPIC_OPS {
        assert_eq!(on_granted["ops"][op], "ok", "{op}: {on_granted}");
        assert_eq!(
            on_other["ops"][op], "TopicAuthorizationException",
            "{op}: {on_other}"
        );
        assert_eq!(as_admin["ops"][op], "ok", "{op}: {as_admin}");
    }
    for op in CLUSTER_OPS {
        assert_eq!(
            on_granted["ops"][op], "ClusterAuthorizationException",
            "{op}: {on_granted}"
        );
        assert_eq!(as_admin["ops"][op], "ok", "{op}: {as_admin}");
    }
    // Listing transactions is filtered, never refused.
    for json in [&on_granted, &on_other, &as_admin] {
        assert_eq!(json["ops"]["list_transactions"], "ok", "{json}");
    }

    // The refused changes changed nothing: the other topic keeps one partition; the granted
    // one has two.
    let described = ops("kafka-admin", &other).await;
    assert_eq!(described["ops"]["create_partitions"], "ok", "{described}");
    let again = ops("kafka-producer", &granted).await;
    assert_eq!(
        again["ops"]["create_partitions"], "InvalidPartitionsException",
        "already two partitions: {again}"
    );
}

#[tokio::test]
async fn consumer_protocol_groups_follow_group_and_topic_grants() {
    let grants = [
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
    let proxy = proxy(&grants).await;
    let t = common::unique_tag();
    let (orders, payments) = (format!("orders.k{t}"), format!("payments.k{t}"));
    let created = admin(
        &proxy,
        "kafka-admin",
        &["--create", &format!("{orders},{payments}")],
    )
    .await;
    assert_eq!(created["create"][&orders], "ok", "{created}");
    let produced = run_as(
        &proxy,
        "java",
        "authz-produce",
        "kafka-producer",
        &["--topics", &orders],
    )
    .await;
    assert_eq!(produced["produce"][&orders], "ok", "{produced}");

    let consume = |group: String, topics: String| {
        let proxy = &proxy;
        async move {
            let args = [
                "--topics",
                &topics,
                "--group",
                &group,
                "--group-protocol",
                "consumer",
                "--duration-s",
                "10",
            ];
            run_as(proxy, "java", "authz-consume", "kafka-consumer", &args).await
        }
    };
    let (group, denied_group) = (format!("orders-k{t}"), format!("analytics-k{t}"));
    let (consumed, refused_group, refused_topic) = tokio::join!(
        consume(group.clone(), orders.clone()),
        consume(denied_group, orders.clone()),
        consume(format!("orders-p{t}"), payments.clone()),
    );
    assert_eq!(consumed["consume"], "ok", "{consumed}");
    assert!(consumed["records"].as_u64() >= Some(1), "{consumed}");
    assert_eq!(consumed["commit"], "ok", "{consumed}");
    assert_eq!(
        refused_group["consume"], "GroupAuthorizationException",
        "{refused_group}"
    );
    // Subscribing to a topic it may not describe fails the heartbeat (Kafka 4's check).
    assert_eq!(
        refused_topic["consume"], "TopicAuthorizationException",
        "{refused_topic}"
    );

    // ConsumerGroupDescribe: DESCRIBE on the group (READ implies it), refused without.
    let describe = |login: &'static str| {
        let (proxy, group) = (&proxy, group.clone());
        async move {
            run_as(
                proxy,
                "java",
                "authz-admin",
                login,
                &["--describe-group", &group],
            )
            .await
        }
    };
    let (by_member, by_producer) =
        tokio::join!(describe("kafka-consumer"), describe("kafka-producer"));
    assert_eq!(by_member["describe_group"], "ok", "{by_member}");
    assert_eq!(
        by_producer["describe_group"], "GroupAuthorizationException",
        "{by_producer}"
    );
}
