//! Entry points for the fuzz targets (`fuzz/`): what the data plane does with the bytes of a
//! client after login and of a broker, in the order it does it, without sockets. Not an API.

use std::sync::{Arc, LazyLock};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;

use crate::authz::request::{self as authorize, Caller, NoEdit, Verdict};
use crate::authz::{AclIndex, AuthorizationConfig, Decisions};
use crate::kafka::header::parse_request_header;
use crate::kafka::{self, DecodeError, Direction, versions};

/// Array entries one request may hold: the default of `limits.max_request_entries`.
const MAX_ENTRIES: usize = 100_000;

/// User `fuzz` of organization `fuzz` may do anything to names starting with `a` and may
/// describe the cluster; everything else is denied. So requests are forwarded, split,
/// merged and answered here.
static POLICY: LazyLock<Arc<AclIndex>> = LazyLock::new(|| {
    let mut toml = String::new();
    for resource in ["TOPIC", "GROUP", "TRANSACTIONAL_ID"] {
        toml.push_str(&format!(
            "[[acls]]\norganization = \"fuzz\"\nprincipal = \"User:fuzz\"\n\
             resource_type = \"{resource}\"\nresource_name = \"a\"\npattern_type = \"PREFIXED\"\n\
             operation = \"ALL\"\npermission = \"ALLOW\"\n"
        ));
    }
    toml.push_str(
        "[[acls]]\norganization = \"fuzz\"\nprincipal = \"User:fuzz\"\nresource_type = \"CLUSTER\"\n\
         resource_name = \"kafka-cluster\"\noperation = \"DESCRIBE\"\npermission = \"ALLOW\"\n",
    );
    let config: AuthorizationConfig = toml::from_str(&toml).unwrap_or_default();
    Arc::new(config.index())
});

static CALLER: LazyLock<Caller> = LazyLock::new(|| {
    Caller::named(
        "fuzz",
        "fuzz",
        &["fuzzers"],
        std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
    )
});

/// A request frame (length prefix included) of an authenticated client: its header, the
/// version table, the body guard, authorization, and then the fix (or the merge of a pair)
/// applied to `response` as the broker's answer; returns the response body as the client
/// would get it, when the proxy changes it. Nothing may panic or abort.
pub fn request(frame: &[u8], response: &[u8]) -> Option<Bytes> {
    let frame = Bytes::copy_from_slice(frame);
    let header = parse_request_header(&frame).ok()?;
    let api = header.api()?;
    let offered = versions::supported(api)
        .is_some_and(|s| (s.min..=s.max).contains(&header.api_version))
        && authorize::lowest_version(api).is_some_and(|min| header.api_version >= min);
    if !offered {
        return None;
    }
    let body = &frame[header.body_offset..];
    let checked = match kafka::check_request(header.api_key, header.api_version, body, MAX_ENTRIES)
    {
        Ok(checked) => Some(checked),
        Err(DecodeError::NoSchema) => None,
        Err(_) => return None,
    };
    let decisions = Decisions::default();
    let verdict = authorize::authorize(&POLICY, &decisions, &CALLER, api, &header, &frame, checked);
    match verdict {
        Ok(Verdict::Rewrite { fix: Some(fix), .. }) => {
            fix(Bytes::copy_from_slice(response), &mut NoEdit).ok()
        }
        Ok(Verdict::Pair { merge, .. }) => {
            let (first, then) = response.split_at(response.len() / 2);
            merge(
                Bytes::copy_from_slice(first),
                Bytes::copy_from_slice(then),
                &mut NoEdit,
            )
            .ok()
        }
        _ => None,
    }
}

/// A broker's response body of any API key and version: a Metadata response through the
/// byte-level address rewrite and topic filter, unchecked as the proxy takes them; then every
/// response through the guarded decode, and encoded again (the typed rewrite's path). Nothing
/// may panic or abort.
pub fn response(api_key: i16, version: i16, body: &[u8]) {
    let Ok(api) = ApiKey::try_from(api_key) else {
        return;
    };
    if api == ApiKey::Metadata {
        let body = Bytes::copy_from_slice(body);
        let _ = kafka::pieces::metadata_addresses::<super::rewrite::RewriteError>(
            version,
            &[0, 0, 0, 1],
            &body,
            |node, _, _| Ok((format!("proxy-{node}"), 9000)),
        );
        let mut keep = false;
        let _ = kafka::pieces::metadata_topics(version, &body, |_| {
            keep = !keep;
            keep
        });
    }
    if kafka::check_body(api_key, Direction::Response, version, body).is_err() {
        return;
    }
    let mut bytes = Bytes::copy_from_slice(body);
    if let Ok(decoded) = ResponseKind::decode(api, &mut bytes, version) {
        let mut out = BytesMut::new();
        let _ = decoded.encode(&mut out, version);
    }
}

/// One input of a fuzz target's starting corpus.
pub struct Seed {
    /// The target it feeds: `request` or `response`.
    pub target: &'static str,
    /// A file name.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

macro_rules! defaults {
    ($($api:ident => $request:ident, $response:ident;)*) => {
        /// The empty request and response of an API key.
        fn empty(api: ApiKey) -> Option<(RequestKind, ResponseKind)> {
            Some(match api {
                $(ApiKey::$api => (
                    RequestKind::$api($request::default()),
                    ResponseKind::$api($response::default()),
                ),)*
                _ => return None,
            })
        }
    };
}

defaults! {
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest, FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
    FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
    JoinGroup => JoinGroupRequest, JoinGroupResponse;
    Heartbeat => HeartbeatRequest, HeartbeatResponse;
    LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
    SyncGroup => SyncGroupRequest, SyncGroupResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    DeleteRecords => DeleteRecordsRequest, DeleteRecordsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse;
    AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
    AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
    EndTxn => EndTxnRequest, EndTxnResponse;
    TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
    DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
    AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
    AlterReplicaLogDirs => AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse;
    DescribeLogDirs => DescribeLogDirsRequest, DescribeLogDirsResponse;
    SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
    CreatePartitions => CreatePartitionsRequest, CreatePartitionsResponse;
    DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
    ElectLeaders => ElectLeadersRequest, ElectLeadersResponse;
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
    AlterPartitionReassignments => AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse;
    ListPartitionReassignments => ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse;
    OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
    DescribeClientQuotas => DescribeClientQuotasRequest, DescribeClientQuotasResponse;
    AlterClientQuotas => AlterClientQuotasRequest, AlterClientQuotasResponse;
    DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
    DescribeProducers => DescribeProducersRequest, DescribeProducersResponse;
    DescribeTransactions => DescribeTransactionsRequest, DescribeTransactionsResponse;
    ListTransactions => ListTransactionsRequest, ListTransactionsResponse;
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse;
    GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse;
    PushTelemetry => PushTelemetryRequest, PushTelemetryResponse;
    DescribeTopicPartitions => DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse;
    ListConfigResources => ListConfigResourcesRequest, ListConfigResourcesResponse;
}

/// Requests that name an allowed and a denied resource, so that the seeds reach the split
/// and merge paths.
fn named(api: ApiKey) -> Option<RequestKind> {
    use kafka_protocol::protocol::StrBytes;
    let topic = |n: &'static str| TopicName(StrBytes::from_static_str(n));
    let group = |n: &'static str| GroupId(StrBytes::from_static_str(n));
    Some(match api {
        ApiKey::Metadata => RequestKind::Metadata(
            MetadataRequest::default().with_topics(Some(
                ["a1", "b1"]
                    .map(|n| {
                        metadata_request::MetadataRequestTopic::default().with_name(Some(topic(n)))
                    })
                    .to_vec(),
            )),
        ),
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default().with_acks(-1).with_topic_data(
                ["a1", "b1"]
                    .map(|n| {
                        produce_request::TopicProduceData::default()
                            .with_name(topic(n))
                            .with_partition_data(vec![
                                produce_request::PartitionProduceData::default(),
                            ])
                    })
                    .to_vec(),
            ),
        ),
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default().with_topics(
                ["a1", "b1"]
                    .map(|n| {
                        fetch_request::FetchTopic::default()
                            .with_topic(topic(n))
                            .with_partitions(vec![fetch_request::FetchPartition::default()])
                    })
                    .to_vec(),
            ),
        ),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(vec![group("a1"), group("b1")]),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(group("a1"))
                .with_topics(
                    ["a1", "b1"]
                        .map(|n| {
                            offset_commit_request::OffsetCommitRequestTopic::default()
                                .with_name(topic(n))
                                .with_partitions(vec![
                                    offset_commit_request::OffsetCommitRequestPartition::default(),
                                ])
                        })
                        .to_vec(),
                ),
        ),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default().with_topic_names(vec![topic("a1"), topic("b1")]),
        ),
        _ => return None,
    })
}

/// Valid encodings of every message the proxy offers, at every version it offers: each
/// request (empty, and naming an allowed and a denied resource where it names any) followed
/// by an empty response of its version, and each response alone.
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for row in versions::SUPPORTED {
        let Some((request, response)) = empty(row.api) else {
            continue;
        };
        for version in row.min..=row.max {
            let mut body = BytesMut::new();
            if response.encode(&mut body, version).is_err() {
                continue;
            }
            let mut tagged = BytesMut::new();
            tagged.extend_from_slice(&(row.api as i16).to_be_bytes());
            tagged.extend_from_slice(&version.to_be_bytes());
            tagged.extend_from_slice(&body);
            seeds.push(Seed {
                target: "response",
                name: format!("{:?}-v{version}", row.api),
                bytes: tagged.to_vec(),
            });
            let with_names = named(row.api);
            let requests = [Some(&request), with_names.as_ref()];
            for (i, r) in requests.into_iter().flatten().enumerate() {
                let mut req = BytesMut::new();
                if r.encode(&mut req, version).is_err() {
                    continue;
                }
                let Ok(frame) = kafka::request_frame(row.api, version, 1, "fuzz", &req) else {
                    continue;
                };
                let mut bytes = frame.to_vec();
                bytes.extend_from_slice(&body);
                seeds.push(Seed {
                    target: "request",
                    name: format!("{:?}-v{version}-{i}", row.api),
                    bytes,
                });
            }
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::kafka::encode_request;

    #[test]
    fn every_seed_runs_through_its_target() {
        let seeds = seeds();
        let missing: Vec<String> = versions::SUPPORTED
            .iter()
            .flat_map(|row| (row.min..=row.max).map(move |v| format!("{:?}-v{v}-0", row.api)))
            .filter(|name| !seeds.iter().any(|s| &s.name == name))
            .collect();
        assert!(missing.is_empty(), "no seeds for {missing:?}");
        for seed in &seeds {
            match seed.target {
                "request" => {
                    let len = u32::from_be_bytes([
                        seed.bytes[0],
                        seed.bytes[1],
                        seed.bytes[2],
                        seed.bytes[3],
                    ]) as usize;
                    request(&seed.bytes[..4 + len], &seed.bytes[4 + len..]);
                }
                _ => response(
                    i16::from_be_bytes([seed.bytes[0], seed.bytes[1]]),
                    i16::from_be_bytes([seed.bytes[2], seed.bytes[3]]),
                    &seed.bytes[4..],
                ),
            }
        }
    }

    #[test]
    fn the_policy_allows_and_denies() {
        let request = DescribeGroupsRequest::default().with_groups(vec![
            GroupId(StrBytes::from_static_str("allowed")),
            GroupId(StrBytes::from_static_str("denied")),
        ]);
        let frame = encode_request(ApiKey::DescribeGroups, 5, 1, "f", &request).expect("encode");
        let header = parse_request_header(&frame).expect("header");
        let verdict = authorize::authorize(
            &POLICY,
            &Decisions::default(),
            &CALLER,
            ApiKey::DescribeGroups,
            &header,
            &frame,
            None,
        );
        assert!(
            matches!(verdict, Ok(Verdict::Rewrite { frame: Some(_), .. })),
            "split"
        );
        request_and_response_survive_garbage(&frame);
    }

    fn request_and_response_survive_garbage(frame: &[u8]) {
        request(frame, &[0xff; 64]);
        request(&frame[..frame.len() - 1], &[]);
        response(ApiKey::DescribeGroups as i16, 5, &[0x7f, 0xff, 0xff, 0xff]);
    }
}
