//! The OAUTHBEARER client initial response of RFC 7628 section 3.1, as Kafka clients send it:
//!
//! ```text
//! gs2-header = "n," [ "a=" saslname ] ","        ; channel binding never ("y"/"p" refused)
//! message    = gs2-header %x01 *(key "=" value %x01) %x01
//! ```
//!
//! The `auth` pair carries `Bearer <token>`; every other pair is an extension (librdkafka sends
//! `traceId=...`, Kafka's `SaslExtensions`).

use std::collections::BTreeMap;

/// Why a client message is not a valid OAUTHBEARER initial response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The GS2 header is missing or malformed.
    #[error("invalid GS2 header")]
    Gs2Header,
    /// The client asked for channel binding, which OAUTHBEARER over Kafka does not support.
    #[error("channel binding is not supported")]
    ChannelBinding,
    /// The authorization identity is not a valid saslname.
    #[error("invalid authorization identity")]
    Authzid,
    /// A key/value pair is malformed, or the message is not terminated as RFC 7628 requires.
    #[error("malformed key/value pairs")]
    Pairs,
    /// The same key appears twice.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    /// An extension key or value has characters RFC 7628 does not allow.
    #[error("invalid extension {0:?}")]
    Extension(String),
    /// No `auth` pair.
    #[error("no auth value")]
    NoAuth,
    /// The `auth` value is not `Bearer <token>` with a token of RFC 6750 characters.
    #[error("auth value is not a bearer token")]
    NotBearer,
}

/// A parsed client initial response.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// The authorization identity, when the client sent one; it must equal the principal.
    pub authzid: Option<String>,
    /// The bearer token (a JWT, for this proxy).
    pub token: String,
    /// SASL extensions, by key.
    pub extensions: BTreeMap<String, String>,
}

impl std::fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponse")
            .field("authzid", &self.authzid)
            .field("token", &"<redacted>")
            .field("extensions", &self.extensions)
            .finish()
    }
}

const KVSEP: u8 = 0x01;

/// The client's acknowledgement of an error challenge (RFC 7628 section 3.2.3): a lone `%x01`.
pub fn is_error_acknowledgement(message: &[u8]) -> bool {
    message == [KVSEP]
}

/// Parses a client initial response.
pub fn parse_client_response(message: &[u8]) -> Result<ClientResponse, ParseError> {
    let text = std::str::from_utf8(message).map_err(|_| ParseError::Pairs)?;
    let (gs2, rest) = split_gs2(text)?;
    let authzid = parse_gs2(gs2)?;
    // After the header: pairs, each followed by %x01, then a final %x01.
    let body = rest.strip_prefix('\u{1}').ok_or(ParseError::Pairs)?;
    let body = body.strip_suffix('\u{1}').ok_or(ParseError::Pairs)?;
    let mut token = None;
    let mut extensions = BTreeMap::new();
    if !body.is_empty() {
        let pairs = body.strip_suffix('\u{1}').ok_or(ParseError::Pairs)?;
        for pair in pairs.split('\u{1}') {
            let (key, value) = pair.split_once('=').ok_or(ParseError::Pairs)?;
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(ParseError::Extension(key.to_owned()));
            }
            if key == "auth" {
                // `Bearer <b64token>` is stricter than RFC 7628's value: one check is enough.
                if token.replace(parse_bearer(value)?).is_some() {
                    return Err(ParseError::DuplicateKey(key.to_owned()));
                }
                continue;
            }
            if !value
                .bytes()
                .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Err(ParseError::Extension(key.to_owned()));
            }
            if extensions
                .insert(key.to_owned(), value.to_owned())
                .is_some()
            {
                return Err(ParseError::DuplicateKey(key.to_owned()));
            }
        }
    }
    Ok(ClientResponse {
        authzid,
        token: token.ok_or(ParseError::NoAuth)?,
        extensions,
    })
}

/// Splits `n,[a=...],` from the rest; the header itself contains exactly two commas.
fn split_gs2(text: &str) -> Result<(&str, &str), ParseError> {
    let first = text.find(',').ok_or(ParseError::Gs2Header)?;
    let second = text[first + 1..].find(',').ok_or(ParseError::Gs2Header)? + first + 1;
    Ok((&text[..second], &text[second + 1..]))
}

fn parse_gs2(header: &str) -> Result<Option<String>, ParseError> {
    let (flag, authz) = header.split_once(',').ok_or(ParseError::Gs2Header)?;
    match flag {
        "n" => {}
        "y" => return Err(ParseError::ChannelBinding),
        f if f.starts_with("p=") => return Err(ParseError::ChannelBinding),
        _ => return Err(ParseError::Gs2Header),
    }
    if authz.is_empty() {
        return Ok(None);
    }
    let name = authz.strip_prefix("a=").ok_or(ParseError::Gs2Header)?;
    unescape_saslname(name).map(Some)
}

/// RFC 5801 saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
fn unescape_saslname(name: &str) -> Result<String, ParseError> {
    if name.is_empty() {
        return Err(ParseError::Authzid);
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ParseError::Authzid),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The bytes of a b64token (RFC 6750 section 2.1) before its `=` padding, by value: a token
/// is a kilobyte or more, checked on every login, and a table lookup per byte is cheaper than
/// the ranges it stands for.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// `Bearer <b64token>` (RFC 6750 section 2.1; the scheme is case-insensitive).
fn parse_bearer(value: &str) -> Result<String, ParseError> {
    let (scheme, token) = value.split_once(' ').ok_or(ParseError::NotBearer)?;
    let token = token.trim_start_matches(' ');
    let (body, padding) = token.split_at(token.trim_end_matches('=').len());
    if !scheme.eq_ignore_ascii_case("bearer")
        || body.is_empty()
        || !body.bytes().all(|b| B64TOKEN[usize::from(b)])
        || padding.len() > 2
    {
        return Err(ParseError::NotBearer);
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_java_client_message() {
        let m = b"n,,\x01auth=Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln\x01\x01";
        let r = parse_client_response(m).unwrap();
        assert_eq!(r.token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
        assert_eq!(r.authzid, None);
        assert!(r.extensions.is_empty());
    }

    #[test]
    fn librdkafka_message_with_authzid_and_extension() {
        let m = b"n,a=svc=2Cx=3Dy,\x01auth=bearer tok.en.sig\x01traceId=abc 123\x01\x01";
        let r = parse_client_response(m).unwrap();
        assert_eq!(r.authzid.as_deref(), Some("svc,x=y"));
        assert_eq!(r.token, "tok.en.sig");
        assert_eq!(
            r.extensions.get("traceId").map(String::as_str),
            Some("abc 123")
        );
    }

    #[test]
    fn refusals() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::Gs2Header),
            (b"n,,", ParseError::Pairs),
            (b"y,,\x01auth=Bearer t\x01\x01", ParseError::ChannelBinding),
            (
                b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
                ParseError::ChannelBinding,
            ),
            (
                b"n,a=bad=name,\x01auth=Bearer t\x01\x01",
                ParseError::Authzid,
            ),
            (b"n,,\x01\x01", ParseError::NoAuth),
            (b"n,,\x01auth=Bearer t\x01", ParseError::Pairs),
            (b"n,,\x01auth=Basic dXNlcg==\x01\x01", ParseError::NotBearer),
            (b"n,,\x01auth=Bearer \x01\x01", ParseError::NotBearer),
            (b"n,,\x01auth=Bearer a b\x01\x01", ParseError::NotBearer),
            (b"n,,\x01auth=Bearer a\x00b\x01\x01", ParseError::NotBearer),
            (b"n,,\x01auth=Bearer\tab\x01\x01", ParseError::NotBearer),
            (
                b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
                ParseError::DuplicateKey("auth".into()),
            ),
            (
                b"n,,\x01auth=Bearer t\x01tr4ce=x\x01\x01",
                ParseError::Extension("tr4ce".into()),
            ),
            (
                b"n,,\x01auth=Bearer t\x01x=\x00\x01\x01",
                ParseError::Extension("x".into()),
            ),
            (b"n,,\x01noequals\x01\x01", ParseError::Pairs),
        ];
        for (message, expected) in cases {
            assert_eq!(
                parse_client_response(message).as_ref().err(),
                Some(expected),
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn token_bytes_are_rfc_6750_b64token() {
        let allowed: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
        for b in 0..=255u8 {
            let mut message = b"n,,\x01auth=Bearer a".to_vec();
            message.extend([b, b'z', 1, 1]);
            let parsed = parse_client_response(&message);
            assert_eq!(parsed.is_ok(), allowed.contains(&b), "byte {b:#04x}");
        }
        // `=` only as padding, at most two.
        assert!(parse_client_response(b"n,,\x01auth=Bearer ab==\x01\x01").is_ok());
        assert!(parse_client_response(b"n,,\x01auth=Bearer a=b\x01\x01").is_err());
        assert!(parse_client_response(b"n,,\x01auth=Bearer a===\x01\x01").is_err());
    }

    #[test]
    fn error_acknowledgement() {
        assert!(is_error_acknowledgement(b"\x01"));
        assert!(!is_error_acknowledgement(b"\x01\x01"));
    }

    #[test]
    fn token_is_redacted_in_debug_output() {
        let r = parse_client_response(b"n,,\x01auth=Bearer secret.token.here\x01\x01").unwrap();
        assert!(!format!("{r:?}").contains("secret"));
    }
}
