//! ACL bindings in the shapes the benches measure.

use kafka_oidc_proxy::authz::{AclBinding, Host, Operation, PatternType, Permission, ResourceType};
use kafka_oidc_proxy::config::Config;
use kafka_oidc_proxy::snapshot::Published;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The published state of a proxy whose configuration has no provider and no binding, for
/// stored bindings to be applied to.
pub fn published() -> Published {
    let config = Config::parse(
        "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\n\
         [[listeners]]\nname = \"l\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"h\"\n\
         bootstrap_port = 0\nbroker_port_base = 0\nauthentication = \"none\"\n",
    )
    .expect("config");
    let http = kafka_oidc_proxy::identity::http_client().expect("http client");
    Published::new(&config, http, TaskTracker::new(), CancellationToken::new())
}

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
