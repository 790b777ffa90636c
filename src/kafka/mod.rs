//! Kafka wire helpers: framing, headers, the guarded decode entry point and the supported
//! versions table. Nothing here knows about sessions or policy.

pub mod codec;
pub mod error_code;
pub mod error_response;
pub mod header;
pub mod pieces;
pub mod schema;
pub mod tail;
pub mod versions;
mod walk;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, Request};

pub use schema::Direction;

/// Why a frame or message body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body ended before a field it announces.
    #[error("message truncated")]
    Truncated,
    /// A length prefix below -1.
    #[error("negative length prefix")]
    NegativeLength,
    /// An array claims more elements than there are bytes left, which no valid message can.
    #[error("array count {count} exceeds the {remaining} bytes left")]
    ImpossibleCount {
        /// The count read off the wire.
        count: usize,
        /// Bytes left in the body when the count was read.
        remaining: usize,
    },
    /// A request holds more array entries, at every depth, than the proxy accepts in one
    /// request (`limits.max_request_entries`).
    #[error("more than {limit} array entries in one request (limits.max_request_entries)")]
    TooManyEntries {
        /// The limit in force.
        limit: usize,
    },
    /// The body has bytes after its last field.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The proxy never decodes this message, so it has no walker for it.
    #[error("the proxy does not decode this message")]
    NoSchema,
    /// Kafka's definitions (as kafka-protocol decodes them) have no such version.
    #[error("{api} v{version} is not a version Kafka defines")]
    UnknownVersion { api: &'static str, version: i16 },
    /// The API key is not one Kafka defines.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A name to rename sits in a tagged field, whose size would change with it (no message
    /// the proxy forwards has one there).
    #[error("a name inside a tagged field cannot be renamed in place")]
    NameInTaggedField,
    /// The message passed the structural check but the crate's decoder refused it
    /// (a version it does not know, invalid UTF-8, ...).
    #[error("invalid message: {0}")]
    Invalid(#[source] anyhow::Error),
}

/// The one entry point through which any request body is decoded: the body is walked first
/// (no allocation, every count checked against the bytes left) and only then handed to the
/// kafka-protocol decoder.
pub fn decode_request<R: Request>(version: i16, body: &Bytes) -> Result<R, DecodeError> {
    decode_checked(R::KEY, Direction::Request, version, body)
}

/// As [`decode_request`], for the response to request type `R`.
pub fn decode_response<R: Request>(version: i16, body: &Bytes) -> Result<R::Response, DecodeError> {
    decode_checked(R::KEY, Direction::Response, version, body)
}

fn decode_checked<T: Decodable>(
    key: i16,
    direction: Direction,
    version: i16,
    body: &Bytes,
) -> Result<T, DecodeError> {
    let api = ApiKey::try_from(key).map_err(|()| DecodeError::UnknownApiKey(key))?;
    schema::check(api, direction, version, body)?;
    let mut buf = body.clone();
    T::decode(&mut buf, version).map_err(DecodeError::Invalid)
}

/// Decodes a body of any message the proxy decodes, through the guarded entry point, and
/// discards the result: the fuzz target's way in, which must never panic or abort.
pub fn decode_any(
    key: i16,
    direction: Direction,
    version: i16,
    body: &Bytes,
) -> Result<(), DecodeError> {
    use kafka_protocol::messages::*;
    fn one<R: Request>(
        direction: Direction,
        version: i16,
        body: &Bytes,
    ) -> Result<(), DecodeError> {
        match direction {
            Direction::Request => decode_request::<R>(version, body).map(drop),
            Direction::Response => decode_response::<R>(version, body).map(drop),
        }
    }
    let api = ApiKey::try_from(key).map_err(|()| DecodeError::UnknownApiKey(key))?;
    match api {
        ApiKey::ApiVersions => one::<ApiVersionsRequest>(direction, version, body),
        ApiKey::Metadata => one::<MetadataRequest>(direction, version, body),
        ApiKey::FindCoordinator => one::<FindCoordinatorRequest>(direction, version, body),
        ApiKey::DescribeCluster => one::<DescribeClusterRequest>(direction, version, body),
        ApiKey::SaslHandshake => one::<SaslHandshakeRequest>(direction, version, body),
        ApiKey::SaslAuthenticate => one::<SaslAuthenticateRequest>(direction, version, body),
        ApiKey::Produce if direction == Direction::Request => produce_acks(version, body).map(drop),
        _ => Err(DecodeError::NoSchema),
    }
}

/// Structurally checks any body, for callers (and the fuzz target) that hold only an API key.
pub fn check_body(
    key: i16,
    direction: Direction,
    version: i16,
    body: &[u8],
) -> Result<(), DecodeError> {
    let api = ApiKey::try_from(key).map_err(|()| DecodeError::UnknownApiKey(key))?;
    schema::check(api, direction, version, body)
}

/// Structurally checks a request body and bounds its array entries (at every depth) by
/// `max_entries`, before anything decodes it. The answer vouches for the body, so that the
/// decode that follows need not walk it again ([`decode_checked_request`]).
pub fn check_request(
    key: i16,
    version: i16,
    body: &[u8],
    max_entries: usize,
) -> Result<Checked, DecodeError> {
    let api = ApiKey::try_from(key).map_err(|()| DecodeError::UnknownApiKey(key))?;
    schema::check_within(api, Direction::Request, version, body, max_entries)?;
    let acks = match api {
        ApiKey::Produce => Some(produce_acks(version, body)?),
        _ => None,
    };
    Ok(Checked {
        api_key: key,
        version,
        len: body.len(),
        acks,
    })
}

/// A request body that passed [`check_request`]: its API key, version and length, and what
/// the proxy needs of it besides (a Produce's `acks`). Only the check makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    api_key: i16,
    version: i16,
    len: usize,
    acks: Option<i16>,
}

impl Checked {
    /// Whether the broker answers the request: every request but a Produce with `acks=0`.
    pub fn expects_response(&self) -> bool {
        self.acks != Some(0)
    }
}

/// Decodes a request body that `checked` vouches for without walking it again; a body it
/// does not vouch for (another key, version or length, or none) is walked first, as
/// [`decode_request`] does.
pub fn decode_checked_request<R: Request>(
    checked: Option<Checked>,
    version: i16,
    body: &Bytes,
) -> Result<R, DecodeError> {
    let vouched =
        checked.is_some_and(|c| (c.api_key, c.version, c.len) == (R::KEY, version, body.len()));
    if !vouched {
        return decode_request(version, body);
    }
    let mut buf = body.clone();
    R::decode(&mut buf, version).map_err(DecodeError::Invalid)
}

/// The `acks` of a Produce request (v3+): 0 means the broker sends no response.
pub fn produce_acks(version: i16, body: &[u8]) -> Result<i16, DecodeError> {
    let mut w = walk::Walker::new(body, version >= 9);
    w.string()?; // transactional_id
    w.i16()
}

/// The first field of a request body, a string (the group id of JoinGroup, the transactional
/// id of EndTxn...), read without decoding the rest of the body.
/// `None` when it is null.
pub fn leading_string(
    api: ApiKey,
    version: i16,
    body: &[u8],
) -> Result<Option<String>, DecodeError> {
    let flexible = schema::first_flexible_version(api).is_some_and(|v| version >= v);
    let mut w = walk::Walker::new(body, flexible);
    w.string()?
        .map(|b| String::from_utf8(b.to_vec()).map_err(|e| DecodeError::Invalid(e.into())))
        .transpose()
}

/// Encodes a message body alone (no length, no header).
pub fn encode_body<M: Encodable>(version: i16, body: &M) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(64);
    body.encode(&mut buf, version).map_err(EncodeError)?;
    Ok(buf.freeze())
}

/// A response frame with the header of `frame` (whose body starts at `body_offset`) and a new
/// body.
pub fn replace_body(frame: &[u8], body_offset: usize, body: &[u8]) -> Result<Bytes, EncodeError> {
    let header = &frame[4..body_offset];
    let len = i32::try_from(header.len() + body.len())
        .map_err(|_| EncodeError(anyhow::anyhow!("frame too large")))?;
    let mut buf = BytesMut::with_capacity(4 + header.len() + body.len());
    buf.put_i32(len);
    buf.put_slice(header);
    buf.put_slice(body);
    Ok(buf.freeze())
}

/// Encodes a complete response frame (length prefix, header, body) for a request.
pub fn encode_response<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes, EncodeError> {
    encode_response_with_header_version(
        api.response_header_version(version),
        version,
        correlation_id,
        body,
    )
}

/// A complete response frame for a request from a body already encoded.
pub fn response_frame(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &[u8],
) -> Result<Bytes, EncodeError> {
    let header_version = api.response_header_version(version);
    let mut buf = BytesMut::with_capacity(9 + body.len());
    buf.put_i32(0);
    buf.put_i32(correlation_id);
    if header_version >= 1 {
        buf.put_u8(0); // empty tagged fields
    }
    buf.put_slice(body);
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| EncodeError(anyhow::anyhow!("frame too large")))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// As [`encode_response`] with an explicit response header version (ApiVersions always uses 0,
/// KIP-511).
pub fn encode_response_with_header_version<M: Encodable>(
    header_version: i16,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    buf.put_i32(correlation_id);
    if header_version >= 1 {
        buf.put_u8(0); // empty tagged fields
    }
    body.encode(&mut buf, version).map_err(EncodeError)?;
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| EncodeError(anyhow::anyhow!("frame too large")))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// A message could not be encoded (a field does not fit the version).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(#[source] pub anyhow::Error);

/// A complete request frame with a v1/v2 request header and a body already encoded.
pub fn request_frame(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(16 + client_id.len() + body.len());
    buf.put_i32(0);
    buf.put_i16(api as i16);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    let id_len = i16::try_from(client_id.len())
        .map_err(|_| EncodeError(anyhow::anyhow!("client id too long")))?;
    buf.put_i16(id_len);
    buf.put_slice(client_id.as_bytes());
    if api.request_header_version(version) >= 2 {
        buf.put_u8(0);
    }
    buf.put_slice(body);
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| EncodeError(anyhow::anyhow!("frame too large")))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// Encodes a complete request frame with a v1/v2 request header, for the proxy's own requests
/// to brokers.
pub fn encode_request<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &M,
) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(64 + client_id.len());
    buf.put_i32(0);
    buf.put_i16(api as i16);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    let id_len = i16::try_from(client_id.len())
        .map_err(|_| EncodeError(anyhow::anyhow!("client id too long")))?;
    buf.put_i16(id_len);
    buf.put_slice(client_id.as_bytes());
    if api.request_header_version(version) >= 2 {
        buf.put_u8(0);
    }
    body.encode(&mut buf, version).map_err(EncodeError)?;
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| EncodeError(anyhow::anyhow!("frame too large")))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::MetadataRequest;

    use super::*;

    #[test]
    fn a_check_vouches_only_for_the_body_it_checked() {
        let valid = encode_body(12, &MetadataRequest::default()).expect("encodes");
        let checked = check_request(3, 12, &valid, 1000).expect("valid");
        let decoded: MetadataRequest =
            decode_checked_request(Some(checked), 12, &valid).expect("decodes");
        assert_eq!(decoded, MetadataRequest::default());
        // A topic count of 0x7fffffff in five bytes: the crate's decoder alone would try to
        // allocate for it. Neither another body nor no check at all skips the walk.
        let hostile = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x08]);
        assert!(check_request(3, 12, &hostile, 1000).is_err());
        for proof in [Some(checked), None] {
            let refused = decode_checked_request::<MetadataRequest>(proof, 12, &hostile);
            assert!(
                matches!(refused, Err(DecodeError::ImpossibleCount { .. })),
                "{refused:?}"
            );
        }
        assert!(checked.expects_response(), "a Metadata request is answered");
        for (acks, answered) in [(0, false), (1, true), (-1, true)] {
            let produce = kafka_protocol::messages::ProduceRequest::default().with_acks(acks);
            let body = encode_body(9, &produce).expect("encodes");
            let checked = check_request(0, 9, &body, 1000).expect("valid");
            assert_eq!(checked.expects_response(), answered, "acks={acks}");
        }
        // Nor a check of another version.
        let other = check_request(3, 11, &valid, 1000).expect("valid");
        assert!(decode_checked_request::<MetadataRequest>(Some(other), 12, &hostile).is_err());
    }
}
