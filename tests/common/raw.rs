//! A minimal Kafka client over a raw socket, for byte-level tests through the proxy.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use kafka_oidc_proxy::kafka::codec::FrameReader;
use kafka_oidc_proxy::kafka::encode_request;
use kafka_oidc_proxy::kafka::header::parse_response_header;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

pub struct Raw {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: i32,
}

impl Raw {
    pub async fn connect(addr: &str) -> Raw {
        Raw::connect_from(addr, None).await
    }

    /// Connects from `source` (any address of this host, e.g. 127.0.0.7), or the default.
    pub async fn connect_from(addr: &str, source: Option<IpAddr>) -> Raw {
        let stream = match source {
            None => TcpStream::connect(addr).await,
            Some(ip) => connect_from(ip, addr).await,
        }
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let (r, w) = stream.into_split();
        Raw {
            reader: FrameReader::new(r, 64 * 1024 * 1024),
            writer: w,
            next_id: 1,
        }
    }

    /// The connection's halves: its frames and its writer, for pipelining.
    pub fn into_split(self) -> (FrameReader<OwnedReadHalf>, OwnedWriteHalf) {
        (self.reader, self.writer)
    }

    /// The connection as a blocking socket (nothing may be buffered unread).
    pub fn into_std(self) -> std::net::TcpStream {
        let (read, unread) = self.reader.into_parts();
        assert!(
            unread.is_empty(),
            "{} bytes read but not returned",
            unread.len()
        );
        let stream = read.reunite(self.writer).expect("the halves of one stream");
        let stream = stream.into_std().expect("a std stream");
        stream.set_nonblocking(false).expect("blocking");
        stream
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Sends bytes the proxy may refuse part way (it closes the connection instead).
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// Sends a request and returns its decoded response (decoded directly with kafka-protocol:
    /// the test trusts the proxy's output enough to read it).
    pub async fn request<R: Request + Encodable>(
        &mut self,
        version: i16,
        request: &R,
    ) -> R::Response {
        let api = ApiKey::try_from(R::KEY).expect("known key");
        let id = self.next_id;
        self.next_id += 1;
        let frame = encode_request(api, version, id, "raw-test", request).expect("encode");
        self.send_bytes(&frame).await;
        let frame = self.read_frame().await.expect("a response");
        let (got, response) = decode_response::<R>(&frame, version);
        assert_eq!(got, id, "correlation id");
        response
    }

    /// The next frame, or None when the proxy closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        tokio::time::timeout(Duration::from_secs(30), self.reader.next_frame())
            .await
            .expect("the proxy answers or closes within 30 s")
            .ok()
            .flatten()
    }

    /// Waits until the proxy closes the connection (reads until EOF or reset).
    pub async fn expect_closed(&mut self) {
        loop {
            let read = tokio::time::timeout(Duration::from_secs(30), self.reader.next_frame())
                .await
                .expect("the proxy closes the connection within 30 s");
            match read {
                Ok(None) | Err(_) => return,
                Ok(Some(_)) => continue,
            }
        }
    }
}

impl Raw {
    /// Connects and authenticates with `token` (SaslHandshake v1, SaslAuthenticate v2).
    /// Returns the connection and the error code the client ends up with: a refusal is an
    /// RFC 7628 error challenge first, and the client's %x01 gets the error.
    pub async fn login(addr: &str, token: &str) -> (Raw, i16) {
        Raw::login_from(addr, None, token).await
    }

    /// As [`Raw::login`], connecting from `source`.
    pub async fn login_from(addr: &str, source: Option<IpAddr>, token: &str) -> (Raw, i16) {
        use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
        let mut c = Raw::connect_from(addr, source).await;
        let hs = c
            .request(
                1,
                &SaslHandshakeRequest::default().with_mechanism("OAUTHBEARER".into()),
            )
            .await;
        assert_eq!(hs.error_code, 0);
        let auth = c
            .request(
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(format!(
                    "n,,\u{1}auth=Bearer {token}\u{1}\u{1}"
                ))),
            )
            .await;
        if auth.error_code == 0 && !auth.auth_bytes.is_empty() {
            let ack = c
                .request(
                    2,
                    &SaslAuthenticateRequest::default()
                        .with_auth_bytes(Bytes::from_static(b"\x01")),
                )
                .await;
            return (c, ack.error_code);
        }
        (c, auth.error_code)
    }
}

/// A response frame (prefix included) to a request of type `R` at `version`: its correlation
/// id and its decoded body.
pub fn decode_response<R: Request>(frame: &Bytes, version: i16) -> (i32, R::Response) {
    let api = ApiKey::try_from(R::KEY).expect("known key");
    let (id, offset) =
        parse_response_header(frame, api.response_header_version(version)).expect("header");
    let response =
        R::Response::decode(&mut frame.slice(offset..), version).expect("decodable response");
    (id, response)
}

/// Opens a connection from `source` (any address of this host: 127.0.0.0/8 on loopback) to
/// `addr`.
pub async fn connect_from(source: IpAddr, addr: &str) -> std::io::Result<TcpStream> {
    let target: SocketAddr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} resolves to nothing")))?;
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}
