//! Requests about transactions and producer ids: InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions, ListTransactions.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;

use super::topics::Visibility;
use super::{AuthorizeError, Authorizer, Req, Verdict, split, split_to_tail};
use crate::authz::{Operation as Op, ResourceType as R};
use crate::kafka::error_code::{
    CLUSTER_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, OPERATION_NOT_ATTEMPTED,
    TOPIC_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
};

type Result<T> = std::result::Result<T, AuthorizeError>;

/// INIT_PRODUCER_ID: WRITE on the transactional id; without one (an idempotent producer),
/// IDEMPOTENT_WRITE on the cluster or WRITE on any topic (KIP-679).
pub(super) fn init_producer_id(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let (allowed, code) = match r.leading_string()? {
        Some(id) => (
            a.allow(Op::Write, R::TransactionalId, &id),
            TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
        None => (
            a.cluster_quietly(Op::IdempotentWrite) || a.any(Op::Write, R::Topic),
            CLUSTER_AUTHORIZATION_FAILED,
        ),
    };
    if allowed {
        return Ok(Verdict::Forward);
    }
    r.answer(
        &InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_epoch(-1),
    )
}

/// ADD_PARTITIONS_TO_TXN (v0-3, the client versions): WRITE on the transactional id, then on
/// each topic. As in Kafka, one denied topic fails the whole request: the denied partitions
/// carry TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED.
pub(super) fn add_partitions_to_txn(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let request: AddPartitionsToTxnRequest = r.decode()?;
    let topics = &request.v3_and_below_topics;
    let results = |code: &dyn Fn(&str) -> i16| -> Vec<AddPartitionsToTxnTopicResult> {
        topics
            .iter()
            .map(|t| {
                let code = code(&t.name);
                AddPartitionsToTxnTopicResult::default()
                    .with_name(t.name.clone())
                    .with_results_by_partition(
                        t.partitions
                            .iter()
                            .map(|&p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_partition_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect()
    };
    let answer = |results| {
        r.answer(&AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results))
    };
    if !a.allow(
        Op::Write,
        R::TransactionalId,
        &request.v3_and_below_transactional_id,
    ) {
        return answer(results(&|_| TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
    }
    let denied: Vec<&str> = topics
        .iter()
        .filter(|t| !a.allow(Op::Write, R::Topic, &t.name))
        .map(|t| &*t.name.0)
        .collect();
    if denied.is_empty() {
        return Ok(Verdict::Forward);
    }
    answer(results(&|name| {
        if denied.contains(&name) {
            TOPIC_AUTHORIZATION_FAILED
        } else {
            OPERATION_NOT_ATTEMPTED
        }
    }))
}

/// ADD_OFFSETS_TO_TXN: WRITE on the transactional id, then READ on the group.
pub(super) fn add_offsets_to_txn(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let request: AddOffsetsToTxnRequest = r.decode()?;
    let code = if !a.allow(Op::Write, R::TransactionalId, &request.transactional_id) {
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    } else if !a.allow(Op::Read, R::Group, &request.group_id) {
        GROUP_AUTHORIZATION_FAILED
    } else {
        return Ok(Verdict::Forward);
    };
    r.answer(&AddOffsetsToTxnResponse::default().with_error_code(code))
}

/// END_TXN: WRITE on the transactional id, the request's first field.
pub(super) fn end_txn(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let id = r.leading_string()?.unwrap_or_default();
    if a.allow(Op::Write, R::TransactionalId, &id) {
        return Ok(Verdict::Forward);
    }
    r.answer(
        &EndTxnResponse::default()
            .with_error_code(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
}

/// TXN_OFFSET_COMMIT: WRITE on the transactional id, READ on the group, READ on each topic.
pub(super) fn txn_offset_commit(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let mut request: TxnOffsetCommitRequest = r.decode()?;
    let failed = |t: &txn_offset_commit_request::TxnOffsetCommitRequestTopic, code: i16| {
        TxnOffsetCommitResponseTopic::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    let whole = if !a.allow(Op::Write, R::TransactionalId, &request.transactional_id) {
        Some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !a.allow(Op::Read, R::Group, &request.group_id) {
        Some(GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    if let Some(code) = whole {
        let topics = request.topics.iter().map(|t| failed(t, code)).collect();
        return r.answer(&TxnOffsetCommitResponse::default().with_topics(topics));
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
        return r.answer(&TxnOffsetCommitResponse::default().with_topics(denied));
    }
    request.topics = allowed;
    r.rewrite::<_, TxnOffsetCommitRequest>(Some(&request), move |response| {
        response.topics.extend(denied)
    })
}

/// DESCRIBE_TRANSACTIONS: DESCRIBE on each transactional id; in each described transaction,
/// the topics the caller may not describe are left out.
pub(super) fn describe_transactions(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    use describe_transactions_response::TransactionState;
    let mut request: DescribeTransactionsRequest = r.decode()?;
    let mut denied = r.tail();
    let allowed = split_to_tail(
        std::mem::take(&mut request.transactional_ids),
        &mut denied,
        |id| a.allow(Op::Describe, R::TransactionalId, id),
        |id| {
            TransactionState::default()
                .with_transactional_id(id)
                .with_error_code(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        },
    )?;
    if allowed.is_empty() {
        return r.answer_with_tail(DescribeTransactionsResponse::default(), &denied);
    }
    let changed = !denied.is_empty();
    request.transactional_ids = allowed;
    let filter = Visibility::of(a);
    let body = changed.then_some(&request);
    let fix = move |response: &mut DescribeTransactionsResponse| {
        for state in &mut response.transaction_states {
            state
                .topics
                .retain(|t| filter.topic(Op::Describe, &t.topic));
        }
    };
    r.rewrite_with_tail::<_, DescribeTransactionsRequest>(body, fix, denied)
}

/// LIST_TRANSACTIONS: only the transactions whose id the caller may describe are listed.
pub(super) fn list_transactions(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict> {
    let filter = Visibility::of(a);
    r.rewrite::<ListTransactionsRequest, ListTransactionsRequest>(None, move |response| {
        response
            .transaction_states
            .retain(|t| filter.allows(Op::Describe, R::TransactionalId, &t.transactional_id))
    })
}
