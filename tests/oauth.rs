//! SASL/OAUTHBEARER through the proxy with tokens from the real OpenID provider
//! (harness/idp, oidc-provider) and the real cluster, byte by byte: the handshake, the RFC 7628
//! failure flow (error challenge, %x01, SASL_AUTHENTICATION_FAILED, connection closed) for each
//! kind of bad token, re-authentication (KIP-368), session expiry, key rotation and a JWKS outage.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::Raw;
use common::{Idp, ProxyOptions, TestProxy, start_proxy, wait_for_log};
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest,
};
use serde_json::json;

const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// The rotation/outage test changes the provider for everyone: it runs alone.
static PROVIDER_STATE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;

async fn oauth_proxy(extra_identity: &str) -> TestProxy {
    start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml(extra_identity) + Idp::allow_everyone(),
        ..ProxyOptions::default()
    })
    .await
}

fn client_message(token: &str, authzid: Option<&str>) -> Bytes {
    let a = authzid.map(|a| format!("a={a}")).unwrap_or_default();
    Bytes::from(format!("n,{a},\u{1}auth=Bearer {token}\u{1}\u{1}"))
}

async fn handshake(c: &mut Raw) {
    let hs = c
        .request(
            1,
            &SaslHandshakeRequest::default().with_mechanism("OAUTHBEARER".into()),
        )
        .await;
    assert_eq!(hs.error_code, 0);
    assert_eq!(
        hs.mechanisms.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ["OAUTHBEARER"]
    );
}

async fn authenticate(c: &mut Raw, token: &str, authzid: Option<&str>) -> SaslAuthenticateResponse {
    handshake(c).await;
    c.request(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(client_message(token, authzid)),
    )
    .await
}

/// Connects and authenticates; panics unless it succeeds.
async fn login(proxy: &TestProxy, token: &str) -> (Raw, SaslAuthenticateResponse) {
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    assert_eq!(
        c.request(3, &ApiVersionsRequest::default())
            .await
            .error_code,
        0
    );
    let r = authenticate(&mut c, token, None).await;
    assert_eq!(
        r.error_code, 0,
        "authentication failed: {:?}",
        r.error_message
    );
    (c, r)
}

/// The RFC 7628 failure flow; returns the error message of the final response.
async fn refused(proxy: &TestProxy, token: &str, authzid: Option<&str>) -> String {
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let challenge = authenticate(&mut c, token, authzid).await;
    assert_eq!(
        challenge.error_code, 0,
        "the first answer is an error challenge"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&challenge.auth_bytes).expect("JSON challenge");
    assert_eq!(status["status"], "invalid_token");
    let last = c
        .request(
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\x01")),
        )
        .await;
    assert_eq!(last.error_code, SASL_AUTHENTICATION_FAILED);
    c.expect_closed().await;
    last.error_message
        .map(|m| m.to_string())
        .unwrap_or_default()
}

async fn metadata_works(c: &mut Raw) {
    let m = c
        .request(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    assert_eq!(m.brokers.len(), 3);
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_authenticate() {
    let _shared = PROVIDER_STATE.read().await;
    let proxy = oauth_proxy("").await;
    let issuer = Idp::issuer();
    for client in [
        "kafka-producer",
        "kafka-es256",
        "kafka-eddsa",
        "kafka-ps256",
    ] {
        let token = Idp::token(&issuer, client).await;
        let (mut c, r) = login(&proxy, &token).await;
        assert!(
            (1..=300_000).contains(&r.session_lifetime_ms),
            "{client}: session lifetime {}",
            r.session_lifetime_ms
        );
        metadata_works(&mut c).await;
        wait_for_log(&["authenticated", &format!("User:{client}"), "main-idp"]).await;
    }
    // A second organization's provider, on its own issuer.
    let token = Idp::token(&Idp::second_issuer(), "kafka-producer").await;
    let (mut c, _) = login(&proxy, &token).await;
    metadata_works(&mut c).await;
    let counts = proxy.proxy.auth_counts();
    assert_eq!(
        counts.get(&("acme/main-idp".to_owned(), "success".to_owned())),
        Some(&4)
    );
    assert_eq!(
        counts.get(&("globex/second-idp".to_owned(), "success".to_owned())),
        Some(&1)
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_sasl_authentication_failed() {
    let _shared = PROVIDER_STATE.read().await;
    let proxy = oauth_proxy("").await;
    let issuer = Idp::issuer();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |body: serde_json::Value| Idp::sign(&issuer, body);
    let cases = [
        (
            "expired",
            sign(json!({"claims": {"iat": now - 600, "exp": now - 300}})).await,
            "token expired",
        ),
        (
            "nbf in the future",
            sign(json!({"claims": {"nbf": now + 600}})).await,
            "token not yet valid",
        ),
        (
            "wrong issuer",
            sign(json!({"claims": {"iss": "http://127.0.0.1:1/evil"}})).await,
            "token issuer not accepted",
        ),
        (
            "wrong audience",
            Idp::token(&issuer, "kafka-wrong-aud").await,
            "token audience not accepted",
        ),
        (
            "missing scope",
            Idp::token(&issuer, "kafka-no-scope").await,
            "token lacks the required scope",
        ),
        (
            "alg none",
            sign(json!({"alg": "none"})).await,
            "token algorithm not accepted",
        ),
        (
            "HS256 keyed with the public key",
            sign(json!({"alg": "HS256"})).await,
            "token algorithm not accepted",
        ),
        (
            "unknown kid",
            sign(json!({"key": "unpublished"})).await,
            "token signing key not found",
        ),
        (
            "missing sub",
            sign(json!({"claims": {"sub": null}})).await,
            "token has no subject",
        ),
        // The second issuer is registered, but this token is signed with the first one's key.
        (
            "foreign key",
            sign(json!({"claims": {"iss": Idp::second_issuer()}})).await,
            "token signing key not found",
        ),
        ("garbage", "not-a-jwt".to_owned(), "malformed token"),
    ];
    let valid = Idp::token(&issuer, "kafka-producer").await;
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut tampered_sig = signature.to_owned().into_bytes();
    tampered_sig[5] = if tampered_sig[5] == b'A' { b'B' } else { b'A' };
    let forged_payload = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
        claims["groups"] = json!(["platform-admins"]);
        b64.encode(claims.to_string())
    };
    let tampered = [
        (
            "signature tampered",
            format!(
                "{head}.{payload}.{}",
                String::from_utf8(tampered_sig).unwrap()
            ),
            "invalid token signature",
        ),
        (
            "payload tampered",
            format!("{head}.{forged_payload}.{signature}"),
            "invalid token signature",
        ),
    ];
    for (name, token, message) in cases.into_iter().chain(tampered) {
        let got = refused(&proxy, &token, None).await;
        assert_eq!(got, format!("Authentication failed: {message}"), "{name}");
        // Other clients are served meanwhile.
        let (mut c, _) = login(&proxy, &valid).await;
        metadata_works(&mut c).await;
    }
    // A 200 KiB token fits under the pre-authentication frame cap and is refused as malformed;
    // one over the cap (512 KiB) closes the connection as soon as its length prefix is read.
    let big = format!("eyJhbGciOiJSUzI1NiJ9.{}.x", "A".repeat(200 * 1024));
    let got = refused(&proxy, &big, None).await;
    assert_eq!(
        got, "Authentication failed: malformed token",
        "200 KiB token"
    );
    let huge = "A".repeat(600 * 1024);
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    handshake(&mut c).await;
    let frame = kafka_oidc_proxy::kafka::encode_request(
        kafka_protocol::messages::ApiKey::SaslAuthenticate,
        2,
        9,
        "raw-test",
        &SaslAuthenticateRequest::default().with_auth_bytes(client_message(&huge, None)),
    )
    .expect("encode");
    c.send_bytes(&frame[..64 * 1024]).await;
    c.expect_closed().await;
    wait_for_log(&["exceeds the limit of 524288 bytes"]).await;
    let (mut c, _) = login(&proxy, &valid).await;
    metadata_works(&mut c).await;
    let got = refused(&proxy, &valid, Some("someone-else")).await;
    assert_eq!(
        got, "Authentication failed: authorization id does not match the token's subject",
        "authzid not matching"
    );
    let line = wait_for_log(&["authentication failed", "reason=\"expired\""]).await;
    assert!(
        line.contains("peer=127.0.0.1:"),
        "the failure log names the peer: {line}"
    );
    assert!(
        !common::logs().contains(&valid),
        "a token appeared in the logs"
    );
    // Refusals are counted by the provider the token claims to come from, when one is
    // registered for its issuer, and by reason.
    let counts = proxy.proxy.auth_counts();
    for (provider, reason) in [
        ("acme/main-idp", "expired"),
        ("acme/main-idp", "not_yet_valid"),
        ("-", "unknown_issuer"),
        ("acme/main-idp", "audience"),
        ("acme/main-idp", "scope"),
        ("acme/main-idp", "algorithm"),
        ("acme/main-idp", "unknown_key"),
        ("acme/main-idp", "subject"),
        ("globex/second-idp", "unknown_key"),
        ("-", "malformed"),
        ("acme/main-idp", "signature"),
        ("acme/main-idp", "authzid"),
    ] {
        assert!(
            counts
                .get(&(provider.to_owned(), reason.to_owned()))
                .is_some_and(|n| *n > 0),
            "no {reason} counted for {provider}: {counts:?}"
        );
    }
    assert!(
        counts
            .get(&("acme/main-idp".to_owned(), "success".to_owned()))
            .is_some_and(|n| *n > 0),
        "{counts:?}"
    );
}

#[tokio::test]
async fn an_unknown_kid_is_refetched_once_before_the_token_is_refused() {
    // Alone, so that the provider's JWKS hit counter counts this proxy's fetches only.
    let _alone = PROVIDER_STATE.write().await;
    let proxy = oauth_proxy("").await;
    let issuer = Idp::issuer();
    // Keys loaded by a first login; from now on only an unknown kid may fetch them again.
    login(&proxy, &Idp::token(&issuer, "kafka-producer").await).await;
    let jwks_hits = async || {
        Idp::state(&issuer).await["hits"]["jwks"]
            .as_u64()
            .expect("a JWKS hit counter")
    };
    let before = jwks_hits().await;
    let unknown = Idp::sign(&issuer, json!({"key": "unpublished"})).await;
    let got = refused(&proxy, &unknown, None).await;
    assert_eq!(got, "Authentication failed: token signing key not found");
    let after = jwks_hits().await;
    assert_eq!(
        after,
        before + 1,
        "one JWKS fetch for the unknown kid, then the refusal"
    );
}

#[tokio::test]
async fn protocol_rules_before_authentication() {
    let _shared = PROVIDER_STATE.read().await;
    let proxy = oauth_proxy("authentication_timeout_secs = 2").await;
    // Any request other than ApiVersions/SASL before authentication closes the connection.
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    assert_eq!(
        c.request(3, &ApiVersionsRequest::default())
            .await
            .error_code,
        0
    );
    c.send_bytes(
        &kafka_oidc_proxy::kafka::encode_request(
            kafka_protocol::messages::ApiKey::Metadata,
            12,
            9,
            "early",
            &MetadataRequest::default(),
        )
        .unwrap(),
    )
    .await;
    c.expect_closed().await;
    wait_for_log(&["Metadata before authentication (ILLEGAL_SASL_STATE)"]).await;
    // A request in place of the %x01 after an error challenge (what kafkajs does) is answered
    // as Kafka answers it, with ILLEGAL_SASL_STATE in its own response, then the connection
    // closes.
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let token = Idp::token(&Idp::issuer(), "kafka-wrong-aud").await;
    let challenge = authenticate(&mut c, &token, None).await;
    assert!(!challenge.auth_bytes.is_empty(), "an error challenge");
    let topic = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
        .with_name(Some(kafka_protocol::messages::TopicName("orders".into())));
    let m = c
        .request(
            6,
            &MetadataRequest::default().with_topics(Some(vec![topic])),
        )
        .await;
    assert_eq!(m.topics.len(), 1);
    assert_eq!(m.topics[0].error_code, ILLEGAL_SASL_STATE);
    assert!(
        m.brokers.is_empty(),
        "nothing about the cluster before authentication"
    );
    c.expect_closed().await;
    // Another mechanism gets UNSUPPORTED_SASL_MECHANISM with the enabled list, then a close.
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    let hs = c
        .request(
            1,
            &SaslHandshakeRequest::default().with_mechanism("PLAIN".into()),
        )
        .await;
    assert_eq!(hs.error_code, UNSUPPORTED_SASL_MECHANISM);
    assert_eq!(
        hs.mechanisms.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ["OAUTHBEARER"]
    );
    c.expect_closed().await;
    // A client that never authenticates is disconnected after identity.authentication_timeout_secs.
    let started = Instant::now();
    let mut c = Raw::connect(&proxy.bootstrap()).await;
    c.expect_closed().await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    wait_for_log(&["not authenticated within identity.authentication_timeout_secs"]).await;
}

#[tokio::test]
async fn reauthentication_and_session_expiry() {
    let _shared = PROVIDER_STATE.read().await;
    // Sessions last at most 3 s whatever the token says.
    let proxy = oauth_proxy("max_session_lifetime_secs = 3").await;
    let issuer = Idp::issuer();
    let token = Idp::token(&issuer, "kafka-producer").await;
    let (mut c, r) = login(&proxy, &token).await;
    assert!(
        (1..=3000).contains(&r.session_lifetime_ms),
        "{}",
        r.session_lifetime_ms
    );
    // Re-authenticate (KIP-368) twice on the same connection, past the first lifetime.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let fresh = Idp::token(&issuer, "kafka-producer").await;
        let r = authenticate(&mut c, &fresh, None).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        metadata_works(&mut c).await;
    }
    // A different principal on the same connection is refused and the connection closed.
    let other = Idp::token(&issuer, "kafka-admin").await;
    let r = authenticate(&mut c, &other, None).await;
    assert_eq!(r.error_code, SASL_AUTHENTICATION_FAILED);
    c.expect_closed().await;
    wait_for_log(&["re-authentication as kafka-admin refused"]).await;
    // A client that does not re-authenticate is disconnected when its session ends.
    let (mut c, _) = login(&proxy, &token).await;
    let started = Instant::now();
    c.expect_closed().await;
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "closed after {:?}",
        started.elapsed()
    );
    wait_for_log(&["session expired (token lifetime)"]).await;
}

/// KIP-368 as a broker has it: a re-authentication whose SaslHandshake came before the session
/// ended may finish after it; any other request then ends the connection.
#[tokio::test]
async fn a_reauthentication_under_way_when_the_session_ends_may_finish() {
    let _shared = PROVIDER_STATE.read().await;
    let proxy = oauth_proxy("max_session_lifetime_secs = 3").await;
    let token = Idp::token(&Idp::issuer(), "kafka-producer").await;
    let reauthenticate =
        SaslAuthenticateRequest::default().with_auth_bytes(client_message(&token, None));
    let (mut c, _) = login(&proxy, &token).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    handshake(&mut c).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = c.request(2, &reauthenticate).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(r.session_lifetime_ms > 0);
    metadata_works(&mut c).await;

    let (mut c, _) = login(&proxy, &token).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    handshake(&mut c).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let metadata = kafka_oidc_proxy::kafka::encode_request(
        kafka_protocol::messages::ApiKey::Metadata,
        12,
        9,
        "raw-test",
        &MetadataRequest::default().with_topics(Some(vec![])),
    )
    .expect("encode");
    let _ = c.try_send_bytes(&metadata).await;
    c.expect_closed().await;
    wait_for_log(&["session expired (token lifetime)"]).await;
}

#[tokio::test]
async fn key_rotation_and_jwks_outage() {
    let _alone = PROVIDER_STATE.write().await;
    let proxy = oauth_proxy("").await;
    let issuer = Idp::issuer();
    let before = Idp::token(&issuer, "kafka-producer").await;
    login(&proxy, &before).await;
    // The provider rotates: new tokens carry a new kid, fetched on first sight, no restart.
    Idp::admin(&issuer, "/admin/rotate", json!({})).await;
    let after = Idp::token(&issuer, "kafka-producer").await;
    let (mut c, _) = login(&proxy, &after).await;
    metadata_works(&mut c).await;
    // The JWKS endpoint goes down: tokens signed by cached keys keep working.
    Idp::admin(&issuer, "/admin/jwks?status=503", json!({})).await;
    let during = Idp::token(&issuer, "kafka-producer").await;
    let outcome = async {
        let (mut c, _) = login(&proxy, &during).await;
        metadata_works(&mut c).await;
        login(&proxy, &before).await;
    };
    outcome.await;
    Idp::admin(&issuer, "/admin/reset", json!({})).await;
}

async fn jwks_hits(issuer: &str) -> u64 {
    Idp::state(issuer).await["hits"]["jwks"]
        .as_u64()
        .expect("a JWKS hit counter")
}

/// Waits up to `secs` for a log line containing every one of `parts`.
async fn wait_for_log_within(secs: u64, parts: &[&str]) -> String {
    for _ in 0..secs * 10 {
        if let Some(l) = common::logs()
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return l.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no log line with {parts:?}");
}

#[tokio::test]
async fn a_rotated_key_is_accepted_on_first_use_and_made_up_kids_are_rate_limited() {
    let _alone = PROVIDER_STATE.write().await;
    let proxy = oauth_proxy("").await;
    let issuer = Idp::issuer();
    login(&proxy, &Idp::token(&issuer, "kafka-producer").await).await;
    // Twenty made-up kids at once: each refused, at most one JWKS fetch a second.
    let unknown = Idp::sign(&issuer, json!({"key": "unpublished"})).await;
    let before = jwks_hits(&issuer).await;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = Raw::connect(&proxy.bootstrap()).await;
        handshake(&mut c).await;
        clients.push(c);
    }
    let frame = kafka_oidc_proxy::kafka::encode_request(
        kafka_protocol::messages::ApiKey::SaslAuthenticate,
        2,
        1000,
        "raw-test",
        &SaslAuthenticateRequest::default().with_auth_bytes(client_message(&unknown, None)),
    )
    .expect("encode");
    for c in &mut clients {
        c.send_bytes(&frame).await;
    }
    for c in &mut clients {
        let challenge = c.read_frame().await.expect("an error challenge");
        assert!(
            String::from_utf8_lossy(&challenge).contains("invalid_token"),
            "refused"
        );
    }
    let fetched = jwks_hits(&issuer).await - before;
    let allowed = started.elapsed().as_secs() + 1;
    assert!(
        fetched <= allowed,
        "{fetched} JWKS fetches in {:?}",
        started.elapsed()
    );
    // A made-up kid has just spent the refresh when the provider rotates: the first login
    // with the new key is accepted all the same.
    refused(&proxy, &unknown, None).await;
    Idp::admin(&issuer, "/admin/rotate", json!({})).await;
    let (mut c, _) = login(&proxy, &Idp::token(&issuer, "kafka-producer").await).await;
    metadata_works(&mut c).await;
}

#[tokio::test]
async fn an_unknown_kid_is_answered_at_once_when_no_fetch_is_due() {
    let _alone = PROVIDER_STATE.write().await;
    let issuer = Idp::issuer();
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: format!(
            "[identity]\nallow_http_loopback = true\n[[identity.providers]]\norganization = \"acme\"\n\
             identifier = \"main-idp\"\nissuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\n\
             jwks_min_refresh_secs = 30\n\
             [authorization.super_users]\nacme = [\"User:*\"]\n"
        ),
        ..ProxyOptions::default()
    })
    .await;
    login(&proxy, &Idp::token(&issuer, "kafka-producer").await).await;
    let before = jwks_hits(&issuer).await;
    let unknown = Idp::sign(&issuer, json!({"key": "unpublished"})).await;
    let started = Instant::now();
    let got = refused(&proxy, &unknown, None).await;
    assert_eq!(got, "Authentication failed: token signing key not found");
    // No fetch may start for 30 s: the refusal does not wait for one (it used to take 5 s).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused after {:?}",
        started.elapsed()
    );
    assert_eq!(jwks_hits(&issuer).await, before, "no fetch");
}

#[tokio::test]
async fn a_stalled_or_absent_provider_is_logged_with_the_cause() {
    let _alone = PROVIDER_STATE.write().await;
    let issuer = Idp::issuer();
    // Down from the start: the log says there are no keys, not that it keeps the last good.
    Idp::admin(&issuer, "/admin/jwks?status=503", json!({})).await;
    let proxy = oauth_proxy("").await;
    let line = wait_for_log_within(15, &["JWKS refresh of acme/main-idp failed", "503"]).await;
    assert!(line.contains("no keys yet"), "{line}");
    assert!(!line.contains("keeping the last good keys"), "{line}");
    // Keys once loaded, then the provider stalls: an unknown kid is refused within the wait,
    // and the fetch that never gets an answer is logged as timed out.
    Idp::admin(&issuer, "/admin/reset", json!({})).await;
    let token = Idp::token(&issuer, "kafka-producer").await;
    for _ in 0..50 {
        let mut c = Raw::connect(&proxy.bootstrap()).await;
        if authenticate(&mut c, &token, None)
            .await
            .auth_bytes
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Idp::admin(&issuer, "/admin/jwks?stall=1", json!({})).await;
    let unknown = Idp::sign(&issuer, json!({"key": "unpublished"})).await;
    assert_eq!(
        refused(&proxy, &unknown, None).await,
        "Authentication failed: token signing key not found"
    );
    let line =
        wait_for_log_within(20, &["JWKS refresh for an unknown key failed", "timed out"]).await;
    assert!(line.contains(&issuer), "{line}");
    assert!(line.contains("keeping the last good keys"), "{line}");
    Idp::admin(&issuer, "/admin/reset", json!({})).await;
}
