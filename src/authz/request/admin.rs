//! Administrative requests: configs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
//! ListConfigResources), partitions (CreatePartitions, DeleteRecords, ElectLeaders,
//! Alter/ListPartitionReassignments), log directories (DescribeLogDirs,
//! AlterReplicaLogDirs) and client quotas (Describe/AlterClientQuotas).

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{AuthorizeError, Authorizer, Req, Verdict, error_message, split};
use crate::authz::{Operation as Op, ResourceType as R};
use crate::kafka::error_code::{
    CLUSTER_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED,
};

type Result<T> = std::result::Result<T, AuthorizeError>;

/// A config resource's authorization: the resource type and name to check, and the error
/// code of a denial; `None` for a type Kafka does not know. Kafka's `ConfigResource.Type`
/// codes: TOPIC 2, BROKER 4, BROKER_LOGGER 8, CLIENT_METRICS 16, GROUP 32.
fn config_resource(resource_type: i8, name: &str) -> Option<(R, &str, i16)> {
    let cluster = crate::authz::acl::CLUSTER_NAME;
    match resource_type {
        2 => Some((R::Topic, name, TOPIC_AUTHORIZATION_FAILED)),
        32 => Some((R::Group, name, GROUP_AUTHORIZATION_FAILED)),
        4 | 8 | 16 => Some((R::Cluster, cluster, CLUSTER_AUTHORIZATION_FAILED)),
        _ => None,
    }
}

/// A config resource taken out of a request: its type, name and the error code it gets.
struct DeniedConfig {
    resource_type: i8,
    resource_name: StrBytes,
    code: i16,
}

impl DeniedConfig {
    fn message(&self) -> Option<StrBytes> {
        error_message(self.code)
    }
}

/// Splits config resources by `operation` on each one's own type; unknown types are denied
/// (as on the cluster).
fn split_configs<T>(
    a: &Authorizer<'_>,
    operation: Op,
    resources: Vec<T>,
    key: impl Fn(&T) -> (i8, &StrBytes),
) -> (Vec<T>, Vec<DeniedConfig>) {
    let (allowed, denied) = split(resources, |res| {
        let (resource_type, name) = key(res);
        config_resource(resource_type, name).is_some_and(|(rt, n, _)| a.allow(operation, rt, n))
    });
    let denied = denied
        .iter()
        .map(|res| {
            let (resource_type, name) = key(res);
            DeniedConfig {
                resource_type,
                resource_name: name.clone(),
                code: config_resource(resource_type, name)
                    .map_or(CLUSTER_AUTHORIZATION_FAILED, |(_, _, code)| code),
            }
        })
        .collect();
    (allowed, denied)
}

/// Decides a config request whose resources each name their type: the allowed ones are
/// forwarded, the denied ones come back as `$result`s in the response's `$list` with their
/// type's error code. The three config APIs differ only in their message types.
macro_rules! per_config_resource {
    ($a:expr, $r:expr, $operation:expr, $request:ty, $response:ty, $result:ty, $list:ident) => {{
        let mut request: $request = $r.decode()?;
        let resources = std::mem::take(&mut request.resources);
        let (allowed, denied) = split_configs($a, $operation, resources, |res| {
            (res.resource_type, &res.resource_name)
        });
        if denied.is_empty() {
            return Ok(Verdict::Forward);
        }
        let denied: Vec<$result> = denied
            .into_iter()
            .map(|d| {
                <$result>::default()
                    .with_error_code(d.code)
                    .with_error_message(d.message())
                    .with_resource_type(d.resource_type)
                    .with_resource_name(d.resource_name)
            })
            .collect();
        if allowed.is_empty() {
            let mut response = <$response>::default();
            response.$list = denied;
            return $r.answer(&response);
        }
        request.resources = allowed;
        $r.rewrite::<_, $request>(Some(&request), move |response| {
            response.$list.extend(denied)
        })
    }};
}

/// DESCRIBE_CONFIGS: DESCRIBE_CONFIGS on each topic or group, on the cluster for broker,
/// broker-logger and client-metrics resources.
pub(super) fn describe_configs(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    per_config_resource!(
        a,
        r,
        Op::DescribeConfigs,
        DescribeConfigsRequest,
        DescribeConfigsResponse,
        DescribeConfigsResult,
        results
    )
}

/// ALTER_CONFIGS: ALTER_CONFIGS on each resource's own type (as DescribeConfigs).
pub(super) fn alter_configs(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    per_config_resource!(
        a,
        r,
        Op::AlterConfigs,
        AlterConfigsRequest,
        AlterConfigsResponse,
        alter_configs_response::AlterConfigsResourceResponse,
        responses
    )
}

/// INCREMENTAL_ALTER_CONFIGS: as AlterConfigs.
pub(super) fn incremental_alter_configs(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    per_config_resource!(
        a,
        r,
        Op::AlterConfigs,
        IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse,
        incremental_alter_configs_response::AlterConfigsResourceResponse,
        responses
    )
}

/// LIST_CONFIG_RESOURCES: DESCRIBE_CONFIGS on the cluster.
pub(super) fn list_config_resources(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::DescribeConfigs) {
        return Ok(Verdict::Forward);
    }
    r.answer(&ListConfigResourcesResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED))
}

/// CREATE_PARTITIONS: ALTER on each topic.
pub(super) fn create_partitions(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: CreatePartitionsRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Alter, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<CreatePartitionsTopicResult> = denied
        .into_iter()
        .map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                .with_error_message(error_message(TOPIC_AUTHORIZATION_FAILED))
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&CreatePartitionsResponse::default().with_results(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, CreatePartitionsRequest>(Some(&request), move |response| {
        response.results.extend(denied)
    })
}

/// DELETE_RECORDS: DELETE on each topic; a denied partition's low watermark is -1.
pub(super) fn delete_records(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: DeleteRecordsRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Delete, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<DeleteRecordsTopicResult> = denied
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1)
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&DeleteRecordsResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, DeleteRecordsRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// ELECT_LEADERS: ALTER on the cluster; a refusal carries the error at the top (v1+) and on
/// each named partition.
pub(super) fn elect_leaders(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::Alter) {
        return Ok(Verdict::Forward);
    }
    let request: ElectLeadersRequest = r.decode()?;
    let results = request
        .topic_partitions
        .into_iter()
        .flatten()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                        .with_error_message(error_message(CLUSTER_AUTHORIZATION_FAILED))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic)
                .with_partition_result(partitions)
        })
        .collect();
    // v0 has no top-level error: the partitions carry it.
    let top = if r.version() >= 1 {
        CLUSTER_AUTHORIZATION_FAILED
    } else {
        0
    };
    let response = ElectLeadersResponse::default()
        .with_error_code(top)
        .with_replica_election_results(results);
    r.answer(&response)
}

/// ALTER_PARTITION_REASSIGNMENTS: ALTER on the cluster.
pub(super) fn alter_partition_reassignments(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::Alter) {
        return Ok(Verdict::Forward);
    }
    let request: AlterPartitionReassignmentsRequest = r.decode()?;
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
        .with_error_message(error_message(CLUSTER_AUTHORIZATION_FAILED));
    r.answer(&response)
}

/// LIST_PARTITION_REASSIGNMENTS: DESCRIBE on the cluster.
pub(super) fn list_partition_reassignments(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::Describe) {
        return Ok(Verdict::Forward);
    }
    let response = ListPartitionReassignmentsResponse::default()
        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
        .with_error_message(error_message(CLUSTER_AUTHORIZATION_FAILED));
    r.answer(&response)
}

/// DESCRIBE_LOG_DIRS: DESCRIBE on the cluster; a refusal is an empty result, with the error
/// code at the top from v3.
pub(super) fn describe_log_dirs(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::Describe) {
        return Ok(Verdict::Forward);
    }
    r.answer(&DescribeLogDirsResponse::default().with_error_code(CLUSTER_AUTHORIZATION_FAILED))
}

/// ALTER_REPLICA_LOG_DIRS: ALTER on the cluster; a refusal carries the error on every
/// partition.
pub(super) fn alter_replica_log_dirs(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::Alter) {
        return Ok(Verdict::Forward);
    }
    let request: AlterReplicaLogDirsRequest = r.decode()?;
    let results = request
        .dirs
        .into_iter()
        .flat_map(|d| d.topics)
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                })
                .collect();
            AlterReplicaLogDirTopicResult::default()
                .with_topic_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    r.answer(&AlterReplicaLogDirsResponse::default().with_results(results))
}

/// DESCRIBE_CLIENT_QUOTAS: DESCRIBE_CONFIGS on the cluster.
pub(super) fn describe_client_quotas(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster(Op::DescribeConfigs) {
        return Ok(Verdict::Forward);
    }
    let response = DescribeClientQuotasResponse::default()
        .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
        .with_error_message(error_message(CLUSTER_AUTHORIZATION_FAILED))
        .with_entries(None);
    r.answer(&response)
}

/// ALTER_CLIENT_QUOTAS: ALTER_CONFIGS on the cluster; a refusal carries the error on every
/// entry.
pub(super) fn alter_client_quotas(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use alter_client_quotas_response::{EntityData, EntryData};
    if a.cluster(Op::AlterConfigs) {
        return Ok(Verdict::Forward);
    }
    let request: AlterClientQuotasRequest = r.decode()?;
    let entries = request
        .entries
        .into_iter()
        .map(|e| {
            let entity = e
                .entity
                .into_iter()
                .map(|d| {
                    EntityData::default()
                        .with_entity_type(d.entity_type)
                        .with_entity_name(d.entity_name)
                })
                .collect();
            EntryData::default()
                .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
                .with_error_message(error_message(CLUSTER_AUTHORIZATION_FAILED))
                .with_entity(entity)
        })
        .collect();
    r.answer(&AlterClientQuotasResponse::default().with_entries(entries))
}
