//! Session behaviour against the real cluster, byte by byte: responses in request order with
//! local answers interleaved, backpressure at the in-flight limit, the idle timeout, the
//! connection limit, and draining in-flight requests on shutdown.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::raw::Raw;
use common::{ProxyOptions, start_proxy, wait_for_log};
use kafka_oidc_proxy::kafka::encode_request;
use kafka_oidc_proxy::kafka::header::parse_response_header;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, FetchRequest, ListOffsetsRequest,
    MetadataRequest, TopicName,
};

fn correlation_of(frame: &Bytes, api: ApiKey, version: i16) -> i32 {
    parse_response_header(frame, api.response_header_version(version))
        .expect("header")
        .0
}

#[tokio::test]
async fn pipelined_requests_come_back_in_order_under_backpressure() {
    // One request in flight at a time: the proxy must pause reading, never reorder or drop.
    let proxy = start_proxy(ProxyOptions {
        limits: "max_in_flight_per_connection = 1".into(),
        ..ProxyOptions::default()
    })
    .await;
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let mut expected = Vec::new();
    let mut batch = Vec::new();
    for id in 0..200 {
        let frame = if id % 3 == 0 {
            expected.push((id, ApiKey::ApiVersions, 3));
            encode_request(
                ApiKey::ApiVersions,
                3,
                id,
                "pipeline",
                &ApiVersionsRequest::default(),
            )
        } else {
            expected.push((id, ApiKey::Metadata, 12));
            encode_request(
                ApiKey::Metadata,
                12,
                id,
                "pipeline",
                &MetadataRequest::default().with_topics(Some(vec![])),
            )
        };
        batch.extend_from_slice(&frame.expect("encode"));
    }
    c.send_bytes(&batch).await;
    for (id, api, version) in expected {
        let frame = c.read_frame().await.expect("response");
        assert_eq!(
            correlation_of(&frame, api, version),
            id,
            "responses in request order"
        );
    }
}

#[tokio::test]
async fn a_forwarded_request_followed_by_a_local_one_in_the_same_read_is_answered() {
    // The Metadata request is written to the broker without a flush because another frame is
    // already buffered; that frame is answered by the proxy itself, so nothing else would
    // flush the broker connection, and the local answer waits behind the broker's.
    let proxy = start_proxy(ProxyOptions::default()).await;
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let metadata = MetadataRequest::default().with_topics(Some(vec![]));
    let mut batch = encode_request(ApiKey::Metadata, 12, 1, "pipeline", &metadata)
        .expect("encode")
        .to_vec();
    let versions = ApiVersionsRequest::default();
    batch.extend_from_slice(
        &encode_request(ApiKey::ApiVersions, 3, 2, "pipeline", &versions).expect("encode"),
    );
    c.send_bytes(&batch).await;
    for (id, api, version) in [(1, ApiKey::Metadata, 12), (2, ApiKey::ApiVersions, 3)] {
        let frame = c.read_frame().await.expect("response");
        assert_eq!(correlation_of(&frame, api, version), id);
    }
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let proxy = start_proxy(ProxyOptions {
        limits: "idle_timeout_secs = 1".into(),
        ..ProxyOptions::default()
    })
    .await;
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    assert_eq!(
        c.request(3, &ApiVersionsRequest::default())
            .await
            .error_code,
        0
    );
    c.expect_closed().await;
    wait_for_log(&["closing idle connection"]).await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused() {
    let proxy = start_proxy(ProxyOptions {
        limits: "max_connections = 2".into(),
        ..ProxyOptions::default()
    })
    .await;
    let mut a = Raw::connect(&proxy.bootstrap()).await;
    let mut b = Raw::connect(&proxy.bootstrap()).await;
    assert_eq!(
        a.request(3, &ApiVersionsRequest::default())
            .await
            .error_code,
        0
    );
    assert_eq!(
        b.request(3, &ApiVersionsRequest::default())
            .await
            .error_code,
        0
    );
    let mut third = Raw::connect(&proxy.bootstrap()).await;
    third.expect_closed().await;
    wait_for_log(&["connection refused", "limit=limits.max_connections"]).await;
    assert_eq!(
        proxy.proxy.refusals().count("limits.max_connections"),
        1,
        "counted"
    );
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = Raw::connect(&proxy.bootstrap()).await;
    assert_eq!(
        fourth
            .request(3, &ApiVersionsRequest::default())
            .await
            .error_code,
        0,
        "a slot is free again"
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let proxy = start_proxy(ProxyOptions::default()).await;
    let topic = format!("drain-{}", std::process::id());
    let mut admin = Raw::connect(&proxy.bootstrap()).await;
    let create = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(topic.clone().into()))
                .with_num_partitions(1)
                .with_replication_factor(3),
        ])
        .with_timeout_ms(30_000);
    let created = admin.request(4, &create).await;
    assert_eq!(created.topics[0].error_code, 0, "topic created");
    // Find the partition leader's proxy port.
    let mut leader = None;
    for _ in 0..50 {
        let m = admin
            .request(9, &MetadataRequest::default().with_topics(None))
            .await;
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic));
        if let Some(node) = t
            .and_then(|t| t.partitions.first())
            .map(|p| p.leader_id)
            .filter(|l| l.0 >= 0)
        {
            let b = m
                .brokers
                .iter()
                .find(|b| b.node_id == node)
                .expect("leader listed");
            leader = Some((node, format!("{}:{}", b.host.as_str(), b.port)));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader_id, leader_addr) = leader.expect("a leader");
    let mut c = Raw::connect(&leader_addr).await;
    let end = c
        .request(
            1,
            &ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
                kafka_protocol::messages::list_offsets_request::ListOffsetsTopic::default()
                    .with_name(TopicName(topic.clone().into()))
                    .with_partitions(vec![
                        kafka_protocol::messages::list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
                    ]),
            ]),
        )
        .await;
    let offset = end.topics[0].partitions[0].offset;
    // A Fetch at the end of an empty partition is held by the broker for max_wait_ms.
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(2000)
        .with_min_bytes(1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(topic.clone().into()))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1024),
                ]),
        ]);
    let frame = encode_request(ApiKey::Fetch, 4, 77, "drain", &fetch).expect("encode");
    c.send_bytes(&frame).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(proxy.proxy.shutdown(Duration::from_secs(10)));
    let response = c
        .read_frame()
        .await
        .expect("the held Fetch is answered before the connection closes");
    assert_eq!(correlation_of(&response, ApiKey::Fetch, 4), 77);
    c.expect_closed().await;
    assert!(
        shutdown.await.expect("shutdown task"),
        "drained within the grace period"
    );
    eprintln!(
        "drained after {:?} (leader {leader_id:?})",
        started.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(proxy.bootstrap)
            .await
            .is_err(),
        "no longer accepting"
    );
}
