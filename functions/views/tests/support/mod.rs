//! What the view store's tests share: one store per configured database (SQLite always;
//! PostgreSQL and MariaDB when TEST_POSTGRES_URL / TEST_MYSQL_URL are set), each in a schema
//! (database) of its own that is removed afterwards.
#![allow(dead_code)] // each test crate uses its own part

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;
use view_sync_core::Id;
use view_sync_core::plan::{DesiredView, ViewKey};
use view_sync_core::view_sql::ViewSql;
use views::steps::StepHook;
use views::{StoreConfig, ViewStore};

pub struct TestDb {
    pub store: ViewStore,
    pub name: &'static str,
    config: StoreConfig,
    cleanup: Option<String>,
    _dir: Option<TempDir>,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One store per configured database.
/// A store's configuration with `ledger` in `schema`, as the processor's defaults leave it: no
/// grants managed, no schema per project, views behind a barrier.
pub fn config(database_url: &str, schema: Option<String>, ledger: &str) -> StoreConfig {
    StoreConfig {
        database_url: database_url.to_owned(),
        schema,
        view_schemas: None,
        ledger_table: ledger.to_owned(),
        grant_roles: Vec::new(),
        create_roles: false,
        barrier: true,
        apply_concurrency: 4,
    }
}

pub fn databases() -> Vec<TestDb> {
    databases_in(|| unique("ivs_test"))
}

/// One store per configured database; PostgreSQL and MariaDB work in a schema named by `schema`.
pub fn databases_in(schema: impl Fn() -> String) -> Vec<TestDb> {
    let mut dbs = Vec::new();
    let dir = std::env::temp_dir().join(unique("ivs_views"));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = config(
        &format!("sqlite://{}/views.db", dir.display()),
        None,
        "ledger",
    );
    dbs.push(TestDb {
        store: ViewStore::connect_lazy(&sqlite).unwrap(),
        name: "sqlite",
        config: sqlite,
        cleanup: None,
        _dir: Some(TempDir(dir)),
    });
    for (variable, name, drop) in [
        (
            "TEST_POSTGRES_URL",
            "postgres",
            "DROP SCHEMA IF EXISTS {} CASCADE",
        ),
        ("TEST_MYSQL_URL", "mariadb", "DROP DATABASE IF EXISTS {}"),
    ] {
        if let Ok(url) = std::env::var(variable) {
            let schema = schema();
            let config = config(&url, Some(schema.clone()), "ledger");
            let store = ViewStore::connect_lazy(&config).unwrap();
            let cleanup = drop.replace("{}", &store.dialect().quote(&schema));
            dbs.push(TestDb {
                store,
                name,
                config,
                cleanup: Some(cleanup),
                _dir: None,
            });
        }
    }
    dbs
}

impl TestDb {
    /// The `DATABASE_URL` the store was made with.
    pub fn url(&self) -> &str {
        &self.config.database_url
    }

    /// The schema (database) the store works in: SQLite's `main`.
    pub fn schema(&self) -> &str {
        self.config.schema.as_deref().unwrap_or("main")
    }

    /// The store calls `hook` at each step of an apply.
    pub fn with_step_hook(mut self, hook: StepHook) -> Self {
        self.store = self.store.with_step_hook(hook);
        self
    }

    /// A store of its own on the same ledger and views, as a second processor has.
    pub fn another_processor(&self) -> ViewStore {
        ViewStore::connect_lazy(&self.config).unwrap()
    }

    /// Every view in the store's schema, from the database's own catalog.
    pub async fn database_views(&self) -> BTreeSet<String> {
        self.store.views_in_catalog().await.unwrap()
    }

    /// The views the ledger says may exist (present or pending).
    pub async fn ledger_views(&self) -> BTreeSet<String> {
        self.store.views_in_ledger().await.unwrap()
    }

    pub async fn finish(self) {
        if let Some(statement) = self.cleanup {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(self.store.pool())
                .await
                .unwrap();
        }
    }

    /// A view this system does not manage, `someone_elses`; returns how it is referred to.
    pub async fn create_theirs(&self) -> String {
        let theirs = self.store.reference("someone_elses");
        self.store.ensure_ledger().await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE VIEW {theirs} AS SELECT 'theirs' AS version"
        )))
        .execute(self.store.pool())
        .await
        .unwrap();
        theirs
    }

    pub async fn assert_theirs_untouched(&self, theirs: &str) {
        assert_eq!(
            self.read(theirs).await.as_deref(),
            Some("theirs"),
            "{}",
            self.name
        );
    }

    /// The `version` column of the view, or `None` when it does not exist.
    pub async fn read(&self, reference: &str) -> Option<String> {
        sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("SELECT version FROM {reference}")))
            .fetch_one(self.store.pool())
            .await
            .ok()
    }
}

/// A pool of one connection as the admin of the database at `url`.
pub async fn admin_pool(url: &str) -> sqlx::AnyPool {
    views::install_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// Runs `sql` (one or more statements) as the admin; a failure fails the test, naming it.
pub async fn run_as_admin(admin: &sqlx::AnyPool, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(admin)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `scheme://user:change-me@rest-of-the-url`, with `database` in place of the URL's own: the
/// admin's URL for another user (PostgreSQL trusts loopback here, so the password is not checked).
pub fn url_as(admin_url: &str, user: &str, database: Option<&str>) -> String {
    // `odbc+…:` and a connection string: its user, password and database replaced.
    if let Some((scheme, connection)) = admin_url
        .split_once(':')
        .filter(|(scheme, _)| scheme.starts_with("odbc+"))
    {
        let replaced = |pair: &&str| {
            let key = pair.split('=').next().unwrap_or_default().trim();
            let key = key.to_ascii_lowercase();
            matches!(key.as_str(), "uid" | "user" | "pwd" | "password")
                || (database.is_some() && key == "database")
                || key.is_empty()
        };
        let mut pairs: Vec<String> = connection
            .split(';')
            .filter(|pair| !replaced(pair))
            .map(str::to_owned)
            .collect();
        pairs.push(format!("Uid={user}"));
        pairs.push("Pwd=change-me".to_owned());
        if let Some(database) = database {
            pairs.push(format!("Database={database}"));
        }
        return format!("{scheme}:{}", pairs.join(";"));
    }
    let (scheme, rest) = admin_url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = match database {
        Some(database) => format!("{}/{database}", host.split_once('/').map_or(host, |h| h.0)),
        None => host.to_owned(),
    };
    format!("{scheme}://{user}:change-me@{host}")
}

pub fn key(p: &str, d: &str) -> ViewKey {
    ViewKey {
        project_id: Id::new(p).unwrap(),
        data_source_id: Id::new(d).unwrap(),
    }
}

pub fn desired(db: &TestDb, view: ViewKey, name: &str, version: &str) -> DesiredView {
    let location = db.store.location();
    let sql = ViewSql::parse(&format!("SELECT '{version}' AS version"), location).unwrap();
    DesiredView::new(view, name, &sql, location)
}
