//! SCRAM-SHA-256/512 client (RFC 5802, RFC 7677), as Kafka brokers implement the server.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, hmac, pbkdf2, rand::SecureRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Why a SCRAM exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    /// The server's message does not follow RFC 5802.
    #[error("malformed server message: {0}")]
    Malformed(&'static str),
    /// The server nonce does not extend ours (possible replay or a broken server).
    #[error("server nonce does not start with the client nonce")]
    NonceMismatch,
    /// The iteration count is outside what the proxy accepts.
    #[error("iteration count {0} outside 4096..=100000")]
    Iterations(u32),
    /// The server reported an error (`e=`).
    #[error("server error: {0}")]
    Server(String),
    /// The server's signature is wrong: it does not know our password.
    #[error("server signature does not verify")]
    BadServerSignature,
    /// No randomness was available for the nonce.
    #[error("no random source")]
    Random,
}

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Self::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        }
    }
    fn len(self) -> usize {
        self.digest().output_len()
    }
}

/// A SCRAM client exchange in progress.
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    /// Set after the server-first message: the expected server signature.
    server_signature: Option<Vec<u8>>,
}

fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn attribute(message: &str, key: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(key) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

impl ScramClient {
    /// Starts an exchange; returns the client and the client-first message.
    pub fn start(
        hash: ScramHash,
        username: &str,
        password: &str,
    ) -> Result<(Self, Vec<u8>), ScramError> {
        let mut raw = [0u8; 24];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| ScramError::Random)?;
        Ok(Self::start_with_nonce(
            hash,
            username,
            password,
            &B64.encode(raw),
        ))
    }

    fn start_with_nonce(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: &str,
    ) -> (Self, Vec<u8>) {
        let client_first_bare = format!("n={},r={}", escape_name(username), nonce);
        let first = format!("n,,{client_first_bare}").into_bytes();
        let client = Self {
            hash,
            password: password.to_owned(),
            client_first_bare,
            client_nonce: nonce.to_owned(),
            server_signature: None,
        };
        (client, first)
    }

    /// Handles the server-first message and returns the client-final message.
    pub fn server_first(&mut self, message: &[u8]) -> Result<Vec<u8>, ScramError> {
        let server_first =
            std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if server_first.starts_with("m=") {
            return Err(ScramError::Malformed("mandatory extension"));
        }
        if let Some(e) = attribute(server_first, 'e') {
            return Err(ScramError::Server(e.to_owned()));
        }
        let nonce = attribute(server_first, 'r').ok_or(ScramError::Malformed("no nonce"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        let salt = attribute(server_first, 's')
            .and_then(|s| B64.decode(s).ok())
            .ok_or(ScramError::Malformed("no salt"))?;
        let iterations: u32 = attribute(server_first, 'i')
            .and_then(|i| i.parse().ok())
            .ok_or(ScramError::Malformed("no iteration count"))?;
        if !(4096..=100_000).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }
        let h = self.hash;
        let mut salted = vec![0u8; h.len()];
        let rounds = NonZeroU32::new(iterations).ok_or(ScramError::Iterations(iterations))?;
        pbkdf2::derive(
            h.pbkdf2(),
            rounds,
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
        let salted_key = hmac::Key::new(h.hmac(), &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(h.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(h.hmac(), stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(h.hmac(), server_key.as_ref()),
            auth_message.as_bytes(),
        );
        self.server_signature = Some(server_signature.as_ref().to_vec());
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message, proving the server knows the password.
    pub fn server_final(&self, message: &[u8]) -> Result<(), ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(e) = attribute(text, 'e') {
            return Err(ScramError::Server(e.to_owned()));
        }
        let verifier = attribute(text, 'v')
            .and_then(|v| B64.decode(v).ok())
            .ok_or(ScramError::Malformed("no verifier"))?;
        match &self.server_signature {
            Some(expected) if constant_time_eq(expected, &verifier) => Ok(()),
            _ => Err(ScramError::BadServerSignature),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SCRAM-SHA-256 example exchange of RFC 7677 section 3.
    #[test]
    fn rfc7677_vector() {
        let (mut c, first) = ScramClient::start_with_nonce(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c
            .server_first(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert_eq!(
            c.server_final(b"v=AAAA"),
            Err(ScramError::BadServerSignature)
        );
    }

    #[test]
    fn refuses_foreign_nonce_and_errors() {
        let (mut c, _) = ScramClient::start_with_nonce(ScramHash::Sha512, "u", "p", "abc");
        assert_eq!(
            c.server_first(b"r=xyz123,s=AAAA,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            c.server_first(b"e=unknown-user"),
            Err(ScramError::Server("unknown-user".into()))
        );
        assert_eq!(
            c.server_first(b"r=abcdef,s=AAAA,i=1"),
            Err(ScramError::Iterations(1))
        );
    }

    #[test]
    fn user_names_are_escaped() {
        let (_, first) = ScramClient::start_with_nonce(ScramHash::Sha256, "a=b,c", "p", "n");
        assert_eq!(first, b"n,,n=a=3Db=2Cc,r=n");
    }
}
