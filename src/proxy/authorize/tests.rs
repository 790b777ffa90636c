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
        bindings.iter().map(|b| binding(b)),
        &BTreeMap::new(),
    ))
}

fn caller() -> Caller {
    Caller {
        organization: "acme".into(),
        user: "alice".into(),
        groups: vec!["producers".into()],
        peer: "127.0.0.1:5000".parse().expect("address"),
    }
}

fn decide<R: Request + Encodable>(acls: &Arc<AclIndex>, version: i16, request: &R) -> Verdict {
    let api = ApiKey::try_from(R::KEY).expect("key");
    let frame = crate::kafka::encode_request(api, version, 7, "t", request).expect("encode");
    let header = parse_request_header(&frame).expect("header");
    authorize(acls, &Stats::default(), &caller(), api, &header, &frame).expect("decided")
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
        Some(fix) => fix(body).expect("fix"),
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
