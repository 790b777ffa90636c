//! Real, unmodified Kafka clients logging in to the proxy with SASL/OAUTHBEARER: each library
//! fetches its tokens from the real OpenID provider (harness/idp) by the client-credentials
//! grant in its own documented way (librdkafka `sasl.oauthbearer.method=oidc`, the Java
//! client's OIDC login handler, kafka-python's and kafkajs's token provider callbacks), then
//! produces and consumes through the proxy against the three-node cluster. Also: refused tokens
//! as each client reports them, KIP-368 re-authentication with 20-second tokens, sessions closed
//! at expiry when the provider says `refresh_token = false`, and the proxy's own OAUTHBEARER
//! login to brokers whose listener validates tokens with Kafka's own OIDC validator.

mod common;

use std::sync::atomic::Ordering;

use common::{Idp, ProxyOptions, TestProxy, env, run_as as run, start_proxy, wait_for_log};

const CLIENTS: [&str; 4] = ["confluent", "kafka-python", "kafkajs", "java"];

async fn oauth_proxy() -> TestProxy {
    start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone(),
        ..ProxyOptions::default()
    })
    .await
}

/// Runs `scenario` for every client library at once (two client programs at a time).
async fn each_client(scenario: impl AsyncFn(&'static str)) {
    let [a, b, c, d] = CLIENTS;
    tokio::join!(scenario(a), scenario(b), scenario(c), scenario(d));
}

#[tokio::test]
async fn each_client_logs_in_then_produces_and_consumes() {
    let proxy = oauth_proxy().await;
    each_client(async |client| {
        // basic: a topic with 6 partitions and RF 3, keyed messages produced and consumed back
        // with no loss and no duplicates, then the topic deleted.
        run(
            &proxy,
            client,
            "basic",
            "kafka-producer",
            &["--messages", "2000"],
        )
        .await;
    })
    .await;
    let counts = proxy.proxy.auth_counts();
    let successes: u64 = counts
        .iter()
        .filter(|((_, outcome), _)| outcome == "success")
        .map(|(_, n)| n)
        .sum();
    assert!(successes >= 4, "authentications counted: {counts:?}");
}

#[tokio::test]
async fn refused_tokens_are_reported_by_each_client() {
    let proxy = oauth_proxy().await;
    each_client(async |client| {
        // The provider issues the token, but for another audience: the proxy refuses it.
        let json = run(&proxy, client, "auth-fail", "kafka-wrong-aud", &[]).await;
        assert_eq!(json["auth_error_source"], "broker", "{client}: {json}");
        if client != "kafkajs" {
            // kafkajs ignores the RFC 7628 error challenge and reports ILLEGAL_SASL_STATE on
            // its next request instead (see harness/clients/node/scenarios.js).
            let text = json["error_text"].as_str().unwrap_or_default();
            assert!(
                text.contains("token audience not accepted"),
                "{client} did not report the proxy's reason: {json}"
            );
        }
    })
    .await;
    // A token without the provider's required scope.
    let json = run(&proxy, "confluent", "auth-fail", "kafka-no-scope", &[]).await;
    assert!(
        json["error_text"]
            .as_str()
            .is_some_and(|t| t.contains("token lacks the required scope")),
        "{json}"
    );
    wait_for_log(&["authentication failed", "reason=\"audience\"", "peer="]).await;
    wait_for_log(&["authentication failed", "reason=\"scope\""]).await;
}

#[tokio::test]
async fn clients_reauthenticate_with_short_lived_tokens() {
    let proxy = oauth_proxy().await;
    each_client(async |client| {
        // kafka-short tokens live 20 s: 50 s of producing and consuming spans more than two
        // lifetimes, so every connection re-authenticates in band (KIP-368) at least twice.
        run(
            &proxy,
            client,
            "reauth",
            "kafka-short",
            &["--duration-s", "50", "--min-reauth", "2"],
        )
        .await;
    })
    .await;
    let reauths = proxy
        .proxy
        .stats()
        .client_reauthentications
        .load(Ordering::Relaxed);
    assert!(
        reauths >= 8,
        "{reauths} re-authentications seen by the proxy"
    );
}

#[tokio::test]
async fn sessions_end_at_token_expiry_without_refresh_and_clients_reconnect() {
    let issuer = Idp::issuer();
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: format!(
            "[identity]\nallow_http_loopback = true\n\
             [[identity.providers]]\norganization = \"acme\"\nidentifier = \"no-refresh\"\n\
             issuer = {issuer:?}\naudience = \"kafka\"\nscope = \"kafka\"\nrefresh_token = false\n\
             [authorization.super_users]\nacme = [\"User:*\"]\n"
        ),
        ..ProxyOptions::default()
    })
    .await;
    // No session lifetime is announced, so clients do not re-authenticate: the proxy closes
    // each connection when its 20-second token expires, and the client reconnects with a new
    // token. Every acknowledged message is still consumed.
    run(
        &proxy,
        "confluent",
        "reauth",
        "kafka-short",
        &["--duration-s", "45"],
    )
    .await;
    let stats = proxy.proxy.stats();
    let reauths = stats.client_reauthentications.load(Ordering::Relaxed);
    assert_eq!(reauths, 0, "re-authentications without a session lifetime");
    let expired = stats.sessions_expired.load(Ordering::Relaxed);
    assert!(expired >= 2, "{expired} sessions closed at token expiry");
}

#[tokio::test]
async fn proxy_logs_in_to_oauthbearer_brokers_and_reauthenticates() {
    // The brokers' OAUTH listener (harness/kafka/cluster.sh, KOP_KAFKA_OAUTH=1) validates
    // tokens with Kafka's own OAuthBearerValidatorCallbackHandler against the same provider
    // and limits each session to the token's lifetime. The proxy logs in as kafka-short
    // (20-second tokens), so its upstream connections must re-authenticate in band.
    let issuer = Idp::issuer();
    let proxy = start_proxy(ProxyOptions {
        bootstrap_servers: env("KOP_KAFKA_OAUTH_BOOTSTRAP")
            .split(',')
            .map(str::to_owned)
            .collect(),
        extra_upstream: format!(
            "[upstream.sasl]\nmechanism = \"OAUTHBEARER\"\ntoken_endpoint_uri = \"{issuer}/token\"\n\
             client_id = \"kafka-short\"\nclient_secret = \"kafka-short-secret\"\nscope = \"kafka\"\n"
        ),
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone(),
        ..ProxyOptions::default()
    })
    .await;
    run(
        &proxy,
        "java",
        "reauth",
        "kafka-producer",
        &["--duration-s", "50"],
    )
    .await;
    let reauths = proxy
        .proxy
        .stats()
        .upstream_reauthentications
        .load(Ordering::Relaxed);
    assert!(reauths >= 2, "{reauths} upstream re-authentications");
    assert!(
        !common::logs().contains("broker closed the connection with requests in flight"),
        "a broker closed an upstream connection"
    );
}
