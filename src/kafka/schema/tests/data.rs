use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData, SnapshotId,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset as LeaderEpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Message};

use super::roundtrip;
use crate::kafka::schema::{Direction, check};

/// Builds, for every version the crate knows, the fullest message that version can carry
/// (`build(v)`), checks that it encodes there, and roundtrips it at every version.
fn every_version<M: Encodable + Message>(
    api: ApiKey,
    direction: Direction,
    build: impl Fn(i16) -> M,
) {
    for v in M::VERSIONS.min..=M::VERSIONS.max {
        let message = build(v);
        let mut buf = BytesMut::new();
        message
            .encode(&mut buf, v)
            .unwrap_or_else(|e| panic!("{api:?} {direction:?} v{v} does not encode: {e}"));
        roundtrip(api, direction, &message);
    }
}

fn topic(name: &'static str) -> TopicName {
    TopicName(name.into())
}

/// A non-nil UUID, so that UUID-valued tags are encoded (the crate omits nil ones). It is
/// read off a FetchTopic v13 body because the `uuid` type is not re-exported.
fn fetch_topic_with_id() -> FetchTopic {
    let mut body = Bytes::from_static(&[
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
        0x01, 0x01, 0x00,
    ]);
    FetchTopic::decode(&mut body, 13).unwrap()
}

#[test]
fn produce() {
    every_version(ApiKey::Produce, Direction::Request, |v| {
        let partition = PartitionProduceData::default()
            .with_index(1)
            .with_records(Some(Bytes::from_static(b"batch")));
        let topic_data = TopicProduceData::default()
            .with_name(if v <= 12 { topic("t") } else { topic("") })
            .with_partition_data(vec![partition.clone(), partition.with_records(None)]);
        ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId("tx".into())))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![topic_data.clone(), topic_data])
    });
    every_version(ApiKey::Produce, Direction::Response, |v| {
        let mut partition = PartitionProduceResponse::default()
            .with_index(2)
            .with_base_offset(10)
            .with_log_append_time_ms(11);
        if v >= 5 {
            partition = partition.with_log_start_offset(3);
        }
        if v >= 8 {
            let error = BatchIndexAndErrorMessage::default()
                .with_batch_index(4)
                .with_batch_index_error_message(Some("bad".into()));
            partition = partition
                .with_record_errors(vec![error.clone(), error])
                .with_error_message(Some("m".into()));
        }
        if v >= 10 {
            partition = partition.with_current_leader(
                produce_response::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(5))
                    .with_leader_epoch(6),
            );
        }
        let topic_response = TopicProduceResponse::default()
            .with_name(if v <= 12 { topic("t") } else { topic("") })
            .with_partition_responses(vec![partition.clone(), partition]);
        let mut response = ProduceResponse::default()
            .with_responses(vec![topic_response.clone(), topic_response])
            .with_throttle_time_ms(7);
        if v >= 10 {
            let endpoint = produce_response::NodeEndpoint::default()
                .with_node_id(BrokerId(1))
                .with_host("h".into())
                .with_port(9092)
                .with_rack(Some("r".into()));
            response = response.with_node_endpoints(vec![endpoint.clone(), endpoint]);
        }
        response
    });
}

#[test]
fn fetch() {
    every_version(ApiKey::Fetch, Direction::Request, |v| {
        let mut partition = FetchPartition::default()
            .with_partition(1)
            .with_fetch_offset(100)
            .with_partition_max_bytes(1 << 20);
        if v >= 9 {
            partition = partition.with_current_leader_epoch(2);
        }
        if v >= 12 {
            partition = partition.with_last_fetched_epoch(3);
        }
        if v >= 5 {
            partition = partition.with_log_start_offset(4);
        }
        if v >= 17 {
            partition = partition.with_replica_directory_id(fetch_topic_with_id().topic_id);
        }
        if v >= 18 {
            partition = partition.with_high_watermark(50);
        }
        let fetch_topic = if v <= 12 {
            FetchTopic::default().with_topic(topic("t"))
        } else {
            fetch_topic_with_id()
        };
        let fetch_topic = fetch_topic.with_partitions(vec![partition.clone(), partition]);
        let mut request = FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 24)
            .with_isolation_level(1)
            .with_topics(vec![fetch_topic.clone(), fetch_topic]);
        if v <= 14 {
            request = request.with_replica_id(BrokerId(-1));
        }
        if v >= 7 {
            let forgotten = ForgottenTopic::default()
                .with_topic(if v <= 12 { topic("f") } else { topic("") })
                .with_partitions(vec![1, 2]);
            request = request
                .with_session_id(8)
                .with_session_epoch(9)
                .with_forgotten_topics_data(vec![forgotten.clone(), forgotten]);
        }
        if v >= 11 {
            request = request.with_rack_id("rack".into());
        }
        if v >= 12 {
            request = request.with_cluster_id(Some("cluster".into()));
        }
        if v >= 15 {
            request = request.with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(3))
                    .with_replica_epoch(4),
            );
        }
        request
    });
    every_version(ApiKey::Fetch, Direction::Response, |v| {
        let aborted = AbortedTransaction::default()
            .with_producer_id(ProducerId(1))
            .with_first_offset(2);
        let mut partition = PartitionData::default()
            .with_partition_index(1)
            .with_high_watermark(100)
            .with_last_stable_offset(90)
            .with_aborted_transactions(Some(vec![aborted.clone(), aborted]))
            .with_records(Some(Bytes::from_static(b"batch")));
        if v >= 5 {
            partition = partition.with_log_start_offset(3);
        }
        if v >= 11 {
            partition = partition.with_preferred_read_replica(BrokerId(2));
        }
        if v >= 12 {
            partition = partition
                .with_diverging_epoch(EpochEndOffset::default().with_epoch(4).with_end_offset(5))
                .with_current_leader(
                    fetch_response::LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(6))
                        .with_leader_epoch(7),
                )
                .with_snapshot_id(SnapshotId::default().with_end_offset(8).with_epoch(9));
        }
        // A null AbortedTransactions and null Records take the null path of each.
        let bare = partition
            .clone()
            .with_aborted_transactions(None)
            .with_records(None);
        let topic_response = FetchableTopicResponse::default()
            .with_topic(if v <= 12 { topic("t") } else { topic("") })
            .with_partitions(vec![partition, bare]);
        let mut response = FetchResponse::default()
            .with_throttle_time_ms(1)
            .with_responses(vec![topic_response.clone(), topic_response]);
        if v >= 7 {
            response = response.with_error_code(0).with_session_id(12);
        }
        if v >= 16 {
            let endpoint = fetch_response::NodeEndpoint::default()
                .with_node_id(BrokerId(1))
                .with_host("h".into())
                .with_port(9092)
                .with_rack(Some("r".into()));
            response = response.with_node_endpoints(vec![endpoint.clone(), endpoint]);
        }
        response
    });
}

#[test]
fn list_offsets() {
    every_version(ApiKey::ListOffsets, Direction::Request, |v| {
        let mut partition = ListOffsetsPartition::default()
            .with_partition_index(1)
            .with_timestamp(-1);
        if v >= 4 {
            partition = partition.with_current_leader_epoch(2);
        }
        let list_topic = ListOffsetsTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        let mut request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_topic.clone(), list_topic]);
        if v >= 2 {
            request = request.with_isolation_level(1);
        }
        if v >= 10 {
            request = request.with_timeout_ms(1000);
        }
        request
    });
    every_version(ApiKey::ListOffsets, Direction::Response, |v| {
        let mut partition = ListOffsetsPartitionResponse::default()
            .with_partition_index(1)
            .with_timestamp(2)
            .with_offset(3);
        if v >= 4 {
            partition = partition.with_leader_epoch(4);
        }
        let topic_response = ListOffsetsTopicResponse::default()
            .with_name(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        let mut response = ListOffsetsResponse::default()
            .with_topics(vec![topic_response.clone(), topic_response]);
        if v >= 2 {
            response = response.with_throttle_time_ms(5);
        }
        response
    });
}

#[test]
fn offset_for_leader_epoch() {
    every_version(ApiKey::OffsetForLeaderEpoch, Direction::Request, |v| {
        let partition = OffsetForLeaderPartition::default()
            .with_partition(1)
            .with_current_leader_epoch(2)
            .with_leader_epoch(3);
        let epoch_topic = OffsetForLeaderTopic::default()
            .with_topic(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        let mut request = OffsetForLeaderEpochRequest::default()
            .with_topics(vec![epoch_topic.clone(), epoch_topic]);
        if v >= 3 {
            request = request.with_replica_id(BrokerId(-1));
        }
        request
    });
    every_version(ApiKey::OffsetForLeaderEpoch, Direction::Response, |_| {
        let partition = LeaderEpochEndOffset::default()
            .with_partition(1)
            .with_leader_epoch(2)
            .with_end_offset(3);
        let result = OffsetForLeaderTopicResult::default()
            .with_topic(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        OffsetForLeaderEpochResponse::default()
            .with_throttle_time_ms(4)
            .with_topics(vec![result.clone(), result])
    });
}

#[test]
fn delete_records() {
    every_version(ApiKey::DeleteRecords, Direction::Request, |_| {
        let partition = DeleteRecordsPartition::default()
            .with_partition_index(1)
            .with_offset(2);
        let delete_topic = DeleteRecordsTopic::default()
            .with_name(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        DeleteRecordsRequest::default()
            .with_topics(vec![delete_topic.clone(), delete_topic])
            .with_timeout_ms(3)
    });
    every_version(ApiKey::DeleteRecords, Direction::Response, |_| {
        let partition = DeleteRecordsPartitionResult::default()
            .with_partition_index(1)
            .with_low_watermark(2);
        let result = DeleteRecordsTopicResult::default()
            .with_name(topic("t"))
            .with_partitions(vec![partition.clone(), partition]);
        DeleteRecordsResponse::default()
            .with_throttle_time_ms(4)
            .with_topics(vec![result.clone(), result])
    });
}

/// The crate decodes ProduceResponse v10's NodeEndpoints tag in place, so a hostile count
/// inside the tag must be caught, not skipped by the tag's size.
#[test]
fn hostile_count_inside_a_known_tag_is_rejected() {
    // No topics, throttle 0, one tag: 0, size 5, COMPACT_ARRAY count 0x7fffffff.
    let body = [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x05, 0x80, 0x80, 0x80, 0x80, 0x08,
    ];
    assert!(matches!(
        check(ApiKey::Produce, Direction::Response, 10, &body),
        Err(crate::kafka::DecodeError::ImpossibleCount { .. })
    ));
}
