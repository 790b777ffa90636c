//! The management API's store: identity providers and ACL bindings per organization, in an
//! embedded SQLite file (the default) or PostgreSQL, through sqlx's `Any` driver so that one
//! set of queries serves both. Migrations (`migrations/`) run when the store opens; every
//! committed change bumps a revision that proxies sharing the store poll, and on PostgreSQL
//! notifies them ([`Store::changes`]).
//!
//! Columns are portable types only: text, 64-bit integers (booleans 0/1, times in
//! microseconds since the Unix epoch, UTC).

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Row};
use tokio_util::sync::{CancellationToken, DropGuard};

mod clusters;
pub mod secrets;

pub use clusters::{Clash, StoredCluster};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The change would break a uniqueness rule; `field` names the field at fault.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The store's location is unusable.
    #[error("{0}")]
    Location(String),
    /// A client secret cannot be sealed or opened.
    #[error("{context}: {source}")]
    Secret {
        /// Which row, or what was being done.
        context: String,
        /// Why.
        source: secrets::SecretError,
    },
}

/// The migrations, in order, compiled in.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "management",
        include_str!("../../migrations/0001_management.sql"),
    ),
    (
        2,
        "list order",
        include_str!("../../migrations/0002_list_order.sql"),
    ),
    (
        3,
        "revisions",
        include_str!("../../migrations/0003_revisions.sql"),
    ),
    (
        4,
        "unique acl bindings",
        include_str!("../../migrations/0004_unique_acl_bindings.sql"),
    ),
    (
        5,
        "acl filters",
        include_str!("../../migrations/0005_acl_filters.sql"),
    ),
    (
        6,
        "change log",
        include_str!("../../migrations/0006_change_log.sql"),
    ),
    (
        7,
        "changed rows",
        include_str!("../../migrations/0007_changed_rows.sql"),
    ),
    (
        8,
        "virtual clusters",
        include_str!("../../migrations/0008_virtual_clusters.sql"),
    ),
    (
        9,
        "issuer per organization",
        include_str!("../../migrations/0009_issuer_per_organization.sql"),
    ),
];

/// A write of at most this many bindings logs each of them (`store_changed_rows`).
const LOGGED_ROWS: usize = 100;

/// How many store revisions the change log keeps (about: it is pruned every 100).
const CHANGE_LOG_REVISIONS: i64 = 10_000;

/// A row's place in list order (creation time, then id): where the next page of a list starts,
/// so that it is read from an index instead of counting past every row before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub created_at: i64,
    pub id: String,
}

impl Position {
    /// As a list's `after` query parameter carries it: `<created_at>:<id>`.
    pub fn to_param(&self) -> String {
        format!("{}:{}", self.created_at, self.id)
    }

    /// The position a list's `after` parameter names, if it is one.
    pub fn from_param(param: &str) -> Option<Self> {
        let (created_at, id) = param.split_once(':')?;
        let created_at = created_at.parse().ok()?;
        (!id.is_empty()).then(|| Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// The SQL condition "after `position`" over columns created_at and id, its placeholders
/// numbered from `first` (two of them), or none: in the form each database answers with a
/// range scan of the list-order index (measured: PostgreSQL's planner does so for a row-value
/// comparison and not for the OR, SQLite's the other way round).
fn after_condition(backend: Backend, position: Option<&Position>, first: usize) -> String {
    let second = first + 1;
    match (position, backend) {
        (None, _) => String::new(),
        (Some(_), Backend::Postgres) => format!(" AND (created_at, id) > (${first}, ${second})"),
        (Some(_), Backend::Sqlite) => {
            format!(" AND (created_at > ${first} OR (created_at = ${first} AND id > ${second}))")
        }
    }
}

/// The organizations whose providers, bindings and virtual clusters some writes changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changed {
    pub providers: std::collections::BTreeSet<String>,
    pub clusters: std::collections::BTreeSet<String>,
    pub acls: std::collections::BTreeSet<String>,
    /// Of those in `acls`, the ones every write logged the bindings of: the ids of the
    /// bindings created or deleted (a created one may have been deleted since).
    pub acl_rows: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// What a write changes, for the revision it bumps beside the store's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Providers,
    Acls,
    Clusters,
}

impl Kind {
    fn revision_id(self) -> i64 {
        match self {
            Kind::Providers => 2,
            Kind::Acls => 3,
            Kind::Clusters => 4,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Kind::Providers => "oauth_providers",
            Kind::Acls => "acl_bindings",
            Kind::Clusters => "virtual_clusters",
        }
    }
}

/// The store's revisions: of everything, and of each kind of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revisions {
    pub all: i64,
    pub providers: i64,
    pub acls: i64,
    pub clusters: i64,
}

/// The revisions one committed write made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Of everything.
    pub all: i64,
    /// Of the kind of content written.
    pub of_kind: i64,
}

#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<
        Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send + 'static>,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// An identity provider as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProvider {
    pub id: String,
    pub organization: String,
    pub identifier: String,
    pub issuer: String,
    pub jwks_endpoint_uri: Option<String>,
    pub audience: String,
    pub scope: String,
    pub token_endpoint_uri: Option<String>,
    pub sub_claim_name: String,
    pub groups_claim_name: String,
    pub authorize_endpoint_uri: Option<String>,
    pub refresh_token: bool,
    pub cfk_client_id: Option<String>,
    pub cfk_client_secret: Option<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
}

const PROVIDER_COLUMNS: &str = "id, organization, identifier, issuer, jwks_endpoint_uri, \
     audience, scope, token_endpoint_uri, sub_claim_name, groups_claim_name, \
     authorize_endpoint_uri, refresh_token, cfk_client_id, cfk_client_secret, created_at, \
     updated_at";

fn provider_from(row: &AnyRow) -> Result<StoredProvider, sqlx::Error> {
    Ok(StoredProvider {
        id: row.try_get("id")?,
        organization: row.try_get("organization")?,
        identifier: row.try_get("identifier")?,
        issuer: row.try_get("issuer")?,
        jwks_endpoint_uri: row.try_get("jwks_endpoint_uri")?,
        audience: row.try_get("audience")?,
        scope: row.try_get("scope")?,
        token_endpoint_uri: row.try_get("token_endpoint_uri")?,
        sub_claim_name: row.try_get("sub_claim_name")?,
        groups_claim_name: row.try_get("groups_claim_name")?,
        authorize_endpoint_uri: row.try_get("authorize_endpoint_uri")?,
        refresh_token: row.try_get::<i64, _>("refresh_token")? != 0,
        cfk_client_id: row.try_get("cfk_client_id")?,
        cfk_client_secret: row.try_get("cfk_client_secret")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Writes other stores commit to a PostgreSQL database, as they are notified.
pub struct Changes {
    listener: sqlx::postgres::PgListener,
    /// This store's own name in notifications: its own writes are not waited for.
    writer: Arc<str>,
}

impl Changes {
    /// Waits for the next write another store committed. After a lost connection it
    /// reconnects, and the writes committed meanwhile are not told: a caller that also polls
    /// finds them.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        loop {
            let notification = self.listener.recv().await?;
            if notification.payload() != &*self.writer {
                return Ok(());
            }
        }
    }
}

/// The PostgreSQL channel every committed write notifies.
pub const CHANGES_CHANNEL: &str = "kafka_oidc_proxy_changes";

/// Which database a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Where the store is, for the connection that listens for changes (PostgreSQL).
    url: String,
    /// Names this store's writes in their notifications, so that its own are not taken for
    /// another writer's.
    writer: Arc<str>,
    /// The keys client secrets are sealed with; without them a new secret is refused.
    secrets: Option<Arc<secrets::SecretKeys>>,
    /// Stops the SQLite checkpoints when the last clone of the store is dropped.
    _checkpoints: Option<Arc<DropGuard>>,
}

/// How often an SQLite store copies its write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies SQLite's write-ahead log into the database every [`CHECKPOINT_EVERY`], on a task of
/// its own, until the returned guard is dropped. A passive checkpoint waits for no reader or
/// writer: a commit meanwhile appends to the log as usual (its own sync is all it waits
/// for), and the next write after a complete checkpoint starts the log over, so the log
/// holds about one period of writes.
fn checkpoints(pool: AnyPool) -> Arc<DropGuard> {
    let stop = CancellationToken::new();
    let guard = Arc::new(stop.clone().drop_guard());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = every.tick() => {}
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "store checkpoint failed; retried in {CHECKPOINT_EVERY:?}");
            }
        }
        // The last connection to close checkpoints what is left.
        pool.close().await;
    });
    guard
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl Store {
    /// Opens (creating an SQLite file and its directory if needed) and migrates the store at
    /// `url`: `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Location(format!(
                "store.url must start with sqlite:// or postgres://, not {:?}",
                url.split(':').next().unwrap_or_default()
            )));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // One writer at a time in SQLite; a few connections keep reads concurrent.
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Write-ahead logging: a commit is one synced append to the log
                        // (synchronous stays FULL, so a committed change survives a power
                        // loss) instead of the rollback journal's several syncs, and readers
                        // go on while a write commits. The mode stays with the file.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        // Checkpoints run beside the writes (`checkpoints`), not inside the
                        // commit that happens to cross the log's threshold: copying the log
                        // into the database and syncing it took a commit from under 1 ms to
                        // 6 ms once in every hundred.
                        sqlx::query("PRAGMA wal_autocheckpoint = 0")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Migrator::new(Embedded).await?.run(&pool).await?;
        let checkpoints = (backend == Backend::Sqlite).then(|| checkpoints(pool.clone()));
        Ok(Self {
            pool,
            backend,
            url,
            writer: uuid::Uuid::new_v4().to_string().into(),
            secrets: None,
            _checkpoints: checkpoints,
        })
    }

    /// Seals client secrets with `keys` from now on, and re-seals every stored one that is
    /// in clear (a store written before secrets were sealed) or sealed with another of the
    /// keys than the first. Without keys, a sealed secret in the store is an error (it could
    /// not be used), and a secret stored in clear is left as it is, with a warning.
    pub async fn with_secret_keys(
        mut self,
        keys: Option<secrets::SecretKeys>,
    ) -> Result<Self, StoreError> {
        self.secrets = keys.map(Arc::new);
        let rows = sqlx::query(
            "SELECT id, organization, identifier, cfk_client_secret FROM oauth_providers \
             WHERE cfk_client_secret IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut resealed = 0;
        let mut in_clear = 0;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let stored: String = row.try_get("cfk_client_secret")?;
            let context = || {
                let org: String = row.try_get("organization").unwrap_or_default();
                let name: String = row.try_get("identifier").unwrap_or_default();
                format!("the client secret of provider {org}/{name}")
            };
            let fail = |source| StoreError::Secret {
                context: context(),
                source,
            };
            let Some(keys) = &self.secrets else {
                if secrets::is_sealed(&stored) {
                    return Err(fail(secrets::SecretError::NoKeys));
                }
                in_clear += 1;
                continue;
            };
            if keys.is_current(&stored) {
                // Opens, or the keys are not the ones it was sealed with.
                keys.open(&id, &stored).map_err(fail)?;
                continue;
            }
            let plain = if secrets::is_sealed(&stored) {
                keys.open(&id, &stored).map_err(fail)?
            } else {
                stored.clone()
            };
            let sealed = keys.seal(&id, &plain).map_err(fail)?;
            // Only if no one changed it meanwhile (another proxy sharing the store).
            sqlx::query(
                "UPDATE oauth_providers SET cfk_client_secret = $1 \
                 WHERE id = $2 AND cfk_client_secret = $3",
            )
            .bind(&sealed)
            .bind(&id)
            .bind(&stored)
            .execute(&self.pool)
            .await?;
            resealed += 1;
        }
        if resealed > 0 {
            tracing::info!(
                secrets = resealed,
                key = self
                    .secrets
                    .as_ref()
                    .map(|k| k.current())
                    .unwrap_or_default(),
                "client secrets sealed with the first store key"
            );
        }
        if in_clear > 0 {
            tracing::warn!(
                secrets = in_clear,
                "client secrets are stored in clear: configure store.secret_keys_file or {} to seal them",
                secrets::KEYS_ENV
            );
        }
        Ok(self)
    }

    /// Whether new client secrets can be stored (sealed).
    pub fn seals_secrets(&self) -> bool {
        self.secrets.is_some()
    }

    /// `p` as stored: its client secret sealed for its row.
    fn sealed(&self, p: &StoredProvider) -> Result<StoredProvider, StoreError> {
        let mut p = p.clone();
        if let Some(secret) = &p.cfk_client_secret {
            let keys = self.secrets.as_ref().ok_or_else(|| StoreError::Secret {
                context: "cfk_client_secret".into(),
                source: secrets::SecretError::NoKeys,
            })?;
            let sealed = keys
                .seal(&p.id, secret)
                .map_err(|source| StoreError::Secret {
                    context: "cfk_client_secret".into(),
                    source,
                })?;
            p.cfk_client_secret = Some(sealed);
        }
        Ok(p)
    }

    /// A provider as read: its client secret opened (one stored in clear is answered as is).
    fn opened(&self, mut p: StoredProvider) -> Result<StoredProvider, StoreError> {
        if let Some(stored) = &p.cfk_client_secret
            && secrets::is_sealed(stored)
        {
            let keys = self.secrets.as_ref().ok_or_else(|| StoreError::Secret {
                context: format!(
                    "the client secret of provider {}/{}",
                    p.organization, p.identifier
                ),
                source: secrets::SecretError::NoKeys,
            })?;
            let plain = keys
                .open(&p.id, stored)
                .map_err(|source| StoreError::Secret {
                    context: format!(
                        "the client secret of provider {}/{}",
                        p.organization, p.identifier
                    ),
                    source,
                })?;
            p.cfk_client_secret = Some(plain);
        }
        Ok(p)
    }

    fn opened_rows(&self, rows: &[AnyRow]) -> Result<Vec<StoredProvider>, StoreError> {
        rows.iter()
            .map(|r| self.opened(provider_from(r)?))
            .collect()
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// transaction that read first could not wait for another connection's lock when it came
    /// to write (SQLite refuses that upgrade at once, as the way out of a deadlock), while one
    /// that starts with the lock waits for it as any writer does.
    async fn write(&self) -> Result<Tx<'static>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    async fn bump(
        &self,
        tx: &mut Tx<'_>,
        kind: Kind,
        organizations: &[&str],
        rows: Option<&[(&str, &str)]>,
    ) -> Result<Written, StoreError> {
        bump(tx, self.backend, &self.writer, kind, organizations, rows).await
    }

    /// Which organizations' providers and bindings the writes after store revision `after`
    /// up to `upto` changed, from the change log; `None` when the log does not hold every one
    /// of those writes (pruned, or written by an older release): then only reading everything
    /// back is sure.
    pub async fn changed_since(
        &self,
        after: i64,
        upto: i64,
    ) -> Result<Option<Changed>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, kind, organization, rows_logged FROM store_changes \
             WHERE revision > $1 AND revision <= $2",
        )
        .bind(after)
        .bind(upto)
        .fetch_all(&self.pool)
        .await?;
        let mut revisions = std::collections::BTreeSet::new();
        let mut changed = Changed::default();
        // Whether every write to an organization's bindings logged them.
        let mut logged: std::collections::BTreeMap<String, bool> = Default::default();
        for row in &rows {
            revisions.insert(row.try_get::<i64, _>("revision")?);
            let organization: String = row.try_get("organization")?;
            let kind = row.try_get::<i64, _>("kind")?;
            if kind == Kind::Providers.revision_id() {
                changed.providers.insert(organization);
            } else if kind == Kind::Clusters.revision_id() {
                changed.clusters.insert(organization);
            } else {
                let all_logged = row.try_get::<i64, _>("rows_logged")? == 1;
                *logged.entry(organization.clone()).or_insert(true) &= all_logged;
                changed.acls.insert(organization);
            }
        }
        let complete = i64::try_from(revisions.len()).is_ok_and(|n| n == upto - after);
        if !complete {
            return Ok(None);
        }
        if logged.values().any(|l| *l) {
            let rows = sqlx::query(
                "SELECT organization, id FROM store_changed_rows \
                 WHERE revision > $1 AND revision <= $2",
            )
            .bind(after)
            .bind(upto)
            .fetch_all(&self.pool)
            .await?;
            for (org, _) in logged.iter().filter(|(_, l)| **l) {
                changed.acl_rows.insert(org.clone(), Default::default());
            }
            for row in &rows {
                let organization: String = row.try_get("organization")?;
                if let Some(ids) = changed.acl_rows.get_mut(&organization) {
                    ids.insert(row.try_get("id")?);
                }
            }
        }
        Ok(Some(changed))
    }

    /// The stored bindings of these ids (those that are stored), in creation order.
    pub async fn acls_by_id(&self, ids: &[&str]) -> Result<Vec<StoredAcl>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {ACL_COLUMNS} FROM acl_bindings WHERE id IN ({list})");
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(acl_from(&row)?);
            }
        }
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }

    /// Every binding of one organization, in creation order.
    pub async fn acls_of(&self, organization: &str) -> Result<Vec<StoredAcl>, StoreError> {
        let sql = format!(
            "SELECT {ACL_COLUMNS} FROM acl_bindings WHERE organization = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(organization)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(acl_from).collect::<Result<_, _>>()?)
    }

    /// A connection told of every write committed from now on by another store on the same
    /// database (another proxy: PostgreSQL's LISTEN/NOTIFY); `None` for SQLite, whose writers
    /// are found by polling the revision.
    pub async fn changes(&self) -> Result<Option<Changes>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(Changes {
            listener,
            writer: self.writer.clone(),
        }))
    }

    /// Whether the store answers as a write needs it to: SQLite takes the write lock (which
    /// another writer holding it holds up; the API's own writers wait for the moment it is
    /// held, as for any writer) and reads the revision, PostgreSQL reads it `FOR UPDATE`
    /// (which a writer stuck holding it holds up); both roll back.
    pub async fn probe(&self) -> Result<(), StoreError> {
        const REVISION: &str = "SELECT value FROM store_revision WHERE id = 1";
        match self.backend {
            Backend::Sqlite => {
                // In write-ahead-log mode a held write lock blocks no reader: taking the lock
                // is what tells whether a write would go through.
                let mut conn = self.pool.acquire().await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
                let read = sqlx::query(REVISION).fetch_one(&mut *conn).await;
                if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                    // Not back to the pool inside a transaction.
                    let _ = conn.close().await;
                    return Err(e.into());
                }
                read?;
            }
            Backend::Postgres => {
                let mut tx = self.write().await?;
                sqlx::query(&format!("{REVISION} FOR UPDATE"))
                    .fetch_one(&mut *tx)
                    .await?;
                tx.rollback().await?;
            }
        }
        Ok(())
    }

    /// The revision: changes with every committed write.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM store_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    /// The revisions of everything and of each kind, read together.
    pub async fn revisions(&self) -> Result<Revisions, StoreError> {
        let rows = sqlx::query("SELECT id, value FROM store_revision WHERE id IN (1, 2, 3, 4)")
            .fetch_all(&self.pool)
            .await?;
        let mut revisions = Revisions {
            all: 0,
            providers: 0,
            acls: 0,
            clusters: 0,
        };
        for row in rows {
            let value: i64 = row.try_get("value")?;
            match row.try_get::<i64, _>("id")? {
                1 => revisions.all = value,
                2 => revisions.providers = value,
                3 => revisions.acls = value,
                _ => revisions.clusters = value,
            }
        }
        Ok(revisions)
    }

    /// Every stored provider, oldest first.
    pub async fn all_providers(&self) -> Result<Vec<StoredProvider>, StoreError> {
        let sql = format!("SELECT {PROVIDER_COLUMNS} FROM oauth_providers ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        self.opened_rows(&rows)
    }

    /// One page of an organization's providers, oldest first, and how many it has.
    pub async fn providers(
        &self,
        organization: &str,
        limit: i64,
        offset: i64,
        after: Option<&Position>,
    ) -> Result<(Vec<StoredProvider>, i64), StoreError> {
        let (rows, count) = self
            .page(
                Kind::Providers,
                PROVIDER_COLUMNS,
                organization,
                limit,
                offset,
                after,
            )
            .await?;
        Ok((self.opened_rows(&rows)?, count))
    }

    /// One page of an organization's rows of `kind`, in list order (from `after` when given,
    /// else from `offset`), and how many rows it has.
    async fn page(
        &self,
        kind: Kind,
        columns: &str,
        organization: &str,
        limit: i64,
        offset: i64,
        after: Option<&Position>,
    ) -> Result<(Vec<AnyRow>, i64), StoreError> {
        let table = kind.table();
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE organization = $1{} \
             ORDER BY created_at, id LIMIT $2 OFFSET $3",
            after_condition(self.backend, after, 4)
        );
        let mut query = sqlx::query(&sql).bind(organization).bind(limit);
        query = match after {
            // Where the page starts is known: nothing to skip.
            Some(p) => query.bind(0_i64).bind(p.created_at).bind(&p.id),
            None => query.bind(offset),
        };
        let rows = query.fetch_all(&self.pool).await?;
        let count = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE organization = $1"
        ))
        .bind(organization)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok((rows, count))
    }

    /// One of an organization's providers.
    pub async fn provider(
        &self,
        organization: &str,
        id: &str,
    ) -> Result<Option<StoredProvider>, StoreError> {
        let sql = format!(
            "SELECT {PROVIDER_COLUMNS} FROM oauth_providers WHERE organization = $1 AND id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(organization)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|r| self.opened(provider_from(r)?))
            .transpose()
    }

    /// Stores a new provider.
    pub async fn create_provider(&self, p: &StoredProvider) -> Result<(), StoreError> {
        let p = &self.sealed(p)?;
        let mut tx = self.write().await?;
        provider_conflicts(&mut tx, p).await?;
        let sql = format!(
            "INSERT INTO oauth_providers ({PROVIDER_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        bind_provider(sqlx::query(&sql), p)
            .execute(&mut *tx)
            .await
            .map_err(unique_violation)?;
        self.bump(&mut tx, Kind::Providers, &[&p.organization], None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a stored provider (found by organization and id; its `created_at` is kept).
    /// `false` when there is none.
    pub async fn update_provider(&self, p: &StoredProvider) -> Result<bool, StoreError> {
        let p = &self.sealed(p)?;
        let mut tx = self.write().await?;
        provider_conflicts(&mut tx, p).await?;
        // The columns in bind_provider's order; organization and id locate the row.
        let sql = "UPDATE oauth_providers SET identifier = $3, issuer = $4, \
                   jwks_endpoint_uri = $5, audience = $6, scope = $7, token_endpoint_uri = $8, \
                   sub_claim_name = $9, groups_claim_name = $10, authorize_endpoint_uri = $11, \
                   refresh_token = $12, cfk_client_id = $13, cfk_client_secret = $14, \
                   created_at = $15, updated_at = $16 WHERE id = $1 AND organization = $2";
        let done = bind_provider(sqlx::query(sql), p)
            .execute(&mut *tx)
            .await
            .map_err(unique_violation)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.bump(&mut tx, Kind::Providers, &[&p.organization], None)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes one of an organization's providers; `false` when there is none.
    pub async fn delete_provider(&self, organization: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .delete(Kind::Providers, organization, id)
            .await?
            .is_some())
    }

    /// Deletes one of an organization's rows of `kind`, bumping the revisions; answers the
    /// revisions it made, `None` when there is no such row.
    async fn delete(
        &self,
        kind: Kind,
        organization: &str,
        id: &str,
    ) -> Result<Option<Written>, StoreError> {
        let table = kind.table();
        let mut tx = self.write().await?;
        let sql = format!("DELETE FROM {table} WHERE organization = $1 AND id = $2");
        let done = sqlx::query(&sql)
            .bind(organization)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row = [(organization, id)];
        let rows = (kind == Kind::Acls).then_some(&row[..]);
        let revision = self.bump(&mut tx, kind, &[organization], rows).await?;
        tx.commit().await?;
        Ok(Some(revision))
    }
}

/// An ACL binding as stored: Kafka's names as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAcl {
    pub id: String,
    pub organization: String,
    pub permission: String,
    pub principal: String,
    pub host: String,
    pub operation: String,
    pub resource_type: String,
    pub pattern_type: String,
    pub resource_name: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

impl StoredAcl {
    /// A new row for `b`, with an id of its own, created at `created_at` (microseconds since
    /// the Unix epoch).
    pub fn new(b: &crate::authz::AclBinding, created_at: i64) -> StoredAcl {
        StoredAcl {
            id: uuid::Uuid::new_v4().to_string(),
            organization: b.organization.clone(),
            permission: b.permission.to_string(),
            principal: b.principal.to_string(),
            host: b.host.to_string(),
            operation: b.operation.to_string(),
            resource_type: b.resource_type.to_string(),
            pattern_type: b.pattern_type.to_string(),
            resource_name: b.resource_name.clone(),
            created_at,
        }
    }
}

/// What a list of ACL bindings is narrowed to (each absent: any).
#[derive(Debug, Clone, Default)]
pub struct AclFilter {
    pub principal: Option<String>,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub pattern_type: Option<String>,
}

impl AclFilter {
    /// Whether `a` passes the filter, as the store's query decides it.
    pub fn matches(&self, a: &StoredAcl) -> bool {
        [
            (&self.principal, &a.principal),
            (&self.resource_type, &a.resource_type),
            (&self.resource_name, &a.resource_name),
            (&self.pattern_type, &a.pattern_type),
        ]
        .into_iter()
        .all(|(wanted, value)| wanted.as_ref().is_none_or(|w| w == value))
    }
}

const ACL_COLUMNS: &str = "id, organization, permission, principal, host, operation, \
     resource_type, pattern_type, resource_name, created_at";

fn acl_from(row: &AnyRow) -> Result<StoredAcl, sqlx::Error> {
    Ok(StoredAcl {
        id: row.try_get("id")?,
        organization: row.try_get("organization")?,
        permission: row.try_get("permission")?,
        principal: row.try_get("principal")?,
        host: row.try_get("host")?,
        operation: row.try_get("operation")?,
        resource_type: row.try_get("resource_type")?,
        pattern_type: row.try_get("pattern_type")?,
        resource_name: row.try_get("resource_name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// What [`Store::create_acls`] did.
#[derive(Debug)]
pub struct CreatedAcls {
    /// Per binding asked for, in order: the stored row, and whether this call created it.
    pub rows: Vec<(StoredAcl, bool)>,
    /// The revisions it made, when any binding was created.
    pub revision: Option<Written>,
}

impl Store {
    /// Stores the bindings that are not stored yet, all or none. A binding identical to a
    /// stored one (same organization, principal, host, operation, permission, resource type,
    /// pattern and name) is not stored again: the stored one is answered in its place.
    pub async fn create_acls(&self, acls: &[StoredAcl]) -> Result<CreatedAcls, StoreError> {
        let mut tx = self.write().await?;
        let insert = format!(
            "INSERT INTO acl_bindings ({ACL_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
        );
        let existing = format!(
            "SELECT {ACL_COLUMNS} FROM acl_bindings WHERE organization = $1 AND permission = $2 \
             AND principal = $3 AND host = $4 AND operation = $5 AND resource_type = $6 \
             AND pattern_type = $7 AND resource_name = $8"
        );
        let mut rows = Vec::with_capacity(acls.len());
        for a in acls {
            let inserted = sqlx::query(&insert)
                .bind(&a.id)
                .bind(&a.organization)
                .bind(&a.permission)
                .bind(&a.principal)
                .bind(&a.host)
                .bind(&a.operation)
                .bind(&a.resource_type)
                .bind(&a.pattern_type)
                .bind(&a.resource_name)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 1 {
                rows.push((a.clone(), true));
                continue;
            }
            let row = sqlx::query(&existing)
                .bind(&a.organization)
                .bind(&a.permission)
                .bind(&a.principal)
                .bind(&a.host)
                .bind(&a.operation)
                .bind(&a.resource_type)
                .bind(&a.pattern_type)
                .bind(&a.resource_name)
                .fetch_one(&mut *tx)
                .await?;
            rows.push((acl_from(&row)?, false));
        }
        let created: Vec<&str> = rows
            .iter()
            .filter(|(_, created)| *created)
            .map(|(a, _)| a.organization.as_str())
            .collect();
        let revision = if created.is_empty() {
            None
        } else {
            let ids: Vec<(&str, &str)> = rows
                .iter()
                .filter(|(_, created)| *created)
                .map(|(a, _)| (a.organization.as_str(), a.id.as_str()))
                .collect();
            let logged = (ids.len() <= LOGGED_ROWS).then_some(&ids[..]);
            Some(self.bump(&mut tx, Kind::Acls, &created, logged).await?)
        };
        tx.commit().await?;
        Ok(CreatedAcls { rows, revision })
    }

    /// Every stored binding, oldest first.
    pub async fn all_acls(&self) -> Result<Vec<StoredAcl>, StoreError> {
        let sql = format!("SELECT {ACL_COLUMNS} FROM acl_bindings ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(acl_from).collect::<Result<_, _>>()?)
    }

    /// One page of an organization's bindings that match `filter`, and how many match.
    pub async fn acls(
        &self,
        organization: &str,
        filter: &AclFilter,
        limit: i64,
        offset: i64,
        after: Option<&Position>,
    ) -> Result<(Vec<StoredAcl>, i64), StoreError> {
        let mut conditions = vec!["organization = $1".to_owned()];
        let mut values = vec![organization.to_owned()];
        for (column, value) in [
            ("principal", &filter.principal),
            ("resource_type", &filter.resource_type),
            ("resource_name", &filter.resource_name),
            ("pattern_type", &filter.pattern_type),
        ] {
            if let Some(v) = value {
                values.push(v.clone());
                conditions.push(format!("{column} = ${}", values.len()));
            }
        }
        let condition = conditions.join(" AND ");
        let n = values.len();
        let sql = format!(
            "SELECT {ACL_COLUMNS} FROM acl_bindings WHERE {condition}{} \
             ORDER BY created_at, id LIMIT ${} OFFSET ${}",
            after_condition(self.backend, after, n + 3),
            n + 1,
            n + 2
        );
        let mut query = sqlx::query(&sql);
        for v in &values {
            query = query.bind(v);
        }
        query = query.bind(limit);
        query = match after {
            // Where the page starts is known: nothing to skip.
            Some(p) => query.bind(0_i64).bind(p.created_at).bind(&p.id),
            None => query.bind(offset),
        };
        let rows = query.fetch_all(&self.pool).await?;
        let count_sql = format!("SELECT COUNT(*) AS n FROM acl_bindings WHERE {condition}");
        let mut count = sqlx::query(&count_sql);
        for v in &values {
            count = count.bind(v);
        }
        let count: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        Ok((rows.iter().map(acl_from).collect::<Result<_, _>>()?, count))
    }

    /// One of an organization's bindings.
    pub async fn acl(&self, organization: &str, id: &str) -> Result<Option<StoredAcl>, StoreError> {
        let sql =
            format!("SELECT {ACL_COLUMNS} FROM acl_bindings WHERE organization = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(organization)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(acl_from).transpose()?)
    }

    /// Deletes one of an organization's bindings; answers the revisions it made, `None` when
    /// there is no such binding.
    pub async fn delete_acl(
        &self,
        organization: &str,
        id: &str,
    ) -> Result<Option<Written>, StoreError> {
        self.delete(Kind::Acls, organization, id).await
    }
}

/// The uniqueness rules, checked in the writing transaction so that the answer names the
/// field: an identifier once per organization, an issuer and audience once in all.
async fn provider_conflicts(tx: &mut Tx<'_>, p: &StoredProvider) -> Result<(), StoreError> {
    let same_identifier = sqlx::query(
        "SELECT id FROM oauth_providers WHERE organization = $1 AND identifier = $2 AND id <> $3",
    )
    .bind(&p.organization)
    .bind(&p.identifier)
    .bind(&p.id)
    .fetch_optional(&mut **tx)
    .await?;
    if same_identifier.is_some() {
        return Err(StoreError::Conflict {
            field: "identifier",
            message: format!(
                "organization {:?} already has a provider {:?}",
                p.organization, p.identifier
            ),
        });
    }
    // Within the organization only: another organization's registrations are none of this
    // one's business (the virtual cluster decides which organization a token is for).
    let same_issuer = sqlx::query(
        "SELECT id FROM oauth_providers \
         WHERE organization = $1 AND issuer = $2 AND audience = $3 AND id <> $4",
    )
    .bind(&p.organization)
    .bind(&p.issuer)
    .bind(&p.audience)
    .bind(&p.id)
    .fetch_optional(&mut **tx)
    .await?;
    if same_issuer.is_some() {
        return Err(StoreError::Conflict {
            field: "issuer",
            message: format!(
                "organization {:?} already has a provider with this issuer and audience",
                p.organization
            ),
        });
    }
    Ok(())
}

/// A write that lost a race with another one breaking the same rule.
fn unique_violation(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
            field: if d.message().contains("identifier") {
                "identifier"
            } else {
                "issuer"
            },
            message: "conflicts with a provider registered at the same time".into(),
        },
        _ => StoreError::Database(e),
    }
}

fn bind_provider<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    p: &'q StoredProvider,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&p.id)
        .bind(&p.organization)
        .bind(&p.identifier)
        .bind(&p.issuer)
        .bind(&p.jwks_endpoint_uri)
        .bind(&p.audience)
        .bind(&p.scope)
        .bind(&p.token_endpoint_uri)
        .bind(&p.sub_claim_name)
        .bind(&p.groups_claim_name)
        .bind(&p.authorize_endpoint_uri)
        .bind(i64::from(p.refresh_token))
        .bind(&p.cfk_client_id)
        .bind(&p.cfk_client_secret)
        .bind(p.created_at)
        .bind(p.updated_at)
}

/// Bumps the store's revision and that of `kind`, and logs which `organizations` the write
/// changed under the new store revision; answers the new revision of `kind` (the transaction
/// holds the row, so no other write can come between). On PostgreSQL the commit also notifies
/// every store listening on [`CHANGES_CHANNEL`], naming `writer` (a notification is delivered
/// at commit, and not at all if the transaction rolls back).
async fn bump(
    tx: &mut Tx<'_>,
    backend: Backend,
    writer: &str,
    kind: Kind,
    organizations: &[&str],
    rows: Option<&[(&str, &str)]>,
) -> Result<Written, StoreError> {
    let (mut all, mut of_kind) = (None, None);
    for row in sqlx::query(
        "UPDATE store_revision SET value = value + 1 WHERE id IN (1, $1) RETURNING id, value",
    )
    .bind(kind.revision_id())
    .fetch_all(&mut **tx)
    .await?
    {
        let value: i64 = row.try_get("value")?;
        if row.try_get::<i64, _>("id")? == 1 {
            all = Some(value);
        } else {
            of_kind = Some(value);
        }
    }
    let (Some(all), Some(of_kind)) = (all, of_kind) else {
        return Err(StoreError::Database(sqlx::Error::RowNotFound));
    };
    let mut logged = std::collections::BTreeSet::new();
    for org in organizations.iter().filter(|o| logged.insert(**o)) {
        sqlx::query(
            "INSERT INTO store_changes (revision, kind, organization, rows_logged) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(all)
        .bind(kind.revision_id())
        .bind(*org)
        .bind(i64::from(rows.is_some()))
        .execute(&mut **tx)
        .await?;
    }
    for (org, id) in rows.unwrap_or_default() {
        sqlx::query(
            "INSERT INTO store_changed_rows (revision, organization, id) VALUES ($1, $2, $3)",
        )
        .bind(all)
        .bind(*org)
        .bind(*id)
        .execute(&mut **tx)
        .await?;
    }
    if all % 100 == 0 {
        for table in ["store_changes", "store_changed_rows"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE revision <= $1"))
                .bind(all - CHANGE_LOG_REVISIONS)
                .execute(&mut **tx)
                .await?;
        }
    }
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(writer)
            .execute(&mut **tx)
            .await?;
    }
    Ok(Written { all, of_kind })
}

/// An SQLite URL that creates the file (and its directory) when missing.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Location(
            "store.url: an SQLite store needs a file path".into(),
        ));
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Location(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mode = if query.contains("mode=") {
        ""
    } else {
        "mode=rwc"
    };
    let sep = if query.is_empty() || mode.is_empty() {
        ""
    } else {
        "&"
    };
    Ok(format!("sqlite://{path}?{query}{sep}{mode}"))
}

#[cfg(test)]
mod tests;
