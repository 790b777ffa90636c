//! The memory the data plane's published state holds for its stored ACL bindings: 1,000
//! organizations of 100 bindings each (100,000 in all), and one organization of 10,000 and of
//! 100,000, in the shapes of `cargo bench --bench authz`. Counted by this program's allocator
//! (bytes allocated and not freed from making the bindings to their apply, so the bindings'
//! own text included), so that the figure is the state's own, not the process's.
//!
//! Then the same 1,000 organizations of 100 read from an SQLite store by the management API
//! (`Api::sync`, as a proxy starts): what the API keeps of them (ids beside the bindings) and
//! the data plane's state together.
//!
//! Then what a Metadata response of 10,000 topics × 6 partitions costs in memory on its way
//! through the proxy, as `cargo bench --bench codec` times it: the address rewrite (at the
//! byte level, and decoded and encoded) and the ACL filter of a listing by a caller who may
//! describe half of the topics.
//! Reported: the bytes allocated during the call in all (most of them freed before it
//! returns) and the size of the body the client gets.
//!
//!   cargo bench --bench memory

use std::alloc::System;
use std::sync::Arc;

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
        let all: Vec<Arc<AclBinding>> = (0..orgs)
            .flat_map(|o| common::acls::shaped(&format!("org-{o}"), per_org))
            .map(Arc::new)
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

    read_by_the_api(1_000, 100);

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
        mib(rewritten)
    );
    let region = Region::new(ALLOCATOR);
    let rewritten = common::metadata::rewrite_decoded(&body);
    let allocated = region.change().bytes_allocated;
    println!(
        "{:<52} {:>16.1} {:>16.1}",
        "the same, decoded and encoded",
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

/// What the management API and the data plane hold together once the API has read `orgs`
/// organizations of `per_org` bindings from a fresh SQLite store and applied them.
fn read_by_the_api(orgs: usize, per_org: usize) {
    use kafka_oidc_proxy::management::Api;
    use kafka_oidc_proxy::store::{Store, StoredAcl};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = common::Scratch::new("kop-memory");
    rt.block_on(async {
        let store_url = format!("sqlite://{}/store.db", dir.display());
        let store = Store::open(&store_url).await.expect("store");
        for o in 0..orgs {
            let rows: Vec<StoredAcl> = common::acls::shaped(&format!("org-{o}"), per_org)
                .iter()
                .map(|b| StoredAcl::new(b, 1_765_000_000_000_000 + o as i64))
                .collect();
            store.create_acls(&rows).await.expect("stored");
        }
        let text = format!(
            "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\n\
             [[listeners]]\nname = \"l\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"h\"\n\
             bootstrap_port = 0\nbroker_port_base = 0\nauthentication = \"none\"\n\
             [management]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = {store_url:?}\n"
        );
        let config = kafka_oidc_proxy::config::Config::parse(&text).expect("config");
        let management = config.management.clone().expect("management");
        let published: Arc<dyn Publish> = Arc::new(common::acls::published());
        let http = kafka_oidc_proxy::identity::http_client().expect("http client");
        let region = Region::new(ALLOCATOR);
        let api = Api::new(&config, &management, store, published.clone(), http);
        assert!(api.sync().await.expect("read"), "applied");
        let change = region.change();
        let held = change.bytes_allocated as i64 - change.bytes_deallocated as i64
            + change.bytes_reallocated as i64;
        let n = (orgs * per_org) as i64;
        assert_eq!(published.current().acls.len(), n as usize);
        println!(
            "{:<28} {:>10.1} {:>18}",
            format!("read by the API, {orgs} x {per_org}"),
            held as f64 / f64::from(1 << 20),
            held / n
        );
        drop(api);
    });
}
