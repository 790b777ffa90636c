//! Per-frame costs on the proxy's hot path, over frames encoded like real clients' and
//! brokers': framing, request header parsing, the acks peek of Produce, the Metadata response
//! rewrite (at the byte level, as the proxy makes it, and decoded, address changed, encoded,
//! as it is made inside an ACL filter's decode), and the ACL filtering of a Metadata
//! listing (the request decided, then the response decoded, filtered to the topics the
//! caller may describe and encoded, as `proxy::fuzzing::request` runs it: the caller may
//! describe the names starting with `a`).
//!
//!   cargo bench --bench codec

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_oidc_proxy::kafka::codec::FrameReader;
use kafka_oidc_proxy::kafka::header::parse_request_header;
use kafka_oidc_proxy::kafka::{decode_response, produce_acks};
use kafka_oidc_proxy::metrics::METRICS;
use kafka_protocol::messages::{ApiKey, MetadataRequest};

#[path = "../tests/common/mod.rs"]
mod common;

/// A Produce v9 request frame with a 16 KiB record batch, as librdkafka sends them.
fn produce_frame() -> Bytes {
    let mut body = BytesMut::new();
    body.put_i16(0); // api key
    body.put_i16(9);
    body.put_i32(42);
    body.put_i16(7);
    body.put_slice(b"rdkafka");
    body.put_u8(0); // header tags
    body.put_u8(0); // null transactional id (compact)
    body.put_i16(-1); // acks=all
    body.put_i32(30_000);
    body.put_u8(2); // one topic
    body.put_u8(7);
    body.put_slice(b"orders");
    body.put_u8(2); // one partition
    body.put_i32(0);
    body.put_u8(0x81); // records length varint (16384 + 1)
    body.put_u8(0x80);
    body.put_u8(0x01);
    body.put_slice(&[0u8; 16384]);
    body.put_u8(0);
    body.put_u8(0);
    body.put_u8(0);
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    frame.freeze()
}

fn bench(c: &mut Criterion) {
    let frame = produce_frame();
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_header+acks (produce v9)", |b| {
        b.iter(|| {
            let h = parse_request_header(&frame).expect("header");
            produce_acks(h.api_version, &frame[h.body_offset..]).expect("acks")
        })
    });
    // The structural check every request passes before it is decoded or forwarded.
    g.bench_function("check (produce v9, 1 topic)", |b| {
        b.iter(|| {
            let h = parse_request_header(&frame).expect("header");
            kafka_oidc_proxy::kafka::check_request(
                0,
                h.api_version,
                &frame[h.body_offset..],
                100_000,
            )
            .expect("valid")
        })
    });
    // What the metrics add to one request on the data plane: its bytes in and out, its
    // count, the clock read at its arrival, at its handing to the broker's connection and at
    // its response read, and both durations observed when its response is written.
    let bytes = METRICS.listener_bytes("bench", false);
    g.bench_function("metrics of one request", |b| {
        b.iter(|| {
            bytes.received.inc_by(frame.len() as u64);
            let metric = METRICS.request(ApiKey::Produce, false).expect("Produce");
            metric.arrived();
            let arrived = std::time::Instant::now();
            let sent = std::time::Instant::now();
            let upstream = std::time::Instant::now().saturating_duration_since(sent);
            bytes.sent.inc_by(64);
            metric.answered(arrived.elapsed(), upstream);
        })
    });
    g.finish();

    let stream: Vec<u8> = (0..64).flat_map(|_| frame.iter().copied()).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("64 produce frames of 16 KiB", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut r = FrameReader::new(&stream[..], 1 << 20);
                let mut n = 0;
                while let Some(f) = r.next_frame().await.expect("frame") {
                    n += f.len();
                }
                n
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("metadata rewrite");
    for topics in [1usize, 100, 10_000] {
        let body = common::metadata::response(3, topics);
        g.bench_function(format!("3 brokers, {topics} topics"), |b| {
            b.iter(|| common::metadata::rewrite(&body))
        });
        g.bench_function(format!("3 brokers, {topics} topics, decoded"), |b| {
            b.iter(|| common::metadata::rewrite_decoded(&body))
        });
    }
    g.finish();

    // A listing (all topics) by a caller who may describe half of them.
    let listing = common::metadata::listing();
    let mut g = c.benchmark_group("metadata filter");
    for topics in [100usize, 10_000] {
        let body = common::metadata::half_allowed(topics);
        let filtered = kafka_oidc_proxy::proxy::fuzzing::request(&listing, &body)
            .expect("the listing's response is filtered");
        let seen = decode_response::<MetadataRequest>(12, &filtered).expect("decodes");
        assert_eq!(seen.topics.len(), topics / 2, "the allowed half");
        g.bench_function(format!("3 brokers, {topics} topics, half allowed"), |b| {
            b.iter(|| kafka_oidc_proxy::proxy::fuzzing::request(&listing, &body))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
