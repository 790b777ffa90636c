//! ACL enforcement through the proxy, byte by byte, with real tokens from the test provider
//! and the real cluster: mixed requests are split and merged, Metadata hides what the caller
//! may not describe and does not auto-create without CREATE, Fetch is made sessionless, an
//! ACL change applies to the next request of a live connection, and API keys the proxy cannot
//! authorize never reach a broker.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::binary::Binary;
use common::raw::Raw;
use common::{Idp, ProxyOptions, TestProxy, acl, start_proxy, wait_for_log};
use kafka_oidc_proxy::authz::AuthorizationConfig;
use kafka_oidc_proxy::kafka::encode_request;
use kafka_oidc_proxy::snapshot::Publish;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn tn(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// `[authorization]` with acme's platform admins as super users, plus `acls`.
fn authorization(acls: &[String]) -> String {
    format!(
        "[authorization.super_users]\nacme = [\"Group:platform-admins\"]\n{}",
        acls.concat()
    )
}

async fn authz_proxy(acls: &[String]) -> TestProxy {
    start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + &authorization(acls),
        ..ProxyOptions::default()
    })
    .await
}

/// Connects to `addr` and logs in as the provider's `client`.
async fn login(addr: &str, client: &str) -> Raw {
    let token = Idp::token(&Idp::issuer(), client).await;
    let (c, code) = Raw::login(addr, &token).await;
    assert_eq!(code, 0, "{client} authenticates");
    c
}

fn named(topics: &[&str]) -> Option<Vec<MetadataRequestTopic>> {
    Some(
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(tn(t))))
            .collect(),
    )
}

/// Creates one-partition topics as a platform admin.
async fn create_topics(proxy: &TestProxy, names: &[&str]) {
    let mut admin = login(&proxy.bootstrap(), "kafka-admin").await;
    let topics = names
        .iter()
        .map(|n| {
            CreatableTopic::default()
                .with_name(tn(n))
                .with_num_partitions(1)
                .with_replication_factor(3)
        })
        .collect();
    let r = admin
        .request(
            7,
            &CreateTopicsRequest::default()
                .with_topics(topics)
                .with_timeout_ms(30_000),
        )
        .await;
    for t in &r.topics {
        assert_eq!(
            t.error_code, 0,
            "create {:?}: {:?}",
            t.name, t.error_message
        );
    }
}

/// The proxy address of the leader of partition 0 of `topic`, once it has one.
async fn leader(c: &mut Raw, topic: &str) -> String {
    for _ in 0..100 {
        let m = c
            .request(
                12,
                &MetadataRequest::default()
                    .with_topics(named(&[topic]))
                    .with_allow_auto_topic_creation(false),
            )
            .await;
        let t = &m.topics[0];
        if t.error_code == 0
            && let Some(p) = t.partitions.first()
            && p.leader_id.0 >= 0
            && let Some(b) = m.brokers.iter().find(|b| b.node_id == p.leader_id)
        {
            return format!("{}:{}", b.host, b.port);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{topic} has no leader");
}

fn batch(value: &str) -> Bytes {
    common::record_batch(Bytes::from(value.to_owned()))
}

fn produce(topics: &[&str], acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(
            topics
                .iter()
                .map(|t| {
                    TopicProduceData::default()
                        .with_name(tn(t))
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(batch("v"))),
                        ])
                })
                .collect(),
        )
}

/// The latest offset of partition 0 as the leader `c` is connected to answers it: the error
/// code and the offset.
async fn latest_offset(c: &mut Raw, topic: &str) -> (i16, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(tn(topic))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
                ]),
        ]);
    let r = c.request(7, &request).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset)
}

/// A connection of `client` to the leader of `topic`'s partition 0, once that broker serves
/// it: a new topic's leader can answer UNKNOWN_TOPIC_OR_PARTITION for a moment after the
/// others list it.
async fn on_leader(proxy: &TestProxy, client: &str, topic: &str) -> Raw {
    let mut c = login(&proxy.bootstrap(), client).await;
    let addr = leader(&mut c, topic).await;
    let mut c = login(&addr, client).await;
    for _ in 0..100 {
        if latest_offset(&mut c, topic).await.0 == 0 {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{addr} does not serve {topic}");
}

/// The end offset of partition 0, as a platform admin sees it.
async fn end_offset(proxy: &TestProxy, topic: &str) -> i64 {
    let mut admin = on_leader(proxy, "kafka-admin", topic).await;
    let (code, offset) = latest_offset(&mut admin, topic).await;
    assert_eq!(code, 0);
    offset
}

/// `authorization(acls)` as the section itself, for [`kafka_oidc_proxy::snapshot::Publish::set_file`].
fn section(acls: &[String]) -> AuthorizationConfig {
    toml::from_str(&authorization(acls).replace("[authorization.", "[")).expect("section TOML")
}

#[tokio::test]
async fn a_produce_to_an_allowed_and_a_denied_topic_delivers_only_the_allowed_one() {
    let t = common::unique_tag();
    let (orders, payments) = (format!("orders.{t}"), format!("payments.{t}"));
    let proxy = authz_proxy(&[
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
            "DESCRIBE",
            "TOPIC",
            "LITERAL",
            "*",
        ),
    ])
    .await;
    create_topics(&proxy, &[&orders, &payments]).await;
    // On the leader of the allowed topic; the denied one never reaches any broker.
    let mut c = on_leader(&proxy, "kafka-producer", &orders).await;
    let denied_before = proxy
        .proxy
        .decisions()
        .denied
        .load(std::sync::atomic::Ordering::Relaxed);
    let r = c.request(9, &produce(&[&orders, &payments], -1)).await;
    let by_name = |n: &str| {
        r.responses
            .iter()
            .find(|t| t.name.0.as_str() == n)
            .unwrap_or_else(|| panic!("{n} missing from {r:?}"))
            .partition_responses[0]
            .clone()
    };
    let denied = by_name(&payments);
    assert_eq!(denied.error_code, TOPIC_AUTHORIZATION_FAILED);
    let allowed = by_name(&orders);
    assert_eq!(allowed.error_code, 0, "{allowed:?}");
    assert_eq!(end_offset(&proxy, &orders).await, allowed.base_offset + 1);
    assert_eq!(
        end_offset(&proxy, &payments).await,
        0,
        "nothing reached {payments}"
    );
    let line = wait_for_log(&["authorization denied", &payments]).await;
    for part in [
        "organization=acme",
        "principal=User:kafka-producer",
        "operation=WRITE",
        "api=Produce",
        "client=127.0.0.1:",
    ] {
        assert!(
            line.contains(part),
            "{part} missing from the audit line: {line}"
        );
    }
    let denied_after = proxy
        .proxy
        .decisions()
        .denied
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(denied_after > denied_before);
}

#[tokio::test]
async fn metadata_hides_what_the_caller_may_not_describe_and_creates_only_with_create() {
    let t = common::unique_tag();
    let (mine, theirs) = (format!("orders.m{t}"), format!("payments.m{t}"));
    let proxy = authz_proxy(&[
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
            "orders.auto",
        ),
    ])
    .await;
    create_topics(&proxy, &[&mine, &theirs]).await;
    let mut c = login(&proxy.bootstrap(), "kafka-producer").await;
    // A broker learns of a new topic from the controller a little later.
    let mut names = Vec::new();
    for _ in 0..50 {
        let all = c
            .request(12, &MetadataRequest::default().with_topics(None))
            .await;
        assert_eq!(all.brokers.len(), 3);
        names = all
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
            .collect();
        if names.contains(&mine) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(names.contains(&mine), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("orders.")),
        "only orders.* is describable: {names:?}"
    );

    let named_r = c
        .request(
            12,
            &MetadataRequest::default().with_topics(named(&[&mine, &theirs])),
        )
        .await;
    let code = |r: &MetadataResponse, n: &str| {
        r.topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|x| x.0.as_str() == n))
            .unwrap_or_else(|| panic!("{n} missing"))
            .error_code
    };
    assert_eq!(code(&named_r, &mine), 0);
    assert_eq!(code(&named_r, &theirs), TOPIC_AUTHORIZATION_FAILED);

    // Auto-creation needs CREATE: orders.auto* may be created, orders.other* may not, and
    // asking for it is refused as Kafka refuses it.
    let (creatable, not_creatable) = (format!("orders.auto{t}"), format!("orders.other{t}"));
    let ask = |names: &[&str]| {
        MetadataRequest::default()
            .with_topics(named(names))
            .with_allow_auto_topic_creation(true)
    };
    let r = c.request(12, &ask(&[&not_creatable])).await;
    assert_eq!(code(&r, &not_creatable), TOPIC_AUTHORIZATION_FAILED);
    wait_for_log(&[
        "authorization denied",
        "operation=CREATE",
        &format!("resource=TOPIC:{not_creatable}"),
        "api=Metadata",
    ])
    .await;
    // One request naming an existing topic without CREATE, a creatable new one and an
    // uncreatable new one (as a producer with all three asks): the creatable one is created.
    let partitions = |r: &MetadataResponse, n: &str| {
        r.topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|x| x.0.as_str() == n))
            .map_or(0, |t| t.partitions.len())
    };
    let mut created = false;
    for _ in 0..50 {
        let r = c
            .request(12, &ask(&[&mine, &creatable, &not_creatable]))
            .await;
        assert_eq!(r.topics.len(), 3, "each asked topic answered once");
        assert_eq!(code(&r, &mine), 0);
        assert_eq!(code(&r, &not_creatable), TOPIC_AUTHORIZATION_FAILED);
        if code(&r, &creatable) == 0 && partitions(&r, &creatable) > 0 {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(created, "{creatable} was auto-created");
    let without_creation = MetadataRequest::default()
        .with_topics(named(&[&not_creatable]))
        .with_allow_auto_topic_creation(false);
    let r = c.request(12, &without_creation).await;
    assert_eq!(
        code(&r, &not_creatable),
        UNKNOWN_TOPIC_OR_PARTITION,
        "still not created"
    );
}

#[tokio::test]
async fn an_acl_removed_at_run_time_denies_the_next_request_of_a_live_connection() {
    let t = common::unique_tag();
    let topic = format!("orders.live{t}");
    let grant = [acl(
        "ALLOW",
        "Group:producers",
        "WRITE",
        "TOPIC",
        "PREFIXED",
        "orders.",
    )];
    let proxy = authz_proxy(&grant).await;
    create_topics(&proxy, &[&topic]).await;
    let mut c = on_leader(&proxy, "kafka-producer", &topic).await;
    let r = c.request(9, &produce(&[&topic], -1)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    proxy
        .proxy
        .published()
        .set_file(&section(&[]))
        .expect("valid");
    let r = c.request(9, &produce(&[&topic], -1)).await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    proxy
        .proxy
        .published()
        .set_file(&section(&grant))
        .expect("valid");
    let r = c.request(9, &produce(&[&topic], -1)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let bad =
        section(&[acl("ALLOW", "User:x", "READ", "TOPIC", "LITERAL", "t")
            .replace("\"acme\"", "\"nobody\"")]);
    let problems = proxy.proxy.published().set_file(&bad).unwrap_err();
    assert_eq!(problems.0[0].0, "authorization.acls[0].organization");
    let r = c.request(9, &produce(&[&topic], -1)).await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 0,
        "a refused change changes nothing"
    );
}

#[tokio::test]
async fn fetches_are_sessionless_and_denied_topics_get_the_error() {
    let t = common::unique_tag();
    let (mine, theirs) = (format!("orders.f{t}"), format!("payments.f{t}"));
    let proxy = authz_proxy(&[acl(
        "ALLOW",
        "Group:producers",
        "READ",
        "TOPIC",
        "PREFIXED",
        "orders.",
    )])
    .await;
    create_topics(&proxy, &[&mine, &theirs]).await;
    let mut c = on_leader(&proxy, "kafka-producer", &mine).await;
    let topic = |n: &str| {
        FetchTopic::default()
            .with_topic(tn(n))
            .with_partitions(vec![
                FetchPartition::default().with_partition_max_bytes(1 << 20),
            ])
    };
    // Epoch 0 asks the broker to create a fetch session.
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(10)
        .with_max_bytes(1 << 20)
        .with_session_id(0)
        .with_session_epoch(0)
        .with_topics(vec![topic(&mine), topic(&theirs)]);
    let r = c.request(12, &request).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.session_id, 0, "no fetch session was created");
    let by_name = |n: &str| {
        r.responses
            .iter()
            .find(|t| t.topic.0.as_str() == n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .partitions[0]
            .error_code
    };
    assert_eq!(by_name(&theirs), TOPIC_AUTHORIZATION_FAILED);
    assert_ne!(by_name(&mine), TOPIC_AUTHORIZATION_FAILED);
}

#[tokio::test]
async fn api_keys_the_proxy_cannot_authorize_are_neither_offered_nor_forwarded() {
    let proxy = authz_proxy(&[]).await;
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let versions = c.request(3, &ApiVersionsRequest::default()).await;
    let offered: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    for key in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::Metadata,
        ApiKey::SaslHandshake,
    ] {
        assert!(offered.contains(&(key as i16)), "{key:?} offered");
    }
    // Administrative keys are authorized too; ACL administration is not offered on any
    // listener (it would act as the proxy's own principal).
    for key in [ApiKey::ElectLeaders, ApiKey::AlterPartitionReassignments] {
        assert!(offered.contains(&(key as i16)), "{key:?} offered");
    }
    for key in [ApiKey::CreateAcls, ApiKey::DescribeAcls] {
        assert!(!offered.contains(&(key as i16)), "{key:?} not offered");
    }
    let metadata = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Metadata as i16)
        .expect("Metadata");
    assert_eq!(
        metadata.min_version, 4,
        "no Metadata that cannot turn auto-creation off"
    );

    let mut c = login(&proxy.bootstrap(), "kafka-admin").await;
    let create = CreateAclsRequest::default();
    let frame = encode_request(ApiKey::CreateAcls, 3, 99, "raw-test", &create).expect("encode");
    c.send_bytes(&frame).await;
    assert!(c.read_frame().await.is_none(), "closed without an answer");
    wait_for_log(&["CreateAcls v3 is not supported by the proxy"]).await;
}

#[tokio::test]
async fn sighup_reloads_the_acls_of_the_configuration_file() {
    let t = common::unique_tag();
    let (listener, path) = common::binary::oauth_listener_config("sighup");
    let base = format!("{listener}{}", Idp::identity_toml(""));
    let describe = acl(
        "ALLOW",
        "Group:producers",
        "DESCRIBE",
        "TOPIC",
        "PREFIXED",
        "orders.",
    );
    std::fs::write(&path, format!("{base}{}", authorization(&[describe]))).expect("write");
    let proxy = Binary::start(&path).await;
    let addr = proxy.bootstrap("oauth").await;
    let mut c = login(&addr, "kafka-producer").await;
    let name = format!("orders.absent{t}");
    let ask = MetadataRequest::default()
        .with_topics(named(&[&name]))
        .with_allow_auto_topic_creation(false);
    let code = |r: &MetadataResponse| r.topics[0].error_code;
    assert_eq!(code(&c.request(12, &ask).await), UNKNOWN_TOPIC_OR_PARTITION);

    std::fs::write(&path, format!("{base}{}", authorization(&[]))).expect("write");
    proxy.hangup();
    proxy.line(&["authorization replaced", "bindings=0"]).await;
    assert_eq!(
        code(&c.request(12, &ask).await),
        TOPIC_AUTHORIZATION_FAILED,
        "the same connection, the new ACLs"
    );

    std::fs::write(&path, format!("{base}[authorization]\nbogus = 1\n")).expect("write");
    proxy.hangup();
    proxy.line(&["SIGHUP: configuration not reloaded"]).await;
    assert_eq!(code(&c.request(12, &ask).await), TOPIC_AUTHORIZATION_FAILED);
    let _ = std::fs::remove_file(&path);
}
