//! Frames changed at the byte level and written in pieces: the parts that did not change are
//! slices of the frame that arrived (record batches above all), written as they are, never
//! copied; only what changed, and the short runs between changes, is made anew.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::DecodeError;
use super::schema::{self, Direction};

/// A run this long or longer is shared with the frame it came from rather than copied.
const SHARE_FROM: usize = 512;

/// A frame to write: one buffer, or pieces written in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Whole(Bytes),
    Pieces(Vec<Bytes>),
}

impl Frame {
    /// Its length on the wire, length prefix included.
    pub fn len(&self) -> usize {
        match self {
            Frame::Whole(b) => b.len(),
            Frame::Pieces(p) => p.iter().map(Bytes::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One buffer: the pieces copied together, if there are several.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Frame::Whole(b) => b,
            Frame::Pieces(p) => {
                let mut out = BytesMut::with_capacity(p.iter().map(Bytes::len).sum());
                p.iter().for_each(|b| out.put_slice(b));
                out.freeze()
            }
        }
    }

    /// Writes the frame (through the writer's buffer, which passes large pieces straight on).
    pub async fn write_to<W: AsyncWrite + Unpin>(&self, w: &mut W) -> std::io::Result<()> {
        match self {
            Frame::Whole(b) => w.write_all(b).await,
            Frame::Pieces(pieces) => {
                for p in pieces {
                    w.write_all(p).await?;
                }
                Ok(())
            }
        }
    }
}

impl From<Bytes> for Frame {
    fn from(b: Bytes) -> Self {
        Frame::Whole(b)
    }
}

/// Why topic names could not be changed at the byte level.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A topic name without the prefix.
    #[error("a topic name lacks the prefix")]
    Unprefixed,
    #[error("the frame would be too large")]
    TooLarge,
}

/// `body` (a message of `api` at `version`) with `prefix` taken off every topic name it
/// carries, walked as the structural check walks it. With `header` (the frame's bytes between
/// its length and its body), the answer is the whole frame; otherwise it is the body alone.
/// Every name must carry the prefix.
pub fn strip_topic_prefix(
    api: ApiKey,
    direction: Direction,
    version: i16,
    header: Option<&[u8]>,
    body: &Bytes,
    prefix: &[u8],
) -> Result<Frame, RenameError> {
    let names = schema::topic_names(api, direction, version, body)?;
    let flexible = schema::first_flexible_version(api).is_some_and(|v| version >= v);
    let mut shrink = 0usize;
    for n in &names {
        if !body[n.start..n.end].starts_with(prefix) {
            return Err(RenameError::Unprefixed);
        }
        let old = n.start - n.at;
        let new = length_size(flexible, n.end - n.start - prefix.len());
        shrink += prefix.len() + old - new;
    }
    let mut out = Builder::default();
    if let Some(header) = header {
        let len =
            i32::try_from(header.len() + body.len() - shrink).map_err(|_| RenameError::TooLarge)?;
        out.copy(&len.to_be_bytes());
        out.copy(header);
    }
    let mut from = 0;
    for n in &names {
        out.share(body.slice(from..n.at));
        let name = &body[n.start + prefix.len()..n.end];
        if flexible {
            put_uvarint(&mut out.small, name.len() as u32 + 1);
        } else {
            // Shorter than the name that arrived, whose length was an INT16.
            out.small.put_i16(name.len() as i16);
        }
        out.copy(name);
        from = n.end;
    }
    out.share(body.slice(from..));
    Ok(out.finish())
}

/// The bytes of a string's length prefix.
fn length_size(flexible: bool, len: usize) -> usize {
    if !flexible {
        return 2;
    }
    let mut v = len as u32 + 1;
    let mut size = 1;
    while v >= 0x80 {
        v >>= 7;
        size += 1;
    }
    size
}

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Collects pieces: short runs are copied together, long ones shared.
#[derive(Default)]
struct Builder {
    pieces: Vec<Bytes>,
    small: BytesMut,
}

impl Builder {
    fn copy(&mut self, b: &[u8]) {
        self.small.put_slice(b);
    }

    fn share(&mut self, b: Bytes) {
        if b.len() < SHARE_FROM {
            self.copy(&b);
            return;
        }
        if !self.small.is_empty() {
            self.pieces.push(self.small.split().freeze());
        }
        self.pieces.push(b);
    }

    fn finish(mut self) -> Frame {
        if !self.small.is_empty() {
            self.pieces.push(self.small.split().freeze());
        }
        match self.pieces.len() {
            1 => Frame::Whole(self.pieces.remove(0)),
            _ => Frame::Pieces(self.pieces),
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{
        FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
        fetch_response, list_offsets_response,
    };
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::kafka;

    fn topic(v: &str) -> TopicName {
        TopicName(StrBytes::from_string(v.to_owned()))
    }

    fn fetch(names: &[String], records: &Bytes) -> FetchResponse {
        FetchResponse::default().with_responses(
            names
                .iter()
                .map(|n| {
                    fetch_response::FetchableTopicResponse::default()
                        .with_topic(topic(n))
                        .with_partitions(
                            (0..3)
                                .map(|p| {
                                    fetch_response::PartitionData::default()
                                        .with_partition_index(p)
                                        .with_records(Some(records.clone()))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    /// Every Fetch version the proxy forwards, names of every length class a compact string
    /// has (a one-byte and a two-byte length, before and after the prefix goes): the frame
    /// changed at the byte level is the frame the typed codec makes of the renamed message.
    #[test]
    fn a_fetch_response_loses_the_prefix_and_keeps_its_records_as_they_came() {
        let records = Bytes::from(vec![7u8; 4096]);
        let names: Vec<String> = [1, 120, 124, 126, 127, 200]
            .iter()
            .map(|n| format!("acme.{}", "t".repeat(*n)))
            .collect();
        let stripped: Vec<String> = names.iter().map(|n| n[5..].to_owned()).collect();
        for v in 4..=12 {
            let frame =
                kafka::encode_response(ApiKey::Fetch, v, 42, &fetch(&names, &records)).unwrap();
            let offset = if v >= 12 { 9 } else { 8 };
            let out = strip_topic_prefix(
                ApiKey::Fetch,
                Direction::Response,
                v,
                Some(&frame[4..offset]),
                &frame.slice(offset..),
                b"acme.",
            )
            .unwrap();
            let expected =
                kafka::encode_response(ApiKey::Fetch, v, 42, &fetch(&stripped, &records)).unwrap();
            let Frame::Pieces(pieces) = &out else {
                panic!("v{v}: records are shared, not copied");
            };
            // Every partition's records are in slices of the frame that arrived.
            let shared: usize = pieces
                .iter()
                .filter(|p| frame.as_ptr_range().contains(&p.as_ptr()))
                .map(Bytes::len)
                .sum();
            let all = names.len() * 3 * records.len();
            assert!(shared >= all, "v{v}: {shared} of {all} record bytes shared");
            assert_eq!(out.clone().into_bytes(), expected, "v{v}");
            assert_eq!(out.len(), expected.len());
            let body = strip_topic_prefix(
                ApiKey::Fetch,
                Direction::Response,
                v,
                None,
                &frame.slice(offset..),
                b"acme.",
            )
            .unwrap()
            .into_bytes();
            assert_eq!(body, expected.slice(offset..), "v{v}: body alone");
            let back: FetchResponse = kafka::decode_response::<FetchRequest>(v, &body).unwrap();
            assert_eq!(back.responses[5].topic.0.len(), 200);
        }
    }

    #[test]
    fn a_name_without_the_prefix_or_a_malformed_body_is_refused() {
        let answer = ListOffsetsResponse::default().with_topics(vec![
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(topic("acme.orders")),
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(topic("globex.orders")),
        ]);
        let body = kafka::encode_body(7, &answer).unwrap();
        let strip = |body: &Bytes| {
            strip_topic_prefix(
                ApiKey::ListOffsets,
                Direction::Response,
                7,
                None,
                body,
                b"acme.",
            )
        };
        assert!(matches!(strip(&body), Err(RenameError::Unprefixed)));
        assert!(matches!(
            strip(&body.slice(..body.len() - 3)),
            Err(RenameError::Decode(_))
        ));
        let mine = ListOffsetsResponse::default().with_topics(vec![
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(topic("acme.orders")),
        ]);
        let body = kafka::encode_body(7, &mine).unwrap();
        let out = strip(&body).unwrap();
        assert!(matches!(out, Frame::Whole(_)), "a short body is one piece");
        let back = kafka::decode_response::<ListOffsetsRequest>(7, &out.into_bytes()).unwrap();
        assert_eq!(back.topics[0].name.0.as_str(), "orders");
    }
}
