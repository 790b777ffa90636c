//! What one authorization decision costs with 10, 1,000 and 10,000 bindings in the
//! organization (plus as many again in another one): a user with three groups asking to WRITE a
//! topic that a PREFIXED group binding allows, and to READ one that nothing allows.
//!
//!   cargo bench --bench authz

use std::collections::BTreeMap;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kafka_oidc_proxy::authz::{
    AclBinding, AclIndex, Host, Operation, PatternType, Permission, ResourceType, Subject,
};

/// `n` bindings of `org` in the shapes platform teams write: literal topics per team, team
/// prefixes, consumer-group prefixes, a few DENYs and wildcards.
fn bindings(org: &str, n: usize) -> Vec<AclBinding> {
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

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for n in [10, 1_000, 10_000] {
        let mut all = bindings("acme", n);
        all.extend(bindings("globex", n));
        // The binding the allowed request matches.
        all.push(AclBinding {
            organization: "acme".into(),
            principal: "Group:payments".parse().expect("principal"),
            host: Host::Any,
            resource_type: ResourceType::Topic,
            resource_name: "payments.".into(),
            pattern_type: PatternType::Prefixed,
            operation: Operation::Write,
            permission: Permission::Allow,
        });
        let index = AclIndex::new(all, &BTreeMap::new());
        let groups = [
            "team-1".to_owned(),
            "team-2".to_owned(),
            "payments".to_owned(),
        ];
        let who = Subject {
            organization: "acme",
            user: "svc-payments",
            groups: &groups,
            host: "10.1.2.3".parse().expect("address"),
        };
        group.bench_with_input(BenchmarkId::new("allowed", n), &n, |b, _| {
            b.iter(|| {
                let d = index.decide(
                    &who,
                    Operation::Write,
                    ResourceType::Topic,
                    "payments.eu.card-events",
                );
                assert!(d.allowed);
            })
        });
        group.bench_with_input(BenchmarkId::new("denied", n), &n, |b, _| {
            b.iter(|| {
                let d = index.decide(
                    &who,
                    Operation::Read,
                    ResourceType::Topic,
                    "team-1.3.unknown",
                );
                assert!(!d.allowed);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
