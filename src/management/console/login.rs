//! Login at the platform's provider: the OpenID Connect authorization-code flow with PKCE
//! (RFC 7636, S256). The provider's endpoints come from the configuration or its discovery
//! document; the ID token is verified by the provider's keys (issuer, audience = the console's
//! client, expiry) and must carry the login's nonce. The access token is then checked exactly
//! as the API checks a bearer token.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{Console, Sso};
use crate::identity::{Provider, ProviderSpec, Providers};

/// Why a login, a refresh or a logout could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    #[error("the provider's discovery document could not be read: {0}")]
    Discovery(String),
    #[error("the provider's token endpoint refused: {0}")]
    Token(String),
    #[error("the ID token was refused: {0}")]
    IdToken(String),
}

/// The provider's endpoints the console uses.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Endpoints {
    #[serde(rename = "authorization_endpoint")]
    pub(super) authorize: String,
    #[serde(rename = "token_endpoint")]
    pub(super) token: String,
    #[serde(rename = "end_session_endpoint", default)]
    pub(super) end_session: Option<String>,
}

/// What the token endpoint answers.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Tokens {
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) refresh_token: Option<String>,
    #[serde(default)]
    pub(super) id_token: Option<String>,
}

/// The console's client at the platform's provider.
pub(crate) struct Oidc {
    config: Console,
    issuer: String,
    http: reqwest::Client,
    /// Known once discovered (or configured); a failed discovery is tried again next time.
    endpoints: Mutex<Option<Endpoints>>,
    /// Verifies ID tokens: the provider's keys, with the console's client as the audience.
    id_tokens: Providers,
}

impl Oidc {
    pub(crate) fn new(config: &Console, sso: &Sso, http: reqwest::Client) -> Self {
        let configured = match (&config.authorize_endpoint_uri, &config.token_endpoint_uri) {
            (Some(authorize), Some(token)) => Some(Endpoints {
                authorize: authorize.clone(),
                token: token.clone(),
                end_session: config.end_session_endpoint_uri.clone(),
            }),
            _ => None,
        };
        let spec = ProviderSpec {
            organization: "management".into(),
            identifier: "console".into(),
            audience: config.client_id.clone(),
            scope: String::new(),
            ..sso.provider_spec()
        };
        Self {
            config: config.clone(),
            issuer: sso.issuer.clone(),
            id_tokens: Providers::new([Arc::new(Provider::new(spec, http.clone()))]),
            http,
            endpoints: Mutex::new(configured),
        }
    }

    /// Where the provider sends the browser back.
    pub(super) fn redirect_uri(&self) -> String {
        format!("{}/callback", self.config.url.trim_end_matches('/'))
    }

    /// The console's own URL, where logging out returns.
    pub(super) fn home(&self) -> String {
        format!("{}/", self.config.url.trim_end_matches('/'))
    }

    pub(super) fn session_secs(&self) -> u64 {
        self.config.session_secs
    }

    /// The provider's endpoints, from the configuration or discovered once.
    pub(super) async fn endpoints(&self) -> Result<Endpoints, LoginError> {
        let mut known = self.endpoints.lock().await;
        if let Some(e) = known.as_ref() {
            return Ok(e.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovered: Endpoints = async {
            let response = self.http.get(&url).send().await?.error_for_status()?;
            response.json().await
        }
        .await
        .map_err(|e: reqwest::Error| LoginError::Discovery(e.without_url().to_string()))?;
        let endpoints = Endpoints {
            authorize: self
                .config
                .authorize_endpoint_uri
                .clone()
                .unwrap_or(discovered.authorize),
            token: self
                .config
                .token_endpoint_uri
                .clone()
                .unwrap_or(discovered.token),
            end_session: self
                .config
                .end_session_endpoint_uri
                .clone()
                .or(discovered.end_session),
        };
        *known = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// Where the browser goes to log in.
    pub(super) fn authorize_url(
        &self,
        endpoints: &Endpoints,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<url::Url, LoginError> {
        let mut url = url::Url::parse(&endpoints.authorize)
            .map_err(|e| LoginError::Discovery(format!("authorization endpoint: {e}")))?;
        let scope = std::iter::once("openid")
            .chain(self.config.scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("scope", &scope)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Redeems a login's code.
    pub(super) async fn redeem(&self, code: &str, verifier: &str) -> Result<Tokens, LoginError> {
        let redirect = self.redirect_uri();
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// New tokens for a session whose access token is about to expire.
    pub(super) async fn refresh(&self, refresh_token: &str) -> Result<Tokens, LoginError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<Tokens, LoginError> {
        let endpoints = self.endpoints().await?;
        let mut request = self
            .http
            .post(&endpoints.token)
            .timeout(Duration::from_secs(10));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &self.config.client_secret {
            Some(secret) => {
                request = request.basic_auth(&self.config.client_id, Some(secret.expose()));
            }
            None => form.push(("client_id", &self.config.client_id)),
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| LoginError::Token(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| LoginError::Token(e.without_url().to_string()))?;
        if !status.is_success() {
            // The OAuth error code and description, never the whole body (it could echo a
            // secret back).
            let error: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let code = error["error"].as_str().unwrap_or("error");
            let description = error["error_description"].as_str().unwrap_or_default();
            return Err(LoginError::Token(
                format!("{status}: {code} {description}").trim().to_owned(),
            ));
        }
        serde_json::from_str(&text).map_err(|e| LoginError::Token(format!("answer: {e}")))
    }

    /// Verifies a login's ID token and its nonce.
    pub(super) async fn check_id_token(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<(), LoginError> {
        self.id_tokens
            .validate(id_token)
            .await
            .map_err(|e| LoginError::IdToken(e.to_string()))?;
        let claims = id_token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        match claims["nonce"].as_str() {
            Some(n) if super::session::same_secret(n, nonce) => Ok(()),
            Some(_) => Err(LoginError::IdToken("its nonce is not the login's".into())),
            None => Err(LoginError::IdToken("it carries no nonce".into())),
        }
    }

    /// Where the browser goes to end the provider's session too, if the provider has such an
    /// endpoint.
    pub(super) async fn logout_url(&self, id_token: Option<&str>) -> Option<url::Url> {
        let endpoints = self.endpoints().await.ok()?;
        let mut url = url::Url::parse(endpoints.end_session.as_deref()?).ok()?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.config.client_id)
                .append_pair("post_logout_redirect_uri", &self.home());
            if let Some(hint) = id_token {
                query.append_pair("id_token_hint", hint);
            }
        }
        Some(url)
    }
}

/// The PKCE challenge of a verifier: base64url(SHA-256(verifier)).
fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
