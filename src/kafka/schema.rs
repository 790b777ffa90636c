//! Walkers for the message bodies the proxy decodes, one function per message, each mirroring
//! the field order of Kafka's message schema (clients/src/main/resources/common/message/*.json)
//! for every version kafka-protocol 0.18 decodes. Bodies without a walker are never decoded.

mod admin;
mod data;
mod groups;

use kafka_protocol::messages::ApiKey;

use super::DecodeError;
use super::walk::Walker;

/// Whether a body is a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request sent by a client.
    Request,
    /// A response sent by a broker.
    Response,
}

/// The first version of a message that uses the flexible (compact, tagged) encoding, if any.
pub(crate) fn first_flexible_version(api: ApiKey) -> Option<i16> {
    Some(match api {
        ApiKey::Produce => 9,
        ApiKey::Fetch => 12,
        ApiKey::Metadata => 9,
        ApiKey::FindCoordinator => 3,
        ApiKey::ApiVersions => 3,
        ApiKey::SaslAuthenticate => 2,
        ApiKey::DescribeCluster => 0,
        ApiKey::SaslHandshake => return None,
        _ => {
            return data::first_flexible_version(api)
                .or_else(|| groups::first_flexible_version(api))
                .or_else(|| admin::first_flexible_version(api));
        }
    })
}

/// Walks `body` as the given message; `Err(NoSchema)` when the proxy never decodes it.
pub(crate) fn check(
    api: ApiKey,
    direction: Direction,
    version: i16,
    body: &[u8],
) -> Result<(), DecodeError> {
    check_within(api, direction, version, body, usize::MAX)
}

/// As [`check`], refusing a body with more than `max_entries` array entries in all.
pub(crate) fn check_within(
    api: ApiKey,
    direction: Direction,
    version: i16,
    body: &[u8],
    max_entries: usize,
) -> Result<(), DecodeError> {
    let flexible = first_flexible_version(api).is_some_and(|v| version >= v);
    let mut w = Walker::with_max_entries(body, flexible, max_entries);
    let v = version;
    match (api, direction) {
        (ApiKey::ApiVersions, Direction::Request) => api_versions_request(&mut w, v)?,
        (ApiKey::ApiVersions, Direction::Response) => api_versions_response(&mut w, v)?,
        (ApiKey::Metadata, Direction::Request) => metadata_request(&mut w, v)?,
        (ApiKey::Metadata, Direction::Response) => metadata_response(&mut w, v)?,
        (ApiKey::FindCoordinator, Direction::Request) => find_coordinator_request(&mut w, v)?,
        (ApiKey::FindCoordinator, Direction::Response) => find_coordinator_response(&mut w, v)?,
        (ApiKey::DescribeCluster, Direction::Response) => describe_cluster_response(&mut w, v)?,
        (ApiKey::SaslHandshake, Direction::Request) => {
            w.string()?;
        }
        (ApiKey::SaslHandshake, Direction::Response) => {
            w.i16()?;
            w.array(|w| w.string().map(|_| ()))?;
        }
        (ApiKey::SaslAuthenticate, Direction::Request) => {
            w.bytes()?;
            w.tagged_fields()?;
        }
        (ApiKey::SaslAuthenticate, Direction::Response) => {
            w.i16()?;
            w.string()?;
            w.bytes()?;
            if v >= 1 {
                w.i64()?;
            }
            w.tagged_fields()?;
        }
        _ => {
            let walked = data::walk(api, direction, v, &mut w)?
                || groups::walk(api, direction, v, &mut w)?
                || admin::walk(api, direction, v, &mut w)?;
            if !walked {
                return Err(DecodeError::NoSchema);
            }
        }
    }
    match direction {
        // Kafka brokers ignore bytes after a request's last field, and real clients send some
        // (librdkafka 2.16's Metadata v13 carries three), so requests are held to the same rule.
        Direction::Request => Ok(()),
        Direction::Response => w.finish(),
    }
}

fn api_versions_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 3 {
        w.string()?;
        w.string()?;
    }
    w.tagged_fields()
}

fn api_versions_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.i16()?;
    w.array(|w| {
        w.i16()?;
        w.i16()?;
        w.i16()?;
        w.tagged_fields()
    })?;
    if v >= 1 {
        w.i32()?;
    }
    // Tags 0 (SupportedFeatures) and 2 (FinalizedFeatures) are decoded in place by the crate.
    let feature = |w: &mut Walker<'_>| {
        w.string()?;
        w.i16()?;
        w.i16()?;
        w.tagged_fields()
    };
    w.tagged_fields_with(|w, tag| match tag {
        0 | 2 => w.array(feature).map(|_| true),
        1 => w.i64().map(|_| true),
        3 => w.bool().map(|_| true),
        _ => Ok(false),
    })
}

fn metadata_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.array(|w| {
        if v >= 10 {
            w.uuid()?;
        }
        w.string()?;
        w.tagged_fields()
    })?;
    if v >= 4 {
        w.bool()?;
    }
    if (8..=10).contains(&v) {
        w.bool()?;
    }
    if v >= 8 {
        w.bool()?;
    }
    w.tagged_fields()
}

fn metadata_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 3 {
        w.i32()?;
    }
    w.array(|w| {
        w.i32()?;
        w.string()?;
        w.i32()?;
        if v >= 1 {
            w.string()?;
        }
        w.tagged_fields()
    })?;
    if v >= 2 {
        w.string()?;
    }
    if v >= 1 {
        w.i32()?;
    }
    w.array(|w| {
        w.i16()?;
        w.string()?;
        if v >= 10 {
            w.uuid()?;
        }
        if v >= 1 {
            w.bool()?;
        }
        w.array(|w| {
            w.i16()?;
            w.i32()?;
            w.i32()?;
            if v >= 7 {
                w.i32()?;
            }
            w.array(|w| w.i32().map(|_| ()))?;
            w.array(|w| w.i32().map(|_| ()))?;
            if v >= 5 {
                w.array(|w| w.i32().map(|_| ()))?;
            }
            w.tagged_fields()
        })?;
        if v >= 8 {
            w.i32()?;
        }
        w.tagged_fields()
    })?;
    if (8..=10).contains(&v) {
        w.i32()?;
    }
    if v >= 13 {
        w.i16()?;
    }
    w.tagged_fields()
}

fn find_coordinator_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v <= 3 {
        w.string()?;
    }
    if v >= 1 {
        w.i8()?;
    }
    if v >= 4 {
        w.array(|w| w.string().map(|_| ()))?;
    }
    w.tagged_fields()
}

fn find_coordinator_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 1 {
        w.i32()?;
    }
    if v <= 3 {
        w.i16()?;
        if v >= 1 {
            w.string()?;
        }
        w.i32()?;
        w.string()?;
        w.i32()?;
    }
    if v >= 4 {
        w.array(|w| {
            w.string()?;
            w.i32()?;
            w.string()?;
            w.i32()?;
            w.i16()?;
            w.string()?;
            w.tagged_fields()
        })?;
    }
    w.tagged_fields()
}

fn describe_cluster_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.i32()?;
    w.i16()?;
    w.string()?;
    if v >= 1 {
        w.i8()?;
    }
    w.string()?;
    w.i32()?;
    w.array(|w| {
        w.i32()?;
        w.string()?;
        w.i32()?;
        w.string()?;
        if v >= 2 {
            w.bool()?;
        }
        w.tagged_fields()
    })?;
    w.i32()?;
    w.tagged_fields()
}

#[cfg(test)]
mod tests {
    //! Every walker must accept what the crate encodes, at every version, or valid traffic
    //! would be refused; and must reject every strict prefix of it.
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
    pub(super) fn roundtrip<M: Encodable + Message>(
        api: ApiKey,
        direction: Direction,
        message: &M,
    ) {
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
        let request = crate::kafka::decode_request::<MetadataRequest>(
            13,
            &bytes::Bytes::copy_from_slice(&body),
        )
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
        let err = crate::kafka::decode_request::<MetadataRequest>(
            0,
            &bytes::Bytes::copy_from_slice(&body),
        );
        assert!(err.is_err());
    }
}
