//! One check per row of [`crate::authz::apis::CHECKS`]: for each row, a request of the row's
//! API naming one resource of the row's type is decided with every row of the API granted
//! (it must pass untouched by authorization), then without the row's grant (it must be
//! refused the way Kafka refuses it: the resource's error code, a filtered listing, or
//! automatic topic creation turned off). A row that Kafka pairs with a fallback ("the cluster,
//! else each topic") is taken away together with its partner, and each alone must still pass.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Request, StrBytes};

use super::*;
use crate::authz::apis::{CHECKS, Check, On};
use crate::authz::{AclBinding, AclIndex, Host, Operation, PatternType, Permission, Principal};
use crate::kafka::error_code::*;
use crate::kafka::header::{parse_request_header, parse_response_header};

const TOPIC: &str = "probe.topic";
const GROUP: &str = "probe.group";
const TXN: &str = "probe.txn";

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic() -> TopicName {
    TopicName(s(TOPIC))
}

fn group() -> GroupId {
    GroupId(s(GROUP))
}

fn txn() -> TransactionalId {
    TransactionalId(s(TXN))
}

/// What authorization did to a probe, as text to search: the forwarded request and the
/// response the client gets (the proxy's own, or the broker's sample after the fix).
#[derive(Debug)]
enum Outcome {
    Forwarded,
    Rewritten {
        request: String,
        response: String,
    },
    Answered(String),
    Refused(#[allow(dead_code)] String),
    /// The probe cannot be sent at this version.
    Unencodable,
    /// Deciding, fixing or merging failed (the connection would close).
    Failed(#[allow(dead_code)] String),
}

impl Outcome {
    /// The authorization error codes the client sees.
    fn denials(&self) -> Vec<i16> {
        let text = match self {
            Outcome::Rewritten { response, .. } | Outcome::Answered(response) => response,
            Outcome::Forwarded
            | Outcome::Refused(_)
            | Outcome::Unencodable
            | Outcome::Failed(_) => return Vec::new(),
        };
        [
            TOPIC_AUTHORIZATION_FAILED,
            GROUP_AUTHORIZATION_FAILED,
            CLUSTER_AUTHORIZATION_FAILED,
            TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ]
        .into_iter()
        .filter(|code| {
            let needle = format!("error_code: {code}");
            text.match_indices(&needle)
                .any(|(i, _)| !text[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect()
    }

    fn response_mentions(&self, name: &str) -> bool {
        match self {
            Outcome::Forwarded => true,
            Outcome::Rewritten { response, .. } | Outcome::Answered(response) => {
                response.contains(name)
            }
            Outcome::Refused(_) | Outcome::Unencodable | Outcome::Failed(_) => false,
        }
    }

    fn no_cluster_operations(&self) -> bool {
        matches!(self, Outcome::Rewritten { response, .. }
            if response.contains("cluster_authorized_operations: 0,"))
    }

    fn auto_creation_off(&self) -> bool {
        matches!(self, Outcome::Rewritten { request, .. }
            if request.contains("allow_auto_topic_creation: false"))
    }
}

/// Decides `request` at version `v` (`None`: the highest the proxy offers and the crate
/// encodes), with `broker` as the broker's response to the forwarded part.
fn run<R>(acls: &Arc<AclIndex>, v: Option<i16>, request: R, broker: R::Response) -> Outcome
where
    R: Request + Encodable + Debug,
    R::Response: Encodable + Debug + Default,
{
    let api = ApiKey::try_from(R::KEY).expect("key");
    let offered = crate::kafka::versions::supported(api)
        .expect("supported")
        .max;
    let version = v.unwrap_or(offered.min(<R as kafka_protocol::protocol::Message>::VERSIONS.max));
    let Ok(frame) = crate::kafka::encode_request(api, version, 7, "probe", &request) else {
        // The probe uses fields this version does not have.
        return Outcome::Unencodable;
    };
    let header = parse_request_header(&frame).expect("header");
    let caller = Caller::named(
        "acme",
        "alice",
        &[],
        "127.0.0.1:5000".parse().expect("address"),
    );
    let verdict = match authorize(
        acls,
        &Decisions::default(),
        &caller,
        api,
        &header,
        &frame,
        None,
    ) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(format!("deciding: {e}")),
    };
    match verdict {
        Verdict::Forward => Outcome::Forwarded,
        Verdict::Refuse(why) => Outcome::Refused(why),
        Verdict::Answer(frame) => {
            let (_, offset) = parse_response_header(&frame, api.response_header_version(version))
                .expect("header");
            let response = crate::kafka::decode_response::<R>(version, &frame.slice(offset..))
                .expect("response");
            Outcome::Answered(format!("{response:?}"))
        }
        Verdict::Pair { first, then, merge } => {
            let decode = |f: &Bytes| {
                let header = parse_request_header(f).expect("header");
                let r =
                    crate::kafka::decode_request::<R>(version, &header.body(f)).expect("request");
                format!("{r:?}")
            };
            let request = format!("{} then {}", decode(&first), decode(&then));
            let empty =
                crate::kafka::encode_body(version, &R::Response::default()).expect("encode");
            let body = crate::kafka::encode_body(version, &broker).expect("encode");
            let merged = match merge(empty, body, &mut NoEdit) {
                Ok(m) => m,
                Err(e) => return Outcome::Failed(format!("merging: {e}")),
            };
            let response = crate::kafka::decode_response::<R>(version, &merged).expect("merged");
            Outcome::Rewritten {
                request,
                response: format!("{response:?}"),
            }
        }
        Verdict::Rewrite { frame, fix, .. } => {
            let request = match frame {
                Some(f) => {
                    let header = parse_request_header(&f).expect("header");
                    let r = crate::kafka::decode_request::<R>(version, &header.body(&f))
                        .expect("request");
                    format!("{r:?}")
                }
                None => format!("{request:?}"),
            };
            let body: Bytes = crate::kafka::encode_body(version, &broker).expect("encode");
            let fixed = match fix {
                Some(fix) => match fix(body, &mut NoEdit) {
                    Ok(b) => b,
                    Err(e) => return Outcome::Failed(format!("fixing: {e}")),
                },
                None => body,
            };
            let response = crate::kafka::decode_response::<R>(version, &fixed).expect("fixed");
            Outcome::Rewritten {
                request,
                response: format!("{response:?}"),
            }
        }
    }
}

/// A request of `api` naming one resource of type `on` (TOPIC, GROUP, TXN, a broker config
/// for the cluster), with a broker response that lists the resource where the API lists.
fn probe(acls: &Arc<AclIndex>, v: Option<i16>, api: ApiKey, on: ResourceType) -> Outcome {
    use ApiKey as A;
    match api {
        A::Produce => {
            use produce_request::{PartitionProduceData, TopicProduceData};
            let request = ProduceRequest::default()
                .with_acks(-1)
                .with_transactional_id((on == ResourceType::TransactionalId).then(txn))
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(topic())
                        .with_partition_data(vec![PartitionProduceData::default()]),
                ]);
            run(acls, v, request, Default::default())
        }
        A::Fetch => {
            use fetch_request::{FetchPartition, FetchTopic};
            let request = FetchRequest::default().with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![FetchPartition::default()]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::ListOffsets => {
            use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
            let request = ListOffsetsRequest::default().with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![ListOffsetsPartition::default()]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::Metadata => {
            use metadata_request::MetadataRequestTopic;
            let request = MetadataRequest::default()
                .with_allow_auto_topic_creation(true)
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic())),
                ]));
            run(acls, v, request, Default::default())
        }
        A::OffsetCommit => {
            use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
            let request = OffsetCommitRequest::default()
                .with_group_id(group())
                .with_topics(vec![
                    OffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![OffsetCommitRequestPartition::default()]),
                ]);
            run(acls, v, request, Default::default())
        }
        A::OffsetFetch if v.is_some_and(|v| v < 8) => {
            use offset_fetch_request::OffsetFetchRequestTopic;
            let request = OffsetFetchRequest::default()
                .with_group_id(group())
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(topic())
                        .with_partition_indexes(vec![0]),
                ]));
            run(acls, v, request, Default::default())
        }
        A::OffsetFetch => {
            use offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
            let request = OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(group())
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(topic())
                            .with_partition_indexes(vec![0]),
                    ])),
            ]);
            run(acls, v, request, Default::default())
        }
        A::FindCoordinator => {
            let (key_type, key) = match on {
                ResourceType::TransactionalId => (1, TXN),
                _ => (0, GROUP),
            };
            let request = FindCoordinatorRequest::default().with_key_type(key_type);
            let request = if v.is_some_and(|v| v < 4) {
                request.with_key(s(key))
            } else {
                request.with_coordinator_keys(vec![s(key)])
            };
            run(acls, v, request, Default::default())
        }
        A::JoinGroup => run(
            acls,
            v,
            JoinGroupRequest::default()
                .with_group_id(group())
                .with_protocol_type(s("consumer")),
            Default::default(),
        ),
        A::Heartbeat => run(
            acls,
            v,
            HeartbeatRequest::default().with_group_id(group()),
            Default::default(),
        ),
        A::LeaveGroup => run(
            acls,
            v,
            LeaveGroupRequest::default().with_group_id(group()),
            Default::default(),
        ),
        A::SyncGroup => run(
            acls,
            v,
            SyncGroupRequest::default()
                .with_group_id(group())
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range"))),
            Default::default(),
        ),
        A::DescribeGroups => run(
            acls,
            v,
            DescribeGroupsRequest::default().with_groups(vec![group()]),
            Default::default(),
        ),
        A::ListGroups => {
            let listed = ListGroupsResponse::default().with_groups(vec![
                list_groups_response::ListedGroup::default().with_group_id(group()),
            ]);
            run(acls, v, ListGroupsRequest::default(), listed)
        }
        A::CreateTopics => {
            use create_topics_request::CreatableTopic;
            let request = CreateTopicsRequest::default().with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic())
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]);
            run(acls, v, request, Default::default())
        }
        A::DeleteTopics => run(
            acls,
            v,
            DeleteTopicsRequest::default().with_topic_names(vec![topic()]),
            Default::default(),
        ),
        A::DeleteRecords => {
            use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
            let request = DeleteRecordsRequest::default().with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![DeleteRecordsPartition::default()]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::InitProducerId => run(
            acls,
            v,
            InitProducerIdRequest::default()
                .with_transactional_id((on == ResourceType::TransactionalId).then(txn)),
            Default::default(),
        ),
        A::OffsetForLeaderEpoch => {
            use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
            let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![OffsetForLeaderPartition::default()]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::AddPartitionsToTxn => {
            use add_partitions_to_txn_request::AddPartitionsToTxnTopic;
            let request = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(txn())
                .with_v3_and_below_topics(vec![
                    AddPartitionsToTxnTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![0]),
                ]);
            run(acls, v, request, Default::default())
        }
        A::AddOffsetsToTxn => run(
            acls,
            v,
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn())
                .with_group_id(group()),
            Default::default(),
        ),
        A::EndTxn => run(
            acls,
            v,
            EndTxnRequest::default().with_transactional_id(txn()),
            Default::default(),
        ),
        A::TxnOffsetCommit => {
            use txn_offset_commit_request::{
                TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
            };
            let request = TxnOffsetCommitRequest::default()
                .with_transactional_id(txn())
                .with_group_id(group())
                .with_topics(vec![
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![TxnOffsetCommitRequestPartition::default()]),
                ]);
            run(acls, v, request, Default::default())
        }
        A::DescribeConfigs => {
            let (resource_type, name) = config_probe(on);
            let request = DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(s(name)),
            ]);
            run(acls, v, request, Default::default())
        }
        A::AlterConfigs => {
            let (resource_type, name) = config_probe(on);
            let request = AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(s(name)),
            ]);
            run(acls, v, request, Default::default())
        }
        A::IncrementalAlterConfigs => {
            let (resource_type, name) = config_probe(on);
            let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(s(name)),
            ]);
            run(acls, v, request, Default::default())
        }
        A::AlterReplicaLogDirs => {
            use alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
            let request = AlterReplicaLogDirsRequest::default().with_dirs(vec![
                AlterReplicaLogDir::default()
                    .with_path(s("/var/kafka"))
                    .with_topics(vec![
                        AlterReplicaLogDirTopic::default()
                            .with_name(topic())
                            .with_partitions(vec![0]),
                    ]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::DescribeLogDirs => run(
            acls,
            v,
            DescribeLogDirsRequest::default(),
            Default::default(),
        ),
        A::CreatePartitions => {
            use create_partitions_request::CreatePartitionsTopic;
            let request = CreatePartitionsRequest::default().with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic())
                    .with_count(2),
            ]);
            run(acls, v, request, Default::default())
        }
        A::DeleteGroups => run(
            acls,
            v,
            DeleteGroupsRequest::default().with_groups_names(vec![group()]),
            Default::default(),
        ),
        A::ElectLeaders => {
            let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(topic())
                    .with_partitions(vec![0]),
            ]));
            run(acls, v, request, Default::default())
        }
        A::AlterPartitionReassignments => {
            use alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
            let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
                ReassignableTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![ReassignablePartition::default()]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::ListPartitionReassignments => run(
            acls,
            v,
            ListPartitionReassignmentsRequest::default(),
            Default::default(),
        ),
        A::OffsetDelete => {
            use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
            let request = OffsetDeleteRequest::default()
                .with_group_id(group())
                .with_topics(vec![
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![OffsetDeleteRequestPartition::default()]),
                ]);
            run(acls, v, request, Default::default())
        }
        A::DescribeClientQuotas => run(
            acls,
            v,
            DescribeClientQuotasRequest::default(),
            Default::default(),
        ),
        A::AlterClientQuotas => {
            use alter_client_quotas_request::{EntityData, EntryData};
            let request = AlterClientQuotasRequest::default().with_entries(vec![
                EntryData::default().with_entity(vec![
                    EntityData::default()
                        .with_entity_type(s("user"))
                        .with_entity_name(Some(s("alice"))),
                ]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::DescribeCluster => run(
            acls,
            v,
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            Default::default(),
        ),
        A::DescribeProducers => {
            let request = DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(topic())
                    .with_partition_indexes(vec![0]),
            ]);
            run(acls, v, request, Default::default())
        }
        A::DescribeTransactions => {
            use describe_transactions_response::{TopicData, TransactionState};
            let described = DescribeTransactionsResponse::default().with_transaction_states(vec![
                TransactionState::default()
                    .with_transactional_id(txn())
                    .with_topics(vec![
                        TopicData::default()
                            .with_topic(topic())
                            .with_partitions(vec![0]),
                    ]),
            ]);
            let request =
                DescribeTransactionsRequest::default().with_transactional_ids(vec![txn()]);
            run(acls, v, request, described)
        }
        A::ListTransactions => {
            let listed = ListTransactionsResponse::default().with_transaction_states(vec![
                list_transactions_response::TransactionState::default()
                    .with_transactional_id(txn())
                    .with_transaction_state(s("Ongoing")),
            ]);
            run(acls, v, ListTransactionsRequest::default(), listed)
        }
        A::ConsumerGroupHeartbeat => run(
            acls,
            v,
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group())
                .with_subscribed_topic_names(Some(vec![topic()])),
            Default::default(),
        ),
        A::ConsumerGroupDescribe => {
            use consumer_group_describe_response::{
                Assignment, DescribedGroup, Member, TopicPartitions,
            };
            let assigned = Assignment::default().with_topic_partitions(vec![
                TopicPartitions::default()
                    .with_topic_name(topic())
                    .with_partitions(vec![0]),
            ]);
            let described = ConsumerGroupDescribeResponse::default().with_groups(vec![
                DescribedGroup::default()
                    .with_group_id(group())
                    .with_members(vec![Member::default().with_assignment(assigned)]),
            ]);
            let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group()]);
            run(acls, v, request, described)
        }
        A::GetTelemetrySubscriptions => run(
            acls,
            v,
            GetTelemetrySubscriptionsRequest::default(),
            Default::default(),
        ),
        A::PushTelemetry => run(acls, v, PushTelemetryRequest::default(), Default::default()),
        A::DescribeTopicPartitions => {
            let request = DescribeTopicPartitionsRequest::default()
                .with_response_partition_limit(2000)
                .with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default().with_name(topic()),
                ]);
            run(acls, v, request, Default::default())
        }
        A::ListConfigResources => run(
            acls,
            v,
            ListConfigResourcesRequest::default(),
            Default::default(),
        ),
        other => panic!("no probe for {other:?}: add one"),
    }
}

/// A config resource for a config row: a broker (4) for the cluster, else a topic (2).
fn config_probe(on: ResourceType) -> (i8, &'static str) {
    match on {
        ResourceType::Cluster => (4, "1"),
        _ => (2, TOPIC),
    }
}

/// The grant of a row: ALLOW the row's operation on every resource of its type.
fn grant(check: &Check) -> AclBinding {
    AclBinding {
        organization: "acme".into(),
        permission: Permission::Allow,
        principal: Principal::User("alice".into()),
        operation: check.operation,
        resource_type: check.resource,
        pattern_type: PatternType::Literal,
        resource_name: "*".into(),
        host: Host::Any,
    }
}

/// The rows of the row's API Kafka treats as one check with a fallback: a cluster row "else
/// each topic/group" and the row that follows it.
fn partner(i: usize) -> Option<usize> {
    let falls_back = |c: &Check| matches!(c.on, On::ClusterElseTopics | On::ClusterElseGroups);
    if falls_back(&CHECKS[i]) {
        return Some(i + 1);
    }
    (i > 0 && falls_back(&CHECKS[i - 1]) && CHECKS[i - 1].api == CHECKS[i].api).then(|| i - 1)
}

/// What taking a row's grant away must do.
#[derive(Debug)]
enum Refusal {
    /// The client sees this error code.
    Code(i16),
    /// The resource is left out of the response.
    Filtered(&'static str),
    /// The request goes with automatic topic creation off.
    NoAutoCreation,
    /// The cluster's authorized operations are reported as none.
    NoOperations,
}

fn refusal(check: &Check) -> Refusal {
    use ApiKey as A;
    match (check.api, check.operation) {
        (A::Metadata, Operation::Create) => Refusal::NoAutoCreation,
        _ if check.on == On::ClusterOperations => Refusal::NoOperations,
        (A::ListGroups, _) => Refusal::Filtered(GROUP),
        (A::ListTransactions, _) => Refusal::Filtered(TXN),
        (A::DescribeTransactions, Operation::Describe) if check.resource == ResourceType::Topic => {
            Refusal::Filtered(TOPIC)
        }
        // The cluster "else each topic": refused as the topic is.
        _ if check.on == On::ClusterElseTopics => Refusal::Code(TOPIC_AUTHORIZATION_FAILED),
        _ => Refusal::Code(match check.resource {
            ResourceType::Topic => TOPIC_AUTHORIZATION_FAILED,
            ResourceType::Group => GROUP_AUTHORIZATION_FAILED,
            ResourceType::Cluster => CLUSTER_AUTHORIZATION_FAILED,
            ResourceType::TransactionalId => TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        }),
    }
}

fn index(bindings: impl Iterator<Item = AclBinding>) -> Arc<AclIndex> {
    Arc::new(AclIndex::new(bindings.map(Arc::new), &BTreeMap::new()))
}

/// The grants of every row of `api` except those in `without`.
fn grants_of(api: ApiKey, without: &[usize]) -> Arc<AclIndex> {
    index(
        CHECKS
            .iter()
            .enumerate()
            .filter(|(j, c)| c.api == api && c.on != On::Nothing && !without.contains(j))
            .map(|(_, c)| grant(c)),
    )
}

fn passes(outcome: &Outcome, check: &Check) -> Result<(), String> {
    let fail = |why: &str| Err(format!("{why}: {outcome:?}"));
    if matches!(outcome, Outcome::Refused(_) | Outcome::Failed(_)) {
        return fail("refused or failed");
    }
    if !outcome.denials().is_empty() {
        return fail("an authorization error");
    }
    match refusal(check) {
        Refusal::Filtered(name) if !outcome.response_mentions(name) => fail("filtered out"),
        Refusal::NoAutoCreation if outcome.auto_creation_off() => fail("auto-creation off"),
        Refusal::NoOperations if outcome.no_cluster_operations() => fail("no operations"),
        _ => Ok(()),
    }
}

fn refused(outcome: &Outcome, check: &Check, v: Option<i16>) -> Result<(), String> {
    // DescribeLogDirs v0-2 have no error field: Kafka refuses with an empty result.
    if check.api == ApiKey::DescribeLogDirs && v.is_some_and(|v| v < 3) {
        return match outcome {
            Outcome::Answered(r) if r.contains("results: []") => Ok(()),
            _ => Err(format!("expected an empty result: {outcome:?}")),
        };
    }
    let ok = match refusal(check) {
        Refusal::Code(code) => outcome.denials().contains(&code),
        Refusal::Filtered(name) => !outcome.response_mentions(name),
        Refusal::NoAutoCreation => outcome.auto_creation_off(),
        Refusal::NoOperations => outcome.no_cluster_operations(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {:?}: {outcome:?}", refusal(check)))
    }
}

/// The checks of one row at one version (`None`: the highest); the failures, `None` when the
/// probe cannot be sent at that version.
fn check_row(i: usize, check: &Check, v: Option<i16>) -> Option<Vec<String>> {
    let row = format!(
        "row {i} {:?} v{} {} {}",
        check.api,
        v.map_or("max".to_owned(), |v| v.to_string()),
        check.operation,
        check.resource.kafka_name()
    );
    let mut failures = Vec::new();
    let all = probe(&grants_of(check.api, &[]), v, check.api, check.resource);
    if matches!(all, Outcome::Unencodable) {
        return None;
    }
    if let Err(e) = passes(&all, check) {
        failures.push(format!("{row}, everything granted: {e}"));
    }
    if check.on == On::Nothing {
        let none = probe(&index(std::iter::empty()), v, check.api, check.resource);
        if !matches!(none, Outcome::Forwarded) {
            failures.push(format!("{row}: no check, yet {none:?}"));
        }
        return Some(failures);
    }
    let taken: Vec<usize> = std::iter::once(i).chain(partner(i)).collect();
    if taken.len() == 2 {
        let alone = probe(&grants_of(check.api, &[i]), v, check.api, check.resource);
        if let Err(e) = passes(&alone, check) {
            failures.push(format!("{row}, its fallback still granted: {e}"));
        }
    }
    let without = probe(&grants_of(check.api, &taken), v, check.api, check.resource);
    if let Err(e) = refused(&without, check, v) {
        failures.push(format!("{row}, not granted: {e}"));
    }
    Some(failures)
}

#[test]
fn every_row_of_the_mapping_is_enforced() {
    let mut failures = Vec::new();
    for (i, check) in CHECKS.iter().enumerate() {
        match check_row(i, check, None) {
            Some(f) => failures.extend(f),
            None => failures.push(format!(
                "row {i} {:?}: no probe at the highest version",
                check.api
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_row_is_enforced_at_every_offered_version() {
    let mut failures = Vec::new();
    let mut probed = 0;
    for (i, check) in CHECKS.iter().enumerate() {
        let lowest = lowest_version(check.api).expect("offered");
        let highest = crate::kafka::versions::supported(check.api)
            .expect("supported")
            .max;
        for v in lowest.max(
            crate::kafka::versions::supported(check.api)
                .expect("supported")
                .min,
        )..=highest
        {
            if let Some(f) = check_row(i, check, Some(v)) {
                probed += 1;
                failures.extend(f);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        probed > CHECKS.len() * 2,
        "only {probed} probes could be sent"
    );
}
