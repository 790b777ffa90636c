//! Client secrets at rest: sealed with AES-256-GCM under a key of the operator's
//! (`store.secret_keys_file`, or the `KAFKA_OIDC_PROXY_STORE_KEYS` environment variable), the
//! provider row's id as associated data so that a sealed value cannot be moved to another
//! row. A sealed value names its key (`enc:v1:<key id>:<base64 nonce+ciphertext>`), so that a
//! new key can be put first while older ones still open what they sealed, until the store
//! re-seals every row with the first key.

use std::collections::HashMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The environment variable that holds the keys, ahead of `store.secret_keys_file`.
pub const KEYS_ENV: &str = "KAFKA_OIDC_PROXY_STORE_KEYS";

const PREFIX: &str = "enc:v1:";

/// Why a set of keys or a sealed value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The keys are written wrongly.
    #[error("{0}")]
    Keys(String),
    /// A value is sealed with a key that is not configured.
    #[error("sealed with key {0:?}, which is not among the configured store keys")]
    UnknownKey(String),
    /// A sealed value does not open (wrong key, or altered).
    #[error("a sealed value does not open with key {0:?} (altered, or another key of that id)")]
    Corrupt(String),
    /// A secret is stored in clear, or sealed, where no key is configured.
    #[error("sealed, but no store keys are configured")]
    NoKeys,
}

/// The configured keys: the first seals, every one opens.
pub struct SecretKeys {
    current: String,
    keys: HashMap<String, LessSafeKey>,
    random: SystemRandom,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretKeys {
    /// Reads `<id>:<base64 of 32 bytes>` entries, one per line or separated by commas;
    /// blank lines and `#` comments are skipped. The first entry is the key that seals.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let mut current = None;
        let mut keys = HashMap::new();
        let entries = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (i, entry) in entries.enumerate() {
            let n = i + 1;
            let (id, key) = entry.split_once(':').ok_or_else(|| {
                SecretError::Keys(format!("key {n}: expected <id>:<base64 of 32 bytes>"))
            })?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(SecretError::Keys(format!(
                    "key {n}: the id must be letters, digits, '-' or '_'"
                )));
            }
            let bytes = STANDARD
                .decode(key.trim())
                .map_err(|e| SecretError::Keys(format!("key {id:?}: not base64: {e}")))?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| {
                SecretError::Keys(format!(
                    "key {id:?}: must be 32 bytes (AES-256), not {}",
                    bytes.len()
                ))
            })?;
            if keys
                .insert(id.to_owned(), LessSafeKey::new(unbound))
                .is_some()
            {
                return Err(SecretError::Keys(format!("key {id:?} is given twice")));
            }
            current.get_or_insert_with(|| id.to_owned());
        }
        let current = current.ok_or_else(|| SecretError::Keys("no key given".into()))?;
        Ok(Self {
            current,
            keys,
            random: SystemRandom::new(),
        })
    }

    /// A new key entry for `id`, from the system's random source.
    pub fn generate(id: &str) -> Result<String, SecretError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SecretError::Keys("no random source".into()))?;
        Ok(format!("{id}:{}", STANDARD.encode(key)))
    }

    /// The id of the key that seals.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Seals `plain` for the row `row_id` with the current key.
    pub fn seal(&self, row_id: &str, plain: &str) -> Result<String, SecretError> {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SecretError::Keys("no random source".into()))?;
        let mut data = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(row_id.as_bytes()),
            &mut data,
        )
        .map_err(|_| SecretError::Corrupt(self.current.clone()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}:{}", self.current, STANDARD.encode(out)))
    }

    /// Opens what [`SecretKeys::seal`] sealed for the row `row_id`.
    pub fn open(&self, row_id: &str, stored: &str) -> Result<String, SecretError> {
        let (id, sealed) = split(stored).ok_or_else(|| SecretError::Corrupt(String::new()))?;
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| SecretError::UnknownKey(id.to_owned()))?;
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| SecretError::Corrupt(id.to_owned()))?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Corrupt(id.to_owned()));
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| SecretError::Corrupt(id.to_owned()))?;
        let mut data = data.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(row_id.as_bytes()), &mut data)
            .map_err(|_| SecretError::Corrupt(id.to_owned()))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Corrupt(id.to_owned()))
    }

    /// Whether a stored value is sealed with the current key (nothing to re-seal).
    pub fn is_current(&self, stored: &str) -> bool {
        split(stored).is_some_and(|(id, _)| id == self.current)
    }
}

/// Whether a stored value is sealed (rather than a secret stored in clear before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn split(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(PREFIX)?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> SecretKeys {
        SecretKeys::parse(text).expect("keys")
    }

    #[test]
    fn sealed_values_open_only_for_their_row_and_name_their_key() {
        let k = keys(&SecretKeys::generate("k1").expect("key"));
        let sealed = k.seal("row-1", "s3cret").expect("sealed");
        assert!(sealed.starts_with("enc:v1:k1:"), "{sealed}");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(k.open("row-1", &sealed).expect("opens"), "s3cret");
        assert_eq!(
            k.open("row-2", &sealed),
            Err(SecretError::Corrupt("k1".into())),
            "moved to another row"
        );
        assert_ne!(
            k.seal("row-1", "s3cret").expect("sealed"),
            sealed,
            "fresh nonce"
        );
    }

    #[test]
    fn a_new_first_key_seals_and_older_ones_still_open() {
        let old = SecretKeys::generate("old").expect("key");
        let sealed = keys(&old).seal("r", "x").expect("sealed");
        let both = keys(&format!(
            "{}\n# rotated\n{old}",
            SecretKeys::generate("new").expect("key")
        ));
        assert_eq!(both.current(), "new");
        assert!(!both.is_current(&sealed));
        assert_eq!(both.open("r", &sealed).expect("opens"), "x");
        let resealed = both.seal("r", "x").expect("sealed");
        assert!(both.is_current(&resealed));
        let only_new = keys(&SecretKeys::generate("new").expect("key"));
        assert_eq!(
            only_new.open("r", &sealed),
            Err(SecretError::UnknownKey("old".into()))
        );
    }

    #[test]
    fn badly_written_keys_are_refused_saying_why() {
        for (text, why) in [
            ("", "no key given"),
            ("nocolon", "expected <id>:<base64"),
            ("k:!!!", "not base64"),
            ("k:AAAA", "must be 32 bytes"),
            (" :AAAA", "the id must be"),
        ] {
            let e = SecretKeys::parse(text).expect_err(text).to_string();
            assert!(e.contains(why), "{text:?}: {e}");
        }
        let k = SecretKeys::generate("k").expect("key");
        let e = SecretKeys::parse(&format!("{k},{k}"))
            .expect_err("twice")
            .to_string();
        assert!(e.contains("given twice"), "{e}");
    }
}
