//! The session loop byte by byte, against the scripted broker: order of responses, local
//! answers among forwarded ones, `acks=0`, and the rewrite of broker addresses.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::Proxy;
use super::scripted::{Reply, Script, ScriptedBroker};
use crate::config::Config;
use crate::kafka::codec::FrameReader;
use crate::kafka::encode_request;
use crate::kafka::header::parse_response_header;

/// A proxy with one plain listener (`authentication = "none"`) in front of `broker`, once it
/// knows the broker.
async fn proxy_for(broker: &ScriptedBroker) -> Proxy {
    proxy_with(broker, "none", "").await
}

/// As [`proxy_for`], with the listener's `authentication` and more configuration.
async fn proxy_with(broker: &ScriptedBroker, authentication: &str, extra: &str) -> Proxy {
    let text = format!(
        "[upstream]\nbootstrap_servers = [\"{}\"]\n\
         [[listeners]]\nname = \"test\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"127.0.0.1\"\n\
         bootstrap_port = 0\nbroker_port_base = 0\nauthentication = \"{authentication}\"\n{extra}",
        broker.addr
    );
    let config = Config::parse(&text).expect("valid configuration");
    let proxy = Proxy::start(config).await.expect("starts");
    tokio::time::timeout(Duration::from_secs(10), proxy.ready())
        .await
        .expect("the proxy knows the scripted broker");
    proxy
}

struct Client {
    frames: FrameReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn connect(proxy: &Proxy) -> Self {
        let addr = proxy.bootstrap_addr("test").expect("the test listener");
        let (read, write) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        Self {
            frames: FrameReader::new(read, 1 << 20),
            write,
        }
    }

    /// Sends a request without waiting for its response.
    async fn send<R: Request>(&mut self, version: i16, correlation_id: i32, request: &R) {
        let api = ApiKey::try_from(R::KEY).expect("known");
        let frame = encode_request(api, version, correlation_id, "scripted-test", request)
            .expect("encodes");
        self.write.write_all(&frame).await.expect("write");
    }

    /// The next response: its correlation id and body, read as a response to `R`.
    async fn receive<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let api = ApiKey::try_from(R::KEY).expect("known");
        let frame = tokio::time::timeout(Duration::from_secs(10), self.frames.next_frame())
            .await
            .expect("a response within 10 s")
            .expect("readable")
            .expect("not closed");
        let (id, offset) =
            parse_response_header(&frame, api.response_header_version(version)).expect("header");
        let body = R::Response::decode(&mut frame.slice(offset..), version).expect("decodes");
        (id, body)
    }
}

fn script(
    f: impl Fn(ApiKey, &crate::kafka::header::RequestHeader, &Bytes) -> Reply + Send + Sync + 'static,
) -> Script {
    Arc::new(f)
}

/// A broker that answers ListGroups after 300 ms and Heartbeat at once: whatever the proxy
/// answers behind the ListGroups must wait for it.
fn slow_list_groups() -> Script {
    script(|api, header, _| match api {
        ApiKey::ListGroups => Reply::after(
            Duration::from_millis(300),
            header,
            &ListGroupsResponse::default(),
        ),
        ApiKey::Heartbeat => Reply::now(header, &HeartbeatResponse::default()),
        other => panic!("unexpected {other:?}"),
    })
}

#[tokio::test]
async fn responses_leave_in_request_order_with_local_answers_among_them() {
    let broker = ScriptedBroker::start(slow_list_groups()).await;
    let proxy = proxy_for(&broker).await;
    let mut c = Client::connect(&proxy).await;
    c.send(4, 1, &ListGroupsRequest::default()).await;
    c.send(3, 2, &ApiVersionsRequest::default()).await;
    c.send(4, 3, &HeartbeatRequest::default()).await;
    assert_eq!(c.receive::<ListGroupsRequest>(4).await.0, 1);
    let (id, versions) = c.receive::<ApiVersionsRequest>(3).await;
    assert_eq!(id, 2);
    assert!(
        versions
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Produce as i16),
        "answered by the proxy with its versions: {versions:?}"
    );
    assert_eq!(c.receive::<HeartbeatRequest>(4).await.0, 3);
    // ApiVersions was answered here, never forwarded.
    let forwarded: Vec<ApiKey> = broker
        .received()
        .into_iter()
        .map(|(api, _)| api)
        .filter(|api| matches!(api, ApiKey::ListGroups | ApiKey::Heartbeat))
        .collect();
    assert_eq!(forwarded, [ApiKey::ListGroups, ApiKey::Heartbeat]);
    proxy.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_produce_with_acks_0_gets_no_response_and_the_next_request_does() {
    let broker = ScriptedBroker::start(script(|api, header, _| match api {
        ApiKey::Produce => Reply::Nothing,
        ApiKey::Heartbeat => Reply::now(header, &HeartbeatResponse::default()),
        other => panic!("unexpected {other:?}"),
    }))
    .await;
    let proxy = proxy_for(&broker).await;
    let mut c = Client::connect(&proxy).await;
    let produce = ProduceRequest::default().with_acks(0).with_topic_data(vec![
        produce_request::TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partition_data(vec![produce_request::PartitionProduceData::default()]),
    ]);
    c.send(9, 1, &produce).await;
    c.send(4, 2, &HeartbeatRequest::default()).await;
    assert_eq!(c.receive::<HeartbeatRequest>(4).await.0, 2);
    assert!(broker.received().contains(&(ApiKey::Produce, 9)));
    proxy.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn metadata_names_the_proxy_ports_never_the_broker() {
    let broker = ScriptedBroker::start(script(|api, _, _| panic!("unexpected {api:?}"))).await;
    let proxy = proxy_for(&broker).await;
    let mut c = Client::connect(&proxy).await;
    let request = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("orders")))),
    ]));
    c.send(12, 7, &request).await;
    let (id, metadata) = c.receive::<MetadataRequest>(12).await;
    assert_eq!(id, 7);
    let port_of_node_0 = proxy
        .broker_ports("test")
        .into_iter()
        .find(|(node, _)| *node == 0)
        .map(|(_, port)| i32::from(port))
        .expect("a port for node 0");
    assert_eq!(metadata.brokers.len(), 1);
    let broker_entry = &metadata.brokers[0];
    assert_eq!(broker_entry.host.as_str(), "127.0.0.1");
    assert_eq!(broker_entry.port, port_of_node_0);
    assert_ne!(broker_entry.port, i32::from(broker.addr.port()));
    assert_eq!(metadata.topics.len(), 1, "{metadata:?}");
    proxy.shutdown(Duration::from_secs(1)).await;
}

// -------------------------------------------------------------------------------------------
// In-band re-authentication (KIP-368), with tokens signed by the test keys of `identity` and
// their public keys served from this process.

const ISSUER: &str = "https://idp.example.com/realms/acme";

/// Serves the test keys' JWKS on loopback; returns its URL.
async fn jwks_endpoint() -> String {
    let jwks: serde_json::Value =
        serde_json::from_str(include_str!("../identity/testdata/jwks.json")).expect("jwks");
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks")
}

/// A token of the test issuer for `sub`, valid for `lifetime_secs`.
fn token(sub: &str, lifetime_secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": "kafka", "sub": sub, "scope": "kafka",
        "iat": now - 5, "exp": now + lifetime_secs,
    });
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../identity/testdata/rsa.pem"))
            .expect("key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    jsonwebtoken::encode(&header, &claims, &key).expect("signed")
}

/// An OAUTHBEARER listener whose provider's keys come from [`jwks_endpoint`], and `svc-orders`
/// a super user.
async fn oauth_proxy_for(broker: &ScriptedBroker) -> Proxy {
    oauth_proxy_with(broker, "").await
}

/// As [`oauth_proxy_for`], with more `[identity]` settings.
async fn oauth_proxy_with(broker: &ScriptedBroker, identity: &str) -> Proxy {
    let jwks = jwks_endpoint().await;
    let extra = format!(
        "[identity]\nallow_http_loopback = true\n{identity}\
         [[identity.providers]]\norganization = \"acme\"\nidentifier = \"test\"\n\
         issuer = \"{ISSUER}\"\njwks_endpoint_uri = \"{jwks}\"\naudience = \"kafka\"\nscope = \"kafka\"\n\
         [authorization.super_users]\nacme = [\"User:svc-orders\"]\n"
    );
    proxy_with(broker, "oauthbearer", &extra).await
}

impl Client {
    /// SaslHandshake and SaslAuthenticate with `token`, pipelined, with correlation ids `id`
    /// and `id + 1`.
    async fn send_login(&mut self, id: i32, token: &str) {
        self.send(
            1,
            id,
            &SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_static_str("OAUTHBEARER")),
        )
        .await;
        let auth = format!("n,,\x01auth=Bearer {token}\x01\x01");
        self.send(
            2,
            id + 1,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(auth.into_bytes())),
        )
        .await;
    }

    /// The answers to [`Client::send_login`].
    async fn receive_login(&mut self, id: i32) -> SaslAuthenticateResponse {
        let (got, handshake) = self.receive::<SaslHandshakeRequest>(1).await;
        assert_eq!((got, handshake.error_code), (id, 0), "{handshake:?}");
        let (got, auth) = self.receive::<SaslAuthenticateRequest>(2).await;
        assert_eq!(got, id + 1);
        auth
    }

    /// Whether the proxy closed the connection (within 10 s).
    async fn closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.frames.next_frame()).await,
            Ok(Ok(None) | Err(_))
        )
    }
}

#[tokio::test]
async fn a_re_authentication_behind_a_slow_request_keeps_every_response_in_order() {
    let broker = ScriptedBroker::start(slow_list_groups()).await;
    let proxy = oauth_proxy_for(&broker).await;
    let mut c = Client::connect(&proxy).await;
    c.send_login(1, &token("svc-orders", 300)).await;
    let first = c.receive_login(1).await;
    assert_eq!(first.error_code, 0, "{first:?}");
    assert!(first.session_lifetime_ms > 0, "a lifetime is announced");
    // A slow request, then a re-authentication with a fresh token, then another request.
    c.send(4, 3, &ListGroupsRequest::default()).await;
    c.send_login(4, &token("svc-orders", 600)).await;
    c.send(4, 6, &HeartbeatRequest::default()).await;
    assert_eq!(c.receive::<ListGroupsRequest>(4).await.0, 3);
    let again = c.receive_login(4).await;
    assert_eq!(again.error_code, 0, "{again:?}");
    assert!(again.session_lifetime_ms > first.session_lifetime_ms);
    assert_eq!(c.receive::<HeartbeatRequest>(4).await.0, 6);
    let forwarded: Vec<ApiKey> = broker
        .received()
        .into_iter()
        .map(|(api, _)| api)
        .filter(|api| !matches!(api, ApiKey::ApiVersions | ApiKey::Metadata))
        .collect();
    assert_eq!(
        forwarded,
        [ApiKey::ListGroups, ApiKey::Heartbeat],
        "the logins are answered by the proxy"
    );
    proxy.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_re_authentication_as_someone_else_is_refused_and_the_connection_closed() {
    let broker = ScriptedBroker::start(script(|api, _, _| panic!("unexpected {api:?}"))).await;
    let proxy = oauth_proxy_for(&broker).await;
    let mut c = Client::connect(&proxy).await;
    c.send_login(1, &token("svc-orders", 300)).await;
    assert_eq!(c.receive_login(1).await.error_code, 0);
    c.send_login(3, &token("svc-payments", 300)).await;
    let refused = c.receive_login(3).await;
    assert_eq!(
        refused.error_code,
        crate::kafka::error_code::SASL_AUTHENTICATION_FAILED,
        "{refused:?}"
    );
    assert!(c.closed().await, "KIP-368: a broker closes the connection");
    proxy.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_refused_token_is_answered_then_the_connection_closes_after_the_failure_delay() {
    let broker = ScriptedBroker::start(script(|api, _, _| panic!("unexpected {api:?}"))).await;
    let proxy = oauth_proxy_with(&broker, "failed_authentication_delay_ms = 2000\n").await;
    let mut c = Client::connect(&proxy).await;
    c.send_login(1, "not.a.token").await;
    let challenge = c.receive_login(1).await;
    assert_eq!(challenge.error_code, 0, "{challenge:?}");
    assert_eq!(&challenge.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    let ack = Bytes::from_static(b"\x01");
    c.send(
        2,
        3,
        &SaslAuthenticateRequest::default().with_auth_bytes(ack),
    )
    .await;
    let (id, refused) = c.receive::<SaslAuthenticateRequest>(2).await;
    assert_eq!(id, 3);
    assert_eq!(
        refused.error_code,
        crate::kafka::error_code::SASL_AUTHENTICATION_FAILED,
        "{refused:?}"
    );
    // The answer is not followed at once by the end of the stream: a client that reads both in
    // one go (kafka-python) would lose it.
    let early = tokio::time::timeout(Duration::from_millis(500), c.frames.next_frame()).await;
    assert!(
        early.is_err(),
        "still open, muted, 500 ms into the 2 s delay: {early:?}"
    );
    assert!(c.closed().await, "closed once the delay has passed");
    proxy.shutdown(Duration::from_secs(1)).await;
}
