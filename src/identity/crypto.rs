//! Token signatures. RSA and ECDSA are checked with aws-lc-rs, the crypto library rustls uses
//! here, EdDSA with ed25519-dalek: each the fastest of the libraries measured for its algorithm
//! (`cargo bench --bench auth`).
//!
//! Each JWKS key is kept in the form its library verifies with ([`PublicKey`]): a check
//! neither copies the key nor decodes it again. An RSA key is parsed once per algorithm it is
//! used with, on its first use, and keeps its Montgomery form from one check to the next
//! (ring 0.17 builds it again for every signature: a third of RS256's check); an ECDSA point
//! is parsed and an Ed25519 point decompressed once, when the set is read.

use std::sync::OnceLock;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};

/// A verification key of a JWKS, ready to check signatures.
pub enum PublicKey {
    /// An RSA key (boxed: its parsed forms are many times an ECDSA key's size).
    Rsa(Box<RsaKey>),
    /// An ECDSA key on its curve.
    Ec {
        /// P-256 or P-384.
        curve: Curve,
        /// The point, parsed for the curve's JWS algorithm.
        key: ParsedPublicKey,
    },
    /// An Ed25519 key, decompressed.
    Ed(ed25519_dalek::VerifyingKey),
}

/// The ECDSA curves accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
}

impl PublicKey {
    /// The key of a JWK, if it is an asymmetric key this proxy verifies with (RSA, ECDSA on
    /// P-256 or P-384, Ed25519) and well formed; symmetric keys never are.
    pub fn from_jwk(jwk: &Jwk) -> Option<PublicKey> {
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => Some(PublicKey::Rsa(Box::new(RsaKey {
                n: decode(&rsa.n)?,
                e: decode(&rsa.e)?,
                parsed: Default::default(),
            }))),
            AlgorithmParameters::EllipticCurve(ec) => {
                let (curve, size, algorithm) = match ec.curve {
                    EllipticCurve::P256 => (Curve::P256, 32, &sig::ECDSA_P256_SHA256_FIXED),
                    EllipticCurve::P384 => (Curve::P384, 48, &sig::ECDSA_P384_SHA384_FIXED),
                    _ => return None,
                };
                let (x, y) = (decode(&ec.x)?, decode(&ec.y)?);
                if x.len() != size || y.len() != size {
                    return None;
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let key = ParsedPublicKey::new(algorithm, &point).ok()?;
                Some(PublicKey::Ec { curve, key })
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                let x: [u8; 32] = decode(&okp.x)?.try_into().ok()?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .ok()
                    .map(PublicKey::Ed)
            }
            _ => None,
        }
    }

    /// Whether `algorithm` signs with a key of this kind (and, for ECDSA, this curve).
    pub fn accepts(&self, algorithm: Algorithm) -> bool {
        use Algorithm as A;
        match self {
            PublicKey::Rsa(_) => RSA_ALGORITHMS.iter().any(|(a, _)| *a == algorithm),
            PublicKey::Ec { curve, .. } => matches!(
                (curve, algorithm),
                (Curve::P256, A::ES256) | (Curve::P384, A::ES384)
            ),
            PublicKey::Ed(_) => algorithm == A::EdDSA,
        }
    }

    /// Whether `signature` is this key's signature of `message` by `algorithm`. False for an
    /// algorithm the key does not [`accept`](Self::accepts).
    pub fn verify(&self, algorithm: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.accepts(algorithm) {
            return false;
        }
        match self {
            PublicKey::Rsa(key) => key
                .parsed(algorithm)
                .is_some_and(|k| k.verify_sig(message, signature).is_ok()),
            PublicKey::Ec { key, .. } => key.verify_sig(message, signature).is_ok(),
            PublicKey::Ed(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify_strict(message, &s).is_ok()),
        }
    }
}

/// An RSA key of a JWKS: modulus and exponent, big-endian, and the key parsed for each RSA
/// algorithm once a token of that algorithm has used it.
pub struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    /// By [`RSA_ALGORITHMS`]' order; `None` inside when the key does not parse.
    parsed: [OnceLock<Option<ParsedPublicKey>>; RSA_ALGORITHMS.len()],
}

impl RsaKey {
    /// The key parsed for `algorithm`, on first use; `None` for an algorithm that is not
    /// RSA's, or a key that does not parse.
    fn parsed(&self, algorithm: Algorithm) -> Option<&ParsedPublicKey> {
        let at = RSA_ALGORITHMS.iter().position(|(a, _)| *a == algorithm)?;
        let parameters = RSA_ALGORITHMS[at].1;
        self.parsed[at]
            .get_or_init(|| {
                sig::RsaPublicKeyComponents {
                    n: &self.n,
                    e: &self.e,
                }
                .to_parsed_public_key(parameters)
                .ok()
            })
            .as_ref()
    }
}

/// The RSA algorithms of JWS and their parameters: PKCS #1 v1.5 and PSS, moduli of 2048 to
/// 8192 bits.
const RSA_ALGORITHMS: [(Algorithm, &sig::RsaParameters); 6] = [
    (Algorithm::RS256, &sig::RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &sig::RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &sig::RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &sig::RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &sig::RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &sig::RSA_PSS_2048_8192_SHA512),
];

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};

    use super::*;

    fn jwk(kty: &str) -> Jwk {
        let jwks: Value = serde_json::from_str(include_str!("testdata/jwks.json")).expect("jwks");
        let jwk = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kty"] == kty)
            .expect("a key of the type");
        serde_json::from_value(jwk.clone()).expect("jwk")
    }

    /// Signs with jsonwebtoken (RustCrypto), verifies with the prepared keys, for each
    /// accepted family; a changed message, or an algorithm of another family, fails.
    #[test]
    fn prepared_keys_verify_what_rustcrypto_signs_and_nothing_else() {
        let cases: [(Algorithm, &[u8], &str); 5] = [
            (Algorithm::RS256, include_bytes!("testdata/rsa.pem"), "RSA"),
            (Algorithm::RS512, include_bytes!("testdata/rsa.pem"), "RSA"),
            (Algorithm::PS256, include_bytes!("testdata/rsa.pem"), "RSA"),
            (Algorithm::ES256, include_bytes!("testdata/ec.pem"), "EC"),
            (Algorithm::EdDSA, include_bytes!("testdata/ed.pem"), "OKP"),
        ];
        // One RSA key checks tokens of several algorithms, each parsed for on its first use.
        let shared_rsa = PublicKey::from_jwk(&jwk("RSA")).expect("rsa");
        for (algorithm, private, kty) in cases {
            let encoding = match algorithm {
                Algorithm::ES256 => EncodingKey::from_ec_pem(private),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(private),
                _ => EncodingKey::from_rsa_pem(private),
            }
            .expect("private key");
            let token =
                encode(&Header::new(algorithm), &json!({"sub": "a"}), &encoding).expect("signs");
            let (message, signature) = token.rsplit_once('.').expect("three parts");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64");
            let key = PublicKey::from_jwk(&jwk(kty)).expect("a usable key");
            assert!(key.accepts(algorithm), "{algorithm:?}");
            if kty == "RSA" {
                for _ in 0..2 {
                    assert!(
                        shared_rsa.verify(algorithm, message.as_bytes(), &signature),
                        "{algorithm:?} with the shared key"
                    );
                }
            }
            assert!(
                key.verify(algorithm, message.as_bytes(), &signature),
                "{algorithm:?}"
            );
            let mut tampered = message.as_bytes().to_vec();
            tampered[0] ^= 1;
            assert!(
                !key.verify(algorithm, &tampered, &signature),
                "{algorithm:?}"
            );
            let mut forged = signature.clone();
            forged[0] ^= 1;
            assert!(
                !key.verify(algorithm, message.as_bytes(), &forged),
                "{algorithm:?}"
            );
        }
        let rsa = PublicKey::from_jwk(&jwk("RSA")).expect("rsa");
        let ec = PublicKey::from_jwk(&jwk("EC")).expect("ec");
        for algorithm in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256] {
            assert!(!rsa.accepts(algorithm), "{algorithm:?}");
        }
        for algorithm in [Algorithm::ES384, Algorithm::RS256, Algorithm::HS256] {
            assert!(!ec.accepts(algorithm), "{algorithm:?}");
        }
    }

    /// Symmetric keys, unknown curves and malformed coordinates give no key.
    #[test]
    fn unusable_jwks_give_no_key() {
        let unusable = [
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
            // The right sizes, but not a point of the curve.
            json!({"kty": "EC", "crv": "P-256", "x": "A".repeat(43), "y": "A".repeat(43)}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
            json!({"kty": "RSA", "n": "not base64!", "e": "AQAB"}),
        ];
        for value in unusable {
            let jwk: Jwk = serde_json::from_value(value.clone()).expect("jwk");
            assert!(PublicKey::from_jwk(&jwk).is_none(), "{value}");
        }
    }
}
