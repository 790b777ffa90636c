//! What one authorization decision costs with 10, 1,000 and 10,000 bindings in the
//! organization (plus as many again in another one): a user with three groups asking to WRITE a
//! topic that a PREFIXED group binding allows, and to READ one that nothing allows.
//!
//! And what applying the stored bindings to the data plane costs (`apply/*`): the whole
//! snapshot (`everything`, what a proxy does when it reads the store back) against one
//! organization's part (`one_organization`, what it does after its own change to that
//! organization, one binding added), with 1,000 organizations of 100 bindings each and with
//! one organization of 10,000.
//!
//!   cargo bench --bench authz

use std::collections::BTreeMap;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use kafka_oidc_proxy::authz::{
    AclBinding, AclIndex, Host, Operation, PatternType, Permission, ResourceType, Subject,
};
use kafka_oidc_proxy::config::Config;
use kafka_oidc_proxy::snapshot::{Publish, Published, Stored};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

fn apply(c: &mut Criterion) {
    let config = Config::parse(
        "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\n\
         [[listeners]]\nname = \"l\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"h\"\n\
         bootstrap_port = 0\nbroker_port_base = 0\nauthentication = \"none\"\n",
    )
    .expect("config");
    let http = kafka_oidc_proxy::identity::http_client().expect("http client");
    let mut group = c.benchmark_group("apply");
    for (orgs, per_org) in [(1_000, 100), (1, 10_000)] {
        let published = Published::new(
            &config,
            http.clone(),
            TaskTracker::new(),
            CancellationToken::new(),
        );
        let all: Vec<AclBinding> = (0..orgs)
            .flat_map(|o| bindings(&format!("org-{o}"), per_org))
            .collect();
        let shape = format!("{orgs}x{per_org}");
        group.bench_function(BenchmarkId::new("everything", &shape), |b| {
            b.iter_batched(
                || Stored {
                    providers: Vec::new(),
                    acls: all.clone(),
                },
                |stored| published.set_stored(stored).expect("applied"),
                BatchSize::LargeInput,
            )
        });
        let changed = bindings("org-0", per_org + 1);
        group.bench_function(BenchmarkId::new("one_organization", &shape), |b| {
            b.iter_batched(
                || changed.clone(),
                |acls| published.set_stored_acls("org-0", acls),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, apply);
criterion_main!(benches);
