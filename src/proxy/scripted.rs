//! A scripted broker in this process, for byte-level tests of the session loop that run in
//! seconds without the cluster (`cargo test --lib`). It answers ApiVersions with every version
//! kafka-protocol knows and Metadata with itself as node 0; every other request goes to the
//! test's script. Requests on one connection are answered in order, one at a time, as a Kafka
//! broker does. The tests against the real cluster stay the measure of what works.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::kafka::codec::FrameReader;
use crate::kafka::header::{RequestHeader, parse_request_header};
use crate::kafka::{self, encode_response};

/// What the broker does with a request.
pub(crate) enum Reply {
    /// Answers with this response body after the delay.
    After(Duration, Bytes),
    /// Sends nothing (an `acks=0` Produce).
    Nothing,
}

impl Reply {
    /// Answers at once with `body` encoded at the request's version.
    pub(crate) fn now<M: Encodable>(header: &RequestHeader, body: &M) -> Self {
        Self::after(Duration::ZERO, header, body)
    }

    /// Answers with `body` after `delay`.
    pub(crate) fn after<M: Encodable>(delay: Duration, header: &RequestHeader, body: &M) -> Self {
        let api = ApiKey::try_from(header.api_key).expect("a known API key");
        let frame = encode_response(api, header.api_version, header.correlation_id, body)
            .expect("the script's response encodes");
        Self::After(delay, frame)
    }
}

/// The test's answers to requests other than ApiVersions and Metadata.
pub(crate) type Script = Arc<dyn Fn(ApiKey, &RequestHeader, &Bytes) -> Reply + Send + Sync>;

/// A running scripted broker; stops when dropped.
pub(crate) struct ScriptedBroker {
    pub(crate) addr: SocketAddr,
    /// Every request received, by API key and version, in order.
    pub(crate) received: Arc<Mutex<Vec<(ApiKey, i16)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedBroker {
    pub(crate) async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, addr, script.clone(), log.clone()));
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// The API keys received so far, in order.
    pub(crate) fn received(&self) -> Vec<(ApiKey, i16)> {
        self.received.lock().expect("log").clone()
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    me: SocketAddr,
    script: Script,
    log: Arc<Mutex<Vec<(ApiKey, i16)>>>,
) {
    let (read, mut write) = stream.into_split();
    let mut frames = FrameReader::new(read, 64 * 1024 * 1024);
    while let Ok(Some(frame)) = frames.next_frame().await {
        let Ok(header) = parse_request_header(&frame) else {
            return;
        };
        let Ok(api) = ApiKey::try_from(header.api_key) else {
            return;
        };
        log.lock().expect("log").push((api, header.api_version));
        let reply = match api {
            ApiKey::ApiVersions => Reply::now(&header, &api_versions()),
            ApiKey::Metadata => Reply::now(&header, &metadata(me, &header, &frame)),
            _ => script(api, &header, &header.body(&frame)),
        };
        if let Reply::After(delay, response) = reply {
            tokio::time::sleep(delay).await;
            if write.write_all(&response).await.is_err() {
                return;
            }
        }
    }
}

fn api_versions() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        ApiKey::iter()
            .map(|api| {
                let v = api.valid_versions();
                ApiVersion::default()
                    .with_api_key(api as i16)
                    .with_min_version(v.min)
                    .with_max_version(v.max)
            })
            .collect(),
    )
}

/// Node 0 at `me`, and each topic asked for with one partition led by it.
fn metadata(me: SocketAddr, header: &RequestHeader, frame: &Bytes) -> MetadataResponse {
    let request: MetadataRequest = kafka::decode_request(header.api_version, &header.body(frame))
        .expect("a valid Metadata request");
    let topics = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.name)
        .map(|name| {
            MetadataResponseTopic::default()
                .with_name(Some(name))
                .with_partitions(vec![
                    metadata_response::MetadataResponsePartition::default()
                        .with_leader_id(0.into())
                        .with_replica_nodes(vec![0.into()])
                        .with_isr_nodes(vec![0.into()]),
                ])
        })
        .collect();
    MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str("scripted")))
        .with_controller_id(0.into())
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(0.into())
                .with_host(StrBytes::from_string(me.ip().to_string()))
                .with_port(i32::from(me.port())),
        ])
        .with_topics(topics)
}
