//! Bad input from a client: each case closes that one connection with a clear log line, while
//! the proxy keeps serving other clients against the real cluster.

mod common;

use common::raw::Raw;
use common::{ProxyOptions, start_proxy, wait_for_log};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

/// A frame: 4-byte length prefix, then `body`.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A request header v1 (api key, version, correlation id, client id "bad").
fn header(api_key: i16, version: i16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&7i32.to_be_bytes());
    h.extend_from_slice(&3i16.to_be_bytes());
    h.extend_from_slice(b"bad");
    h
}

/// A well-behaved client meanwhile: ApiVersions then Metadata through the proxy.
async fn healthy_client(addr: &str) {
    let mut c = Raw::connect(addr).await;
    let versions = c.request(3, &ApiVersionsRequest::default()).await;
    assert_eq!(versions.error_code, 0);
    let metadata = c
        .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    assert!(!metadata.brokers.is_empty(), "brokers through the proxy");
    for b in &metadata.brokers {
        let addr = format!("{}:{}", b.host.as_str(), b.port);
        assert!(
            !common::kafka_bootstrap().contains(&addr),
            "real broker address {addr} leaked"
        );
    }
}

async fn assert_closed_and_logged(addr: &str, bytes: Vec<u8>, log: &[&str]) {
    let mut bad = Raw::connect(addr).await;
    bad.send_bytes(&bytes).await;
    healthy_client(addr).await;
    bad.expect_closed().await;
    wait_for_log(log).await;
    healthy_client(addr).await;
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let proxy = start_proxy(ProxyOptions {
        limits: "max_frame_bytes = 1048576\nmax_frame_bytes_pre_auth = 1048576".into(),
        ..ProxyOptions::default()
    })
    .await;
    let addr = proxy.bootstrap();

    // Over the size limit: 2 GiB claimed, refused from the prefix alone.
    assert_closed_and_logged(
        &addr,
        vec![0x7f, 0xff, 0xff, 0xff, 0, 18],
        &["exceeds the limit of 1048576 bytes"],
    )
    .await;

    // Random bytes whose first four happen to be a sane length: an unknown API key.
    let mut random = vec![0, 0, 0, 16];
    random.extend_from_slice(&[
        0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0xc0, 0xde, 0x55, 0xaa, 0x55, 0xaa, 1, 2, 3, 4,
    ]);
    assert_closed_and_logged(
        &addr,
        random,
        &["closing client connection", "unknown API key -8531"],
    )
    .await;

    // Truncated frame: announces 100 bytes, sends 10, then the client closes its side.
    {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        c.write_all(&[0, 0, 0, 100, 0, 3, 0, 1, 0, 0, 0, 1, 0, 0])
            .await
            .unwrap();
        c.shutdown().await.unwrap();
        wait_for_log(&["connection closed inside a frame (14 bytes buffered)"]).await;
        healthy_client(&addr).await;
    }

    // Unknown API key 999.
    assert_closed_and_logged(&addr, frame(&header(999, 0)), &["unknown API key 999"]).await;

    // A known API key at a version the proxy does not offer (Produce v10 carries node endpoints).
    let mut produce = header(0, 10);
    produce.push(0); // header v2 tagged fields
    assert_closed_and_logged(
        &addr,
        frame(&produce),
        &["Produce v10 is not supported by the proxy"],
    )
    .await;

    // The hostile array count: Metadata v0 whose topic count is 0x7fffffff in a 5-byte body.
    // kafka-protocol 0.18 would try to allocate ~150 GiB and abort the process.
    let mut hostile = header(3, 0);
    hostile.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0x00]);
    assert_closed_and_logged(
        &addr,
        frame(&hostile),
        &["array count 2147483647 exceeds the 1 bytes left"],
    )
    .await;

    // Shorter than a request header.
    assert_closed_and_logged(
        &addr,
        frame(&[0, 3, 0]),
        &["malformed request: message truncated"],
    )
    .await;

    // A client id longer than the frame.
    let mut liar = header(3, 1);
    liar[8..10].copy_from_slice(&500i16.to_be_bytes());
    assert_closed_and_logged(
        &addr,
        frame(&liar),
        &["malformed request: message truncated"],
    )
    .await;

    // ApiVersions with a truncated v3 body (client software name announces 50 bytes).
    let mut api_versions = header(18, 3);
    api_versions.push(0); // header v2 tagged fields
    api_versions.extend_from_slice(&[51, b'x']);
    assert_closed_and_logged(&addr, frame(&api_versions), &["malformed request"]).await;

    // SASL on a listener without authentication.
    assert_closed_and_logged(
        &addr,
        frame(&header(17, 1)),
        &["SaslHandshake on a listener without SASL"],
    )
    .await;

    let stats = proxy.proxy.stats();
    for _ in 0..50 {
        if stats
            .client_connections
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        stats
            .client_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no leaked client connections"
    );
}

#[tokio::test]
async fn too_new_api_versions_gets_kip511_answer() {
    let proxy = start_proxy(ProxyOptions::default()).await;
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    // ApiVersions v99: header v2 (tagged fields), empty body.
    let mut h = header(18, 99);
    h.push(0);
    c.send_bytes(&frame(&h)).await;
    let response = c
        .read_frame()
        .await
        .expect("an answer, not a closed connection");
    // Response header v0 (correlation id only), body v0: error_code, [api_key, min, max].
    assert_eq!(&response[4..8], &7i32.to_be_bytes());
    assert_eq!(
        &response[8..10],
        &35i16.to_be_bytes(),
        "UNSUPPORTED_VERSION"
    );
    assert_eq!(&response[10..14], &1i32.to_be_bytes(), "one api key");
    assert_eq!(&response[14..16], &18i16.to_be_bytes());
    assert_eq!(&response[16..18], &0i16.to_be_bytes());
    assert_eq!(&response[18..20], &4i16.to_be_bytes());
    // The client may now retry with a version we speak, on the same connection.
    let versions = c.request(3, &ApiVersionsRequest::default()).await;
    assert_eq!(versions.error_code, 0);
}
