//! A minimal Kafka client over a raw socket, for byte-level tests through the proxy.

use std::time::Duration;

use bytes::Bytes;
use kafka_oidc_proxy::kafka::codec::FrameReader;
use kafka_oidc_proxy::kafka::header::parse_response_header;
use kafka_oidc_proxy::kafka::{decode_response, encode_request};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Encodable, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Raw {
    stream: TcpStream,
    next_id: i32,
}

impl Raw {
    pub async fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Raw { stream, next_id: 1 }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends a request and returns its decoded response.
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
        let (got, offset) =
            parse_response_header(&frame, api.response_header_version(version)).expect("header");
        assert_eq!(got, id, "correlation id");
        decode_response::<R>(version, &frame.slice(offset..)).expect("decodable response")
    }

    /// The next frame, or None when the proxy closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut reader = FrameReader::new(&mut self.stream, 64 * 1024 * 1024);
        tokio::time::timeout(Duration::from_secs(30), reader.next_frame())
            .await
            .expect("the proxy answers or closes within 30 s")
            .ok()
            .flatten()
    }

    /// Waits until the proxy closes the connection (reads until EOF or reset).
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            let read = tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut buf))
                .await
                .expect("the proxy closes the connection within 30 s");
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }
}
