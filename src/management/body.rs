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
    match json_value(headers, body, limit).await? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::Malformed("expected a JSON object".into())),
    }
}

/// Reads a JSON body of at most `limit` bytes.
pub(crate) async fn json_value(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Value, ApiError> {
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
    serde_json::from_slice::<Value>(&bytes).map_err(|e| ApiError::Malformed(e.to_string()))
}

/// The fields of a body, taken one by one; problems collect until [`Fields::finish`].
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: BTreeMap<String, Vec<String>>,
    /// Put before each field's name in errors (`[2].` for the third item of a list).
    prefix: String,
}

/// How a body is read: a new item or a full replacement (required fields must be given, the
/// others take their defaults), or a partial change (only what is given changes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Replace,
    Patch,
}

/// A field as given: absent, `null`, or a value.
pub(crate) enum Given<T> {
    Absent,
    Null,
    Value(T),
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self::item(map, String::new())
    }

    /// The fields of one item of a list body, reported under `prefix`.
    pub(crate) fn item(map: Map<String, Value>, prefix: String) -> Self {
        Self {
            map,
            errors: BTreeMap::new(),
            prefix,
        }
    }

    /// Records a problem with `field`.
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(format!("{}{field}", self.prefix))
            .or_default()
            .push(message.into());
    }

    /// Whether a problem with `field` is recorded.
    pub(crate) fn has_error(&self, field: &str) -> bool {
        self.errors.contains_key(&format!("{}{field}", self.prefix))
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

    /// The optional `organization` field, which must be the organization of the path.
    pub(crate) fn organization(&mut self, org: &str) {
        match self.string("organization") {
            Given::Value(o) if o != org => self.error(
                "organization",
                format!("Must be the organization of the path, {org:?}."),
            ),
            Given::Null => self.error("organization", "Must not be null."),
            _ => {}
        }
    }

    /// A TCP port field: a whole number from 1 to 65535.
    pub(crate) fn port(&mut self, field: &str) -> Given<u16> {
        match self.map.remove(field) {
            None => Given::Absent,
            Some(Value::Null) => Given::Null,
            Some(v) => match v.as_u64().and_then(|n| u16::try_from(n).ok()) {
                Some(port) if port > 0 => Given::Value(port),
                _ => {
                    self.error(field, "Must be a whole number from 1 to 65535.");
                    Given::Absent
                }
            },
        }
    }

    /// Drops fields the API sets itself (a body read from a GET may carry them back).
    pub(crate) fn ignore(&mut self, fields: &[&str]) {
        for f in fields {
            self.map.remove(*f);
        }
    }

    /// Every problem found, unknown fields included; `Ok` when there are none.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        let errors = self.problems();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(errors))
        }
    }

    /// Every problem found, unknown fields included.
    pub(crate) fn problems(mut self) -> BTreeMap<String, Vec<String>> {
        let unknown: Vec<String> = self.map.keys().cloned().collect();
        for field in unknown {
            self.error(&field, "Unknown field.");
        }
        self.errors
    }
}

/// The parameters of a query string, each given at most once and each one of `allowed`.
pub(crate) fn query(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut params = BTreeMap::new();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let name = name.into_owned();
        if !allowed.contains(&name.as_str()) {
            errors
                .entry(name)
                .or_default()
                .push("Unknown query parameter.".into());
        } else if params.insert(name.clone(), value.into_owned()).is_some() {
            errors
                .entry(name)
                .or_default()
                .push("Given more than once.".into());
        }
    }
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(ApiError::Invalid(errors))
    }
}
