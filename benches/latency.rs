//! Added latency, in microseconds: produce to acknowledgement of 1 KiB records at fixed rates
//! (25, 50 and 75 % of the maximum measured direct), acks=1 and acks=all, direct to the
//! partition's leader, through the proxy without authentication, and through the proxy with
//! OAUTHBEARER and ACLs, all in one run; and the fetch latency of a consumer at the log end
//! (a record's send to its arrival in a Fetch response), at half the maximum rate.
//!
//! The load is open: request i is due at start + i / rate and its latency counts from then, so
//! a stall delays the requests behind it and shows in the figures (no coordinated omission).
//! One connection, requests pipelined as a client with several in flight sends them; a broker
//! serves one connection's requests one at a time. The proxies run in this process on a
//! runtime of their own; load, proxies and the brokers share the machine. The topic has three
//! replicas, or one on a one-node cluster.
//!
//! Through a proxy, each row also gives the proxy's own part of those requests, from its
//! histogram `kop_request_proxy_duration_seconds` (a request's time in the proxy less the time
//! from its handing to the broker's connection to the broker's response read), as the bound of
//! the bucket each quantile falls in. The brokers' stalls are not in it; the two loopback hops a
//! proxy adds, and the time a frame waits in a socket for the proxy to be scheduled, are not
//! either: the medians of the end-to-end columns show those.
//!
//! Needs the test cluster and provider (what `scripts/test.sh` starts; `KOP_KEEP_CLUSTER=1
//! scripts/test.sh --test addresses` leaves them running), then:
//!
//!   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
//!   cargo bench --bench latency [-- --seconds S]
//!
//! Without them it says so and measures nothing. Under `cargo test` each measurement lasts
//! 200 ms: every request must be answered without error.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Idp;
use common::raw::Raw;
use kafka_oidc_proxy::kafka::codec::FrameReader;
use kafka_oidc_proxy::kafka::encode_request;
use kafka_oidc_proxy::kafka::header::parse_response_header;
use kafka_oidc_proxy::metrics::METRICS;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, FetchRequest, FetchResponse, ListOffsetsRequest,
    MetadataRequest, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const RECORD_BYTES: usize = 1024;
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse().expect("--seconds S"))
        .unwrap_or(if measuring { 5.0 } else { 0.2 });
    let Some((bootstrap, issuer)) = common::bench_services("latency") else {
        return;
    };
    let each = Duration::from_secs_f64(seconds);
    // The proxies on two workers of their own; the load on one thread.
    let proxies_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let topic = format!("kop-latency-{}", common::unique_tag());
    let open = proxies_rt.block_on(common::bench_proxy(&bootstrap, &issuer, "none", &topic));
    let oauth = proxies_rt.block_on(common::bench_proxy(
        &bootstrap,
        &issuer,
        "oauthbearer",
        &topic,
    ));
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    load.block_on(async {
        let broker = bootstrap.split(',').next().unwrap_or_default().to_owned();
        let replicas = create_topic(&broker, &topic).await;
        let token = Idp::token(&issuer, "kafka-producer").await;
        let paths = [
            Path {
                name: "direct",
                bootstrap: broker,
                token: None,
                proxied: false,
            },
            Path {
                name: "proxy, no auth",
                bootstrap: open.bootstrap_addr("bench").expect("listener").to_string(),
                token: None,
                proxied: true,
            },
            Path {
                name: "proxy, OAUTHBEARER + ACLs",
                bootstrap: oauth.bootstrap_addr("bench").expect("listener").to_string(),
                token: Some(token),
                proxied: true,
            },
        ];
        println!(
            "latency: 1 KiB records to {topic} (1 partition, RF {replicas}), {seconds} s per measurement"
        );
        for acks in [1, -1] {
            let max = max_rate(paths[0].leader(&topic).await, &topic, acks, each).await;
            println!(
                "\nacks={}: maximum {max:.0} records/s (direct, 32 in flight)",
                if acks == 1 { "1" } else { "all" }
            );
            header("requests");
            for fraction in [0.25, 0.5, 0.75] {
                let rate = max * fraction;
                for path in &paths {
                    let c = path.leader(&topic).await;
                    let before = Own::read("Produce");
                    let latencies = open_loop(c, &topic, acks, rate, each).await;
                    let own = path.proxied.then(|| Own::read("Produce").since(&before));
                    report(path.name, rate, &latencies, own);
                }
            }
        }
        let rate = max_rate(paths[0].leader(&topic).await, &topic, 1, each).await * 0.5;
        println!("\nfetch at the log end, acks=1 producer at {rate:.0} records/s:");
        header("records");
        for path in &paths {
            let before = Own::read("Fetch");
            let latencies = fetch_latency(path, &topic, rate, each).await;
            let own = path.proxied.then(|| Own::read("Fetch").since(&before));
            report(path.name, rate, &latencies, own);
        }
    });
    drop(open);
    drop(oauth);
}

/// One way to the cluster.
struct Path {
    name: &'static str,
    bootstrap: String,
    token: Option<String>,
    /// Through one of this process's proxies, whose own part of each request is observed.
    proxied: bool,
}

impl Path {
    /// A connection to the leader of the topic's partition, logged in where the path asks.
    async fn leader(&self, topic: &str) -> Raw {
        let mut c = self.connect(&self.bootstrap).await;
        let metadata = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]));
        for _ in 0..100 {
            let m = c.request(12, &metadata).await;
            let leader = m.topics.first().and_then(|t| t.partitions.first());
            if let Some(p) = leader.filter(|p| p.leader_id.0 >= 0)
                && let Some(b) = m.brokers.iter().find(|b| b.node_id == p.leader_id)
            {
                let mut leader = self.connect(&format!("{}:{}", b.host, b.port)).await;
                if accepts(&mut leader, topic).await {
                    return leader;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{topic} has no leader that takes records");
    }

    async fn connect(&self, addr: &str) -> Raw {
        match &self.token {
            None => Raw::connect(addr).await,
            Some(token) => {
                let (c, code) = Raw::login(addr, token).await;
                assert_eq!(code, 0, "{}: the token is refused", self.name);
                c
            }
        }
    }
}

/// Whether the broker takes a record for the topic's partition with acks=all. A leader named in
/// a fresh topic's metadata may not have the partition yet: UNKNOWN_TOPIC_OR_PARTITION,
/// NOT_LEADER_OR_FOLLOWER or NOT_ENOUGH_REPLICAS until it and its followers catch up.
async fn accepts(c: &mut Raw, topic: &str) -> bool {
    let r = c.request(PRODUCE_VERSION, &produce(topic, -1, 0)).await;
    match r.responses[0].partition_responses[0].error_code {
        0 => true,
        3 | 5 | 6 | 19 | 20 => false,
        code => panic!("produce to {topic}: error {code}"),
    }
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// Creates the topic with one partition, replicated three times (once on a one-node cluster);
/// returns its replication factor.
async fn create_topic(broker: &str, topic: &str) -> i16 {
    let mut c = Raw::connect(broker).await;
    let brokers = c
        .request(12, &MetadataRequest::default())
        .await
        .brokers
        .len();
    let replicas = brokers.clamp(1, 3) as i16;
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(1)
                .with_replication_factor(replicas),
        ])
        .with_timeout_ms(30_000);
    let r = c.request(7, &request).await;
    assert_eq!(r.topics[0].error_code, 0, "create {topic}");
    replicas
}

/// A Produce request of one 1 KiB record whose value starts with `sent` (nanoseconds since
/// the load's start, for the fetch latency).
fn produce(topic: &str, acks: i16, sent: u64) -> ProduceRequest {
    let mut value = vec![b'x'; RECORD_BYTES];
    value[..8].copy_from_slice(&sent.to_be_bytes());
    let batch = common::record_batch(Bytes::from(value));
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ])
}

fn frame(topic: &str, acks: i16, id: i32, sent: u64) -> Bytes {
    encode_request(
        ApiKey::Produce,
        PRODUCE_VERSION,
        id,
        "kop-latency",
        &produce(topic, acks, sent),
    )
    .expect("encode")
}

/// The error code of a Produce response frame, and its correlation id.
fn produced(frame: &Bytes) -> (i32, i16) {
    let header = ApiKey::Produce.response_header_version(PRODUCE_VERSION);
    let (id, at) = parse_response_header(frame, header).expect("response header");
    let r = ProduceResponse::decode(&mut frame.slice(at..), PRODUCE_VERSION).expect("response");
    let code = r.responses[0].partition_responses[0].error_code;
    (id, code)
}

/// Acknowledged records per second with up to 32 requests in flight, for `each`.
async fn max_rate(c: Raw, topic: &str, acks: i16, each: Duration) -> f64 {
    let (mut reader, mut writer) = c.into_split();
    let start = Instant::now();
    let (mut sent, mut acked) = (0, 0);
    while start.elapsed() < each {
        while sent - acked < 32 {
            writer
                .write_all(&frame(topic, acks, sent, 0))
                .await
                .expect("write");
            sent += 1;
        }
        let f = reader
            .next_frame()
            .await
            .expect("read")
            .expect("a response");
        assert_eq!(produced(&f).1, 0, "produce error");
        acked += 1;
    }
    let rate = f64::from(acked) / start.elapsed().as_secs_f64();
    while acked < sent {
        reader
            .next_frame()
            .await
            .expect("read")
            .expect("a response");
        acked += 1;
    }
    rate
}

/// Requests due one every `interval` from `start`, `count` of them.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    interval: Duration,
    count: i32,
}

impl Schedule {
    /// `rate` a second for `each`, from now.
    fn new(rate: f64, each: Duration) -> Self {
        Self {
            start: Instant::now(),
            interval: Duration::from_secs_f64(1.0 / rate),
            count: (each.as_secs_f64() * rate).ceil() as i32,
        }
    }

    fn due(&self, i: i32) -> Instant {
        self.start + self.interval * i as u32
    }
}

/// Sends request `i` (one record stamped with its due time) when it is due.
async fn send_due(writer: &mut OwnedWriteHalf, topic: &str, acks: i16, s: Schedule) {
    for i in 0..s.count {
        tokio::time::sleep_until(s.due(i).into()).await;
        let at = (s.due(i) - s.start).as_nanos() as u64;
        writer
            .write_all(&frame(topic, acks, i, at))
            .await
            .expect("write");
    }
}

/// Reads the answer to every request of `s`: each one's latency from when it was due.
async fn acknowledged(reader: &mut FrameReader<OwnedReadHalf>, s: Schedule) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(s.count as usize);
    for _ in 0..s.count {
        let f = reader
            .next_frame()
            .await
            .expect("read")
            .expect("a response");
        let now = Instant::now();
        let (id, code) = produced(&f);
        assert_eq!(code, 0, "produce error");
        latencies.push(now - s.due(id));
    }
    latencies
}

/// Latencies of requests due at `rate` for `each`, each counted from when it was due.
async fn open_loop(c: Raw, topic: &str, acks: i16, rate: f64, each: Duration) -> Vec<Duration> {
    let (mut reader, mut writer) = c.into_split();
    let s = Schedule::new(rate, each);
    let ((), latencies) = tokio::join!(
        send_due(&mut writer, topic, acks, s),
        acknowledged(&mut reader, s)
    );
    latencies
}

/// Latencies from each record's due time to its arrival at a consumer reading the log end on
/// its own connection, with a producer (acks=1) at `rate` for `each`.
async fn fetch_latency(path: &Path, topic: &str, rate: f64, each: Duration) -> Vec<Duration> {
    let mut consumer = path.leader(topic).await;
    let offsets = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]),
        ]);
    let mut offset = consumer.request(7, &offsets).await.topics[0].partitions[0].offset;
    let (mut reader, mut writer) = path.leader(topic).await.into_split();
    let s = Schedule::new(rate, each);
    let count = s.count;
    let start = s.start;
    let fetch = async {
        let mut latencies = Vec::with_capacity(count as usize);
        while latencies.len() < count as usize {
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(name(topic))
                        .with_partitions(vec![
                            FetchPartition::default()
                                .with_partition(0)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]);
            let r: FetchResponse = consumer.request(FETCH_VERSION, &request).await;
            let now = Instant::now();
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0, "fetch error");
            let Some(mut records) = p.records.clone() else {
                continue;
            };
            while !records.is_empty() {
                let batch = RecordBatchDecoder::decode(&mut records).expect("record batch");
                for record in &batch.records {
                    offset = record.offset + 1;
                    let value = record.value.as_ref().expect("a value");
                    let at = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
                    latencies.push(now - (start + Duration::from_nanos(at)));
                }
            }
        }
        latencies
    };
    let ((), _, latencies) = tokio::join!(
        send_due(&mut writer, topic, 1, s),
        acknowledged(&mut reader, s),
        fetch
    );
    latencies
}

/// The proxies' histogram of their own part of one API key's requests
/// (`kop_request_proxy_duration_seconds`), read from this process's metrics: the count at or
/// under each bucket's bound, both connection kinds together.
struct Own(Vec<(f64, u64)>);

impl Own {
    fn read(api: &str) -> Self {
        let text = METRICS.render();
        let api = format!("api=\"{api}\"");
        let mut buckets: Vec<(f64, u64)> = Vec::new();
        for line in text.lines() {
            if !line.starts_with("kop_request_proxy_duration_seconds_bucket{")
                || !line.contains(&api)
            {
                continue;
            }
            let le = line.split("le=\"").nth(1).and_then(|r| r.split('"').next());
            let count = line.rsplit(' ').next().and_then(|c| c.parse::<u64>().ok());
            let (Some(le), Some(count)) = (le, count) else {
                panic!("a bucket line: {line}");
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("a bound")
            };
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, n)) => *n += count,
                None => buckets.push((le, count)),
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self(buckets)
    }

    /// What was observed between `before` and now.
    fn since(&self, before: &Self) -> Self {
        let earlier = |le: f64| {
            before
                .0
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0, |(_, n)| *n)
        };
        Self(
            self.0
                .iter()
                .map(|&(le, n)| (le, n - earlier(le)))
                .collect(),
        )
    }

    /// The bound of the first bucket holding the quantile `q`, in µs.
    fn at(&self, q: f64) -> String {
        let total = self.0.last().map_or(0, |(_, n)| *n);
        if total == 0 {
            return "-".into();
        }
        let rank = (total as f64 * q).ceil() as u64;
        match self.0.iter().find(|(_, n)| *n >= rank) {
            Some((le, _)) if le.is_finite() => format!("≤{:.0}", le * 1e6),
            _ => ">1 s".into(),
        }
    }
}

fn header(counted: &str) {
    println!(
        "{:<28} {:>7} {:>10} {:>10} {:>10} {:>9}   the proxy's own p50 / p99 / p99.9 µs",
        "path", "rate", "p50 µs", "p99 µs", "p99.9 µs", counted,
    );
}

fn report(path: &str, rate: f64, latencies: &[Duration], own: Option<Own>) {
    let mut v: Vec<Duration> = latencies.to_vec();
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    let own = own.map_or("-".into(), |o| {
        format!("{} / {} / {}", o.at(0.5), o.at(0.99), o.at(0.999))
    });
    println!(
        "{path:<28} {rate:>7.0} {:>10.0} {:>10.0} {:>10.0} {:>9}   {own}",
        at(0.50),
        at(0.99),
        at(0.999),
        v.len()
    );
}
