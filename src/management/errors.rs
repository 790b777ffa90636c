//! The API's error answers: JSON that names each field at fault (`{"issuer": ["must be
//! https"]}`), or a `detail` for errors about the request as a whole. Bad input never gets a
//! 5xx; a store that cannot be reached gets 503 and the cause goes to the log only.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;
use crate::store::secrets::{KEYS_ENV, SecretError};

/// Why a request was not served.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No valid API token.
    Unauthenticated,
    /// A single sign-on token that was refused, and why (nothing internal in it).
    InvalidToken(String),
    /// Valid credentials that grant no access to the API.
    Forbidden,
    /// Nothing here for this caller (also what a token of another organization gets).
    NotFound,
    /// The method is not one the path serves.
    MethodNotAllowed,
    /// The body is not JSON (or not an object).
    Malformed(String),
    /// The body is not declared as JSON.
    UnsupportedMediaType,
    /// The body is larger than the limit.
    TooLarge(usize),
    /// Fields at fault, each with its messages.
    Invalid(BTreeMap<String, Vec<String>>),
    /// A uniqueness rule or a read-only resource.
    Conflict(BTreeMap<String, Vec<String>>),
    /// The store did not answer.
    Unavailable,
    /// The resource comes from the configuration file.
    ReadOnly,
}

impl ApiError {
    /// One field's problem.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }

    pub(crate) fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field, message } => Self::conflict(field, message),
            StoreError::Secret {
                source: SecretError::NoKeys,
                ..
            } => Self::field(
                "cfk_client_secret",
                format!(
                    "Client secrets are stored sealed, and this proxy has no key to seal them \
                     with: configure store.secret_keys_file or {KEYS_ENV}."
                ),
            ),
            other => {
                tracing::error!(error = %other, "management store error");
                Self::Unavailable
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail =
            |status: StatusCode, text: &str| (status, axum::Json(json!({ "detail": text })));
        match self {
            ApiError::Unauthenticated => {
                let mut r = detail(
                    StatusCode::UNAUTHORIZED,
                    "Authentication credentials were not provided or are not valid.",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::InvalidToken(why) => {
                let mut r = detail(
                    StatusCode::UNAUTHORIZED,
                    &format!("The access token was refused: {why}."),
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                r
            }
            ApiError::Forbidden => detail(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
            )
            .into_response(),
            ApiError::NotFound => detail(StatusCode::NOT_FOUND, "Not found.").into_response(),
            ApiError::MethodNotAllowed => {
                detail(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.").into_response()
            }
            ApiError::Malformed(why) => {
                detail(StatusCode::BAD_REQUEST, &format!("JSON parse error: {why}")).into_response()
            }
            ApiError::UnsupportedMediaType => detail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json.",
            )
            .into_response(),
            ApiError::TooLarge(limit) => detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("The request body is larger than {limit} bytes."),
            )
            .into_response(),
            ApiError::Invalid(fields) => {
                (StatusCode::BAD_REQUEST, axum::Json(json!(fields))).into_response()
            }
            ApiError::Conflict(fields) => {
                (StatusCode::CONFLICT, axum::Json(json!(fields))).into_response()
            }
            ApiError::ReadOnly => detail(
                StatusCode::CONFLICT,
                "Defined in the configuration file: read-only here.",
            )
            .into_response(),
            ApiError::Unavailable => detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "The store is unavailable; try again.",
            )
            .into_response(),
        }
    }
}
