//! SASL: OAUTHBEARER as clients speak it to the proxy, and the mechanisms the proxy speaks as
//! a client towards brokers.

pub mod oauthbearer;
pub mod scram;

/// The initial (and only) PLAIN message (RFC 4616) with an empty authorization id.
pub fn plain_message(username: &str, password: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(2 + username.len() + password.len());
    m.push(0);
    m.extend_from_slice(username.as_bytes());
    m.push(0);
    m.extend_from_slice(password.as_bytes());
    m
}
