//! The compiled ACL index: bindings grouped by organization and resource type, literal names
//! in a hash map, prefixes by length, so that a decision looks at the bindings that can match
//! and nothing else, whatever the total.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashTable;

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

/// Bindings sharing one pattern, in the order they were added. Shared between successive
/// indexes until one of them changes it. Most names have one binding: it is held as it is,
/// without a list of its own to allocate.
#[derive(Debug, Clone, Default)]
enum Bucket {
    #[default]
    Empty,
    One(Arc<AclBinding>),
    Many(Arc<Vec<Arc<AclBinding>>>),
}

impl Bucket {
    fn iter(&self) -> std::slice::Iter<'_, Arc<AclBinding>> {
        match self {
            Bucket::Empty => [].iter(),
            Bucket::One(b) => std::slice::from_ref(b).iter(),
            Bucket::Many(list) => list.iter(),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Bucket::Empty)
    }

    fn push(&mut self, binding: Arc<AclBinding>) {
        *self = match std::mem::take(self) {
            Bucket::Empty => Bucket::One(binding),
            Bucket::One(first) => Bucket::Many(Arc::new(vec![first, binding])),
            Bucket::Many(mut list) => {
                Arc::make_mut(&mut list).push(binding);
                Bucket::Many(list)
            }
        };
    }

    /// Removes the first binding equal to `binding`; whether there was one.
    fn remove(&mut self, binding: &AclBinding) -> bool {
        let Some(at) = self.iter().position(|b| **b == *binding) else {
            return false;
        };
        *self = match std::mem::take(self) {
            Bucket::Many(mut list) if list.len() > 2 => {
                Arc::make_mut(&mut list).remove(at);
                Bucket::Many(list)
            }
            Bucket::Many(list) => Bucket::One(list[1 - at].clone()),
            Bucket::Empty | Bucket::One(_) => Bucket::Empty,
        };
        true
    }
}

/// How many parts a large [`NameMap`] is split into (a power of two).
const SHARDS: usize = 16;

/// A [`NameMap`] holding more names than this is split into [`SHARDS`] parts.
const SPLIT_AT: usize = 512;

/// Buckets by name. A large map is split by the name's hash into shards that successive
/// indexes share: a change copies the one shard it touches, a sixteenth of the names, not all
/// of them; a small one (most organizations' are) is one shard. A name is hashed once per
/// lookup (the shard and the slot in it come from the same hash).
#[derive(Clone)]
struct NameMap {
    hasher: RandomState,
    shards: Vec<Arc<Shard>>,
    names: usize,
}

/// One part of a [`NameMap`]: each name with its bucket.
type Shard = HashTable<(Arc<str>, Bucket)>;

/// The empty shard every new map starts with, shared: a map costs nothing until a name is put
/// in it.
static EMPTY_SHARD: std::sync::LazyLock<Arc<Shard>> =
    std::sync::LazyLock::new(|| Arc::new(HashTable::new()));

impl Default for NameMap {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: vec![EMPTY_SHARD.clone()],
            names: 0,
        }
    }
}

impl std::fmt::Debug for NameMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl NameMap {
    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    fn shard(&self, hash: u64) -> usize {
        // Bits the table's own slot and tag do not use, for shards below 2^32 slots; the
        // number of shards is 1 or SHARDS, a power of two.
        (hash >> 32) as usize & (self.shards.len() - 1)
    }

    /// Splits a map grown past [`SPLIT_AT`] names into [`SHARDS`] shards.
    fn split(&mut self) {
        let mut shards: Vec<Shard> = (0..SHARDS).map(|_| HashTable::new()).collect();
        for (name, bucket) in self.shards.iter().flat_map(|s| s.iter()) {
            let hash = self.hasher.hash_one(&**name);
            let at = (hash >> 32) as usize & (SHARDS - 1);
            let hasher = &self.hasher;
            shards[at].insert_unique(hash, (name.clone(), bucket.clone()), |(n, _)| {
                hasher.hash_one(&**n)
            });
        }
        self.shards = shards.into_iter().map(Arc::new).collect();
    }

    fn get(&self, name: &str) -> Option<&Bucket> {
        let hash = self.hash(name);
        self.shards[self.shard(hash)]
            .find(hash, |(n, _)| **n == *name)
            .map(|(_, b)| b)
    }

    /// The bucket of `name`, made if there is none; whether it was made.
    fn bucket(&mut self, name: &str) -> (&mut Bucket, bool) {
        if self.names >= SPLIT_AT && self.shards.len() == 1 && self.get(name).is_none() {
            self.split();
        }
        let hasher = self.hasher.clone();
        let hash = self.hash(name);
        let at = self.shard(hash);
        let names = &mut self.names;
        let shard = Arc::make_mut(&mut self.shards[at]);
        match shard.entry(hash, |(n, _)| **n == *name, |(n, _)| hasher.hash_one(&**n)) {
            hashbrown::hash_table::Entry::Occupied(e) => (&mut e.into_mut().1, false),
            hashbrown::hash_table::Entry::Vacant(e) => {
                *names += 1;
                let e = e.insert((Arc::from(name), Bucket::default()));
                (&mut e.into_mut().1, true)
            }
        }
    }

    /// Removes one binding equal to `binding` from the bucket of `name`, and the bucket when
    /// it is left empty: whether a binding was removed, and whether the name went with it.
    fn remove(&mut self, name: &str, binding: &AclBinding) -> (bool, bool) {
        let hash = self.hash(name);
        let at = self.shard(hash);
        let held = |(n, b): &(Arc<str>, Bucket)| **n == *name && b.iter().any(|x| **x == *binding);
        if self.shards[at].find(hash, held).is_none() {
            return (false, false);
        }
        let shard = Arc::make_mut(&mut self.shards[at]);
        let Ok(mut entry) = shard.find_entry(hash, |(n, _)| **n == *name) else {
            return (false, false);
        };
        let removed = entry.get_mut().1.remove(binding);
        if entry.get().1.is_empty() {
            entry.remove();
            self.names -= 1;
            return (removed, true);
        }
        (removed, false)
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Bucket)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter())
            .map(|(n, b)| (&**n, b))
    }
}

/// Bindings of one resource type within one organization. Cloning it copies pointers to
/// shared shards, not the names or the bindings: a change copies the shard and the bucket it
/// touches.
#[derive(Debug, Default, Clone)]
struct TypeIndex {
    /// LITERAL bindings by exact name.
    literal: NameMap,
    /// LITERAL `*` bindings.
    any: Bucket,
    /// PREFIXED bindings by prefix.
    prefixed: NameMap,
    /// The distinct prefix lengths in `prefixed`, ascending, each with how many prefixes have
    /// it: a name is looked up once per length, not once per binding.
    prefix_lengths: Vec<(usize, usize)>,
}

impl TypeIndex {
    fn add(&mut self, binding: Arc<AclBinding>) {
        match (binding.pattern_type, binding.resource_name.as_str()) {
            (PatternType::Literal, "*") => self.any.push(binding),
            (PatternType::Literal, name) => self.literal.bucket(name).0.push(binding),
            (PatternType::Prefixed, prefix) => {
                let length = prefix.len();
                let (bucket, new) = self.prefixed.bucket(prefix);
                bucket.push(binding);
                if new {
                    match self
                        .prefix_lengths
                        .binary_search_by_key(&length, |&(len, _)| len)
                    {
                        Ok(i) => self.prefix_lengths[i].1 += 1,
                        Err(i) => self.prefix_lengths.insert(i, (length, 1)),
                    }
                }
            }
        }
    }

    /// Removes one binding equal to `binding`; whether there was one.
    fn remove(&mut self, binding: &AclBinding) -> bool {
        let name = binding.resource_name.as_str();
        match binding.pattern_type {
            PatternType::Literal if name == "*" => self.any.remove(binding),
            PatternType::Literal => self.literal.remove(name, binding).0,
            PatternType::Prefixed => {
                let (removed, gone) = self.prefixed.remove(name, binding);
                if gone
                    && let Ok(i) = self
                        .prefix_lengths
                        .binary_search_by_key(&name.len(), |&(len, _)| len)
                {
                    self.prefix_lengths[i].1 -= 1;
                    if self.prefix_lengths[i].1 == 0 {
                        self.prefix_lengths.remove(i);
                    }
                }
                removed
            }
        }
    }

    /// Every binding whose pattern matches `name`.
    fn candidates<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s AclBinding> + use<'s, 'n> {
        let literal = self.literal.get(name).into_iter().flat_map(|b| b.iter());
        let prefixed = self
            .prefix_lengths
            .iter()
            .take_while(move |&&(len, _)| len <= name.len())
            .filter_map(move |&(len, _)| name.get(..len))
            .filter_map(|prefix| self.prefixed.get(prefix))
            .flat_map(|b| b.iter());
        literal.chain(self.any.iter()).chain(prefixed).map(|b| &**b)
    }
}

/// One organization's super users and bindings, compiled. Immutable once published: a change
/// to the organization makes a new one ([`OrgIndex::changed`] or [`OrgIndex::new`]), and every
/// other organization's is shared with the next [`AclIndex`] as it is.
#[derive(Debug, Default, Clone)]
pub struct OrgIndex {
    bindings: usize,
    super_users: Vec<Principal>,
    by_type: [TypeIndex; 4],
}

impl OrgIndex {
    /// Compiles one organization's `bindings` (all of that organization) and super users.
    pub fn new(
        bindings: impl IntoIterator<Item = Arc<AclBinding>>,
        super_users: Vec<Principal>,
    ) -> Self {
        let mut org = Self {
            bindings: 0,
            super_users,
            by_type: Default::default(),
        };
        for b in bindings {
            org.add(b);
        }
        org
    }

    /// This index with `removed` taken out (one equal binding each, where there is one) and
    /// `added` put in after the others. Costs the buckets it touches and a copy of the maps
    /// of bucket pointers, not a compilation of every binding.
    pub fn changed(&self, added: &[Arc<AclBinding>], removed: &[AclBinding]) -> Self {
        let mut org = self.clone();
        for b in removed {
            if org.by_type[slot(b.resource_type)].remove(b) {
                org.bindings -= 1;
            }
        }
        for b in added {
            org.add(b.clone());
        }
        org
    }

    fn add(&mut self, binding: Arc<AclBinding>) {
        self.by_type[slot(binding.resource_type)].add(binding);
        self.bindings += 1;
    }

    fn is_empty(&self) -> bool {
        self.bindings == 0 && self.super_users.is_empty()
    }
}

/// Every organization's ACLs, compiled for decisions. Immutable: a change builds a new index,
/// recompiling only the organizations it touches ([`AclIndex::with_organization`]).
#[derive(Debug, Default, Clone)]
pub struct AclIndex {
    orgs: HashMap<Arc<str>, Arc<OrgIndex>>,
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
        bindings: impl IntoIterator<Item = Arc<AclBinding>>,
        super_users: &BTreeMap<String, Vec<Principal>>,
    ) -> Self {
        let mut by_org: HashMap<Arc<str>, Vec<Arc<AclBinding>>> = HashMap::new();
        for b in bindings {
            match by_org.get_mut(b.organization.as_str()) {
                Some(org) => org.push(b),
                None => {
                    by_org.insert(Arc::from(b.organization.as_str()), vec![b]);
                }
            }
        }
        for name in super_users.keys() {
            by_org.entry(Arc::from(name.as_str())).or_default();
        }
        let orgs = by_org
            .into_iter()
            .map(|(name, bindings)| {
                let supers = super_users.get(&*name).cloned().unwrap_or_default();
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
            orgs.insert(Arc::from(organization), Arc::new(org));
        }
        Self { orgs }
    }

    /// One organization's part, if it has bindings or super users.
    pub fn organization(&self, organization: &str) -> Option<&OrgIndex> {
        self.orgs.get(organization).map(|o| &**o)
    }

    /// How many bindings there are, in all organizations.
    pub fn len(&self) -> usize {
        self.orgs.values().map(|o| o.bindings).sum()
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
        for b in org.by_type[slot(resource_type)].candidates(name) {
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
        let applies = |b: &Arc<AclBinding>, permission: Permission| {
            b.permission == permission
                && principal_matches(&b.principal, who)
                && host_matches(b.host, who.host)
                && b.operation.covers(operation, permission)
        };
        let denied_by_prefix = |name: &str| {
            t.prefixed.iter().any(|(prefix, ats)| {
                name.starts_with(prefix) && ats.iter().any(|at| applies(at, Permission::Deny))
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
        AclIndex::new(
            bindings.iter().map(|b| Arc::new(binding("acme", b))),
            &supers,
        )
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
    fn a_changed_organization_decides_as_one_compiled_from_its_bindings() {
        // A fixed walk of adds and removes over literal, `*` and prefixed patterns of several
        // lengths; after each step the changed index and a fresh compile of the same bindings
        // give the same decision, with the same grounds, for every question.
        let names = ["orders", "orders.eu", "o", "ord", "*", "payments", "pay"];
        let mut pool = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for pattern in ["LITERAL", "PREFIXED"] {
                if *name == "*" && pattern == "PREFIXED" {
                    continue;
                }
                let permission = if i % 3 == 0 { "DENY" } else { "ALLOW" };
                pool.push(binding(
                    "acme",
                    &format!("{permission} Group:g{} READ TOPIC {pattern} {name}", i % 2),
                ));
                pool.push(binding(
                    "acme",
                    &format!("ALLOW User:alice WRITE TOPIC {pattern} {name}"),
                ));
            }
        }
        let topics = [
            "orders",
            "orders.eu.1",
            "o",
            "ordinal",
            "payments",
            "pay",
            "x",
            "",
        ];
        let groups = [
            vec!["Group:g0".to_owned()],
            vec!["Group:g1".to_owned()],
            vec![],
        ];
        let mut held: Vec<AclBinding> = Vec::new();
        let mut changed = OrgIndex::default();
        let mut seed = 7u32;
        for _ in 0..400 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let pick = pool[(seed >> 8) as usize % pool.len()].clone();
            if seed & 1 == 0 || held.is_empty() {
                held.push(pick.clone());
                changed = changed.changed(&[Arc::new(pick)], &[]);
            } else {
                let gone = held.remove((seed >> 4) as usize % held.len());
                changed = changed.changed(&[], std::slice::from_ref(&gone));
            }
            let fresh = OrgIndex::new(held.iter().cloned().map(Arc::new), Vec::new());
            assert_eq!(changed.bindings, held.len());
            let (a, b) = (
                AclIndex::default().with_organization("acme", changed.clone()),
                AclIndex::default().with_organization("acme", fresh),
            );
            for groups in &groups {
                let who = Subject {
                    groups,
                    ..alice(&[])
                };
                for op in [Operation::Read, Operation::Write, Operation::Describe] {
                    for topic in topics {
                        assert_eq!(
                            a.decide(&who, op, ResourceType::Topic, topic),
                            b.decide(&who, op, ResourceType::Topic, topic),
                            "{op:?} {topic:?} with {held:?}"
                        );
                    }
                    assert_eq!(
                        a.allows_any(&who, op, ResourceType::Topic),
                        b.allows_any(&who, op, ResourceType::Topic)
                    );
                }
            }
        }
    }

    #[test]
    fn a_large_organization_split_into_shards_decides_as_one_compiled_whole() {
        // More names than a map holds in one shard, literal and prefixed, added one change at
        // a time past the split, a third removed again.
        let all: Vec<AclBinding> = (0..1_500)
            .flat_map(|i| {
                [
                    binding(
                        "acme",
                        &format!("ALLOW User:alice READ TOPIC LITERAL t-{i}"),
                    ),
                    binding(
                        "acme",
                        &format!("ALLOW User:alice WRITE TOPIC PREFIXED p-{i}."),
                    ),
                ]
            })
            .collect();
        let mut changed = OrgIndex::default();
        for b in &all {
            changed = changed.changed(&[Arc::new(b.clone())], &[]);
        }
        let (gone, kept): (Vec<_>, Vec<_>) = all
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 3 == 0);
        let gone: Vec<AclBinding> = gone.into_iter().map(|(_, b)| b).collect();
        changed = changed.changed(&[], &gone);
        let fresh = OrgIndex::new(kept.into_iter().map(|(_, b)| Arc::new(b)), Vec::new());
        assert_eq!(changed.bindings, fresh.bindings);
        let (a, b) = (
            AclIndex::default().with_organization("acme", changed),
            AclIndex::default().with_organization("acme", fresh),
        );
        let who = alice(&[]);
        for i in 0..1_500 {
            for (op, topic) in [
                (Operation::Read, format!("t-{i}")),
                (Operation::Write, format!("p-{i}.x")),
            ] {
                let got = a.decide(&who, op, ResourceType::Topic, &topic);
                assert_eq!(
                    got,
                    b.decide(&who, op, ResourceType::Topic, &topic),
                    "{topic}"
                );
            }
        }
    }

    #[test]
    fn replacing_one_organization_shares_the_others() {
        let write = "ALLOW User:alice WRITE TOPIC LITERAL orders";
        let idx = AclIndex::new(
            [binding("acme", write), binding("globex", write)].map(Arc::new),
            &BTreeMap::new(),
        );
        let read = OrgIndex::new(
            [Arc::new(binding(
                "acme",
                "ALLOW User:alice READ TOPIC LITERAL orders",
            ))],
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
            )]
            .map(Arc::new),
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
