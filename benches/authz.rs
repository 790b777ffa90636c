//! What one authorization decision costs with 10, 1,000 and 10,000 bindings in the
//! organization (plus as many again in another one): a user with three groups asking to WRITE a
//! topic that a PREFIXED group binding allows, and to READ one that nothing allows.
//!
//! And what applying the stored bindings to the data plane costs (`apply/*`): the whole
//! snapshot (`everything`, what a proxy does when it reads the store back) against one
//! organization's part (`one_organization`, what it does after its own change to that
//! organization, one binding added), with 1,000 organizations of 100 bindings each and with
//! one organization of 10,000; and (`one_binding`) one binding added to and removed from that
//! organization's compiled part again, as after this proxy's own change. (`cargo bench --bench
//! memory` measures the memory the published state holds in the same shapes.)
//!
//!   cargo bench --bench authz

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use kafka_oidc_proxy::authz::{
    AclBinding, AclIndex, Host, Operation, PatternType, Permission, ResourceType, Subject,
};
use kafka_oidc_proxy::snapshot::{Publish, Stored};

#[path = "../tests/common/mod.rs"]
mod common;

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for n in [10, 1_000, 10_000] {
        let mut all = common::acls::shaped("acme", n);
        all.extend(common::acls::shaped("globex", n));
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
        let index = AclIndex::new(all.into_iter().map(std::sync::Arc::new), &BTreeMap::new());
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
    let mut group = c.benchmark_group("apply");
    for (orgs, per_org) in [(1_000, 100), (1, 10_000)] {
        let published = common::acls::published();
        let all: Vec<Arc<AclBinding>> = (0..orgs)
            .flat_map(|o| common::acls::shaped(&format!("org-{o}"), per_org))
            .map(Arc::new)
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
        let changed: Vec<Arc<AclBinding>> = common::acls::shaped("org-0", per_org + 1)
            .into_iter()
            .map(Arc::new)
            .collect();
        group.bench_function(BenchmarkId::new("one_organization", &shape), |b| {
            b.iter_batched(
                || changed.clone(),
                |acls| published.set_stored_acls("org-0", acls),
                BatchSize::LargeInput,
            )
        });
        // One binding added and the same one removed again: the API's own change to an
        // organization, as made to the compiled part that holds it.
        let one = Arc::new(
            common::acls::shaped("org-0", per_org + 1)
                .pop()
                .expect("one"),
        );
        group.bench_function(BenchmarkId::new("one_binding", &shape), |b| {
            b.iter(|| {
                published.change_stored_acls("org-0", vec![one.clone()], Vec::new());
                published.change_stored_acls("org-0", Vec::new(), vec![AclBinding::clone(&one)]);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, apply);
criterion_main!(benches);
