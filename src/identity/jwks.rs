//! One provider's signing keys (DESIGN.md decision 8): fetched from its JWKS endpoint (found by
//! OIDC discovery when not configured), refreshed on a schedule, refreshed at once when a token
//! names an unknown `kid` but no more often than a minimum interval, and kept when the provider
//! is down: the last good keys stay in use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use serde::Deserialize;

/// Why no key could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    /// The JWKS or discovery document could not be fetched.
    #[error("fetching {url}: {message}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The document is not a JWKS (or discovery document) this proxy can read.
    #[error("{url}: {message}")]
    Document {
        /// What was fetched.
        url: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A verification key from the set.
pub struct Key {
    /// The key, prepared for checking signatures.
    pub public: super::crypto::PublicKey,
    /// The algorithm the JWK pins (`alg`), if any.
    pub alg: Option<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    /// Keys without a `kid`, usable only when a token names none and the choice is unique.
    anonymous: Vec<Arc<Key>>,
    /// SHA-256 of the JWKS's `keys` as fetched: tells a changed set from a refetched one.
    digest: [u8; 32],
}

/// Timing of refreshes.
#[derive(Debug, Clone, Copy)]
pub struct JwksTiming {
    /// Scheduled refresh interval.
    pub refresh_interval: Duration,
    /// No two refreshes closer than this, however many unknown `kid`s arrive.
    pub min_refresh_interval: Duration,
    /// How long a request may wait for a refresh triggered by an unknown `kid`.
    pub unknown_kid_wait: Duration,
}

/// The key cache of one provider.
pub struct Jwks {
    issuer: String,
    configured_url: Option<String>,
    resolved_url: Mutex<Option<String>>,
    http: reqwest::Client,
    timing: JwksTiming,
    keys: RwLock<Arc<KeySet>>,
    last_attempt: Mutex<Option<Instant>>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl Jwks {
    /// A cache for `issuer`, reading `jwks_url` or, if absent, the discovery document.
    pub fn new(
        issuer: &str,
        jwks_url: Option<&str>,
        http: reqwest::Client,
        timing: JwksTiming,
    ) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            configured_url: jwks_url.map(str::to_owned),
            resolved_url: Mutex::new(jwks_url.map(str::to_owned)),
            http,
            timing,
            keys: RwLock::default(),
            last_attempt: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The scheduled refresh interval.
    pub fn refresh_interval(&self) -> Duration {
        self.timing.refresh_interval
    }

    /// The key for a token header's `kid`. An unknown one waits, for at most
    /// `unknown_kid_wait`, for a refresh that is in flight or may start within that wait (at
    /// most one per `min_refresh_interval`, however many unknown keys arrive); otherwise the
    /// answer is at once. The refresh runs on its own, so that its outcome is logged even when
    /// no one waits for it any more. `None` when the provider does not publish the key.
    pub async fn key(self: &Arc<Self>, kid: Option<&str>) -> Option<Arc<Key>> {
        if let Some(k) = self.lookup(kid) {
            return Some(k);
        }
        let asked_at = Instant::now();
        let in_flight = self.refreshing.try_lock().is_err();
        let next_allowed = self
            .last_attempt
            .lock()
            .ok()
            .and_then(|t| *t)
            .map_or(asked_at, |last| last + self.timing.min_refresh_interval);
        if !in_flight && next_allowed > asked_at + self.timing.unknown_kid_wait {
            return None;
        }
        let jwks = self.clone();
        let refresh = tokio::spawn(async move {
            if let Err(e) = jwks.refresh_for_unknown_kid(asked_at).await {
                jwks.log_failure("JWKS refresh for an unknown key failed", &e);
            }
        });
        let _ = tokio::time::timeout(self.timing.unknown_kid_wait, refresh).await;
        self.lookup(kid)
    }

    /// Whether any key has been loaded.
    pub fn has_keys(&self) -> bool {
        self.keys
            .read()
            .is_ok_and(|k| !k.by_kid.is_empty() || !k.anonymous.is_empty())
    }

    /// Logs a failed fetch with its cause, and what it means for the provider's tokens.
    pub fn log_failure(&self, what: &str, error: &JwksError) {
        if self.has_keys() {
            tracing::warn!(issuer = %self.issuer, error = %error, "{what}; keeping the last good keys");
        } else {
            tracing::warn!(issuer = %self.issuer, error = %error, "{what}; no keys yet: this provider's tokens are refused until a fetch succeeds");
        }
    }

    fn lookup(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        let set = self.keys.read().ok()?;
        match kid {
            Some(kid) => set.by_kid.get(kid).cloned(),
            None if set.by_kid.len() + set.anonymous.len() == 1 => set
                .by_kid
                .values()
                .chain(set.anonymous.iter())
                .next()
                .cloned(),
            None => None,
        }
    }

    /// Refreshes for a key that was missing at `asked_at`: not at all if a refresh finished
    /// since (concurrent callers wait for the one in progress), otherwise once the minimum
    /// interval since the previous fetch has passed.
    async fn refresh_for_unknown_kid(&self, asked_at: Instant) -> Result<(), JwksError> {
        let _guard = self.refreshing.lock().await;
        let last = self.last_attempt.lock().ok().and_then(|t| *t);
        if let Some(last) = last {
            if last >= asked_at {
                return Ok(());
            }
            let earliest = last + self.timing.min_refresh_interval;
            if earliest > Instant::now() {
                tokio::time::sleep_until(earliest.into()).await;
            }
        }
        self.refresh_locked().await
    }

    /// Fetches the keys now (the scheduled refresh). On failure the current keys are kept.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let _guard = self.refreshing.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<(), JwksError> {
        if let Ok(mut t) = self.last_attempt.lock() {
            *t = Some(Instant::now());
        }
        let fetched = self.fetch_keys().await;
        crate::metrics::METRICS.jwks_fetch(&self.issuer, fetched.is_ok());
        fetched
    }

    async fn fetch_keys(&self) -> Result<(), JwksError> {
        let url = self.jwks_url().await?;
        let raw: RawSet = self.get_json(&url).await?;
        let set = parse_key_set(&raw.keys);
        if set.by_kid.is_empty() && set.anonymous.is_empty() {
            return Err(JwksError::Document {
                url,
                message: "no usable signing key".into(),
            });
        }
        let count = set.by_kid.len() + set.anonymous.len();
        let Ok(mut keys) = self.keys.write() else {
            return Ok(());
        };
        // Scheduled and unknown-kid refetches of the same set are not news.
        if keys.digest == set.digest {
            tracing::debug!(issuer = %self.issuer, keys = count, "JWKS unchanged");
        } else {
            tracing::info!(issuer = %self.issuer, keys = count, "JWKS loaded");
        }
        *keys = Arc::new(set);
        Ok(())
    }

    async fn jwks_url(&self) -> Result<String, JwksError> {
        if let Some(url) = self.resolved_url.lock().ok().and_then(|u| u.clone()) {
            return Ok(url);
        }
        let discovery_url = format!("{}/.well-known/openid-configuration", self.issuer);
        let d: Discovery = self.get_json(&discovery_url).await?;
        if let Ok(mut u) = self.resolved_url.lock() {
            *u = Some(d.jwks_uri.clone());
        }
        Ok(d.jwks_uri)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, JwksError> {
        let fetch = |message: String| JwksError::Fetch {
            url: url.to_owned(),
            message,
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fetch(describe(e)))?;
        if !response.status().is_success() {
            if self.configured_url.is_none() {
                // A moved JWKS is found again through discovery next time.
                if let Ok(mut u) = self.resolved_url.lock() {
                    *u = None;
                }
            }
            return Err(fetch(format!("HTTP {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| fetch(describe(e)))?;
        serde_json::from_slice(&body).map_err(|e| JwksError::Document {
            url: url.to_owned(),
            message: e.to_string(),
        })
    }

    /// A cache holding the given keys, for tests that need no provider.
    pub fn with_keys(
        issuer: &str,
        jwks: &serde_json::Value,
        http: reqwest::Client,
        timing: JwksTiming,
    ) -> Self {
        let cache = Self::new(issuer, Some("http://127.0.0.1:9/unreachable"), http, timing);
        let keys = jwks
            .get("keys")
            .and_then(|k| k.as_array())
            .cloned()
            .unwrap_or_default();
        if let Ok(mut k) = cache.keys.write() {
            *k = Arc::new(parse_key_set(&keys));
        }
        cache
    }
}

/// A failed request with its causes: `timed out`, `connection refused`, ... rather than
/// reqwest's bare `error sending request`.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "no answer in time (timed out)".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Keeps the verification keys of the set: asymmetric keys meant for signatures. Symmetric
/// (`oct`) keys are dropped, so that a token can never be checked with a shared secret.
fn parse_key_set(keys: &[serde_json::Value]) -> KeySet {
    let mut set = KeySet::default();
    let fetched = serde_json::to_vec(keys).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &fetched);
    set.digest.copy_from_slice(digest.as_ref());
    for value in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(public) = super::crypto::PublicKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| serde_json::to_value(a).ok())
            .and_then(|v| serde_json::from_value::<Algorithm>(v).ok());
        let key = Arc::new(Key { public, alg });
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.insert(kid, key);
            }
            None => set.anonymous.push(key),
        }
    }
    set
}
