//! What one authentication costs on one core: validating a bearer token against a provider's
//! keys (RS256, ES256, EdDSA), cold (a token the proxy has not seen: signature and claims
//! checked, with the provider's keys already in use, as they are once its first token has
//! been checked) and from the verified-token cache (a reconnecting client with the same
//! token). Authentications per second on one core = 1 / the time per iteration. Beside them,
//! the crypto limit: the signature check of the same token alone, with the key as the proxy
//! holds it (`signature/*/proxy`: aws-lc-rs for RS256 and ES256, ed25519-dalek for EdDSA),
//! what a validation can at best approach; and ring's check (`signature/*/ring`, the key
//! decoded beforehand), for comparison.
//!
//!   cargo bench --bench auth

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use kafka_oidc_proxy::identity::crypto::PublicKey;
use kafka_oidc_proxy::identity::{Provider, ProviderSpec, Providers, http_client};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example.com/realms/acme";

fn spec() -> ProviderSpec {
    let spec = json!({
        "organization": "acme", "identifier": "bench", "issuer": ISSUER,
        "jwks_endpoint_uri": "https://idp.example.com/jwks", "audience": "kafka",
        "scope": "kafka", "groups_claim_name": "groups",
    });
    serde_json::from_value(spec).expect("provider spec")
}

fn jwks() -> Value {
    serde_json::from_str(include_str!("../src/identity/testdata/jwks.json")).expect("jwks")
}

fn provider(http: &reqwest::Client) -> Arc<Provider> {
    Arc::new(Provider::with_keys(spec(), &jwks(), http.clone()))
}

/// A token like an IdP's access token: issuer, audience, scope, groups, one hour to live.
fn token(alg: Algorithm) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": ISSUER, "aud": "kafka", "sub": "svc-orders", "scope": "openid kafka",
        "groups": ["producers", "team-a", "payments-readers"], "iat": now, "exp": now + 3600,
        "jti": "bench", "client_id": "svc-orders",
    });
    let (kid, key) = match alg {
        Algorithm::ES256 => (
            "ec-1",
            EncodingKey::from_ec_pem(include_bytes!("../src/identity/testdata/ec.pem")),
        ),
        Algorithm::EdDSA => (
            "ed-1",
            EncodingKey::from_ed_pem(include_bytes!("../src/identity/testdata/ed.pem")),
        ),
        _ => (
            "rsa-1",
            EncodingKey::from_rsa_pem(include_bytes!("../src/identity/testdata/rsa.pem")),
        ),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, &claims, &key.expect("test key")).expect("signed token")
}

/// A signature check of a message, the key bound in.
type Check = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// ring's check of `token`'s signature with the JWKS key of its algorithm, the key decoded
/// beforehand, nothing else.
fn ring_only(alg: Algorithm, token: &str) -> impl Fn() -> bool {
    use ring::signature as sig;
    let (message, signature) = signed_parts(token);
    let jwk = jwks_key(match alg {
        Algorithm::ES256 => "EC",
        Algorithm::EdDSA => "OKP",
        _ => "RSA",
    });
    let part = |name: &str| base64_url(jwk[name].as_str().expect("a key part"));
    let check: Check = match alg {
        Algorithm::ES256 => {
            let point = [vec![0x04], part("x"), part("y")].concat();
            Box::new(move |m, s| {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point)
                    .verify(m, s)
                    .is_ok()
            })
        }
        Algorithm::EdDSA => {
            let x = part("x");
            Box::new(move |m, s| {
                sig::UnparsedPublicKey::new(&sig::ED25519, &x)
                    .verify(m, s)
                    .is_ok()
            })
        }
        _ => {
            let (n, e) = (part("n"), part("e"));
            Box::new(move |m, s| {
                sig::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(&sig::RSA_PKCS1_2048_8192_SHA256, m, s)
                    .is_ok()
            })
        }
    };
    move || check(&message, &signature)
}

/// The proxy's check of `token`'s signature with the JWKS key of its algorithm, held as the
/// proxy holds it, nothing else.
fn proxy_only(alg: Algorithm, token: &str) -> impl Fn() -> bool {
    let (message, signature) = signed_parts(token);
    let jwk: Jwk = serde_json::from_value(jwks_key(match alg {
        Algorithm::ES256 => "EC",
        Algorithm::EdDSA => "OKP",
        _ => "RSA",
    }))
    .expect("a jwk");
    let key = PublicKey::from_jwk(&jwk).expect("a usable key");
    move || key.verify(alg, &message, &signature)
}

fn base64_url(part: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64")
}

/// A token's signed part and its signature.
fn signed_parts(token: &str) -> (Vec<u8>, Vec<u8>) {
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    (message.as_bytes().to_vec(), base64_url(signature))
}

/// The test JWKS's key of type `kty`.
fn jwks_key(kty: &str) -> Value {
    jwks()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kty"] == kty)
        .cloned()
        .expect("a key")
}

fn validation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let http = http_client().expect("http client");
    for (name, alg) in [
        ("rs256", Algorithm::RS256),
        ("es256", Algorithm::ES256),
        ("eddsa", Algorithm::EdDSA),
    ] {
        let token = token(alg);
        let provider = provider(&http);
        let warm = Providers::new([provider.clone()]);
        runtime
            .block_on(warm.validate(&token))
            .expect("the bench token is valid");
        c.bench_function(&format!("validate/{name}/cold"), |b| {
            // A fresh snapshot of the same provider for every iteration: no token cached,
            // every check done.
            b.iter_batched(
                || Providers::new([provider.clone()]),
                |p| {
                    let identity = runtime.block_on(p.validate(&token)).expect("valid");
                    (p, identity) // dropped after the measurement
                },
                BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("validate/{name}/cached"), |b| {
            b.iter(|| runtime.block_on(warm.validate(&token)).expect("valid"))
        });
        let check = proxy_only(alg, &token);
        assert!(check(), "the signature verifies");
        c.bench_function(&format!("signature/{name}/proxy"), |b| b.iter(&check));
        let check = ring_only(alg, &token);
        assert!(check(), "the signature verifies");
        c.bench_function(&format!("signature/{name}/ring"), |b| b.iter(&check));
    }
}

criterion_group!(benches, validation);
criterion_main!(benches);
