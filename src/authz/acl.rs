//! ACL bindings in Kafka's model: principal, host, resource pattern, operation, permission,
//! written as Kafka writes them (`User:alice`, `TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, ...),
//! plus the organization a binding belongs to.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

use crate::field_errors::FieldErrors;

/// Why a binding's field could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AclError(pub String);

/// Parses Kafka's enum names leniently: case-insensitive, `_` optional (`TransactionalId`,
/// `TRANSACTIONAL_ID` and `transactional_id` are the same).
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

macro_rules! kafka_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $kafka:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in Kafka's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Kafka's name for it.
            pub fn kafka_name(self) -> &'static str {
                match self {
                    $($name::$variant => $kafka),+
                }
            }
        }

        impl FromStr for $name {
            type Err = AclError;

            fn from_str(s: &str) -> Result<Self, AclError> {
                let wanted = normalize(s);
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| normalize(v.kafka_name()) == wanted)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.kafka_name()).collect();
                        AclError(format!("unknown {} {s:?} (one of {})", $what, names.join(", ")))
                    })
            }
        }

        impl TryFrom<String> for $name {
            type Error = AclError;

            fn try_from(s: String) -> Result<Self, AclError> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.kafka_name())
            }
        }
    };
}

kafka_enum!(
    /// The kinds of resource an ACL protects.
    ResourceType, "resource type", {
        /// A topic, by name.
        Topic => "TOPIC",
        /// A consumer group, by group id.
        Group => "GROUP",
        /// The cluster itself (its one name is `kafka-cluster`).
        Cluster => "CLUSTER",
        /// A producer's transactional id.
        TransactionalId => "TRANSACTIONAL_ID",
    }
);

kafka_enum!(
    /// How a binding's resource name matches.
    PatternType, "pattern type", {
        /// The exact name; the name `*` matches every resource of the type.
        Literal => "LITERAL",
        /// Every name that starts with the binding's name.
        Prefixed => "PREFIXED",
    }
);

kafka_enum!(
    /// Operations, as Kafka's authorizer names them.
    Operation, "operation", {
        /// Every operation.
        All => "ALL",
        /// Fetch, join a group, commit offsets...
        Read => "READ",
        /// Produce, transactional writes.
        Write => "WRITE",
        /// Create topics.
        Create => "CREATE",
        /// Delete topics, records, groups.
        Delete => "DELETE",
        /// Alter partitions, ACLs...
        Alter => "ALTER",
        /// See that a resource exists, its metadata and offsets.
        Describe => "DESCRIBE",
        /// Broker-to-broker requests.
        ClusterAction => "CLUSTER_ACTION",
        /// Read configurations.
        DescribeConfigs => "DESCRIBE_CONFIGS",
        /// Change configurations.
        AlterConfigs => "ALTER_CONFIGS",
        /// Idempotent produce (InitProducerId without a transactional id).
        IdempotentWrite => "IDEMPOTENT_WRITE",
    }
);

kafka_enum!(
    /// Whether a binding grants or refuses.
    Permission, "permission", {
        /// Grants the operation.
        Allow => "ALLOW",
        /// Refuses it, whatever else grants it.
        Deny => "DENY",
    }
);

impl Operation {
    /// Kafka's numeric code (`AclOperation`), the bit of an `*_authorized_operations` set.
    pub fn code(self) -> u8 {
        match self {
            Operation::All => 2,
            Operation::Read => 3,
            Operation::Write => 4,
            Operation::Create => 5,
            Operation::Delete => 6,
            Operation::Alter => 7,
            Operation::Describe => 8,
            Operation::ClusterAction => 9,
            Operation::DescribeConfigs => 10,
            Operation::AlterConfigs => 11,
            Operation::IdempotentWrite => 12,
        }
    }

    /// Whether a binding for `self` covers a request for `requested`. ALL covers everything;
    /// an ALLOW for READ, WRITE, DELETE or ALTER also covers DESCRIBE, and one for
    /// ALTER_CONFIGS covers DESCRIBE_CONFIGS (Kafka's implied operations). A DENY covers only
    /// its own operation (and ALL every one), as in Kafka.
    pub fn covers(self, requested: Operation, permission: Permission) -> bool {
        if self == requested || self == Operation::All {
            return true;
        }
        permission == Permission::Allow
            && match requested {
                Operation::Describe => matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ),
                Operation::DescribeConfigs => self == Operation::AlterConfigs,
                _ => false,
            }
    }
}

/// Who a binding applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub enum Principal {
    /// `User:<name>`: the token's subject claim.
    User(String),
    /// `User:*`: every authenticated user of the organization.
    AnyUser,
    /// `Group:<name>`: every user whose token lists the group.
    Group(String),
}

impl FromStr for Principal {
    type Err = AclError;

    fn from_str(s: &str) -> Result<Self, AclError> {
        let (kind, name) = s.split_once(':').ok_or_else(|| {
            AclError(format!(
                "principal {s:?} is not User:<name>, User:* or Group:<name>"
            ))
        })?;
        if name.is_empty() {
            return Err(AclError(format!("principal {s:?} has an empty name")));
        }
        match (kind, name) {
            ("User", "*") => Ok(Principal::AnyUser),
            ("User", n) => Ok(Principal::User(n.to_owned())),
            ("Group", "*") => Err(AclError(
                "Group:* is not a principal: use User:* for every user".into(),
            )),
            ("Group", n) => Ok(Principal::Group(n.to_owned())),
            _ => Err(AclError(format!(
                "principal {s:?} is not User:<name>, User:* or Group:<name>"
            ))),
        }
    }
}

impl TryFrom<String> for Principal {
    type Error = AclError;

    fn try_from(s: String) -> Result<Self, AclError> {
        s.parse()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(n) => write!(f, "User:{n}"),
            Principal::AnyUser => f.write_str("User:*"),
            Principal::Group(n) => write!(f, "Group:{n}"),
        }
    }
}

/// The client address a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum Host {
    /// `*`: any address.
    #[default]
    Any,
    /// One address.
    Addr(IpAddr),
}

impl FromStr for Host {
    type Err = AclError;

    fn from_str(s: &str) -> Result<Self, AclError> {
        if s == "*" {
            return Ok(Host::Any);
        }
        s.parse()
            .map(Host::Addr)
            .map_err(|_| AclError(format!("host {s:?} is neither * nor an IP address")))
    }
}

impl TryFrom<String> for Host {
    type Error = AclError;

    fn try_from(s: String) -> Result<Self, AclError> {
        s.parse()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => f.write_str("*"),
            Host::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// The name Kafka gives the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The longest resource name or principal a binding may have (Kafka's own names are far
/// shorter: a topic name at most 249 characters).
pub const MAX_NAME_BYTES: usize = 1024;

/// One ACL binding of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclBinding {
    /// The organization whose principals it applies to.
    pub organization: String,
    /// `User:<name>`, `User:*` or `Group:<name>`.
    pub principal: Principal,
    /// `*` (the default) or a client IP address.
    #[serde(default)]
    pub host: Host,
    /// TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID.
    pub resource_type: ResourceType,
    /// The resource name or prefix; `*` with LITERAL matches every resource of the type.
    pub resource_name: String,
    /// LITERAL (the default) or PREFIXED.
    #[serde(default = "literal")]
    pub pattern_type: PatternType,
    /// The operation it grants or refuses.
    pub operation: Operation,
    /// ALLOW or DENY.
    pub permission: Permission,
}

fn literal() -> PatternType {
    PatternType::Literal
}

impl AclBinding {
    /// Problems a valid binding cannot have, each with the field it concerns.
    pub fn problems(&self) -> FieldErrors {
        let mut problems = FieldErrors::default();
        if self.organization.is_empty() {
            problems.push("organization", "must not be empty");
        }
        if self.resource_name.is_empty() {
            problems.push("resource_name", "must not be empty");
        }
        if self.resource_name.len() > MAX_NAME_BYTES {
            problems.push(
                "resource_name",
                format!("must be at most {MAX_NAME_BYTES} bytes"),
            );
        }
        if self.principal.to_string().len() > MAX_NAME_BYTES {
            problems.push(
                "principal",
                format!("must be at most {MAX_NAME_BYTES} bytes"),
            );
        }
        if self.resource_type == ResourceType::Cluster
            && !(self.resource_name == CLUSTER_NAME && self.pattern_type == PatternType::Literal)
        {
            problems.push(
                "resource_name",
                format!("a CLUSTER binding names the LITERAL resource {CLUSTER_NAME:?}"),
            );
        }
        if self.pattern_type == PatternType::Prefixed && self.resource_name == "*" {
            problems.push("resource_name", "PREFIXED \"*\" matches only names starting with \"*\"; use LITERAL \"*\" for every resource");
        }
        problems
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} on {}:{}:{} from {} (organization {})",
            self.permission,
            self.principal,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.host,
            self.organization
        )
    }
}
