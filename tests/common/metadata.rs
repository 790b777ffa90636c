//! Metadata responses in the shapes the benches measure.

use bytes::{Bytes, BytesMut};
use kafka_oidc_proxy::kafka::{decode_response, encode_request, encode_response};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::Encodable;

/// A Metadata v12 request frame for every topic (a listing).
pub fn listing() -> Bytes {
    let request = MetadataRequest::default().with_topics(None);
    encode_request(ApiKey::Metadata, 12, 1, "bench", &request).expect("encodes")
}

/// A Metadata v12 response of `topics` topics, half of them (the even ones) named with the
/// `a` that `proxy::fuzzing::request`'s caller may describe, the others with `b`.
pub fn half_allowed(topics: usize) -> Bytes {
    response_named(3, topics, |t| {
        let allowed = if t % 2 == 0 { "a" } else { "b" };
        format!("{allowed}-topic-{t}")
    })
}

/// The address rewrite the proxy makes to a Metadata v12 response body when no ACL filter
/// decodes it: the brokers walked and written anew, the topics passed on as a slice of the
/// frame; returns the frame's length.
pub fn rewrite(body: &Bytes) -> usize {
    let header = [0, 0, 0, 1, 0]; // correlation id, no tagged fields
    kafka_oidc_proxy::kafka::pieces::metadata_addresses::<anyhow::Error>(
        12,
        &header,
        body,
        |node, _, _| Ok(("127.0.0.1".to_owned(), 9100 + node)),
    )
    .expect("rewritten")
    .len()
}

/// The same rewrite made on the decoded response (decoded, each broker's address changed,
/// encoded again): what the proxy does when an ACL filter decodes the response anyway.
pub fn rewrite_decoded(body: &Bytes) -> Bytes {
    let mut r = decode_response::<MetadataRequest>(12, body).expect("decodes");
    for broker in &mut r.brokers {
        broker.host = "127.0.0.1".into();
        broker.port = 9100 + broker.node_id.0;
    }
    encode_response(ApiKey::Metadata, 12, 1, &r).expect("encodes")
}

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
