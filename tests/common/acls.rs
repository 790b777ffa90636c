//! ACL bindings in the shapes the benches measure.

use kafka_oidc_proxy::authz::{AclBinding, Host, Operation, PatternType, Permission, ResourceType};

/// `n` bindings of `org` in the shapes platform teams write: literal topics per team, team
/// prefixes, consumer-group prefixes, a few DENYs and wildcards.
pub fn shaped(org: &str, n: usize) -> Vec<AclBinding> {
    (0..n)
        .map(|i| {
            let team = format!("team-{}", i % 500);
            let (principal, resource_type, pattern_type, name, operation, permission) = match i % 10
            {
                0..=3 => (
                    format!("Group:{team}"),
                    ResourceType::Topic,
                    PatternType::Literal,
                    format!("{team}.events-{i}"),
                    Operation::Write,
                    Permission::Allow,
                ),
                4 | 5 => (
                    format!("Group:{team}"),
                    ResourceType::Topic,
                    PatternType::Prefixed,
                    format!("{team}.{}.", i % 7),
                    Operation::Read,
                    Permission::Allow,
                ),
                6 | 7 => (
                    format!("Group:{team}"),
                    ResourceType::Group,
                    PatternType::Prefixed,
                    format!("{team}-"),
                    Operation::Read,
                    Permission::Allow,
                ),
                8 => (
                    format!("User:svc-{i}"),
                    ResourceType::Topic,
                    PatternType::Literal,
                    format!("{team}.audit"),
                    Operation::All,
                    Permission::Deny,
                ),
                _ => (
                    format!("User:svc-{i}"),
                    ResourceType::TransactionalId,
                    PatternType::Prefixed,
                    format!("tx-{team}-"),
                    Operation::Write,
                    Permission::Allow,
                ),
            };
            AclBinding {
                organization: org.to_owned(),
                principal: principal.parse().expect("principal"),
                host: Host::Any,
                resource_type,
                resource_name: name,
                pattern_type,
                operation,
                permission,
            }
        })
        .collect()
}
