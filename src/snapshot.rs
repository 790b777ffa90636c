//! What the data plane decides with, published as one immutable [`Snapshot`] (DESIGN.md
//! decision 12): the identity providers and the compiled ACLs, from the configuration file and
//! from what the management API stored; and the virtual clusters, which the proxy follows by
//! opening and closing their endpoints ([`Published::clusters`]).
//!
//! Readers load the current snapshot without a lock, once per request or login, and decide
//! the whole of it with that one. Writers go through [`Publish`]: the configuration file's
//! `[authorization]` at start and on SIGHUP ([`Publish::set_file`]), the management store on
//! every committed change ([`Publish::set_stored`], or [`Publish::set_stored_acls`] for one
//! organization's bindings and [`Publish::change_stored_acls`] for a change to them). A write
//! builds the next snapshot from the sources it keeps and swaps it in whole, recompiling only
//! the organizations it touches, or only the part of one that a change touches; writes are
//! serialized, so two never interleave.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::authz::{AclBinding, AclIndex, AuthorizationConfig, OrgIndex};
use crate::config::{Config, VirtualCluster};
use crate::field_errors::FieldErrors;
use crate::identity::{PlainHttp, Provider, ProviderSpec, Providers};

/// What the data plane decides with at one moment; replaced whole on every change.
#[derive(Default)]
pub struct Snapshot {
    /// Every identity provider, the file's and the stored ones.
    pub providers: Arc<Providers>,
    /// The file's and the stored ACL bindings and super users, compiled.
    pub acls: Arc<AclIndex>,
    /// The configuration file's bindings as they are now (they change on a reload): the
    /// management API lists them read-only.
    pub file_acls: Arc<[AclBinding]>,
}

impl Snapshot {
    /// The providers that have no signing keys, as `organization/identifier`, each with
    /// whether `file` (the configuration file's providers, the platform's own) holds it:
    /// their tokens are refused until a fetch succeeds.
    pub fn providers_without_keys(&self, file: &[ProviderSpec]) -> Vec<(String, bool)> {
        self.providers
            .iter()
            .filter(|p| !p.jwks.has_keys())
            .map(|p| {
                let (organization, identifier) = (&p.spec.organization, &p.spec.identifier);
                let from_file = file
                    .iter()
                    .any(|f| &f.organization == organization && &f.identifier == identifier);
                (format!("{organization}/{identifier}"), from_file)
            })
            .collect()
    }
}

/// What the management store holds, as the data plane takes it.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub providers: Vec<ProviderSpec>,
    /// Shared with whoever read them from the store (the management API keeps the same).
    pub acls: Vec<Arc<AclBinding>>,
}

/// The writers' interface to the published state.
pub trait Publish: Send + Sync + 'static {
    /// Replaces the configuration file's ACL bindings and super users (the stored ones
    /// stay). The next request of every connection is decided by the new ones.
    fn set_file(&self, authorization: &AuthorizationConfig) -> Result<(), FieldErrors>;

    /// Makes `stored` (beside the configuration file's) the identity providers and ACL
    /// bindings the data plane decides with.
    fn set_stored(&self, stored: Stored) -> Result<(), FieldErrors>;

    /// Makes `providers` the stored identity providers; the ACL bindings stay as they are,
    /// compiled, whatever their number.
    fn set_stored_providers(&self, providers: Vec<ProviderSpec>) -> Result<(), FieldErrors>;

    /// Makes `acls` the stored ACL bindings of `organization` (all of them, each of that
    /// organization); everything else stays as it is. Costs what the organization holds, not
    /// what all of them do.
    fn set_stored_acls(&self, organization: &str, acls: Vec<Arc<AclBinding>>);

    /// Removes `removed` from the stored ACL bindings of `organization` (one equal binding
    /// each) and adds `added` (each of that organization); everything else stays as it is.
    /// Costs what the change touches, not what the organization holds.
    fn change_stored_acls(
        &self,
        organization: &str,
        added: Vec<Arc<AclBinding>>,
        removed: Vec<AclBinding>,
    );

    /// Makes `clusters` the stored virtual clusters (beside the configuration file's): the
    /// proxy opens the new ones and closes those gone or changed, with their connections.
    fn set_stored_clusters(&self, clusters: Vec<VirtualCluster>);

    /// Resolves once the proxy has opened and closed what the virtual clusters published so
    /// far ask for.
    fn clusters_open(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

    /// The snapshot decided with now.
    fn current(&self) -> Arc<Snapshot>;
}

/// The sources the next snapshot is built from.
#[derive(Default)]
struct Sources {
    file_authorization: AuthorizationConfig,
    /// The stored bindings, by organization, shared with the compiled index.
    stored_acls: HashMap<String, Vec<Arc<AclBinding>>>,
}

impl Sources {
    /// One organization's bindings and super users, the file's first, compiled.
    fn organization(&self, organization: &str) -> OrgIndex {
        let file = &self.file_authorization;
        let bindings = file
            .acls
            .iter()
            .filter(|b| b.organization == organization)
            .cloned()
            .map(Arc::new)
            .chain(
                self.stored_acls
                    .get(organization)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        let super_users = file
            .super_users
            .get(organization)
            .cloned()
            .unwrap_or_default();
        OrgIndex::new(bindings, super_users)
    }
}

/// The published state of one proxy instance.
pub struct Published {
    current: ArcSwap<Snapshot>,
    /// Held while a snapshot is built and swapped in.
    sources: Mutex<Sources>,
    file_providers: Vec<ProviderSpec>,
    /// Which provider URLs may be plain http.
    plain_http: PlainHttp,
    removed_provider_grace: Duration,
    /// The virtual clusters, the configuration file's then the stored ones, with a
    /// generation that counts their changes.
    clusters: tokio::sync::watch::Sender<(u64, Arc<[VirtualCluster]>)>,
    /// The generation of the virtual clusters the proxy has opened and closed.
    clusters_opened: tokio::sync::watch::Sender<u64>,
    /// Where they come from: the configuration file's, and the stored ones.
    cluster_sources: Mutex<(Vec<VirtualCluster>, Vec<VirtualCluster>)>,
    /// Fetches the providers' keys.
    http: reqwest::Client,
    /// Where the providers' background tasks run, and what ends them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Published {
    /// The state of the configuration file alone; each provider starts fetching its keys on
    /// `tracker` until `shutdown`.
    pub fn new(
        config: &Config,
        http: reqwest::Client,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let providers = Providers::from_specs(&config.identity.providers, &http);
        for provider in providers.iter() {
            tracker.spawn(crate::identity::keep_keys_fresh(
                shutdown.clone(),
                provider.clone(),
            ));
        }
        let sources = Sources {
            file_authorization: config.authorization.clone(),
            stored_acls: HashMap::new(),
        };
        let first = build(Arc::new(providers), &sources);
        Self {
            current: ArcSwap::from_pointee(first),
            sources: Mutex::new(sources),
            file_providers: config.identity.providers.clone(),
            plain_http: config.identity.plain_http(),
            removed_provider_grace: Duration::from_secs(
                config.identity.removed_provider_grace_secs,
            ),
            clusters: tokio::sync::watch::Sender::new((0, config.clusters.clone().into())),
            clusters_opened: tokio::sync::watch::Sender::new(0),
            cluster_sources: Mutex::new((config.clusters.clone(), Vec::new())),
            http,
            tracker,
            shutdown,
        }
    }

    /// The virtual clusters now, and each change to them, with their generation.
    pub fn clusters(&self) -> tokio::sync::watch::Receiver<(u64, Arc<[VirtualCluster]>)> {
        self.clusters.subscribe()
    }

    /// Tells those waiting in [`Publish::clusters_open`] that the virtual clusters of
    /// `generation` are open (or failed to open, and were logged).
    pub fn clusters_opened(&self, generation: u64) {
        self.clusters_opened.send_replace(generation);
    }

    /// Makes `clusters` the configuration file's virtual clusters; the caller has checked
    /// them against the listeners and upstream clusters the proxy runs with.
    pub fn set_file_clusters(&self, clusters: Vec<VirtualCluster>) {
        self.publish_clusters(|sources| sources.0 = clusters);
    }

    /// Changes a source of the virtual clusters and publishes them all if that changed them.
    fn publish_clusters(
        &self,
        change: impl FnOnce(&mut (Vec<VirtualCluster>, Vec<VirtualCluster>)),
    ) {
        let Ok(mut sources) = self.cluster_sources.lock() else {
            return;
        };
        change(&mut sources);
        let all: Vec<_> = sources.0.iter().chain(&sources.1).cloned().collect();
        let (file, stored) = (sources.0.len(), sources.1.len());
        let changed = self.clusters.send_if_modified(|(generation, now)| {
            let changed = now[..] != all[..];
            if changed {
                *generation += 1;
                *now = all.into();
            }
            changed
        });
        if changed {
            tracing::info!(file, stored, "virtual clusters replaced");
        }
    }

    /// The current snapshot, without a lock and without touching its reference count; keep
    /// the guard only for the decision at hand (never across an `.await`).
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    fn install(&self, providers: Arc<Providers>, sources: &Sources) {
        self.current.store(Arc::new(build(providers, sources)));
    }
}

fn build(providers: Arc<Providers>, sources: &Sources) -> Snapshot {
    let file = &sources.file_authorization;
    let bindings = file.acls.iter().cloned().map(Arc::new);
    let stored = sources.stored_acls.values().flatten().cloned();
    Snapshot {
        providers,
        acls: Arc::new(AclIndex::new(bindings.chain(stored), &file.super_users)),
        file_acls: file.acls.clone().into(),
    }
}

impl Publish for Published {
    fn set_stored_clusters(&self, clusters: Vec<VirtualCluster>) {
        self.publish_clusters(|sources| sources.1 = clusters);
    }

    fn clusters_open(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let published = self.clusters.borrow().0;
        let mut opened = self.clusters_opened.subscribe();
        Box::pin(async move {
            let _ = opened.wait_for(|g| *g >= published).await;
        })
    }

    /// A section with problems (each with its field) changes nothing.
    fn set_file(&self, authorization: &AuthorizationConfig) -> Result<(), FieldErrors> {
        let organizations: BTreeSet<&str> = self
            .file_providers
            .iter()
            .map(|p| p.organization.as_str())
            .collect();
        authorization.problems(&organizations).into_result()?;
        let Ok(mut sources) = self.sources.lock() else {
            return Err(FieldErrors::one("authorization", "state unavailable"));
        };
        sources.file_authorization = authorization.clone();
        self.install(self.load().providers.clone(), &sources);
        tracing::info!(
            bindings = authorization.acls.len(),
            "authorization replaced"
        );
        Ok(())
    }

    /// The providers change as [`Published::providers_change`] says; FieldErrors (each with
    /// its field) change nothing.
    fn set_stored(&self, stored: Stored) -> Result<(), FieldErrors> {
        self.stored_problems(&stored.providers).into_result()?;
        let Ok(mut sources) = self.sources.lock() else {
            return Err(FieldErrors::one("store", "state unavailable"));
        };
        let mut change = self.providers_change(&stored.providers);
        let mut by_organization: HashMap<String, Vec<Arc<AclBinding>>> = HashMap::new();
        for b in stored.acls {
            match by_organization.get_mut(&b.organization) {
                Some(org) => org.push(b),
                None => {
                    by_organization.insert(b.organization.clone(), vec![b]);
                }
            }
        }
        sources.stored_acls = by_organization;
        self.install(
            Arc::new(Providers::new(std::mem::take(&mut change.kept))),
            &sources,
        );
        drop(sources);
        self.announce(change);
        Ok(())
    }

    /// As [`Publish::set_stored`], the compiled bindings kept as they are.
    fn set_stored_providers(&self, providers: Vec<ProviderSpec>) -> Result<(), FieldErrors> {
        self.stored_problems(&providers).into_result()?;
        let Ok(writing) = self.sources.lock() else {
            return Err(FieldErrors::one("store", "state unavailable"));
        };
        let mut change = self.providers_change(&providers);
        let current = self.load();
        let next = Snapshot {
            providers: Arc::new(Providers::new(std::mem::take(&mut change.kept))),
            acls: current.acls.clone(),
            file_acls: current.file_acls.clone(),
        };
        self.current.store(Arc::new(next));
        drop(writing);
        self.announce(change);
        Ok(())
    }

    fn set_stored_acls(&self, organization: &str, acls: Vec<Arc<AclBinding>>) {
        // A poisoned lock means a writer panicked mid-build; the snapshot it left is whole.
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if acls.is_empty() {
            sources.stored_acls.remove(organization);
        } else {
            sources.stored_acls.insert(organization.to_owned(), acls);
        }
        let org = sources.organization(organization);
        self.publish_organization(organization, org);
    }

    fn change_stored_acls(
        &self,
        organization: &str,
        added: Vec<Arc<AclBinding>>,
        removed: Vec<AclBinding>,
    ) {
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = sources
            .stored_acls
            .entry(organization.to_owned())
            .or_default();
        for b in &removed {
            if let Some(at) = stored.iter().position(|s| **s == *b) {
                stored.remove(at);
            }
        }
        stored.extend(added.iter().cloned());
        if stored.is_empty() {
            sources.stored_acls.remove(organization);
        }
        let org = match self.load().acls.organization(organization) {
            Some(org) => org.changed(&added, &removed),
            None => sources.organization(organization),
        };
        self.publish_organization(organization, org);
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
}

/// What replacing the stored providers does to the current ones.
struct ProvidersChange {
    /// The providers from now on: the file's, then the stored ones, each the current
    /// provider where it is registered as before (taken when they are published).
    kept: Vec<Arc<Provider>>,
    /// New ones, whose keys must be fetched.
    added: Vec<Arc<Provider>>,
    /// Changed in their client settings only: their successors keep their sessions.
    succeeded: Vec<Arc<Provider>>,
    /// Gone: their sessions end after the grace period.
    removed: Vec<Arc<Provider>>,
}

impl Published {
    /// Publishes the current snapshot with `organization`'s compiled part replaced by `org`.
    /// Called with the sources' lock held.
    fn publish_organization(&self, organization: &str, org: OrgIndex) {
        let current = self.load();
        let next = Snapshot {
            providers: current.providers.clone(),
            acls: Arc::new(current.acls.with_organization(organization, org)),
            file_acls: current.file_acls.clone(),
        };
        self.current.store(Arc::new(next));
    }

    /// A provider registered as before keeps its key cache. A new one's tokens authenticate
    /// on the next connection; a removed one's tokens are refused on new connections at once,
    /// and the sessions it authenticated end at their next re-authentication or after
    /// `identity.removed_provider_grace_secs`, whichever comes first. A changed one counts as
    /// removed and added, unless only its client settings changed
    /// ([`Provider::succeeded_by`]): then its sessions go on. Called with the sources' lock
    /// held; the retired providers' key loops stop here.
    fn providers_change(&self, stored: &[ProviderSpec]) -> ProvidersChange {
        let current = self.load().providers.clone();
        let mut kept = Vec::new();
        let mut added = Vec::new();
        let mut succeeded = Vec::new();
        // Identifiers are unique in an organization (checked before): one lookup per spec,
        // so that a change costs the same with 10 providers as with thousands.
        let by_name: HashMap<(&str, &str), &Arc<Provider>> = current
            .iter()
            .map(|p| {
                (
                    (p.spec.organization.as_str(), p.spec.identifier.as_str()),
                    p,
                )
            })
            .collect();
        for spec in self.file_providers.iter().chain(stored) {
            let same_name = by_name
                .get(&(spec.organization.as_str(), spec.identifier.as_str()))
                .copied();
            if let Some(p) = same_name.filter(|p| p.is_registered_as(spec)) {
                kept.push(p.clone());
                continue;
            }
            let predecessor = same_name.and_then(|p| Some((p.clone(), p.succeeded_by(spec)?)));
            let p = match predecessor {
                Some((old, next)) => {
                    succeeded.push(old);
                    Arc::new(next)
                }
                None => Arc::new(Provider::new(spec.clone(), self.http.clone())),
            };
            added.push(p.clone());
            kept.push(p);
        }
        let kept_ptrs: HashSet<*const Provider> = kept.iter().map(Arc::as_ptr).collect();
        let gone = |p: &&Arc<Provider>| !kept_ptrs.contains(&Arc::as_ptr(p));
        for p in current.iter().filter(gone) {
            // A succeeded provider's keys loop stops; its successor runs its own.
            p.retired.cancel();
        }
        let removed = current
            .iter()
            .filter(gone)
            .filter(|p| !succeeded.iter().any(|s| Arc::ptr_eq(s, p)))
            .cloned()
            .collect();
        ProvidersChange {
            kept,
            added,
            succeeded,
            removed,
        }
    }

    /// Logs a change of the providers once it is published, starts the new ones' key loops
    /// and ends the removed ones' sessions after the grace period.
    fn announce(&self, change: ProvidersChange) {
        for p in &change.succeeded {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, "identity provider changed (client settings only); its sessions go on");
        }
        for p in &change.added {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, issuer = %p.spec.issuer, "identity provider added");
            self.tracker.spawn(crate::identity::keep_keys_fresh(
                self.shutdown.clone(),
                p.clone(),
            ));
        }
        let grace = self.removed_provider_grace;
        for p in change.removed {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, grace_secs = grace.as_secs(), "identity provider removed; its sessions end at re-authentication or after the grace period");
            let shutdown = self.shutdown.clone();
            self.tracker.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => p.revoked.cancel(),
                    _ = shutdown.cancelled() => {}
                }
            });
        }
    }

    /// What keeps the stored providers from being used: the rules of a registration, and a
    /// clash with the file's providers or with each other (the API checks each write; this
    /// guards what two writers may have raced in, or what reached the store around the API).
    fn stored_problems(&self, stored: &[ProviderSpec]) -> FieldErrors {
        let mut names = HashSet::new();
        let mut issuers = HashSet::new();
        for p in &self.file_providers {
            names.insert((p.organization.as_str(), p.identifier.as_str()));
            issuers.insert((
                p.organization.as_str(),
                p.issuer.as_str(),
                p.audience.as_str(),
            ));
        }
        let mut problems = FieldErrors::default();
        for p in stored {
            let at = format!("store provider {}/{}", p.organization, p.identifier);
            problems.nest(&at, p.problems(&self.plain_http));
            if !names.insert((p.organization.as_str(), p.identifier.as_str())) {
                problems.push(&at, "identifier registered twice");
            }
            if !issuers.insert((
                p.organization.as_str(),
                p.issuer.as_str(),
                p.audience.as_str(),
            )) {
                problems.push(&at, "issuer and audience registered twice");
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::authz::{Operation, ResourceType, Subject};

    fn binding(org: &str, principal: &str, topic: &str) -> AclBinding {
        AclBinding {
            organization: org.into(),
            principal: principal.parse().expect("principal"),
            host: Default::default(),
            resource_type: ResourceType::Topic,
            resource_name: topic.into(),
            pattern_type: "LITERAL".parse().expect("pattern"),
            operation: Operation::Write,
            permission: "ALLOW".parse().expect("permission"),
        }
    }

    /// The published state of a configuration with one listener and `extra` (TOML); the
    /// providers' key loops are stopped at once.
    fn published(extra: &str) -> Published {
        let text = format!(
            "[upstream]\nbootstrap_servers = [\"127.0.0.1:9\"]\n\
             [[listeners]]\nname = \"l\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"h\"\n\
             bootstrap_port = 0\nbroker_port_base = 0\nauthentication = \"none\"\n{extra}"
        );
        let config = Config::parse(&text).expect("config");
        let shutdown = CancellationToken::new();
        let http = crate::identity::http_client().expect("http client");
        let published = Published::new(&config, http, TaskTracker::new(), shutdown.clone());
        shutdown.cancel();
        published
    }

    /// May `user` of `org` write `topic` by the published snapshot?
    fn may_write(published: &Published, org: &str, user: &str, topic: &str) -> bool {
        let who = Subject {
            organization: org,
            user,
            groups: &[],
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let snapshot = published.load();
        let decision = snapshot
            .acls
            .decide(&who, Operation::Write, ResourceType::Topic, topic);
        decision.allowed
    }

    /// Replacing one organization's stored bindings keeps its file bindings and super users
    /// and every other organization's bindings.
    #[tokio::test]
    async fn one_organization_is_replaced_and_nothing_else() {
        let provider = |org: &str| {
            format!(
                "[[identity.providers]]\norganization = \"{org}\"\nidentifier = \"idp\"\n\
                 issuer = \"https://{org}.example.com\"\naudience = \"kafka\"\n"
            )
        };
        let published = published(&format!(
            "{}{}[authorization.super_users]\nacme = [\"User:root\"]\n\
             [[authorization.acls]]\norganization = \"acme\"\nprincipal = \"User:file\"\n\
             resource_type = \"TOPIC\"\nresource_name = \"f\"\noperation = \"WRITE\"\npermission = \"ALLOW\"\n",
            provider("acme"),
            provider("globex"),
        ));
        let stored = Stored {
            providers: Vec::new(),
            acls: vec![
                binding("acme", "User:old", "o").into(),
                binding("globex", "User:g", "g").into(),
            ],
        };
        published.set_stored(stored).expect("applied");
        assert!(may_write(&published, "acme", "old", "o"));

        published.set_stored_acls("acme", vec![binding("acme", "User:new", "n").into()]);
        assert!(!may_write(&published, "acme", "old", "o"), "replaced");
        assert!(may_write(&published, "acme", "new", "n"));
        assert!(
            may_write(&published, "acme", "file", "f"),
            "the file's binding"
        );
        assert!(
            may_write(&published, "acme", "root", "x"),
            "the file's super user"
        );
        assert!(
            may_write(&published, "globex", "g", "g"),
            "another organization"
        );

        published.set_stored_acls("acme", Vec::new());
        assert!(!may_write(&published, "acme", "new", "n"));
        assert!(may_write(&published, "acme", "file", "f"));
        assert_eq!(published.load().acls.len(), 2);
    }

    /// A change to one organization's stored bindings is made to its compiled part, beside
    /// its file bindings, and the sources a later rebuild starts from follow it.
    #[tokio::test]
    async fn a_change_to_one_organization_is_made_where_it_lands() {
        let published = published(
            "[[identity.providers]]\norganization = \"acme\"\nidentifier = \"idp\"\n\
             issuer = \"https://acme.example.com\"\naudience = \"kafka\"\n\
             [[authorization.acls]]\norganization = \"acme\"\nprincipal = \"User:file\"\n\
             resource_type = \"TOPIC\"\nresource_name = \"f\"\noperation = \"WRITE\"\npermission = \"ALLOW\"\n",
        );
        let globex = published.load().acls.organization("globex").is_some();
        assert!(!globex, "no part for an organization without bindings");
        published.change_stored_acls(
            "globex",
            vec![binding("globex", "User:g", "g").into()],
            Vec::new(),
        );
        assert!(
            may_write(&published, "globex", "g", "g"),
            "a new organization's part"
        );
        published.change_stored_acls(
            "acme",
            vec![binding("acme", "User:a", "a").into()],
            Vec::new(),
        );
        assert!(may_write(&published, "acme", "a", "a"));
        assert!(may_write(&published, "acme", "file", "f"));
        // A stored binding equal to the file's: removing it leaves one of the two.
        let same = binding("acme", "User:file", "f");
        published.change_stored_acls("acme", vec![same.clone().into()], Vec::new());
        assert_eq!(published.load().acls.len(), 4);
        published.change_stored_acls("acme", Vec::new(), vec![same]);
        assert!(
            may_write(&published, "acme", "file", "f"),
            "the file's stays"
        );
        published.change_stored_acls("acme", Vec::new(), vec![binding("acme", "User:a", "a")]);
        assert!(!may_write(&published, "acme", "a", "a"), "removed");
        assert_eq!(published.load().acls.len(), 2);
        // A reload of the file rebuilds from the sources, which followed each change.
        let file = published.load().file_acls.clone();
        let authorization = AuthorizationConfig {
            acls: file.to_vec(),
            ..AuthorizationConfig::default()
        };
        published.set_file(&authorization).expect("applied");
        assert_eq!(published.load().acls.len(), 2);
        assert!(may_write(&published, "globex", "g", "g"));
        assert!(!may_write(&published, "acme", "a", "a"));
    }

    /// Replacing the stored providers keeps the compiled bindings as they are.
    #[tokio::test]
    async fn providers_are_replaced_without_recompiling_bindings() {
        let published = published("");
        let stored = Stored {
            providers: Vec::new(),
            acls: vec![binding("acme", "User:a", "t").into()],
        };
        published.set_stored(stored).expect("applied");
        let before = published.load().acls.clone();
        let spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "organization": "acme", "identifier": "idp", "issuer": "https://acme.example.com",
            "jwks_endpoint_uri": "https://acme.example.com/jwks", "audience": "kafka",
        }))
        .expect("spec");
        published.set_stored_providers(vec![spec]).expect("applied");
        let after = published.load();
        assert!(Arc::ptr_eq(&before, &after.acls));
        assert_eq!(after.providers.iter().count(), 1);
        assert!(may_write(&published, "acme", "a", "t"));
    }
}
