//! Responses whose last array gets entries made by the proxy (one per denied name), encoded
//! one at a time as they are decided instead of held as decoded structures: a denied entry
//! then costs the bytes it takes in the response and nothing more, however many a request
//! names (a 216-byte `DescribedGroup` per one-byte group id otherwise).

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

use super::{EncodeError, schema};

/// A response body whose last field before its tagged fields is an array.
pub trait LastArray: Encodable {
    /// The array's element.
    type Entry: Encodable;
    /// The response's API key.
    const API: ApiKey;
    /// The array.
    fn entries(&mut self) -> &mut Vec<Self::Entry>;
    /// The response's unknown tagged fields.
    fn tags(&mut self) -> &mut BTreeMap<i32, Bytes>;
}

macro_rules! last_array {
    ($($response:ty => $field:ident: $entry:ty, $api:ident;)*) => {$(
        impl LastArray for $response {
            type Entry = $entry;
            const API: ApiKey = ApiKey::$api;
            fn entries(&mut self) -> &mut Vec<$entry> {
                &mut self.$field
            }
            fn tags(&mut self) -> &mut BTreeMap<i32, Bytes> {
                &mut self.unknown_tagged_fields
            }
        }
    )*};
}

last_array! {
    DescribeGroupsResponse => groups: describe_groups_response::DescribedGroup, DescribeGroups;
    DeleteGroupsResponse => results: delete_groups_response::DeletableGroupResult, DeleteGroups;
    ConsumerGroupDescribeResponse => groups: consumer_group_describe_response::DescribedGroup, ConsumerGroupDescribe;
    DescribeTransactionsResponse => transaction_states: describe_transactions_response::TransactionState, DescribeTransactions;
    FindCoordinatorResponse => coordinators: find_coordinator_response::Coordinator, FindCoordinator;
    DeleteTopicsResponse => responses: delete_topics_response::DeletableTopicResult, DeleteTopics;
}

/// Entries for the last array of a response of one version, encoded as they come.
pub struct Tail {
    version: i16,
    count: usize,
    bytes: BytesMut,
}

impl Tail {
    /// An empty tail for a response of `version`.
    pub fn new(version: i16) -> Self {
        Self {
            version,
            count: 0,
            bytes: BytesMut::new(),
        }
    }

    /// Appends one entry.
    pub fn push<T: Encodable>(&mut self, entry: &T) -> Result<(), EncodeError> {
        entry
            .encode(&mut self.bytes, self.version)
            .map_err(EncodeError)?;
        self.count += 1;
        Ok(())
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many entries were appended.
    pub fn len(&self) -> usize {
        self.count
    }
}

/// Encodes `response` with `tail`'s entries after those of its last array.
pub fn encode_with_tail<M: LastArray>(mut response: M, tail: &Tail) -> Result<Bytes, EncodeError> {
    let version = tail.version;
    let flexible = schema::first_flexible_version(M::API).is_some_and(|v| version >= v);
    let entries = std::mem::take(response.entries());
    let tags = std::mem::take(response.tags());
    // With no entries and no tags, the body ends with the empty array's count and (flexible
    // versions) an empty tagged-field section: what comes before is the head.
    let empty = super::encode_body(version, &response)?;
    let marker: &[u8] = if flexible { &[1, 0] } else { &[0, 0, 0, 0] };
    if !empty.ends_with(marker) {
        return Err(EncodeError(anyhow::anyhow!(
            "{:?} v{version}: its last field is not an empty array",
            M::API
        )));
    }
    let head = &empty[..empty.len() - marker.len()];
    let count = entries.len() + tail.count;
    let mut out = BytesMut::with_capacity(empty.len() + tail.bytes.len() + 64 * entries.len());
    out.put_slice(head);
    if flexible {
        put_uvarint(
            &mut out,
            u32::try_from(count + 1).map_err(|_| too_many(count))?,
        );
    } else {
        out.put_i32(i32::try_from(count).map_err(|_| too_many(count))?);
    }
    for e in &entries {
        e.encode(&mut out, version).map_err(EncodeError)?;
    }
    out.put_slice(&tail.bytes);
    if flexible {
        put_uvarint(&mut out, tags.len() as u32);
        for (tag, value) in &tags {
            put_uvarint(&mut out, *tag as u32);
            put_uvarint(&mut out, value.len() as u32);
            out.put_slice(value);
        }
    }
    Ok(out.freeze())
}

fn too_many(count: usize) -> EncodeError {
    EncodeError(anyhow::anyhow!("{count} entries do not fit one array"))
}

fn put_uvarint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::kafka::encode_body;

    /// Encoding with a tail gives the bytes of the same response with the tail's entries in
    /// its array, for every version: the array is the last field.
    fn same_bytes<M: LastArray + Default + Clone>(
        versions: std::ops::RangeInclusive<i16>,
        entry: impl Fn(&str) -> M::Entry,
        tag: bool,
    ) where
        M::Entry: Clone,
    {
        for version in versions {
            let mut whole = M::default();
            whole.entries().extend(["a", "bb", "ccc"].map(&entry));
            if tag && schema::first_flexible_version(M::API).is_some_and(|v| version >= v) {
                whole.tags().insert(7, Bytes::from_static(b"xyz"));
            }
            let expected = encode_body(version, &whole)
                .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", M::API));
            let mut part = whole.clone();
            part.entries().truncate(1);
            let mut tail = Tail::new(version);
            for e in &whole.clone().entries()[1..] {
                tail.push(e).expect("entry encodes");
            }
            let got = encode_with_tail(part, &tail).expect("encodes with tail");
            assert_eq!(got, expected, "{:?} v{version}", M::API);
        }
    }

    fn name(n: &str) -> StrBytes {
        StrBytes::from_string(n.to_owned())
    }

    #[test]
    fn every_response_and_version_ends_with_its_array() {
        same_bytes::<DescribeGroupsResponse>(
            0..=6,
            |n| {
                describe_groups_response::DescribedGroup::default()
                    .with_group_id(GroupId(name(n)))
                    .with_error_code(30)
            },
            true,
        );
        same_bytes::<DeleteGroupsResponse>(
            0..=2,
            |n| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(GroupId(name(n)))
                    .with_error_code(30)
            },
            true,
        );
        same_bytes::<ConsumerGroupDescribeResponse>(
            0..=1,
            |n| {
                consumer_group_describe_response::DescribedGroup::default()
                    .with_group_id(GroupId(name(n)))
                    .with_error_code(30)
            },
            true,
        );
        same_bytes::<DescribeTransactionsResponse>(
            0..=0,
            |n| {
                describe_transactions_response::TransactionState::default()
                    .with_transactional_id(TransactionalId(name(n)))
                    .with_error_code(53)
            },
            true,
        );
        same_bytes::<FindCoordinatorResponse>(
            4..=6,
            |n| {
                find_coordinator_response::Coordinator::default()
                    .with_key(name(n))
                    .with_error_code(30)
            },
            true,
        );
        same_bytes::<DeleteTopicsResponse>(
            1..=5,
            |n| {
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(Some(TopicName(name(n))))
                    .with_error_code(29)
            },
            true,
        );
    }

    #[test]
    fn long_arrays_get_a_long_count() {
        let entry = delete_groups_response::DeletableGroupResult::default().with_error_code(30);
        let mut tail = Tail::new(2);
        for _ in 0..300 {
            tail.push(&entry).expect("encodes");
        }
        let mut whole = DeleteGroupsResponse::default();
        whole.results = vec![entry; 300];
        let got = encode_with_tail(DeleteGroupsResponse::default(), &tail).expect("encodes");
        assert_eq!(got, encode_body(2, &whole).expect("encodes"));
    }
}
