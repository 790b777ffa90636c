//! Every walker must accept what the crate encodes, at every version, or valid traffic
//! would be refused; and must reject every strict prefix of it.

mod admin;
mod data;
mod groups;

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message};

use super::*;

/// Encodes `message` at every version the crate knows and checks that the walker accepts
/// it and rejects each strict prefix.
pub(super) fn roundtrip<M: Encodable + Message>(api: ApiKey, direction: Direction, message: &M) {
    for v in M::VERSIONS.min..=M::VERSIONS.max {
        let mut buf = BytesMut::new();
        if message.encode(&mut buf, v).is_err() {
            continue; // a field this version cannot carry
        }
        check(api, direction, v, &buf)
            .unwrap_or_else(|e| panic!("{api:?} {direction:?} v{v}: {e}"));
        for cut in 0..buf.len() {
            assert!(
                check(api, direction, v, &buf[..cut]).is_err(),
                "{api:?} v{v} prefix {cut} accepted"
            );
        }
    }
}

#[test]
fn metadata() {
    let topic = MetadataRequestTopic::default().with_name(Some(TopicName("orders".into())));
    roundtrip(
        ApiKey::Metadata,
        Direction::Request,
        &MetadataRequest::default().with_topics(Some(vec![topic.clone(), topic])),
    );
    let partition = MetadataResponsePartition::default()
        .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
        .with_isr_nodes(vec![BrokerId(1)])
        .with_offline_replicas(vec![BrokerId(3)]);
    let response = MetadataResponse::default()
        .with_cluster_id(Some("c".into()))
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_host("b1".into())
                .with_rack(Some("r".into())),
            MetadataResponseBroker::default().with_host("b2".into()),
        ])
        .with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName("t".into())))
                .with_partitions(vec![partition.clone(), partition]),
        ]);
    roundtrip(ApiKey::Metadata, Direction::Response, &response);
}

#[test]
fn api_versions() {
    roundtrip(
        ApiKey::ApiVersions,
        Direction::Request,
        &ApiVersionsRequest::default()
            .with_client_software_name("x".into())
            .with_client_software_version("1".into()),
    );
    let response = ApiVersionsResponse::default()
        .with_api_keys(vec![ApiVersion::default().with_max_version(9); 3])
        .with_supported_features(vec![SupportedFeatureKey::default().with_name("f".into())])
        .with_finalized_features_epoch(7)
        .with_finalized_features(vec![FinalizedFeatureKey::default().with_name("g".into())])
        .with_zk_migration_ready(true);
    roundtrip(ApiKey::ApiVersions, Direction::Response, &response);
}

#[test]
fn find_coordinator() {
    roundtrip(
        ApiKey::FindCoordinator,
        Direction::Request,
        &FindCoordinatorRequest::default()
            .with_key("g".into())
            .with_coordinator_keys(vec!["g".into()]),
    );
    roundtrip(
        ApiKey::FindCoordinator,
        Direction::Response,
        &FindCoordinatorResponse::default()
            .with_host("h".into())
            .with_coordinators(vec![
                Coordinator::default()
                    .with_key("g".into())
                    .with_host("h".into()),
            ]),
    );
}

#[test]
fn describe_cluster_and_sasl() {
    let broker = DescribeClusterBroker::default()
        .with_host("h".into())
        .with_rack(Some("r".into()));
    roundtrip(
        ApiKey::DescribeCluster,
        Direction::Response,
        &DescribeClusterResponse::default().with_brokers(vec![broker.clone(), broker]),
    );
    roundtrip(
        ApiKey::SaslHandshake,
        Direction::Request,
        &SaslHandshakeRequest::default().with_mechanism("OAUTHBEARER".into()),
    );
    roundtrip(
        ApiKey::SaslHandshake,
        Direction::Response,
        &SaslHandshakeResponse::default()
            .with_mechanisms(vec!["PLAIN".into(), "OAUTHBEARER".into()]),
    );
    roundtrip(
        ApiKey::SaslAuthenticate,
        Direction::Request,
        &SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(b"n,,")),
    );
    roundtrip(
        ApiKey::SaslAuthenticate,
        Direction::Response,
        &SaslAuthenticateResponse::default()
            .with_error_message(Some("m".into()))
            .with_auth_bytes(bytes::Bytes::from_static(b"x")),
    );
}

/// A Metadata v13 request body exactly as librdkafka 2.16 (confluent-kafka 2.16.1) sent it
/// for all topics, with three bytes after the last field that brokers ignore.
#[test]
fn librdkafka_metadata_v13_with_trailing_bytes() {
    let body = [0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    check(ApiKey::Metadata, Direction::Request, 13, &body).unwrap();
    let request =
        crate::kafka::decode_request::<MetadataRequest>(13, &bytes::Bytes::copy_from_slice(&body))
            .unwrap();
    assert!(request.topics.is_none(), "all topics");
}

#[test]
fn hostile_metadata_count_is_rejected_before_decoding() {
    // The 5-byte Metadata v0 body that makes kafka-protocol 0.18 abort: count 0x7fffffff.
    let body = [0x7f, 0xff, 0xff, 0xff, 0x00];
    assert!(matches!(
        check(ApiKey::Metadata, Direction::Request, 0, &body),
        Err(DecodeError::ImpossibleCount { .. })
    ));
    let err =
        crate::kafka::decode_request::<MetadataRequest>(0, &bytes::Bytes::copy_from_slice(&body));
    assert!(err.is_err());
}
