//! Virtual clusters as stored: `virtual_clusters` (migration 8), revision 4.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Kind, Position, Store, StoreError, Tx};

/// A virtual cluster as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCluster {
    pub id: String,
    pub organization: String,
    pub name: String,
    pub upstream: String,
    pub listener: String,
    /// `None` on a listener that routes by server name.
    pub bootstrap_port: Option<u16>,
    pub broker_port_base: Option<u16>,
    /// Its namespace on a shared upstream cluster.
    pub namespace: Option<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, organization, name, upstream, listener, bootstrap_port, \
     broker_port_base, namespace, created_at, updated_at";

fn cluster_from(row: &AnyRow) -> Result<StoredCluster, sqlx::Error> {
    let port = |column: &str| -> Result<Option<u16>, sqlx::Error> {
        let value: Option<i64> = row.try_get(column)?;
        value
            .map(|v| {
                u16::try_from(v).map_err(|e| sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: Box::new(e),
                })
            })
            .transpose()
    };
    Ok(StoredCluster {
        id: row.try_get("id")?,
        organization: row.try_get("organization")?,
        name: row.try_get("name")?,
        upstream: row.try_get("upstream")?,
        listener: row.try_get("listener")?,
        bootstrap_port: port("bootstrap_port")?,
        broker_port_base: port("broker_port_base")?,
        namespace: row.try_get("namespace")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Every stored virtual cluster, oldest first.
    pub async fn all_clusters(&self) -> Result<Vec<StoredCluster>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM virtual_clusters ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(cluster_from).collect::<Result<_, _>>()?)
    }

    /// One page of an organization's virtual clusters, oldest first, and how many it has.
    pub async fn clusters(
        &self,
        organization: &str,
        limit: i64,
        offset: i64,
        after: Option<&Position>,
    ) -> Result<(Vec<StoredCluster>, i64), StoreError> {
        let (rows, count) = self
            .page(Kind::Clusters, COLUMNS, organization, limit, offset, after)
            .await?;
        let items = rows.iter().map(cluster_from).collect::<Result<_, _>>()?;
        Ok((items, count))
    }

    /// One of an organization's virtual clusters.
    pub async fn cluster(
        &self,
        organization: &str,
        id: &str,
    ) -> Result<Option<StoredCluster>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM virtual_clusters WHERE organization = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(organization)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(cluster_from).transpose()?)
    }

    /// Stores a new virtual cluster, unless it conflicts with a stored one: by the store's
    /// rules (name, ports) or by `clash`. Writers of clusters are serialized, so that two at
    /// once cannot both pass the checks.
    pub async fn create_cluster(
        &self,
        c: &StoredCluster,
        clash: Clash<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        self.conflicts(&mut tx, c, clash).await?;
        let sql = format!(
            "INSERT INTO virtual_clusters ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        bind(sqlx::query(&sql), c)
            .execute(&mut *tx)
            .await
            .map_err(unique_violation)?;
        self.bump(&mut tx, Kind::Clusters, &[&c.organization], None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a stored virtual cluster (found by organization and id), checked as
    /// [`Store::create_cluster`] checks a new one; `false` when there is none.
    pub async fn update_cluster(
        &self,
        c: &StoredCluster,
        clash: Clash<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        self.conflicts(&mut tx, c, clash).await?;
        // The columns in bind's order; organization and id locate the row.
        let sql = "UPDATE virtual_clusters SET name = $3, upstream = $4, listener = $5, \
                   bootstrap_port = $6, broker_port_base = $7, namespace = $8, created_at = $9, \
                   updated_at = $10 WHERE id = $1 AND organization = $2";
        let done = bind(sqlx::query(sql), c)
            .execute(&mut *tx)
            .await
            .map_err(unique_violation)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.bump(&mut tx, Kind::Clusters, &[&c.organization], None)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes one of an organization's virtual clusters; `false` when there is none.
    pub async fn delete_cluster(&self, organization: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .delete(Kind::Clusters, organization, id)
            .await?
            .is_some())
    }
}

/// A rule the caller adds to the store's own for two virtual clusters: `Some((field,
/// message))` when the cluster being written (first) cannot be stored beside a stored one
/// (second).
pub type Clash<'a> =
    &'a (dyn Fn(&StoredCluster, &StoredCluster) -> Option<(&'static str, String)> + Send + Sync);

impl Store {
    /// Another stored cluster of the same organization and name, one using either port, or
    /// one `clash` refuses. On PostgreSQL the table is locked against other writers first (on
    /// SQLite the write transaction holds the database's one write lock already).
    async fn conflicts(
        &self,
        tx: &mut Tx<'_>,
        c: &StoredCluster,
        clash: Clash<'_>,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("LOCK TABLE virtual_clusters IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut **tx)
                .await?;
        }
        let sql = format!("SELECT {COLUMNS} FROM virtual_clusters WHERE id <> $1");
        let rows = sqlx::query(&sql).bind(&c.id).fetch_all(&mut **tx).await?;
        conflicts(c, rows, clash)
    }
}

/// Among the other stored clusters: one of the same organization and name, one using either
/// port, or one `clash` refuses.
fn conflicts(c: &StoredCluster, rows: Vec<AnyRow>, clash: Clash<'_>) -> Result<(), StoreError> {
    let others = rows
        .iter()
        .map(cluster_from)
        .collect::<Result<Vec<_>, _>>()?;
    if others
        .iter()
        .any(|o| o.organization == c.organization && o.name == c.name)
    {
        return Err(StoreError::Conflict {
            field: "name",
            message: "the organization has a virtual cluster with this name".into(),
        });
    }
    // Ports are the proxy's, shared by every organization: the answer says which is taken,
    // not by whom.
    let taken = |port: Option<u16>| {
        port.filter(|p| {
            others
                .iter()
                .any(|o| o.bootstrap_port == Some(*p) || o.broker_port_base == Some(*p))
        })
    };
    if let Some(port) = taken(c.bootstrap_port) {
        return Err(StoreError::Conflict {
            field: "bootstrap_port",
            message: format!("port {port} is in use"),
        });
    }
    if let Some(port) = taken(c.broker_port_base) {
        return Err(StoreError::Conflict {
            field: "broker_port_base",
            message: format!("port {port} is in use"),
        });
    }
    match others.iter().find_map(|o| clash(c, o)) {
        Some((field, message)) => Err(StoreError::Conflict { field, message }),
        None => Ok(()),
    }
}

fn unique_violation(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            let message = d.message();
            let field = if message.contains("bootstrap_port") {
                "bootstrap_port"
            } else if message.contains("broker_port_base") {
                "broker_port_base"
            } else {
                "name"
            };
            StoreError::Conflict {
                field,
                message: "conflicts with a virtual cluster registered at the same time".into(),
            }
        }
        _ => StoreError::Database(e),
    }
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    c: &'q StoredCluster,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&c.id)
        .bind(&c.organization)
        .bind(&c.name)
        .bind(&c.upstream)
        .bind(&c.listener)
        .bind(c.bootstrap_port.map(i64::from))
        .bind(c.broker_port_base.map(i64::from))
        .bind(&c.namespace)
        .bind(c.created_at)
        .bind(c.updated_at)
}
