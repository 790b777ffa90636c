//! Problems that each name the field they concern: of the configuration file, of a
//! provider registration or ACL binding, of a write to the published state.

use std::fmt;

/// Problems, each as (field, message), in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    /// One problem.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![(field.into(), message.into())])
    }

    /// Records a problem with `field`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// Records `other`'s problems with their fields under `prefix` (`identity.providers[2]`
    /// and `issuer` give `identity.providers[2].issuer`).
    pub fn nest(&mut self, prefix: &str, other: FieldErrors) {
        for (field, message) in other.0 {
            self.0.push((format!("{prefix}.{field}"), message));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }

    /// `Ok` when there are no problems.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl IntoIterator for FieldErrors {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, message)) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_and_display() {
        let mut inner = FieldErrors::default();
        inner.push("issuer", "must be https");
        let mut all = FieldErrors::one("limits.max_connections", "must be greater than 0");
        all.nest("identity.providers[2]", inner);
        assert_eq!(
            all.to_string(),
            "limits.max_connections: must be greater than 0\n\
             identity.providers[2].issuer: must be https"
        );
        assert_eq!(all.len(), 2);
        assert!(FieldErrors::default().into_result().is_ok());
    }
}
