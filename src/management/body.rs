//! Request bodies: declared as JSON, at most the configured size, a JSON object; then read
//! field by field so that every problem is reported at once, each under its field's name.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

use super::errors::ApiError;

/// Reads a JSON object body of at most `limit` bytes.
pub(crate) async fn json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::TooLarge(limit)
            } else {
                ApiError::Malformed("the body could not be read".into())
            }
        })?
        .to_bytes();
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::Malformed("expected a JSON object".into())),
        Err(e) => Err(ApiError::Malformed(e.to_string())),
    }
}

/// The fields of a body, taken one by one; problems collect until [`Fields::finish`].
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: BTreeMap<String, Vec<String>>,
}

/// A field as given: absent, `null`, or a value.
pub(crate) enum Given<T> {
    Absent,
    Null,
    Value(T),
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: BTreeMap::new(),
        }
    }

    /// Records a problem with `field`.
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// A string field.
    pub(crate) fn string(&mut self, field: &str) -> Given<String> {
        match self.map.remove(field) {
            None => Given::Absent,
            Some(Value::Null) => Given::Null,
            Some(Value::String(s)) => Given::Value(s),
            Some(_) => {
                self.error(field, "Must be a string.");
                Given::Absent
            }
        }
    }

    /// A boolean field.
    pub(crate) fn boolean(&mut self, field: &str) -> Given<bool> {
        match self.map.remove(field) {
            None => Given::Absent,
            Some(Value::Null) => Given::Null,
            Some(Value::Bool(b)) => Given::Value(b),
            Some(_) => {
                self.error(field, "Must be a boolean.");
                Given::Absent
            }
        }
    }

    /// Drops fields the API sets itself (a body read from a GET may carry them back).
    pub(crate) fn ignore(&mut self, fields: &[&str]) {
        for f in fields {
            self.map.remove(*f);
        }
    }

    /// Every problem found, unknown fields included; `Ok` when there are none.
    pub(crate) fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self.map.keys().cloned().collect();
        for field in unknown {
            self.error(&field, "Unknown field.");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }
}
