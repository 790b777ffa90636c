//! Metadata responses in the shapes the benches measure.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::Encodable;

/// A Metadata v12 response body: `brokers` brokers, `topics` topics named `topic-N`, each with
/// 6 partitions.
pub fn response(brokers: i32, topics: usize) -> Bytes {
    response_named(brokers, topics, |t| format!("topic-{t}"))
}

/// A Metadata v12 response naming topic `t` `name(t)`, each with 6 partitions.
pub fn response_named(brokers: i32, topics: usize, name: impl Fn(usize) -> String) -> Bytes {
    let partitions = (0..6)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(BrokerId(p % brokers))
                .with_replica_nodes((0..3).map(BrokerId).collect())
                .with_isr_nodes((0..3).map(BrokerId).collect())
        })
        .collect::<Vec<_>>();
    let response = MetadataResponse::default()
        .with_brokers(
            (0..brokers)
                .map(|n| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(n))
                        .with_host("broker.internal".into())
                        .with_port(9092)
                })
                .collect(),
        )
        .with_topics(
            (0..topics)
                .map(|t| {
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(name(t).into())))
                        .with_partitions(partitions.clone())
                })
                .collect(),
        );
    let mut buf = BytesMut::new();
    response.encode(&mut buf, 12).expect("encodes");
    buf.freeze()
}
