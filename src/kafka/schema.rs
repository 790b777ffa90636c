//! The structural check of message bodies before anything decodes them: each body is walked
//! field by field along its layout, generated from Kafka's message definitions
//! (`generated.rs`, by `scripts/schema.sh`) for every version kafka-protocol decodes. Bodies of
//! API keys the proxy does not forward have no layout and are never decoded.

#[rustfmt::skip]
mod generated;
#[cfg(test)]
mod tests;

use kafka_protocol::messages::ApiKey;

use super::DecodeError;
use super::walk::{NameAt, Walker};

/// Whether a body is a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request sent by a client.
    Request,
    /// A response sent by a broker.
    Response,
}

/// The first version of a message that uses the flexible (compact, tagged) encoding, if any.
pub(crate) fn first_flexible_version(api: ApiKey) -> Option<i16> {
    message(api)?.first_flexible
}

/// Walks one message body at a version.
pub(crate) type Walk = for<'a> fn(&mut Walker<'a>, i16) -> Result<(), DecodeError>;

/// What Kafka's definitions say of an API key the proxy forwards.
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) api_key: i16,
    pub(crate) name: &'static str,
    /// The versions Kafka defines (and kafka-protocol decodes).
    pub(crate) versions: (i16, i16),
    /// The first version with the flexible (compact, tagged) encoding.
    pub(crate) first_flexible: Option<i16>,
    pub(crate) request: Walk,
    pub(crate) response: Walk,
}

/// What Kafka's definitions say of an API key the proxy forwards.
pub(crate) fn message(api: ApiKey) -> Option<&'static Message> {
    let i = *INDEX.get(api as usize)?;
    generated::MESSAGES.get(usize::from(i))
}

/// Positions in [`generated::MESSAGES`] by API key (`u8::MAX`: none), computed at compile
/// time: the lookup is made for every request.
const INDEX: [u8; 128] = {
    let mut index = [u8::MAX; 128];
    let mut i = 0;
    while i < generated::MESSAGES.len() {
        index[generated::MESSAGES[i].api_key as usize] = i as u8;
        i += 1;
    }
    index
};

/// Walks `body` as the given message; `Err(NoSchema)` for an API key the proxy does not
/// forward.
pub(crate) fn check(
    api: ApiKey,
    direction: Direction,
    version: i16,
    body: &[u8],
) -> Result<(), DecodeError> {
    check_within(api, direction, version, body, usize::MAX)
}

/// As [`check`], refusing a body with more than `max_entries` array entries in all.
pub(crate) fn check_within(
    api: ApiKey,
    direction: Direction,
    version: i16,
    body: &[u8],
    max_entries: usize,
) -> Result<(), DecodeError> {
    walk(api, direction, version, |flexible| {
        Walker::with_max_entries(body, flexible, max_entries)
    })
    .map(drop)
}

/// Where each topic name and transactional id of `body` lies, in order, checked as [`check`]
/// checks it.
pub(crate) fn names(
    api: ApiKey,
    direction: Direction,
    version: i16,
    body: &[u8],
) -> Result<Vec<NameAt>, DecodeError> {
    walk(api, direction, version, |flexible| {
        Walker::recording_names(body, flexible)
    })
    .map(Walker::names)
}

/// Walks a body with the walker `start` makes for its encoding; the walker, at its end.
fn walk<'a>(
    api: ApiKey,
    direction: Direction,
    version: i16,
    start: impl FnOnce(bool) -> Walker<'a>,
) -> Result<Walker<'a>, DecodeError> {
    let m = message(api).ok_or(DecodeError::NoSchema)?;
    if !(m.versions.0..=m.versions.1).contains(&version) {
        return Err(DecodeError::UnknownVersion {
            api: m.name,
            version,
        });
    }
    let mut w = start(m.first_flexible.is_some_and(|v| version >= v));
    let walk = match direction {
        Direction::Request => m.request,
        Direction::Response => m.response,
    };
    walk(&mut w, version)?;
    match direction {
        // Kafka brokers ignore bytes after a request's last field, and real clients send some
        // (librdkafka 2.16's Metadata v13 carries three), so requests are held to the same rule.
        Direction::Request => Ok(w),
        Direction::Response if w.remaining() != 0 => Err(DecodeError::TrailingBytes(w.remaining())),
        Direction::Response => Ok(w),
    }
}
