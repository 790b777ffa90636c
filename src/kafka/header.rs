//! Request and response headers, parsed without the crate so that a short or hostile frame is
//! an error, never a panic (`decode_request_header_from_buffer` indexes before checking length).

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::DecodeError;
use super::walk::Walker;

/// The fields of a request header the proxy needs, and where the body starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The raw API key (may be one Kafka does not define).
    pub api_key: i16,
    /// The request version.
    pub api_version: i16,
    /// The client's correlation id, echoed in the response.
    pub correlation_id: i32,
    /// Where the client id lies in the frame, if the client sent one (not copied: the header
    /// is parsed for every request).
    pub client_id: Option<std::ops::Range<usize>>,
    /// Offset of the body within the frame (prefix included).
    pub body_offset: usize,
}

impl RequestHeader {
    /// The API key, if Kafka defines it.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::try_from(self.api_key).ok()
    }

    /// The client id, lossily converted, for logs.
    pub fn client_id<'a>(&self, frame: &'a [u8]) -> Option<std::borrow::Cow<'a, str>> {
        let range = self.client_id.clone()?;
        frame.get(range).map(String::from_utf8_lossy)
    }

    /// The body of `frame` (which must be the frame this header was parsed from).
    pub fn body(&self, frame: &Bytes) -> Bytes {
        frame.slice(self.body_offset..)
    }
}

/// Parses the request header of a frame (length prefix included).
///
/// Unknown API keys are parsed as far as the fixed fields (api key, version, correlation id),
/// which every header version shares, and returned with `body_offset` pointing after them so
/// the caller can log and refuse them.
pub fn parse_request_header(frame: &[u8]) -> Result<RequestHeader, DecodeError> {
    let mut w = Walker::new(frame.get(4..).unwrap_or_default(), false);
    let api_key = w.i16()?;
    let api_version = w.i16()?;
    let correlation_id = w.i32()?;
    let header_version = ApiKey::try_from(api_key)
        .map(|api| api.request_header_version(api_version))
        .unwrap_or(0);
    let mut client_id = None;
    if header_version >= 1 {
        // client_id stays a non-compact nullable STRING even in header v2 (KIP-482).
        let start = frame.len() - w.remaining() + 2;
        client_id = w.string()?.map(|b| start..start + b.len());
    }
    if header_version >= 2 {
        w.set_flexible(true);
        w.tagged_fields()?;
    }
    Ok(RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
        body_offset: frame.len() - w.remaining(),
    })
}

/// Parses a response frame's header: its correlation id and the offset of the body.
pub fn parse_response_header(
    frame: &[u8],
    header_version: i16,
) -> Result<(i32, usize), DecodeError> {
    let mut w = Walker::new(frame.get(4..).unwrap_or_default(), header_version >= 1);
    let correlation_id = w.i32()?;
    w.tagged_fields()?;
    Ok((correlation_id, frame.len() - w.remaining()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn metadata_v1_header() {
        let f = frame(&[0, 3, 0, 1, 0, 0, 0, 7, 0, 2, b'i', b'd', 0xaa]);
        let h = parse_request_header(&f).unwrap();
        assert_eq!((h.api_key, h.api_version, h.correlation_id), (3, 1, 7));
        assert_eq!(h.client_id(&f).as_deref(), Some("id"));
        assert_eq!(&f[h.body_offset..], &[0xaa]);
    }

    #[test]
    fn flexible_header_skips_tagged_fields() {
        // ApiVersions v3: header v2 with one tagged field of two bytes.
        let f = frame(&[0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 1, 5, 2, 9, 9, 0xbb]);
        let h = parse_request_header(&f).unwrap();
        assert_eq!(h.client_id, None);
        assert_eq!(&f[h.body_offset..], &[0xbb]);
    }

    #[test]
    fn short_frames_are_errors() {
        for len in 0..12 {
            let f = frame(&[0, 3, 0, 1, 0, 0, 0, 7][..len.min(8)]);
            if len < 8 {
                assert!(parse_request_header(&f).is_err(), "len {len}");
            }
        }
        assert!(parse_request_header(&[0, 0]).is_err());
        // client id longer than the frame
        assert!(parse_request_header(&frame(&[0, 3, 0, 1, 0, 0, 0, 7, 0, 9, b'x'])).is_err());
    }

    #[test]
    fn unknown_api_key_keeps_fixed_fields() {
        let f = frame(&[0x7f, 0x00, 0, 0, 0, 0, 0, 42]);
        let h = parse_request_header(&f).unwrap();
        assert_eq!((h.api_key, h.correlation_id), (0x7f00, 42));
        assert!(h.api().is_none());
    }
}
