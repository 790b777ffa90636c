//! The memory the data plane's published state holds for its stored ACL bindings: 1,000
//! organizations of 100 bindings each (100,000 in all), and one organization of 10,000 and of
//! 100,000, in the shapes of `cargo bench --bench authz`. Counted by this program's allocator
//! (bytes allocated and not freed from making the bindings to their apply, so the bindings'
//! own text included), so that the figure is the state's own, not the process's.
//!
//! Then what a Metadata response of 10,000 topics × 6 partitions costs in memory on its way
//! through the proxy, as `cargo bench --bench codec` times it: the address rewrite (decode,
//! encode) and the ACL filter of a listing by a caller who may describe half of the topics.
//! Reported: the bytes allocated during the call in all (most of them freed before it
//! returns) and the size of the body the client gets.
//!
//!   cargo bench --bench memory

use std::alloc::System;

use kafka_oidc_proxy::authz::AclBinding;
use kafka_oidc_proxy::snapshot::{Publish, Stored};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[path = "../tests/common/mod.rs"]
mod common;

/// The system allocator, counting what is allocated and freed.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    println!(
        "{:<28} {:>10} {:>18}",
        "stored bindings", "MiB", "bytes per binding"
    );
    for (orgs, per_org) in [(1_000, 100), (1, 10_000), (1, 100_000)] {
        let published = common::acls::published();
        let region = Region::new(ALLOCATOR);
        let all: Vec<AclBinding> = (0..orgs)
            .flat_map(|o| common::acls::shaped(&format!("org-{o}"), per_org))
            .collect();
        let n = all.len();
        let stored = Stored {
            providers: Vec::new(),
            acls: all,
        };
        published.set_stored(stored).expect("applied");
        let change = region.change();
        let held = change.bytes_allocated as i64 - change.bytes_deallocated as i64
            + change.bytes_reallocated as i64;
        println!(
            "{:<28} {:>10.1} {:>18}",
            format!("{orgs} organizations x {per_org}"),
            held as f64 / f64::from(1 << 20),
            held / n as i64
        );
    }

    let body = common::metadata::half_allowed(10_000);
    let listing = common::metadata::listing();
    println!(
        "\n{:<52} {:>16} {:>16}",
        "Metadata response, 10,000 topics x 6 partitions", "allocated MiB", "answer MiB"
    );
    let mib = |bytes: usize| bytes as f64 / f64::from(1 << 20);
    let region = Region::new(ALLOCATOR);
    let rewritten = common::metadata::rewrite(&body);
    let allocated = region.change().bytes_allocated;
    println!(
        "{:<52} {:>16.1} {:>16.1}",
        format!(
            "the address rewrite (the broker's answer: {:.1} MiB)",
            mib(body.len())
        ),
        mib(allocated),
        mib(rewritten.len())
    );
    let region = Region::new(ALLOCATOR);
    let filtered = kafka_oidc_proxy::proxy::fuzzing::request(&listing, &body).expect("filtered");
    let allocated = region.change().bytes_allocated;
    println!(
        "{:<52} {:>16.1} {:>16.1}",
        "the ACL filter of a listing, half of it allowed",
        mib(allocated),
        mib(filtered.len())
    );
}
