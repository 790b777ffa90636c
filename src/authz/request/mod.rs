//! Authorization of each request of an authenticated session against the organization's ACLs,
//! with the checks of [`super::apis`], answered as a Kafka broker answers
//! (DESIGN.md decisions 10 and 11).
//!
//! A request is either forwarded as it came, forwarded with its denied entities taken out (the
//! broker's response then gets them back, each with Kafka's authorization error code), answered
//! here when nothing of it is allowed, or refused by closing the connection (API keys this
//! module does not handle, which are also never advertised).
//!
//! Topic IDs: the versions that name topics only by ID (Fetch v13+, Produce v13+, OffsetCommit
//! v10+, OffsetFetch v10+, DeleteTopics v6+) are not offered (see `kafka::versions`), so every
//! topic this module decides on is named in the request. Resolving IDs from Metadata the proxy
//! has seen would make a decision depend on which responses happened to pass through it, and
//! a client never needs those versions: each older one is still served by Kafka 4 brokers.

mod admin;
mod audit;
mod cursor;
mod groups;
#[cfg(test)]
mod rows;
#[cfg(test)]
mod tests;
mod topics;
mod transactions;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Encodable, Request};

use super::{AclIndex, Grounds, Operation, ResourceType, Subject};
use crate::identity::Identity;
use crate::kafka::header::RequestHeader;
use crate::kafka::tail::{LastArray, Tail, encode_with_tail};
use crate::kafka::{self, DecodeError, EncodeError};

/// Who sent a request: the authenticated identity of a session (shared with the session's
/// state and the cache of verified tokens) and where it connects from.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) identity: Arc<Identity>,
    pub(crate) peer: SocketAddr,
}

impl Caller {
    /// A caller without a token behind it: the probes and checks that decide for a user and
    /// groups given by name.
    pub(crate) fn named(organization: &str, user: &str, groups: &[&str], peer: SocketAddr) -> Self {
        Self {
            identity: Arc::new(Identity {
                organization: organization.into(),
                provider: String::new(),
                user: user.into(),
                groups: groups.iter().map(|&g| g.into()).collect(),
                expires_at: 0,
                refresh_token: false,
            }),
            peer,
        }
    }

    pub(crate) fn organization(&self) -> &str {
        &self.identity.organization
    }

    pub(crate) fn user(&self) -> &str {
        &self.identity.user
    }

    fn subject(&self) -> Subject<'_> {
        Subject {
            organization: &self.identity.organization,
            user: &self.identity.user,
            groups: &self.identity.groups,
            host: self.peer.ip(),
        }
    }
}

/// Applied to the broker's response body: merges back what was taken out of the request,
/// filters what the caller may not see. Returns the new body. A fix that decodes the response
/// lets `edit` change it too before encoding it again, so that the proxy's own change (the
/// broker addresses) costs no second decode.
pub(crate) type Fix = Box<dyn FnOnce(Bytes, &mut dyn Edit) -> Result<Bytes, FixError> + Send>;

/// A change to a decoded response besides the authorization's: given each response a fix
/// decodes (a kafka-protocol response type), it changes those of the types it knows.
pub(crate) trait Edit {
    fn edit(&mut self, response: &mut dyn std::any::Any) -> Result<(), FixError>;
}

/// No change.
pub(crate) struct NoEdit;

impl Edit for NoEdit {
    fn edit(&mut self, _: &mut dyn std::any::Any) -> Result<(), FixError> {
        Ok(())
    }
}

/// A response could not be fixed; the connection closes rather than pass it on unchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FixError {
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Encode(#[from] EncodeError),
    #[error("the first response of a pair is missing")]
    Unpaired,
    #[error("{0}")]
    Edit(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Merges the responses to the two requests of a [`Verdict::Pair`] (bodies, in order) into
/// the client's response body.
pub(crate) type Merge =
    Box<dyn FnOnce(Bytes, Bytes, &mut dyn Edit) -> Result<Bytes, FixError> + Send>;

/// What to do with a request.
pub(crate) enum Verdict {
    /// Forward the frame as it came; nothing to fix.
    Forward,
    /// Forward `frame` (the original when `None`) and apply `fix` to the response.
    Rewrite {
        frame: Option<Bytes>,
        fix: Option<Fix>,
        /// The request expects no response (acks=0 Produce) and had denied entities: Kafka
        /// closes such a connection after appending the allowed part.
        close_after: bool,
    },
    /// Forward two requests in place of the client's, `first` then `then` (same header), and
    /// answer the client with `merge` of their responses: for a request whose parts need
    /// different settings (Metadata auto-creation for some of its topics only).
    Pair {
        first: Bytes,
        then: Bytes,
        merge: Merge,
    },
    /// Nothing of the request is allowed: this is the response.
    Answer(Bytes),
    /// The request cannot be authorized: close the connection.
    Refuse(String),
}

/// Why a request could not be decided; the connection closes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthorizeError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Encode(#[from] EncodeError),
}

/// The lowest version of `api` offered on listeners that authenticate (the table's
/// `min_with_acls`), `None` for API keys this module does not authorize: those are neither
/// advertised nor forwarded there.
pub(crate) fn lowest_version(api: ApiKey) -> Option<i16> {
    if !super::apis::is_mapped(api) {
        return None;
    }
    kafka::versions::supported(api).map(|s| s.min_with_acls)
}

/// Authorization decisions of one proxy instance, by outcome (one per resource checked).
#[derive(Debug, Default)]
pub struct Decisions {
    /// Decisions that allowed.
    pub allowed: AtomicU64,
    /// Decisions that denied.
    pub denied: AtomicU64,
}

/// Decides one request.
pub(crate) fn authorize(
    acls: &Arc<AclIndex>,
    decisions: &Decisions,
    caller: &Caller,
    api: ApiKey,
    header: &RequestHeader,
    frame: &Bytes,
    checked: Option<kafka::Checked>,
) -> Result<Verdict, AuthorizeError> {
    let a = Authorizer {
        acls,
        decisions,
        caller,
        api,
        audit: RefCell::default(),
        counted: std::cell::Cell::default(),
    };
    let verdict = decide(
        &a,
        &Req {
            header,
            frame,
            checked,
        },
    );
    let (allowed, denied) = a.counted.get();
    crate::metrics::METRICS.decisions(caller.organization(), api, allowed, denied);
    a.audit.into_inner().log(caller, api);
    verdict
}

fn decide(a: &Authorizer<'_>, r: &Req<'_>) -> Result<Verdict, AuthorizeError> {
    use ApiKey as A;
    match a.api {
        A::Produce => topics::produce(a, r),
        A::Fetch => topics::fetch(a, r),
        A::ListOffsets => topics::list_offsets(a, r),
        A::Metadata => topics::metadata(a, r),
        A::OffsetForLeaderEpoch => topics::offset_for_leader_epoch(a, r),
        A::CreateTopics => topics::create_topics(a, r),
        A::DeleteTopics => topics::delete_topics(a, r),
        A::OffsetCommit => groups::offset_commit(a, r),
        A::OffsetFetch => groups::offset_fetch(a, r),
        A::FindCoordinator => groups::find_coordinator(a, r),
        A::JoinGroup | A::Heartbeat | A::LeaveGroup | A::SyncGroup => groups::membership(a, r),
        A::ConsumerGroupHeartbeat => groups::consumer_group_heartbeat(a, r),
        A::ConsumerGroupDescribe => groups::consumer_group_describe(a, r),
        A::DescribeTransactions => transactions::describe_transactions(a, r),
        A::ListTransactions => transactions::list_transactions(a, r),
        A::DescribeTopicPartitions => topics::describe_topic_partitions(a, r),
        A::DescribeGroups => groups::describe_groups(a, r),
        A::ListGroups => groups::list_groups(a, r),
        A::DeleteGroups => groups::delete_groups(a, r),
        A::InitProducerId => transactions::init_producer_id(a, r),
        A::AddPartitionsToTxn => transactions::add_partitions_to_txn(a, r),
        A::AddOffsetsToTxn => transactions::add_offsets_to_txn(a, r),
        A::EndTxn => transactions::end_txn(a, r),
        A::TxnOffsetCommit => transactions::txn_offset_commit(a, r),
        A::DescribeCluster => topics::describe_cluster(a, r),
        A::DescribeConfigs => admin::describe_configs(a, r),
        A::AlterConfigs => admin::alter_configs(a, r),
        A::IncrementalAlterConfigs => admin::incremental_alter_configs(a, r),
        A::ListConfigResources => admin::list_config_resources(a, r),
        A::CreatePartitions => admin::create_partitions(a, r),
        A::DeleteRecords => admin::delete_records(a, r),
        A::ElectLeaders => admin::elect_leaders(a, r),
        A::AlterPartitionReassignments => admin::alter_partition_reassignments(a, r),
        A::ListPartitionReassignments => admin::list_partition_reassignments(a, r),
        A::DescribeLogDirs => admin::describe_log_dirs(a, r),
        A::AlterReplicaLogDirs => admin::alter_replica_log_dirs(a, r),
        A::DescribeClientQuotas => admin::describe_client_quotas(a, r),
        A::AlterClientQuotas => admin::alter_client_quotas(a, r),
        A::DescribeProducers => topics::describe_producers(a, r),
        A::OffsetDelete => groups::offset_delete(a, r),
        // Kafka performs no authorization check for client telemetry.
        A::GetTelemetrySubscriptions | A::PushTelemetry => Ok(Verdict::Forward),
        api => Ok(Verdict::Refuse(format!(
            "{api:?} has no authorization mapping in this proxy"
        ))),
    }
}

/// One request's decisions: counted, and its denials logged at INFO (the audit lines, one
/// per operation and resource type).
pub(crate) struct Authorizer<'a> {
    acls: &'a Arc<AclIndex>,
    decisions: &'a Decisions,
    caller: &'a Caller,
    api: ApiKey,
    audit: RefCell<audit::Audit>,
    /// This request's decisions (allowed, denied), exported once it is decided.
    counted: std::cell::Cell<(u64, u64)>,
}

impl Authorizer<'_> {
    /// Decides, and logs a denial: the checks a caller asked for by naming the resource.
    fn allow(&self, operation: Operation, resource: ResourceType, name: &str) -> bool {
        self.decide(operation, resource, name, true)
    }

    /// Decides without logging a denial: filters (a listing omits what the caller may not
    /// see) and fallbacks (CREATE on the cluster, else on the topic), which Kafka does not log
    /// either.
    fn quietly(&self, operation: Operation, resource: ResourceType, name: &str) -> bool {
        self.decide(operation, resource, name, false)
    }

    fn decide(&self, operation: Operation, resource: ResourceType, name: &str, log: bool) -> bool {
        let decision = self
            .acls
            .decide(&self.caller.subject(), operation, resource, name);
        self.count(decision.allowed);
        if !decision.allowed && log {
            self.audit
                .borrow_mut()
                .deny(operation, resource, name, &decision.grounds);
        }
        decision.allowed
    }

    /// Counts a decision by its outcome.
    fn count(&self, allowed: bool) {
        let (a, d) = self.counted.get();
        self.counted
            .set(if allowed { (a + 1, d) } else { (a, d + 1) });
        let counter = if allowed {
            &self.decisions.allowed
        } else {
            &self.decisions.denied
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// CLUSTER resource checks, by the cluster's one name.
    fn cluster(&self, operation: Operation) -> bool {
        self.allow(operation, ResourceType::Cluster, super::acl::CLUSTER_NAME)
    }

    fn cluster_quietly(&self, operation: Operation) -> bool {
        self.quietly(operation, ResourceType::Cluster, super::acl::CLUSTER_NAME)
    }

    /// Whether some ALLOW binding lets the caller do `operation` on some resource of the type
    /// (Kafka's `authorizeByResourceType`, e.g. WRITE on any topic for an idempotent producer).
    fn any(&self, operation: Operation, resource: ResourceType) -> bool {
        let allowed = self
            .acls
            .allows_any(&self.caller.subject(), operation, resource);
        self.count(allowed);
        if !allowed {
            self.audit
                .borrow_mut()
                .deny(operation, resource, "<any>", &Grounds::NoMatch);
        }
        allowed
    }

    fn acls_arc(&self) -> Arc<AclIndex> {
        self.acls.clone()
    }
}

/// The bit set of operations a caller may do on a resource, as Kafka reports it in
/// `*_authorized_operations` (bit = the operation's Kafka code).
fn authorized_operations(
    acls: &AclIndex,
    caller: &Caller,
    resource: ResourceType,
    name: &str,
) -> i32 {
    let ops: &[Operation] = match resource {
        ResourceType::Topic => &[
            Operation::Read,
            Operation::Write,
            Operation::Create,
            Operation::Delete,
            Operation::Alter,
            Operation::Describe,
            Operation::DescribeConfigs,
            Operation::AlterConfigs,
        ],
        ResourceType::Group => &[Operation::Read, Operation::Delete, Operation::Describe],
        ResourceType::Cluster => &[
            Operation::Create,
            Operation::Alter,
            Operation::Describe,
            Operation::ClusterAction,
            Operation::DescribeConfigs,
            Operation::AlterConfigs,
            Operation::IdempotentWrite,
        ],
        ResourceType::TransactionalId => &[Operation::Write, Operation::Describe],
    };
    let subject = caller.subject();
    ops.iter()
        .filter(|&&op| acls.decide(&subject, op, resource, name).allowed)
        .fold(0, |bits, op| bits | (1 << op.code()))
}

/// The request being decided.
pub(crate) struct Req<'a> {
    header: &'a RequestHeader,
    frame: &'a Bytes,
    /// The structural check the body passed, if any: the decode need not walk it again.
    checked: Option<kafka::Checked>,
}

impl Req<'_> {
    fn version(&self) -> i16 {
        self.header.api_version
    }

    /// The body through the guarded decoder.
    fn decode<R: Request>(&self) -> Result<R, DecodeError> {
        kafka::decode_checked_request(self.checked, self.version(), &self.header.body(self.frame))
    }

    /// The request's first field, a string (a group or transactional id), read without
    /// decoding the rest.
    fn leading_string(&self) -> Result<Option<String>, DecodeError> {
        let api = self
            .header
            .api()
            .ok_or(DecodeError::UnknownApiKey(self.header.api_key))?;
        kafka::leading_string(api, self.version(), &self.frame[self.header.body_offset..])
    }

    /// The request frame with the same header and a new body.
    fn with_body<M: Encodable>(&self, body: &M) -> Result<Bytes, EncodeError> {
        let header = &self.frame[4..self.header.body_offset];
        let mut buf = BytesMut::with_capacity(self.frame.len());
        buf.put_i32(0);
        buf.put_slice(header);
        body.encode(&mut buf, self.version()).map_err(EncodeError)?;
        let len = i32::try_from(buf.len() - 4)
            .map_err(|_| EncodeError(anyhow::anyhow!("frame too large")))?;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf.freeze())
    }

    /// A response of the request's version, made here.
    fn answer<M: Encodable>(&self, body: &M) -> Result<Verdict, AuthorizeError> {
        let api = self
            .header
            .api()
            .ok_or(DecodeError::UnknownApiKey(self.header.api_key))?;
        let frame = kafka::encode_response(api, self.version(), self.header.correlation_id, body)?;
        Ok(Verdict::Answer(frame))
    }

    /// An empty tail for this request's response.
    fn tail(&self) -> Tail {
        Tail::new(self.version())
    }

    /// A response of the request's version made here, with `tail` after the entries of its
    /// last array.
    fn answer_with_tail<M: LastArray>(
        &self,
        response: M,
        tail: &Tail,
    ) -> Result<Verdict, AuthorizeError> {
        let body = encode_with_tail(response, tail)?;
        let frame =
            kafka::response_frame(M::API, self.version(), self.header.correlation_id, &body)?;
        Ok(Verdict::Answer(frame))
    }

    /// As [`Req::rewrite`], and the response gets `tail` after the entries of its last array.
    fn rewrite_with_tail<M: Encodable, R: Request>(
        &self,
        body: Option<&M>,
        fix: impl FnOnce(&mut R::Response) + Send + 'static,
        tail: Tail,
    ) -> Result<Verdict, AuthorizeError>
    where
        R::Response: LastArray + Send + 'static,
    {
        let version = self.version();
        let fix: Fix = Box::new(move |body: Bytes, edit: &mut dyn Edit| {
            let mut response = kafka::decode_response::<R>(version, &body)?;
            fix(&mut response);
            edit.edit(&mut response)?;
            Ok(encode_with_tail(response, &tail)?)
        });
        self.rewrite_bytes(body, fix)
    }

    /// Forwards `body` instead of the request's and fixes the response with `fix`.
    fn rewrite<M: Encodable, R: Request>(
        &self,
        body: Option<&M>,
        fix: impl FnOnce(&mut R::Response) + Send + 'static,
    ) -> Result<Verdict, AuthorizeError>
    where
        R::Response: Encodable + Send + 'static,
    {
        self.rewrite_bytes(body, response_fix::<R>(self.version(), fix))
    }

    /// Forwards `body` instead of the request's (the request as it came when `None`) and
    /// applies `fix` to the response body as it comes.
    fn rewrite_bytes<M: Encodable>(
        &self,
        body: Option<&M>,
        fix: Fix,
    ) -> Result<Verdict, AuthorizeError> {
        Ok(Verdict::Rewrite {
            frame: body.map(|b| self.with_body(b)).transpose()?,
            fix: Some(fix),
            close_after: false,
        })
    }
}

/// Kafka's message for an error code, for the responses whose entries carry one.
fn error_message(code: i16) -> Option<kafka_protocol::protocol::StrBytes> {
    Some(kafka_protocol::protocol::StrBytes::from_static_str(
        kafka::error_code::message(code),
    ))
}

/// Keeps the `items` that are `allowed`; each other one becomes a response entry (`denied`)
/// in `tail` as soon as it is decided.
fn split_to_tail<T, E: Encodable>(
    items: Vec<T>,
    tail: &mut Tail,
    mut allowed: impl FnMut(&T) -> bool,
    denied: impl Fn(T) -> E,
) -> Result<Vec<T>, EncodeError> {
    let mut kept = Vec::new();
    for item in items {
        if allowed(&item) {
            kept.push(item);
        } else {
            tail.push(&denied(item))?;
        }
    }
    Ok(kept)
}

/// Splits `items` into (allowed, denied) by `allowed`.
fn split<T>(items: Vec<T>, allowed: impl FnMut(&T) -> bool) -> (Vec<T>, Vec<T>) {
    items.into_iter().partition(allowed)
}

/// A [`Fix`] that decodes the response to `R`, changes it and encodes it again.
fn response_fix<R: Request>(
    version: i16,
    fix: impl FnOnce(&mut R::Response) + Send + 'static,
) -> Fix
where
    R::Response: Encodable + 'static,
{
    Box::new(move |body: Bytes, edit: &mut dyn Edit| {
        let mut response = kafka::decode_response::<R>(version, &body)?;
        fix(&mut response);
        edit.edit(&mut response)?;
        Ok(kafka::encode_body(version, &response)?)
    })
}
