//! Token validation against fixed test keys (testdata/): every accepted algorithm, and each way
//! a token must be refused.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://idp.example.com/realms/acme";
const OTHER_ISSUER: &str = "https://other.example.com";
const NOW: u64 = 1_800_000_000;

fn spec(issuer: &str) -> ProviderSpec {
    serde_json::from_value(json!({
        "organization": "acme", "identifier": "okta", "issuer": issuer,
        "jwks_endpoint_uri": "http://127.0.0.1:9/jwks", "audience": "kafka", "scope": "kafka",
        "groups_claim_name": "groups",
    }))
    .unwrap()
}

fn providers() -> Providers {
    let jwks: Value = serde_json::from_str(include_str!("testdata/jwks.json")).unwrap();
    let mut other = spec(OTHER_ISSUER);
    other.identifier = "second".into();
    Providers::new([
        Arc::new(Provider::with_keys(
            spec(ISSUER),
            &jwks,
            http_client().unwrap(),
        )),
        // A second provider that publishes only the EC key.
        Arc::new(Provider::with_keys(
            other,
            &json!({"keys": [jwks["keys"][1].clone()]}),
            http_client().unwrap(),
        )),
    ])
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "kafka", "sub": "svc-orders", "scope": "openid kafka",
           "groups": ["producers", "team-a"], "iat": NOW - 10, "exp": NOW + 300})
}

fn sign(alg: Algorithm, kid: &str, pem: &[u8], claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, claims, &key).unwrap()
}

fn rsa(claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        "rsa-1",
        include_bytes!("testdata/rsa.pem"),
        claims,
    )
}

fn check(token: &str) -> Result<Identity, AuthFailure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(providers().validate_at(token, None, NOW))
        .map(Arc::unwrap_or_clone)
}

fn with(f: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims();
    f(&mut c);
    c
}

#[test]
fn accepts_rs256_es256_and_eddsa() {
    let tokens = [
        rsa(&claims()),
        sign(
            Algorithm::PS256,
            "rsa-1",
            include_bytes!("testdata/rsa.pem"),
            &claims(),
        ),
        sign(
            Algorithm::ES256,
            "ec-1",
            include_bytes!("testdata/ec.pem"),
            &claims(),
        ),
        sign(
            Algorithm::EdDSA,
            "ed-1",
            include_bytes!("testdata/ed.pem"),
            &claims(),
        ),
    ];
    for (i, token) in tokens.iter().enumerate() {
        let id = check(token);
        if i == 1 {
            // The JWK pins RS256, so a PS256 signature by the same key is refused.
            assert_eq!(id, Err(AuthFailure::Signature));
            continue;
        }
        let id = id.unwrap_or_else(|e| panic!("token {i}: {e:?}"));
        assert_eq!(id.user, "svc-orders");
        assert_eq!(id.groups, ["producers", "team-a"]);
        assert_eq!(
            (id.organization.as_str(), id.provider.as_str()),
            ("acme", "okta")
        );
        assert_eq!(id.expires_at, NOW + 300);
    }
}

#[test]
fn time_claims_with_clock_skew() {
    assert!(
        check(&rsa(&with(|c| c["exp"] = json!(NOW - 20)))).is_ok(),
        "within 30 s skew"
    );
    assert_eq!(
        check(&rsa(&with(|c| c["exp"] = json!(NOW - 31)))),
        Err(AuthFailure::Expired)
    );
    assert_eq!(
        check(&rsa(&with(|c| c
            .as_object_mut()
            .unwrap()
            .remove("exp")
            .map(drop)
            .unwrap()))),
        Err(AuthFailure::Expired)
    );
    assert_eq!(
        check(&rsa(&with(|c| c["nbf"] = json!(NOW + 60)))),
        Err(AuthFailure::NotYetValid)
    );
    assert!(check(&rsa(&with(|c| c["nbf"] = json!(NOW + 20)))).is_ok());
    assert_eq!(
        check(&rsa(&with(|c| c["iat"] = json!(NOW + 60)))),
        Err(AuthFailure::NotYetValid)
    );
    assert_eq!(
        check(&rsa(&with(|c| c["exp"] = json!("soon")))),
        Err(AuthFailure::Claims)
    );
}

#[test]
fn issuer_audience_scope_and_subject() {
    assert_eq!(
        check(&rsa(
            &with(|c| c["iss"] = json!("https://evil.example.com"))
        )),
        Err(AuthFailure::UnknownIssuer)
    );
    assert_eq!(
        check(&rsa(&with(|c| c["aud"] = json!("other")))),
        Err(AuthFailure::Audience)
    );
    assert!(
        check(&rsa(&with(|c| c["aud"] = json!(["other", "kafka"])))).is_ok(),
        "aud array containing ours"
    );
    assert_eq!(
        check(&rsa(&with(|c| c["scope"] = json!("openid kafkaesque")))),
        Err(AuthFailure::Scope)
    );
    assert_eq!(
        check(&rsa(&with(|c| c
            .as_object_mut()
            .unwrap()
            .remove("sub")
            .map(drop)
            .unwrap()))),
        Err(AuthFailure::Subject)
    );
    assert_eq!(
        check(&rsa(&with(|c| c["sub"] = json!("")))),
        Err(AuthFailure::Subject)
    );
}

#[test]
fn alg_none_and_hmac_with_the_public_key_are_refused() {
    let payload = B64URL.encode(claims().to_string());
    let none = format!(
        "{}.{payload}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    assert_eq!(check(&none), Err(AuthFailure::Algorithm));
    // The classic key-confusion attack: HS256 keyed with the provider's public key.
    let public = include_bytes!("testdata/rsa-public.pem");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let hs = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(public).unwrap(),
    )
    .unwrap();
    assert_eq!(check(&hs), Err(AuthFailure::Algorithm));
}

#[test]
fn tampering_and_foreign_keys() {
    let token = rsa(&claims());
    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = B64URL.encode(with(|c| c["groups"] = json!(["platform-admins"])).to_string());
    assert_eq!(
        check(&format!("{head}.{forged}.{signature}")),
        Err(AuthFailure::Signature),
        "payload tampered"
    );
    let mut sig = B64URL.decode(signature).unwrap();
    sig[10] ^= 1;
    let (message, _) = token.rsplit_once('.').unwrap();
    assert_eq!(
        check(&format!("{message}.{}", B64URL.encode(sig))),
        Err(AuthFailure::Signature),
        "signature tampered"
    );
    let other_key = sign(
        Algorithm::RS256,
        "rsa-1",
        include_bytes!("testdata/rsa-other.pem"),
        &claims(),
    );
    assert_eq!(
        check(&other_key),
        Err(AuthFailure::Signature),
        "signed by an unpublished key under a published kid"
    );
    let unknown_kid = sign(
        Algorithm::RS256,
        "rsa-9",
        include_bytes!("testdata/rsa.pem"),
        &claims(),
    );
    assert_eq!(check(&unknown_kid), Err(AuthFailure::UnknownKey));
    // Expired as well: refused as expired without looking for the key (this provider's JWKS
    // endpoint is unreachable, so a lookup would answer unknown_key).
    let stale = sign(
        Algorithm::RS256,
        "rsa-9",
        include_bytes!("testdata/rsa.pem"),
        &with(|c| c["exp"] = json!(NOW - 31)),
    );
    assert_eq!(check(&stale), Err(AuthFailure::Expired));
    // Second provider's issuer, but signed with a key only the first provider publishes.
    let cross = rsa(&with(|c| c["iss"] = json!(OTHER_ISSUER)));
    assert_eq!(check(&cross), Err(AuthFailure::UnknownKey));
}

#[test]
fn garbage_is_malformed() {
    for token in ["", "abc", "a.b", "a.b.c", "....", &"x".repeat(100_000)] {
        assert!(
            matches!(
                check(token),
                Err(AuthFailure::Malformed | AuthFailure::Algorithm)
            ),
            "{token:.20}"
        );
    }
}

#[test]
fn verified_tokens_are_cached_until_they_expire() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let providers = providers();
    let token = rsa(&with(|c| c["exp"] = json!(NOW + 5)));
    runtime.block_on(async {
        assert!(providers.validate_at(&token, None, NOW).await.is_ok());
        assert_eq!(providers.verified.lock().unwrap().len(), 1);
        assert!(
            providers.validate_at(&token, None, NOW + 30).await.is_ok(),
            "cached, within the skew"
        );
        assert_eq!(
            providers.validate_at(&token, None, NOW + 40).await,
            Err(AuthFailure::Expired),
            "expiry applies to cached tokens"
        );
    });
}

#[tokio::test]
async fn a_change_of_client_settings_only_keeps_keys_and_sessions() {
    let jwks: Value = serde_json::from_str(include_str!("testdata/jwks.json")).unwrap();
    let old = Provider::with_keys(spec(ISSUER), &jwks, http_client().unwrap());
    let mut rotated = spec(ISSUER);
    rotated.cfk_client_id = Some("proxy".into());
    rotated.cfk_client_secret = Some("new-secret".to_owned().into());
    rotated.token_endpoint_uri = Some("https://idp.example.com/token".into());
    let next = old.succeeded_by(&rotated).expect("a successor");
    assert!(Arc::ptr_eq(&old.jwks, &next.jwks), "the keys are kept");
    assert!(!next.revoked.is_cancelled());
    old.revoked.cancel();
    assert!(next.revoked.is_cancelled(), "one revocation for both");
    assert!(!next.retired.is_cancelled());
    assert_eq!(next.spec.cfk_client_id.as_deref(), Some("proxy"));
    // Anything that changes how tokens are verified is a new provider.
    let mut audience = spec(ISSUER);
    audience.audience = "other".into();
    let mut scope = spec(ISSUER);
    scope.scope = String::new();
    let mut refresh = spec(ISSUER);
    refresh.refresh_token = false;
    for changed in [audience, scope, refresh] {
        assert!(old.succeeded_by(&changed).is_none(), "{changed:?}");
    }
}

#[tokio::test]
async fn a_token_is_checked_for_the_organization_of_the_cluster_it_is_presented_on() {
    let jwks: Value = serde_json::from_str(include_str!("testdata/jwks.json")).unwrap();
    let mut globex = spec(ISSUER);
    globex.organization = "globex".into();
    let providers = Providers::new([
        Arc::new(Provider::with_keys(
            spec(ISSUER),
            &jwks,
            http_client().unwrap(),
        )),
        Arc::new(Provider::with_keys(globex, &jwks, http_client().unwrap())),
    ]);
    let token = rsa(&claims());
    // The same corporate provider serves both organizations; each cluster's organization
    // decides whose identity the token is, also once a check of it is cached.
    for organization in ["acme", "globex", "acme"] {
        let identity = providers
            .validate_at(&token, Some(organization), NOW)
            .await
            .unwrap();
        assert_eq!(identity.organization, organization);
    }
    assert!(matches!(
        providers.validate_at(&token, Some("initech"), NOW).await,
        Err(AuthFailure::UnknownIssuer)
    ));
    // Where no virtual cluster says which organization, the token is ambiguous, and refused
    // as an unknown issuer is.
    let refused = providers.validate_at(&token, None, NOW).await.unwrap_err();
    assert_eq!(refused, AuthFailure::AmbiguousIssuer);
    assert_eq!(refused.to_string(), AuthFailure::UnknownIssuer.to_string());
}
