//! Requests about topics and the cluster: Produce, Fetch, ListOffsets, Metadata,
//! OffsetForLeaderEpoch, CreateTopics, DeleteTopics, DescribeConfigs, DescribeCluster.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;

use super::{AuthorizeError, Authorizer, Req, Verdict, split};
use crate::authz::{Operation as Op, ResourceType as R};
use crate::kafka::error_code::{CLUSTER_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED};

type Result<T> = std::result::Result<T, AuthorizeError>;

/// PRODUCE: WRITE on the transactional id, if any, then on each topic. The allowed topics are
/// forwarded; the denied ones come back with TOPIC_AUTHORIZATION_FAILED.
pub(super) fn produce(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: ProduceRequest = r.decode()?;
    let failed = |topic: &produce_request::TopicProduceData, code: i16| {
        TopicProduceResponse::default()
            .with_name(topic.name.clone())
            .with_partition_responses(
                topic
                    .partition_data
                    .iter()
                    .map(|p| {
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(code)
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(-1)
                    })
                    .collect(),
            )
    };
    let acks = request.acks;
    if let Some(id) = &request.transactional_id
        && !a.allow(Op::Write, R::TransactionalId, id)
    {
        if acks == 0 {
            return Ok(Verdict::Refuse(
                "acks=0 Produce with a denied transactional id".into(),
            ));
        }
        let code = crate::kafka::error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        let responses = request.topic_data.iter().map(|t| failed(t, code)).collect();
        return r.answer(&ProduceResponse::default().with_responses(responses));
    }
    let (allowed, denied) = split(std::mem::take(&mut request.topic_data), |t| {
        a.allow(Op::Write, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<TopicProduceResponse> = denied
        .iter()
        .map(|t| failed(t, TOPIC_AUTHORIZATION_FAILED))
        .collect();
    if acks == 0 {
        if allowed.is_empty() {
            return Ok(Verdict::Refuse("acks=0 Produce to denied topics".into()));
        }
        request.topic_data = allowed;
        return Ok(Verdict::Rewrite {
            frame: Some(r.with_body(&request)?),
            fix: None,
            close_after: true,
        });
    }
    if allowed.is_empty() {
        return r.answer(&ProduceResponse::default().with_responses(denied));
    }
    request.topic_data = allowed;
    r.rewrite::<_, ProduceRequest>(Some(&request), move |response| {
        response.responses.extend(denied)
    })
}

/// FETCH: READ on each topic. Requests are also made sessionless (KIP-227 session id 0, epoch
/// -1): within a fetch session the broker serves partitions the request does not name, which
/// would bypass a READ revoked since the session began. The broker then answers with session
/// id 0 and clients keep sending full requests.
pub(super) fn fetch(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: FetchRequest = r.decode()?;
    let in_session = r.version() >= 7 && (request.session_id != 0 || request.session_epoch != -1);
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Read, R::Topic, &t.topic)
    });
    if denied.is_empty() && !in_session {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<FetchableTopicResponse> = denied
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                .with_high_watermark(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&FetchResponse::default().with_responses(denied));
    }
    request.topics = allowed;
    request.session_id = 0;
    request.session_epoch = -1;
    request.forgotten_topics_data.clear();
    if denied.is_empty() {
        return Ok(Verdict::Rewrite {
            frame: Some(r.with_body(&request)?),
            fix: None,
            close_after: false,
        });
    }
    r.rewrite::<_, FetchRequest>(Some(&request), move |response| {
        response.responses.extend(denied)
    })
}

/// LIST_OFFSETS: DESCRIBE on each topic.
pub(super) fn list_offsets(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: ListOffsetsRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Describe, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<ListOffsetsTopicResponse> = denied
        .iter()
        .map(|t| {
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                .with_timestamp(-1)
                                .with_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&ListOffsetsResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, ListOffsetsRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// METADATA: DESCRIBE on each topic. For all topics, those the caller may not describe are
/// left out silently; named ones come back with TOPIC_AUTHORIZATION_FAILED and are never
/// asked of the broker (so it cannot auto-create them). Automatic creation stays on only when
/// the caller may CREATE every named topic (on the cluster, else on the topic). The
/// `*_authorized_operations` fields are recomputed for the caller: the broker computes them
/// for the proxy's own principal.
pub(super) fn metadata(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: MetadataRequest = r.decode()?;
    let mut denied = Vec::new();
    let mut changed = false;
    if let Some(topics) = request.topics.take() {
        let (allowed, refused) = split(topics, |t| {
            t.name
                .as_ref()
                .is_none_or(|n| a.allow(Op::Describe, R::Topic, n))
        });
        changed = !refused.is_empty();
        denied = refused
            .into_iter()
            .map(|t| {
                MetadataResponseTopic::default()
                    .with_name(t.name)
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
            })
            .collect();
        if request.allow_auto_topic_creation
            && !a.cluster_quietly(Op::Create)
            && !allowed.iter().all(|t| {
                t.name
                    .as_ref()
                    .is_some_and(|n| a.quietly(Op::Create, R::Topic, n))
            })
        {
            request.allow_auto_topic_creation = false;
            changed = true;
        }
        request.topics = Some(allowed);
    }
    let topic_ops = request.include_topic_authorized_operations;
    let cluster_ops = request.include_cluster_authorized_operations;
    // Named topics were all decided above; only a listing, topics asked for by ID, refusals
    // to merge and authorized-operation sets need the response changed.
    let lists = request
        .topics
        .as_ref()
        .is_none_or(|ts| ts.iter().any(|t| t.name.is_none()));
    if !(lists || topic_ops || cluster_ops || !denied.is_empty()) {
        if !changed {
            return Ok(Verdict::Forward);
        }
        return Ok(Verdict::Rewrite {
            frame: Some(r.with_body(&request)?),
            fix: None,
            close_after: false,
        });
    }
    let filter = Visibility::of(a);
    let body = changed.then_some(&request);
    r.rewrite::<_, MetadataRequest>(body, move |response| {
        response.topics.retain(|t| {
            t.name
                .as_ref()
                .is_none_or(|n| filter.topic(Op::Describe, n))
        });
        if topic_ops {
            for t in &mut response.topics {
                if let Some(n) = &t.name {
                    t.topic_authorized_operations = filter.operations(R::Topic, n);
                }
            }
        }
        if cluster_ops {
            response.cluster_authorized_operations =
                filter.operations(R::Cluster, crate::authz::acl::CLUSTER_NAME);
        }
        response.topics.extend(denied);
    })
}

/// OFFSET_FOR_LEADER_EPOCH: CLUSTER_ACTION on the cluster (followers), else DESCRIBE on each
/// topic.
pub(super) fn offset_for_leader_epoch(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster_quietly(Op::ClusterAction) {
        return Ok(Verdict::Forward);
    }
    let mut request: OffsetForLeaderEpochRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Describe, R::Topic, &t.topic)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<OffsetForLeaderTopicResult> = denied
        .iter()
        .map(|t| {
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            EpochEndOffset::default()
                                .with_partition(p.partition)
                                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                .with_leader_epoch(-1)
                                .with_end_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&OffsetForLeaderEpochResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, OffsetForLeaderEpochRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// CREATE_TOPICS: CREATE on the cluster, else on each topic.
pub(super) fn create_topics(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster_quietly(Op::Create) {
        return Ok(Verdict::Forward);
    }
    let mut request: CreateTopicsRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Create, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<CreatableTopicResult> = denied
        .into_iter()
        .map(|t| {
            CreatableTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                .with_error_message(Some("Authorization failed.".into()))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_configs(None)
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&CreateTopicsResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, CreateTopicsRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// DELETE_TOPICS: DELETE on each topic (by name: the versions that delete by topic ID are not
/// offered).
pub(super) fn delete_topics(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: DeleteTopicsRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topic_names), |n| {
        a.allow(Op::Delete, R::Topic, n)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<DeletableTopicResult> = denied
        .into_iter()
        .map(|n| {
            DeletableTopicResult::default()
                .with_name(Some(n))
                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&DeleteTopicsResponse::default().with_responses(denied));
    }
    request.topic_names = allowed;
    r.rewrite::<_, DeleteTopicsRequest>(Some(&request), move |response| {
        response.responses.extend(denied)
    })
}

/// A config resource's authorization: the resource type and name to check, and the error
/// code of a denial. Kafka's `ConfigResource.Type` codes: TOPIC 2, BROKER 4, BROKER_LOGGER 8,
/// CLIENT_METRICS 16, GROUP 32. Unknown types are refused.
fn config_resource(resource_type: i8, name: &str) -> (R, &str, i16) {
    use crate::kafka::error_code::GROUP_AUTHORIZATION_FAILED;
    let cluster = crate::authz::acl::CLUSTER_NAME;
    match resource_type {
        2 => (R::Topic, name, TOPIC_AUTHORIZATION_FAILED),
        32 => (R::Group, name, GROUP_AUTHORIZATION_FAILED),
        _ => (R::Cluster, cluster, CLUSTER_AUTHORIZATION_FAILED),
    }
}

/// DESCRIBE_CONFIGS: DESCRIBE_CONFIGS on each topic or group, on the cluster for broker,
/// broker-logger and client-metrics resources.
pub(super) fn describe_configs(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: DescribeConfigsRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.resources), |res| {
        let known = matches!(res.resource_type, 2 | 4 | 8 | 16 | 32);
        let (rt, name, _) = config_resource(res.resource_type, &res.resource_name);
        known && a.allow(Op::DescribeConfigs, rt, name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<DescribeConfigsResult> = denied
        .into_iter()
        .map(|res| {
            let (_, _, code) = config_resource(res.resource_type, &res.resource_name);
            DescribeConfigsResult::default()
                .with_error_code(code)
                .with_error_message(Some("Authorization failed.".into()))
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name)
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&DescribeConfigsResponse::default().with_results(denied));
    }
    request.resources = allowed;
    r.rewrite::<_, DescribeConfigsRequest>(Some(&request), move |response| {
        response.results.extend(denied)
    })
}

/// DESCRIBE_CLUSTER: DESCRIBE on the cluster.
pub(super) fn describe_cluster(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if !a.cluster(Op::Describe) {
        let response = DescribeClusterResponse::default()
            .with_error_code(CLUSTER_AUTHORIZATION_FAILED)
            .with_controller_id(BrokerId(-1));
        return r.answer(&response);
    }
    let filter = Visibility::of(a);
    r.rewrite::<DescribeClusterRequest, DescribeClusterRequest>(None, move |response| {
        if response.cluster_authorized_operations != i32::MIN {
            response.cluster_authorized_operations =
                filter.operations(R::Cluster, crate::authz::acl::CLUSTER_NAME);
        }
    })
}

/// What a response fix needs to decide on its own, after the request's decisions: the ACLs
/// of the moment the request was decided and the caller.
pub(super) struct Visibility {
    acls: std::sync::Arc<crate::authz::AclIndex>,
    caller: super::Caller,
}

impl Visibility {
    pub(super) fn of(a: &Authorizer<'_>) -> Self {
        Self {
            acls: a.acls_arc(),
            caller: a.caller.clone(),
        }
    }

    /// Decides without logging (a filter).
    pub(super) fn topic(&self, operation: Op, name: &str) -> bool {
        self.allows(operation, R::Topic, name)
    }

    pub(super) fn allows(&self, operation: Op, resource: R, name: &str) -> bool {
        self.acls
            .decide(&self.caller.subject(), operation, resource, name)
            .allowed
    }

    pub(super) fn operations(&self, resource: R, name: &str) -> i32 {
        super::authorized_operations(&self.acls, &self.caller, resource, name)
    }
}
