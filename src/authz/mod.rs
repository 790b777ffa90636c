//! Authorization: Kafka-style ACL bindings per organization, compiled into an index that
//! decides one operation on one resource for an authenticated subject (DESIGN.md decision 10).

pub mod acl;
pub mod apis;
pub mod explain;
pub mod index;
pub(crate) mod request;

pub use acl::{
    AclBinding, AclError, Host, Operation, PatternType, Permission, Principal, ResourceType,
};
pub use index::{AclIndex, Decision, Grounds, OrgIndex, Subject};
pub use request::Decisions;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::field_errors::FieldErrors;

/// `[authorization]` of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Per organization, principals whose every request is allowed.
    pub super_users: BTreeMap<String, Vec<Principal>>,
    /// Static bindings (the management API adds stored ones).
    pub acls: Vec<AclBinding>,
}

impl AuthorizationConfig {
    /// Problems with the section, each with its field, given the organizations that have an
    /// identity provider (a binding for any other could never apply: most likely a typo).
    pub fn problems(&self, organizations: &BTreeSet<&str>) -> FieldErrors {
        let unknown = |org: &str| {
            format!(
                "organization {org:?} has no identity provider (known: {})",
                organizations
                    .iter()
                    .map(|o| format!("{o:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut problems = FieldErrors::default();
        for org in self.super_users.keys() {
            if !organizations.contains(org.as_str()) {
                problems.push(format!("authorization.super_users.{org}"), unknown(org));
            }
        }
        for (i, b) in self.acls.iter().enumerate() {
            problems.nest(&format!("authorization.acls[{i}]"), b.problems());
            if !b.organization.is_empty() && !organizations.contains(b.organization.as_str()) {
                problems.push(
                    format!("authorization.acls[{i}].organization"),
                    unknown(&b.organization),
                );
            }
        }
        problems
    }

    /// The compiled index of these bindings.
    pub fn index(&self) -> AclIndex {
        let bindings = self.acls.iter().cloned().map(std::sync::Arc::new);
        AclIndex::new(bindings, &self.super_users)
    }
}
