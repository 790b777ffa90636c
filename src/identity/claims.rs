//! Reading the subject and groups out of verified claims by configured name. A dotted name
//! reaches into nested objects (Keycloak's `realm_access.roles`); a name that exists verbatim
//! (some providers use URLs with dots as claim names) wins over the nested reading.

use serde_json::Value;

/// Looks up a claim by name or dotted path.
pub fn lookup<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut current = claims;
    for part in name.split('.') {
        current = current.get(part)?;
    }
    Some(current)
}

/// The subject: a non-empty string (numbers are accepted and printed, as some providers use
/// numeric ids).
pub fn subject(claims: &Value, name: &str) -> Option<String> {
    match lookup(claims, name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The groups: an array of strings, or one string delimited by spaces or commas. A missing
/// claim is no groups; values of other types are ignored rather than guessed at.
pub fn groups(claims: &Value, name: &str) -> Vec<String> {
    let mut out: Vec<String> = match lookup(claims, name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s
            .split([' ', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

/// Whether the token's `scope` (space-delimited string, or an array as some providers send
/// `scp`) contains `required`.
pub fn has_scope(claims: &Value, required: &str) -> bool {
    ["scope", "scp"].iter().any(|name| match claims.get(*name) {
        Some(Value::String(s)) => s.split(' ').any(|x| x == required),
        Some(Value::Array(items)) => items.iter().any(|x| x.as_str() == Some(required)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_paths_and_literal_dotted_names() {
        let c = json!({"realm_access": {"roles": ["a", "b"]}, "https://x.io/groups": ["g"], "sub": "u1"});
        assert_eq!(groups(&c, "realm_access.roles"), ["a", "b"]);
        assert_eq!(groups(&c, "https://x.io/groups"), ["g"]);
        assert_eq!(subject(&c, "sub").as_deref(), Some("u1"));
        assert_eq!(subject(&c, "missing"), None);
    }

    #[test]
    fn delimited_strings_and_odd_values() {
        assert_eq!(groups(&json!({"g": "a b,c ,, a"}), "g"), ["a", "b", "c"]);
        assert!(groups(&json!({"g": 5}), "g").is_empty());
        assert_eq!(groups(&json!({"g": ["x", 1, " ", "y"]}), "g"), ["x", "y"]);
        assert_eq!(subject(&json!({"oid": 42}), "oid").as_deref(), Some("42"));
        assert_eq!(subject(&json!({"sub": "  "}), "sub"), None);
        assert_eq!(subject(&json!({"sub": ["a"]}), "sub"), None);
    }

    #[test]
    fn scopes() {
        assert!(has_scope(&json!({"scope": "openid kafka"}), "kafka"));
        assert!(!has_scope(&json!({"scope": "kafkaesque"}), "kafka"));
        assert!(has_scope(&json!({"scp": ["kafka"]}), "kafka"));
        assert!(!has_scope(&json!({}), "kafka"));
    }
}
