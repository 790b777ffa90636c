//! `kafka-oidc-proxy acl check`: the decision for one principal, operation and resource, and
//! the binding (or super user entry) that made it. How a platform engineer answers "why was I
//! denied?".

use std::fmt::Write as _;
use std::net::IpAddr;

use super::AuthorizationConfig;
use super::acl::{AclBinding, AclError, CLUSTER_NAME, Operation, Principal, ResourceType};
use super::index::{AclIndex, Grounds, Subject};

/// A resource as `TYPE:NAME` (`TOPIC:orders`, `GROUP:payments-app`, `TRANSACTIONAL_ID:tx-1`,
/// `CLUSTER`).
pub fn parse_resource(s: &str) -> Result<(ResourceType, String), AclError> {
    let (kind, name) = s.split_once(':').unwrap_or((s, ""));
    let kind: ResourceType = kind.parse()?;
    match (kind, name) {
        (ResourceType::Cluster, "") => Ok((kind, CLUSTER_NAME.to_owned())),
        (_, "") => Err(AclError(format!(
            "resource {s:?} has no name: write {kind}:<name>"
        ))),
        (_, name) => Ok((kind, name.to_owned())),
    }
}

/// Who to decide for, as the command line gives it.
pub struct Who<'a> {
    /// The organization.
    pub organization: &'a str,
    /// The user name.
    pub user: &'a str,
    /// Its groups.
    pub groups: &'a [String],
    /// The client address.
    pub host: IpAddr,
}

/// Decides with the configuration file's `authorization` and explains; returns whether the
/// operation is allowed and the report.
pub fn explain(
    authorization: &AuthorizationConfig,
    who: &Who<'_>,
    operation: Operation,
    resource: (ResourceType, &str),
) -> (bool, String) {
    let index = authorization.index();
    let (allowed, grounds) = explain_with(&index, who, operation, resource, |b| {
        authorization
            .acls
            .iter()
            .position(|x| x == b)
            .map(|i| format!("authorization.acls[{i}]"))
    });
    let mut out = String::new();
    let groups = if who.groups.is_empty() {
        "no groups".to_owned()
    } else {
        let names: Vec<String> = who
            .groups
            .iter()
            .map(|g| Principal::Group(g.clone()).to_string())
            .collect();
        names.join(", ")
    };
    let _ = writeln!(
        out,
        "{}: {} ({groups}; organization {}) {operation} {}:{} from {}",
        if allowed { "ALLOWED" } else { "DENIED" },
        Principal::User(who.user.to_owned()),
        who.organization,
        resource.0,
        resource.1,
        who.host,
    );
    let _ = writeln!(out, "  {grounds}");
    (allowed, out)
}

/// Decides with `index` as the proxy does; whether the operation is allowed and why, in one
/// sentence. `source` names where a binding comes from, when it knows.
pub fn explain_with(
    index: &AclIndex,
    who: &Who<'_>,
    operation: Operation,
    resource: (ResourceType, &str),
    source: impl Fn(&AclBinding) -> Option<String>,
) -> (bool, String) {
    let subject = Subject {
        organization: who.organization,
        user: who.user,
        groups: who.groups,
        host: who.host,
    };
    let decision = index.decide(&subject, operation, resource.0, resource.1);
    let grounds = match decision.grounds {
        Grounds::SuperUser(p) => format!(
            "because {p} is a super user of organization {} (authorization.super_users)",
            who.organization
        ),
        Grounds::Binding(b) => match source(b) {
            Some(at) => format!("by {b} [{at}]"),
            None => format!("by {b}"),
        },
        Grounds::NoMatch => format!(
            "no binding of organization {} grants it (no match denies)",
            who.organization
        ),
    };
    (decision.allowed, grounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::AclBinding;

    #[test]
    fn resources_parse_with_their_type() {
        assert_eq!(
            parse_resource("TOPIC:orders.eu").unwrap(),
            (ResourceType::Topic, "orders.eu".into())
        );
        assert_eq!(
            parse_resource("transactional_id:tx:1").unwrap(),
            (ResourceType::TransactionalId, "tx:1".into())
        );
        assert_eq!(
            parse_resource("Cluster").unwrap(),
            (ResourceType::Cluster, CLUSTER_NAME.into())
        );
        assert!(parse_resource("TOPIC").is_err());
        assert!(parse_resource("QUEUE:x").is_err());
    }

    #[test]
    fn the_report_names_the_deciding_binding() {
        let binding = AclBinding {
            organization: "acme".into(),
            principal: "Group:producers".parse().unwrap(),
            host: Default::default(),
            resource_type: ResourceType::Topic,
            resource_name: "orders.".into(),
            pattern_type: "PREFIXED".parse().unwrap(),
            operation: Operation::Write,
            permission: "ALLOW".parse().unwrap(),
        };
        let authorization = AuthorizationConfig {
            acls: vec![binding],
            ..Default::default()
        };
        let groups = ["producers".to_owned()];
        let who = Who {
            organization: "acme",
            user: "svc-orders",
            groups: &groups,
            host: "127.0.0.1".parse().unwrap(),
        };
        let (allowed, report) = explain(
            &authorization,
            &who,
            Operation::Describe,
            (ResourceType::Topic, "orders.eu"),
        );
        assert!(allowed);
        assert!(report.starts_with("ALLOWED: User:svc-orders (Group:producers; organization acme) DESCRIBE TOPIC:orders.eu"), "{report}");
        assert!(
            report.contains("by ALLOW Group:producers WRITE on TOPIC:PREFIXED:orders."),
            "{report}"
        );
        assert!(report.contains("[authorization.acls[0]]"), "{report}");
        let (allowed, report) = explain(
            &authorization,
            &who,
            Operation::Write,
            (ResourceType::Topic, "payments"),
        );
        assert!(!allowed);
        assert!(
            report.contains("no binding of organization acme grants it"),
            "{report}"
        );
    }
}
