//! Who a bearer token says the client is (DESIGN.md decision 7): the token's `iss` (read before
//! verification) selects the registered provider, its JWKS verifies the signature, then the
//! standard and configured claims are checked. Only asymmetric algorithms are accepted.

pub mod claims;
pub mod crypto;
pub mod jwks;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use jwks::{Jwks, JwksTiming};
pub use rules::{PlainHttp, check_url};

/// An identity provider as registered for an organization (the management API's fields, plus
/// timing settings).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// The organization whose users this provider authenticates.
    pub organization: String,
    /// The provider's name within the organization.
    pub identifier: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Its JWKS URL; absent means OIDC discovery from the issuer.
    pub jwks_endpoint_uri: Option<String>,
    /// A value the token's `aud` must contain.
    pub audience: String,
    /// A scope the token's `scope` must contain (empty: none required).
    #[serde(default)]
    pub scope: String,
    /// The token endpoint (used by clients and by the proxy's own client-credentials login).
    pub token_endpoint_uri: Option<String>,
    /// The claim holding the user's name (dotted paths reach nested claims).
    #[serde(default = "default_sub_claim")]
    pub sub_claim_name: String,
    /// The claim holding the user's groups (array or delimited string).
    #[serde(default = "default_groups_claim")]
    pub groups_claim_name: String,
    /// The authorization endpoint (for interactive clients; not used by the proxy).
    pub authorize_endpoint_uri: Option<String>,
    /// Whether clients may re-authenticate on a live connection with a fresh token.
    #[serde(default = "default_true")]
    pub refresh_token: bool,
    /// Client id registered for the platform at this provider.
    pub cfk_client_id: Option<String>,
    /// Its secret; never logged.
    pub cfk_client_secret: Option<crate::secret::Secret>,
    /// Tolerance for `exp`, `nbf` and `iat` against the proxy's clock.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_secs: u64,
    /// Scheduled JWKS refresh.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_secs: u64,
    /// Minimum time between two JWKS fetches, including those for unknown key ids.
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_secs: u64,
}

pub(crate) fn default_sub_claim() -> String {
    "sub".into()
}
pub(crate) fn default_groups_claim() -> String {
    "groups".into()
}
fn default_true() -> bool {
    true
}
pub(crate) fn default_clock_skew() -> u64 {
    30
}
pub(crate) fn default_jwks_refresh() -> u64 {
    300
}
pub(crate) fn default_jwks_min_refresh() -> u64 {
    1
}

/// The algorithms tokens may be signed with. `none` and HMAC never: a public key must not be
/// usable as a shared secret.
pub const ALLOWED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl ProviderSpec {
    /// `organization/identifier`: how logs and counters name the provider.
    pub fn label(&self) -> String {
        format!("{}/{}", self.organization, self.identifier)
    }
}

/// Who a verified token identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The organization of the provider that issued the token.
    pub organization: String,
    /// That provider's identifier.
    pub provider: String,
    /// The user name (the configured subject claim).
    pub user: String,
    /// Group names (the configured groups claim).
    pub groups: Vec<String>,
    /// When the token expires (seconds since the epoch).
    pub expires_at: u64,
    /// Whether the provider lets this session re-authenticate with a fresh token.
    pub refresh_token: bool,
}

impl Identity {
    /// `organization/identifier` of the provider that issued the token.
    pub fn provider_label(&self) -> String {
        format!("{}/{}", self.organization, self.provider)
    }
}

/// Why a token was refused. The `reason()` names are the metric labels; the `Display` text is
/// what the client is told, with nothing internal in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// Not three base64url parts with JSON inside.
    #[error("malformed token")]
    Malformed,
    /// `none`, HMAC or an algorithm the proxy does not verify.
    #[error("token algorithm not accepted")]
    Algorithm,
    /// No registered provider has this `iss` (or this audience for it).
    #[error("token issuer not accepted")]
    UnknownIssuer,
    /// Providers of several organizations have this `iss` and audience, and the endpoint
    /// (not a virtual cluster) does not say which organization the token is for. Told to the
    /// client as an unknown issuer: it learns nothing of other organizations.
    #[error("token issuer not accepted")]
    AmbiguousIssuer,
    /// The provider does not publish the signing key (after a refresh).
    #[error("token signing key not found")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid token signature")]
    Signature,
    /// `exp` is in the past (beyond the clock skew) or missing.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the clock skew).
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` does not contain the provider's audience.
    #[error("token audience not accepted")]
    Audience,
    /// The required scope is missing.
    #[error("token lacks the required scope")]
    Scope,
    /// The subject claim is missing or empty.
    #[error("token has no subject")]
    Subject,
    /// A claim has the wrong type.
    #[error("invalid token claims")]
    Claims,
    /// The client's SASL authorization id (RFC 7628 `a=`) is not the token's subject.
    #[error("authorization id does not match the token's subject")]
    AuthorizationId,
}

impl AuthFailure {
    /// A short stable name, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::UnknownIssuer => "unknown_issuer",
            Self::AmbiguousIssuer => "ambiguous_issuer",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Audience => "audience",
            Self::Scope => "scope",
            Self::Subject => "subject",
            Self::Claims => "claims",
            Self::AuthorizationId => "authzid",
        }
    }
}

/// A provider and its key cache.
pub struct Provider {
    /// Its registration.
    pub spec: ProviderSpec,
    /// Its keys (shared with a successor that verifies tokens the same way).
    pub jwks: Arc<Jwks>,
    /// Cancelled when the provider leaves the registered set: its background work stops.
    pub retired: tokio_util::sync::CancellationToken,
    /// Cancelled when the sessions it authenticated must end (its removal, after a grace
    /// period).
    pub revoked: tokio_util::sync::CancellationToken,
}

impl Provider {
    /// Builds the runtime side of a registration.
    pub fn new(spec: ProviderSpec, http: reqwest::Client) -> Self {
        let timing = timing(&spec);
        let jwks = Jwks::new(
            &spec.issuer,
            spec.jwks_endpoint_uri.as_deref(),
            http,
            timing,
        );
        Self::from_parts(spec, jwks)
    }

    fn from_parts(spec: ProviderSpec, jwks: Jwks) -> Self {
        Self {
            spec,
            jwks: Arc::new(jwks),
            retired: Default::default(),
            revoked: Default::default(),
        }
    }

    /// Whether `other` registers the same provider in every respect, secret included (so
    /// that a replacement can keep this one and its keys).
    pub fn is_registered_as(&self, other: &ProviderSpec) -> bool {
        self.spec == *other
    }

    /// The provider that takes this one's place when its registration becomes `next` and
    /// tokens are verified exactly as before: only what clients use to obtain tokens changed
    /// (token and authorize endpoints, client id and secret). It keeps this provider's keys
    /// and its sessions, which a change must not end: rotating a client secret would
    /// otherwise disconnect every client of the organization. `None` for any other change.
    pub fn succeeded_by(&self, next: &ProviderSpec) -> Option<Provider> {
        let verification = |s: &ProviderSpec| ProviderSpec {
            token_endpoint_uri: None,
            authorize_endpoint_uri: None,
            cfk_client_id: None,
            cfk_client_secret: None,
            ..s.clone()
        };
        (verification(&self.spec) == verification(next)).then(|| Provider {
            spec: next.clone(),
            jwks: self.jwks.clone(),
            retired: Default::default(),
            revoked: self.revoked.clone(),
        })
    }

    /// A provider whose keys are given, for tests without a provider.
    pub fn with_keys(spec: ProviderSpec, jwks: &Value, http: reqwest::Client) -> Self {
        let jwks = Jwks::with_keys(&spec.issuer, jwks, http, timing(&spec));
        Self::from_parts(spec, jwks)
    }
}

/// The HTTP client for identity providers: rustls with the proxy's crypto provider
/// (`tls::provider`) and Mozilla's roots, bounded timeouts, and no redirects (a JWKS or
/// discovery URL that redirects elsewhere is not followed, so a provider cannot point the proxy
/// at internal services).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    http_client_trusting(Vec::new())
}

/// As [`http_client`], trusting `extra` CA certificates besides Mozilla's roots.
pub fn http_client_trusting(
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let (_added, _ignored) = roots.add_parsable_certificates(extra);
    let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kafka-oidc-proxy/", env!("CARGO_PKG_VERSION")));
    match tls {
        Ok(tls) => builder.tls_backend_preconfigured(tls).build(),
        Err(_) => builder.build(),
    }
}

/// How long a login with a token whose key is unknown may wait for the provider's keys.
const UNKNOWN_KID_WAIT: Duration = Duration::from_secs(1);

fn timing(spec: &ProviderSpec) -> JwksTiming {
    JwksTiming {
        refresh_interval: Duration::from_secs(spec.jwks_refresh_secs.max(1)),
        min_refresh_interval: Duration::from_secs(spec.jwks_min_refresh_secs),
        unknown_kid_wait: UNKNOWN_KID_WAIT,
    }
}

/// Keeps one provider's keys fresh: at once, then every `jwks_refresh_secs` (sooner after a
/// failure, so that a provider that was down at startup is picked up quickly).
pub async fn keep_keys_fresh(
    shutdown: tokio_util::sync::CancellationToken,
    provider: Arc<Provider>,
) {
    let every = provider.jwks.refresh_interval();
    loop {
        let wait = match provider.jwks.refresh().await {
            Ok(()) => every,
            Err(e) => {
                provider.jwks.log_failure(
                    &format!("JWKS refresh of {} failed", provider.spec.label()),
                    &e,
                );
                every.min(Duration::from_secs(10))
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = provider.retired.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The registered providers, by issuer: an immutable snapshot, swapped as a whole on change
/// (which also drops its cache of verified tokens).
#[derive(Default)]
pub struct Providers {
    by_issuer: HashMap<String, Vec<Arc<Provider>>>,
    /// Verified tokens by SHA-256, until they expire, so that reconnect storms stay cheap.
    verified: std::sync::Mutex<HashMap<[u8; 32], Arc<Identity>>>,
}

/// Verified tokens kept at most; when full, expired entries go, then the whole cache.
const VERIFIED_CACHE_SIZE: usize = 10_000;

impl Providers {
    /// A snapshot of these providers.
    pub fn new(providers: impl IntoIterator<Item = Arc<Provider>>) -> Self {
        let mut by_issuer: HashMap<String, Vec<Arc<Provider>>> = HashMap::new();
        for p in providers {
            by_issuer.entry(p.spec.issuer.clone()).or_default().push(p);
        }
        Self {
            by_issuer,
            verified: Default::default(),
        }
    }

    /// A snapshot of the runtime side of these registrations (keys are fetched on first use
    /// and on the schedule the caller runs).
    pub fn from_specs<'a>(
        specs: impl IntoIterator<Item = &'a ProviderSpec>,
        http: &reqwest::Client,
    ) -> Self {
        Self::new(
            specs
                .into_iter()
                .map(|spec| Arc::new(Provider::new(spec.clone(), http.clone()))),
        )
    }

    /// Every provider.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.by_issuer.values().flatten()
    }

    /// The provider `identifier` of `organization`.
    pub fn find(&self, organization: &str, identifier: &str) -> Option<&Arc<Provider>> {
        self.iter()
            .find(|p| p.spec.organization == organization && p.spec.identifier == identifier)
    }

    /// Verifies a bearer token and returns who it identifies.
    pub async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthFailure> {
        self.validate_at(token, None, now()).await
    }

    /// Verifies a bearer token for `organization` alone: a token of another organization's
    /// provider is refused as an unknown issuer, whether or not it is valid there.
    pub async fn validate_for(
        &self,
        token: &str,
        organization: Option<&str>,
    ) -> Result<Arc<Identity>, AuthFailure> {
        self.validate_at(token, organization, now()).await
    }

    async fn validate_at(
        &self,
        token: &str,
        organization: Option<&str>,
        now: u64,
    ) -> Result<Arc<Identity>, AuthFailure> {
        // Checked for one organization or for none, a token is cached apart: a check for none
        // also finds it ambiguous when several organizations would take it.
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        if let Some(o) = organization {
            digest.update(o.as_bytes());
            digest.update(&[0]);
        }
        digest.update(token.as_bytes());
        let key: [u8; 32] = digest
            .finish()
            .as_ref()
            .try_into()
            .map_err(|_| AuthFailure::Malformed)?;
        let cached = self.verified.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some(identity) = cached {
            // Still expired/unexpired by the same rule as a fresh check.
            let skew = self.skew_of(&identity);
            if identity.expires_at.saturating_add(skew) >= now {
                return Ok(identity);
            }
        }
        let identity = Arc::new(self.verify(token, organization, now).await?);
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_CACHE_SIZE {
                cache.retain(|_, id| id.expires_at >= now);
                if cache.len() >= VERIFIED_CACHE_SIZE {
                    cache.clear();
                }
            }
            cache.insert(key, identity.clone());
        }
        Ok(identity)
    }

    /// The provider a token's unverified claims name: its `iss`, and among several providers
    /// of that issuer (of `organization`, when given) the one whose audience the token carries.
    /// Without an organization, providers of several organizations that would all take the
    /// token leave it ambiguous.
    fn select(
        &self,
        unverified: &Value,
        organization: Option<&str>,
    ) -> Result<&Arc<Provider>, AuthFailure> {
        let issuer = unverified.get("iss").and_then(Value::as_str);
        let candidates = issuer
            .and_then(|i| self.by_issuer.get(i))
            .into_iter()
            .flatten()
            .filter(|p| organization.is_none_or(|o| p.spec.organization == o));
        let first = candidates
            .clone()
            .next()
            .ok_or(AuthFailure::UnknownIssuer)?;
        let mut taking = candidates.filter(|p| audience_contains(unverified, &p.spec.audience));
        let Some(chosen) = taking.next() else {
            // Refused for its audience by the check that follows.
            return Ok(first);
        };
        if taking.any(|p| p.spec.organization != chosen.spec.organization) {
            return Err(AuthFailure::AmbiguousIssuer);
        }
        Ok(chosen)
    }

    /// `organization/identifier` of the provider a token claims to come from, without
    /// verifying it: the label under which a refused token is counted.
    pub fn claimed_provider(&self, token: &str) -> Option<String> {
        let (signed, _) = token.rsplit_once('.')?;
        let unverified = unverified_claims(signed).ok()?;
        self.select(&unverified, None).ok().map(|p| p.spec.label())
    }

    fn skew_of(&self, identity: &Identity) -> u64 {
        self.iter()
            .find(|p| {
                p.spec.organization == identity.organization
                    && p.spec.identifier == identity.provider
            })
            .map_or(0, |p| p.spec.clock_skew_secs)
    }

    async fn verify(
        &self,
        token: &str,
        organization: Option<&str>,
        now: u64,
    ) -> Result<Identity, AuthFailure> {
        let jws = Jws::parse(token)?;
        let claims = &jws.claims;
        // Unverified: only used to pick the provider whose key must then verify the token.
        let provider = self.select(claims, organization)?;
        let spec = &provider.spec;
        let exp = claims.get("exp").map(Value::as_u64);
        // A token expired by its own claim can never be accepted, whoever signed it: refused
        // before its key is looked for, so that a client presenting a stale token (one that
        // could not reach its provider to renew it) drives no JWKS fetch and waits for none.
        let expired = |exp: u64| exp.saturating_add(spec.clock_skew_secs) < now;
        if exp.flatten().is_some_and(expired) {
            return Err(AuthFailure::Expired);
        }
        let key = provider
            .jwks
            .key(jws.kid.as_deref())
            .await
            .ok_or(AuthFailure::UnknownKey)?;
        if key.alg.is_some_and(|a| a != jws.algorithm) || !key.public.accepts(jws.algorithm) {
            return Err(AuthFailure::Signature);
        }
        let signature = base64_url(jws.signature)?;
        if !key
            .public
            .verify(jws.algorithm, jws.signed.as_bytes(), &signature)
        {
            return Err(AuthFailure::Signature);
        }
        // Verified from here on. The issuer is the provider's: it was selected by it.
        if !audience_contains(claims, &spec.audience) {
            return Err(AuthFailure::Audience);
        }
        // No `exp` means the token never expires, which is refused as expired; one that is
        // not a number is a claims error.
        let exp = exp
            .ok_or(AuthFailure::Expired)?
            .ok_or(AuthFailure::Claims)?;
        if expired(exp) {
            return Err(AuthFailure::Expired);
        }
        for name in ["nbf", "iat"] {
            let time = claims
                .get(name)
                .map(|v| v.as_u64().ok_or(AuthFailure::Claims))
                .transpose()?;
            if time.is_some_and(|t| t > now.saturating_add(spec.clock_skew_secs)) {
                return Err(AuthFailure::NotYetValid);
            }
        }
        if !spec.scope.is_empty() && !claims::has_scope(claims, &spec.scope) {
            return Err(AuthFailure::Scope);
        }
        let user = claims::subject(claims, &spec.sub_claim_name).ok_or(AuthFailure::Subject)?;
        Ok(Identity {
            organization: spec.organization.clone(),
            provider: spec.identifier.clone(),
            user,
            groups: claims::groups(claims, &spec.groups_claim_name),
            expires_at: exp,
            refresh_token: spec.refresh_token,
        })
    }
}

/// A compact JWS (`header.payload.signature`), each part decoded once: the header's algorithm
/// (one of [`ALLOWED_ALGORITHMS`]) and key id, the claims (not trusted until the signature is
/// checked), and the signed part with its signature still encoded.
struct Jws<'a> {
    algorithm: Algorithm,
    kid: Option<String>,
    claims: Value,
    signed: &'a str,
    signature: &'a str,
}

/// The JOSE header fields the proxy reads.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl<'a> Jws<'a> {
    /// The header is read first, so that `none` and unknown algorithms are reported as such
    /// rather than as malformed tokens.
    fn parse(token: &'a str) -> Result<Self, AuthFailure> {
        let (header, _) = token.split_once('.').unwrap_or((token, ""));
        let header: JoseHeader =
            serde_json::from_slice(&base64_url(header)?).map_err(|_| AuthFailure::Malformed)?;
        let algorithm: Algorithm = header.alg.parse().map_err(|_| AuthFailure::Algorithm)?;
        if !ALLOWED_ALGORITHMS.contains(&algorithm) {
            return Err(AuthFailure::Algorithm);
        }
        let (signed, signature) = token.rsplit_once('.').ok_or(AuthFailure::Malformed)?;
        let claims = unverified_claims(signed)?;
        Ok(Jws {
            algorithm,
            kid: header.kid,
            claims,
            signed,
            signature,
        })
    }
}

/// The claims of `signed` (`header.payload`): a JSON object.
fn unverified_claims(signed: &str) -> Result<Value, AuthFailure> {
    let payload = match signed.split_once('.') {
        Some((_, payload)) if !payload.contains('.') => payload,
        _ => return Err(AuthFailure::Malformed),
    };
    let claims: Value =
        serde_json::from_slice(&base64_url(payload)?).map_err(|_| AuthFailure::Malformed)?;
    if !claims.is_object() {
        return Err(AuthFailure::Malformed);
    }
    Ok(claims)
}

fn base64_url(part: &str) -> Result<Vec<u8>, AuthFailure> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthFailure::Malformed)
}

fn audience_contains(claims: &Value, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
