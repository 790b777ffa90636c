//! The SASL server side of a client session: SaslHandshake v0 (raw SASL frames follow) and v1
//! (SaslAuthenticate framing), SaslAuthenticate v0-v2, OAUTHBEARER only, with the RFC 7628
//! failure flow as Kafka brokers implement it, KIP-368 session lifetimes and re-authentication.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};

use crate::identity::{AuthFailure, Identity, Providers};
use crate::kafka::error_code;
use crate::sasl::oauthbearer::{self, ClientResponse};

/// The one mechanism clients may use.
pub(crate) const MECHANISM: &str = "OAUTHBEARER";

/// Where a session stands with authentication.
pub(crate) enum AuthState {
    /// The listener does not authenticate (`authentication = "none"`).
    Open,
    /// Nothing yet: ApiVersions and SaslHandshake are allowed.
    Handshake,
    /// SaslHandshake accepted; the token comes next, in a SaslAuthenticate request (v1) or as
    /// a raw SASL frame (v0).
    Token { raw: bool },
    /// The token was refused with an RFC 7628 error challenge; the client's `%x01`
    /// acknowledgement gets SASL_AUTHENTICATION_FAILED, then the connection closes.
    Failed { message: String },
    /// Authenticated until `deadline`; `reauth` is set between a re-authentication's
    /// SaslHandshake and its SaslAuthenticate (KIP-368).
    Authenticated {
        identity: Arc<Identity>,
        deadline: Instant,
        reauth: bool,
        /// The provider that issued the token: when it is removed (after its grace period,
        /// its `revoked` token) the session ends.
        provider: Option<std::sync::Arc<crate::identity::Provider>>,
    },
}

impl AuthState {
    /// Whether requests other than ApiVersions and SASL may be served.
    pub(crate) fn serves_requests(&self) -> bool {
        matches!(self, Self::Open | Self::Authenticated { .. })
    }
}

/// What a SASL step decided, besides the response to send.
pub(crate) enum Step {
    /// Keep going.
    Continue,
    /// Send the response, then close the connection (with this log reason).
    Close(String),
}

/// Answers SaslHandshake.
pub(crate) fn handshake(
    state: &mut AuthState,
    mechanism: &str,
    version: i16,
) -> (SaslHandshakeResponse, Step) {
    let mechanisms = vec![MECHANISM.into()];
    let refuse = |code: i16, why: String| {
        let response = SaslHandshakeResponse::default()
            .with_error_code(code)
            .with_mechanisms(mechanisms.clone());
        (response, Step::Close(why))
    };
    if mechanism != MECHANISM {
        return refuse(
            error_code::UNSUPPORTED_SASL_MECHANISM,
            format!("unsupported SASL mechanism {mechanism:?}"),
        );
    }
    match state {
        AuthState::Handshake => *state = AuthState::Token { raw: version == 0 },
        // KIP-368 re-authentication uses SaslAuthenticate framing only.
        AuthState::Authenticated { reauth, .. } if version >= 1 && !*reauth => *reauth = true,
        _ => {
            return refuse(
                error_code::ILLEGAL_SASL_STATE,
                "SaslHandshake in the wrong SASL state".into(),
            );
        }
    }
    (
        SaslHandshakeResponse::default().with_mechanisms(mechanisms),
        Step::Continue,
    )
}

/// The outcome of checking a client's token, for logs and counters.
pub(crate) enum Outcome {
    /// Authenticated (or re-authenticated) this identity.
    Success(Arc<Identity>),
    /// Refused for this reason; `provider` (`organization/identifier`) when the token named a
    /// registered one.
    Failure {
        provider: Option<String>,
        reason: &'static str,
        detail: String,
    },
}

/// Session rules from the configuration and the endpoint.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) max_session: Duration,
    /// On a virtual cluster, its organization: only its providers' tokens authenticate.
    pub(crate) organization: Option<&'a str>,
}

/// Answers a SaslAuthenticate (or raw v0 SASL frame) carrying `auth_bytes`. Returns the
/// response, what to do next, and the outcome when a token was checked.
pub(crate) async fn authenticate(
    state: &mut AuthState,
    providers: &Providers,
    rules: Rules<'_>,
    auth_bytes: &[u8],
) -> (SaslAuthenticateResponse, Step, Option<Outcome>) {
    let failed = |message: String, why: String| {
        let response = SaslAuthenticateResponse::default()
            .with_error_code(error_code::SASL_AUTHENTICATION_FAILED)
            .with_error_message(Some(message.into()));
        (response, Step::Close(why))
    };
    match state {
        AuthState::Failed { message } => {
            let message = std::mem::take(message);
            let why = if oauthbearer::is_error_acknowledgement(auth_bytes) {
                "authentication failed"
            } else {
                "unexpected SASL message after an authentication failure"
            };
            let (response, step) = failed(message, why.into());
            return (response, step, None);
        }
        AuthState::Token { .. } | AuthState::Authenticated { reauth: true, .. } => {}
        _ => {
            let response = SaslAuthenticateResponse::default()
                .with_error_code(error_code::ILLEGAL_SASL_STATE)
                .with_error_message(Some("SaslAuthenticate before SaslHandshake".into()));
            return (
                response,
                Step::Close("SaslAuthenticate in the wrong SASL state".into()),
                None,
            );
        }
    }
    let (checked, provider) = match oauthbearer::parse_client_response(auth_bytes) {
        Err(e) => (
            Err((
                AuthFailure::Malformed,
                format!("invalid OAUTHBEARER message: {e}"),
            )),
            None,
        ),
        Ok(client) => {
            let checked = verify(providers, rules.organization, &client).await;
            // A refused token is counted under the provider it claims; an accepted one names
            // its provider itself.
            let provider = match &checked {
                Ok(_) => None,
                Err(_) => providers.claimed_provider(&client.token),
            };
            (checked, provider)
        }
    };
    match checked {
        Ok(identity) => {
            if let AuthState::Authenticated {
                identity: previous, ..
            } = state
                && (&previous.organization, &previous.provider, &previous.user)
                    != (&identity.organization, &identity.provider, &identity.user)
            {
                let detail = format!(
                    "re-authentication as {} refused: the session belongs to {}",
                    identity.user, previous.user
                );
                let message =
                    "Authentication failed: re-authentication must keep the same principal";
                let (response, step) = failed(message.into(), detail.clone());
                let outcome = Outcome::Failure {
                    provider: Some(identity.provider_label()),
                    reason: "principal_change",
                    detail,
                };
                return (response, step, Some(outcome));
            }
            let (lifetime, deadline) = session_lifetime(&identity, rules.max_session);
            let reported = if identity.refresh_token {
                lifetime.as_millis() as i64
            } else {
                0
            };
            let provider = providers
                .find(&identity.organization, &identity.provider)
                .cloned();
            *state = AuthState::Authenticated {
                identity: identity.clone(),
                deadline,
                reauth: false,
                provider,
            };
            let response = SaslAuthenticateResponse::default().with_session_lifetime_ms(reported);
            (response, Step::Continue, Some(Outcome::Success(identity)))
        }
        Err((failure, detail)) => {
            let message = format!("Authentication failed: {failure}");
            let outcome = Some(Outcome::Failure {
                provider,
                reason: failure.reason(),
                detail,
            });
            if let AuthState::Authenticated { .. } = state {
                // A failed re-authentication ends the session at once.
                let (response, step) = failed(message, "re-authentication failed".into());
                return (response, step, outcome);
            }
            // RFC 7628 section 3.2.2: an error challenge, to which the client answers %x01.
            let challenge = serde_json::json!({"status": "invalid_token"}).to_string();
            *state = AuthState::Failed { message };
            let response =
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(challenge));
            (response, Step::Continue, outcome)
        }
    }
}

async fn verify(
    providers: &Providers,
    organization: Option<&str>,
    client: &ClientResponse,
) -> Result<Arc<Identity>, (AuthFailure, String)> {
    let identity = providers
        .validate_for(&client.token, organization)
        .await
        .map_err(|f| (f.clone(), f.to_string()))?;
    if let Some(authzid) = &client.authzid
        && authzid != &identity.user
    {
        let detail = format!(
            "authorization id {authzid:?} is not the token's subject {:?}",
            identity.user
        );
        return Err((AuthFailure::AuthorizationId, detail));
    }
    Ok(identity)
}

/// Time left on the token, bounded by the configured maximum, and the instant it ends.
fn session_lifetime(identity: &Identity, max: Duration) -> (Duration, Instant) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let left = Duration::from_secs(identity.expires_at)
        .saturating_sub(now)
        .min(max);
    (left, Instant::now() + left)
}

/// A raw SASL frame (SaslHandshake v0 mode): the bytes with a 4-byte length prefix.
pub(crate) fn raw_frame(bytes: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + bytes.len());
    b.put_u32(bytes.len() as u32);
    b.put_slice(bytes);
    b.freeze()
}
