//! What the data plane decides with, published as one immutable [`Snapshot`] (DESIGN.md
//! decision 12): the identity providers and the compiled ACLs, from the configuration file and
//! from what the management API stored.
//!
//! Readers load the current snapshot without a lock, once per request or login, and decide
//! the whole of it with that one. Writers go through [`Publish`]: the configuration file's
//! `[authorization]` at start and on SIGHUP ([`Publish::set_file`]), the management store on
//! every committed change ([`Publish::set_stored`]). A write builds the next snapshot from the
//! sources it keeps and swaps it in whole; writes are serialized, so two never interleave.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::authz::{AclBinding, AclIndex, AuthorizationConfig};
use crate::config::Config;
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
    /// The providers (organization, identifier) that have no signing keys: their tokens are
    /// refused until a fetch succeeds.
    pub fn providers_without_keys(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .filter(|p| !p.jwks.has_keys())
            .map(|p| (p.spec.organization.clone(), p.spec.identifier.clone()))
            .collect()
    }
}

/// What the management store holds, as the data plane takes it.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub providers: Vec<ProviderSpec>,
    pub acls: Vec<AclBinding>,
}

/// The writers' interface to the published state.
pub trait Publish: Send + Sync + 'static {
    /// Replaces the configuration file's ACL bindings and super users (the stored ones
    /// stay). The next request of every connection is decided by the new ones.
    fn set_file(&self, authorization: &AuthorizationConfig) -> Result<(), FieldErrors>;

    /// Makes `stored` (beside the configuration file's) the identity providers and ACL
    /// bindings the data plane decides with.
    fn set_stored(&self, stored: Stored) -> Result<(), FieldErrors>;

    /// The snapshot decided with now.
    fn current(&self) -> Arc<Snapshot>;
}

/// The sources the next snapshot is built from.
#[derive(Default)]
struct Sources {
    file_authorization: AuthorizationConfig,
    stored_acls: Vec<AclBinding>,
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
            stored_acls: Vec::new(),
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
            http,
            tracker,
            shutdown,
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
    let mut authorization = sources.file_authorization.clone();
    authorization
        .acls
        .extend(sources.stored_acls.iter().cloned());
    Snapshot {
        providers,
        acls: Arc::new(authorization.index()),
        file_acls: sources.file_authorization.acls.clone().into(),
    }
}

impl Publish for Published {
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

    /// A provider registered as before keeps its key cache. A new one's tokens authenticate
    /// on the next connection; a removed one's tokens are refused on new connections at once,
    /// and the sessions it authenticated end at their next re-authentication or after
    /// `identity.removed_provider_grace_secs`, whichever comes first. A changed one counts as
    /// removed and added, unless only its client settings changed
    /// ([`Provider::succeeded_by`]): then its sessions go on. FieldErrors (each with its field)
    /// change nothing.
    fn set_stored(&self, stored: Stored) -> Result<(), FieldErrors> {
        let file = &self.file_providers;
        self.stored_problems(&stored.providers).into_result()?;
        let Ok(mut sources) = self.sources.lock() else {
            return Err(FieldErrors::one("store", "state unavailable"));
        };
        let current = self.load().providers.clone();
        let mut kept = Vec::new();
        let mut added = Vec::new();
        let mut succeeded = Vec::new();
        // Identifiers are unique in an organization (checked above): one lookup per spec,
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
        for spec in file.iter().chain(&stored.providers) {
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
        let removed: Vec<Arc<Provider>> = current
            .iter()
            .filter(gone)
            .filter(|p| !succeeded.iter().any(|s| Arc::ptr_eq(s, p)))
            .cloned()
            .collect();
        sources.stored_acls = stored.acls;
        self.install(Arc::new(Providers::new(kept)), &sources);
        drop(sources);
        for p in &succeeded {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, "identity provider changed (client settings only); its sessions go on");
        }
        for p in &added {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, issuer = %p.spec.issuer, "identity provider added");
            self.tracker.spawn(crate::identity::keep_keys_fresh(
                self.shutdown.clone(),
                p.clone(),
            ));
        }
        let grace = self.removed_provider_grace;
        for p in removed {
            tracing::info!(organization = %p.spec.organization, provider = %p.spec.identifier, grace_secs = grace.as_secs(), "identity provider removed; its sessions end at re-authentication or after the grace period");
            let shutdown = self.shutdown.clone();
            self.tracker.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(grace) => p.revoked.cancel(),
                    _ = shutdown.cancelled() => {}
                }
            });
        }
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
}

impl Published {
    /// What keeps the stored providers from being used: the rules of a registration, and a
    /// clash with the file's providers or with each other (the API checks each write; this
    /// guards what two writers may have raced in, or what reached the store around the API).
    fn stored_problems(&self, stored: &[ProviderSpec]) -> FieldErrors {
        let mut names = HashSet::new();
        let mut issuers = HashSet::new();
        for p in &self.file_providers {
            names.insert((p.organization.as_str(), p.identifier.as_str()));
            issuers.insert((p.issuer.as_str(), p.audience.as_str()));
        }
        let mut problems = FieldErrors::default();
        for p in stored {
            let at = format!("store provider {}/{}", p.organization, p.identifier);
            problems.nest(&at, p.problems(&self.plain_http));
            if !names.insert((p.organization.as_str(), p.identifier.as_str())) {
                problems.push(&at, "identifier registered twice");
            }
            if !issuers.insert((p.issuer.as_str(), p.audience.as_str())) {
                problems.push(&at, "issuer and audience registered twice");
            }
        }
        problems
    }
}
