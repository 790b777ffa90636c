use bytes::BytesMut;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message, StrBytes};

use super::roundtrip;
use super::*;

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(text: &'static str) -> TopicName {
    TopicName(s(text))
}

fn brokers() -> Vec<BrokerId> {
    vec![BrokerId(1), BrokerId(2)]
}

/// Round-trips every variant and checks that together they cover every version the crate
/// knows (a version is covered when at least one variant encodes at it).
fn exercise<M: Encodable + Message>(api: ApiKey, direction: Direction, variants: &[M]) {
    for v in M::VERSIONS.min..=M::VERSIONS.max {
        let covered = variants
            .iter()
            .any(|m| m.encode(&mut BytesMut::new(), v).is_ok());
        assert!(covered, "{api:?} {direction:?} v{v} not exercised");
    }
    for (i, m) in variants.iter().enumerate() {
        let encodes = (M::VERSIONS.min..=M::VERSIONS.max)
            .filter(|&v| m.encode(&mut BytesMut::new(), v).is_ok())
            .collect::<Vec<_>>();
        assert!(
            !encodes.is_empty(),
            "{api:?} {direction:?} variant {i} never encodes"
        );
        roundtrip(api, direction, m);
    }
}

#[test]
fn create_topics() {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    use create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
    let assignment = CreatableReplicaAssignment::default()
        .with_partition_index(1)
        .with_broker_ids(brokers());
    let config = CreatableTopicConfig::default()
        .with_name(s("retention.ms"))
        .with_value(Some(s("1")));
    let creatable = CreatableTopic::default()
        .with_name(topic("t"))
        .with_assignments(vec![assignment.clone(), assignment])
        .with_configs(vec![config.clone(), config]);
    exercise(
        ApiKey::CreateTopics,
        Direction::Request,
        &[CreateTopicsRequest::default()
            .with_topics(vec![creatable.clone(), creatable])
            .with_validate_only(true)],
    );
    let configs = CreatableTopicConfigs::default()
        .with_name(s("c"))
        .with_value(Some(s("v")))
        .with_is_sensitive(true);
    let full = CreatableTopicResult::default()
        .with_name(topic("t"))
        .with_error_message(Some(s("m")))
        .with_topic_config_error_code(5)
        .with_num_partitions(3)
        .with_replication_factor(2)
        .with_configs(Some(vec![configs.clone(), configs]));
    exercise(
        ApiKey::CreateTopics,
        Direction::Response,
        &[CreateTopicsResponse::default().with_topics(vec![full.clone(), full])],
    );
}

#[test]
fn delete_topics() {
    use delete_topics_request::DeleteTopicState;
    use delete_topics_response::DeletableTopicResult;
    let state = DeleteTopicState::default().with_name(Some(topic("t")));
    exercise(
        ApiKey::DeleteTopics,
        Direction::Request,
        &[
            DeleteTopicsRequest::default().with_topics(vec![state.clone(), state]),
            DeleteTopicsRequest::default().with_topic_names(vec![topic("a"), topic("b")]),
        ],
    );
    let full = DeletableTopicResult::default()
        .with_name(Some(topic("t")))
        .with_error_message(Some(s("m")));
    exercise(
        ApiKey::DeleteTopics,
        Direction::Response,
        &[DeleteTopicsResponse::default().with_responses(vec![full.clone(), full])],
    );
}

#[test]
fn create_partitions() {
    use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    use create_partitions_response::CreatePartitionsTopicResult;
    let assignment = CreatePartitionsAssignment::default().with_broker_ids(brokers());
    let t = CreatePartitionsTopic::default()
        .with_name(topic("t"))
        .with_count(4)
        .with_assignments(Some(vec![assignment.clone(), assignment]));
    exercise(
        ApiKey::CreatePartitions,
        Direction::Request,
        &[CreatePartitionsRequest::default().with_topics(vec![t.clone(), t])],
    );
    let result = CreatePartitionsTopicResult::default()
        .with_name(topic("t"))
        .with_error_message(Some(s("m")));
    exercise(
        ApiKey::CreatePartitions,
        Direction::Response,
        &[CreatePartitionsResponse::default().with_results(vec![result.clone(), result])],
    );
}

#[test]
fn describe_configs() {
    use describe_configs_request::DescribeConfigsResource;
    use describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
    };
    let resource = DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("t"))
        .with_configuration_keys(Some(vec![s("a"), s("b")]));
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![resource.clone(), resource])
        .with_include_synonyms(true);
    exercise(
        ApiKey::DescribeConfigs,
        Direction::Request,
        &[request.clone().with_include_documentation(true), request],
    );
    let synonym = DescribeConfigsSynonym::default()
        .with_name(s("n"))
        .with_value(Some(s("v")))
        .with_source(1);
    let config = DescribeConfigsResourceResult::default()
        .with_name(s("n"))
        .with_value(Some(s("v")))
        .with_synonyms(vec![synonym.clone(), synonym]);
    let documented = config
        .clone()
        .with_config_type(3)
        .with_documentation(Some(s("d")));
    let result = |configs: Vec<DescribeConfigsResourceResult>| {
        DescribeConfigsResult::default()
            .with_error_message(Some(s("m")))
            .with_resource_name(s("t"))
            .with_configs(configs)
    };
    exercise(
        ApiKey::DescribeConfigs,
        Direction::Response,
        &[DescribeConfigsResponse::default().with_results(vec![
            result(vec![documented.clone(), documented.clone()]),
            result(vec![documented]),
        ])],
    );
}

#[test]
fn alter_configs() {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use alter_configs_response::AlterConfigsResourceResponse;
    let config = AlterableConfig::default()
        .with_name(s("n"))
        .with_value(Some(s("v")));
    let resource = AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("t"))
        .with_configs(vec![config.clone(), config]);
    exercise(
        ApiKey::AlterConfigs,
        Direction::Request,
        &[AlterConfigsRequest::default().with_resources(vec![resource.clone(), resource])],
    );
    let response = AlterConfigsResourceResponse::default()
        .with_error_message(Some(s("m")))
        .with_resource_name(s("t"));
    exercise(
        ApiKey::AlterConfigs,
        Direction::Response,
        &[AlterConfigsResponse::default().with_responses(vec![response.clone(), response])],
    );
}

#[test]
fn incremental_alter_configs() {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    let config = AlterableConfig::default()
        .with_name(s("n"))
        .with_config_operation(1)
        .with_value(Some(s("v")));
    let resource = AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("t"))
        .with_configs(vec![config.clone(), config]);
    exercise(
        ApiKey::IncrementalAlterConfigs,
        Direction::Request,
        &[IncrementalAlterConfigsRequest::default()
            .with_resources(vec![resource.clone(), resource])],
    );
    let response = AlterConfigsResourceResponse::default()
        .with_error_message(Some(s("m")))
        .with_resource_name(s("t"));
    exercise(
        ApiKey::IncrementalAlterConfigs,
        Direction::Response,
        &[IncrementalAlterConfigsResponse::default()
            .with_responses(vec![response.clone(), response])],
    );
}

#[test]
fn describe_topic_partitions() {
    use describe_topic_partitions_request::{Cursor, TopicRequest};
    use describe_topic_partitions_response::{
        DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
    };
    let cursor = Cursor::default()
        .with_topic_name(topic("t"))
        .with_partition_index(3);
    let request = DescribeTopicPartitionsRequest::default().with_topics(vec![
        TopicRequest::default().with_name(topic("a")),
        TopicRequest::default().with_name(topic("b")),
    ]);
    exercise(
        ApiKey::DescribeTopicPartitions,
        Direction::Request,
        &[request.clone().with_cursor(Some(cursor)), request],
    );
    let partition = DescribeTopicPartitionsResponsePartition::default()
        .with_replica_nodes(brokers())
        .with_isr_nodes(brokers())
        .with_eligible_leader_replicas(Some(brokers()))
        .with_last_known_elr(Some(brokers()))
        .with_offline_replicas(brokers());
    let t = DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(topic("t")))
        .with_partitions(vec![partition.clone(), partition]);
    let response = DescribeTopicPartitionsResponse::default().with_topics(vec![t.clone(), t]);
    let next = describe_topic_partitions_response::Cursor::default()
        .with_topic_name(topic("t"))
        .with_partition_index(3);
    exercise(
        ApiKey::DescribeTopicPartitions,
        Direction::Response,
        &[response.clone().with_next_cursor(Some(next)), response],
    );
}

#[test]
fn elect_leaders() {
    use elect_leaders_request::TopicPartitions;
    use elect_leaders_response::{PartitionResult, ReplicaElectionResult};
    let tp = TopicPartitions::default()
        .with_topic(topic("t"))
        .with_partitions(vec![0, 1]);
    let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![tp.clone(), tp]));
    exercise(
        ApiKey::ElectLeaders,
        Direction::Request,
        &[request.clone().with_election_type(1), request],
    );
    let partition = PartitionResult::default().with_error_message(Some(s("m")));
    let result = ReplicaElectionResult::default()
        .with_topic(topic("t"))
        .with_partition_result(vec![partition.clone(), partition]);
    let response =
        ElectLeadersResponse::default().with_replica_election_results(vec![result.clone(), result]);
    exercise(
        ApiKey::ElectLeaders,
        Direction::Response,
        &[response.clone().with_error_code(1), response],
    );
}

#[test]
fn alter_replica_log_dirs() {
    use alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    use alter_replica_log_dirs_response::{
        AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
    };
    let t = AlterReplicaLogDirTopic::default()
        .with_name(topic("t"))
        .with_partitions(vec![0, 1]);
    let dir = AlterReplicaLogDir::default()
        .with_path(s("/d"))
        .with_topics(vec![t.clone(), t]);
    exercise(
        ApiKey::AlterReplicaLogDirs,
        Direction::Request,
        &[AlterReplicaLogDirsRequest::default().with_dirs(vec![dir.clone(), dir])],
    );
    let partition = AlterReplicaLogDirPartitionResult::default().with_partition_index(1);
    let result = AlterReplicaLogDirTopicResult::default()
        .with_topic_name(topic("t"))
        .with_partitions(vec![partition.clone(), partition]);
    exercise(
        ApiKey::AlterReplicaLogDirs,
        Direction::Response,
        &[AlterReplicaLogDirsResponse::default().with_results(vec![result.clone(), result])],
    );
}

#[test]
fn describe_log_dirs() {
    use describe_log_dirs_request::DescribableLogDirTopic;
    use describe_log_dirs_response::{
        DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
    };
    let t = DescribableLogDirTopic::default()
        .with_topic(topic("t"))
        .with_partitions(vec![0, 1]);
    exercise(
        ApiKey::DescribeLogDirs,
        Direction::Request,
        &[DescribeLogDirsRequest::default().with_topics(Some(vec![t.clone(), t]))],
    );
    let partition = DescribeLogDirsPartition::default()
        .with_partition_size(10)
        .with_is_future_key(true);
    let t = DescribeLogDirsTopic::default()
        .with_name(topic("t"))
        .with_partitions(vec![partition.clone(), partition]);
    let result = DescribeLogDirsResult::default()
        .with_log_dir(s("/d"))
        .with_topics(vec![t.clone(), t])
        .with_total_bytes(5)
        .with_usable_bytes(4);
    let response = DescribeLogDirsResponse::default()
        .with_error_code(1)
        .with_results(vec![result.clone(), result]);
    exercise(ApiKey::DescribeLogDirs, Direction::Response, &[response]);
}

#[test]
fn alter_partition_reassignments() {
    use alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    use alter_partition_reassignments_response::{
        ReassignablePartitionResponse, ReassignableTopicResponse,
    };
    let partition = ReassignablePartition::default().with_replicas(Some(brokers()));
    let t = ReassignableTopic::default()
        .with_name(topic("t"))
        .with_partitions(vec![partition.clone(), partition]);
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![t.clone(), t]);
    exercise(
        ApiKey::AlterPartitionReassignments,
        Direction::Request,
        &[
            request.clone().with_allow_replication_factor_change(false),
            request,
        ],
    );
    let partition = ReassignablePartitionResponse::default().with_error_message(Some(s("m")));
    let t = ReassignableTopicResponse::default()
        .with_name(topic("t"))
        .with_partitions(vec![partition.clone(), partition]);
    let response = AlterPartitionReassignmentsResponse::default()
        .with_error_message(Some(s("m")))
        .with_responses(vec![t.clone(), t]);
    exercise(
        ApiKey::AlterPartitionReassignments,
        Direction::Response,
        &[response.with_allow_replication_factor_change(false)],
    );
}

#[test]
fn list_partition_reassignments() {
    use list_partition_reassignments_request::ListPartitionReassignmentsTopics;
    use list_partition_reassignments_response::{
        OngoingPartitionReassignment, OngoingTopicReassignment,
    };
    let t = ListPartitionReassignmentsTopics::default()
        .with_name(topic("t"))
        .with_partition_indexes(vec![0, 1]);
    exercise(
        ApiKey::ListPartitionReassignments,
        Direction::Request,
        &[ListPartitionReassignmentsRequest::default().with_topics(Some(vec![t.clone(), t]))],
    );
    let partition = OngoingPartitionReassignment::default()
        .with_replicas(brokers())
        .with_adding_replicas(brokers())
        .with_removing_replicas(brokers());
    let t = OngoingTopicReassignment::default()
        .with_name(topic("t"))
        .with_partitions(vec![partition.clone(), partition]);
    exercise(
        ApiKey::ListPartitionReassignments,
        Direction::Response,
        &[ListPartitionReassignmentsResponse::default()
            .with_error_message(Some(s("m")))
            .with_topics(vec![t.clone(), t])],
    );
}

#[test]
fn describe_client_quotas() {
    use describe_client_quotas_request::ComponentData;
    use describe_client_quotas_response::{EntityData, EntryData, ValueData};
    let component = ComponentData::default()
        .with_entity_type(s("user"))
        .with_match(Some(s("alice")));
    exercise(
        ApiKey::DescribeClientQuotas,
        Direction::Request,
        &[DescribeClientQuotasRequest::default()
            .with_components(vec![component.clone(), component])],
    );
    let entity = EntityData::default()
        .with_entity_type(s("user"))
        .with_entity_name(Some(s("alice")));
    let value = ValueData::default().with_key(s("k")).with_value(1.5);
    let entry = EntryData::default()
        .with_entity(vec![entity.clone(), entity])
        .with_values(vec![value.clone(), value]);
    exercise(
        ApiKey::DescribeClientQuotas,
        Direction::Response,
        &[DescribeClientQuotasResponse::default()
            .with_error_message(Some(s("m")))
            .with_entries(Some(vec![entry.clone(), entry]))],
    );
}

#[test]
fn alter_client_quotas() {
    use alter_client_quotas_request::{EntityData, EntryData, OpData};
    let entity = EntityData::default()
        .with_entity_type(s("user"))
        .with_entity_name(Some(s("alice")));
    let op = OpData::default()
        .with_key(s("k"))
        .with_value(2.0)
        .with_remove(true);
    let entry = EntryData::default()
        .with_entity(vec![entity.clone(), entity])
        .with_ops(vec![op.clone(), op]);
    exercise(
        ApiKey::AlterClientQuotas,
        Direction::Request,
        &[AlterClientQuotasRequest::default().with_entries(vec![entry.clone(), entry])],
    );
    let entity = alter_client_quotas_response::EntityData::default()
        .with_entity_type(s("user"))
        .with_entity_name(Some(s("alice")));
    let entry = alter_client_quotas_response::EntryData::default()
        .with_error_message(Some(s("m")))
        .with_entity(vec![entity.clone(), entity]);
    exercise(
        ApiKey::AlterClientQuotas,
        Direction::Response,
        &[AlterClientQuotasResponse::default().with_entries(vec![entry.clone(), entry])],
    );
}

#[test]
fn list_config_resources() {
    use list_config_resources_response::ConfigResource;
    exercise(
        ApiKey::ListConfigResources,
        Direction::Request,
        &[
            ListConfigResourcesRequest::default().with_resource_types(vec![2, 4]),
            ListConfigResourcesRequest::default(),
        ],
    );
    let full = ConfigResource::default()
        .with_resource_name(s("r"))
        .with_resource_type(2);
    exercise(
        ApiKey::ListConfigResources,
        Direction::Response,
        &[ListConfigResourcesResponse::default().with_config_resources(vec![full.clone(), full])],
    );
}

#[test]
fn describe_cluster_request() {
    let request =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    exercise(
        ApiKey::DescribeCluster,
        Direction::Request,
        &[
            request
                .clone()
                .with_endpoint_type(2)
                .with_include_fenced_brokers(true),
            request.clone().with_endpoint_type(2),
            request,
        ],
    );
}

#[test]
fn hostile_counts_are_rejected() {
    // CreateTopics v7: a compact topic count of 0x7ffffffe in a 6-byte body.
    let body = [0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
    assert!(matches!(
        super::super::check(ApiKey::CreateTopics, Direction::Request, 7, &body),
        Err(DecodeError::ImpossibleCount { .. })
    ));
    // DescribeTopicPartitions v0 response: a present next cursor cut short.
    let body = [0, 0, 0, 0, 0x01, 0x01];
    assert!(
        super::super::check(
            ApiKey::DescribeTopicPartitions,
            Direction::Response,
            0,
            &body
        )
        .is_err()
    );
}
