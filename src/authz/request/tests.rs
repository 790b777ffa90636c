//! Each API's decision against an in-memory ACL index: what is forwarded, what is answered
//! here, and how a broker's response is merged.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Request, StrBytes};

use super::*;
use crate::authz::{AclBinding, AclIndex};
use crate::kafka::error_code::*;
use crate::kafka::header::{parse_request_header, parse_response_header};

fn binding(text: &str) -> AclBinding {
    // "ALLOW Group:producers WRITE TOPIC PREFIXED orders."
    let f: Vec<&str> = text.split_whitespace().collect();
    AclBinding {
        organization: "acme".into(),
        permission: f[0].parse().expect("permission"),
        principal: f[1].parse().expect("principal"),
        operation: f[2].parse().expect("operation"),
        resource_type: f[3].parse().expect("resource type"),
        pattern_type: f[4].parse().expect("pattern type"),
        resource_name: f[5].into(),
        host: crate::authz::Host::Any,
    }
}

fn acls(bindings: &[&str]) -> Arc<AclIndex> {
    Arc::new(AclIndex::new(
        bindings.iter().map(|b| Arc::new(binding(b))),
        &BTreeMap::new(),
    ))
}

fn caller() -> Caller {
    Caller::named(
        "acme",
        "alice",
        &["producers"],
        "127.0.0.1:5000".parse().expect("address"),
    )
}

fn decide<R: Request + Encodable>(acls: &Arc<AclIndex>, version: i16, request: &R) -> Verdict {
    let api = ApiKey::try_from(R::KEY).expect("key");
    let frame = crate::kafka::encode_request(api, version, 7, "t", request).expect("encode");
    let header = parse_request_header(&frame).expect("header");
    authorize(
        acls,
        &Decisions::default(),
        &caller(),
        api,
        &header,
        &frame,
        None,
    )
    .expect("decided")
}

fn answered<R: Request>(verdict: Verdict, version: i16) -> R::Response {
    let Verdict::Answer(frame) = verdict else {
        panic!("expected a local answer");
    };
    let api = ApiKey::try_from(R::KEY).expect("key");
    let (id, offset) =
        parse_response_header(&frame, api.response_header_version(version)).expect("header");
    assert_eq!(id, 7);
    crate::kafka::decode_response::<R>(version, &frame.slice(offset..)).expect("response")
}

/// The forwarded request and the response after the fix, given the broker's `response`.
fn rewritten<R: Request>(
    verdict: Verdict,
    version: i16,
    response: &R::Response,
) -> (Option<R>, R::Response)
where
    R::Response: Encodable,
{
    let Verdict::Rewrite { frame, fix, .. } = verdict else {
        panic!("expected a rewrite");
    };
    let forwarded = frame.map(|f| {
        let header = parse_request_header(&f).expect("header");
        crate::kafka::decode_request::<R>(version, &header.body(&f)).expect("request")
    });
    let body = crate::kafka::encode_body(version, response).expect("encode");
    let fixed = match fix {
        Some(fix) => fix(body, &mut NoEdit).expect("fix"),
        None => body,
    };
    let fixed = crate::kafka::decode_response::<R>(version, &fixed).expect("fixed response");
    (forwarded, fixed)
}

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn produce_request(topics: &[&str], acks: i16) -> ProduceRequest {
    use produce_request::{PartitionProduceData, TopicProduceData};
    ProduceRequest::default().with_acks(acks).with_topic_data(
        topics
            .iter()
            .map(|t| {
                TopicProduceData::default()
                    .with_name(topic(t))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from_static(b"records"))),
                    ])
            })
            .collect(),
    )
}

const WRITE_ORDERS: &str = "ALLOW Group:producers WRITE TOPIC PREFIXED orders.";

#[test]
fn produce_forwards_what_is_allowed_and_merges_the_denied_topics() {
    let acls = acls(&[WRITE_ORDERS]);
    assert!(matches!(
        decide(&acls, 9, &produce_request(&["orders.eu"], -1)),
        Verdict::Forward
    ));
    let verdict = decide(&acls, 9, &produce_request(&["orders.eu", "payments"], -1));
    let broker = ProduceResponse::default().with_responses(vec![
        produce_response::TopicProduceResponse::default()
            .with_name(topic("orders.eu"))
            .with_partition_responses(vec![
                produce_response::PartitionProduceResponse::default().with_base_offset(42),
            ]),
    ]);
    let (forwarded, merged) = rewritten::<ProduceRequest>(verdict, 9, &broker);
    let forwarded = forwarded.expect("a new request");
    assert_eq!(forwarded.topic_data.len(), 1);
    assert_eq!(forwarded.topic_data[0].name, topic("orders.eu"));
    let codes: Vec<(String, i16)> = merged
        .responses
        .iter()
        .map(|t| (t.name.to_string(), t.partition_responses[0].error_code))
        .collect();
    assert_eq!(
        codes,
        [
            ("orders.eu".to_owned(), NONE),
            ("payments".to_owned(), TOPIC_AUTHORIZATION_FAILED)
        ]
    );
    let all_denied = decide(&acls, 9, &produce_request(&["payments"], -1));
    let r = answered::<ProduceRequest>(all_denied, 9);
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
}

#[test]
fn produce_with_acks_0_forwards_the_allowed_part_then_closes() {
    let acls = acls(&[WRITE_ORDERS]);
    let verdict = decide(&acls, 9, &produce_request(&["orders.eu", "payments"], 0));
    let Verdict::Rewrite {
        frame,
        fix,
        close_after,
    } = verdict
    else {
        panic!("a rewrite");
    };
    assert!(close_after && fix.is_none() && frame.is_some());
    assert!(matches!(
        decide(&acls, 9, &produce_request(&["payments"], 0)),
        Verdict::Refuse(_)
    ));
}

#[test]
fn a_transactional_produce_needs_write_on_the_transactional_id() {
    let request = produce_request(&["orders.eu"], -1)
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))));
    let r = answered::<ProduceRequest>(decide(&acls(&[WRITE_ORDERS]), 9, &request), 9);
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    let granted = acls(&[
        WRITE_ORDERS,
        "ALLOW Group:producers WRITE TRANSACTIONAL_ID LITERAL tx-1",
    ]);
    assert!(matches!(decide(&granted, 9, &request), Verdict::Forward));
}

#[test]
fn fetch_is_made_sessionless_and_merges_denied_topics() {
    use fetch_request::{FetchPartition, FetchTopic};
    let acls = acls(&["ALLOW Group:producers READ TOPIC PREFIXED orders."]);
    let request = |topics: &[&str], epoch: i32| {
        FetchRequest::default()
            .with_session_epoch(epoch)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        FetchTopic::default()
                            .with_topic(topic(t))
                            .with_partitions(vec![FetchPartition::default()])
                    })
                    .collect(),
            )
    };
    assert!(matches!(
        decide(&acls, 12, &request(&["orders.eu"], -1)),
        Verdict::Forward
    ));
    let verdict = decide(&acls, 12, &request(&["orders.eu"], 0));
    let (forwarded, _) = rewritten::<FetchRequest>(verdict, 12, &FetchResponse::default());
    let forwarded = forwarded.expect("a new request");
    assert_eq!((forwarded.session_id, forwarded.session_epoch), (0, -1));
    let verdict = decide(&acls, 12, &request(&["orders.eu", "payments"], 0));
    let (forwarded, merged) = rewritten::<FetchRequest>(verdict, 12, &FetchResponse::default());
    assert_eq!(forwarded.expect("request").topics.len(), 1);
    assert_eq!(merged.responses.len(), 1);
    assert_eq!(merged.responses[0].topic, topic("payments"));
    assert_eq!(
        merged.responses[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
    let r = answered::<FetchRequest>(decide(&acls, 12, &request(&["payments"], 0)), 12);
    assert_eq!(r.session_id, 0);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
}

#[test]
fn metadata_filters_listings_refuses_named_topics_and_guards_auto_creation() {
    use metadata_request::MetadataRequestTopic;
    use metadata_response::MetadataResponseTopic;
    let acls = acls(&[
        "ALLOW Group:producers DESCRIBE TOPIC PREFIXED orders.",
        "ALLOW Group:producers CREATE TOPIC PREFIXED orders.auto",
    ]);
    let broker = MetadataResponse::default().with_topics(vec![
        MetadataResponseTopic::default().with_name(Some(topic("orders.eu"))),
        MetadataResponseTopic::default().with_name(Some(topic("payments"))),
    ]);
    let all = decide(&acls, 12, &MetadataRequest::default().with_topics(None));
    let (forwarded, fixed) = rewritten::<MetadataRequest>(all, 12, &broker);
    assert!(forwarded.is_none(), "the request goes as it came");
    let names: Vec<String> = fixed
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(names, ["orders.eu"]);

    let named = |names: &[&str]| {
        MetadataRequest::default()
            .with_allow_auto_topic_creation(true)
            .with_topics(Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(topic(n))))
                    .collect(),
            ))
    };
    let verdict = decide(&acls, 12, &named(&["orders.eu", "payments"]));
    let (forwarded, fixed) = rewritten::<MetadataRequest>(verdict, 12, &broker);
    let forwarded = forwarded.expect("a new request");
    assert_eq!(forwarded.topics.expect("named").len(), 1);
    assert!(
        !forwarded.allow_auto_topic_creation,
        "no CREATE on orders.eu"
    );
    let payments = fixed
        .topics
        .iter()
        .filter(|t| t.name == Some(topic("payments")))
        .map(|t| t.error_code)
        .collect::<Vec<_>>();
    assert_eq!(
        payments,
        [TOPIC_AUTHORIZATION_FAILED],
        "once, with the error"
    );

    assert!(
        matches!(
            decide(&acls, 12, &named(&["orders.auto1"])),
            Verdict::Forward
        ),
        "CREATE granted, nothing denied: the request goes as it came, auto-creation on"
    );
    // Creatable and uncreatable topics in one request: two requests, merged; a topic without
    // CREATE that does not exist is refused, one that exists is described.
    let Verdict::Pair { first, then, merge } = decide(
        &acls,
        12,
        &named(&["orders.auto2", "orders.eu", "orders.gone"]),
    ) else {
        panic!("a pair of requests");
    };
    let sent = |f: &Bytes| {
        let header = parse_request_header(f).expect("header");
        crate::kafka::decode_request::<MetadataRequest>(12, &header.body(f)).expect("request")
    };
    let (first, then) = (sent(&first), sent(&then));
    assert!(first.allow_auto_topic_creation);
    assert_eq!(first.topics.expect("named").len(), 1);
    assert!(!then.allow_auto_topic_creation);
    assert_eq!(then.topics.expect("named").len(), 2);
    let response = |topics: &[(&str, i16)]| {
        let body = MetadataResponse::default().with_topics(
            topics
                .iter()
                .map(|&(n, code)| {
                    MetadataResponseTopic::default()
                        .with_name(Some(topic(n)))
                        .with_error_code(code)
                })
                .collect(),
        );
        crate::kafka::encode_body(12, &body).expect("encode")
    };
    let merged = merge(
        response(&[("orders.auto2", 5)]),
        response(&[
            ("orders.eu", 0),
            ("orders.gone", UNKNOWN_TOPIC_OR_PARTITION),
        ]),
        &mut NoEdit,
    )
    .expect("merged");
    let merged = crate::kafka::decode_response::<MetadataRequest>(12, &merged).expect("decode");
    let mut codes: Vec<(String, i16)> = merged
        .topics
        .iter()
        .map(|t| (t.name.as_ref().expect("name").to_string(), t.error_code))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("orders.auto2".to_owned(), 5),
            ("orders.eu".to_owned(), 0),
            ("orders.gone".to_owned(), TOPIC_AUTHORIZATION_FAILED)
        ]
    );
}

#[test]
fn group_requests_need_read_on_the_group() {
    let acls = acls(&["ALLOW Group:producers READ GROUP PREFIXED orders-"]);
    let join = |g: &'static str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(g)))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
    };
    assert!(matches!(
        decide(&acls, 9, &join("orders-app")),
        Verdict::Forward
    ));
    let r = answered::<JoinGroupRequest>(decide(&acls, 9, &join("billing")), 9);
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    let heartbeat =
        HeartbeatRequest::default().with_group_id(GroupId(StrBytes::from_static_str("billing")));
    let r = answered::<HeartbeatRequest>(decide(&acls, 0, &heartbeat), 0);
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("billing")))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic("orders.eu"))
                .with_partitions(vec![Default::default()]),
        ]);
    let r = answered::<OffsetCommitRequest>(decide(&acls, 9, &commit), 9);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        GROUP_AUTHORIZATION_FAILED
    );
}

#[test]
fn find_coordinator_splits_its_keys() {
    let acls = acls(&["ALLOW Group:producers READ GROUP PREFIXED orders-"]);
    let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![
        StrBytes::from_static_str("orders-app"),
        StrBytes::from_static_str("billing"),
    ]);
    let (forwarded, merged) = rewritten::<FindCoordinatorRequest>(
        decide(&acls, 4, &request),
        4,
        &FindCoordinatorResponse::default(),
    );
    let keys = forwarded.expect("request").coordinator_keys;
    assert_eq!(
        keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["orders-app"]
    );
    assert_eq!(merged.coordinators[0].key.as_str(), "billing");
    assert_eq!(
        merged.coordinators[0].error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    let old = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("tx"))
        .with_key_type(1);
    let r = answered::<FindCoordinatorRequest>(decide(&acls, 3, &old), 3);
    assert_eq!(r.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
}

#[test]
fn init_producer_id_follows_kip_679() {
    let idempotent = InitProducerIdRequest::default().with_transactional_id(None);
    assert!(matches!(
        decide(&acls(&[WRITE_ORDERS]), 4, &idempotent),
        Verdict::Forward
    ));
    let r = answered::<InitProducerIdRequest>(decide(&acls(&[]), 4, &idempotent), 4);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let cluster = acls(&["ALLOW Group:producers IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster"]);
    assert!(matches!(decide(&cluster, 4, &idempotent), Verdict::Forward));
    let transactional = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))));
    let r = answered::<InitProducerIdRequest>(decide(&acls(&[WRITE_ORDERS]), 4, &transactional), 4);
    assert_eq!(r.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
}

#[test]
fn add_partitions_to_txn_fails_whole_when_a_topic_is_denied() {
    use add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let acls = acls(&[
        WRITE_ORDERS,
        "ALLOW Group:producers WRITE TRANSACTIONAL_ID LITERAL tx-1",
    ]);
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_static_str("tx-1")))
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(topic("orders.eu"))
                .with_partitions(vec![0]),
            AddPartitionsToTxnTopic::default()
                .with_name(topic("payments"))
                .with_partitions(vec![0]),
        ]);
    let r = answered::<AddPartitionsToTxnRequest>(decide(&acls, 3, &request), 3);
    let codes: Vec<i16> = r
        .results_by_topic_v3_and_below
        .iter()
        .map(|t| t.results_by_partition[0].partition_error_code)
        .collect();
    assert_eq!(codes, [OPERATION_NOT_ATTEMPTED, TOPIC_AUTHORIZATION_FAILED]);
}

#[test]
fn list_groups_shows_only_describable_groups_without_cluster_describe() {
    use list_groups_response::ListedGroup;
    let acls = acls(&["ALLOW Group:producers DESCRIBE GROUP PREFIXED orders-"]);
    let broker = ListGroupsResponse::default().with_groups(vec![
        ListedGroup::default().with_group_id(GroupId(StrBytes::from_static_str("orders-app"))),
        ListedGroup::default().with_group_id(GroupId(StrBytes::from_static_str("billing"))),
    ]);
    let (_, fixed) =
        rewritten::<ListGroupsRequest>(decide(&acls, 4, &ListGroupsRequest::default()), 4, &broker);
    assert_eq!(fixed.groups.len(), 1);
    assert_eq!(fixed.groups[0].group_id.as_str(), "orders-app");
}

#[test]
fn describe_cluster_needs_describe_only_for_the_authorized_operations() {
    let plain = DescribeClusterRequest::default();
    assert!(matches!(decide(&acls(&[]), 1, &plain), Verdict::Forward));
    let with_ops =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let broker = DescribeClusterResponse::default().with_cluster_authorized_operations(0x7fe);
    let (_, r) = rewritten::<DescribeClusterRequest>(decide(&acls(&[]), 1, &with_ops), 1, &broker);
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.cluster_authorized_operations, 0,
        "no DESCRIBE, no operations"
    );
    let alter = acls(&["ALLOW Group:producers ALTER CLUSTER LITERAL kafka-cluster"]);
    let (_, r) = rewritten::<DescribeClusterRequest>(decide(&alter, 1, &with_ops), 1, &broker);
    let bit = |op: Operation| 1 << op.code();
    assert_eq!(
        r.cluster_authorized_operations,
        bit(Operation::Alter) | bit(Operation::Describe),
        "ALTER implies DESCRIBE"
    );
}

#[test]
fn an_api_key_without_a_handler_is_refused() {
    let request = CreateAclsRequest::default();
    assert!(matches!(
        decide(&acls(&[]), 3, &request),
        Verdict::Refuse(_)
    ));
    assert_eq!(lowest_version(ApiKey::CreateAcls), None);
}

#[test]
fn every_forwarded_api_key_has_a_handler() {
    for s in crate::kafka::versions::SUPPORTED
        .iter()
        .filter(|s| !s.local)
    {
        assert!(
            lowest_version(s.api).is_some(),
            "{:?} has no handler",
            s.api
        );
        assert!(
            crate::authz::apis::is_mapped(s.api),
            "{:?} has no row in the mapping",
            s.api
        );
    }
}

#[test]
fn describe_configs_checks_each_resource_on_its_own_type() {
    use describe_configs_request::DescribeConfigsResource;
    let acls = acls(&["ALLOW Group:producers DESCRIBE_CONFIGS TOPIC PREFIXED orders."]);
    let resource = |t: i8, n: &'static str| {
        DescribeConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(StrBytes::from_static_str(n))
    };
    let request = DescribeConfigsRequest::default().with_resources(vec![
        resource(2, "orders.eu"),
        resource(2, "payments"),
        resource(4, "1"),
        resource(99, "x"),
    ]);
    let (forwarded, merged) = rewritten::<DescribeConfigsRequest>(
        decide(&acls, 4, &request),
        4,
        &DescribeConfigsResponse::default(),
    );
    assert_eq!(forwarded.expect("request").resources.len(), 1);
    let codes: Vec<(i8, i16)> = merged
        .results
        .iter()
        .map(|r| (r.resource_type, r.error_code))
        .collect();
    assert_eq!(
        codes,
        [
            (2, TOPIC_AUTHORIZATION_FAILED),
            (4, CLUSTER_AUTHORIZATION_FAILED),
            (99, CLUSTER_AUTHORIZATION_FAILED)
        ]
    );
}

fn group_id(name: &'static str) -> GroupId {
    GroupId(StrBytes::from_static_str(name))
}

#[test]
fn delete_records_forwards_allowed_topics_and_merges_the_denied_partitions() {
    use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    let acls = acls(&["ALLOW Group:producers DELETE TOPIC PREFIXED orders."]);
    let topic_with = |name: &str, partitions: &[i32]| {
        DeleteRecordsTopic::default()
            .with_name(topic(name))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| DeleteRecordsPartition::default().with_partition_index(p))
                    .collect(),
            )
    };
    let request = DeleteRecordsRequest::default().with_topics(vec![
        topic_with("orders.eu", &[0]),
        topic_with("payments", &[0, 1]),
    ]);
    let (forwarded, merged) = rewritten::<DeleteRecordsRequest>(
        decide(&acls, 2, &request),
        2,
        &DeleteRecordsResponse::default(),
    );
    let forwarded = forwarded.expect("request");
    assert_eq!(forwarded.topics.len(), 1);
    assert_eq!(forwarded.topics[0].name.as_str(), "orders.eu");
    let denied = &merged.topics[0];
    assert_eq!(denied.name.as_str(), "payments");
    assert!(
        denied
            .partitions
            .iter()
            .all(|p| { p.error_code == TOPIC_AUTHORIZATION_FAILED && p.low_watermark == -1 })
    );
    assert_eq!(denied.partitions.len(), 2);
}

#[test]
fn offset_delete_needs_delete_on_the_group_before_any_topic() {
    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    let request = |group: &'static str| {
        OffsetDeleteRequest::default()
            .with_group_id(group_id(group))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(topic("orders.eu"))
                    .with_partitions(vec![OffsetDeleteRequestPartition::default()]),
            ])
    };
    let acls = acls(&[
        "ALLOW Group:producers DELETE GROUP PREFIXED orders-",
        "ALLOW Group:producers READ TOPIC PREFIXED orders.",
    ]);
    assert!(matches!(
        decide(&acls, 0, &request("orders-app")),
        Verdict::Forward
    ));
    let r = answered::<OffsetDeleteRequest>(decide(&acls, 0, &request("billing")), 0);
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    assert!(r.topics.is_empty());
}

#[test]
fn cluster_operations_are_refused_whole_with_their_errors() {
    let none = acls(&[]);
    let elect = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
        elect_leaders_request::TopicPartitions::default()
            .with_topic(topic("orders.eu"))
            .with_partitions(vec![0, 1]),
    ]));
    let r = answered::<ElectLeadersRequest>(decide(&none, 2, &elect), 2);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let partitions = &r.replica_election_results[0].partition_result;
    assert_eq!(partitions.len(), 2);
    assert!(
        partitions
            .iter()
            .all(|p| p.error_code == CLUSTER_AUTHORIZATION_FAILED)
    );
    let alter = acls(&["ALLOW Group:producers ALTER CLUSTER LITERAL kafka-cluster"]);
    assert!(matches!(decide(&alter, 2, &elect), Verdict::Forward));
    // DescribeLogDirs: an empty result, the error at the top from v3.
    let r =
        answered::<DescribeLogDirsRequest>(decide(&none, 4, &DescribeLogDirsRequest::default()), 4);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(r.results.is_empty());
    let r =
        answered::<DescribeLogDirsRequest>(decide(&none, 1, &DescribeLogDirsRequest::default()), 1);
    assert!(r.results.is_empty(), "v1 has no error field: just nothing");
}

#[test]
fn describe_topic_partitions_pages_only_over_what_the_caller_may_describe() {
    use describe_topic_partitions_request::{Cursor, TopicRequest};
    use describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic as Described;
    let acls = acls(&["ALLOW Group:producers DESCRIBE TOPIC PREFIXED orders."]);
    let named = |names: &[&str]| {
        DescribeTopicPartitionsRequest::default()
            .with_response_partition_limit(2000)
            .with_topics(
                names
                    .iter()
                    .map(|n| TopicRequest::default().with_name(topic(n)))
                    .collect(),
            )
    };
    // A cursor on a denied topic moves to the next allowed one.
    let request = named(&["orders.a", "orders.z", "archive"]).with_cursor(Some(
        Cursor::default()
            .with_topic_name(topic("archive"))
            .with_partition_index(3),
    ));
    let (forwarded, merged) = rewritten::<DescribeTopicPartitionsRequest>(
        decide(&acls, 0, &request),
        0,
        &DescribeTopicPartitionsResponse::default(),
    );
    let forwarded = forwarded.expect("request");
    let cursor = forwarded.cursor.expect("a cursor");
    assert_eq!(
        (cursor.topic_name.as_str(), cursor.partition_index),
        ("orders.a", 0),
        "the first allowed name after the denied one"
    );
    assert_eq!(forwarded.topics.len(), 2);
    assert_eq!(merged.topics.len(), 1);
    assert_eq!(merged.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert!(merged.topics[0].topic_id.is_nil());

    // A listing hides denied topics, and a next page that starts at one gets a sealed cursor
    // that opens again when the client sends it back.
    let listed = DescribeTopicPartitionsResponse::default()
        .with_topics(vec![
            Described::default().with_name(Some(topic("orders.a"))),
            Described::default().with_name(Some(topic("payments"))),
        ])
        .with_next_cursor(Some(
            describe_topic_partitions_response::Cursor::default()
                .with_topic_name(topic("payments.cards"))
                .with_partition_index(7),
        ));
    let (_, merged) =
        rewritten::<DescribeTopicPartitionsRequest>(decide(&acls, 0, &named(&[])), 0, &listed);
    let names: Vec<_> = merged
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_owned()))
        .collect();
    assert_eq!(names, ["orders.a"]);
    assert_eq!(
        merged.topics[0].topic_authorized_operations,
        1 << Operation::Describe.code()
    );
    let sealed = merged.next_cursor.expect("next cursor");
    assert!(!sealed.topic_name.as_str().contains("payments"));
    assert_eq!(sealed.partition_index, 7);
    let next = named(&[]).with_cursor(Some(
        Cursor::default()
            .with_topic_name(sealed.topic_name.clone())
            .with_partition_index(7),
    ));
    let (forwarded, _) = rewritten::<DescribeTopicPartitionsRequest>(
        decide(&acls, 0, &next),
        0,
        &DescribeTopicPartitionsResponse::default(),
    );
    let opened = forwarded.expect("request").cursor.expect("cursor");
    assert_eq!(opened.topic_name.as_str(), "payments.cards");
}

#[test]
fn a_consumer_group_with_undescribable_assigned_topics_is_not_shown() {
    use consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
    let acls = acls(&[
        "ALLOW Group:producers DESCRIBE GROUP PREFIXED orders-",
        "ALLOW Group:producers DESCRIBE TOPIC PREFIXED orders.",
    ]);
    let group_assigned = |group: &'static str, t: &str| {
        let assignment = Assignment::default().with_topic_partitions(vec![
            TopicPartitions::default()
                .with_topic_name(topic(t))
                .with_partitions(vec![0]),
        ]);
        DescribedGroup::default()
            .with_group_id(group_id(group))
            .with_members(vec![Member::default().with_target_assignment(assignment)])
    };
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![
        group_id("orders-a"),
        group_id("orders-b"),
        group_id("billing"),
    ]);
    let broker = ConsumerGroupDescribeResponse::default().with_groups(vec![
        group_assigned("orders-a", "orders.eu"),
        group_assigned("orders-b", "payments"),
    ]);
    let (forwarded, merged) =
        rewritten::<ConsumerGroupDescribeRequest>(decide(&acls, 1, &request), 1, &broker);
    assert_eq!(forwarded.expect("request").group_ids.len(), 2);
    let outcome: Vec<(&str, i16, usize)> = merged
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.error_code, g.members.len()))
        .collect();
    assert_eq!(
        outcome,
        [
            ("orders-a", 0, 1),
            ("orders-b", TOPIC_AUTHORIZATION_FAILED, 0),
            ("billing", GROUP_AUTHORIZATION_FAILED, 0)
        ]
    );
}

#[test]
fn transactions_are_described_and_listed_only_as_far_as_the_caller_may_describe() {
    use describe_transactions_response::{TopicData, TransactionState};
    let acls = acls(&[
        "ALLOW Group:producers DESCRIBE TRANSACTIONAL_ID PREFIXED orders-",
        "ALLOW Group:producers DESCRIBE TOPIC PREFIXED orders.",
    ]);
    let id = |n: &'static str| TransactionalId(StrBytes::from_static_str(n));
    let request = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![id("orders-tx"), id("billing-tx")]);
    let broker = DescribeTransactionsResponse::default().with_transaction_states(vec![
        TransactionState::default()
            .with_transactional_id(id("orders-tx"))
            .with_topics(vec![
                TopicData::default().with_topic(topic("orders.eu")),
                TopicData::default().with_topic(topic("payments")),
            ]),
    ]);
    let (_, merged) =
        rewritten::<DescribeTransactionsRequest>(decide(&acls, 0, &request), 0, &broker);
    let described = &merged.transaction_states[0];
    let topics: Vec<&str> = described.topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(topics, ["orders.eu"]);
    assert_eq!(
        merged.transaction_states[1].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );

    use list_transactions_response::TransactionState as Listed;
    let broker = ListTransactionsResponse::default().with_transaction_states(vec![
        Listed::default().with_transactional_id(id("orders-tx")),
        Listed::default().with_transactional_id(id("billing-tx")),
    ]);
    let (_, listed) = rewritten::<ListTransactionsRequest>(
        decide(&acls, 1, &ListTransactionsRequest::default()),
        1,
        &broker,
    );
    let ids: Vec<&str> = listed
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.as_str())
        .collect();
    assert_eq!(ids, ["orders-tx"]);
}

#[test]
fn alter_configs_merge_each_denied_resource_with_its_types_error() {
    use incremental_alter_configs_request::AlterConfigsResource;
    let acls = acls(&["ALLOW Group:producers ALTER_CONFIGS TOPIC PREFIXED orders."]);
    let resource = |t: i8, n: &'static str| {
        AlterConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(StrBytes::from_static_str(n))
    };
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        resource(2, "orders.eu"),
        resource(32, "orders-app"),
        resource(8, "1"),
    ]);
    let (forwarded, merged) = rewritten::<IncrementalAlterConfigsRequest>(
        decide(&acls, 1, &request),
        1,
        &IncrementalAlterConfigsResponse::default(),
    );
    assert_eq!(forwarded.expect("request").resources.len(), 1);
    let codes: Vec<(i8, i16)> = merged
        .responses
        .iter()
        .map(|r| (r.resource_type, r.error_code))
        .collect();
    assert_eq!(
        codes,
        [
            (32, GROUP_AUTHORIZATION_FAILED),
            (8, CLUSTER_AUTHORIZATION_FAILED)
        ]
    );
    assert_eq!(
        merged.responses[0].error_message.as_deref(),
        Some("Group authorization failed.")
    );
}

/// Counts the responses it is given and renames each Metadata broker, as the proxy's address
/// rewrite does.
struct Renaming(usize);

impl Edit for Renaming {
    fn edit(&mut self, response: &mut dyn std::any::Any) -> Result<(), FixError> {
        self.0 += 1;
        if let Some(r) = response.downcast_mut::<MetadataResponse>() {
            for b in &mut r.brokers {
                b.host = StrBytes::from_static_str("proxy.example");
            }
        }
        Ok(())
    }
}

/// A listing by a caller who may describe `orders.*`, its fix run on a broker's answer of two
/// topics with `edit`; the names of the topics left, and the brokers' hosts.
fn listing_fixed(request: MetadataRequest, edit: &mut Renaming) -> (Vec<String>, Vec<String>) {
    let acls = acls(&["ALLOW Group:producers DESCRIBE TOPIC PREFIXED orders."]);
    let Verdict::Rewrite { fix: Some(fix), .. } = decide(&acls, 12, &request) else {
        panic!("a listing is filtered");
    };
    let response = MetadataResponse::default()
        .with_brokers(vec![
            metadata_response::MetadataResponseBroker::default()
                .with_host(StrBytes::from_static_str("broker-1.internal")),
        ])
        .with_topics(
            ["orders.eu", "payments"]
                .map(|n| {
                    metadata_response::MetadataResponseTopic::default().with_name(Some(topic(n)))
                })
                .to_vec(),
        );
    let body = crate::kafka::encode_body(12, &response).expect("encode");
    let fixed = fix(body, edit).expect("fixed");
    let fixed = crate::kafka::decode_response::<MetadataRequest>(12, &fixed).expect("decode");
    let names = fixed
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    let hosts = fixed.brokers.iter().map(|b| b.host.to_string()).collect();
    (names, hosts)
}

#[test]
fn a_fix_lets_the_proxy_edit_the_response_in_the_same_decode() {
    // The operations each topic allows are recomputed for the caller: the response is decoded.
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_include_topic_authorized_operations(true);
    let mut edit = Renaming(0);
    let (names, hosts) = listing_fixed(request, &mut edit);
    assert_eq!(edit.0, 1, "edited once, in the fix's decode");
    assert_eq!(hosts, ["proxy.example"]);
    assert_eq!(names, ["orders.eu"], "and filtered");
}

#[test]
fn a_plain_listing_is_filtered_without_a_decode() {
    // Topics are only left out: the response is walked, never decoded, so the proxy's
    // address rewrite runs after the fix, on the bytes.
    let mut edit = Renaming(0);
    let (names, hosts) = listing_fixed(MetadataRequest::default().with_topics(None), &mut edit);
    assert_eq!(edit.0, 0, "no decode to edit in");
    assert_eq!(
        hosts,
        ["broker-1.internal"],
        "left to the byte-level rewrite"
    );
    assert_eq!(names, ["orders.eu"], "filtered");
}
