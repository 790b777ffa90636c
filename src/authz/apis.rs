//! What Kafka's authorizer checks for each API key the proxy forwards: one row per (API,
//! operation, resource type), in the order and with the notes of the table "Operations and
//! Resources on Protocols" in Kafka's security documentation, so that a reader can check this
//! file against it line by line. Rows for broker-to-broker and controller APIs are left out:
//! those keys are not in the proxy's version table and are never forwarded.
//!
//! An API key without a row is not authorized for anyone: once ACLs are enforced it is neither
//! advertised nor forwarded.

use kafka_protocol::messages::ApiKey;

use super::acl::{Operation, ResourceType};

/// Which resources of a request a row applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Every topic the request names (by name, or by topic id resolved to its name).
    Topics,
    /// The request's consumer group.
    Group,
    /// The request's transactional id, when it has one.
    TransactionalId,
    /// The cluster.
    Cluster,
    /// The cluster; when that is not granted, each topic instead (the topic row follows).
    ClusterElseTopics,
    /// The cluster; when that is not granted, each group instead, silently filtered.
    ClusterElseGroups,
    /// The cluster for broker resources, the topic for topic resources.
    ConfigResources,
    /// The cluster; when that is not granted, WRITE on any topic grants it (KIP-679).
    ClusterElseAnyTopicWrite,
    /// FindCoordinator's keys: groups (key type 0) or transactional ids (key type 1).
    CoordinatorKeys,
    /// The cluster, only for the cluster's authorized operations in the response.
    ClusterOperations,
    /// Nothing: Kafka performs no check.
    Nothing,
}

/// One check of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// The API.
    pub api: ApiKey,
    /// The operation checked.
    pub operation: Operation,
    /// On which resource type.
    pub resource: ResourceType,
    /// Which resources of the request.
    pub on: On,
}

const fn row(api: ApiKey, operation: Operation, resource: ResourceType, on: On) -> Check {
    Check {
        api,
        operation,
        resource,
        on,
    }
}

use ApiKey as A;
use Operation as Op;
use ResourceType as R;

/// The table.
pub const CHECKS: &[Check] = &[
    // PRODUCE: a transactional producer needs WRITE on its transactional id; every produce
    // needs WRITE on each topic. (IDEMPOTENT_WRITE on the cluster is no longer checked for
    // Produce since KIP-679; InitProducerId below covers idempotence.)
    row(
        A::Produce,
        Op::Write,
        R::TransactionalId,
        On::TransactionalId,
    ),
    row(A::Produce, Op::Write, R::Topic, On::Topics),
    // FETCH: consumers need READ on each topic (CLUSTER_ACTION is for followers, which never
    // come through the proxy).
    row(A::Fetch, Op::Read, R::Topic, On::Topics),
    row(A::ListOffsets, Op::Describe, R::Topic, On::Topics),
    // METADATA: DESCRIBE on each topic; auto-creation needs CREATE on the cluster, else on the
    // topic.
    row(A::Metadata, Op::Describe, R::Topic, On::Topics),
    row(A::Metadata, Op::Create, R::Cluster, On::ClusterElseTopics),
    row(A::Metadata, Op::Create, R::Topic, On::Topics),
    // OFFSET_COMMIT: the group first, then each topic.
    row(A::OffsetCommit, Op::Read, R::Group, On::Group),
    row(A::OffsetCommit, Op::Read, R::Topic, On::Topics),
    // OFFSET_FETCH: DESCRIBE on the group, then on each topic.
    row(A::OffsetFetch, Op::Describe, R::Group, On::Group),
    row(A::OffsetFetch, Op::Describe, R::Topic, On::Topics),
    // FIND_COORDINATOR: DESCRIBE on the group or the transactional id looked up.
    row(
        A::FindCoordinator,
        Op::Describe,
        R::Group,
        On::CoordinatorKeys,
    ),
    row(
        A::FindCoordinator,
        Op::Describe,
        R::TransactionalId,
        On::CoordinatorKeys,
    ),
    row(A::JoinGroup, Op::Read, R::Group, On::Group),
    row(A::Heartbeat, Op::Read, R::Group, On::Group),
    row(A::LeaveGroup, Op::Read, R::Group, On::Group),
    row(A::SyncGroup, Op::Read, R::Group, On::Group),
    row(A::DescribeGroups, Op::Describe, R::Group, On::Group),
    // LIST_GROUPS: DESCRIBE on the cluster lists all; otherwise each group is filtered by
    // DESCRIBE on it (never CLUSTER_AUTHORIZATION_FAILED).
    row(
        A::ListGroups,
        Op::Describe,
        R::Cluster,
        On::ClusterElseGroups,
    ),
    row(A::ListGroups, Op::Describe, R::Group, On::Group),
    // CREATE_TOPICS: CREATE on the cluster, else on each topic.
    row(
        A::CreateTopics,
        Op::Create,
        R::Cluster,
        On::ClusterElseTopics,
    ),
    row(A::CreateTopics, Op::Create, R::Topic, On::Topics),
    row(A::DeleteTopics, Op::Delete, R::Topic, On::Topics),
    row(A::DeleteRecords, Op::Delete, R::Topic, On::Topics),
    // INIT_PRODUCER_ID: WRITE on the transactional id when there is one; otherwise
    // IDEMPOTENT_WRITE on the cluster, or WRITE on any topic.
    row(
        A::InitProducerId,
        Op::Write,
        R::TransactionalId,
        On::TransactionalId,
    ),
    row(
        A::InitProducerId,
        Op::IdempotentWrite,
        R::Cluster,
        On::ClusterElseAnyTopicWrite,
    ),
    // OFFSET_FOR_LEADER_EPOCH: CLUSTER_ACTION on the cluster, else DESCRIBE on each topic.
    row(
        A::OffsetForLeaderEpoch,
        Op::ClusterAction,
        R::Cluster,
        On::ClusterElseTopics,
    ),
    row(A::OffsetForLeaderEpoch, Op::Describe, R::Topic, On::Topics),
    // ADD_PARTITIONS_TO_TXN: the transactional id first, then each topic.
    row(
        A::AddPartitionsToTxn,
        Op::Write,
        R::TransactionalId,
        On::TransactionalId,
    ),
    row(A::AddPartitionsToTxn, Op::Write, R::Topic, On::Topics),
    // ADD_OFFSETS_TO_TXN: the transactional id first, then READ on the group.
    row(
        A::AddOffsetsToTxn,
        Op::Write,
        R::TransactionalId,
        On::TransactionalId,
    ),
    row(A::AddOffsetsToTxn, Op::Read, R::Group, On::Group),
    row(
        A::EndTxn,
        Op::Write,
        R::TransactionalId,
        On::TransactionalId,
    ),
    // TXN_OFFSET_COMMIT: the transactional id, the group, each topic.
    row(
        A::TxnOffsetCommit,
        Op::Write,
        R::TransactionalId,
        On::TransactionalId,
    ),
    row(A::TxnOffsetCommit, Op::Read, R::Group, On::Group),
    row(A::TxnOffsetCommit, Op::Read, R::Topic, On::Topics),
    // DESCRIBE_CONFIGS / ALTER_CONFIGS: broker configs on the cluster, topic configs on the
    // topic.
    row(
        A::DescribeConfigs,
        Op::DescribeConfigs,
        R::Cluster,
        On::ConfigResources,
    ),
    row(
        A::DescribeConfigs,
        Op::DescribeConfigs,
        R::Topic,
        On::ConfigResources,
    ),
    row(
        A::AlterConfigs,
        Op::AlterConfigs,
        R::Cluster,
        On::ConfigResources,
    ),
    row(
        A::AlterConfigs,
        Op::AlterConfigs,
        R::Topic,
        On::ConfigResources,
    ),
    row(A::AlterReplicaLogDirs, Op::Alter, R::Cluster, On::Cluster),
    // DESCRIBE_LOG_DIRS: an empty response on authorization failure.
    row(A::DescribeLogDirs, Op::Describe, R::Cluster, On::Cluster),
    row(A::CreatePartitions, Op::Alter, R::Topic, On::Topics),
    row(A::DeleteGroups, Op::Delete, R::Group, On::Group),
    // ELECT_LEADERS (ELECT_PREFERRED_LEADERS in the table): the table says CLUSTER_ACTION, but
    // brokers and controllers check ALTER on the cluster (KIP-460); this row follows them.
    row(A::ElectLeaders, Op::Alter, R::Cluster, On::Cluster),
    row(
        A::IncrementalAlterConfigs,
        Op::AlterConfigs,
        R::Cluster,
        On::ConfigResources,
    ),
    row(
        A::IncrementalAlterConfigs,
        Op::AlterConfigs,
        R::Topic,
        On::ConfigResources,
    ),
    row(
        A::AlterPartitionReassignments,
        Op::Alter,
        R::Cluster,
        On::Cluster,
    ),
    row(
        A::ListPartitionReassignments,
        Op::Describe,
        R::Cluster,
        On::Cluster,
    ),
    // OFFSET_DELETE: DELETE on the group, READ on each topic.
    row(A::OffsetDelete, Op::Delete, R::Group, On::Group),
    row(A::OffsetDelete, Op::Read, R::Topic, On::Topics),
    row(
        A::DescribeClientQuotas,
        Op::DescribeConfigs,
        R::Cluster,
        On::Cluster,
    ),
    row(
        A::AlterClientQuotas,
        Op::AlterConfigs,
        R::Cluster,
        On::Cluster,
    ),
    // DESCRIBE_CLUSTER: the table says DESCRIBE on the cluster; Kafka checks it only for the
    // cluster's authorized operations (0 without it), the request itself needs nothing.
    row(
        A::DescribeCluster,
        Op::Describe,
        R::Cluster,
        On::ClusterOperations,
    ),
    row(A::DescribeProducers, Op::Read, R::Topic, On::Topics),
    row(
        A::DescribeTransactions,
        Op::Describe,
        R::TransactionalId,
        On::TransactionalId,
    ),
    // (not in the table) Topics of a described transaction the caller may not describe are
    // left out.
    row(A::DescribeTransactions, Op::Describe, R::Topic, On::Topics),
    row(
        A::ListTransactions,
        Op::Describe,
        R::TransactionalId,
        On::TransactionalId,
    ),
    // CONSUMER_GROUP_HEARTBEAT: READ on the group; Kafka 4 also checks DESCRIBE on each
    // subscribed topic name (not in the table).
    row(A::ConsumerGroupHeartbeat, Op::Read, R::Group, On::Group),
    row(
        A::ConsumerGroupHeartbeat,
        Op::Describe,
        R::Topic,
        On::Topics,
    ),
    // CONSUMER_GROUP_DESCRIBE: the table says READ, but Kafka checks DESCRIBE on each group,
    // and (Kafka 4) DESCRIBE on each topic its members are assigned; this follows Kafka.
    row(A::ConsumerGroupDescribe, Op::Describe, R::Group, On::Group),
    row(A::ConsumerGroupDescribe, Op::Describe, R::Topic, On::Topics),
    // GET_TELEMETRY_SUBSCRIPTIONS / PUSH_TELEMETRY: no authorization check (the operation and
    // resource of these rows are never consulted).
    row(
        A::GetTelemetrySubscriptions,
        Op::Describe,
        R::Cluster,
        On::Nothing,
    ),
    row(A::PushTelemetry, Op::Describe, R::Cluster, On::Nothing),
    row(
        A::DescribeTopicPartitions,
        Op::Describe,
        R::Topic,
        On::Topics,
    ),
    // LIST_CONFIG_RESOURCES (LIST_CLIENT_METRICS_RESOURCES in the table, renamed by KIP-1142).
    row(
        A::ListConfigResources,
        Op::DescribeConfigs,
        R::Cluster,
        On::Cluster,
    ),
];

/// The checks of one API, in the table's order (empty: the API is not authorized at all).
pub fn checks(api: ApiKey) -> impl Iterator<Item = &'static Check> {
    CHECKS.iter().filter(move |c| c.api == api)
}

/// Whether the table has the API, i.e. whether it may be offered once ACLs are enforced.
pub fn is_mapped(api: ApiKey) -> bool {
    MAPPED.get(api as usize).copied().unwrap_or(false)
}

/// [`is_mapped`] by API key, computed from the table once, at compile time: it is asked for
/// every request.
const MAPPED: [bool; 128] = {
    let mut mapped = [false; 128];
    let mut i = 0;
    while i < CHECKS.len() {
        mapped[CHECKS[i].api as usize] = true;
        i += 1;
    }
    mapped
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::versions::SUPPORTED;

    #[test]
    fn every_forwarded_api_has_a_mapping() {
        let unmapped: Vec<ApiKey> = SUPPORTED
            .iter()
            .filter(|s| !s.local && !is_mapped(s.api))
            .map(|s| s.api)
            .collect();
        assert!(
            unmapped.is_empty(),
            "forwarded without an authorization mapping: {unmapped:?}"
        );
    }

    #[test]
    fn no_row_for_an_api_the_proxy_does_not_forward() {
        for c in CHECKS {
            assert!(
                SUPPORTED.iter().any(|s| s.api == c.api && !s.local),
                "{:?} has a row but is not forwarded",
                c.api
            );
        }
    }

    #[test]
    fn rows_are_not_repeated() {
        for (i, a) in CHECKS.iter().enumerate() {
            assert!(
                !CHECKS[i + 1..].contains(a),
                "{:?} {:?} {:?} appears twice",
                a.api,
                a.operation,
                a.resource
            );
        }
    }

    #[test]
    fn cluster_rows_check_the_cluster_and_topic_rows_topics() {
        for c in CHECKS {
            match c.on {
                On::Cluster
                | On::ClusterElseTopics
                | On::ClusterElseGroups
                | On::ClusterElseAnyTopicWrite
                | On::ClusterOperations => {
                    assert_eq!(c.resource, ResourceType::Cluster, "{c:?}")
                }
                On::Topics => assert_eq!(c.resource, ResourceType::Topic, "{c:?}"),
                On::Group => assert_eq!(c.resource, ResourceType::Group, "{c:?}"),
                On::TransactionalId => {
                    assert_eq!(c.resource, ResourceType::TransactionalId, "{c:?}")
                }
                On::ConfigResources => assert!(
                    matches!(c.resource, ResourceType::Cluster | ResourceType::Topic),
                    "{c:?}"
                ),
                On::CoordinatorKeys => assert!(
                    matches!(
                        c.resource,
                        ResourceType::Group | ResourceType::TransactionalId
                    ),
                    "{c:?}"
                ),
                On::Nothing => {}
            }
        }
    }
}
