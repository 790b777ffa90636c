//! Connections from the proxy to brokers: TCP, optional TLS, optional SASL as the proxy's own
//! principal, and the proxy's own small requests (ApiVersions, Metadata) on such connections.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Encodable, Request};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{SaslMechanism, Upstream as UpstreamConfig};
use crate::kafka::codec::{FrameError, FrameReader};
use crate::kafka::header::parse_response_header;
use crate::kafka::{self, DecodeError, error_code};
use crate::sasl::{self, scram};
use crate::tls::UpstreamConnector;

use super::upstream_token::TokenSource;

/// A byte stream to a broker, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// The transport of a broker connection.
enum Io {
    /// Plain TCP, split without a lock.
    Tcp(TcpStream),
    /// TLS.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// An established (and, if configured, authenticated) broker connection.
pub struct Conn {
    io: Io,
    session_lifetime: Option<Duration>,
}

impl Conn {
    /// Splits the connection into independently owned halves.
    pub fn split(self) -> (BoxRead, BoxWrite) {
        match self.io {
            Io::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Io::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), Box::new(w))
            }
        }
    }

    /// How long the broker keeps the SASL session (KIP-368 `session_lifetime_ms`), when it
    /// limits it: the connection must re-authenticate before then.
    pub fn session_lifetime(&self) -> Option<Duration> {
        self.session_lifetime
    }

    fn stream(&mut self) -> &mut (dyn Stream + '_) {
        match &mut self.io {
            Io::Tcp(s) => s,
            Io::Tls(s) => &mut **s,
        }
    }
}

/// Carries the proxy's own requests to a broker: one request frame out, the frame that
/// answers it back. A fresh connection does it directly on its stream; a connection that is
/// already serving a client does it through its reader task, in order with the client's
/// responses (the session's link to its broker).
pub trait Exchange {
    /// Sends `frame` (a request of `api` at `version`) and returns the response frame.
    fn exchange(
        &mut self,
        frame: Bytes,
        api: ApiKey,
        version: i16,
    ) -> impl std::future::Future<Output = Result<Bytes, UpstreamError>> + Send;
}

impl Exchange for &mut (dyn Stream + '_) {
    async fn exchange(
        &mut self,
        frame: Bytes,
        _api: ApiKey,
        _version: i16,
    ) -> Result<Bytes, UpstreamError> {
        self.write_all(&frame).await?;
        self.flush().await?;
        // Only one request is outstanding, so the reader cannot buffer past its response.
        let mut reader = FrameReader::new(&mut **self, MAX_RESPONSE_BYTES);
        reader.next_frame().await?.ok_or(UpstreamError::Closed)
    }
}

/// The read half of a client or broker connection.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a client or broker connection.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Largest response frame accepted from a broker. Fetch responses are bounded by the client's
/// `fetch.max.bytes` (50 MiB by default); this leaves room while refusing absurd prefixes.
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;

/// Why a broker connection failed. Always the upstream side's fault (or the network's).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The broker address.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// Connecting (and authenticating) took longer than `upstream.connect_timeout_ms`.
    #[error("connect to {0}: timed out")]
    Timeout(String),
    /// The TLS handshake failed.
    #[error("tls to {addr}: {message}")]
    Tls {
        /// The broker address.
        addr: String,
        /// What failed.
        message: String,
    },
    /// An in-band re-authentication (KIP-368) was not answered within
    /// `upstream.connect_timeout_ms`.
    #[error("re-authentication to the broker timed out")]
    ReauthTimeout,
    /// The broker refused the proxy's SASL credentials or mechanism.
    #[error("sasl authentication to the broker failed: {0}")]
    Sasl(String),
    /// No token for the proxy's own OAUTHBEARER login.
    #[error("sasl authentication to the broker: {0}")]
    Token(#[from] crate::proxy::upstream_token::TokenError),
    /// One of the proxy's own requests could not be encoded.
    #[error("{0}")]
    Encode(#[from] crate::kafka::EncodeError),
    /// The broker's bytes could not be framed.
    #[error("broker framing: {0}")]
    Frame(#[from] FrameError),
    /// The broker's response could not be decoded.
    #[error("broker response: {0}")]
    Decode(#[from] DecodeError),
    /// The broker closed the connection.
    #[error("broker closed the connection")]
    Closed,
    /// A socket error after the connection was established.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// No broker address is known for a node id.
    #[error("no address known for broker node {0}")]
    UnknownNode(i32),
    /// No bootstrap server could be reached.
    #[error("no bootstrap server reachable (last error: {0})")]
    NoBootstrap(Box<UpstreamError>),
}

/// Opens authenticated connections to brokers.
#[derive(Clone)]
pub struct Connector {
    config: Arc<UpstreamConfig>,
    tls: Option<UpstreamConnector>,
    token: Option<Arc<TokenSource>>,
}

impl Connector {
    /// Builds a connector from the upstream configuration (TLS files are read here).
    pub fn new(config: UpstreamConfig, http: reqwest::Client) -> Result<Self, super::StartError> {
        let tls = config
            .tls
            .as_ref()
            .map(UpstreamConnector::new)
            .transpose()?;
        let token = match &config.sasl {
            Some(sasl) if sasl.mechanism == SaslMechanism::Oauthbearer => {
                Some(Arc::new(TokenSource::new(sasl, http)?))
            }
            _ => None,
        };
        Ok(Self {
            config: Arc::new(config),
            tls,
            token,
        })
    }

    /// The upstream configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Connects to `addr` (`host:port`), with TLS and SASL as configured.
    pub async fn connect(&self, addr: &str) -> Result<Conn, UpstreamError> {
        let connected =
            tokio::time::timeout(self.config.connect_timeout(), self.connect_inner(addr))
                .await
                .map_err(|_| UpstreamError::Timeout(addr.to_owned()))
                .and_then(|c| c);
        if connected.is_err() {
            crate::metrics::METRICS.upstream_error(addr);
        }
        connected
    }

    async fn connect_inner(&self, addr: &str) -> Result<Conn, UpstreamError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| UpstreamError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        tcp.set_nodelay(true)?;
        let io = match &self.tls {
            None => Io::Tcp(tcp),
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                let tls_err = |message: String| UpstreamError::Tls {
                    addr: addr.to_owned(),
                    message,
                };
                let name = tls.server_name(host).map_err(|e| tls_err(e.to_string()))?;
                let s = tls
                    .connector()
                    .connect(name, tcp)
                    .await
                    .map_err(|e| tls_err(e.to_string()))?;
                Io::Tls(Box::new(s))
            }
        };
        let mut conn = Conn {
            io,
            session_lifetime: None,
        };
        conn.session_lifetime = self.authenticate(&mut conn.stream()).await?;
        Ok(conn)
    }

    /// Runs the configured SASL exchange (nothing without `upstream.sasl`) over `exchange`:
    /// on a new connection, or again on a live one before its session ends (KIP-368). Returns
    /// the session lifetime the broker set, if any.
    pub async fn authenticate(
        &self,
        exchange: &mut impl Exchange,
    ) -> Result<Option<Duration>, UpstreamError> {
        let Some(sasl) = &self.config.sasl else {
            return Ok(None);
        };
        let credentials = match &self.token {
            Some(source) => {
                let token = source.token().await?;
                Credentials::Token(token)
            }
            None => Credentials::Password {
                username: sasl.username.clone().unwrap_or_default(),
                password: sasl
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
            },
        };
        authenticate(
            exchange,
            sasl.mechanism,
            &credentials,
            &self.config.client_id,
        )
        .await
    }

    /// Connects to the first reachable bootstrap server.
    pub async fn connect_bootstrap(&self) -> Result<(String, Conn), UpstreamError> {
        let mut last = None;
        for addr in &self.config.bootstrap_servers {
            match self.connect(addr).await {
                Ok(s) => return Ok((addr.clone(), s)),
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "bootstrap server unreachable");
                    last = Some(e);
                }
            }
        }
        Err(UpstreamError::NoBootstrap(Box::new(
            last.unwrap_or(UpstreamError::Closed),
        )))
    }
}

/// Sends one of the proxy's own requests over `exchange` and returns the decoded response.
pub async fn round_trip<R: Request + Encodable>(
    exchange: &mut impl Exchange,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    request: &R,
) -> Result<R::Response, UpstreamError> {
    let api = ApiKey::try_from(R::KEY).map_err(|()| DecodeError::UnknownApiKey(R::KEY))?;
    let frame = kafka::encode_request(api, version, correlation_id, client_id, request)?;
    let frame = exchange.exchange(frame, api, version).await?;
    let (id, offset) = parse_response_header(&frame, api.response_header_version(version))?;
    if id != correlation_id {
        return Err(UpstreamError::Decode(DecodeError::Invalid(
            anyhow::anyhow!("correlation id {id}, expected {correlation_id}"),
        )));
    }
    Ok(kafka::decode_response::<R>(
        version,
        &frame.slice(offset..),
    )?)
}

/// Correlation ids of the proxy's own requests; client requests on the same connection only
/// start after these have been answered.
const OWN_CORRELATION_ID: i32 = 0x7ead_0000;

/// What the proxy authenticates to brokers with.
enum Credentials {
    Password { username: String, password: String },
    Token(String),
}

/// The SASL exchange as the proxy's principal; returns the broker's session lifetime, if any.
async fn authenticate(
    exchange: &mut impl Exchange,
    mechanism: SaslMechanism,
    credentials: &Credentials,
    client_id: &str,
) -> Result<Option<Duration>, UpstreamError> {
    let handshake = SaslHandshakeRequest::default().with_mechanism(mechanism.name().into());
    let response = round_trip(exchange, 1, OWN_CORRELATION_ID, client_id, &handshake).await?;
    if response.error_code != error_code::NONE {
        let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(UpstreamError::Sasl(format!(
            "broker refused mechanism {} (error {}, enabled: {enabled:?})",
            mechanism.name(),
            response.error_code
        )));
    }
    let (username, password) = match credentials {
        Credentials::Password { username, password } => (username.as_str(), password.as_str()),
        Credentials::Token(token) => {
            let message = format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes();
            let (challenge, lifetime) = sasl_step(exchange, 2, client_id, message).await?;
            if !challenge.is_empty() {
                // RFC 7628 section 3.2.2: a server that refuses the token answers with an error
                // challenge and expects %x01; its final answer carries the error.
                let status = String::from_utf8_lossy(&challenge).into_owned();
                let ack = sasl_step(exchange, 3, client_id, vec![1]).await;
                let detail = match ack {
                    Err(UpstreamError::Sasl(e)) => e,
                    _ => "no error after the challenge".into(),
                };
                return Err(UpstreamError::Sasl(format!(
                    "broker refused the proxy's token: {status} ({detail})"
                )));
            }
            return Ok(lifetime);
        }
    };
    match mechanism {
        SaslMechanism::Oauthbearer => Err(UpstreamError::Sasl("OAUTHBEARER needs a token".into())),
        SaslMechanism::Plain => {
            let message = sasl::plain_message(username, password);
            let (_, lifetime) = sasl_step(exchange, 2, client_id, message).await?;
            Ok(lifetime)
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let hash = if mechanism == SaslMechanism::ScramSha256 {
                scram::ScramHash::Sha256
            } else {
                scram::ScramHash::Sha512
            };
            let sasl_err = |e: scram::ScramError| UpstreamError::Sasl(e.to_string());
            let (mut client, first) =
                scram::ScramClient::start(hash, username, password).map_err(sasl_err)?;
            let (server_first, _) = sasl_step(exchange, 2, client_id, first).await?;
            let last = client.server_first(&server_first).map_err(sasl_err)?;
            let (server_final, lifetime) = sasl_step(exchange, 3, client_id, last).await?;
            client.server_final(&server_final).map_err(sasl_err)?;
            Ok(lifetime)
        }
    }
}

/// One SaslAuthenticate (v1) round; returns the server's bytes and the session lifetime it
/// announced (KIP-368; absent when 0).
async fn sasl_step(
    exchange: &mut impl Exchange,
    step: i32,
    client_id: &str,
    bytes: Vec<u8>,
) -> Result<(Bytes, Option<Duration>), UpstreamError> {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
    let r = round_trip(exchange, 1, OWN_CORRELATION_ID + step, client_id, &request).await?;
    if r.error_code != error_code::NONE {
        let message = r
            .error_message
            .as_deref()
            .unwrap_or("no message")
            .to_owned();
        return Err(UpstreamError::Sasl(format!(
            "error {}: {message}",
            r.error_code
        )));
    }
    let lifetime = u64::try_from(r.session_lifetime_ms)
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis);
    Ok((r.auth_bytes, lifetime))
}

/// Asks a broker for its API versions (v3, falling back to v0 per KIP-511 is unnecessary for
/// the Kafka versions the proxy supports).
pub async fn fetch_api_versions(
    conn: &mut Conn,
    client_id: &str,
) -> Result<kafka_protocol::messages::ApiVersionsResponse, UpstreamError> {
    let request = ApiVersionsRequest::default()
        .with_client_software_name("kafka-oidc-proxy".into())
        .with_client_software_version(env!("CARGO_PKG_VERSION").into());
    round_trip(
        &mut conn.stream(),
        3,
        OWN_CORRELATION_ID + 100,
        client_id,
        &request,
    )
    .await
}

/// Asks a broker for the broker list only (an empty topic list).
pub async fn fetch_brokers(
    conn: &mut Conn,
    client_id: &str,
) -> Result<kafka_protocol::messages::MetadataResponse, UpstreamError> {
    let request = MetadataRequest::default().with_topics(Some(Vec::new()));
    round_trip(
        &mut conn.stream(),
        12,
        OWN_CORRELATION_ID + 101,
        client_id,
        &request,
    )
    .await
}
