//! Frames changed at the byte level and written in pieces: the parts that did not change are
//! slices of the frame that arrived (record batches above all), written as they are, never
//! copied; only what changed, and the short runs between changes, is made anew.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::DecodeError;
use super::schema::{self, Direction};
use super::walk::NameAt;

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

/// Why names could not be changed at the byte level.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A name without the prefix to take off.
    #[error("a name lacks the prefix")]
    Unprefixed,
    #[error("a name or the frame would be too large")]
    TooLarge,
}

/// What happens to every topic name and transactional id of a message.
#[derive(Debug, Clone, Copy)]
pub enum Rename<'a> {
    /// The prefix goes in front of each.
    Add(&'a [u8]),
    /// The prefix comes off each; every one must carry it.
    Strip(&'a [u8]),
}

/// `body` (a message of `api` at `version`) with every topic name and transactional id it
/// carries renamed, walked as the structural check walks it; everything else is left as it
/// came. With `header` (the frame's bytes between its length and its body), the answer is the
/// whole frame; otherwise it is the body alone.
pub fn rename(
    api: ApiKey,
    direction: Direction,
    version: i16,
    header: Option<&[u8]>,
    body: &Bytes,
    rename: Rename<'_>,
) -> Result<Frame, RenameError> {
    let names = schema::names(api, direction, version, body)?;
    let flexible = schema::first_flexible_version(api).is_some_and(|v| version >= v);
    let renamed = |n: &NameAt| -> Result<(&[u8], &[u8]), RenameError> {
        let name = &body[n.start..n.end];
        match rename {
            Rename::Add(prefix) => Ok((prefix, name)),
            Rename::Strip(prefix) => match name.strip_prefix(prefix) {
                Some(rest) => Ok((&[], rest)),
                None => Err(RenameError::Unprefixed),
            },
        }
    };
    let mut len = header.map_or(0, <[u8]>::len) + body.len();
    for n in &names {
        let (before, rest) = renamed(n)?;
        let new = before.len() + rest.len();
        // The new length prefix and name instead of the old ones.
        len = len + length_size(flexible, new)? + new - (n.end - n.at);
    }
    let mut out = Builder::default();
    if let Some(header) = header {
        let len = i32::try_from(len).map_err(|_| RenameError::TooLarge)?;
        out.copy(&len.to_be_bytes());
        out.copy(header);
    }
    let mut from = 0;
    for n in &names {
        out.share(body.slice(from..n.at));
        let (before, rest) = renamed(n)?;
        let new = before.len() + rest.len();
        if flexible {
            put_uvarint(&mut out.small, new as u32 + 1);
        } else {
            out.small.put_i16(new as i16);
        }
        out.copy(before);
        out.copy(rest);
        from = n.end;
    }
    out.share(body.slice(from..));
    Ok(out.finish())
}

/// A Metadata response frame with each broker's address replaced by `address(node, host,
/// port)`'s, made at the byte level: the brokers are walked and written anew (node id, new
/// host, new port, then their rack and tagged fields as they came); everything after them,
/// the topics and their partitions that a large cluster has by the ten thousand, is a slice
/// of `body`, never decoded. `header` is the frame's bytes between its length and its body.
pub fn metadata_addresses<E: From<DecodeError> + From<super::EncodeError>>(
    version: i16,
    header: &[u8],
    body: &Bytes,
    mut address: impl FnMut(i32, &str, i32) -> Result<(String, i32), E>,
) -> Result<Frame, E> {
    let flexible = schema::first_flexible_version(ApiKey::Metadata).is_some_and(|v| version >= v);
    let mut w = super::walk::Walker::new(body, flexible);
    let at = |w: &super::walk::Walker<'_>| body.len() - w.remaining();
    if version >= 3 {
        w.i32()?; // throttle_time_ms
    }
    let mut brokers = Vec::new();
    let mut first = None;
    w.array(|w| {
        first.get_or_insert(at(w));
        brokers.push(metadata_broker(w, version, body.len())?);
        Ok(())
    })?;
    let end = at(&w);
    let first = first.unwrap_or(end);
    let mut made = BytesMut::with_capacity(64 * brokers.len());
    for BrokerAt {
        node,
        host,
        port,
        rest,
    } in brokers
    {
        let host = std::str::from_utf8(host)
            .map_err(|e| DecodeError::Invalid(anyhow::anyhow!("broker {node}'s host: {e}")))?;
        let (host, port) = address(node, host, port)?;
        let too_long = || super::EncodeError(anyhow::anyhow!("host {host:?} is too long"));
        let size = length_size(flexible, host.len()).map_err(|_| too_long())?;
        made.reserve(size + host.len() + 8 + rest.len());
        made.put_i32(node);
        if flexible {
            put_uvarint(&mut made, host.len() as u32 + 1);
        } else {
            made.put_i16(host.len() as i16);
        }
        made.put_slice(host.as_bytes());
        made.put_i32(port);
        made.put_slice(&body[rest]);
    }
    let len = header.len() + first + made.len() + (body.len() - end);
    let len =
        i32::try_from(len).map_err(|_| super::EncodeError(anyhow::anyhow!("frame too large")))?;
    let mut out = Builder::default();
    out.copy(&len.to_be_bytes());
    out.copy(header);
    out.copy(&body[..first]);
    out.copy(&made);
    out.share(body.slice(end..));
    Ok(out.finish())
}

/// A broker as a Metadata response gives it: node id, host, port, and where its rack and
/// tagged fields lie in the body.
struct BrokerAt<'a> {
    node: i32,
    host: &'a [u8],
    port: i32,
    rest: std::ops::Range<usize>,
}

/// One broker of a Metadata response body of `body_len` bytes.
fn metadata_broker<'a>(
    w: &mut super::walk::Walker<'a>,
    version: i16,
    body_len: usize,
) -> Result<BrokerAt<'a>, DecodeError> {
    let node = w.i32()?;
    let host = w.string()?.unwrap_or_default();
    let port = w.i32()?;
    let rest = body_len - w.remaining();
    if version >= 1 {
        w.string()?; // rack
    }
    w.tagged_fields()?;
    Ok(BrokerAt {
        node,
        host,
        port,
        rest: rest..body_len - w.remaining(),
    })
}

/// A Metadata response body keeping only the topics `keep(name)` accepts (a topic asked for
/// by id has no name), made at the byte level: the topics kept are slices of `body` as they
/// came, and so is everything before and after the topic list; only the list's count is made
/// anew. Nothing is decoded beyond the walk.
pub fn metadata_topics(
    version: i16,
    body: &Bytes,
    mut keep: impl FnMut(Option<&str>) -> bool,
) -> Result<Frame, DecodeError> {
    use super::walk::Walker;
    let flexible = schema::first_flexible_version(ApiKey::Metadata).is_some_and(|v| version >= v);
    let mut w = Walker::new(body, flexible);
    let at = |w: &Walker<'_>| body.len() - w.remaining();
    if version >= 3 {
        w.i32()?; // throttle_time_ms
    }
    w.array(|w| metadata_broker(w, version, body.len()).map(drop))?;
    if version >= 2 {
        w.string()?; // cluster_id
    }
    if version >= 1 {
        w.i32()?; // controller_id
    }
    let count_at = at(&w);
    // Each topic's bytes, and whether it stays.
    let mut topics = Vec::new();
    let int32s = |w: &mut Walker<'_>| w.array(|w| w.i32().map(drop)).map(drop);
    let mut failed = None;
    w.array(|w| {
        let start = at(w);
        w.i16()?;
        let name = w.topic_name()?;
        if version >= 10 {
            w.uuid()?;
        }
        if version >= 1 {
            w.bool()?;
        }
        w.array(|w| {
            w.i16()?;
            w.i32()?;
            w.i32()?;
            if version >= 7 {
                w.i32()?;
            }
            int32s(w)?;
            int32s(w)?;
            if version >= 5 {
                int32s(w)?;
            }
            w.tagged_fields()
        })?;
        if version >= 8 {
            w.i32()?; // topic_authorized_operations
        }
        w.tagged_fields()?;
        let name = match name.map(std::str::from_utf8).transpose() {
            Ok(n) => n,
            Err(e) => {
                failed = Some(e);
                None
            }
        };
        topics.push((start..at(w), keep(name)));
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(DecodeError::Invalid(anyhow::anyhow!("a topic name: {e}")));
    }
    let end = at(&w);
    let kept = topics.iter().filter(|(_, k)| *k).count();
    let mut out = Builder::default();
    out.share(body.slice(..count_at));
    if flexible {
        put_uvarint(&mut out.small, kept as u32 + 1);
    } else {
        out.small.put_i32(kept as i32);
    }
    // Runs of topics kept one after the other are one slice.
    let mut run: Option<std::ops::Range<usize>> = None;
    for (range, k) in topics {
        match (&mut run, k) {
            (Some(r), true) if r.end == range.start => r.end = range.end,
            (_, true) => {
                if let Some(r) = run.replace(range) {
                    out.share(body.slice(r));
                }
            }
            (_, false) => {
                if let Some(r) = run.take() {
                    out.share(body.slice(r));
                }
            }
        }
    }
    if let Some(r) = run {
        out.share(body.slice(r));
    }
    out.share(body.slice(end..));
    Ok(out.finish())
}

/// The bytes of a string's length prefix, for a string of `len` bytes (at most an INT16's
/// worth, as Kafka's strings are).
fn length_size(flexible: bool, len: usize) -> Result<usize, RenameError> {
    if len > i16::MAX as usize {
        return Err(RenameError::TooLarge);
    }
    if !flexible {
        return Ok(2);
    }
    let mut v = len as u32 + 1;
    let mut size = 1;
    while v >= 0x80 {
        v >>= 7;
        size += 1;
    }
    Ok(size)
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
        FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataResponse,
        ProduceRequest, TopicName, TransactionalId, fetch_response, list_offsets_response,
        produce_request,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;
    use crate::kafka;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }

    fn topic(v: &str) -> TopicName {
        TopicName(s(v))
    }

    /// The bytes of `out` that are slices of `frame` (shared, not copied); `out` must be in
    /// pieces.
    fn shared_with(frame: &Bytes, out: &Frame) -> usize {
        let Frame::Pieces(pieces) = out else {
            panic!("a frame in pieces, its records shared, not copied");
        };
        pieces
            .iter()
            .filter(|p| frame.as_ptr_range().contains(&p.as_ptr()))
            .map(Bytes::len)
            .sum()
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
            let out = rename(
                ApiKey::Fetch,
                Direction::Response,
                v,
                Some(&frame[4..offset]),
                &frame.slice(offset..),
                Rename::Strip(b"acme."),
            )
            .unwrap();
            let expected =
                kafka::encode_response(ApiKey::Fetch, v, 42, &fetch(&stripped, &records)).unwrap();
            // Every partition's records are in slices of the frame that arrived.
            let shared = shared_with(&frame, &out);
            let all = names.len() * 3 * records.len();
            assert!(shared >= all, "v{v}: {shared} of {all} record bytes shared");
            assert_eq!(out.clone().into_bytes(), expected, "v{v}");
            assert_eq!(out.len(), expected.len());
            let body = rename(
                ApiKey::Fetch,
                Direction::Response,
                v,
                None,
                &frame.slice(offset..),
                Rename::Strip(b"acme."),
            )
            .unwrap()
            .into_bytes();
            assert_eq!(body, expected.slice(offset..), "v{v}: body alone");
            let back: FetchResponse = kafka::decode_response::<FetchRequest>(v, &body).unwrap();
            assert_eq!(back.responses[5].topic.0.len(), 200);
        }
    }

    fn produce(
        transactional_id: Option<&str>,
        names: &[String],
        records: &Bytes,
    ) -> ProduceRequest {
        ProduceRequest::default()
            .with_transactional_id(transactional_id.map(|t| TransactionalId(s(t))))
            .with_acks(-1)
            .with_topic_data(
                names
                    .iter()
                    .map(|n| {
                        produce_request::TopicProduceData::default()
                            .with_name(topic(n))
                            .with_partition_data(
                                (0..2)
                                    .map(|p| {
                                        produce_request::PartitionProduceData::default()
                                            .with_index(p)
                                            .with_records(Some(records.clone()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    /// A Produce request gains the prefix on its topics and its transactional id at every
    /// version the proxy forwards, its records shared with the frame that arrived.
    #[test]
    fn a_produce_request_gains_the_prefix_and_keeps_its_records_as_they_came() {
        let records = Bytes::from(vec![9u8; 2048]);
        let names: Vec<String> = [1, 122, 123, 200].iter().map(|n| "t".repeat(*n)).collect();
        let prefixed: Vec<String> = names.iter().map(|n| format!("acme.{n}")).collect();
        let row = kafka::versions::supported(ApiKey::Produce).unwrap();
        for v in row.min..=row.max {
            for txn in [None, Some("tx")] {
                let frame = kafka::encode_request(
                    ApiKey::Produce,
                    v,
                    7,
                    "client",
                    &produce(txn, &names, &records),
                )
                .unwrap();
                let offset = kafka::header::parse_request_header(&frame)
                    .unwrap()
                    .body_offset;
                let out = rename(
                    ApiKey::Produce,
                    Direction::Request,
                    v,
                    Some(&frame[4..offset]),
                    &frame.slice(offset..),
                    Rename::Add(b"acme."),
                )
                .unwrap();
                let expected = kafka::encode_request(
                    ApiKey::Produce,
                    v,
                    7,
                    "client",
                    &produce(txn.map(|_| "acme.tx"), &prefixed, &records),
                )
                .unwrap();
                let shared = shared_with(&frame, &out);
                assert!(shared >= names.len() * 2 * records.len(), "v{v}");
                assert_eq!(out.into_bytes(), expected, "v{v} {txn:?}");
            }
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
            rename(
                ApiKey::ListOffsets,
                Direction::Response,
                7,
                None,
                body,
                Rename::Strip(b"acme."),
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

    fn metadata(brokers: &[(i32, &str, i32, Option<&str>)], topics: usize) -> MetadataResponse {
        use kafka_protocol::messages::BrokerId;
        use kafka_protocol::messages::metadata_response::{
            MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
        };
        MetadataResponse::default()
            .with_cluster_id(Some(s("cluster")))
            .with_controller_id(BrokerId(2))
            .with_brokers(
                brokers
                    .iter()
                    .map(|(node, host, port, rack)| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(*node))
                            .with_host(s(host))
                            .with_port(*port)
                            .with_rack(rack.map(s))
                    })
                    .collect(),
            )
            .with_topics(
                (0..topics)
                    .map(|t| {
                        MetadataResponseTopic::default()
                            .with_name(Some(topic(&format!("topic-{t}"))))
                            .with_partitions(
                                (0..6)
                                    .map(|p| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(BrokerId(p % 3))
                                            .with_replica_nodes(vec![BrokerId(0), BrokerId(1)])
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    /// Every Metadata version: the frame made at the byte level is the frame the typed codec
    /// makes of the response with the new addresses (hosts longer and shorter than the
    /// brokers', one past a compact string's one-byte length, racks and none), and the topics
    /// are a slice of the frame that arrived.
    #[test]
    fn a_metadata_response_gets_new_addresses_and_keeps_its_topics_as_they_came() {
        let long = "h".repeat(130);
        let brokers = [
            (1, "broker-1.internal", 9092, Some("rack-a")),
            (2, "b2", 9093, None),
            (3, long.as_str(), 9094, Some("rack-c")),
        ];
        let told = |node: i32| -> (String, i32) {
            match node {
                1 => ("p".repeat(200), 7001),
                2 => ("proxy.example.com".to_owned(), 7002),
                _ => ("x".to_owned(), 7000 + node),
            }
        };
        let mut renamed = brokers.map(|(n, _, _, rack)| (n, String::new(), 0, rack));
        for b in &mut renamed {
            (b.1, b.2) = told(b.0);
        }
        let renamed: Vec<(i32, &str, i32, Option<&str>)> = renamed
            .iter()
            .map(|(n, h, p, r)| (*n, h.as_str(), *p, *r))
            .collect();
        for v in 0..=13 {
            for (topics, shared) in [(0, false), (40, true)] {
                let frame =
                    kafka::encode_response(ApiKey::Metadata, v, 42, &metadata(&brokers, topics))
                        .unwrap();
                let offset = if v >= 9 { 9 } else { 8 };
                let mut seen = Vec::new();
                let out = metadata_addresses::<Refused>(
                    v,
                    &frame[4..offset],
                    &frame.slice(offset..),
                    |node, host, port| {
                        seen.push((node, host.to_owned(), port));
                        Ok(told(node))
                    },
                )
                .unwrap();
                let expected =
                    kafka::encode_response(ApiKey::Metadata, v, 42, &metadata(&renamed, topics))
                        .unwrap();
                assert_eq!(out.clone().into_bytes(), expected, "v{v}, {topics} topics");
                let real: Vec<_> = brokers.iter().map(|b| (b.0, b.1.to_owned(), b.2)).collect();
                assert_eq!(seen, real, "v{v}: each broker's real address");
                if shared {
                    assert!(
                        shared_with(&frame, &out) > 40 * 6 * 20,
                        "v{v}: topics shared"
                    );
                }
            }
        }
    }

    /// Every Metadata version: the topics left out at the byte level leave the body the typed
    /// codec makes of the response without them (none kept, some, all; runs of kept topics
    /// and single ones), and the kept topics are slices of the body that arrived.
    #[test]
    fn a_metadata_response_loses_the_topics_left_out_and_keeps_the_others_as_they_came() {
        let brokers = [(1, "broker-1", 9092, Some("rack-a")), (2, "b2", 9093, None)];
        let keeps: [&dyn Fn(usize) -> bool; 4] = [&|_| false, &|_| true, &|t| t % 3 != 1, &|t| {
            (10..30).contains(&t)
        }];
        for v in 0..=13 {
            let all = metadata(&brokers, 40);
            let mut body = BytesMut::new();
            all.encode(&mut body, v).unwrap();
            let body = body.freeze();
            for (k, keep) in keeps.iter().enumerate() {
                let out = metadata_topics(v, &body, |name| {
                    let n: usize = name.unwrap()["topic-".len()..].parse().unwrap();
                    keep(n)
                })
                .unwrap();
                let mut expected = all.clone();
                expected.topics.retain(|t| {
                    let n: usize = t.name.as_ref().unwrap().0["topic-".len()..]
                        .parse()
                        .unwrap();
                    keep(n)
                });
                let mut want = BytesMut::new();
                expected.encode(&mut want, v).unwrap();
                assert_eq!(out.clone().into_bytes(), want.freeze(), "v{v}, keep #{k}");
                if k == 3 {
                    assert!(
                        shared_with(&body, &out) > 20 * 6 * 20,
                        "v{v}: kept topics shared"
                    );
                }
            }
        }
    }

    /// A Metadata response cut anywhere in its brokers is refused, not passed on in part.
    #[test]
    fn a_metadata_response_cut_in_its_brokers_is_refused() {
        let frame = kafka::encode_response(
            ApiKey::Metadata,
            12,
            42,
            &metadata(&[(1, "broker", 9092, Some("r"))], 0),
        )
        .unwrap();
        let body = frame.slice(9..);
        // Throttle time, the brokers' count, then the broker: node, host, port, rack, tags.
        let brokers_end = 4 + 1 + (4 + 7 + 4 + 2 + 1);
        for cut in 0..brokers_end {
            let r =
                metadata_addresses::<Refused>(12, &frame[4..9], &body.slice(..cut), |_, _, _| {
                    Ok(("proxy".to_owned(), 1))
                });
            let Refused(why) = r.expect_err("a cut response is refused");
            assert!(
                why.contains("truncated") || why.contains("exceeds"),
                "cut at {cut}: {why}"
            );
        }
    }

    /// Why the byte-level Metadata rewrite refused, as its message.
    #[derive(Debug)]
    struct Refused(String);

    impl From<DecodeError> for Refused {
        fn from(e: DecodeError) -> Self {
            Self(e.to_string())
        }
    }

    impl From<crate::kafka::EncodeError> for Refused {
        fn from(e: crate::kafka::EncodeError) -> Self {
            Self(e.to_string())
        }
    }
}
