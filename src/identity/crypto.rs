//! Token signatures are verified with ring, the library rustls uses here, so that one crypto
//! library serves TLS and tokens: a jsonwebtoken [`CryptoProvider`] whose RSA and ECDSA
//! verifiers are ring's. EdDSA stays with RustCrypto's ed25519-dalek, which verifies faster
//! than ring (`cargo bench --bench auth`), as do signing (only tests and benchmarks sign
//! tokens) and the key utilities.
//!
//! [`install`] makes it the process's provider; it must run before anything else uses
//! jsonwebtoken (the binary calls it first thing, and every validation calls it again).

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils, rust_crypto};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::signature::{Error, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use ring::signature as sig;

/// The provider: ring's verifiers.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: RUST_CRYPTO.rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key: RUST_CRYPTO.rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key: RUST_CRYPTO.ec_pub_components_from_private_key,
        ed_pub_components_from_private_key: RUST_CRYPTO.ed_pub_components_from_private_key,
        compute_digest: RUST_CRYPTO.compute_digest,
    },
};

const RUST_CRYPTO: &KeyUtils = &rust_crypto::DEFAULT_PROVIDER.key_utils;

/// Makes [`PROVIDER`] the process's provider, once. If jsonwebtoken was used before (a test
/// that signs a token first), the provider it chose stays: verification is as correct with
/// it, only slower.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

/// Whether [`PROVIDER`] is the one in use.
pub fn installed() -> bool {
    CryptoProvider::try_get_default().is_some_and(|p| std::ptr::eq(p, &PROVIDER))
}

/// The key family each accepted algorithm needs; `None` for the ones never accepted (HMAC).
fn family(algorithm: Algorithm) -> Option<AlgorithmFamily> {
    use Algorithm as A;
    match algorithm {
        A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512 => {
            Some(AlgorithmFamily::Rsa)
        }
        A::ES256 | A::ES384 => Some(AlgorithmFamily::Ec),
        A::EdDSA => Some(AlgorithmFamily::Ed),
        _ => None,
    }
}

fn new_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match family(*algorithm) {
        Some(AlgorithmFamily::Ed) if key.family() == AlgorithmFamily::Ed => {
            (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key)
        }
        Some(f) if f == key.family() => Ok(Box::new(RingVerifier {
            algorithm: *algorithm,
            key: key.clone(),
        })),
        Some(_) => Err(ErrorKind::InvalidKeyFormat.into()),
        None => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

struct RingVerifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl RingVerifier {
    fn rsa(&self) -> Option<&'static sig::RsaParameters> {
        use Algorithm as A;
        Some(match self.algorithm {
            A::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            A::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            A::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            A::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            A::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            A::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn ecdsa(&self) -> Option<&'static sig::EcdsaVerificationAlgorithm> {
        Some(match self.algorithm {
            Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            _ => return None,
        })
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), Error> {
        let verified = match (self.rsa(), self.ecdsa(), self.key.kind()) {
            (Some(rsa), _, DecodingKeyKind::RsaModulusExponent { n, e }) => {
                sig::RsaPublicKeyComponents { n, e }.verify(rsa, message, signature)
            }
            (Some(rsa), _, DecodingKeyKind::SecretOrDer(der)) => {
                sig::UnparsedPublicKey::new(rsa, der).verify(message, signature)
            }
            (None, Some(algorithm), DecodingKeyKind::SecretOrDer(public)) => {
                sig::UnparsedPublicKey::new(algorithm, public).verify(message, signature)
            }
            _ => return Err(Error::new()),
        };
        verified.map_err(|_| Error::new())
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};

    use super::*;

    /// Signs with RustCrypto, verifies with the provider's verifiers (ring's for RSA and
    /// ECDSA), for each accepted family and key form.
    #[test]
    fn ring_verifies_what_rustcrypto_signs_and_nothing_else() {
        let cases: [(Algorithm, &[u8], &[u8]); 4] = [
            (
                Algorithm::RS256,
                include_bytes!("testdata/rsa.pem"),
                include_bytes!("testdata/rsa-public.pem"),
            ),
            (
                Algorithm::PS256,
                include_bytes!("testdata/rsa.pem"),
                include_bytes!("testdata/rsa-public.pem"),
            ),
            (Algorithm::ES256, include_bytes!("testdata/ec.pem"), &[]),
            (Algorithm::EdDSA, include_bytes!("testdata/ed.pem"), &[]),
        ];
        let jwks: Value = serde_json::from_str(include_str!("testdata/jwks.json")).expect("jwks");
        let jwk_of = |kty: &str| {
            let jwk = jwks["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .find(|k| k["kty"] == kty)
                .expect("a key of the type");
            DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).expect("jwk")).expect("key")
        };
        for (algorithm, private, public_pem) in cases {
            let encoding = match algorithm {
                Algorithm::ES256 => EncodingKey::from_ec_pem(private),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(private),
                _ => EncodingKey::from_rsa_pem(private),
            }
            .expect("private key");
            let token =
                encode(&Header::new(algorithm), &json!({"sub": "a"}), &encoding).expect("signs");
            let (message, signature) = token.rsplit_once('.').expect("three parts");
            let signature = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                signature,
            )
            .expect("base64");
            let mut keys = vec![jwk_of(match algorithm {
                Algorithm::ES256 => "EC",
                Algorithm::EdDSA => "OKP",
                _ => "RSA",
            })];
            if !public_pem.is_empty() {
                keys.push(DecodingKey::from_rsa_pem(public_pem).expect("public key"));
            }
            for key in &keys {
                let verifier = new_verifier(&algorithm, key).expect("a verifier");
                assert!(
                    verifier.verify(message.as_bytes(), &signature).is_ok(),
                    "{algorithm:?}"
                );
                let mut tampered = message.as_bytes().to_vec();
                tampered[0] ^= 1;
                assert!(
                    verifier.verify(&tampered, &signature).is_err(),
                    "{algorithm:?}"
                );
            }
        }
        // A key of another family, or HMAC, gets no verifier at all.
        let rsa = jwk_of("RSA");
        assert!(new_verifier(&Algorithm::ES256, &rsa).is_err());
        assert!(new_verifier(&Algorithm::EdDSA, &rsa).is_err());
        let secret = DecodingKey::from_secret(b"secret").expect("secret");
        assert!(new_verifier(&Algorithm::HS256, &secret).is_err());
    }
}
