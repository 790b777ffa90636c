//! Who calls the API and which organizations they manage. Two kinds of credentials, both sent
//! as `Authorization: Bearer`:
//! - API tokens from the configuration, known only by their SHA-256, each scoped to one
//!   organization or to all;
//! - with `[management.sso]`, access tokens of the platform's identity provider, verified by
//!   the data plane's validator ([`crate::identity::Providers`]); the caller's groups, mapped
//!   by `admin_groups`, decide the organizations.
//!
//! An organization the caller does not manage is answered 404, as if it did not exist; a valid
//! single sign-on token of a user in no admin group gets 403.

use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::errors::ApiError;
use crate::config::{AdminGroup, ApiToken, Sso};
use crate::identity::{Provider, Providers};

/// Who made a request, for the audit log.
#[derive(Debug, Clone)]
pub(crate) enum ApiCaller {
    /// An API token, by its configured name.
    Token(String),
    /// A user of the platform's identity provider, by the subject claim.
    User(String),
}

impl fmt::Display for ApiCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiCaller::Token(name) => write!(f, "token:{name}"),
            ApiCaller::User(user) => write!(f, "sso:{user}"),
        }
    }
}

/// The credentials the API accepts.
pub(crate) struct Authenticator {
    tokens: Vec<ApiToken>,
    sso: Option<SingleSignOn>,
}

struct SingleSignOn {
    provider: Arc<Provider>,
    providers: Providers,
    admin_groups: Vec<AdminGroup>,
}

impl Authenticator {
    pub(crate) fn new(tokens: Vec<ApiToken>, sso: Option<&Sso>, http: reqwest::Client) -> Self {
        let sso = sso.map(|sso| {
            let provider = Arc::new(Provider::new(sso.provider_spec(), http));
            SingleSignOn {
                providers: Providers::new([provider.clone()]),
                provider,
                admin_groups: sso.admin_groups.clone(),
            }
        });
        Self { tokens, sso }
    }

    /// The single sign-on provider, whose keys must be kept fresh.
    pub(crate) fn sso_provider(&self) -> Option<Arc<Provider>> {
        self.sso.as_ref().map(|s| s.provider.clone())
    }

    /// Checks the caller's credentials against `org`: 401 without valid credentials, 403 for
    /// a user in no admin group, 404 for an organization they do not manage.
    pub(crate) async fn authorize(
        &self,
        headers: &HeaderMap,
        org: &str,
    ) -> Result<ApiCaller, ApiError> {
        self.grant(headers, org).await.map(|(caller, _)| caller)
    }

    /// As [`Authenticator::authorize`], for what only a platform administrator may do (a
    /// grant for every organization, `*`): 403 for a caller who manages `org` alone.
    pub(crate) async fn authorize_platform(
        &self,
        headers: &HeaderMap,
        org: &str,
    ) -> Result<ApiCaller, ApiError> {
        match self.grant(headers, org).await? {
            (caller, true) => Ok(caller),
            (caller, false) => {
                tracing::info!(organization = %org, by = %caller, "management access refused: not a platform administrator");
                Err(ApiError::Forbidden)
            }
        }
    }

    /// The caller, and whether a grant for every organization covers it.
    async fn grant(&self, headers: &HeaderMap, org: &str) -> Result<(ApiCaller, bool), ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthenticated)?;
        let digest = super::token_hash(token);
        if let Some(rule) = self.tokens.iter().find(|t| t.sha256 == digest) {
            return if manages(&rule.organization, org) {
                Ok((
                    ApiCaller::Token(rule.name.clone()),
                    rule.organization == "*",
                ))
            } else {
                Err(ApiError::NotFound)
            };
        }
        let user = self.user(token).await?;
        if user.manages.iter().any(|scope| manages(scope, org)) {
            let platform = user.manages.iter().any(|scope| scope == "*");
            Ok((ApiCaller::User(user.name), platform))
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// The user of a single sign-on access token and the organizations they manage: 401 for
    /// a refused token (or without single sign-on), 403 for a user in no admin group.
    pub(crate) async fn user(&self, token: &str) -> Result<SsoUser, ApiError> {
        let Some(sso) = &self.sso else {
            return Err(ApiError::Unauthenticated);
        };
        let identity = sso.providers.validate(token).await.map_err(|failure| {
            tracing::info!(reason = failure.reason(), "management token refused");
            ApiError::InvalidToken(failure.to_string())
        })?;
        let manages: Vec<String> = sso
            .admin_groups
            .iter()
            .filter(|g| identity.groups.contains(&g.group))
            .map(|g| g.organization.clone())
            .collect();
        if manages.is_empty() {
            tracing::info!(user = %identity.user, "management access refused: in no admin group");
            return Err(ApiError::Forbidden);
        }
        Ok(SsoUser {
            name: identity.user.clone(),
            manages,
            expires_at: identity.expires_at,
        })
    }
}

/// A user of the platform's identity provider in at least one admin group.
#[derive(Debug, Clone)]
pub(crate) struct SsoUser {
    /// The subject claim.
    pub(crate) name: String,
    /// Each organization their admin groups give them, or `*` for all.
    pub(crate) manages: Vec<String>,
    /// When their token expires (seconds since the epoch).
    pub(crate) expires_at: u64,
}

/// Whether a grant for `scope` (an organization or `*`) covers `org`.
fn manages(scope: &str, org: &str) -> bool {
    scope == "*" || scope == org
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
