//! Each message is built populated for every version the crate knows (each field only at
//! the versions that carry it), encoded by the crate, and must be accepted by the walker
//! with every strict prefix rejected.
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message};

use super::*;
use crate::kafka::schema::check;

const TOPIC_ID: &str = "0b7e8c39-2d4f-4a1e-9c3b-5f6a7d8e9f01";

/// Encodes `build(v)` at every version `v` the crate knows (each must encode) and checks
/// that the walker accepts it and rejects each strict prefix.
fn each_version<M: Encodable + Message>(
    api: ApiKey,
    direction: Direction,
    build: impl Fn(i16) -> M,
) {
    for v in M::VERSIONS.min..=M::VERSIONS.max {
        let mut buf = BytesMut::new();
        build(v)
            .encode(&mut buf, v)
            .unwrap_or_else(|e| panic!("{api:?} {direction:?} v{v}: encode: {e}"));
        check(api, direction, v, &buf)
            .unwrap_or_else(|e| panic!("{api:?} {direction:?} v{v}: {e}"));
        for cut in 0..buf.len() {
            assert!(
                check(api, direction, v, &buf[..cut]).is_err(),
                "{api:?} {direction:?} v{v} prefix {cut} accepted"
            );
        }
    }
}

/// Applies a builder step only at the versions that carry the field.
trait When: Sized {
    fn when(self, present: bool, f: impl FnOnce(Self) -> Self) -> Self {
        if present { f(self) } else { self }
    }
}

impl<T> When for T {}

/// An unknown tagged field, written by the crate at flexible versions only.
fn tag() -> Bytes {
    Bytes::from_static(b"xy")
}

fn topic(name: &'static str) -> TopicName {
    TopicName(name.into())
}

fn group(name: &'static str) -> GroupId {
    GroupId(name.into())
}

fn txn(name: &'static str) -> TransactionalId {
    TransactionalId(name.into())
}

/// A flexible body always travels with a flexible header (request v2, response v1), so the
/// crate's header versions confirm each first flexible version, in both directions.
fn flexible_like_header<Req, Resp>(api: ApiKey)
where
    Req: Message + HeaderVersion,
    Resp: Message + HeaderVersion,
{
    let flexible = |v: i16| first_flexible_version(api).is_some_and(|f| v >= f);
    for v in Req::VERSIONS.min..=Req::VERSIONS.max {
        assert_eq!(
            flexible(v),
            Req::header_version(v) >= 2,
            "{api:?} request v{v}"
        );
    }
    for v in Resp::VERSIONS.min..=Resp::VERSIONS.max {
        assert_eq!(
            flexible(v),
            Resp::header_version(v) >= 1,
            "{api:?} response v{v}"
        );
    }
}

#[test]
fn first_flexible_versions_match_the_crate() {
    flexible_like_header::<OffsetCommitRequest, OffsetCommitResponse>(ApiKey::OffsetCommit);
    flexible_like_header::<OffsetFetchRequest, OffsetFetchResponse>(ApiKey::OffsetFetch);
    flexible_like_header::<TxnOffsetCommitRequest, TxnOffsetCommitResponse>(
        ApiKey::TxnOffsetCommit,
    );
    flexible_like_header::<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(
        ApiKey::AddPartitionsToTxn,
    );
    flexible_like_header::<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>(
        ApiKey::AddOffsetsToTxn,
    );
    flexible_like_header::<EndTxnRequest, EndTxnResponse>(ApiKey::EndTxn);
    flexible_like_header::<InitProducerIdRequest, InitProducerIdResponse>(ApiKey::InitProducerId);
    flexible_like_header::<JoinGroupRequest, JoinGroupResponse>(ApiKey::JoinGroup);
    flexible_like_header::<SyncGroupRequest, SyncGroupResponse>(ApiKey::SyncGroup);
    flexible_like_header::<HeartbeatRequest, HeartbeatResponse>(ApiKey::Heartbeat);
    flexible_like_header::<LeaveGroupRequest, LeaveGroupResponse>(ApiKey::LeaveGroup);
    flexible_like_header::<DescribeGroupsRequest, DescribeGroupsResponse>(ApiKey::DescribeGroups);
    flexible_like_header::<ListGroupsRequest, ListGroupsResponse>(ApiKey::ListGroups);
    flexible_like_header::<DeleteGroupsRequest, DeleteGroupsResponse>(ApiKey::DeleteGroups);
    flexible_like_header::<OffsetDeleteRequest, OffsetDeleteResponse>(ApiKey::OffsetDelete);
    flexible_like_header::<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>(
        ApiKey::ConsumerGroupHeartbeat,
    );
    flexible_like_header::<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse>(
        ApiKey::ConsumerGroupDescribe,
    );
    flexible_like_header::<DescribeTransactionsRequest, DescribeTransactionsResponse>(
        ApiKey::DescribeTransactions,
    );
    flexible_like_header::<ListTransactionsRequest, ListTransactionsResponse>(
        ApiKey::ListTransactions,
    );
    flexible_like_header::<DescribeProducersRequest, DescribeProducersResponse>(
        ApiKey::DescribeProducers,
    );
}

#[test]
fn offset_commit() {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    each_version(ApiKey::OffsetCommit, Direction::Request, |v| {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(1)
            .with_committed_metadata(Some("m".into()));
        let t = OffsetCommitRequestTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        OffsetCommitRequest::default()
            .with_group_id(group("g"))
            .with_member_id("m".into())
            .when(v >= 7, |m| m.with_group_instance_id(Some("i".into())))
            .with_topics(vec![t.clone(), t])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::OffsetCommit, Direction::Response, |v| {
        let partition = OffsetCommitResponsePartition::default().with_partition_index(1);
        let t = OffsetCommitResponseTopic::default()
            .when(v <= 9, |t| t.with_name(topic("t")))
            .when(v >= 10, |t| t.with_topic_id(TOPIC_ID.parse().unwrap()))
            .with_partitions(vec![partition.clone(), partition]);
        OffsetCommitResponse::default()
            .with_topics(vec![t.clone(), t])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn offset_fetch() {
    use offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };
    each_version(ApiKey::OffsetFetch, Direction::Request, |v| {
        let t = OffsetFetchRequestTopic::default()
            .with_name(topic("t"))
            .with_partition_indexes(vec![0, 1]);
        let ts = OffsetFetchRequestTopics::default()
            .with_name(topic("t"))
            .with_partition_indexes(vec![0, 1]);
        let g = OffsetFetchRequestGroup::default()
            .with_group_id(group("g"))
            .when(v >= 9, |g| g.with_member_id(Some("m".into())))
            .with_topics(Some(vec![ts.clone(), ts]));
        OffsetFetchRequest::default()
            .when(v <= 7, |m| {
                m.with_group_id(group("g"))
                    .with_topics(Some(vec![t.clone(), t]))
            })
            .when(v >= 8, |m| m.with_groups(vec![g.clone(), g]))
            .when(v >= 7, |m| m.with_require_stable(true))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::OffsetFetch, Direction::Response, |v| {
        let p = OffsetFetchResponsePartition::default()
            .with_partition_index(1)
            .with_metadata(Some("m".into()));
        let t = OffsetFetchResponseTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![p.clone(), p]);
        let ps = OffsetFetchResponsePartitions::default().with_metadata(Some("m".into()));
        let ts = OffsetFetchResponseTopics::default()
            .when(v <= 9, |t| t.with_name(topic("t")))
            .when(v >= 10, |t| t.with_topic_id(TOPIC_ID.parse().unwrap()))
            .with_partitions(vec![ps.clone(), ps]);
        let g = OffsetFetchResponseGroup::default()
            .with_group_id(group("g"))
            .with_topics(vec![ts.clone(), ts]);
        OffsetFetchResponse::default()
            .when(v <= 7, |m| m.with_topics(vec![t.clone(), t]))
            .when(v >= 8, |m| m.with_groups(vec![g.clone(), g]))
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn txn_offset_commit() {
    use txn_offset_commit_request::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};
    use txn_offset_commit_response::{
        TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
    };
    each_version(ApiKey::TxnOffsetCommit, Direction::Request, |v| {
        let p = TxnOffsetCommitRequestPartition::default()
            .with_partition_index(1)
            .with_committed_metadata(Some("m".into()));
        let t = TxnOffsetCommitRequestTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![p.clone(), p]);
        TxnOffsetCommitRequest::default()
            .with_transactional_id(txn("x"))
            .with_group_id(group("g"))
            .when(v >= 3, |m| {
                m.with_member_id("m".into())
                    .with_group_instance_id(Some("i".into()))
            })
            .with_topics(vec![t.clone(), t])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::TxnOffsetCommit, Direction::Response, |_| {
        let p = TxnOffsetCommitResponsePartition::default().with_partition_index(1);
        let t = TxnOffsetCommitResponseTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![p.clone(), p]);
        TxnOffsetCommitResponse::default()
            .with_topics(vec![t.clone(), t])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn add_partitions_to_txn() {
    use add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
    use add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
    };
    each_version(ApiKey::AddPartitionsToTxn, Direction::Request, |v| {
        let t = AddPartitionsToTxnTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![0, 1]);
        let x = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(txn("x"))
            .with_verify_only(true)
            .with_topics(vec![t.clone(), t.clone()]);
        AddPartitionsToTxnRequest::default()
            .when(v >= 4, |m| m.with_transactions(vec![x.clone(), x]))
            .when(v <= 3, |m| {
                m.with_v3_and_below_transactional_id(txn("x"))
                    .with_v3_and_below_topics(vec![t.clone(), t])
            })
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::AddPartitionsToTxn, Direction::Response, |v| {
        let p = AddPartitionsToTxnPartitionResult::default().with_partition_index(1);
        let t = AddPartitionsToTxnTopicResult::default()
            .with_name(topic("t"))
            .with_results_by_partition(vec![p.clone(), p]);
        let r = AddPartitionsToTxnResult::default()
            .with_transactional_id(txn("x"))
            .with_topic_results(vec![t.clone(), t.clone()]);
        AddPartitionsToTxnResponse::default()
            .when(v >= 4, |m| {
                m.with_results_by_transaction(vec![r.clone(), r])
            })
            .when(v <= 3, |m| {
                m.with_results_by_topic_v3_and_below(vec![t.clone(), t])
            })
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn add_offsets_end_txn_and_init_producer_id() {
    each_version(ApiKey::AddOffsetsToTxn, Direction::Request, |_| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn("x"))
            .with_group_id(group("g"))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::AddOffsetsToTxn, Direction::Response, |_| {
        AddOffsetsToTxnResponse::default().with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::EndTxn, Direction::Request, |_| {
        EndTxnRequest::default()
            .with_transactional_id(txn("x"))
            .with_committed(true)
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::EndTxn, Direction::Response, |_| {
        EndTxnResponse::default().with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::InitProducerId, Direction::Request, |_| {
        InitProducerIdRequest::default()
            .with_transactional_id(Some(txn("x")))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::InitProducerId, Direction::Request, |_| {
        InitProducerIdRequest::default().with_transactional_id(None)
    });
    each_version(ApiKey::InitProducerId, Direction::Response, |_| {
        InitProducerIdResponse::default().with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn join_group() {
    use join_group_request::JoinGroupRequestProtocol;
    use join_group_response::JoinGroupResponseMember;
    each_version(ApiKey::JoinGroup, Direction::Request, |v| {
        let p = JoinGroupRequestProtocol::default()
            .with_name("range".into())
            .with_metadata(Bytes::from_static(b"meta"));
        JoinGroupRequest::default()
            .with_group_id(group("g"))
            .with_member_id("m".into())
            .when(v >= 5, |m| m.with_group_instance_id(Some("i".into())))
            .with_protocol_type("consumer".into())
            .with_protocols(vec![p.clone(), p])
            .when(v >= 8, |m| m.with_reason(Some("r".into())))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::JoinGroup, Direction::Response, |v| {
        let member = JoinGroupResponseMember::default()
            .with_member_id("m".into())
            .when(v >= 5, |m| m.with_group_instance_id(Some("i".into())))
            .with_metadata(Bytes::from_static(b"meta"));
        JoinGroupResponse::default()
            .when(v >= 7, |m| m.with_protocol_type(Some("consumer".into())))
            .with_protocol_name(Some("range".into()))
            .with_leader("l".into())
            .when(v >= 9, |m| m.with_skip_assignment(true))
            .with_member_id("m".into())
            .with_members(vec![member.clone(), member])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn sync_group_and_heartbeat() {
    use sync_group_request::SyncGroupRequestAssignment;
    each_version(ApiKey::SyncGroup, Direction::Request, |v| {
        let a = SyncGroupRequestAssignment::default()
            .with_member_id("m".into())
            .with_assignment(Bytes::from_static(b"a"));
        SyncGroupRequest::default()
            .with_group_id(group("g"))
            .with_member_id("m".into())
            .when(v >= 3, |m| m.with_group_instance_id(Some("i".into())))
            .when(v >= 5, |m| {
                m.with_protocol_type(Some("consumer".into()))
                    .with_protocol_name(Some("range".into()))
            })
            .with_assignments(vec![a.clone(), a])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::SyncGroup, Direction::Response, |v| {
        SyncGroupResponse::default()
            .when(v >= 5, |m| {
                m.with_protocol_type(Some("consumer".into()))
                    .with_protocol_name(Some("range".into()))
            })
            .with_assignment(Bytes::from_static(b"a"))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::Heartbeat, Direction::Request, |v| {
        HeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_member_id("m".into())
            .when(v >= 3, |m| m.with_group_instance_id(Some("i".into())))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::Heartbeat, Direction::Response, |_| {
        HeartbeatResponse::default().with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn leave_group() {
    use leave_group_request::MemberIdentity;
    use leave_group_response::MemberResponse;
    each_version(ApiKey::LeaveGroup, Direction::Request, |v| {
        let member = MemberIdentity::default()
            .with_member_id("m".into())
            .with_group_instance_id(Some("i".into()))
            .when(v >= 5, |m| m.with_reason(Some("r".into())));
        LeaveGroupRequest::default()
            .with_group_id(group("g"))
            .when(v <= 2, |m| m.with_member_id("m".into()))
            .when(v >= 3, |m| m.with_members(vec![member.clone(), member]))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::LeaveGroup, Direction::Response, |v| {
        let member = MemberResponse::default()
            .with_member_id("m".into())
            .with_group_instance_id(Some("i".into()));
        LeaveGroupResponse::default()
            .when(v >= 3, |m| m.with_members(vec![member.clone(), member]))
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn describe_list_delete_groups() {
    use describe_groups_response::{DescribedGroup, DescribedGroupMember};
    use list_groups_response::ListedGroup;
    each_version(ApiKey::DescribeGroups, Direction::Request, |v| {
        DescribeGroupsRequest::default()
            .with_groups(vec![group("a"), group("b")])
            .when(v >= 3, |m| m.with_include_authorized_operations(true))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::DescribeGroups, Direction::Response, |v| {
        let member = DescribedGroupMember::default()
            .with_member_id("m".into())
            .when(v >= 4, |m| m.with_group_instance_id(Some("i".into())))
            .with_client_id("c".into())
            .with_client_host("h".into())
            .with_member_metadata(Bytes::from_static(b"md"))
            .with_member_assignment(Bytes::from_static(b"ma"));
        let g = DescribedGroup::default()
            .when(v >= 6, |g| g.with_error_message(Some("e".into())))
            .with_group_id(group("g"))
            .with_group_state("Stable".into())
            .with_protocol_type("consumer".into())
            .with_protocol_data("range".into())
            .with_members(vec![member.clone(), member]);
        DescribeGroupsResponse::default()
            .with_groups(vec![g.clone(), g])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::ListGroups, Direction::Request, |v| {
        ListGroupsRequest::default()
            .when(v >= 4, |m| {
                m.with_states_filter(vec!["Stable".into(), "Empty".into()])
            })
            .when(v >= 5, |m| {
                m.with_types_filter(vec!["classic".into(), "consumer".into()])
            })
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::ListGroups, Direction::Response, |v| {
        let g = ListedGroup::default()
            .with_group_id(group("g"))
            .with_protocol_type("consumer".into())
            .when(v >= 4, |g| g.with_group_state("Stable".into()))
            .when(v >= 5, |g| g.with_group_type("classic".into()));
        ListGroupsResponse::default()
            .with_groups(vec![g.clone(), g])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::DeleteGroups, Direction::Request, |_| {
        DeleteGroupsRequest::default()
            .with_groups_names(vec![group("a"), group("b")])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::DeleteGroups, Direction::Response, |_| {
        let r = delete_groups_response::DeletableGroupResult::default().with_group_id(group("g"));
        DeleteGroupsResponse::default()
            .with_results(vec![r.clone(), r])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn offset_delete() {
    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    use offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
    each_version(ApiKey::OffsetDelete, Direction::Request, |_| {
        let p = OffsetDeleteRequestPartition::default().with_partition_index(1);
        let t = OffsetDeleteRequestTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![p.clone(), p]);
        OffsetDeleteRequest::default()
            .with_group_id(group("g"))
            .with_topics(vec![t.clone(), t])
    });
    each_version(ApiKey::OffsetDelete, Direction::Response, |_| {
        let p = OffsetDeleteResponsePartition::default().with_partition_index(1);
        let t = OffsetDeleteResponseTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![p.clone(), p]);
        OffsetDeleteResponse::default().with_topics(vec![t.clone(), t])
    });
}

#[test]
fn consumer_group_heartbeat() {
    use consumer_group_heartbeat_request::TopicPartitions as RequestTopicPartitions;
    use consumer_group_heartbeat_response::{Assignment, TopicPartitions};
    each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Request, |v| {
        let tp = RequestTopicPartitions::default()
            .with_topic_id(TOPIC_ID.parse().unwrap())
            .with_partitions(vec![0, 1]);
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_member_id("m".into())
            .with_instance_id(Some("i".into()))
            .with_rack_id(Some("r".into()))
            .with_subscribed_topic_names(Some(vec![topic("a"), topic("b")]))
            .when(v >= 1, |m| m.with_subscribed_topic_regex(Some("^t".into())))
            .with_server_assignor(Some("uniform".into()))
            .with_topic_partitions(Some(vec![tp.clone(), tp]))
            .with_unknown_tagged_field(7, tag())
    });
    // A steady-state heartbeat: unchanged fields are sent as nulls.
    each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Request, |_| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_member_id("m".into())
            .with_subscribed_topic_names(None)
            .with_topic_partitions(None)
    });
    each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Response, |_| {
        let tp = TopicPartitions::default()
            .with_topic_id(TOPIC_ID.parse().unwrap())
            .with_partitions(vec![0, 1]);
        let assignment = Assignment::default()
            .with_topic_partitions(vec![tp.clone(), tp])
            .with_unknown_tagged_field(7, tag());
        ConsumerGroupHeartbeatResponse::default()
            .with_error_message(Some("e".into()))
            .with_member_id(Some("m".into()))
            .with_assignment(Some(assignment))
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Response, |_| {
        ConsumerGroupHeartbeatResponse::default().with_assignment(None)
    });
}

/// The crate reads any Assignment marker other than 1 as null, with no struct after it.
#[test]
fn consumer_group_heartbeat_assignment_marker_other_than_one_is_null() {
    let mut buf = BytesMut::new();
    ConsumerGroupHeartbeatResponse::default()
        .encode(&mut buf, 0)
        .unwrap();
    // throttle (4), error code (2), two null compact strings (1 + 1), epoch and interval
    // (4 + 4), then the marker.
    assert_eq!(buf[16], 0xff, "null marker");
    for marker in [0x00, 0x02, 0x80] {
        buf[16] = marker;
        check(ApiKey::ConsumerGroupHeartbeat, Direction::Response, 0, &buf).unwrap();
        let decoded =
            ConsumerGroupHeartbeatResponse::decode(&mut Bytes::copy_from_slice(&buf), 0).unwrap();
        assert!(decoded.assignment.is_none());
    }
}

#[test]
fn consumer_group_describe() {
    use consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
    each_version(ApiKey::ConsumerGroupDescribe, Direction::Request, |_| {
        ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![group("a"), group("b")])
            .with_include_authorized_operations(true)
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::ConsumerGroupDescribe, Direction::Response, |v| {
        let tp = TopicPartitions::default()
            .with_topic_id(TOPIC_ID.parse().unwrap())
            .with_topic_name(topic("t"))
            .with_partitions(vec![0, 1]);
        let assignment = Assignment::default()
            .with_topic_partitions(vec![tp.clone(), tp])
            .with_unknown_tagged_field(7, tag());
        let member = Member::default()
            .with_member_id("m".into())
            .with_instance_id(Some("i".into()))
            .with_rack_id(Some("r".into()))
            .with_client_id("c".into())
            .with_client_host("h".into())
            .with_subscribed_topic_names(vec![topic("a"), topic("b")])
            .with_subscribed_topic_regex(Some("^t".into()))
            .with_assignment(assignment.clone())
            .with_target_assignment(assignment)
            .when(v >= 1, |m| m.with_member_type(1));
        let g = DescribedGroup::default()
            .with_error_message(Some("e".into()))
            .with_group_id(group("g"))
            .with_group_state("Stable".into())
            .with_assignor_name("uniform".into())
            .with_members(vec![member.clone(), member]);
        ConsumerGroupDescribeResponse::default()
            .with_groups(vec![g.clone(), g])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn describe_and_list_transactions() {
    use describe_transactions_response::{TopicData, TransactionState};
    each_version(ApiKey::DescribeTransactions, Direction::Request, |_| {
        DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![txn("x"), txn("y")])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::DescribeTransactions, Direction::Response, |_| {
        let t = TopicData::default()
            .with_topic(topic("t"))
            .with_partitions(vec![0, 1]);
        let s = TransactionState::default()
            .with_transactional_id(txn("x"))
            .with_transaction_state("Ongoing".into())
            .with_topics(vec![t.clone(), t]);
        DescribeTransactionsResponse::default()
            .with_transaction_states(vec![s.clone(), s])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::ListTransactions, Direction::Request, |v| {
        ListTransactionsRequest::default()
            .with_state_filters(vec!["Ongoing".into(), "Empty".into()])
            .with_producer_id_filters(vec![ProducerId(1), ProducerId(2)])
            .when(v >= 1, |m| m.with_duration_filter(1000))
            .when(v >= 2, |m| {
                m.with_transactional_id_pattern(Some("x.*".into()))
            })
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::ListTransactions, Direction::Response, |_| {
        let s = list_transactions_response::TransactionState::default()
            .with_transactional_id(txn("x"))
            .with_transaction_state("Ongoing".into());
        ListTransactionsResponse::default()
            .with_unknown_state_filters(vec!["Bogus".into(), "Other".into()])
            .with_transaction_states(vec![s.clone(), s])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn describe_producers() {
    use describe_producers_request::TopicRequest;
    use describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
    each_version(ApiKey::DescribeProducers, Direction::Request, |_| {
        let t = TopicRequest::default()
            .with_name(topic("t"))
            .with_partition_indexes(vec![0, 1]);
        DescribeProducersRequest::default()
            .with_topics(vec![t.clone(), t])
            .with_unknown_tagged_field(7, tag())
    });
    each_version(ApiKey::DescribeProducers, Direction::Response, |_| {
        let producer = ProducerState::default().with_producer_id(ProducerId(5));
        let p = PartitionResponse::default()
            .with_error_message(Some("e".into()))
            .with_active_producers(vec![producer.clone(), producer]);
        let t = TopicResponse::default()
            .with_name(topic("t"))
            .with_partitions(vec![p.clone(), p]);
        DescribeProducersResponse::default()
            .with_topics(vec![t.clone(), t])
            .with_unknown_tagged_field(7, tag())
    });
}

#[test]
fn hostile_counts_are_rejected() {
    // OffsetFetch v8 request: a compact `groups` count of 0x7fffffff (varint 0x80000000).
    let body = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
    assert!(matches!(
        check(ApiKey::OffsetFetch, Direction::Request, 8, &body),
        Err(DecodeError::ImpossibleCount { .. })
    ));
    // AddPartitionsToTxn v4 request: the same count for `transactions`.
    assert!(matches!(
        check(ApiKey::AddPartitionsToTxn, Direction::Request, 4, &body),
        Err(DecodeError::ImpossibleCount { .. })
    ));
    // DescribeGroups v0 request: an INT32 `groups` count of 0x7fffffff.
    let body = [0x7f, 0xff, 0xff, 0xff, 0x00];
    assert!(matches!(
        check(ApiKey::DescribeGroups, Direction::Request, 0, &body),
        Err(DecodeError::ImpossibleCount { .. })
    ));
}
