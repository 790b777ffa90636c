//! A virtual cluster's namespace on a shared upstream cluster: every topic, group and
//! transactional id a client names gains the namespace's prefix on the way to the broker and
//! loses it on the way back, so that organizations sharing one Kafka cluster each see a flat
//! world of their own. Listings show only the namespace (internal topics included, which have
//! no prefix, stay hidden).
//!
//! Only the API keys of [`serves`] are offered on a namespaced cluster; a request of any other
//! closes the connection, as for any key the proxy does not offer. Record batches are carried
//! as the bytes that arrived.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AlterConfigsRequest, ApiKey,
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, DescribeProducersRequest,
    DescribeTopicPartitionsRequest, DescribeTransactionsRequest, EndTxnRequest, FetchRequest,
    FindCoordinatorRequest, GroupId, HeartbeatRequest, IncrementalAlterConfigsRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, ListTransactionsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest,
    SyncGroupRequest, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Encodable, Request, StrBytes};

use crate::kafka::pieces::{self, Frame, Rename, RenameError};
use crate::kafka::{self, DecodeError, Direction, EncodeError, error_code};

/// Why a frame could not be carried across the namespace; the connection closes rather than
/// let a name cross it unchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NamespaceError {
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Encode(#[from] EncodeError),
    /// The broker answered with a name outside the namespace where only the client's names
    /// can be.
    #[error("the broker answered with a name outside the namespace")]
    Outside,
    /// A FindCoordinator key type other than a group or a transaction.
    #[error("coordinator key type {0} is not served in a namespace")]
    KeyType(i8),
}

/// Whether requests of `api` are served on a namespaced cluster. Not served: what acts on the
/// shared cluster as a whole rather than on a tenant's names (partition reassignments, leader
/// elections, log directories, client quotas, the upstream's own ACLs and credentials belong
/// to the platform that runs it), and client telemetry, which would reach the shared
/// cluster's metrics unlabelled.
pub(crate) fn serves(api: ApiKey) -> bool {
    use ApiKey::*;
    matches!(
        api,
        ApiVersions
            | SaslHandshake
            | SaslAuthenticate
            | Metadata
            | Produce
            | Fetch
            | ListOffsets
            | OffsetCommit
            | OffsetFetch
            | FindCoordinator
            | JoinGroup
            | Heartbeat
            | LeaveGroup
            | SyncGroup
            | DescribeGroups
            | ListGroups
            | CreateTopics
            | DeleteTopics
            | InitProducerId
            | OffsetForLeaderEpoch
            | AddPartitionsToTxn
            | AddOffsetsToTxn
            | EndTxn
            | TxnOffsetCommit
            | DeleteGroups
            | CreatePartitions
            | DeleteRecords
            | OffsetDelete
            | DescribeConfigs
            | AlterConfigs
            | IncrementalAlterConfigs
            | DescribeCluster
            | DescribeTopicPartitions
            | ConsumerGroupHeartbeat
            | ConsumerGroupDescribe
            | ListTransactions
            | DescribeTransactions
            | DescribeProducers
    )
}

/// Config resources whose names live in the namespace: topics (2) and groups (32). Brokers and
/// the others keep their names.
fn named_resource(resource_type: i8) -> bool {
    matches!(resource_type, 2 | 32)
}

/// What a response needs to know of its request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Asked {
    /// A Metadata request that named topics by ID: an answer outside the namespace becomes
    /// UNKNOWN_TOPIC_ID, as for an ID that does not exist, instead of being left out.
    by_id: bool,
}

/// A namespace: its prefix, e.g. `acme.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    prefix: String,
}

impl Namespace {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    fn add(&self, name: &StrBytes) -> StrBytes {
        StrBytes::from_string(format!("{}{}", self.prefix, name.as_str()))
    }

    fn topic(&self, t: &mut TopicName) {
        t.0 = self.add(&t.0);
    }

    fn group(&self, g: &mut GroupId) {
        g.0 = self.add(&g.0);
    }

    fn transaction(&self, t: &mut Option<TransactionalId>) {
        if let Some(t) = t {
            self.transaction_id(t);
        }
    }

    fn transaction_id(&self, t: &mut TransactionalId) {
        t.0 = self.add(&t.0);
    }

    /// A subscription pattern (KIP-848, RE2, matched against whole topic names) that matches
    /// within the namespace only: the escaped prefix, then the client's pattern.
    fn regex(&self, pattern: &str) -> String {
        format!("{}(?:{pattern})", self.prefix.replace('.', "\\."))
    }

    /// The client's pattern back from [`Namespace::regex`].
    fn unregex(&self, pattern: &str) -> Option<String> {
        let opening = format!("{}(?:", self.prefix.replace('.', "\\."));
        pattern
            .strip_prefix(&opening)?
            .strip_suffix(')')
            .map(str::to_owned)
    }

    /// `name` without the prefix, `None` when it is outside the namespace.
    fn strip(&self, name: &StrBytes) -> Option<StrBytes> {
        name.as_str()
            .strip_prefix(&self.prefix)
            .map(|rest| StrBytes::from_string(rest.to_owned()))
    }

    /// A broker's error message without the prefix in the names it quotes ("Topic
    /// 'acme.orders' already exists." reads "Topic 'orders' already exists.").
    fn message(&self, m: &mut Option<StrBytes>) {
        if let Some(text) = m
            && text.contains(self.prefix.as_str())
        {
            *text = StrBytes::from_string(text.replace(self.prefix.as_str(), ""));
        }
    }

    fn strip_topic(&self, t: &mut TopicName) -> Result<(), NamespaceError> {
        t.0 = self.strip(&t.0).ok_or(NamespaceError::Outside)?;
        Ok(())
    }

    /// A config resource's name into the namespace, if it is one whose name lives there.
    fn config_resource(&self, resource_type: i8, name: &mut StrBytes) {
        if named_resource(resource_type) {
            *name = self.add(name);
        }
    }

    /// A config resource's result back out of the namespace, with its message.
    fn strip_config(
        &self,
        resource_type: i8,
        name: &mut StrBytes,
        message: &mut Option<StrBytes>,
    ) -> Result<(), NamespaceError> {
        if named_resource(resource_type) {
            *name = self.strip(name).ok_or(NamespaceError::Outside)?;
        }
        self.message(message);
        Ok(())
    }

    fn strip_group(&self, g: &mut GroupId) -> Result<(), NamespaceError> {
        g.0 = self.strip(&g.0).ok_or(NamespaceError::Outside)?;
        Ok(())
    }

    /// The request frame with every name the client gave prefixed, and what its response
    /// needs to know of it.
    pub(crate) fn request(
        &self,
        api: ApiKey,
        version: i16,
        frame: &Bytes,
        body_offset: usize,
    ) -> Result<(Frame, Asked), NamespaceError> {
        let mut asked = Asked::default();
        if api == ApiKey::Produce {
            // Changed at the byte level: the record batches go on as the bytes that arrived.
            let frame = pieces::rename(
                api,
                Direction::Request,
                version,
                Some(&frame[4..body_offset]),
                &frame.slice(body_offset..),
                Rename::Add(self.prefix.as_bytes()),
            )?;
            return Ok((frame, asked));
        }
        let rewritten = match api {
            ApiKey::Metadata => rewrite::<MetadataRequest>(frame, body_offset, version, |r| {
                for t in r.topics.iter_mut().flatten() {
                    match &mut t.name {
                        Some(name) => self.topic(name),
                        None => asked.by_id = true,
                    }
                }
                Ok(())
            })?,
            ApiKey::Fetch => rewrite::<FetchRequest>(frame, body_offset, version, |r| {
                r.topics.iter_mut().for_each(|t| self.topic(&mut t.topic));
                r.forgotten_topics_data
                    .iter_mut()
                    .for_each(|t| self.topic(&mut t.topic));
                Ok(())
            })?,
            ApiKey::ListOffsets => {
                rewrite::<ListOffsetsRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::OffsetCommit => {
                rewrite::<OffsetCommitRequest>(frame, body_offset, version, |r| {
                    self.group(&mut r.group_id);
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::OffsetFetch => {
                rewrite::<OffsetFetchRequest>(frame, body_offset, version, |r| {
                    // One group before v8, a list of them from v8.
                    if version < 8 {
                        self.group(&mut r.group_id);
                    }
                    for t in r.topics.iter_mut().flatten() {
                        self.topic(&mut t.name);
                    }
                    for g in &mut r.groups {
                        self.group(&mut g.group_id);
                        for t in g.topics.iter_mut().flatten() {
                            self.topic(&mut t.name);
                        }
                    }
                    Ok(())
                })?
            }
            ApiKey::FindCoordinator => {
                rewrite::<FindCoordinatorRequest>(frame, body_offset, version, |r| {
                    // 0: a group, 1: a transactional id; both live in the namespace.
                    if !matches!(r.key_type, 0 | 1) {
                        return Err(NamespaceError::KeyType(r.key_type));
                    }
                    if !r.key.is_empty() || version < 4 {
                        r.key = self.add(&r.key);
                    }
                    for k in &mut r.coordinator_keys {
                        *k = self.add(k);
                    }
                    Ok(())
                })?
            }
            ApiKey::JoinGroup => rewrite::<JoinGroupRequest>(frame, body_offset, version, |r| {
                self.group(&mut r.group_id);
                Ok(())
            })?,
            ApiKey::Heartbeat => rewrite::<HeartbeatRequest>(frame, body_offset, version, |r| {
                self.group(&mut r.group_id);
                Ok(())
            })?,
            ApiKey::LeaveGroup => rewrite::<LeaveGroupRequest>(frame, body_offset, version, |r| {
                self.group(&mut r.group_id);
                Ok(())
            })?,
            ApiKey::SyncGroup => rewrite::<SyncGroupRequest>(frame, body_offset, version, |r| {
                self.group(&mut r.group_id);
                Ok(())
            })?,
            ApiKey::DescribeGroups => {
                rewrite::<DescribeGroupsRequest>(frame, body_offset, version, |r| {
                    r.groups.iter_mut().for_each(|g| self.group(g));
                    Ok(())
                })?
            }
            ApiKey::CreateTopics => {
                rewrite::<CreateTopicsRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::DeleteTopics => {
                rewrite::<DeleteTopicsRequest>(frame, body_offset, version, |r| {
                    r.topic_names.iter_mut().for_each(|t| self.topic(t));
                    for t in &mut r.topics {
                        match &mut t.name {
                            Some(name) => self.topic(name),
                            None => asked.by_id = true,
                        }
                    }
                    Ok(())
                })?
            }
            ApiKey::InitProducerId => {
                rewrite::<InitProducerIdRequest>(frame, body_offset, version, |r| {
                    self.transaction(&mut r.transactional_id);
                    Ok(())
                })?
            }
            ApiKey::OffsetForLeaderEpoch => {
                rewrite::<OffsetForLeaderEpochRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.topic));
                    Ok(())
                })?
            }
            ApiKey::AddPartitionsToTxn => {
                rewrite::<AddPartitionsToTxnRequest>(frame, body_offset, version, |r| {
                    // One transaction before v4, a list of them from v4.
                    if version < 4 {
                        self.transaction_id(&mut r.v3_and_below_transactional_id);
                        for t in &mut r.v3_and_below_topics {
                            self.topic(&mut t.name);
                        }
                    }
                    for x in &mut r.transactions {
                        self.transaction_id(&mut x.transactional_id);
                        x.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    }
                    Ok(())
                })?
            }
            ApiKey::AddOffsetsToTxn => {
                rewrite::<AddOffsetsToTxnRequest>(frame, body_offset, version, |r| {
                    self.transaction_id(&mut r.transactional_id);
                    self.group(&mut r.group_id);
                    Ok(())
                })?
            }
            ApiKey::EndTxn => rewrite::<EndTxnRequest>(frame, body_offset, version, |r| {
                self.transaction_id(&mut r.transactional_id);
                Ok(())
            })?,
            ApiKey::TxnOffsetCommit => {
                rewrite::<TxnOffsetCommitRequest>(frame, body_offset, version, |r| {
                    self.transaction_id(&mut r.transactional_id);
                    self.group(&mut r.group_id);
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::DeleteGroups => {
                rewrite::<DeleteGroupsRequest>(frame, body_offset, version, |r| {
                    r.groups_names.iter_mut().for_each(|g| self.group(g));
                    Ok(())
                })?
            }
            ApiKey::CreatePartitions => {
                rewrite::<CreatePartitionsRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::DeleteRecords => {
                rewrite::<DeleteRecordsRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::OffsetDelete => {
                rewrite::<OffsetDeleteRequest>(frame, body_offset, version, |r| {
                    self.group(&mut r.group_id);
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            ApiKey::DescribeConfigs => {
                rewrite::<DescribeConfigsRequest>(frame, body_offset, version, |r| {
                    for c in &mut r.resources {
                        self.config_resource(c.resource_type, &mut c.resource_name);
                    }
                    Ok(())
                })?
            }
            ApiKey::AlterConfigs => {
                rewrite::<AlterConfigsRequest>(frame, body_offset, version, |r| {
                    for c in &mut r.resources {
                        self.config_resource(c.resource_type, &mut c.resource_name);
                    }
                    Ok(())
                })?
            }
            ApiKey::IncrementalAlterConfigs => {
                rewrite::<IncrementalAlterConfigsRequest>(frame, body_offset, version, |r| {
                    for c in &mut r.resources {
                        self.config_resource(c.resource_type, &mut c.resource_name);
                    }
                    Ok(())
                })?
            }
            ApiKey::DescribeTopicPartitions => {
                rewrite::<DescribeTopicPartitionsRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    if let Some(c) = &mut r.cursor {
                        self.topic(&mut c.topic_name);
                    }
                    Ok(())
                })?
            }
            ApiKey::ConsumerGroupHeartbeat => {
                rewrite::<ConsumerGroupHeartbeatRequest>(frame, body_offset, version, |r| {
                    self.group(&mut r.group_id);
                    for t in r.subscribed_topic_names.iter_mut().flatten() {
                        self.topic(t);
                    }
                    if let Some(regex) = &mut r.subscribed_topic_regex {
                        *regex = StrBytes::from_string(self.regex(regex));
                    }
                    Ok(())
                })?
            }
            ApiKey::ConsumerGroupDescribe => {
                rewrite::<ConsumerGroupDescribeRequest>(frame, body_offset, version, |r| {
                    r.group_ids.iter_mut().for_each(|g| self.group(g));
                    Ok(())
                })?
            }
            ApiKey::DescribeTransactions => {
                rewrite::<DescribeTransactionsRequest>(frame, body_offset, version, |r| {
                    r.transactional_ids
                        .iter_mut()
                        .for_each(|t| self.transaction_id(t));
                    Ok(())
                })?
            }
            ApiKey::DescribeProducers => {
                rewrite::<DescribeProducersRequest>(frame, body_offset, version, |r| {
                    r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
                    Ok(())
                })?
            }
            // No names: ApiVersions, SASL, ListGroups, ListTransactions, DescribeCluster.
            _ => frame.clone(),
        };
        Ok((Frame::Whole(rewritten), asked))
    }

    /// Whether responses of `api` carry names.
    pub(crate) fn rewrites_response(api: ApiKey) -> bool {
        serves(api)
            && !matches!(
                api,
                ApiKey::ApiVersions
                    | ApiKey::SaslHandshake
                    | ApiKey::SaslAuthenticate
                    | ApiKey::JoinGroup
                    | ApiKey::Heartbeat
                    | ApiKey::LeaveGroup
                    | ApiKey::SyncGroup
                    | ApiKey::InitProducerId
                    | ApiKey::AddOffsetsToTxn
                    | ApiKey::EndTxn
                    | ApiKey::DescribeCluster
                    | ApiKey::ConsumerGroupHeartbeat
            )
    }

    /// A response body with every name back in the client's terms; listings keep only the
    /// namespace. With the response `header` (the frame's bytes between its length and its
    /// body), the whole frame is answered, made in one buffer.
    pub(crate) fn response(
        &self,
        api: ApiKey,
        version: i16,
        body: &Bytes,
        asked: Asked,
        header: Option<&[u8]>,
    ) -> Result<Frame, NamespaceError> {
        if only_topic_names(api) {
            // Changed at the byte level: a Fetch response's records are never copied.
            let prefix = self.prefix.as_bytes();
            return Ok(pieces::rename(
                api,
                Direction::Response,
                version,
                header,
                body,
                Rename::Strip(prefix),
            )?);
        }
        let out = Out { version, header };
        Ok(Frame::Whole(match api {
            ApiKey::Metadata => answer::<MetadataRequest>(body, out, |r| {
                r.topics = std::mem::take(&mut r.topics)
                    .into_iter()
                    .filter_map(|mut t| {
                        let Some(name) = &t.name else {
                            return Some(t);
                        };
                        match self.strip(&name.0) {
                            Some(inside) => {
                                t.name = Some(TopicName(inside));
                                Some(t)
                            }
                            // Asked by ID: answered as an ID that does not exist.
                            None if asked.by_id => {
                                t.name = None;
                                t.error_code = error_code::UNKNOWN_TOPIC_ID;
                                t.is_internal = false;
                                t.partitions.clear();
                                t.topic_authorized_operations = i32::MIN;
                                Some(t)
                            }
                            None => None,
                        }
                    })
                    .collect();
                Ok(())
            })?,
            ApiKey::Produce => answer::<ProduceRequest>(body, out, |r| {
                for t in &mut r.responses {
                    self.strip_topic(&mut t.name)?;
                    for p in &mut t.partition_responses {
                        self.message(&mut p.error_message);
                    }
                }
                Ok(())
            })?,
            ApiKey::OffsetFetch => answer::<OffsetFetchRequest>(body, out, |r| {
                for t in &mut r.topics {
                    self.strip_topic(&mut t.name)?;
                }
                for g in &mut r.groups {
                    self.strip_group(&mut g.group_id)?;
                    for t in &mut g.topics {
                        self.strip_topic(&mut t.name)?;
                    }
                }
                Ok(())
            })?,
            ApiKey::FindCoordinator => answer::<FindCoordinatorRequest>(body, out, |r| {
                self.message(&mut r.error_message);
                for c in &mut r.coordinators {
                    c.key = self.strip(&c.key).ok_or(NamespaceError::Outside)?;
                    self.message(&mut c.error_message);
                }
                Ok(())
            })?,
            ApiKey::DescribeGroups => answer::<DescribeGroupsRequest>(body, out, |r| {
                for g in &mut r.groups {
                    self.strip_group(&mut g.group_id)?;
                    self.message(&mut g.error_message);
                }
                Ok(())
            })?,
            ApiKey::ListGroups => answer::<ListGroupsRequest>(body, out, |r| {
                r.groups = std::mem::take(&mut r.groups)
                    .into_iter()
                    .filter_map(|mut g| {
                        g.group_id.0 = self.strip(&g.group_id.0)?;
                        Some(g)
                    })
                    .collect();
                Ok(())
            })?,
            ApiKey::CreateTopics => answer::<CreateTopicsRequest>(body, out, |r| {
                for t in &mut r.topics {
                    self.strip_topic(&mut t.name)?;
                    self.message(&mut t.error_message);
                }
                Ok(())
            })?,
            ApiKey::DeleteTopics => answer::<DeleteTopicsRequest>(body, out, |r| {
                for t in &mut r.responses {
                    self.message(&mut t.error_message);
                    let Some(name) = &mut t.name else {
                        continue;
                    };
                    match self.strip(&name.0) {
                        Some(inside) => name.0 = inside,
                        None if asked.by_id => {
                            t.name = None;
                            t.error_code = error_code::UNKNOWN_TOPIC_ID;
                        }
                        None => return Err(NamespaceError::Outside),
                    }
                }
                Ok(())
            })?,
            ApiKey::AddPartitionsToTxn => answer::<AddPartitionsToTxnRequest>(body, out, |r| {
                for t in &mut r.results_by_topic_v3_and_below {
                    self.strip_topic(&mut t.name)?;
                }
                for x in &mut r.results_by_transaction {
                    x.transactional_id.0 = self
                        .strip(&x.transactional_id.0)
                        .ok_or(NamespaceError::Outside)?;
                    for t in &mut x.topic_results {
                        self.strip_topic(&mut t.name)?;
                    }
                }
                Ok(())
            })?,
            ApiKey::DeleteGroups => answer::<DeleteGroupsRequest>(body, out, |r| {
                r.results
                    .iter_mut()
                    .try_for_each(|g| self.strip_group(&mut g.group_id))
            })?,
            ApiKey::CreatePartitions => answer::<CreatePartitionsRequest>(body, out, |r| {
                for t in &mut r.results {
                    self.strip_topic(&mut t.name)?;
                    self.message(&mut t.error_message);
                }
                Ok(())
            })?,
            ApiKey::DescribeConfigs => answer::<DescribeConfigsRequest>(body, out, |r| {
                r.results.iter_mut().try_for_each(|c| {
                    self.strip_config(c.resource_type, &mut c.resource_name, &mut c.error_message)
                })
            })?,
            ApiKey::AlterConfigs => answer::<AlterConfigsRequest>(body, out, |r| {
                r.responses.iter_mut().try_for_each(|c| {
                    self.strip_config(c.resource_type, &mut c.resource_name, &mut c.error_message)
                })
            })?,
            ApiKey::IncrementalAlterConfigs => {
                answer::<IncrementalAlterConfigsRequest>(body, out, |r| {
                    r.responses.iter_mut().try_for_each(|c| {
                        self.strip_config(
                            c.resource_type,
                            &mut c.resource_name,
                            &mut c.error_message,
                        )
                    })
                })?
            }
            ApiKey::ListTransactions => answer::<ListTransactionsRequest>(body, out, |r| {
                r.transaction_states = std::mem::take(&mut r.transaction_states)
                    .into_iter()
                    .filter_map(|mut t| {
                        t.transactional_id.0 = self.strip(&t.transactional_id.0)?;
                        Some(t)
                    })
                    .collect();
                Ok(())
            })?,
            ApiKey::DescribeTransactions => {
                answer::<DescribeTransactionsRequest>(body, out, |r| {
                    for t in &mut r.transaction_states {
                        t.transactional_id.0 = self
                            .strip(&t.transactional_id.0)
                            .ok_or(NamespaceError::Outside)?;
                        for topic in &mut t.topics {
                            self.strip_topic(&mut topic.topic)?;
                        }
                    }
                    Ok(())
                })?
            }
            ApiKey::DescribeProducers => answer::<DescribeProducersRequest>(body, out, |r| {
                for t in &mut r.topics {
                    self.strip_topic(&mut t.name)?;
                    for p in &mut t.partitions {
                        self.message(&mut p.error_message);
                    }
                }
                Ok(())
            })?,
            ApiKey::DescribeTopicPartitions => {
                answer::<DescribeTopicPartitionsRequest>(body, out, |r| {
                    // Listed without names: only the namespace's.
                    r.topics = std::mem::take(&mut r.topics)
                        .into_iter()
                        .filter_map(|mut t| {
                            if let Some(name) = &mut t.name {
                                name.0 = self.strip(&name.0)?;
                            }
                            Some(t)
                        })
                        .collect();
                    // A cursor past the namespace ends its listing.
                    if let Some(c) = &mut r.next_cursor {
                        match self.strip(&c.topic_name.0) {
                            Some(inside) => c.topic_name.0 = inside,
                            None => r.next_cursor = None,
                        }
                    }
                    Ok(())
                })?
            }
            ApiKey::ConsumerGroupDescribe => {
                answer::<ConsumerGroupDescribeRequest>(body, out, |r| {
                    for g in &mut r.groups {
                        self.strip_group(&mut g.group_id)?;
                        self.message(&mut g.error_message);
                        for m in &mut g.members {
                            for t in &mut m.subscribed_topic_names {
                                self.strip_topic(t)?;
                            }
                            if let Some(regex) = &mut m.subscribed_topic_regex {
                                let mine = self.unregex(regex).ok_or(NamespaceError::Outside)?;
                                *regex = StrBytes::from_string(mine);
                            }
                            for assigned in [&mut m.assignment, &mut m.target_assignment] {
                                for t in &mut assigned.topic_partitions {
                                    self.strip_topic(&mut t.topic_name)?;
                                }
                            }
                        }
                    }
                    Ok(())
                })?
            }
            _ => answer_as_is(body, out)?,
        }))
    }
}

/// Responses whose only names are topics' (no error messages that quote them, no listings):
/// the prefix comes off at the byte level.
fn only_topic_names(api: ApiKey) -> bool {
    use ApiKey::*;
    matches!(
        api,
        Fetch
            | ListOffsets
            | OffsetCommit
            | OffsetForLeaderEpoch
            | TxnOffsetCommit
            | DeleteRecords
            | OffsetDelete
    )
}

impl From<RenameError> for NamespaceError {
    fn from(e: RenameError) -> Self {
        match e {
            RenameError::Decode(e) => NamespaceError::Decode(e),
            RenameError::Unprefixed => NamespaceError::Outside,
            RenameError::TooLarge => {
                NamespaceError::Encode(EncodeError(anyhow::anyhow!("frame too large")))
            }
        }
    }
}

/// Decodes a request body, changes it, and answers the frame with the new body.
fn rewrite<R: Request>(
    frame: &Bytes,
    body_offset: usize,
    version: i16,
    change: impl FnOnce(&mut R) -> Result<(), NamespaceError>,
) -> Result<Bytes, NamespaceError> {
    let mut r: R = kafka::decode_request(version, &frame.slice(body_offset..))?;
    change(&mut r)?;
    let body = kafka::encode_body(version, &r)?;
    Ok(kafka::replace_body(frame, body_offset, &body)?)
}

/// How an answer is made: at which version, and as a whole frame with this header or as a body.
#[derive(Clone, Copy)]
struct Out<'a> {
    version: i16,
    header: Option<&'a [u8]>,
}

/// Decodes a response body, changes it, and answers the new body (or frame), encoded once into
/// a buffer of the size it needs.
fn answer<R: Request>(
    body: &Bytes,
    out: Out<'_>,
    change: impl FnOnce(&mut R::Response) -> Result<(), NamespaceError>,
) -> Result<Bytes, NamespaceError> {
    let mut r = kafka::decode_response::<R>(out.version, body)?;
    change(&mut r)?;
    framed(out, body.len() + 64, |buf| {
        r.encode(buf, out.version)
            .map_err(|e| NamespaceError::Encode(EncodeError(e)))
    })
}

/// A body that needs no change, as the body or the frame `out` asks for.
fn answer_as_is(body: &Bytes, out: Out<'_>) -> Result<Bytes, NamespaceError> {
    if out.header.is_none() {
        return Ok(body.clone());
    }
    framed(out, body.len(), |buf| {
        buf.put_slice(body);
        Ok(())
    })
}

/// The body `write` puts, alone or after `out`'s header and the frame's length.
fn framed(
    out: Out<'_>,
    size: usize,
    write: impl FnOnce(&mut BytesMut) -> Result<(), NamespaceError>,
) -> Result<Bytes, NamespaceError> {
    let header = out.header.unwrap_or_default();
    let mut buf = BytesMut::with_capacity(4 + header.len() + size);
    if out.header.is_some() {
        buf.put_i32(0);
        buf.put_slice(header);
    }
    write(&mut buf)?;
    if out.header.is_some() {
        let len = i32::try_from(buf.len() - 4)
            .map_err(|_| NamespaceError::Encode(EncodeError(anyhow::anyhow!("frame too large"))))?;
        buf[..4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    //! Byte level, at every version the proxy forwards: each name a request carries gains the
    //! prefix, each name a response carries loses it, listings keep only the namespace.

    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;
    use crate::kafka::header::parse_request_header;

    fn ns() -> Namespace {
        Namespace::new("acme.")
    }

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }

    fn topic(v: &str) -> TopicName {
        TopicName(s(v))
    }

    fn group(v: &str) -> GroupId {
        GroupId(s(v))
    }

    /// Every version of `api` the proxy forwards.
    fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
        let row = crate::kafka::versions::supported(api).expect("supported");
        row.min..=row.max
    }

    /// `request` encoded at `version`, across the namespace, decoded again.
    fn across<R: Request + Encodable>(api: ApiKey, version: i16, request: &R) -> (R, Asked) {
        let frame = kafka::encode_request(api, version, 7, "client", request).expect("encode");
        let header = parse_request_header(&frame).expect("header");
        let (out, asked) = ns()
            .request(api, version, &frame, header.body_offset)
            .expect("across");
        let out = out.into_bytes();
        let header = parse_request_header(&out).expect("header kept");
        assert_eq!(header.correlation_id, 7);
        let body = out.slice(header.body_offset..);
        (
            kafka::decode_request(version, &body).expect("decode"),
            asked,
        )
    }

    /// `response` encoded at `version`, back across the namespace, decoded again.
    fn back<R: Request>(
        api: ApiKey,
        version: i16,
        response: &R::Response,
        asked: Asked,
    ) -> R::Response
    where
        R::Response: Encodable,
    {
        let body = kafka::encode_body(version, response).expect("encode");
        let out = ns()
            .response(api, version, &body, asked, None)
            .expect("back");
        kafka::decode_response::<R>(version, &out.into_bytes()).expect("decode")
    }

    #[test]
    fn data_requests_and_responses() {
        for v in versions(ApiKey::Produce) {
            let r = ProduceRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tx"))).filter(|_| v >= 3))
                .with_topic_data(vec![
                    produce_request::TopicProduceData::default().with_name(topic("orders")),
                ]);
            let (r, _) = across(ApiKey::Produce, v, &r);
            assert_eq!(r.topic_data[0].name.0.as_str(), "acme.orders", "v{v}");
            if v >= 3 {
                assert_eq!(r.transactional_id.unwrap().0.as_str(), "acme.tx");
            }
            let answer = ProduceResponse::default().with_responses(vec![
                produce_response::TopicProduceResponse::default().with_name(topic("acme.orders")),
            ]);
            let answer = back::<ProduceRequest>(ApiKey::Produce, v, &answer, Asked::default());
            assert_eq!(answer.responses[0].name.0.as_str(), "orders");
        }
        for v in versions(ApiKey::Fetch) {
            let r = FetchRequest::default()
                .with_topics(vec![
                    fetch_request::FetchTopic::default().with_topic(topic("orders")),
                ])
                .with_forgotten_topics_data(if v >= 7 {
                    vec![fetch_request::ForgottenTopic::default().with_topic(topic("old"))]
                } else {
                    Vec::new()
                });
            let (r, _) = across(ApiKey::Fetch, v, &r);
            assert_eq!(r.topics[0].topic.0.as_str(), "acme.orders", "v{v}");
            if v >= 7 {
                assert_eq!(r.forgotten_topics_data[0].topic.0.as_str(), "acme.old");
            }
            let answer = FetchResponse::default().with_responses(vec![
                fetch_response::FetchableTopicResponse::default().with_topic(topic("acme.orders")),
            ]);
            let answer = back::<FetchRequest>(ApiKey::Fetch, v, &answer, Asked::default());
            assert_eq!(answer.responses[0].topic.0.as_str(), "orders");
        }
        for v in versions(ApiKey::ListOffsets) {
            let r = ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default().with_name(topic("orders")),
            ]);
            let (r, _) = across(ApiKey::ListOffsets, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
            let answer = ListOffsetsResponse::default().with_topics(vec![
                list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(topic("acme.orders")),
            ]);
            let answer =
                back::<ListOffsetsRequest>(ApiKey::ListOffsets, v, &answer, Asked::default());
            assert_eq!(answer.topics[0].name.0.as_str(), "orders");
        }
        for v in versions(ApiKey::OffsetForLeaderEpoch) {
            let r = OffsetForLeaderEpochRequest::default().with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic("orders")),
            ]);
            let (r, _) = across(ApiKey::OffsetForLeaderEpoch, v, &r);
            assert_eq!(r.topics[0].topic.0.as_str(), "acme.orders", "v{v}");
            let answer = OffsetForLeaderEpochResponse::default().with_topics(vec![
                offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                    .with_topic(topic("acme.orders")),
            ]);
            let answer = back::<OffsetForLeaderEpochRequest>(
                ApiKey::OffsetForLeaderEpoch,
                v,
                &answer,
                Asked::default(),
            );
            assert_eq!(answer.topics[0].topic.0.as_str(), "orders");
        }
    }

    #[test]
    fn metadata_lists_only_the_namespace() {
        for v in versions(ApiKey::Metadata) {
            let named = MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders"))),
            ]));
            let (r, asked) = across(ApiKey::Metadata, v, &named);
            let name = r.topics.unwrap()[0].name.clone().unwrap();
            assert_eq!(name.0.as_str(), "acme.orders", "v{v}");
            assert!(!asked.by_id);
            let listing = MetadataResponse::default().with_topics(vec![
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(topic("acme.orders"))),
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(topic("globex.orders"))),
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(topic("__consumer_offsets")))
                    .with_is_internal(v >= 1),
            ]);
            let answer = back::<MetadataRequest>(ApiKey::Metadata, v, &listing, asked);
            let names: Vec<_> = answer
                .topics
                .iter()
                .map(|t| t.name.as_ref().unwrap().0.as_str())
                .collect();
            assert_eq!(names, ["orders"], "v{v}");
        }
        // By ID (v10+): an ID outside the namespace is answered as one that does not exist.
        for v in 10..=*versions(ApiKey::Metadata).end() {
            let id = uuid::Uuid::from_u128(7);
            let by_id = MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_topic_id(id)
                    .with_name(None),
            ]));
            let (_, asked) = across(ApiKey::Metadata, v, &by_id);
            assert!(asked.by_id);
            let answer = MetadataResponse::default().with_topics(vec![
                metadata_response::MetadataResponseTopic::default()
                    .with_topic_id(id)
                    .with_name(Some(topic("globex.orders")))
                    .with_partitions(vec![Default::default()]),
            ]);
            let answer = back::<MetadataRequest>(ApiKey::Metadata, v, &answer, asked);
            let t = &answer.topics[0];
            assert_eq!(
                (t.name.as_ref(), t.error_code, t.partitions.len()),
                (None, error_code::UNKNOWN_TOPIC_ID, 0),
                "v{v}"
            );
        }
    }

    #[test]
    fn group_requests_and_responses() {
        for v in versions(ApiKey::OffsetCommit) {
            let r = OffsetCommitRequest::default()
                .with_group_id(group("g"))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic("orders")),
                ]);
            let (r, _) = across(ApiKey::OffsetCommit, v, &r);
            assert_eq!(
                (r.group_id.0.as_str(), r.topics[0].name.0.as_str()),
                ("acme.g", "acme.orders"),
                "v{v}"
            );
            let answer = OffsetCommitResponse::default().with_topics(vec![
                offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(topic("acme.orders")),
            ]);
            let answer =
                back::<OffsetCommitRequest>(ApiKey::OffsetCommit, v, &answer, Asked::default());
            assert_eq!(answer.topics[0].name.0.as_str(), "orders");
        }
        for v in versions(ApiKey::OffsetFetch) {
            let topics = || {
                Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic("orders")),
                ])
            };
            let r = if v >= 8 {
                OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(group("g"))
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(topic("orders")),
                        ])),
                ])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(group("g"))
                    .with_topics(topics())
            };
            let (r, _) = across(ApiKey::OffsetFetch, v, &r);
            let answer = if v >= 8 {
                let g = &r.groups[0];
                assert_eq!(g.group_id.0.as_str(), "acme.g", "v{v}");
                assert_eq!(g.topics.as_ref().unwrap()[0].name.0.as_str(), "acme.orders");
                OffsetFetchResponse::default().with_groups(vec![
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(group("acme.g"))
                        .with_topics(vec![
                            offset_fetch_response::OffsetFetchResponseTopics::default()
                                .with_name(topic("acme.orders")),
                        ]),
                ])
            } else {
                assert_eq!(r.group_id.0.as_str(), "acme.g", "v{v}");
                assert_eq!(r.topics.as_ref().unwrap()[0].name.0.as_str(), "acme.orders");
                OffsetFetchResponse::default().with_topics(vec![
                    offset_fetch_response::OffsetFetchResponseTopic::default()
                        .with_name(topic("acme.orders")),
                ])
            };
            let answer =
                back::<OffsetFetchRequest>(ApiKey::OffsetFetch, v, &answer, Asked::default());
            if v >= 8 {
                assert_eq!(answer.groups[0].group_id.0.as_str(), "g");
                assert_eq!(answer.groups[0].topics[0].name.0.as_str(), "orders");
            } else {
                assert_eq!(answer.topics[0].name.0.as_str(), "orders");
            }
        }
        let by_group = |api, v| match api {
            ApiKey::JoinGroup => {
                across(
                    api,
                    v,
                    &JoinGroupRequest::default().with_group_id(group("g")),
                )
                .0
                .group_id
            }
            ApiKey::Heartbeat => {
                across(
                    api,
                    v,
                    &HeartbeatRequest::default().with_group_id(group("g")),
                )
                .0
                .group_id
            }
            ApiKey::LeaveGroup => {
                across(
                    api,
                    v,
                    &LeaveGroupRequest::default().with_group_id(group("g")),
                )
                .0
                .group_id
            }
            _ => {
                across(
                    api,
                    v,
                    &SyncGroupRequest::default().with_group_id(group("g")),
                )
                .0
                .group_id
            }
        };
        for api in [
            ApiKey::JoinGroup,
            ApiKey::Heartbeat,
            ApiKey::LeaveGroup,
            ApiKey::SyncGroup,
        ] {
            for v in versions(api) {
                assert_eq!(by_group(api, v).0.as_str(), "acme.g", "{api:?} v{v}");
            }
        }
        for v in versions(ApiKey::DescribeGroups) {
            let r = DescribeGroupsRequest::default().with_groups(vec![group("g")]);
            let (r, _) = across(ApiKey::DescribeGroups, v, &r);
            assert_eq!(r.groups[0].0.as_str(), "acme.g", "v{v}");
            let answer = DescribeGroupsResponse::default().with_groups(vec![
                describe_groups_response::DescribedGroup::default().with_group_id(group("acme.g")),
            ]);
            let answer =
                back::<DescribeGroupsRequest>(ApiKey::DescribeGroups, v, &answer, Asked::default());
            assert_eq!(answer.groups[0].group_id.0.as_str(), "g");
        }
        for v in versions(ApiKey::ListGroups) {
            let answer = ListGroupsResponse::default().with_groups(vec![
                list_groups_response::ListedGroup::default().with_group_id(group("acme.g")),
                list_groups_response::ListedGroup::default().with_group_id(group("globex.g")),
            ]);
            let answer =
                back::<ListGroupsRequest>(ApiKey::ListGroups, v, &answer, Asked::default());
            let ids: Vec<_> = answer
                .groups
                .iter()
                .map(|g| g.group_id.0.as_str())
                .collect();
            assert_eq!(ids, ["g"], "v{v}");
        }
    }

    #[test]
    fn coordinators_topics_and_producer_ids() {
        for v in versions(ApiKey::FindCoordinator) {
            let r = if v >= 4 {
                FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")])
            } else {
                FindCoordinatorRequest::default().with_key(s("g"))
            };
            let (r, _) = across(ApiKey::FindCoordinator, v, &r);
            if v >= 4 {
                assert_eq!(r.coordinator_keys[0].as_str(), "acme.g", "v{v}");
                let answer = FindCoordinatorResponse::default().with_coordinators(vec![
                    find_coordinator_response::Coordinator::default().with_key(s("acme.g")),
                ]);
                let answer = back::<FindCoordinatorRequest>(
                    ApiKey::FindCoordinator,
                    v,
                    &answer,
                    Asked::default(),
                );
                assert_eq!(answer.coordinators[0].key.as_str(), "g");
            } else {
                assert_eq!(r.key.as_str(), "acme.g", "v{v}");
            }
        }
        for v in versions(ApiKey::CreateTopics) {
            let r = CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default().with_name(topic("orders")),
            ]);
            let (r, _) = across(ApiKey::CreateTopics, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
            let answer = CreateTopicsResponse::default().with_topics(vec![
                create_topics_response::CreatableTopicResult::default()
                    .with_name(topic("acme.orders"))
                    .with_error_code(36)
                    .with_error_message(
                        Some(s("Topic 'acme.orders' already exists.")).filter(|_| v >= 1),
                    ),
            ]);
            let answer =
                back::<CreateTopicsRequest>(ApiKey::CreateTopics, v, &answer, Asked::default());
            assert_eq!(answer.topics[0].name.0.as_str(), "orders");
            if v >= 1 {
                let message = answer.topics[0].error_message.as_ref().unwrap();
                assert_eq!(message.as_str(), "Topic 'orders' already exists.");
            }
        }
        for v in versions(ApiKey::DeleteTopics) {
            let r = DeleteTopicsRequest::default().with_topic_names(vec![topic("orders")]);
            let (r, _) = across(ApiKey::DeleteTopics, v, &r);
            assert_eq!(r.topic_names[0].0.as_str(), "acme.orders", "v{v}");
            let answer = DeleteTopicsResponse::default().with_responses(vec![
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(Some(topic("acme.orders"))),
            ]);
            let answer =
                back::<DeleteTopicsRequest>(ApiKey::DeleteTopics, v, &answer, Asked::default());
            assert_eq!(
                answer.responses[0].name.as_ref().unwrap().0.as_str(),
                "orders"
            );
        }
        for v in versions(ApiKey::InitProducerId) {
            let r = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tx"))));
            let (r, _) = across(ApiKey::InitProducerId, v, &r);
            assert_eq!(r.transactional_id.unwrap().0.as_str(), "acme.tx", "v{v}");
        }
    }

    #[test]
    fn transactions_and_administration() {
        let tx = || TransactionalId(s("tx"));
        for v in versions(ApiKey::AddPartitionsToTxn) {
            let topics = vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic("orders")),
            ];
            let r = if v >= 4 {
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(tx())
                        .with_topics(topics),
                ])
            } else {
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(tx())
                    .with_v3_and_below_topics(topics)
            };
            let (r, _) = across(ApiKey::AddPartitionsToTxn, v, &r);
            let result = vec![
                add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                    .with_name(topic("acme.orders")),
            ];
            let answer = if v >= 4 {
                let x = &r.transactions[0];
                assert_eq!(x.transactional_id.0.as_str(), "acme.tx", "v{v}");
                assert_eq!(x.topics[0].name.0.as_str(), "acme.orders");
                AddPartitionsToTxnResponse::default().with_results_by_transaction(vec![
                    add_partitions_to_txn_response::AddPartitionsToTxnResult::default()
                        .with_transactional_id(TransactionalId(s("acme.tx")))
                        .with_topic_results(result),
                ])
            } else {
                assert_eq!(
                    r.v3_and_below_transactional_id.0.as_str(),
                    "acme.tx",
                    "v{v}"
                );
                assert_eq!(r.v3_and_below_topics[0].name.0.as_str(), "acme.orders");
                AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(result)
            };
            let answer = back::<AddPartitionsToTxnRequest>(
                ApiKey::AddPartitionsToTxn,
                v,
                &answer,
                Asked::default(),
            );
            let name = if v >= 4 {
                &answer.results_by_transaction[0].topic_results[0].name
            } else {
                &answer.results_by_topic_v3_and_below[0].name
            };
            assert_eq!(name.0.as_str(), "orders");
        }
        for v in versions(ApiKey::AddOffsetsToTxn) {
            let r = AddOffsetsToTxnRequest::default()
                .with_transactional_id(tx())
                .with_group_id(group("g"));
            let (r, _) = across(ApiKey::AddOffsetsToTxn, v, &r);
            assert_eq!(
                (r.transactional_id.0.as_str(), r.group_id.0.as_str()),
                ("acme.tx", "acme.g"),
                "v{v}"
            );
        }
        for v in versions(ApiKey::EndTxn) {
            let (r, _) = across(
                ApiKey::EndTxn,
                v,
                &EndTxnRequest::default().with_transactional_id(tx()),
            );
            assert_eq!(r.transactional_id.0.as_str(), "acme.tx", "v{v}");
        }
        for v in versions(ApiKey::TxnOffsetCommit) {
            let r = TxnOffsetCommitRequest::default()
                .with_transactional_id(tx())
                .with_group_id(group("g"))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic("orders")),
                ]);
            let (r, _) = across(ApiKey::TxnOffsetCommit, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
            assert_eq!(r.group_id.0.as_str(), "acme.g");
            let answer = TxnOffsetCommitResponse::default().with_topics(vec![
                txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                    .with_name(topic("acme.orders")),
            ]);
            let answer = back::<TxnOffsetCommitRequest>(
                ApiKey::TxnOffsetCommit,
                v,
                &answer,
                Asked::default(),
            );
            assert_eq!(answer.topics[0].name.0.as_str(), "orders");
        }
        for v in versions(ApiKey::DeleteGroups) {
            let (r, _) = across(
                ApiKey::DeleteGroups,
                v,
                &DeleteGroupsRequest::default().with_groups_names(vec![group("g")]),
            );
            assert_eq!(r.groups_names[0].0.as_str(), "acme.g", "v{v}");
            let answer = DeleteGroupsResponse::default().with_results(vec![
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(group("acme.g")),
            ]);
            let answer =
                back::<DeleteGroupsRequest>(ApiKey::DeleteGroups, v, &answer, Asked::default());
            assert_eq!(answer.results[0].group_id.0.as_str(), "g");
        }
        for v in versions(ApiKey::CreatePartitions) {
            let r = CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic("orders")),
            ]);
            let (r, _) = across(ApiKey::CreatePartitions, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
        }
        for v in versions(ApiKey::DeleteRecords) {
            let r = DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default().with_name(topic("orders")),
            ]);
            let (r, _) = across(ApiKey::DeleteRecords, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
        }
        for v in versions(ApiKey::OffsetDelete) {
            let r = OffsetDeleteRequest::default()
                .with_group_id(group("g"))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic("orders")),
                ]);
            let (r, _) = across(ApiKey::OffsetDelete, v, &r);
            assert_eq!(
                (r.group_id.0.as_str(), r.topics[0].name.0.as_str()),
                ("acme.g", "acme.orders"),
                "v{v}"
            );
        }
        // Topic and group configs live in the namespace; a broker's keep its name.
        for v in versions(ApiKey::DescribeConfigs) {
            let resource = |t: i8, n: &str| {
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(t)
                    .with_resource_name(s(n))
            };
            let r = DescribeConfigsRequest::default()
                .with_resources(vec![resource(2, "orders"), resource(4, "1")]);
            let (r, _) = across(ApiKey::DescribeConfigs, v, &r);
            let names: Vec<_> = r
                .resources
                .iter()
                .map(|c| c.resource_name.as_str())
                .collect();
            assert_eq!(names, ["acme.orders", "1"], "v{v}");
            let result = |t: i8, n: &str| {
                describe_configs_response::DescribeConfigsResult::default()
                    .with_resource_type(t)
                    .with_resource_name(s(n))
            };
            let answer = DescribeConfigsResponse::default()
                .with_results(vec![result(2, "acme.orders"), result(4, "1")]);
            let answer = back::<DescribeConfigsRequest>(
                ApiKey::DescribeConfigs,
                v,
                &answer,
                Asked::default(),
            );
            let names: Vec<_> = answer
                .results
                .iter()
                .map(|c| c.resource_name.as_str())
                .collect();
            assert_eq!(names, ["orders", "1"]);
        }
        for v in versions(ApiKey::IncrementalAlterConfigs) {
            let r = IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(32)
                    .with_resource_name(s("g")),
            ]);
            let (r, _) = across(ApiKey::IncrementalAlterConfigs, v, &r);
            assert_eq!(r.resources[0].resource_name.as_str(), "acme.g", "v{v}");
        }
        for v in versions(ApiKey::AlterConfigs) {
            let r = AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders")),
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("1")),
            ]);
            let (r, _) = across(ApiKey::AlterConfigs, v, &r);
            let names: Vec<_> = r
                .resources
                .iter()
                .map(|c| c.resource_name.as_str())
                .collect();
            assert_eq!(names, ["acme.orders", "1"], "v{v}");
            let result = |t: i8, n: &str| {
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(t)
                    .with_resource_name(s(n))
                    .with_error_message(Some(s(&format!("{n} refused"))))
            };
            let answer = AlterConfigsResponse::default()
                .with_responses(vec![result(2, "acme.orders"), result(4, "1")]);
            let answer =
                back::<AlterConfigsRequest>(ApiKey::AlterConfigs, v, &answer, Asked::default());
            let names: Vec<_> = answer
                .responses
                .iter()
                .map(|c| (c.resource_name.as_str(), c.error_message.as_deref()))
                .collect();
            assert_eq!(
                names,
                [("orders", Some("orders refused")), ("1", Some("1 refused"))]
            );
        }
    }

    #[test]
    fn topic_descriptions_and_the_consumer_group_protocol() {
        for v in versions(ApiKey::DescribeTopicPartitions) {
            let r = DescribeTopicPartitionsRequest::default()
                .with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic("orders")),
                ])
                .with_cursor(Some(
                    describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(topic("orders")),
                ));
            let (r, _) = across(ApiKey::DescribeTopicPartitions, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
            assert_eq!(r.cursor.unwrap().topic_name.0.as_str(), "acme.orders");
            let described = |n: &str| {
                describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic(n)))
            };
            let answer = DescribeTopicPartitionsResponse::default()
                .with_topics(vec![described("acme.orders"), described("globex.orders")])
                .with_next_cursor(Some(
                    describe_topic_partitions_response::Cursor::default()
                        .with_topic_name(topic("globex.a")),
                ));
            let answer = back::<DescribeTopicPartitionsRequest>(
                ApiKey::DescribeTopicPartitions,
                v,
                &answer,
                Asked::default(),
            );
            let names: Vec<_> = answer
                .topics
                .iter()
                .map(|t| t.name.as_ref().unwrap().0.as_str())
                .collect();
            assert_eq!(names, ["orders"]);
            assert!(answer.next_cursor.is_none(), "past the namespace: the end");
        }
        for v in versions(ApiKey::ConsumerGroupHeartbeat) {
            let r = ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group("g"))
                .with_subscribed_topic_names(Some(vec![topic("orders")]))
                .with_subscribed_topic_regex(Some(s("ord.*")).filter(|_| v >= 1));
            let (r, _) = across(ApiKey::ConsumerGroupHeartbeat, v, &r);
            assert_eq!(r.group_id.0.as_str(), "acme.g", "v{v}");
            assert_eq!(
                r.subscribed_topic_names.unwrap()[0].0.as_str(),
                "acme.orders"
            );
            if v >= 1 {
                let regex = r.subscribed_topic_regex.unwrap();
                assert_eq!(regex.as_str(), "acme\\.(?:ord.*)");
            }
        }
        for v in versions(ApiKey::ConsumerGroupDescribe) {
            let (r, _) = across(
                ApiKey::ConsumerGroupDescribe,
                v,
                &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group("g")]),
            );
            assert_eq!(r.group_ids[0].0.as_str(), "acme.g", "v{v}");
            let assigned = consumer_group_describe_response::Assignment::default()
                .with_topic_partitions(vec![
                    consumer_group_describe_response::TopicPartitions::default()
                        .with_topic_name(topic("acme.orders")),
                ]);
            let answer = ConsumerGroupDescribeResponse::default().with_groups(vec![
                consumer_group_describe_response::DescribedGroup::default()
                    .with_group_id(group("acme.g"))
                    .with_members(vec![
                        consumer_group_describe_response::Member::default()
                            .with_subscribed_topic_names(vec![topic("acme.orders")])
                            .with_subscribed_topic_regex(Some(s("acme\\.(?:ord.*)")))
                            .with_assignment(assigned.clone())
                            .with_target_assignment(assigned),
                    ]),
            ]);
            let answer = back::<ConsumerGroupDescribeRequest>(
                ApiKey::ConsumerGroupDescribe,
                v,
                &answer,
                Asked::default(),
            );
            let g = &answer.groups[0];
            let m = &g.members[0];
            assert_eq!(g.group_id.0.as_str(), "g");
            assert_eq!(m.subscribed_topic_names[0].0.as_str(), "orders");
            assert_eq!(m.subscribed_topic_regex.as_ref().unwrap().as_str(), "ord.*");
            assert_eq!(
                m.assignment.topic_partitions[0].topic_name.0.as_str(),
                "orders"
            );
            assert_eq!(
                m.target_assignment.topic_partitions[0]
                    .topic_name
                    .0
                    .as_str(),
                "orders"
            );
        }
    }

    #[test]
    fn transaction_and_producer_descriptions() {
        for v in versions(ApiKey::ListTransactions) {
            let state = |id: &str| {
                list_transactions_response::TransactionState::default()
                    .with_transactional_id(TransactionalId(s(id)))
            };
            let answer = ListTransactionsResponse::default().with_transaction_states(vec![
                state("acme.tx"),
                state("globex.tx"),
                state("tx"),
            ]);
            let answer = back::<ListTransactionsRequest>(
                ApiKey::ListTransactions,
                v,
                &answer,
                Asked::default(),
            );
            let ids: Vec<_> = answer
                .transaction_states
                .iter()
                .map(|t| t.transactional_id.0.as_str())
                .collect();
            assert_eq!(
                ids,
                ["tx"],
                "v{v}: only the namespace's, without the prefix"
            );
        }
        for v in versions(ApiKey::DescribeTransactions) {
            let r = DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("tx"))]);
            let (r, _) = across(ApiKey::DescribeTransactions, v, &r);
            assert_eq!(r.transactional_ids[0].0.as_str(), "acme.tx", "v{v}");
            let answer = DescribeTransactionsResponse::default().with_transaction_states(vec![
                describe_transactions_response::TransactionState::default()
                    .with_transactional_id(TransactionalId(s("acme.tx")))
                    .with_topics(vec![
                        describe_transactions_response::TopicData::default()
                            .with_topic(topic("acme.orders")),
                    ]),
            ]);
            let answer = back::<DescribeTransactionsRequest>(
                ApiKey::DescribeTransactions,
                v,
                &answer,
                Asked::default(),
            );
            let t = &answer.transaction_states[0];
            assert_eq!(t.transactional_id.0.as_str(), "tx");
            assert_eq!(t.topics[0].topic.0.as_str(), "orders");
        }
        for v in versions(ApiKey::DescribeProducers) {
            let r = DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default().with_name(topic("orders")),
            ]);
            let (r, _) = across(ApiKey::DescribeProducers, v, &r);
            assert_eq!(r.topics[0].name.0.as_str(), "acme.orders", "v{v}");
            let answer = DescribeProducersResponse::default().with_topics(vec![
                describe_producers_response::TopicResponse::default()
                    .with_name(topic("acme.orders")),
            ]);
            let answer = back::<DescribeProducersRequest>(
                ApiKey::DescribeProducers,
                v,
                &answer,
                Asked::default(),
            );
            assert_eq!(answer.topics[0].name.0.as_str(), "orders");
        }
    }

    #[test]
    fn a_whole_frame_is_made_at_once_with_the_header_as_it_came() {
        let answer = FetchResponse::default().with_responses(vec![
            fetch_response::FetchableTopicResponse::default()
                .with_topic(topic("acme.orders"))
                .with_partitions(vec![fetch_response::PartitionData::default().with_records(
                    Some(bytes::Bytes::from_static(
                        b"record batch bytes as they came",
                    )),
                )]),
        ]);
        let frame = kafka::encode_response(ApiKey::Fetch, 12, 42, &answer).expect("frame");
        let offset = 4 + 4 + 1; // length, correlation id, empty tagged fields (v12 header)
        let body = frame.slice(offset..);
        let whole = ns()
            .response(
                ApiKey::Fetch,
                12,
                &body,
                Asked::default(),
                Some(&frame[4..offset]),
            )
            .expect("frame")
            .into_bytes();
        let alone = ns()
            .response(ApiKey::Fetch, 12, &body, Asked::default(), None)
            .expect("body")
            .into_bytes();
        assert_eq!(
            whole,
            kafka::replace_body(&frame, offset, &alone).expect("frame")
        );
        let back: FetchResponse =
            kafka::decode_response::<FetchRequest>(12, &whole.slice(offset..)).expect("decodes");
        assert_eq!(back.responses[0].topic.0.as_str(), "orders");
        let records = back.responses[0].partitions[0]
            .records
            .as_ref()
            .expect("records");
        assert_eq!(&records[..], b"record batch bytes as they came");
    }

    #[test]
    fn a_name_outside_the_namespace_in_an_answer_closes_rather_than_crossing() {
        let answer = ProduceResponse::default().with_responses(vec![
            produce_response::TopicProduceResponse::default().with_name(topic("globex.orders")),
        ]);
        let body = kafka::encode_body(9, &answer).expect("encode");
        assert!(matches!(
            ns().response(ApiKey::Produce, 9, &body, Asked::default(), None),
            Err(NamespaceError::Outside)
        ));
        // A share group's coordinator (key type 2) is not served.
        let r = FindCoordinatorRequest::default()
            .with_key_type(2)
            .with_coordinator_keys(vec![s("g")]);
        let frame = kafka::encode_request(ApiKey::FindCoordinator, 6, 1, "c", &r).expect("encode");
        let offset = parse_request_header(&frame).expect("header").body_offset;
        assert!(matches!(
            ns().request(ApiKey::FindCoordinator, 6, &frame, offset),
            Err(NamespaceError::KeyType(2))
        ));
        assert!(!serves(ApiKey::CreateAcls) && !serves(ApiKey::ElectLeaders));
    }
}
