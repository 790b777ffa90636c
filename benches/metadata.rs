//! Metadata of a large cluster through the proxy binary, against the brokers directly: N topics
//! of 6 partitions (10,000 when measuring) are created, and a client lists every topic
//! (Metadata v12, all topics) in rounds, each round once
//! - directly at a broker;
//! - through a listener without authentication (the broker addresses rewritten);
//! - through an OAUTHBEARER listener whose caller may describe half of the topics (rewritten,
//!   and filtered by the ACLs).
//!
//! The proxy's upstream is the broker the direct path asks. Reports each path's round trip
//! (p50, p99), the answer's size and topic count, and for the two proxied paths the proxy
//! process's CPU per listing (user + system, /proc/PID/stat), then the peak of the proxy's
//! resident memory during the listings above what it held before them (VmHWM, reset through
//! /proc/PID/clear_refs). The topics have one replica each; they are deleted at the end.
//!
//! A broker keeps a descriptor open for each partition's log. Where brokers cannot have more
//! than 20,000 (unprivileged containers), 60,000 partitions need four brokers: the harness's
//! `wide` cluster, which the bench uses when KOP_KAFKA_WIDE_BOOTSTRAP is set (else the test
//! cluster, KOP_KAFKA_BOOTSTRAP). With the test provider (what `scripts/test.sh` starts;
//! `KOP_KEEP_CLUSTER=1 scripts/test.sh --test addresses` leaves it running):
//!
//!   KOP_KAFKA_INSTANCE=wide harness/kafka/cluster.sh start
//!   eval "$(KOP_KAFKA_INSTANCE=wide harness/kafka/cluster.sh env)"; eval "$(harness/idp/idp.sh env)"
//!   cargo bench --bench metadata [-- --topics N --listings K]
//!   KOP_KAFKA_INSTANCE=wide harness/kafka/cluster.sh stop
//!
//! Without a cluster and the provider it says so and measures nothing. Under `cargo test` it
//! lists 60 topics 3 times a path and checks what each path answers.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use bytes::Bytes;
use common::Idp;
use common::binary::{Binary, Cpu};
use common::raw::Raw;
use kafka_oidc_proxy::kafka::encode_request;
use kafka_oidc_proxy::kafka::header::parse_response_header;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

const PARTITIONS: i32 = 6;
const METADATA_VERSION: i16 = 12;
/// Topics a CreateTopics or DeleteTopics request names.
const BATCH: usize = 250;

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let arg = |name: &str| {
        std::env::args()
            .skip_while(|a| a != name)
            .nth(1)
            .map(|n| n.parse::<usize>().unwrap_or_else(|_| panic!("{name} N")))
    };
    let topics = arg("--topics").unwrap_or(if measuring { 10_000 } else { 60 });
    let listings = arg("--listings").unwrap_or(if measuring { 30 } else { 3 });
    let Some((bootstrap, issuer)) = common::bench_services("metadata") else {
        return;
    };
    let bootstrap = std::env::var("KOP_KAFKA_WIDE_BOOTSTRAP").unwrap_or(bootstrap);
    let broker = bootstrap.split(',').next().expect("a broker").to_owned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let tag = common::unique_tag();
        // Half of them `…-a-N`, which the OAUTHBEARER caller may describe; half `…-b-N`.
        let names: Vec<String> = (0..topics)
            .map(|i| format!("kop-meta-{tag}-{}-{i}", if i % 2 == 0 { 'a' } else { 'b' }))
            .collect();
        let allowed = format!("kop-meta-{tag}-a-");
        let started = Instant::now();
        for chunk in names.chunks(BATCH) {
            create_topics(&broker, chunk).await;
        }
        // Brokers learn new topics one after the other: every one lists them all first.
        for b in bootstrap.split(',') {
            known_everywhere(b, &names).await;
        }
        println!(
            "metadata: {topics} topics x {PARTITIONS} partitions created and known to every broker in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        // The proxy's upstream is the broker the direct path asks, so that each path's
        // listing is made by the same broker.
        let path = common::repo()
            .join("target")
            .join("test-configs")
            .join(format!("metadata-{tag}.toml"));
        std::fs::create_dir_all(path.parent().expect("dir")).expect("config dir");
        let listener = |name: &str, authentication: &str| {
            format!(
                "[[listeners]]\nname = {name:?}\nbind_address = \"127.0.0.1\"\n\
                 advertised_host = \"127.0.0.1\"\nbootstrap_port = 0\nbroker_port_base = 0\n\
                 authentication = {authentication:?}\n"
            )
        };
        let text = format!(
            "[upstream]\nbootstrap_servers = [{broker:?}]\n{}{}{}{}",
            listener("oauth", "oauthbearer"),
            listener("plain", "none"),
            Idp::identity_toml(""),
            common::acl(
                "ALLOW",
                "User:kafka-producer",
                "DESCRIBE",
                "TOPIC",
                "PREFIXED",
                &allowed
            ),
        );
        std::fs::write(&path, text).expect("write config");
        let proxy = Binary::start_quiet(&path).await;
        let token = Idp::token(&issuer, "kafka-producer").await;
        let plain = Raw::connect(&proxy.bootstrap("plain").await).await;
        let (oauth, code) = Raw::login(&proxy.bootstrap("oauth").await, &token).await;
        assert_eq!(code, 0, "login");
        let mut paths = [
            Path::new("direct", Raw::connect(&broker).await, false),
            Path::new("proxy, rewrite", plain, true),
            Path::new("proxy, OAUTHBEARER + ACLs (half)", oauth, true),
        ];
        // One listing each unmeasured (connections, buffers), then the rounds: each round
        // lists once through each path, so that the brokers' state is the same for all three.
        for p in &mut paths {
            p.list(&proxy).await;
        }
        let rss = proxy.reset_peak();
        for _ in 0..listings {
            for p in &mut paths {
                p.list(&proxy).await;
            }
        }
        let peak = proxy.status_kib("VmHWM").saturating_sub(rss) as f64 / 1024.0;
        println!(
            "{:<34} {:>9} {:>9} {:>8} {:>8} {:>10}",
            "path", "p50 ms", "p99 ms", "topics", "KiB", "CPU ms"
        );
        let [direct, rewritten, filtered] = paths.map(|p| p.report(listings, &format!("kop-meta-{tag}-")));
        println!(
            "proxy resident memory: {:.1} MiB before the listings, peak {peak:.1} MiB above it",
            rss as f64 / 1024.0
        );
        for (name, seen) in [("direct", &direct), ("rewrite", &rewritten)] {
            assert!(
                names.iter().all(|n| seen.contains(n)),
                "{name}: every topic listed"
            );
        }
        assert!(
            filtered.iter().all(|t| t.starts_with(&allowed)),
            "only the allowed topics through the ACLs"
        );
        assert_eq!(filtered.len(), topics.div_ceil(2), "every allowed topic");

        let started = Instant::now();
        for chunk in names.chunks(BATCH) {
            delete_topics(&broker, chunk).await;
        }
        println!(
            "metadata: topics deleted in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
}

/// One way to the listing: a connection, whether the proxy is on it, and what it measured.
struct Path {
    name: &'static str,
    c: Raw,
    proxied: bool,
    next_id: i32,
    took: Vec<std::time::Duration>,
    cpu: std::time::Duration,
    last: Bytes,
}

impl Path {
    fn new(name: &'static str, c: Raw, proxied: bool) -> Path {
        Path {
            name,
            c,
            proxied,
            next_id: 0,
            took: Vec::new(),
            cpu: std::time::Duration::ZERO,
            last: Bytes::new(),
        }
    }

    /// Lists every topic once: the round trip, and the proxy's CPU time over it when the
    /// proxy is on the way.
    async fn list(&mut self, proxy: &Binary) {
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        let frame = encode_request(
            ApiKey::Metadata,
            METADATA_VERSION,
            self.next_id,
            "kop-metadata-bench",
            &request,
        )
        .expect("encode");
        self.next_id += 1;
        let before = self.proxied.then(|| proxy.cpu());
        let start = Instant::now();
        self.c.send_bytes(&frame).await;
        self.last = self.c.read_frame().await.expect("a Metadata answer");
        self.took.push(start.elapsed());
        if let Some(before) = before {
            let Cpu { user, system, .. } = proxy.cpu().since(before);
            self.cpu += user + system;
        }
    }

    /// Prints the figures of the `listings` measured (the first listing is not), checks that
    /// none of the bench's topics (named from `mine`) came with an error, and returns the
    /// names of the topics the last answer held.
    fn report(self, listings: usize, mine: &str) -> Vec<String> {
        let took = &self.took[self.took.len() - listings..];
        let (_, offset) = parse_response_header(
            &self.last,
            ApiKey::Metadata.response_header_version(METADATA_VERSION),
        )
        .expect("header");
        let answer = MetadataResponse::decode(&mut self.last.slice(offset..), METADATA_VERSION)
            .expect("a Metadata answer");
        // The bench's own topics; the cluster may hold others, settling after earlier tests.
        let ours =
            |t: &&MetadataResponseTopic| t.name.as_ref().is_some_and(|n| n.0.starts_with(mine));
        assert!(
            answer.topics.iter().filter(ours).all(|t| t.error_code == 0),
            "{}: a topic answered with an error",
            self.name
        );
        let millis = |q| format!("{:.1}", common::quantile(took, q).as_secs_f64() * 1e3);
        // The CPU of the unmeasured first listing is left out with its time.
        let cpu = if self.proxied {
            format!(
                "{:.2}",
                self.cpu.as_secs_f64() * 1e3 / (listings + 1) as f64
            )
        } else {
            "-".to_owned()
        };
        println!(
            "{:<34} {:>9} {:>9} {:>8} {:>8} {cpu:>10}",
            self.name,
            millis(0.5),
            millis(0.99),
            answer.topics.len(),
            self.last.len() / 1024,
        );
        answer
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect()
    }
}

/// Waits (up to two minutes) until `broker` lists every one of `names`.
async fn known_everywhere(broker: &str, names: &[String]) {
    let mut c = Raw::connect(broker).await;
    for _ in 0..600 {
        let request = MetadataRequest::default().with_topics(None);
        let listed = c.request(METADATA_VERSION, &request).await;
        let known: std::collections::HashSet<String> = listed
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect();
        if names.iter().all(|n| known.contains(n)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{broker} did not learn the new topics within two minutes");
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

async fn create_topics(broker: &str, names: &[String]) {
    let mut c = Raw::connect(broker).await;
    let request = CreateTopicsRequest::default()
        .with_topics(
            names
                .iter()
                .map(|n| {
                    CreatableTopic::default()
                        .with_name(name(n))
                        .with_num_partitions(PARTITIONS)
                        .with_replication_factor(1)
                })
                .collect(),
        )
        .with_timeout_ms(120_000);
    let r = c.request(7, &request).await;
    for t in &r.topics {
        assert_eq!(
            t.error_code, 0,
            "create {:?}: {:?}",
            t.name, t.error_message
        );
    }
}

async fn delete_topics(broker: &str, names: &[String]) {
    let mut c = Raw::connect(broker).await;
    let request = DeleteTopicsRequest::default()
        .with_topics(
            names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(name(n))))
                .collect(),
        )
        .with_timeout_ms(120_000);
    let r = c.request(6, &request).await;
    for t in &r.responses {
        assert_eq!(t.error_code, 0, "delete {:?}", t.name);
    }
}
