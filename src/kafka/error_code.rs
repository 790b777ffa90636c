//! Kafka error codes the proxy sends, by their Kafka names.

/// No error.
pub const NONE: i16 = 0;
/// The broker does not support the version of this request (KIP-511 answer to ApiVersions).
pub const UNSUPPORTED_VERSION: i16 = 35;
/// The request was sent in the wrong SASL state.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// The SASL mechanism is not enabled.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// SASL authentication failed.
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// The coordinator is not available.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// The topic or partition does not exist.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The caller may not do this to the topic.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// The caller may not do this to the consumer group.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// The caller may not do this to the cluster.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// The caller may not use the transactional id.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// The request was not attempted because another part of it failed.
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// No topic has this ID.
pub const UNKNOWN_TOPIC_ID: i16 = 100;

/// Kafka's default message for an error code the proxy sends with a message (its
/// `Errors.message()`), for the fields that carry one.
pub fn message(code: i16) -> &'static str {
    match code {
        TOPIC_AUTHORIZATION_FAILED => "Topic authorization failed.",
        GROUP_AUTHORIZATION_FAILED => "Group authorization failed.",
        CLUSTER_AUTHORIZATION_FAILED => "Cluster authorization failed.",
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED => "Transactional Id authorization failed.",
        OPERATION_NOT_ATTEMPTED => {
            "The broker did not attempt to execute this operation. This may happen for batched \
             RPCs where some operations in the batch failed, causing the broker to respond \
             without trying the rest."
        }
        _ => "",
    }
}
