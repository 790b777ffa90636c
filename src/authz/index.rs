//! The compiled ACL index: bindings grouped by organization and resource type, literal names
//! in a hash map, prefixes by length, so that a decision looks at the bindings that can match
//! and nothing else, whatever the total.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use super::acl::{AclBinding, Host, Operation, PatternType, Permission, Principal, ResourceType};

/// Who is asking: an authenticated identity and the address it connected from.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The organization of the provider that authenticated it.
    pub organization: &'a str,
    /// The user name (`User:<name>`).
    pub user: &'a str,
    /// Its groups (`Group:<name>` each).
    pub groups: &'a [String],
    /// The client's address.
    pub host: IpAddr,
}

/// What decided a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grounds<'a> {
    /// The principal is one of the organization's super users.
    SuperUser(&'a Principal),
    /// This binding matched (the first DENY, else the first ALLOW).
    Binding(&'a AclBinding),
    /// No binding matched: denied.
    NoMatch,
}

/// The answer to "may this subject do this operation on this resource?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// Why.
    pub grounds: Grounds<'a>,
}

/// Bindings of one resource type within one organization.
#[derive(Debug, Default)]
struct TypeIndex {
    /// LITERAL bindings by exact name.
    literal: HashMap<String, Vec<usize>>,
    /// LITERAL `*` bindings.
    any: Vec<usize>,
    /// PREFIXED bindings by prefix.
    prefixed: HashMap<String, Vec<usize>>,
    /// The distinct prefix lengths in `prefixed`, ascending: a name is looked up once per
    /// length, not once per binding.
    prefix_lengths: Vec<usize>,
}

impl TypeIndex {
    fn add(&mut self, binding: &AclBinding, at: usize) {
        match (binding.pattern_type, binding.resource_name.as_str()) {
            (PatternType::Literal, "*") => self.any.push(at),
            (PatternType::Literal, name) => {
                self.literal.entry(name.to_owned()).or_default().push(at)
            }
            (PatternType::Prefixed, prefix) => {
                self.prefixed.entry(prefix.to_owned()).or_default().push(at);
                if let Err(i) = self.prefix_lengths.binary_search(&prefix.len()) {
                    self.prefix_lengths.insert(i, prefix.len());
                }
            }
        }
    }

    /// Every binding whose pattern matches `name`.
    fn candidates<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        let literal = self.literal.get(name).into_iter().flatten();
        let prefixed = self
            .prefix_lengths
            .iter()
            .take_while(move |&&len| len <= name.len())
            .filter_map(move |&len| name.get(..len))
            .filter_map(|prefix| self.prefixed.get(prefix))
            .flatten();
        literal.chain(self.any.iter()).chain(prefixed).copied()
    }
}

/// One organization's super users and bindings, compiled. Immutable: a change to the
/// organization builds a new one, and every other organization's is shared with the next
/// [`AclIndex`] as it is.
#[derive(Debug, Default)]
pub struct OrgIndex {
    bindings: Vec<AclBinding>,
    super_users: Vec<Principal>,
    by_type: [TypeIndex; 4],
}

impl OrgIndex {
    /// Compiles one organization's `bindings` (all of that organization) and super users.
    pub fn new(bindings: Vec<AclBinding>, super_users: Vec<Principal>) -> Self {
        let mut by_type: [TypeIndex; 4] = Default::default();
        for (at, b) in bindings.iter().enumerate() {
            by_type[slot(b.resource_type)].add(b, at);
        }
        Self {
            bindings,
            super_users,
            by_type,
        }
    }

    fn is_empty(&self) -> bool {
        self.bindings.is_empty() && self.super_users.is_empty()
    }
}

/// Every organization's ACLs, compiled for decisions. Immutable: a change builds a new index,
/// recompiling only the organizations it touches ([`AclIndex::with_organization`]).
#[derive(Debug, Default, Clone)]
pub struct AclIndex {
    orgs: HashMap<String, Arc<OrgIndex>>,
}

fn slot(resource_type: ResourceType) -> usize {
    match resource_type {
        ResourceType::Topic => 0,
        ResourceType::Group => 1,
        ResourceType::Cluster => 2,
        ResourceType::TransactionalId => 3,
    }
}

impl AclIndex {
    /// Compiles `bindings` and each organization's super users.
    pub fn new(
        bindings: impl IntoIterator<Item = AclBinding>,
        super_users: &BTreeMap<String, Vec<Principal>>,
    ) -> Self {
        let mut by_org: HashMap<String, Vec<AclBinding>> = HashMap::new();
        for b in bindings {
            by_org.entry(b.organization.clone()).or_default().push(b);
        }
        for name in super_users.keys() {
            by_org.entry(name.clone()).or_default();
        }
        let orgs = by_org
            .into_iter()
            .map(|(name, bindings)| {
                let supers = super_users.get(&name).cloned().unwrap_or_default();
                let org = OrgIndex::new(bindings, supers);
                (name, Arc::new(org))
            })
            .collect();
        Self { orgs }
    }

    /// This index with `organization`'s part replaced by `org`; every other organization's is
    /// shared, not recompiled.
    pub fn with_organization(&self, organization: &str, org: OrgIndex) -> Self {
        let mut orgs = self.orgs.clone();
        if org.is_empty() {
            orgs.remove(organization);
        } else {
            orgs.insert(organization.to_owned(), Arc::new(org));
        }
        Self { orgs }
    }

    /// How many bindings there are, in all organizations.
    pub fn len(&self) -> usize {
        self.orgs.values().map(|o| o.bindings.len()).sum()
    }

    /// Whether there is no binding and no super user.
    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    /// Decides one operation on one resource, as Kafka's authorizer does: super users may do
    /// anything; otherwise a matching DENY wins, then a matching ALLOW (with implied
    /// operations) grants, and no match denies. Only the subject's own organization's
    /// bindings are consulted.
    pub fn decide(
        &self,
        who: &Subject<'_>,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Decision<'_> {
        let denied = Decision {
            allowed: false,
            grounds: Grounds::NoMatch,
        };
        let Some(org) = self.orgs.get(who.organization) else {
            return denied;
        };
        if let Some(p) = org.super_users.iter().find(|p| principal_matches(p, who)) {
            return Decision {
                allowed: true,
                grounds: Grounds::SuperUser(p),
            };
        }
        let mut allow = None;
        for at in org.by_type[slot(resource_type)].candidates(name) {
            let b = &org.bindings[at];
            if !principal_matches(&b.principal, who) || !host_matches(b.host, who.host) {
                continue;
            }
            if !b.operation.covers(operation, b.permission) {
                continue;
            }
            match b.permission {
                Permission::Deny => {
                    return Decision {
                        allowed: false,
                        grounds: Grounds::Binding(b),
                    };
                }
                Permission::Allow => {
                    allow.get_or_insert(b);
                }
            }
        }
        match allow {
            Some(b) => Decision {
                allowed: true,
                grounds: Grounds::Binding(b),
            },
            None => denied,
        }
    }
}

impl AclIndex {
    /// Whether the subject may do `operation` on at least one resource of the type, as Kafka's
    /// `authorizeByResourceType` decides it (an idempotent producer needs WRITE on some topic):
    /// super users may; a matching DENY on the literal `*` refuses; otherwise some matching
    /// ALLOW must not be covered by a matching DENY (the same literal name, or a prefix of its
    /// name or prefix).
    pub fn allows_any(
        &self,
        who: &Subject<'_>,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        let Some(org) = self.orgs.get(who.organization) else {
            return false;
        };
        if org.super_users.iter().any(|p| principal_matches(p, who)) {
            return true;
        }
        let t = &org.by_type[slot(resource_type)];
        let applies = |at: &usize, permission: Permission| {
            let b = &org.bindings[*at];
            b.permission == permission
                && principal_matches(&b.principal, who)
                && host_matches(b.host, who.host)
                && b.operation.covers(operation, permission)
        };
        let denied_by_prefix = |name: &str| {
            t.prefixed.iter().any(|(prefix, ats)| {
                name.starts_with(prefix.as_str())
                    && ats.iter().any(|at| applies(at, Permission::Deny))
            })
        };
        if t.any.iter().any(|at| applies(at, Permission::Deny)) {
            return false;
        }
        if t.any.iter().any(|at| applies(at, Permission::Allow)) {
            return true;
        }
        let literal = t.literal.iter().any(|(name, ats)| {
            ats.iter().any(|at| applies(at, Permission::Allow))
                && !ats.iter().any(|at| applies(at, Permission::Deny))
                && !denied_by_prefix(name)
        });
        literal
            || t.prefixed.iter().any(|(prefix, ats)| {
                ats.iter().any(|at| applies(at, Permission::Allow)) && !denied_by_prefix(prefix)
            })
    }
}

fn principal_matches(p: &Principal, who: &Subject<'_>) -> bool {
    match p {
        Principal::AnyUser => true,
        Principal::User(name) => name == who.user,
        Principal::Group(name) => who.groups.iter().any(|g| g == name),
    }
}

fn host_matches(host: Host, from: IpAddr) -> bool {
    match host {
        Host::Any => true,
        Host::Addr(a) => a == from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(org: &str, text: &str) -> AclBinding {
        // "ALLOW Group:producers WRITE TOPIC PREFIXED orders. [host]"
        let f: Vec<&str> = text.split_whitespace().collect();
        AclBinding {
            organization: org.into(),
            permission: f[0].parse().unwrap(),
            principal: f[1].parse().unwrap(),
            operation: f[2].parse().unwrap(),
            resource_type: f[3].parse().unwrap(),
            pattern_type: f[4].parse().unwrap(),
            resource_name: f[5].into(),
            host: f.get(6).map_or(Host::Any, |h| h.parse().unwrap()),
        }
    }

    fn index(bindings: &[&str]) -> AclIndex {
        let supers = BTreeMap::from([(
            "acme".to_owned(),
            vec!["Group:platform-admins".parse().unwrap()],
        )]);
        AclIndex::new(bindings.iter().map(|b| binding("acme", b)), &supers)
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn alice(groups: &[String]) -> Subject<'_> {
        Subject {
            organization: "acme",
            user: "alice",
            groups,
            host: LOCAL,
        }
    }

    fn allowed(idx: &AclIndex, who: &Subject<'_>, op: &str, rt: &str, name: &str) -> bool {
        idx.decide(who, op.parse().unwrap(), rt.parse().unwrap(), name)
            .allowed
    }

    /// One organization's part is recompiled; the others are the same, shared.
    #[test]
    fn replacing_one_organization_shares_the_others() {
        let write = "ALLOW User:alice WRITE TOPIC LITERAL orders";
        let idx = AclIndex::new(
            [binding("acme", write), binding("globex", write)],
            &BTreeMap::new(),
        );
        let read = OrgIndex::new(
            vec![binding(
                "acme",
                "ALLOW User:alice READ TOPIC LITERAL orders",
            )],
            Vec::new(),
        );
        let next = idx.with_organization("acme", read);
        assert!(Arc::ptr_eq(&idx.orgs["globex"], &next.orgs["globex"]));
        assert!(!allowed(&next, &alice(&[]), "WRITE", "TOPIC", "orders"));
        assert!(allowed(&next, &alice(&[]), "READ", "TOPIC", "orders"));
        assert!(
            allowed(&idx, &alice(&[]), "WRITE", "TOPIC", "orders"),
            "unchanged"
        );
        let globex = Subject {
            organization: "globex",
            ..alice(&[])
        };
        assert!(allowed(&next, &globex, "WRITE", "TOPIC", "orders"));
        let emptied = next.with_organization("acme", OrgIndex::default());
        assert!(!emptied.orgs.contains_key("acme"));
        assert_eq!(emptied.len(), 1);
    }

    #[test]
    fn allows_any_follows_kafka_authorize_by_resource_type() {
        let w = |idx: &AclIndex, groups: &[String]| {
            idx.allows_any(&alice(groups), Operation::Write, ResourceType::Topic)
        };
        assert!(!w(&index(&[]), &[]));
        assert!(w(
            &index(&["ALLOW User:alice WRITE TOPIC LITERAL orders"]),
            &[]
        ));
        assert!(w(
            &index(&["ALLOW User:alice ALL TOPIC PREFIXED orders."]),
            &[]
        ));
        assert!(!w(
            &index(&["ALLOW User:alice READ TOPIC LITERAL orders"]),
            &[]
        ));
        let covered = index(&[
            "ALLOW User:alice WRITE TOPIC LITERAL orders.eu",
            "DENY User:alice WRITE TOPIC PREFIXED orders.",
        ]);
        assert!(!w(&covered, &[]));
        let wildcard_deny = index(&[
            "ALLOW User:alice WRITE TOPIC LITERAL orders",
            "DENY User:* WRITE TOPIC LITERAL *",
        ]);
        assert!(!w(&wildcard_deny, &[]));
        let admins = ["platform-admins".to_owned()];
        assert!(w(&index(&[]), &admins), "super user");
        let other_org = AclIndex::new(
            [binding(
                "globex",
                "ALLOW User:alice WRITE TOPIC LITERAL orders",
            )],
            &BTreeMap::new(),
        );
        assert!(!w(&other_org, &[]));
    }

    #[test]
    fn no_binding_denies() {
        let idx = index(&[]);
        assert!(!allowed(&idx, &alice(&[]), "READ", "TOPIC", "orders"));
        assert_eq!(
            idx.decide(&alice(&[]), Operation::Read, ResourceType::Topic, "x")
                .grounds,
            Grounds::NoMatch
        );
    }

    #[test]
    fn literal_prefixed_and_wildcard_names() {
        let idx = index(&[
            "ALLOW User:alice WRITE TOPIC LITERAL payments",
            "ALLOW User:alice READ TOPIC PREFIXED orders.",
            "ALLOW User:alice DESCRIBE GROUP LITERAL *",
        ]);
        let a = alice(&[]);
        assert!(allowed(&idx, &a, "WRITE", "TOPIC", "payments"));
        assert!(!allowed(&idx, &a, "WRITE", "TOPIC", "payments2"));
        assert!(!allowed(&idx, &a, "WRITE", "TOPIC", "payment"));
        assert!(allowed(&idx, &a, "READ", "TOPIC", "orders.eu"));
        assert!(allowed(&idx, &a, "READ", "TOPIC", "orders."));
        assert!(!allowed(&idx, &a, "READ", "TOPIC", "orders"));
        assert!(allowed(&idx, &a, "DESCRIBE", "GROUP", "anything"));
        // A binding's type is its own: the GROUP wildcard says nothing about topics.
        assert!(!allowed(&idx, &a, "DESCRIBE", "TOPIC", "anything"));
        // A literal name "*" is not a wildcard for PREFIXED, and "*" in a topic name is literal.
        let idx = index(&["ALLOW User:alice READ TOPIC PREFIXED *"]);
        assert!(!allowed(&idx, &a, "READ", "TOPIC", "orders"));
        assert!(allowed(&idx, &a, "READ", "TOPIC", "*x"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let idx = index(&[
            "ALLOW Group:producers WRITE TOPIC PREFIXED orders.",
            "DENY User:alice WRITE TOPIC LITERAL orders.secret",
            "ALLOW User:* READ TOPIC LITERAL *",
            "DENY Group:contractors ALL TOPIC PREFIXED orders.",
        ]);
        let producers = ["producers".to_owned()];
        let a = alice(&producers);
        assert!(allowed(&idx, &a, "WRITE", "TOPIC", "orders.eu"));
        let d = idx.decide(&a, Operation::Write, ResourceType::Topic, "orders.secret");
        assert!(!d.allowed);
        assert!(matches!(d.grounds, Grounds::Binding(b) if b.permission == Permission::Deny));
        let both = ["producers".to_owned(), "contractors".to_owned()];
        assert!(!allowed(&idx, &alice(&both), "READ", "TOPIC", "orders.eu"));
        assert!(allowed(&idx, &alice(&both), "READ", "TOPIC", "payments"));
    }

    #[test]
    fn implied_operations_as_kafka_has_them() {
        for (granted, implied, expected) in [
            ("READ", "DESCRIBE", true),
            ("WRITE", "DESCRIBE", true),
            ("DELETE", "DESCRIBE", true),
            ("ALTER", "DESCRIBE", true),
            ("ALTER_CONFIGS", "DESCRIBE_CONFIGS", true),
            ("ALL", "IDEMPOTENT_WRITE", true),
            ("ALL", "DESCRIBE", true),
            ("CREATE", "DESCRIBE", false),
            ("DESCRIBE", "READ", false),
            ("WRITE", "READ", false),
            ("DESCRIBE_CONFIGS", "ALTER_CONFIGS", false),
            ("ALTER_CONFIGS", "ALTER", false),
        ] {
            let idx = index(&[&format!("ALLOW User:alice {granted} TOPIC LITERAL t")]);
            assert_eq!(
                allowed(&idx, &alice(&[]), implied, "TOPIC", "t"),
                expected,
                "{granted} -> {implied}"
            );
        }
        // A DENY does not imply: DENY READ leaves DESCRIBE to the ALLOWs.
        let idx = index(&[
            "ALLOW User:alice ALL TOPIC LITERAL t",
            "DENY User:alice READ TOPIC LITERAL t",
        ]);
        assert!(!allowed(&idx, &alice(&[]), "READ", "TOPIC", "t"));
        assert!(allowed(&idx, &alice(&[]), "DESCRIBE", "TOPIC", "t"));
    }

    #[test]
    fn principals_hosts_and_organizations() {
        let idx = index(&[
            "ALLOW User:bob READ TOPIC LITERAL t",
            "ALLOW Group:readers READ TOPIC LITERAL g",
            "ALLOW User:alice READ TOPIC LITERAL h 10.0.0.7",
        ]);
        let readers = ["readers".to_owned()];
        assert!(!allowed(&idx, &alice(&readers), "READ", "TOPIC", "t"));
        assert!(allowed(&idx, &alice(&readers), "READ", "TOPIC", "g"));
        assert!(!allowed(&idx, &alice(&[]), "READ", "TOPIC", "g"));
        assert!(!allowed(&idx, &alice(&[]), "READ", "TOPIC", "h"));
        let from_host = Subject {
            host: "10.0.0.7".parse().unwrap(),
            ..alice(&[])
        };
        assert!(allowed(&idx, &from_host, "READ", "TOPIC", "h"));
        // Another organization's user with the same name and groups gets nothing from acme's.
        let globex = Subject {
            organization: "globex",
            ..alice(&readers)
        };
        assert!(!allowed(&idx, &globex, "READ", "TOPIC", "g"));
    }

    #[test]
    fn super_users_of_their_own_organization_only() {
        let idx = index(&["DENY User:* ALL TOPIC LITERAL *"]);
        let admins = ["platform-admins".to_owned()];
        let d = idx.decide(&alice(&admins), Operation::Delete, ResourceType::Topic, "x");
        assert!(d.allowed);
        assert!(matches!(d.grounds, Grounds::SuperUser(_)));
        let elsewhere = Subject {
            organization: "globex",
            ..alice(&admins)
        };
        assert!(!allowed(&idx, &elsewhere, "DELETE", "TOPIC", "x"));
    }

    #[test]
    fn names_with_multibyte_characters_do_not_split_inside_a_character() {
        let idx = index(&["ALLOW User:alice READ TOPIC PREFIXED é"]);
        assert!(allowed(&idx, &alice(&[]), "READ", "TOPIC", "éa"));
        let idx = index(&["ALLOW User:alice READ TOPIC PREFIXED a"]);
        assert!(!allowed(&idx, &alice(&[]), "READ", "TOPIC", "é"));
    }
}
