//! Added latency, in microseconds: produce to acknowledgement of 1 KiB records at fixed rates
//! (25, 50 and 75 % of the maximum measured direct), acks=1 and acks=all, direct to the
//! partition's leader, through the proxy without authentication, and through the proxy with
//! OAUTHBEARER and ACLs; and the fetch latency of consumers at the log end (a record's due
//! time to its arrival in a Fetch response), at a quarter of the maximum rate.
//!
//! Each proxied path is measured in a pair with the direct one, at the same time and on the
//! same partition leader, so that both meet the same moments of the brokers (on a shared
//! machine their stalls are milliseconds, far more than a proxy adds):
//! - Produce: the pair's two connections take turns, request k going to connection k mod 2 at
//!   start + k / rate, so the leader receives `rate` requests a second in all. "Added" is the
//!   proxied path's quantile less the direct one's, from the same seconds.
//! - Fetch: records are produced directly, and a direct consumer and a proxied one read every
//!   one of them at once. "Added" is, record by record, its arrival through the proxy less its
//!   arrival direct.
//!
//! The load is open: request k is due at its time and its latency counts from then, so a stall
//! delays the requests behind it and shows in the figures (no coordinated omission). Requests
//! are pipelined as a client with several in flight sends them. Connections are set up with
//! tokio, then measured from threads with blocking sockets: a request leaves when it is due (a
//! thread's sleep ends within tens of microseconds, where tokio's timers round up to the next
//! millisecond) and an answer is stamped as soon as it is read. The proxies run in this process
//! on a runtime of their own; load, proxies and the brokers share the machine. The topic has
//! three replicas, or one on a one-node cluster.
//!
//! Through a proxy, each row also gives the proxy's own part of those requests, from its
//! histogram `kop_request_proxy_duration_seconds` (a request's time in the proxy less the time
//! from its handing to the broker's connection to the broker's response read), as the bound of
//! the bucket each quantile falls in. The brokers' stalls are not in it; the two loopback hops a
//! proxy adds, and the time a frame waits in a socket for the proxy to be scheduled, are not
//! either: the "added" rows have those.
//!
//! Needs the test cluster and provider (what `scripts/test.sh` starts; `KOP_KEEP_CLUSTER=1
//! scripts/test.sh --test addresses` leaves them running), then:
//!
//!   eval "$(harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
//!   cargo bench --bench latency [-- --seconds S]    # S: 10 unless given
//!
//! Without them it says so and measures nothing. Under `cargo test` each measurement lasts
//! 200 ms: every request must be answered without error.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Idp;
use common::raw::{Raw, decode_response};
use kafka_oidc_proxy::kafka::encode_request;
use kafka_oidc_proxy::metrics::METRICS;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use tokio::io::AsyncWriteExt;

const RECORD_BYTES: usize = 1024;
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse().expect("--seconds S"))
        .unwrap_or(if measuring { 10.0 } else { 0.2 });
    let Some((bootstrap, issuer)) = common::bench_services("latency") else {
        return;
    };
    let each = Duration::from_secs_f64(seconds);
    // The proxies on two workers of their own; the connections are set up on one thread and
    // measured from threads of their own (`Blocking`).
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
            },
            Path {
                name: "proxy, no auth",
                bootstrap: open.bootstrap_addr("bench").expect("listener").to_string(),
                token: None,
            },
            Path {
                name: "proxy, OAUTHBEARER + ACLs",
                bootstrap: oauth.bootstrap_addr("bench").expect("listener").to_string(),
                token: Some(token),
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
            println!("(rate: a pair's two connections together, each row one connection's half)");
            header("requests");
            for fraction in [0.25, 0.5, 0.75] {
                let rate = max * fraction;
                for path in &paths[1..] {
                    let pair = vec![
                        Blocking::of(paths[0].leader(&topic).await),
                        Blocking::of(path.leader(&topic).await),
                    ];
                    let before = Own::read("Produce");
                    let latencies = taking_turns(pair, &topic, acks, rate, each);
                    let own = Own::read("Produce").since(&before);
                    let direct = report(paths[0].name, rate, &latencies[0], None);
                    let proxied = report(path.name, rate, &latencies[1], Some(own));
                    added(
                        "  added: proxied less direct",
                        [0, 1, 2].map(|i| proxied[i] - direct[i]),
                    );
                }
            }
        }
        let rate = max_rate(paths[0].leader(&topic).await, &topic, 1, each).await * 0.25;
        println!(
            "\nfetch at the log end: records produced directly (acks=1) at {rate:.0}/s, read at \
             once by a direct consumer and a proxied one"
        );
        header("records");
        for path in &paths[1..] {
            let mut direct = paths[0].leader(&topic).await;
            let mut proxied = path.leader(&topic).await;
            let producer = Blocking::of(paths[0].leader(&topic).await);
            let from = (
                log_end(&mut direct, &topic).await,
                log_end(&mut proxied, &topic).await,
            );
            let consumers = vec![
                (Blocking::of(direct), from.0),
                (Blocking::of(proxied), from.1),
            ];
            let before = Own::read("Fetch");
            let arrivals = fetched(producer, consumers, &topic, rate, each);
            let own = Own::read("Fetch").since(&before);
            let direct: Vec<Duration> = arrivals[0].values().copied().collect();
            let proxied: Vec<Duration> = arrivals[1].values().copied().collect();
            report(paths[0].name, rate, &direct, None);
            report(path.name, rate, &proxied, Some(own));
            let mut later: Vec<f64> = arrivals[1]
                .iter()
                .map(|(at, l)| l.as_secs_f64() * 1e6 - arrivals[0][at].as_secs_f64() * 1e6)
                .collect();
            later.sort_unstable_by(f64::total_cmp);
            added(
                "  added: record by record",
                [0.5, 0.99, 0.999].map(|q| at(&later, q)),
            );
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
    let (id, r) = decode_response::<ProduceRequest>(frame, PRODUCE_VERSION);
    (id, r.responses[0].partition_responses[0].error_code)
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

/// A connection made blocking once it is set up. The measurements send and read on threads
/// of their own: a request leaves when it is due (a thread's sleep ends within tens of
/// microseconds of its deadline, where tokio's timers round up to the next millisecond), and
/// an answer is stamped as soon as it is read, whatever else the load is doing.
struct Blocking(TcpStream);

impl Blocking {
    fn of(c: Raw) -> Self {
        let stream = c.into_std();
        // A lost answer, or a peer that stopped reading, fails the bench instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .expect("write timeout");
        Self(stream)
    }

    fn try_clone(&self) -> Self {
        Self(self.0.try_clone().expect("clone the socket"))
    }

    fn send(&mut self, frame: &[u8]) {
        self.0.write_all(frame).expect("write");
    }

    /// The next frame, prefix included.
    fn frame(&mut self) -> Bytes {
        let mut prefix = [0; 4];
        self.0.read_exact(&mut prefix).expect("read");
        let size = usize::try_from(i32::from_be_bytes(prefix)).expect("a frame size");
        let mut frame = vec![0; 4 + size];
        frame[..4].copy_from_slice(&prefix);
        self.0.read_exact(&mut frame[4..]).expect("read");
        Bytes::from(frame)
    }

    fn request<R: Request + Encodable>(&mut self, version: i16, request: &R) -> R::Response {
        let api = ApiKey::try_from(R::KEY).expect("known key");
        self.send(&encode_request(api, version, 0, "kop-latency", request).expect("encode"));
        decode_response::<R>(&self.frame(), version).1
    }
}

/// Sleeps until `due` (at once if it has passed).
fn wait_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// Sends each request of `s` when it is due (one record stamped with its due time, in ns from
/// the start), request k on writer k mod the number of writers.
fn send_due(writers: &mut [Blocking], topic: &str, acks: i16, s: Schedule) {
    let n = writers.len();
    for k in 0..s.count {
        wait_until(s.due(k));
        let at = (s.due(k) - s.start).as_nanos() as u64;
        writers[k as usize % n].send(&frame(topic, acks, k, at));
    }
}

/// Requests due at `rate` in all for `each`, taking turns between the connections (request k
/// goes to connection k mod n, due at start + k / rate), so that the paths share the brokers'
/// every moment, stalls included. Each connection's latencies, counted from when each of its
/// requests was due.
fn taking_turns(
    conns: Vec<Blocking>,
    topic: &str,
    acks: i16,
    rate: f64,
    each: Duration,
) -> Vec<Vec<Duration>> {
    let n = conns.len();
    let s = Schedule::new(rate, each);
    let mut writers: Vec<Blocking> = conns.iter().map(Blocking::try_clone).collect();
    std::thread::scope(|scope| {
        scope.spawn(move || send_due(&mut writers, topic, acks, s));
        let readers: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(p, mut c)| {
                let count = (p..s.count as usize).step_by(n).count();
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(count);
                    for _ in 0..count {
                        let f = c.frame();
                        let now = Instant::now();
                        let (id, code) = produced(&f);
                        assert_eq!(code, 0, "produce error");
                        latencies.push(now - s.due(id));
                    }
                    latencies
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("reader"))
            .collect()
    })
}

/// Records produced (acks=1, on `producer`) at `rate` for `each`, read by one consumer on each
/// of `consumers`, all at the log end at once: for each consumer, each record's latency from
/// its due time to its arrival in a Fetch response, by the record's due time (in ns from the
/// start), so that one record's arrivals can be compared across the consumers.
fn fetched(
    producer: Blocking,
    consumers: Vec<(Blocking, i64)>,
    topic: &str,
    rate: f64,
    each: Duration,
) -> Vec<HashMap<u64, Duration>> {
    let s = Schedule::new(rate, each);
    let count = s.count as usize;
    let writer = producer.try_clone();
    let mut acks = producer;
    std::thread::scope(|scope| {
        scope.spawn(move || send_due(&mut [writer], topic, 1, s));
        scope.spawn(move || {
            for _ in 0..count {
                assert_eq!(produced(&acks.frame()).1, 0, "produce error");
            }
        });
        let readers: Vec<_> = consumers
            .into_iter()
            .map(|(mut c, mut offset)| {
                scope.spawn(move || {
                    let mut arrivals = HashMap::with_capacity(count);
                    while arrivals.len() < count {
                        let r = c.request(FETCH_VERSION, &fetch(topic, offset));
                        let now = Instant::now();
                        let p = &r.responses[0].partitions[0];
                        assert_eq!(p.error_code, 0, "fetch error");
                        let Some(mut records) = p.records.clone() else {
                            continue;
                        };
                        while !records.is_empty() {
                            let batch =
                                RecordBatchDecoder::decode(&mut records).expect("record batch");
                            for record in &batch.records {
                                offset = record.offset + 1;
                                let value = record.value.as_ref().expect("a value");
                                let at = u64::from_be_bytes(value[..8].try_into().expect("8"));
                                arrivals.insert(at, now - (s.start + Duration::from_nanos(at)));
                            }
                        }
                    }
                    arrivals
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("consumer"))
            .collect()
    })
}

/// A Fetch of the topic's partition from `offset` that waits up to 500 ms for a first byte.
fn fetch(topic: &str, offset: i64) -> FetchRequest {
    FetchRequest::default()
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
        ])
}

/// The log end offset of the topic's partition.
async fn log_end(c: &mut Raw, topic: &str) -> i64 {
    let offsets = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]),
        ]);
    c.request(7, &offsets).await.topics[0].partitions[0].offset
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

/// Prints a path's row; returns its p50, p99 and p99.9 in µs.
fn report(path: &str, rate: f64, latencies: &[Duration], own: Option<Own>) -> [f64; 3] {
    let [p50, p99, p999] = quantiles(latencies);
    let own = own.map_or("-".into(), |o| {
        format!("{} / {} / {}", o.at(0.5), o.at(0.99), o.at(0.999))
    });
    println!(
        "{path:<28} {rate:>7.0} {p50:>10.0} {p99:>10.0} {p999:>10.0} {:>9}   {own}",
        latencies.len()
    );
    [p50, p99, p999]
}

/// What a proxy added to p50, p99 and p99.9, in µs.
fn added(how: &str, by: [f64; 3]) {
    let [p50, p99, p999] = by;
    println!("{how:<36} {p50:>+10.0} {p99:>+10.0} {p999:>+10.0}");
}

/// p50, p99 and p99.9 of `latencies`, in µs.
fn quantiles(latencies: &[Duration]) -> [f64; 3] {
    let mut v: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    v.sort_unstable_by(f64::total_cmp);
    [0.5, 0.99, 0.999].map(|q| at(&v, q))
}

/// The quantile `q` of sorted values.
fn at(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}
