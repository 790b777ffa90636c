//! The proxy's own access token for brokers that require OAUTHBEARER: obtained by the
//! client-credentials grant (RFC 6749 section 4.4) from the configured token endpoint, cached,
//! and replaced before it expires.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::UpstreamSasl;

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The configuration lacks a field (validation normally catches this first).
    #[error("upstream.sasl.{0} is required for OAUTHBEARER")]
    Missing(&'static str),
    /// The token endpoint could not be reached, or its answer could not be read.
    #[error("token endpoint: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The token endpoint refused the client.
    #[error("token endpoint: HTTP {status} for client {client_id:?}")]
    Refused {
        status: reqwest::StatusCode,
        client_id: String,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// A cached client-credentials token.
pub struct TokenSource {
    http: reqwest::Client,
    endpoint: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    /// A source for the OAUTHBEARER settings of `upstream.sasl`.
    pub fn new(sasl: &UpstreamSasl, http: reqwest::Client) -> Result<Self, TokenError> {
        Ok(Self {
            http,
            endpoint: sasl
                .token_endpoint_uri
                .clone()
                .ok_or(TokenError::Missing("token_endpoint_uri"))?,
            client_id: sasl
                .client_id
                .clone()
                .ok_or(TokenError::Missing("client_id"))?,
            client_secret: sasl
                .client_secret
                .as_ref()
                .map(|s| s.expose().to_owned())
                .ok_or(TokenError::Missing("client_secret"))?,
            scope: sasl.scope.clone(),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// A token valid for a while yet: the cached one until 80 % of its lifetime has passed,
    /// then a new one.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let mut form = String::from("grant_type=client_credentials");
        if let Some(scope) = &self.scope {
            form.push_str("&scope=");
            form.push_str(
                &url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
            );
        }
        let response = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TokenError::Refused {
                status,
                client_id: self.client_id.clone(),
            });
        }
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|e| TokenError::Unreachable(e.without_url()))?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(300));
        *cached = Some((
            body.access_token.clone(),
            Instant::now() + lifetime.mul_f64(0.8),
        ));
        tracing::debug!(
            lifetime_secs = lifetime.as_secs(),
            "upstream access token obtained"
        );
        Ok(body.access_token)
    }
}
