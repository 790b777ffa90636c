//! Pagination cursors of DescribeTopicPartitions listings. The broker pages a listing over
//! every topic, the proxy then leaves out what the caller may not describe; when the next
//! page starts at such a topic, its name would reach the client in the cursor. The name is
//! sealed instead (ChaCha20-Poly1305 under a key made at start-up) and opened when the client
//! sends the cursor back. A sealed name starts with `~`, which no topic name contains. A
//! cursor the process cannot open (sealed by another process, or altered) is forwarded as it
//! is: the broker finds no topic at or after it, and the listing ends.

use std::sync::OnceLock;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

const MARK: char = '~';

fn key() -> Option<&'static LessSafeKey> {
    static KEY: OnceLock<Option<LessSafeKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).ok()?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).ok()?;
        Some(LessSafeKey::new(key))
    })
    .as_ref()
}

/// The sealed form of a topic name; `None` only if the system has no randomness, and then
/// the caller must not reveal the name.
pub(super) fn seal(name: &str) -> Option<String> {
    let key = key()?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut sealed = name.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut sealed,
    )
    .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(format!("{MARK}{}", B64.encode(out)))
}

/// The topic name in a cursor the proxy sealed; `None` for a plain name or one it cannot
/// open.
pub(super) fn open(text: &str) -> Option<String> {
    let encoded = text.strip_prefix(MARK)?;
    let bytes = B64.decode(encoded).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut sealed = sealed.to_vec();
    let name = key()?
        .open_in_place(nonce, Aad::empty(), &mut sealed)
        .ok()?;
    String::from_utf8(name.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_name_opens_to_itself_and_shows_nothing_of_it() {
        let sealed = seal("payments.cards").expect("sealed");
        assert!(sealed.starts_with('~'));
        assert!(!sealed.contains("payments"));
        assert_ne!(
            seal("payments.cards"),
            Some(sealed.clone()),
            "a fresh nonce each time"
        );
        assert_eq!(open(&sealed).as_deref(), Some("payments.cards"));
    }

    #[test]
    fn plain_altered_or_foreign_cursors_do_not_open() {
        assert_eq!(open("orders.eu"), None);
        assert_eq!(open("~"), None);
        assert_eq!(open("~not base64!"), None);
        let mut sealed = seal("payments.cards").expect("sealed").into_bytes();
        let last = sealed.len() - 1;
        sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&String::from_utf8(sealed).expect("ascii")), None);
    }
}
