//! Walkers for consumer-group, offset and transaction messages: OffsetCommit, OffsetFetch,
//! TxnOffsetCommit, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, InitProducerId, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete,
//! ConsumerGroupHeartbeat, ConsumerGroupDescribe, DescribeTransactions, ListTransactions and
//! DescribeProducers.

use kafka_protocol::messages::ApiKey;

use super::Direction;
use crate::kafka::DecodeError;
use crate::kafka::walk::Walker;

/// The first flexible version of each message walked here.
pub(super) fn first_flexible_version(api: ApiKey) -> Option<i16> {
    Some(match api {
        ApiKey::OffsetCommit => 8,
        ApiKey::OffsetFetch => 6,
        ApiKey::TxnOffsetCommit => 3,
        ApiKey::AddPartitionsToTxn => 3,
        ApiKey::AddOffsetsToTxn => 3,
        ApiKey::EndTxn => 3,
        ApiKey::InitProducerId => 2,
        ApiKey::JoinGroup => 6,
        ApiKey::SyncGroup => 4,
        ApiKey::Heartbeat => 4,
        ApiKey::LeaveGroup => 4,
        ApiKey::DescribeGroups => 5,
        ApiKey::ListGroups => 3,
        ApiKey::DeleteGroups => 2,
        ApiKey::ConsumerGroupHeartbeat => 0,
        ApiKey::ConsumerGroupDescribe => 0,
        ApiKey::DescribeTransactions => 0,
        ApiKey::ListTransactions => 0,
        ApiKey::DescribeProducers => 0,
        // OffsetDelete (v0 only) is never flexible.
        _ => return None,
    })
}

/// Walks `w` as the body of `api` in `direction` at version `v`; `Ok(false)` when this module
/// has no walker for it.
pub(super) fn walk(
    api: ApiKey,
    direction: Direction,
    v: i16,
    w: &mut Walker<'_>,
) -> Result<bool, DecodeError> {
    use Direction::{Request, Response};
    match (api, direction) {
        (ApiKey::OffsetCommit, Request) => offset_commit_request(w, v)?,
        (ApiKey::OffsetCommit, Response) => offset_commit_response(w, v)?,
        (ApiKey::OffsetFetch, Request) => offset_fetch_request(w, v)?,
        (ApiKey::OffsetFetch, Response) => offset_fetch_response(w, v)?,
        (ApiKey::TxnOffsetCommit, Request) => txn_offset_commit_request(w, v)?,
        (ApiKey::TxnOffsetCommit, Response) => txn_offset_commit_response(w)?,
        (ApiKey::AddPartitionsToTxn, Request) => add_partitions_to_txn_request(w, v)?,
        (ApiKey::AddPartitionsToTxn, Response) => add_partitions_to_txn_response(w, v)?,
        (ApiKey::AddOffsetsToTxn, Request) => add_offsets_to_txn_request(w)?,
        (ApiKey::AddOffsetsToTxn, Response) => add_offsets_to_txn_response(w)?,
        (ApiKey::EndTxn, Request) => end_txn_request(w)?,
        (ApiKey::EndTxn, Response) => end_txn_response(w, v)?,
        (ApiKey::InitProducerId, Request) => init_producer_id_request(w, v)?,
        (ApiKey::InitProducerId, Response) => init_producer_id_response(w, v)?,
        (ApiKey::JoinGroup, Request) => join_group_request(w, v)?,
        (ApiKey::JoinGroup, Response) => join_group_response(w, v)?,
        (ApiKey::SyncGroup, Request) => sync_group_request(w, v)?,
        (ApiKey::SyncGroup, Response) => sync_group_response(w, v)?,
        (ApiKey::Heartbeat, Request) => heartbeat_request(w, v)?,
        (ApiKey::Heartbeat, Response) => heartbeat_response(w, v)?,
        (ApiKey::LeaveGroup, Request) => leave_group_request(w, v)?,
        (ApiKey::LeaveGroup, Response) => leave_group_response(w, v)?,
        (ApiKey::DescribeGroups, Request) => describe_groups_request(w, v)?,
        (ApiKey::DescribeGroups, Response) => describe_groups_response(w, v)?,
        (ApiKey::ListGroups, Request) => list_groups_request(w, v)?,
        (ApiKey::ListGroups, Response) => list_groups_response(w, v)?,
        (ApiKey::DeleteGroups, Request) => delete_groups_request(w)?,
        (ApiKey::DeleteGroups, Response) => delete_groups_response(w)?,
        (ApiKey::OffsetDelete, Request) => offset_delete_request(w)?,
        (ApiKey::OffsetDelete, Response) => offset_delete_response(w)?,
        (ApiKey::ConsumerGroupHeartbeat, Request) => consumer_group_heartbeat_request(w, v)?,
        (ApiKey::ConsumerGroupHeartbeat, Response) => consumer_group_heartbeat_response(w)?,
        (ApiKey::ConsumerGroupDescribe, Request) => consumer_group_describe_request(w)?,
        (ApiKey::ConsumerGroupDescribe, Response) => consumer_group_describe_response(w, v)?,
        (ApiKey::DescribeTransactions, Request) => describe_transactions_request(w)?,
        (ApiKey::DescribeTransactions, Response) => describe_transactions_response(w)?,
        (ApiKey::ListTransactions, Request) => list_transactions_request(w, v)?,
        (ApiKey::ListTransactions, Response) => list_transactions_response(w)?,
        (ApiKey::DescribeProducers, Request) => describe_producers_request(w)?,
        (ApiKey::DescribeProducers, Response) => describe_producers_response(w)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn i32_array(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.array(|w| w.i32().map(|_| ())).map(|_| ())
}

fn string_array(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.array(|w| w.string().map(|_| ())).map(|_| ())
}

fn offset_commit_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.i32()?;
    w.string()?;
    if v >= 7 {
        w.string()?;
    }
    if v <= 4 {
        w.i64()?;
    }
    w.array(|w| {
        w.string()?;
        w.array(|w| {
            w.i32()?;
            w.i64()?;
            if v >= 6 {
                w.i32()?;
            }
            w.string()?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn offset_commit_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 3 {
        w.i32()?;
    }
    w.array(|w| {
        // v10 identifies topics by id instead of name.
        if v <= 9 {
            w.string()?;
        }
        if v >= 10 {
            w.uuid()?;
        }
        w.array(|w| {
            w.i32()?;
            w.i16()?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn offset_fetch_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v <= 7 {
        w.string()?;
        w.array(|w| {
            w.string()?;
            i32_array(w)?;
            w.tagged_fields()
        })?;
    }
    // v8+ batches several groups in one request.
    if v >= 8 {
        w.array(|w| {
            w.string()?;
            if v >= 9 {
                w.string()?;
                w.i32()?;
            }
            w.array(|w| {
                w.string()?;
                i32_array(w)?;
                w.tagged_fields()
            })?;
            w.tagged_fields()
        })?;
    }
    if v >= 7 {
        w.bool()?;
    }
    w.tagged_fields()
}

fn offset_fetch_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 3 {
        w.i32()?;
    }
    if v <= 7 {
        w.array(|w| {
            w.string()?;
            w.array(|w| {
                w.i32()?;
                w.i64()?;
                if v >= 5 {
                    w.i32()?;
                }
                w.string()?;
                w.i16()?;
                w.tagged_fields()
            })?;
            w.tagged_fields()
        })?;
    }
    if (2..=7).contains(&v) {
        w.i16()?;
    }
    if v >= 8 {
        w.array(|w| {
            w.string()?;
            w.array(|w| {
                // v10 identifies topics by id instead of name.
                if v <= 9 {
                    w.string()?;
                }
                if v >= 10 {
                    w.uuid()?;
                }
                w.array(|w| {
                    w.i32()?;
                    w.i64()?;
                    w.i32()?;
                    w.string()?;
                    w.i16()?;
                    w.tagged_fields()
                })?;
                w.tagged_fields()
            })?;
            w.i16()?;
            w.tagged_fields()
        })?;
    }
    w.tagged_fields()
}

fn txn_offset_commit_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.string()?;
    w.i64()?;
    w.i16()?;
    if v >= 3 {
        w.i32()?;
        w.string()?;
        w.string()?;
    }
    w.array(|w| {
        w.string()?;
        w.array(|w| {
            w.i32()?;
            w.i64()?;
            if v >= 2 {
                w.i32()?;
            }
            w.string()?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn txn_offset_commit_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.array(|w| {
        w.string()?;
        w.array(|w| {
            w.i32()?;
            w.i16()?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn add_partitions_to_txn_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    let topic = |w: &mut Walker<'_>| {
        w.string()?;
        i32_array(w)?;
        w.tagged_fields()
    };
    // v4+ batches several transactions; v3 and below carry a single one inline.
    if v >= 4 {
        w.array(|w| {
            w.string()?;
            w.i64()?;
            w.i16()?;
            w.bool()?;
            w.array(topic)?;
            w.tagged_fields()
        })?;
    }
    if v <= 3 {
        w.string()?;
        w.i64()?;
        w.i16()?;
        w.array(topic)?;
    }
    w.tagged_fields()
}

fn add_partitions_to_txn_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    let topic_result = |w: &mut Walker<'_>| {
        w.string()?;
        w.array(|w| {
            w.i32()?;
            w.i16()?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    };
    w.i32()?;
    if v >= 4 {
        w.i16()?;
        w.array(|w| {
            w.string()?;
            w.array(topic_result)?;
            w.tagged_fields()
        })?;
    }
    if v <= 3 {
        w.array(topic_result)?;
    }
    w.tagged_fields()
}

fn add_offsets_to_txn_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.string()?;
    w.i64()?;
    w.i16()?;
    w.string()?;
    w.tagged_fields()
}

fn add_offsets_to_txn_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.i16()?;
    w.tagged_fields()
}

fn end_txn_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.string()?;
    w.i64()?;
    w.i16()?;
    w.bool()?;
    w.tagged_fields()
}

fn end_txn_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.i32()?;
    w.i16()?;
    if v >= 5 {
        w.i64()?;
        w.i16()?;
    }
    w.tagged_fields()
}

fn init_producer_id_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.i32()?;
    if v >= 3 {
        w.i64()?;
        w.i16()?;
    }
    w.tagged_fields()
}

fn init_producer_id_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.i32()?;
    w.i16()?;
    w.i64()?;
    w.i16()?;
    if v >= 6 {
        w.i64()?;
        w.i16()?;
    }
    w.tagged_fields()
}

fn join_group_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.i32()?;
    if v >= 1 {
        w.i32()?;
    }
    w.string()?;
    if v >= 5 {
        w.string()?;
    }
    w.string()?;
    w.array(|w| {
        w.string()?;
        w.bytes()?;
        w.tagged_fields()
    })?;
    if v >= 8 {
        w.string()?;
    }
    w.tagged_fields()
}

fn join_group_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 2 {
        w.i32()?;
    }
    w.i16()?;
    w.i32()?;
    if v >= 7 {
        w.string()?;
    }
    w.string()?;
    w.string()?;
    if v >= 9 {
        w.bool()?;
    }
    w.string()?;
    w.array(|w| {
        w.string()?;
        if v >= 5 {
            w.string()?;
        }
        w.bytes()?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn sync_group_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.i32()?;
    w.string()?;
    if v >= 3 {
        w.string()?;
    }
    if v >= 5 {
        w.string()?;
        w.string()?;
    }
    w.array(|w| {
        w.string()?;
        w.bytes()?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn sync_group_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 1 {
        w.i32()?;
    }
    w.i16()?;
    if v >= 5 {
        w.string()?;
        w.string()?;
    }
    w.bytes()?;
    w.tagged_fields()
}

fn heartbeat_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.i32()?;
    w.string()?;
    if v >= 3 {
        w.string()?;
    }
    w.tagged_fields()
}

fn heartbeat_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 1 {
        w.i32()?;
    }
    w.i16()?;
    w.tagged_fields()
}

fn leave_group_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    // v3+ leaves a batch of members instead of a single member id.
    if v <= 2 {
        w.string()?;
    }
    if v >= 3 {
        w.array(|w| {
            w.string()?;
            w.string()?;
            if v >= 5 {
                w.string()?;
            }
            w.tagged_fields()
        })?;
    }
    w.tagged_fields()
}

fn leave_group_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 1 {
        w.i32()?;
    }
    w.i16()?;
    if v >= 3 {
        w.array(|w| {
            w.string()?;
            w.string()?;
            w.i16()?;
            w.tagged_fields()
        })?;
    }
    w.tagged_fields()
}

fn describe_groups_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    string_array(w)?;
    if v >= 3 {
        w.bool()?;
    }
    w.tagged_fields()
}

fn describe_groups_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 1 {
        w.i32()?;
    }
    w.array(|w| {
        w.i16()?;
        if v >= 6 {
            w.string()?;
        }
        w.string()?;
        w.string()?;
        w.string()?;
        w.string()?;
        w.array(|w| {
            w.string()?;
            if v >= 4 {
                w.string()?;
            }
            w.string()?;
            w.string()?;
            w.bytes()?;
            w.bytes()?;
            w.tagged_fields()
        })?;
        if v >= 3 {
            w.i32()?;
        }
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn list_groups_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 4 {
        string_array(w)?;
    }
    if v >= 5 {
        string_array(w)?;
    }
    w.tagged_fields()
}

fn list_groups_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    if v >= 1 {
        w.i32()?;
    }
    w.i16()?;
    w.array(|w| {
        w.string()?;
        w.string()?;
        if v >= 4 {
            w.string()?;
        }
        if v >= 5 {
            w.string()?;
        }
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn delete_groups_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    string_array(w)?;
    w.tagged_fields()
}

fn delete_groups_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.array(|w| {
        w.string()?;
        w.i16()?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn offset_delete_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.string()?;
    w.array(|w| {
        w.string()?;
        i32_array(w)
    })?;
    Ok(())
}

fn offset_delete_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i16()?;
    w.i32()?;
    w.array(|w| {
        w.string()?;
        w.array(|w| {
            w.i32()?;
            w.i16()?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}

fn consumer_group_heartbeat_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    w.string()?;
    w.string()?;
    w.i32()?;
    w.string()?;
    w.string()?;
    w.i32()?;
    string_array(w)?;
    if v >= 1 {
        w.string()?;
    }
    w.string()?;
    w.array(|w| {
        w.uuid()?;
        i32_array(w)?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn consumer_group_heartbeat_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.i16()?;
    w.string()?;
    w.string()?;
    w.i32()?;
    w.i32()?;
    // The nullable Assignment struct: an INT8 marker, the struct following only when it is 1.
    if w.i8()? == 1 {
        w.array(|w| {
            w.uuid()?;
            i32_array(w)?;
            w.tagged_fields()
        })?;
        w.tagged_fields()?;
    }
    w.tagged_fields()
}

fn consumer_group_describe_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    string_array(w)?;
    w.bool()?;
    w.tagged_fields()
}

fn consumer_group_describe_response(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    // Member.Assignment and Member.TargetAssignment: non-nullable structs, no marker.
    let assignment = |w: &mut Walker<'_>| {
        w.array(|w| {
            w.uuid()?;
            w.string()?;
            i32_array(w)?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    };
    w.i32()?;
    w.array(|w| {
        w.i16()?;
        w.string()?;
        w.string()?;
        w.string()?;
        w.i32()?;
        w.i32()?;
        w.string()?;
        w.array(|w| {
            w.string()?;
            w.string()?;
            w.string()?;
            w.i32()?;
            w.string()?;
            w.string()?;
            string_array(w)?;
            w.string()?;
            assignment(w)?;
            assignment(w)?;
            if v >= 1 {
                w.i8()?;
            }
            w.tagged_fields()
        })?;
        w.i32()?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn describe_transactions_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    string_array(w)?;
    w.tagged_fields()
}

fn describe_transactions_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.array(|w| {
        w.i16()?;
        w.string()?;
        w.string()?;
        w.i32()?;
        w.i64()?;
        w.i64()?;
        w.i16()?;
        w.array(|w| {
            w.string()?;
            i32_array(w)?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn list_transactions_request(w: &mut Walker<'_>, v: i16) -> Result<(), DecodeError> {
    string_array(w)?;
    w.array(|w| w.i64())?;
    if v >= 1 {
        w.i64()?;
    }
    if v >= 2 {
        w.string()?;
    }
    w.tagged_fields()
}

fn list_transactions_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.i16()?;
    string_array(w)?;
    w.array(|w| {
        w.string()?;
        w.i64()?;
        w.string()?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn describe_producers_request(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.array(|w| {
        w.string()?;
        i32_array(w)?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

fn describe_producers_response(w: &mut Walker<'_>) -> Result<(), DecodeError> {
    w.i32()?;
    w.array(|w| {
        w.string()?;
        w.array(|w| {
            w.i32()?;
            w.i16()?;
            w.string()?;
            w.array(|w| {
                w.i64()?;
                w.i32()?;
                w.i32()?;
                w.i64()?;
                w.i32()?;
                w.i64()?;
                w.tagged_fields()
            })?;
            w.tagged_fields()
        })?;
        w.tagged_fields()
    })?;
    w.tagged_fields()
}

#[cfg(test)]
mod tests {
    //! Each message is built populated for every version the crate knows (each field only at
    //! the versions that carry it), encoded by the crate, and must be accepted by the walker
    //! with every strict prefix rejected.
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message};

    use super::super::check;
    use super::*;

    const TOPIC_ID: &str = "0b7e8c39-2d4f-4a1e-9c3b-5f6a7d8e9f01";

    /// Encodes `build(v)` at every version `v` the crate knows (each must encode) and checks
    /// that the walker accepts it and rejects each strict prefix.
    fn each_version<M: Encodable + Message>(
        api: ApiKey,
        direction: Direction,
        build: impl Fn(i16) -> M,
    ) {
        for v in M::VERSIONS.min..=M::VERSIONS.max {
            let mut buf = BytesMut::new();
            build(v)
                .encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("{api:?} {direction:?} v{v}: encode: {e}"));
            check(api, direction, v, &buf)
                .unwrap_or_else(|e| panic!("{api:?} {direction:?} v{v}: {e}"));
            for cut in 0..buf.len() {
                assert!(
                    check(api, direction, v, &buf[..cut]).is_err(),
                    "{api:?} {direction:?} v{v} prefix {cut} accepted"
                );
            }
        }
    }

    /// Applies a builder step only at the versions that carry the field.
    trait When: Sized {
        fn when(self, present: bool, f: impl FnOnce(Self) -> Self) -> Self {
            if present { f(self) } else { self }
        }
    }

    impl<T> When for T {}

    /// An unknown tagged field, written by the crate at flexible versions only.
    fn tag() -> Bytes {
        Bytes::from_static(b"xy")
    }

    fn topic(name: &'static str) -> TopicName {
        TopicName(name.into())
    }

    fn group(name: &'static str) -> GroupId {
        GroupId(name.into())
    }

    fn txn(name: &'static str) -> TransactionalId {
        TransactionalId(name.into())
    }

    /// A flexible body always travels with a flexible header (request v2, response v1), so the
    /// crate's header versions confirm each first flexible version, in both directions.
    fn flexible_like_header<Req, Resp>(api: ApiKey)
    where
        Req: Message + HeaderVersion,
        Resp: Message + HeaderVersion,
    {
        let flexible = |v: i16| first_flexible_version(api).is_some_and(|f| v >= f);
        for v in Req::VERSIONS.min..=Req::VERSIONS.max {
            assert_eq!(
                flexible(v),
                Req::header_version(v) >= 2,
                "{api:?} request v{v}"
            );
        }
        for v in Resp::VERSIONS.min..=Resp::VERSIONS.max {
            assert_eq!(
                flexible(v),
                Resp::header_version(v) >= 1,
                "{api:?} response v{v}"
            );
        }
    }

    #[test]
    fn first_flexible_versions_match_the_crate() {
        flexible_like_header::<OffsetCommitRequest, OffsetCommitResponse>(ApiKey::OffsetCommit);
        flexible_like_header::<OffsetFetchRequest, OffsetFetchResponse>(ApiKey::OffsetFetch);
        flexible_like_header::<TxnOffsetCommitRequest, TxnOffsetCommitResponse>(
            ApiKey::TxnOffsetCommit,
        );
        flexible_like_header::<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(
            ApiKey::AddPartitionsToTxn,
        );
        flexible_like_header::<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>(
            ApiKey::AddOffsetsToTxn,
        );
        flexible_like_header::<EndTxnRequest, EndTxnResponse>(ApiKey::EndTxn);
        flexible_like_header::<InitProducerIdRequest, InitProducerIdResponse>(
            ApiKey::InitProducerId,
        );
        flexible_like_header::<JoinGroupRequest, JoinGroupResponse>(ApiKey::JoinGroup);
        flexible_like_header::<SyncGroupRequest, SyncGroupResponse>(ApiKey::SyncGroup);
        flexible_like_header::<HeartbeatRequest, HeartbeatResponse>(ApiKey::Heartbeat);
        flexible_like_header::<LeaveGroupRequest, LeaveGroupResponse>(ApiKey::LeaveGroup);
        flexible_like_header::<DescribeGroupsRequest, DescribeGroupsResponse>(
            ApiKey::DescribeGroups,
        );
        flexible_like_header::<ListGroupsRequest, ListGroupsResponse>(ApiKey::ListGroups);
        flexible_like_header::<DeleteGroupsRequest, DeleteGroupsResponse>(ApiKey::DeleteGroups);
        flexible_like_header::<OffsetDeleteRequest, OffsetDeleteResponse>(ApiKey::OffsetDelete);
        flexible_like_header::<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>(
            ApiKey::ConsumerGroupHeartbeat,
        );
        flexible_like_header::<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse>(
            ApiKey::ConsumerGroupDescribe,
        );
        flexible_like_header::<DescribeTransactionsRequest, DescribeTransactionsResponse>(
            ApiKey::DescribeTransactions,
        );
        flexible_like_header::<ListTransactionsRequest, ListTransactionsResponse>(
            ApiKey::ListTransactions,
        );
        flexible_like_header::<DescribeProducersRequest, DescribeProducersResponse>(
            ApiKey::DescribeProducers,
        );
    }

    #[test]
    fn offset_commit() {
        use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
        use offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
        each_version(ApiKey::OffsetCommit, Direction::Request, |v| {
            let partition = OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_metadata(Some("m".into()));
            let t = OffsetCommitRequestTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![partition.clone(), partition]);
            OffsetCommitRequest::default()
                .with_group_id(group("g"))
                .with_member_id("m".into())
                .when(v >= 7, |m| m.with_group_instance_id(Some("i".into())))
                .with_topics(vec![t.clone(), t])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::OffsetCommit, Direction::Response, |v| {
            let partition = OffsetCommitResponsePartition::default().with_partition_index(1);
            let t = OffsetCommitResponseTopic::default()
                .when(v <= 9, |t| t.with_name(topic("t")))
                .when(v >= 10, |t| t.with_topic_id(TOPIC_ID.parse().unwrap()))
                .with_partitions(vec![partition.clone(), partition]);
            OffsetCommitResponse::default()
                .with_topics(vec![t.clone(), t])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn offset_fetch() {
        use offset_fetch_request::{
            OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
        };
        use offset_fetch_response::{
            OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
            OffsetFetchResponseTopic, OffsetFetchResponseTopics,
        };
        each_version(ApiKey::OffsetFetch, Direction::Request, |v| {
            let t = OffsetFetchRequestTopic::default()
                .with_name(topic("t"))
                .with_partition_indexes(vec![0, 1]);
            let ts = OffsetFetchRequestTopics::default()
                .with_name(topic("t"))
                .with_partition_indexes(vec![0, 1]);
            let g = OffsetFetchRequestGroup::default()
                .with_group_id(group("g"))
                .when(v >= 9, |g| g.with_member_id(Some("m".into())))
                .with_topics(Some(vec![ts.clone(), ts]));
            OffsetFetchRequest::default()
                .when(v <= 7, |m| {
                    m.with_group_id(group("g"))
                        .with_topics(Some(vec![t.clone(), t]))
                })
                .when(v >= 8, |m| m.with_groups(vec![g.clone(), g]))
                .when(v >= 7, |m| m.with_require_stable(true))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::OffsetFetch, Direction::Response, |v| {
            let p = OffsetFetchResponsePartition::default()
                .with_partition_index(1)
                .with_metadata(Some("m".into()));
            let t = OffsetFetchResponseTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![p.clone(), p]);
            let ps = OffsetFetchResponsePartitions::default().with_metadata(Some("m".into()));
            let ts = OffsetFetchResponseTopics::default()
                .when(v <= 9, |t| t.with_name(topic("t")))
                .when(v >= 10, |t| t.with_topic_id(TOPIC_ID.parse().unwrap()))
                .with_partitions(vec![ps.clone(), ps]);
            let g = OffsetFetchResponseGroup::default()
                .with_group_id(group("g"))
                .with_topics(vec![ts.clone(), ts]);
            OffsetFetchResponse::default()
                .when(v <= 7, |m| m.with_topics(vec![t.clone(), t]))
                .when(v >= 8, |m| m.with_groups(vec![g.clone(), g]))
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn txn_offset_commit() {
        use txn_offset_commit_request::{
            TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
        };
        use txn_offset_commit_response::{
            TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
        };
        each_version(ApiKey::TxnOffsetCommit, Direction::Request, |v| {
            let p = TxnOffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_metadata(Some("m".into()));
            let t = TxnOffsetCommitRequestTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![p.clone(), p]);
            TxnOffsetCommitRequest::default()
                .with_transactional_id(txn("x"))
                .with_group_id(group("g"))
                .when(v >= 3, |m| {
                    m.with_member_id("m".into())
                        .with_group_instance_id(Some("i".into()))
                })
                .with_topics(vec![t.clone(), t])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::TxnOffsetCommit, Direction::Response, |_| {
            let p = TxnOffsetCommitResponsePartition::default().with_partition_index(1);
            let t = TxnOffsetCommitResponseTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![p.clone(), p]);
            TxnOffsetCommitResponse::default()
                .with_topics(vec![t.clone(), t])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn add_partitions_to_txn() {
        use add_partitions_to_txn_request::{
            AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
        };
        use add_partitions_to_txn_response::{
            AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult,
            AddPartitionsToTxnTopicResult,
        };
        each_version(ApiKey::AddPartitionsToTxn, Direction::Request, |v| {
            let t = AddPartitionsToTxnTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![0, 1]);
            let x = AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn("x"))
                .with_verify_only(true)
                .with_topics(vec![t.clone(), t.clone()]);
            AddPartitionsToTxnRequest::default()
                .when(v >= 4, |m| m.with_transactions(vec![x.clone(), x]))
                .when(v <= 3, |m| {
                    m.with_v3_and_below_transactional_id(txn("x"))
                        .with_v3_and_below_topics(vec![t.clone(), t])
                })
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::AddPartitionsToTxn, Direction::Response, |v| {
            let p = AddPartitionsToTxnPartitionResult::default().with_partition_index(1);
            let t = AddPartitionsToTxnTopicResult::default()
                .with_name(topic("t"))
                .with_results_by_partition(vec![p.clone(), p]);
            let r = AddPartitionsToTxnResult::default()
                .with_transactional_id(txn("x"))
                .with_topic_results(vec![t.clone(), t.clone()]);
            AddPartitionsToTxnResponse::default()
                .when(v >= 4, |m| {
                    m.with_results_by_transaction(vec![r.clone(), r])
                })
                .when(v <= 3, |m| {
                    m.with_results_by_topic_v3_and_below(vec![t.clone(), t])
                })
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn add_offsets_end_txn_and_init_producer_id() {
        each_version(ApiKey::AddOffsetsToTxn, Direction::Request, |_| {
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn("x"))
                .with_group_id(group("g"))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::AddOffsetsToTxn, Direction::Response, |_| {
            AddOffsetsToTxnResponse::default().with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::EndTxn, Direction::Request, |_| {
            EndTxnRequest::default()
                .with_transactional_id(txn("x"))
                .with_committed(true)
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::EndTxn, Direction::Response, |_| {
            EndTxnResponse::default().with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::InitProducerId, Direction::Request, |_| {
            InitProducerIdRequest::default()
                .with_transactional_id(Some(txn("x")))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::InitProducerId, Direction::Request, |_| {
            InitProducerIdRequest::default().with_transactional_id(None)
        });
        each_version(ApiKey::InitProducerId, Direction::Response, |_| {
            InitProducerIdResponse::default().with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn join_group() {
        use join_group_request::JoinGroupRequestProtocol;
        use join_group_response::JoinGroupResponseMember;
        each_version(ApiKey::JoinGroup, Direction::Request, |v| {
            let p = JoinGroupRequestProtocol::default()
                .with_name("range".into())
                .with_metadata(Bytes::from_static(b"meta"));
            JoinGroupRequest::default()
                .with_group_id(group("g"))
                .with_member_id("m".into())
                .when(v >= 5, |m| m.with_group_instance_id(Some("i".into())))
                .with_protocol_type("consumer".into())
                .with_protocols(vec![p.clone(), p])
                .when(v >= 8, |m| m.with_reason(Some("r".into())))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::JoinGroup, Direction::Response, |v| {
            let member = JoinGroupResponseMember::default()
                .with_member_id("m".into())
                .when(v >= 5, |m| m.with_group_instance_id(Some("i".into())))
                .with_metadata(Bytes::from_static(b"meta"));
            JoinGroupResponse::default()
                .when(v >= 7, |m| m.with_protocol_type(Some("consumer".into())))
                .with_protocol_name(Some("range".into()))
                .with_leader("l".into())
                .when(v >= 9, |m| m.with_skip_assignment(true))
                .with_member_id("m".into())
                .with_members(vec![member.clone(), member])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn sync_group_and_heartbeat() {
        use sync_group_request::SyncGroupRequestAssignment;
        each_version(ApiKey::SyncGroup, Direction::Request, |v| {
            let a = SyncGroupRequestAssignment::default()
                .with_member_id("m".into())
                .with_assignment(Bytes::from_static(b"a"));
            SyncGroupRequest::default()
                .with_group_id(group("g"))
                .with_member_id("m".into())
                .when(v >= 3, |m| m.with_group_instance_id(Some("i".into())))
                .when(v >= 5, |m| {
                    m.with_protocol_type(Some("consumer".into()))
                        .with_protocol_name(Some("range".into()))
                })
                .with_assignments(vec![a.clone(), a])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::SyncGroup, Direction::Response, |v| {
            SyncGroupResponse::default()
                .when(v >= 5, |m| {
                    m.with_protocol_type(Some("consumer".into()))
                        .with_protocol_name(Some("range".into()))
                })
                .with_assignment(Bytes::from_static(b"a"))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::Heartbeat, Direction::Request, |v| {
            HeartbeatRequest::default()
                .with_group_id(group("g"))
                .with_member_id("m".into())
                .when(v >= 3, |m| m.with_group_instance_id(Some("i".into())))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::Heartbeat, Direction::Response, |_| {
            HeartbeatResponse::default().with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn leave_group() {
        use leave_group_request::MemberIdentity;
        use leave_group_response::MemberResponse;
        each_version(ApiKey::LeaveGroup, Direction::Request, |v| {
            let member = MemberIdentity::default()
                .with_member_id("m".into())
                .with_group_instance_id(Some("i".into()))
                .when(v >= 5, |m| m.with_reason(Some("r".into())));
            LeaveGroupRequest::default()
                .with_group_id(group("g"))
                .when(v <= 2, |m| m.with_member_id("m".into()))
                .when(v >= 3, |m| m.with_members(vec![member.clone(), member]))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::LeaveGroup, Direction::Response, |v| {
            let member = MemberResponse::default()
                .with_member_id("m".into())
                .with_group_instance_id(Some("i".into()));
            LeaveGroupResponse::default()
                .when(v >= 3, |m| m.with_members(vec![member.clone(), member]))
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn describe_list_delete_groups() {
        use describe_groups_response::{DescribedGroup, DescribedGroupMember};
        use list_groups_response::ListedGroup;
        each_version(ApiKey::DescribeGroups, Direction::Request, |v| {
            DescribeGroupsRequest::default()
                .with_groups(vec![group("a"), group("b")])
                .when(v >= 3, |m| m.with_include_authorized_operations(true))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::DescribeGroups, Direction::Response, |v| {
            let member = DescribedGroupMember::default()
                .with_member_id("m".into())
                .when(v >= 4, |m| m.with_group_instance_id(Some("i".into())))
                .with_client_id("c".into())
                .with_client_host("h".into())
                .with_member_metadata(Bytes::from_static(b"md"))
                .with_member_assignment(Bytes::from_static(b"ma"));
            let g = DescribedGroup::default()
                .when(v >= 6, |g| g.with_error_message(Some("e".into())))
                .with_group_id(group("g"))
                .with_group_state("Stable".into())
                .with_protocol_type("consumer".into())
                .with_protocol_data("range".into())
                .with_members(vec![member.clone(), member]);
            DescribeGroupsResponse::default()
                .with_groups(vec![g.clone(), g])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::ListGroups, Direction::Request, |v| {
            ListGroupsRequest::default()
                .when(v >= 4, |m| {
                    m.with_states_filter(vec!["Stable".into(), "Empty".into()])
                })
                .when(v >= 5, |m| {
                    m.with_types_filter(vec!["classic".into(), "consumer".into()])
                })
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::ListGroups, Direction::Response, |v| {
            let g = ListedGroup::default()
                .with_group_id(group("g"))
                .with_protocol_type("consumer".into())
                .when(v >= 4, |g| g.with_group_state("Stable".into()))
                .when(v >= 5, |g| g.with_group_type("classic".into()));
            ListGroupsResponse::default()
                .with_groups(vec![g.clone(), g])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::DeleteGroups, Direction::Request, |_| {
            DeleteGroupsRequest::default()
                .with_groups_names(vec![group("a"), group("b")])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::DeleteGroups, Direction::Response, |_| {
            let r =
                delete_groups_response::DeletableGroupResult::default().with_group_id(group("g"));
            DeleteGroupsResponse::default()
                .with_results(vec![r.clone(), r])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn offset_delete() {
        use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
        use offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
        each_version(ApiKey::OffsetDelete, Direction::Request, |_| {
            let p = OffsetDeleteRequestPartition::default().with_partition_index(1);
            let t = OffsetDeleteRequestTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![p.clone(), p]);
            OffsetDeleteRequest::default()
                .with_group_id(group("g"))
                .with_topics(vec![t.clone(), t])
        });
        each_version(ApiKey::OffsetDelete, Direction::Response, |_| {
            let p = OffsetDeleteResponsePartition::default().with_partition_index(1);
            let t = OffsetDeleteResponseTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![p.clone(), p]);
            OffsetDeleteResponse::default().with_topics(vec![t.clone(), t])
        });
    }

    #[test]
    fn consumer_group_heartbeat() {
        use consumer_group_heartbeat_request::TopicPartitions as RequestTopicPartitions;
        use consumer_group_heartbeat_response::{Assignment, TopicPartitions};
        each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Request, |v| {
            let tp = RequestTopicPartitions::default()
                .with_topic_id(TOPIC_ID.parse().unwrap())
                .with_partitions(vec![0, 1]);
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group("g"))
                .with_member_id("m".into())
                .with_instance_id(Some("i".into()))
                .with_rack_id(Some("r".into()))
                .with_subscribed_topic_names(Some(vec![topic("a"), topic("b")]))
                .when(v >= 1, |m| m.with_subscribed_topic_regex(Some("^t".into())))
                .with_server_assignor(Some("uniform".into()))
                .with_topic_partitions(Some(vec![tp.clone(), tp]))
                .with_unknown_tagged_field(7, tag())
        });
        // A steady-state heartbeat: unchanged fields are sent as nulls.
        each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Request, |_| {
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group("g"))
                .with_member_id("m".into())
                .with_subscribed_topic_names(None)
                .with_topic_partitions(None)
        });
        each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Response, |_| {
            let tp = TopicPartitions::default()
                .with_topic_id(TOPIC_ID.parse().unwrap())
                .with_partitions(vec![0, 1]);
            let assignment = Assignment::default()
                .with_topic_partitions(vec![tp.clone(), tp])
                .with_unknown_tagged_field(7, tag());
            ConsumerGroupHeartbeatResponse::default()
                .with_error_message(Some("e".into()))
                .with_member_id(Some("m".into()))
                .with_assignment(Some(assignment))
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::ConsumerGroupHeartbeat, Direction::Response, |_| {
            ConsumerGroupHeartbeatResponse::default().with_assignment(None)
        });
    }

    /// The crate reads any Assignment marker other than 1 as null, with no struct after it.
    #[test]
    fn consumer_group_heartbeat_assignment_marker_other_than_one_is_null() {
        let mut buf = BytesMut::new();
        ConsumerGroupHeartbeatResponse::default()
            .encode(&mut buf, 0)
            .unwrap();
        // throttle (4), error code (2), two null compact strings (1 + 1), epoch and interval
        // (4 + 4), then the marker.
        assert_eq!(buf[16], 0xff, "null marker");
        for marker in [0x00, 0x02, 0x80] {
            buf[16] = marker;
            check(ApiKey::ConsumerGroupHeartbeat, Direction::Response, 0, &buf).unwrap();
            let decoded =
                ConsumerGroupHeartbeatResponse::decode(&mut Bytes::copy_from_slice(&buf), 0)
                    .unwrap();
            assert!(decoded.assignment.is_none());
        }
    }

    #[test]
    fn consumer_group_describe() {
        use consumer_group_describe_response::{
            Assignment, DescribedGroup, Member, TopicPartitions,
        };
        each_version(ApiKey::ConsumerGroupDescribe, Direction::Request, |_| {
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![group("a"), group("b")])
                .with_include_authorized_operations(true)
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::ConsumerGroupDescribe, Direction::Response, |v| {
            let tp = TopicPartitions::default()
                .with_topic_id(TOPIC_ID.parse().unwrap())
                .with_topic_name(topic("t"))
                .with_partitions(vec![0, 1]);
            let assignment = Assignment::default()
                .with_topic_partitions(vec![tp.clone(), tp])
                .with_unknown_tagged_field(7, tag());
            let member = Member::default()
                .with_member_id("m".into())
                .with_instance_id(Some("i".into()))
                .with_rack_id(Some("r".into()))
                .with_client_id("c".into())
                .with_client_host("h".into())
                .with_subscribed_topic_names(vec![topic("a"), topic("b")])
                .with_subscribed_topic_regex(Some("^t".into()))
                .with_assignment(assignment.clone())
                .with_target_assignment(assignment)
                .when(v >= 1, |m| m.with_member_type(1));
            let g = DescribedGroup::default()
                .with_error_message(Some("e".into()))
                .with_group_id(group("g"))
                .with_group_state("Stable".into())
                .with_assignor_name("uniform".into())
                .with_members(vec![member.clone(), member]);
            ConsumerGroupDescribeResponse::default()
                .with_groups(vec![g.clone(), g])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn describe_and_list_transactions() {
        use describe_transactions_response::{TopicData, TransactionState};
        each_version(ApiKey::DescribeTransactions, Direction::Request, |_| {
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![txn("x"), txn("y")])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::DescribeTransactions, Direction::Response, |_| {
            let t = TopicData::default()
                .with_topic(topic("t"))
                .with_partitions(vec![0, 1]);
            let s = TransactionState::default()
                .with_transactional_id(txn("x"))
                .with_transaction_state("Ongoing".into())
                .with_topics(vec![t.clone(), t]);
            DescribeTransactionsResponse::default()
                .with_transaction_states(vec![s.clone(), s])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::ListTransactions, Direction::Request, |v| {
            ListTransactionsRequest::default()
                .with_state_filters(vec!["Ongoing".into(), "Empty".into()])
                .with_producer_id_filters(vec![ProducerId(1), ProducerId(2)])
                .when(v >= 1, |m| m.with_duration_filter(1000))
                .when(v >= 2, |m| {
                    m.with_transactional_id_pattern(Some("x.*".into()))
                })
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::ListTransactions, Direction::Response, |_| {
            let s = list_transactions_response::TransactionState::default()
                .with_transactional_id(txn("x"))
                .with_transaction_state("Ongoing".into());
            ListTransactionsResponse::default()
                .with_unknown_state_filters(vec!["Bogus".into(), "Other".into()])
                .with_transaction_states(vec![s.clone(), s])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn describe_producers() {
        use describe_producers_request::TopicRequest;
        use describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
        each_version(ApiKey::DescribeProducers, Direction::Request, |_| {
            let t = TopicRequest::default()
                .with_name(topic("t"))
                .with_partition_indexes(vec![0, 1]);
            DescribeProducersRequest::default()
                .with_topics(vec![t.clone(), t])
                .with_unknown_tagged_field(7, tag())
        });
        each_version(ApiKey::DescribeProducers, Direction::Response, |_| {
            let producer = ProducerState::default().with_producer_id(ProducerId(5));
            let p = PartitionResponse::default()
                .with_error_message(Some("e".into()))
                .with_active_producers(vec![producer.clone(), producer]);
            let t = TopicResponse::default()
                .with_name(topic("t"))
                .with_partitions(vec![p.clone(), p]);
            DescribeProducersResponse::default()
                .with_topics(vec![t.clone(), t])
                .with_unknown_tagged_field(7, tag())
        });
    }

    #[test]
    fn hostile_counts_are_rejected() {
        // OffsetFetch v8 request: a compact `groups` count of 0x7fffffff (varint 0x80000000).
        let body = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        assert!(matches!(
            check(ApiKey::OffsetFetch, Direction::Request, 8, &body),
            Err(DecodeError::ImpossibleCount { .. })
        ));
        // AddPartitionsToTxn v4 request: the same count for `transactions`.
        assert!(matches!(
            check(ApiKey::AddPartitionsToTxn, Direction::Request, 4, &body),
            Err(DecodeError::ImpossibleCount { .. })
        ));
        // DescribeGroups v0 request: an INT32 `groups` count of 0x7fffffff.
        let body = [0x7f, 0xff, 0xff, 0xff, 0x00];
        assert!(matches!(
            check(ApiKey::DescribeGroups, Direction::Request, 0, &body),
            Err(DecodeError::ImpossibleCount { .. })
        ));
    }
}
