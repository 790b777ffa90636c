//! Requests about topics and the cluster: Produce, Fetch, ListOffsets, Metadata,
//! OffsetForLeaderEpoch, CreateTopics, DeleteTopics, DescribeCluster, DescribeProducers,
//! DescribeTopicPartitions.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
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

use bytes::Bytes;

use super::audit::Audit;
use super::{
    AuthorizeError, Authorizer, Edit, Merge, Req, Verdict, error_message, split, split_to_tail,
};
use crate::authz::{Operation as Op, ResourceType as R};
use crate::kafka::error_code::{TOPIC_AUTHORIZATION_FAILED, UNKNOWN_TOPIC_OR_PARTITION};

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
/// asked of the broker (so it cannot auto-create them). Automatic creation, when asked for,
/// follows Kafka: a topic the caller may CREATE (on the cluster, else on the topic) is
/// created, one it may not create comes back with TOPIC_AUTHORIZATION_FAILED if it does not
/// exist. A request naming both kinds is sent as two, the creatable topics with creation on
/// and the others with it off, and the responses are merged. The `*_authorized_operations`
/// fields are recomputed for the caller: the broker computes them for the proxy's principal.
pub(super) fn metadata(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let mut request: MetadataRequest = r.decode()?;
    let mut denied = Vec::new();
    let mut changed = false;
    let mut uncreatable: Vec<TopicName> = Vec::new();
    let mut creatable: Vec<MetadataRequestTopic> = Vec::new();
    if let Some(topics) = request.topics.take() {
        let (mut allowed, refused) = split(topics, |t| {
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
        if request.allow_auto_topic_creation && !a.cluster_quietly(Op::Create) {
            let (can, cannot) = split(allowed, |t| {
                t.name
                    .as_ref()
                    .is_some_and(|n| a.quietly(Op::Create, R::Topic, n))
            });
            if cannot.is_empty() {
                allowed = can;
            } else {
                request.allow_auto_topic_creation = false;
                changed = true;
                uncreatable = cannot.iter().filter_map(|t| t.name.clone()).collect();
                creatable = can;
                allowed = cannot;
            }
        }
        request.topics = Some(allowed);
    }
    let topic_ops = request.include_topic_authorized_operations;
    let cluster_ops = request.include_cluster_authorized_operations;
    // Named topics were all decided above; only a listing, topics asked for by ID, refusals
    // to merge, uncreatable topics and authorized-operation sets need the response changed.
    let lists = request
        .topics
        .as_ref()
        .is_none_or(|ts| ts.iter().any(|t| t.name.is_none()));
    let fixes = lists || topic_ops || cluster_ops || !denied.is_empty() || !uncreatable.is_empty();
    if !fixes {
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
    if !topic_ops && !cluster_ops && denied.is_empty() && uncreatable.is_empty() {
        // Topics are only left out: at the byte level, the response never decoded (the
        // broker addresses are then rewritten the same way).
        let version = r.version();
        let fix: super::Fix = Box::new(move |body: Bytes, _: &mut dyn super::Edit| {
            let kept = crate::kafka::pieces::metadata_topics(version, &body, |name| {
                name.is_none_or(|n| filter.topic(Op::Describe, n))
            })?;
            Ok(kept.into_bytes())
        });
        return r.rewrite_bytes(changed.then_some(&request), fix);
    }
    let fix = move |response: &mut MetadataResponse| {
        let mut audit = Audit::default();
        response.topics.retain(|t| {
            t.name
                .as_ref()
                .is_none_or(|n| filter.topic(Op::Describe, n))
        });
        for t in &mut response.topics {
            let Some(n) = &t.name else { continue };
            if t.error_code == UNKNOWN_TOPIC_OR_PARTITION && uncreatable.contains(n) {
                filter.deny(&mut audit, Op::Create, R::Topic, n);
                *t = MetadataResponseTopic::default()
                    .with_name(Some(n.clone()))
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED);
            } else if topic_ops {
                t.topic_authorized_operations = filter.operations(R::Topic, n);
            }
        }
        if cluster_ops {
            response.cluster_authorized_operations = filter.cluster_operations();
        }
        response.topics.extend(denied);
        filter.log(audit);
    };
    if creatable.is_empty() {
        let body = changed.then_some(&request);
        return r.rewrite::<_, MetadataRequest>(body, fix);
    }
    let then = r.with_body(&request)?;
    request.topics = Some(creatable);
    request.allow_auto_topic_creation = true;
    let first = r.with_body(&request)?;
    let version = r.version();
    let merge: Merge = Box::new(move |first: Bytes, then: Bytes, edit: &mut dyn Edit| {
        let created = crate::kafka::decode_response::<MetadataRequest>(version, &first)?;
        let mut response = crate::kafka::decode_response::<MetadataRequest>(version, &then)?;
        response.topics.extend(created.topics);
        fix(&mut response);
        edit.edit(&mut response)?;
        Ok(crate::kafka::encode_body(version, &response)?)
    });
    Ok(Verdict::Pair { first, then, merge })
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
    let mut denied = r.tail();
    let allowed = split_to_tail(
        std::mem::take(&mut request.topic_names),
        &mut denied,
        |n| a.allow(Op::Delete, R::Topic, n),
        |n| {
            DeletableTopicResult::default()
                .with_name(Some(n))
                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
        },
    )?;
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    if allowed.is_empty() {
        return r.answer_with_tail(DeleteTopicsResponse::default(), &denied);
    }
    request.topic_names = allowed;
    r.rewrite_with_tail::<_, DeleteTopicsRequest>(Some(&request), |_| {}, denied)
}

/// DESCRIBE_CLUSTER: no check for the request (as for Metadata's broker list); DESCRIBE on
/// the cluster only decides the cluster's authorized operations, 0 without it, as Kafka does.
pub(super) fn describe_cluster(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let request: DescribeClusterRequest = r.decode()?;
    if !request.include_cluster_authorized_operations {
        return Ok(Verdict::Forward);
    }
    let filter = Visibility::of(a);
    r.rewrite::<DescribeClusterRequest, DescribeClusterRequest>(None, move |response| {
        response.cluster_authorized_operations = filter.cluster_operations();
    })
}

/// DESCRIBE_PRODUCERS: READ on each topic.
pub(super) fn describe_producers(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use describe_producers_response::{PartitionResponse, TopicResponse};
    let mut request: DescribeProducersRequest = r.decode()?;
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Read, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<TopicResponse> = denied
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    PartitionResponse::default()
                        .with_partition_index(p)
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                        .with_error_message(error_message(TOPIC_AUTHORIZATION_FAILED))
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&DescribeProducersResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, DescribeProducersRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// DESCRIBE_TOPIC_PARTITIONS: DESCRIBE on each named topic; a denied one comes back with
/// TOPIC_AUTHORIZATION_FAILED and no topic id, after the described ones. A listing (no names)
/// leaves out what the caller may not describe, and a next-page cursor that names such a
/// topic is sealed (see [`super::cursor`]). Authorized operations are always recomputed for
/// the caller: the broker computes them for the proxy's principal.
pub(super) fn describe_topic_partitions(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic as Described;
    let mut request: DescribeTopicPartitionsRequest = r.decode()?;
    let mut changed = false;
    if let Some(c) = request.cursor.as_mut()
        && let Some(name) = super::cursor::open(&c.topic_name)
    {
        c.topic_name = TopicName(name.into());
        changed = true;
    }
    let lists = request.topics.is_empty();
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Describe, R::Topic, &t.name)
    });
    let denied: Vec<Described> = denied
        .into_iter()
        .map(|t| {
            Described::default()
                .with_name(Some(t.name))
                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
        })
        .collect();
    changed |= !denied.is_empty();
    if let Some(c) = &request.cursor
        && !lists
        && !allowed.iter().any(|t| t.name == c.topic_name)
    {
        // The cursor named a denied topic: the next page starts at the first allowed topic
        // after it, as Kafka pages only over the authorized topics.
        let next = allowed
            .iter()
            .map(|t| &t.name)
            .filter(|n| n.as_str() > c.topic_name.as_str())
            .min()
            .cloned();
        request.cursor = next.map(|n| {
            describe_topic_partitions_request::Cursor::default()
                .with_topic_name(n)
                .with_partition_index(0)
        });
        if request.cursor.is_none() {
            return r.answer(&DescribeTopicPartitionsResponse::default().with_topics(denied));
        }
    }
    if !lists && allowed.is_empty() {
        return r.answer(&DescribeTopicPartitionsResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    let filter = Visibility::of(a);
    let body = changed.then_some(&request);
    r.rewrite::<_, DescribeTopicPartitionsRequest>(body, move |response| {
        response.topics.retain(|t| {
            t.name
                .as_ref()
                .is_none_or(|n| filter.topic(Op::Describe, n))
        });
        for t in &mut response.topics {
            if let Some(n) = &t.name {
                t.topic_authorized_operations = filter.operations(R::Topic, n);
            }
        }
        if let Some(c) = response.next_cursor.as_mut()
            && !filter.topic(Op::Describe, &c.topic_name)
        {
            match super::cursor::seal(&c.topic_name) {
                Some(sealed) => c.topic_name = TopicName(sealed.into()),
                None => response.next_cursor = None,
            }
        }
        response.topics.extend(denied)
    })
}

/// What a response fix needs to decide on its own, after the request's decisions: the ACLs
/// of the moment the request was decided and the caller.
pub(super) struct Visibility {
    acls: std::sync::Arc<crate::authz::AclIndex>,
    caller: super::Caller,
    api: kafka_protocol::messages::ApiKey,
}

impl Visibility {
    pub(super) fn of(a: &Authorizer<'_>) -> Self {
        Self {
            acls: a.acls_arc(),
            caller: a.caller.clone(),
            api: a.api,
        }
    }

    /// Records a denial found only in the broker's response (a topic the caller may not
    /// create turned out not to exist); the decision was counted with the request.
    pub(super) fn deny(&self, audit: &mut Audit, operation: Op, resource: R, name: &str) {
        let decision = self
            .acls
            .decide(&self.caller.subject(), operation, resource, name);
        audit.deny(operation, resource, name, &decision.grounds);
    }

    /// Writes the audit lines of the denials found in a response.
    pub(super) fn log(&self, audit: Audit) {
        audit.log(&self.caller, self.api);
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

    /// The cluster's authorized operations: none without DESCRIBE on it (Kafka's rule for
    /// Metadata and DescribeCluster).
    pub(super) fn cluster_operations(&self) -> i32 {
        let cluster = crate::authz::acl::CLUSTER_NAME;
        if self.allows(Op::Describe, R::Cluster, cluster) {
            self.operations(R::Cluster, cluster)
        } else {
            0
        }
    }
}
