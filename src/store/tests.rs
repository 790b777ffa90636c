//! The store on a real SQLite file (PostgreSQL runs the same queries in the integration
//! tests).

use super::*;

/// A scratch directory, removed when dropped (also when a test fails).
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "kop-store-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Scratch(dir)
}

/// Opens the store at `url` sealing client secrets with one fixed test key.
async fn open(url: &str) -> Result<Store, StoreError> {
    const KEY: &str = "test:dGhpcnR5LXR3by1ieXRlcy1vZi10ZXN0LWtleS0hISE=";
    Store::open(url)
        .await?
        .with_secret_keys(Some(secrets::SecretKeys::parse(KEY).expect("key")))
        .await
}

fn provider(id: &str, identifier: &str, issuer: &str) -> StoredProvider {
    StoredProvider {
        id: id.into(),
        organization: "acme".into(),
        identifier: identifier.into(),
        issuer: issuer.into(),
        jwks_endpoint_uri: Some(format!("{issuer}/v1/keys")),
        audience: "api://default".into(),
        scope: "kafka".into(),
        token_endpoint_uri: None,
        sub_claim_name: "sub".into(),
        groups_claim_name: "groups".into(),
        authorize_endpoint_uri: None,
        refresh_token: true,
        cfk_client_id: Some("client".into()),
        cfk_client_secret: Some("secret".into()),
        created_at: 1_743_924_850_689_912,
        updated_at: 1_743_924_850_689_935,
    }
}

#[tokio::test]
async fn providers_are_stored_listed_changed_and_deleted_and_outlive_the_store() {
    let dir = scratch("crud");
    let url = format!("sqlite://{}/nested/store.db", dir.display());
    let store = open(&url).await.expect("opens, creating the file");
    assert_eq!(store.backend(), Backend::Sqlite);
    let r0 = store.revision().await.expect("revision");
    let a = provider("a", "dev-1", "https://one.example");
    store.create_provider(&a).await.expect("created");
    assert_eq!(
        store.provider("acme", "a").await.expect("read"),
        Some(a.clone())
    );
    assert_eq!(store.provider("other", "a").await.expect("read"), None);
    assert!(store.revision().await.expect("revision") > r0);

    let b = provider("b", "dev-2", "https://two.example");
    store.create_provider(&b).await.expect("created");
    let (page, count) = store.providers("acme", 1, 1, None).await.expect("page");
    assert_eq!((page, count), (vec![b.clone()], 2));
    let after_a = Position {
        created_at: a.created_at,
        id: a.id.clone(),
    };
    let (page, count) = store
        .providers("acme", 1, 0, Some(&after_a))
        .await
        .expect("page");
    assert_eq!(
        (page, count),
        (vec![b.clone()], 2),
        "after a: b, from the index"
    );

    let mut changed = a.clone();
    changed.scope = "kafka admin".into();
    changed.updated_at += 1;
    assert!(store.update_provider(&changed).await.expect("updated"));
    drop(store);

    let store = open(&url).await.expect("reopens");
    assert_eq!(
        store.provider("acme", "a").await.expect("read"),
        Some(changed)
    );
    assert!(store.delete_provider("acme", "a").await.expect("deleted"));
    assert!(!store.delete_provider("acme", "a").await.expect("gone"));
    assert_eq!(store.all_providers().await.expect("all"), vec![b]);
}

#[tokio::test]
async fn uniqueness_rules_name_the_field() {
    let dir = scratch("unique");
    let store = open(&format!("sqlite://{}/s.db", dir.display()))
        .await
        .expect("opens");
    store
        .create_provider(&provider("a", "dev-1", "https://one.example"))
        .await
        .expect("created");
    let same_identifier = provider("b", "dev-1", "https://two.example");
    match store.create_provider(&same_identifier).await {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field, "identifier"),
        other => panic!("expected a conflict: {other:?}"),
    }
    let same_issuer = provider("c", "dev-3", "https://one.example");
    match store.create_provider(&same_issuer).await {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field, "issuer"),
        other => panic!("expected a conflict: {other:?}"),
    }
    // Another organization may use the identifier, and the issuer and audience.
    let mut elsewhere = provider("d", "dev-1", "https://one.example");
    elsewhere.organization = "beta".into();
    store.create_provider(&elsewhere).await.expect("created");
}

#[tokio::test]
async fn unusable_locations_are_refused_clearly() {
    for url in ["mysql://x", "sqlite::memory:", "sqlite://"] {
        let e = Store::open(url).await.err().expect("refused");
        assert!(matches!(e, StoreError::Location(_)), "{url}: {e}");
    }
}

#[tokio::test]
async fn a_store_of_the_first_schema_is_migrated_keeping_its_content() {
    let dir = scratch("upgrade");
    let url = format!("sqlite://{}/store.db", dir.display());
    let store = open(&url).await.expect("opens");
    let a = provider("a", "dev-1", "https://one.example");
    store.create_provider(&a).await.expect("created");
    // Back to what the first schema's release left: no later index, no later migration.
    for sql in [
        "DROP INDEX oauth_providers_list_order",
        "DROP INDEX acl_bindings_list_order",
        "DROP INDEX acl_bindings_identity",
        "DROP INDEX acl_bindings_by_principal",
        "DROP INDEX acl_bindings_by_resource_name",
        "DROP TABLE store_changes",
        "DROP TABLE store_changed_rows",
        "DROP TABLE virtual_clusters",
        "DELETE FROM store_revision WHERE id > 1",
        "DELETE FROM _sqlx_migrations WHERE version > 1",
    ] {
        sqlx::query(sql).execute(&store.pool).await.expect(sql);
    }
    drop(store);
    let store = open(&url).await.expect("migrates");
    assert_eq!(store.provider("acme", "a").await.expect("read"), Some(a));
    let indexes: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name LIKE '%_list_order'",
    )
    .fetch_one(&store.pool)
    .await
    .expect("indexes")
    .try_get("n")
    .expect("n");
    assert_eq!(indexes, 2);
    let before = store.revisions().await.expect("revisions");
    store
        .create_provider(&provider("b", "dev-2", "https://two.example"))
        .await
        .expect("created");
    let after = store.revisions().await.expect("revisions");
    assert_eq!(
        (after.all, after.providers, after.acls),
        (before.all + 1, before.providers + 1, before.acls)
    );
}

fn binding(id: &str, created_at: i64) -> StoredAcl {
    StoredAcl {
        id: id.into(),
        organization: "acme".into(),
        permission: "ALLOW".into(),
        principal: "User:a".into(),
        host: "*".into(),
        operation: "READ".into(),
        resource_type: "TOPIC".into(),
        pattern_type: "LITERAL".into(),
        resource_name: "t".into(),
        created_at,
    }
}

#[tokio::test]
async fn identical_bindings_of_an_older_store_collapse_into_the_oldest() {
    let dir = scratch("dedupe");
    let url = format!("sqlite://{}/store.db", dir.display());
    let store = open(&url).await.expect("opens");
    // Back to the store before bindings were unique, holding the same binding three times.
    for sql in [
        "DROP INDEX acl_bindings_identity",
        "DROP INDEX acl_bindings_by_principal",
        "DROP INDEX acl_bindings_by_resource_name",
        "DROP TABLE store_changes",
        "DROP TABLE store_changed_rows",
        "DROP TABLE virtual_clusters",
        "DELETE FROM store_revision WHERE id = 4",
        "DELETE FROM _sqlx_migrations WHERE version > 3",
    ] {
        sqlx::query(sql).execute(&store.pool).await.expect(sql);
    }
    for (id, at) in [("b", 2), ("a", 2), ("c", 1)] {
        let row = binding(id, at);
        sqlx::query(
            "INSERT INTO acl_bindings (id, organization, permission, principal, host, operation, \
             resource_type, pattern_type, resource_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(row.id)
        .bind(row.organization)
        .bind(row.permission)
        .bind(row.principal)
        .bind(row.host)
        .bind(row.operation)
        .bind(row.resource_type)
        .bind(row.pattern_type)
        .bind(row.resource_name)
        .bind(row.created_at)
        .execute(&store.pool)
        .await
        .expect("insert");
    }
    let before = store.revisions().await.expect("revisions");
    drop(store);
    let store = open(&url).await.expect("migrates");
    let left = store.all_acls().await.expect("bindings");
    assert_eq!(left, vec![binding("c", 1)], "the oldest stays");
    let after = store.revisions().await.expect("revisions");
    assert_eq!((after.all, after.acls), (before.all + 1, before.acls + 1));
    let again = store
        .create_acls(&[binding("d", 5)])
        .await
        .expect("answered");
    assert_eq!(again.rows, vec![(binding("c", 1), false)]);
    assert_eq!(again.revision, None, "nothing changed");
}

#[tokio::test]
async fn each_write_bumps_the_revision_of_what_it_changes() {
    let dir = scratch("revisions");
    let store = open(&format!("sqlite://{}/store.db", dir.display()))
        .await
        .expect("opens");
    let r0 = store.revisions().await.expect("revisions");
    let a = provider("a", "dev-1", "https://one.example");
    store.create_provider(&a).await.expect("created");
    let r1 = store.revisions().await.expect("revisions");
    assert_eq!(
        (r1.all, r1.providers, r1.acls),
        (r0.all + 1, r0.providers + 1, r0.acls)
    );
    let acl = StoredAcl {
        id: "x".into(),
        organization: "acme".into(),
        permission: "ALLOW".into(),
        principal: "User:a".into(),
        host: "*".into(),
        operation: "READ".into(),
        resource_type: "TOPIC".into(),
        pattern_type: "LITERAL".into(),
        resource_name: "t".into(),
        created_at: 1,
    };
    store.create_acls(&[acl]).await.expect("created");
    let r2 = store.revisions().await.expect("revisions");
    assert_eq!(
        (r2.all, r2.providers, r2.acls),
        (r1.all + 1, r1.providers, r1.acls + 1)
    );
    assert_eq!(
        store.delete_acl("acme", "x").await.expect("deleted"),
        Some(super::Written {
            all: r2.all + 1,
            of_kind: r2.acls + 1
        })
    );
    assert!(store.delete_provider("acme", "a").await.expect("deleted"));
    let r3 = store.revisions().await.expect("revisions");
    assert_eq!(
        (r3.all, r3.providers, r3.acls),
        (r2.all + 2, r2.providers + 1, r2.acls + 1)
    );
    assert_eq!(store.revision().await.expect("revision"), r3.all);
}

#[tokio::test]
async fn the_change_log_names_the_organizations_each_write_changed() {
    let dir = scratch("changes");
    let store = open(&format!("sqlite://{}/store.db", dir.display()))
        .await
        .expect("opens");
    let r0 = store.revision().await.expect("revision");
    store
        .create_provider(&provider("a", "dev-1", "https://one.example"))
        .await
        .expect("created");
    let mut in_beta = binding("y", 2);
    in_beta.organization = "beta".into();
    store
        .create_acls(&[binding("x", 1), in_beta])
        .await
        .expect("created");
    assert!(
        store
            .delete_acl("beta", "y")
            .await
            .expect("deleted")
            .is_some()
    );
    let r1 = store.revision().await.expect("revision");
    assert_eq!(r1, r0 + 3);
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    let changed = store.changed_since(r0, r1).await.expect("read");
    assert_eq!(
        changed,
        Some(Changed {
            providers: set(&["acme"]),
            clusters: set(&[]),
            acls: set(&["acme", "beta"]),
            acl_rows: [("acme", &["x"]), ("beta", &["y"])]
                .into_iter()
                .map(|(org, ids)| (org.to_string(), set(ids)))
                .collect(),
        })
    );
    let last = store.changed_since(r1 - 1, r1).await.expect("read");
    assert_eq!(last.map(|c| c.acls), Some(set(&["beta"])));
    // The bindings of logged ids that are stored: x; y is gone.
    let found = store.acls_by_id(&["x", "y"]).await.expect("read");
    assert_eq!(
        found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["x"]
    );
    // A write of more bindings than are logged: its organization is read back whole.
    let many: Vec<StoredAcl> = (0..=LOGGED_ROWS)
        .map(|i| StoredAcl {
            resource_name: format!("many-{i}"),
            ..binding(&format!("m{i}"), 3)
        })
        .collect();
    store.create_acls(&many).await.expect("created");
    let r2 = store.revision().await.expect("revision");
    let changed = store
        .changed_since(r1 - 1, r2)
        .await
        .expect("read")
        .expect("held");
    assert_eq!(changed.acls, set(&["acme", "beta"]));
    assert_eq!(
        changed.acl_rows.keys().collect::<Vec<_>>(),
        ["beta"],
        "acme's ids are not all logged"
    );
    assert_eq!(
        store.changed_since(r1, r1).await.expect("read"),
        Some(Changed::default()),
        "nothing since"
    );
    // A write the log does not hold (an older release's): only reading everything is sure.
    sqlx::query("DELETE FROM store_changes WHERE revision = $1")
        .bind(r0 + 2)
        .execute(&store.pool)
        .await
        .expect("deleted");
    assert_eq!(store.changed_since(r0, r1).await.expect("read"), None);
    assert!(
        store
            .changed_since(r0 + 2, r1)
            .await
            .expect("read")
            .is_some()
    );
}

fn cluster(id: &str, organization: &str, name: &str, port: u16) -> StoredCluster {
    StoredCluster {
        id: id.into(),
        organization: organization.into(),
        name: name.into(),
        upstream: "default".into(),
        listener: "oauth".into(),
        bootstrap_port: Some(port),
        broker_port_base: Some(port + 10),
        namespace: Some(format!("{organization}.")),
        created_at: 1_743_924_850_689_912,
        updated_at: 1_743_924_850_689_912,
    }
}

/// No rule beyond the store's own.
const NO_CLASH: super::Clash<'static> = &|_, _| None;

#[tokio::test]
async fn virtual_clusters_are_stored_changed_and_deleted_with_their_own_revision() {
    let dir = scratch("clusters");
    let url = format!("sqlite://{}", dir.join("store.db").display());
    let store = open(&url).await.expect("open");
    let before = store.revisions().await.expect("revisions");
    let a = cluster("00000000-0000-4000-8000-000000000001", "acme", "main", 9300);
    store.create_cluster(&a, NO_CLASH).await.expect("create");
    let after = store.revisions().await.expect("revisions");
    assert_eq!(
        (after.all, after.clusters, after.acls, after.providers),
        (
            before.all + 1,
            before.clusters + 1,
            before.acls,
            before.providers
        )
    );
    let changed = store
        .changed_since(before.all, after.all)
        .await
        .expect("read")
        .expect("logged");
    assert_eq!(changed.clusters.iter().collect::<Vec<_>>(), ["acme"]);
    assert!(changed.acls.is_empty() && changed.providers.is_empty());

    // The same name in the organization, or a port another cluster holds, is refused by field;
    // the same name in another organization is not.
    let conflict = async |c: StoredCluster| match store.create_cluster(&c, NO_CLASH).await {
        Err(StoreError::Conflict { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let id2 = "00000000-0000-4000-8000-000000000002";
    assert_eq!(conflict(cluster(id2, "acme", "main", 9400)).await, "name");
    assert_eq!(
        conflict(cluster(id2, "globex", "main", 9300)).await,
        "bootstrap_port"
    );
    let mut on_base = cluster(id2, "globex", "main", 9305);
    on_base.broker_port_base = Some(9300);
    assert_eq!(conflict(on_base).await, "broker_port_base");
    // The caller's own rule (the API's server names and namespaces) refuses by its field.
    let refuse_acme: super::Clash<'_> =
        &|_, o| (o.organization == "acme").then(|| ("namespace", "overlaps".to_owned()));
    match store
        .create_cluster(&cluster(id2, "globex", "other", 9600), refuse_acme)
        .await
    {
        Err(StoreError::Conflict {
            field: "namespace", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let b = cluster(id2, "globex", "main", 9400);
    store
        .create_cluster(&b, NO_CLASH)
        .await
        .expect("another organization's main");
    // Clusters reached by server name have no ports of their own: any number of them.
    for (i, name) in ["sni-a", "sni-b"].into_iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-00000000001{i}");
        let mut sni = cluster(&id, "initech", name, 0);
        (sni.bootstrap_port, sni.broker_port_base) = (None, None);
        store
            .create_cluster(&sni, NO_CLASH)
            .await
            .expect("no ports");
        assert_eq!(
            store.cluster("initech", &id).await.expect("read"),
            Some(sni)
        );
    }

    let mut changed = a.clone();
    changed.upstream = "dedicated".into();
    changed.bootstrap_port = Some(9500);
    changed.broker_port_base = Some(9510);
    assert!(
        store
            .update_cluster(&changed, NO_CLASH)
            .await
            .expect("update")
    );
    let (page, count) = store.clusters("acme", 10, 0, None).await.expect("list");
    assert_eq!((page, count), (vec![changed.clone()], 1));
    assert_eq!(store.all_clusters().await.expect("all").len(), 4);
    assert!(!store.delete_cluster("globex", &a.id).await.expect("delete"));
    assert!(store.delete_cluster("acme", &a.id).await.expect("delete"));
    assert_eq!(store.cluster("acme", &a.id).await.expect("get"), None);
}

#[tokio::test]
async fn sqlite_writes_reach_the_database_file_while_the_store_stays_open() {
    let dir = scratch("checkpoint");
    let url = format!("sqlite://{}/store.db", dir.display());
    let store = open(&url).await.expect("opens");
    let file = dir.join("store.db");
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let before = size();
    for i in 0..300 {
        let p = provider(
            &format!("p{i}"),
            &format!("provider-{i}"),
            &format!("https://issuer-{i}.example"),
        );
        store.create_provider(&p).await.expect("created");
    }
    // Commits only append to the write-ahead log (no checkpoint rides on a commit); the
    // store's own checkpoints copy them into the database file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {before} bytes after 300 commits"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(store.all_providers().await.expect("listed").len(), 300);
}
