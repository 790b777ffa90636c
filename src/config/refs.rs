//! Secrets kept out of the configuration file: a secret field may name where its value is,
//! `{ env = "NAME" }` (an environment variable) or `{ file = "/run/secrets/name" }` (a file, one
//! trailing line break removed), instead of holding it. Only the fields below accept this, and
//! only in the file: a provider registered through the management API cannot make the proxy read
//! its environment or its files.

use super::FieldErrors;

/// The fields that may refer to their value, as paths into the file (`*`: every element of an
/// array, or every value of a table).
pub(super) const SECRET_FIELDS: &[&[&str]] = &[
    &["store", "url"],
    &["upstream", "sasl", "password"],
    &["upstream", "sasl", "client_secret"],
    &["upstreams", "*", "sasl", "password"],
    &["upstreams", "*", "sasl", "client_secret"],
    &["management", "tokens", "*", "sha256"],
    &["management", "console", "client_secret"],
    &["identity", "providers", "*", "cfk_client_secret"],
];

/// Replaces every reference at a secret field by the value it names. Returns whether any was
/// found; errors name the field.
pub(super) fn resolve(table: &mut toml::Table, errors: &mut FieldErrors) -> bool {
    let mut found = false;
    for path in SECRET_FIELDS {
        if let Some(value) = table.get_mut(path[0]) {
            walk(value, &path[1..], path[0].to_owned(), &mut found, errors);
        }
    }
    found
}

fn walk(
    value: &mut toml::Value,
    rest: &[&str],
    at: String,
    found: &mut bool,
    errors: &mut FieldErrors,
) {
    match rest.split_first() {
        None => {
            if let Some(resolved) = reference(value, &at, errors) {
                *found = true;
                *value = toml::Value::String(resolved);
            }
        }
        Some((&"*", rest)) => match value {
            toml::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, rest, format!("{at}[{i}]"), found, errors);
                }
            }
            toml::Value::Table(entries) => {
                for (key, item) in entries.iter_mut() {
                    walk(item, rest, format!("{at}.{key}"), found, errors);
                }
            }
            _ => {}
        },
        Some((key, rest)) => {
            if let Some(inner) = value.as_table_mut().and_then(|t| t.get_mut(*key)) {
                walk(inner, rest, format!("{at}.{key}"), found, errors);
            }
        }
    }
}

/// The value a `{ env = ... }` or `{ file = ... }` table names; `None` when `value` is not a
/// table (an ordinary value, left to the typed parse). A table that is neither is an error.
fn reference(value: &toml::Value, at: &str, errors: &mut FieldErrors) -> Option<String> {
    let table = value.as_table()?;
    let (kind, source) = match (table.len(), table.iter().next()) {
        (1, Some((kind, toml::Value::String(source)))) if kind == "env" || kind == "file" => {
            (kind.as_str(), source)
        }
        _ => {
            errors.push(
                at,
                "must be a string, { env = \"NAME\" } or { file = \"PATH\" }",
            );
            return Some(String::new());
        }
    };
    let resolved = if kind == "env" {
        std::env::var(source).map_err(|e| match e {
            std::env::VarError::NotPresent => format!("environment variable {source} is not set"),
            std::env::VarError::NotUnicode(_) => {
                format!("environment variable {source} is not UTF-8")
            }
        })
    } else {
        std::fs::read_to_string(source)
            .map(|text| {
                let text = text.strip_suffix('\n').unwrap_or(&text);
                text.strip_suffix('\r').unwrap_or(text).to_owned()
            })
            .map_err(|e| format!("cannot read {source}: {e}"))
    };
    match resolved {
        Ok(v) if v.is_empty() => {
            errors.push(at, format!("{kind} {source} is empty"));
            Some(v)
        }
        Ok(v) => Some(v),
        Err(message) => {
            errors.push(at, message);
            Some(String::new())
        }
    }
}
