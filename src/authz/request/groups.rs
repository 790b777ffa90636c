//! Requests about consumer groups: OffsetCommit, OffsetFetch,
//! FindCoordinator, group membership, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete,
//! ConsumerGroupHeartbeat, ConsumerGroupDescribe.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::topics::Visibility;
use super::{AuthorizeError, Authorizer, Req, Verdict, error_message, split, split_to_tail};
use crate::authz::{Operation as Op, ResourceType as R};
use crate::kafka::error_code::{
    CLUSTER_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
};

type Result<T> = std::result::Result<T, AuthorizeError>;

/// OFFSET_COMMIT: READ on the group, then on each topic.
pub(super) fn offset_commit(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: OffsetCommitRequest = r.decode()?;
    let failed = |t: &offset_commit_request::OffsetCommitRequestTopic, code: i16| {
        OffsetCommitResponseTopic::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    if !a.allow(Op::Read, R::Group, &request.group_id) {
        let topics = request
            .topics
            .iter()
            .map(|t| failed(t, GROUP_AUTHORIZATION_FAILED))
            .collect();
        return r.answer(&OffsetCommitResponse::default().with_topics(topics));
    }
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Read, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<_> = denied
        .iter()
        .map(|t| failed(t, TOPIC_AUTHORIZATION_FAILED))
        .collect();
    if allowed.is_empty() {
        return r.answer(&OffsetCommitResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, OffsetCommitRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

fn fetch_partition(index: i32, code: i16) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition::default()
        .with_partition_index(index)
        .with_committed_offset(-1)
        .with_error_code(code)
}

/// OFFSET_FETCH: DESCRIBE on the group, then on each topic. Asked for all topics, the
/// response leaves out those the caller may not describe; named denied topics come back with
/// TOPIC_AUTHORIZATION_FAILED. v8+ carries several groups, each decided on its own.
pub(super) fn offset_fetch(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: OffsetFetchRequest = r.decode()?;
    let filter = Visibility::of(a);
    if r.version() >= 8 {
        return offset_fetch_groups(a, r, request, filter);
    }
    if !a.allow(Op::Describe, R::Group, &request.group_id) {
        // v1 has no top-level error: each requested partition carries it.
        let topics = request
            .topics
            .iter()
            .flatten()
            .map(|t| {
                OffsetFetchResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| fetch_partition(p, GROUP_AUTHORIZATION_FAILED))
                            .collect(),
                    )
            })
            .collect();
        let response = OffsetFetchResponse::default()
            .with_error_code(GROUP_AUTHORIZATION_FAILED)
            .with_topics(topics);
        return r.answer(&response);
    }
    let Some(topics) = request.topics.take() else {
        return r.rewrite::<OffsetFetchRequest, OffsetFetchRequest>(None, move |response| {
            response
                .topics
                .retain(|t| filter.topic(Op::Describe, &t.name))
        });
    };
    let (allowed, denied) = split(topics, |t| a.allow(Op::Describe, R::Topic, &t.name));
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<_> = denied
        .iter()
        .map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partition_indexes
                        .iter()
                        .map(|&p| fetch_partition(p, TOPIC_AUTHORIZATION_FAILED))
                        .collect(),
                )
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&OffsetFetchResponse::default().with_topics(denied));
    }
    request.topics = Some(allowed);
    r.rewrite::<_, OffsetFetchRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

fn offset_fetch_groups(
    a: &Authorizer<'_>,
    r: &Req<'_>,
    mut request: OffsetFetchRequest,
    filter: Visibility,
) -> Result<Verdict> {
    let mut merged: Vec<OffsetFetchResponseGroup> = Vec::new();
    let mut changed = false;
    let mut forwarded = Vec::with_capacity(request.groups.len());
    for mut g in std::mem::take(&mut request.groups) {
        if !a.allow(Op::Describe, R::Group, &g.group_id) {
            changed = true;
            merged.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_error_code(GROUP_AUTHORIZATION_FAILED),
            );
            continue;
        }
        if let Some(topics) = g.topics.take() {
            let (allowed, denied) = split(topics, |t| a.allow(Op::Describe, R::Topic, &t.name));
            if !denied.is_empty() {
                changed = true;
                let topics = denied
                    .iter()
                    .map(|t| {
                        OffsetFetchResponseTopics::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                merged.push(
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_topics(topics),
                );
            }
            g.topics = Some(allowed);
        }
        forwarded.push(g);
    }
    if forwarded.is_empty() {
        return r.answer(&OffsetFetchResponse::default().with_groups(merged));
    }
    request.groups = forwarded;
    let body = changed.then_some(&request);
    r.rewrite::<_, OffsetFetchRequest>(body, move |response| {
        for g in &mut response.groups {
            g.topics.retain(|t| filter.topic(Op::Describe, &t.name));
        }
        for m in merged {
            match response
                .groups
                .iter_mut()
                .find(|g| g.group_id == m.group_id)
            {
                Some(g) => g.topics.extend(m.topics),
                None => response.groups.push(m),
            }
        }
    })
}

/// FIND_COORDINATOR: DESCRIBE on the group (key type 0) or the transactional id (key type 1).
/// Other key types (share groups) are internal to brokers and refused.
pub(super) fn find_coordinator(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: FindCoordinatorRequest = r.decode()?;
    let key_type = request.key_type;
    let decide = |key: &str| -> Option<i16> {
        match key_type {
            0 => (!a.allow(Op::Describe, R::Group, key)).then_some(GROUP_AUTHORIZATION_FAILED),
            1 => (!a.allow(Op::Describe, R::TransactionalId, key))
                .then_some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            _ => Some(CLUSTER_AUTHORIZATION_FAILED),
        }
    };
    if r.version() < 4 {
        return match decide(&request.key) {
            None => Ok(Verdict::Forward),
            Some(code) => r.answer(
                &FindCoordinatorResponse::default()
                    .with_error_code(code)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1),
            ),
        };
    }
    let mut denied = r.tail();
    let mut allowed = Vec::new();
    for key in std::mem::take(&mut request.coordinator_keys) {
        match decide(&key) {
            None => allowed.push(key),
            Some(code) => denied.push(
                &Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code),
            )?,
        }
    }
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    if allowed.is_empty() {
        return r.answer_with_tail(FindCoordinatorResponse::default(), &denied);
    }
    request.coordinator_keys = allowed;
    r.rewrite_with_tail::<_, FindCoordinatorRequest>(Some(&request), |_| {}, denied)
}

/// JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LEAVE_GROUP: READ on the group, the request's first
/// field.
pub(super) fn membership(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let group = r.leading_string()?.unwrap_or_default();
    if a.allow(Op::Read, R::Group, &group) {
        return Ok(Verdict::Forward);
    }
    let code = GROUP_AUTHORIZATION_FAILED;
    match r.header.api() {
        Some(ApiKey::JoinGroup) => r.answer(
            &JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1),
        ),
        Some(ApiKey::SyncGroup) => r.answer(&SyncGroupResponse::default().with_error_code(code)),
        Some(ApiKey::Heartbeat) => r.answer(&HeartbeatResponse::default().with_error_code(code)),
        _ => r.answer(&LeaveGroupResponse::default().with_error_code(code)),
    }
}

/// DESCRIBE_GROUPS: DESCRIBE on each group.
pub(super) fn describe_groups(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: DescribeGroupsRequest = r.decode()?;
    let mut denied = r.tail();
    let allowed = split_to_tail(
        std::mem::take(&mut request.groups),
        &mut denied,
        |g| a.allow(Op::Describe, R::Group, g),
        |g| {
            DescribedGroup::default()
                .with_group_id(g)
                .with_error_code(GROUP_AUTHORIZATION_FAILED)
        },
    )?;
    if allowed.is_empty() {
        return r.answer_with_tail(DescribeGroupsResponse::default(), &denied);
    }
    let changed = !denied.is_empty();
    let operations = request.include_authorized_operations;
    request.groups = allowed;
    let filter = Visibility::of(a);
    let body = changed.then_some(&request);
    r.rewrite_with_tail::<_, DescribeGroupsRequest>(
        body,
        move |response| {
            if operations {
                for g in &mut response.groups {
                    g.authorized_operations = filter.operations(R::Group, &g.group_id);
                }
            }
        },
        denied,
    )
}

/// LIST_GROUPS: DESCRIBE on the cluster lists every group; otherwise only the groups the
/// caller may describe are listed.
pub(super) fn list_groups(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    if a.cluster_quietly(Op::Describe) {
        return Ok(Verdict::Forward);
    }
    let filter = Visibility::of(a);
    r.rewrite::<ListGroupsRequest, ListGroupsRequest>(None, move |response| {
        response
            .groups
            .retain(|g| filter.allows(Op::Describe, R::Group, &g.group_id))
    })
}

/// DELETE_GROUPS: DELETE on each group.
pub(super) fn delete_groups(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: DeleteGroupsRequest = r.decode()?;
    let mut denied = r.tail();
    let allowed = split_to_tail(
        std::mem::take(&mut request.groups_names),
        &mut denied,
        |g| a.allow(Op::Delete, R::Group, g),
        |g| {
            DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(GROUP_AUTHORIZATION_FAILED)
        },
    )?;
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    if allowed.is_empty() {
        return r.answer_with_tail(DeleteGroupsResponse::default(), &denied);
    }
    request.groups_names = allowed;
    r.rewrite_with_tail::<_, DeleteGroupsRequest>(Some(&request), |_| {}, denied)
}

/// OFFSET_DELETE: DELETE on the group (a refusal fails the whole request), then READ on each
/// topic.
pub(super) fn offset_delete(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
    let mut request: OffsetDeleteRequest = r.decode()?;
    if !a.allow(Op::Delete, R::Group, &request.group_id) {
        let response = OffsetDeleteResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
        return r.answer(&response);
    }
    let (allowed, denied) = split(std::mem::take(&mut request.topics), |t| {
        a.allow(Op::Read, R::Topic, &t.name)
    });
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    let denied: Vec<OffsetDeleteResponseTopic> = denied
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    if allowed.is_empty() {
        return r.answer(&OffsetDeleteResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, OffsetDeleteRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// CONSUMER_GROUP_HEARTBEAT (KIP-848): READ on the group, then DESCRIBE on each subscribed
/// topic name; a denied topic fails the heartbeat with TOPIC_AUTHORIZATION_FAILED and the
/// group is not joined. (A regex subscription is resolved by the group coordinator, as the
/// proxy's principal: the assignment may name topics the caller may not describe, but each
/// Fetch of them is still decided on READ.)
pub(super) fn consumer_group_heartbeat(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let request: ConsumerGroupHeartbeatRequest = r.decode()?;
    let code = if !a.allow(Op::Read, R::Group, &request.group_id) {
        GROUP_AUTHORIZATION_FAILED
    } else if !request
        .subscribed_topic_names
        .iter()
        .flatten()
        .all(|t| a.allow(Op::Describe, R::Topic, t))
    {
        TOPIC_AUTHORIZATION_FAILED
    } else {
        return Ok(Verdict::Forward);
    };
    r.answer(
        &ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code)
            .with_error_message(error_message(code)),
    )
}

/// CONSUMER_GROUP_DESCRIBE: DESCRIBE on each group. A described group whose members are
/// assigned (or about to be) a topic the caller may not describe is replaced by
/// TOPIC_AUTHORIZATION_FAILED without members, as Kafka 4 does.
pub(super) fn consumer_group_describe(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use consumer_group_describe_response::DescribedGroup;
    let mut request: ConsumerGroupDescribeRequest = r.decode()?;
    let mut denied = r.tail();
    let allowed = split_to_tail(
        std::mem::take(&mut request.group_ids),
        &mut denied,
        |g| a.allow(Op::Describe, R::Group, g),
        |g| {
            DescribedGroup::default()
                .with_group_id(g)
                .with_error_code(GROUP_AUTHORIZATION_FAILED)
                .with_error_message(error_message(GROUP_AUTHORIZATION_FAILED))
                .with_authorized_operations(i32::MIN)
        },
    )?;
    if allowed.is_empty() {
        return r.answer_with_tail(ConsumerGroupDescribeResponse::default(), &denied);
    }
    let changed = !denied.is_empty();
    let operations = request.include_authorized_operations;
    request.group_ids = allowed;
    let filter = Visibility::of(a);
    let body = changed.then_some(&request);
    let fix = move |response: &mut ConsumerGroupDescribeResponse| {
        for g in &mut response.groups {
            let hidden = g.members.iter().any(|m| {
                [&m.assignment, &m.target_assignment]
                    .into_iter()
                    .flat_map(|a| &a.topic_partitions)
                    .any(|t| !filter.topic(Op::Describe, &t.topic_name))
            });
            if hidden {
                *g = DescribedGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(StrBytes::from_static_str(
                        "The group has described topic(s) that the client is not authorized \
                         to describe.",
                    )))
                    .with_authorized_operations(i32::MIN);
            } else if operations && g.error_code == 0 {
                g.authorized_operations = filter.operations(R::Group, &g.group_id);
            }
        }
    };
    r.rewrite_with_tail::<_, ConsumerGroupDescribeRequest>(body, fix, denied)
}
