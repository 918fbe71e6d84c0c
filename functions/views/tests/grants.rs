//! The README's least-privilege database users, run as written (names made unique per run): the
//! processor's work succeeds as that user, and anything outside `VIEW_SCHEMA` is refused; with
//! the README's roles per project, each project's reader reads that project's views only.
//! PostgreSQL and MariaDB, when TEST_POSTGRES_URL / TEST_MYSQL_URL are set.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;
use sqlx::any::AnyPoolOptions;
use view_sync_core::Id;
use view_sync_core::naming::ProjectTemplate;
use view_sync_core::plan::{Decision, DesiredView, Target, ViewKey};
use view_sync_core::view_sql::ViewSql;
use views::{StoreConfig, ViewStore};

use support::url_as;

const README: &str = include_str!("../../../README.md");

/// The SQL block after `<!-- grants: NAME -->` in the README, one statement per line.
fn readme_script(name: &str) -> Vec<String> {
    let marker = format!("<!-- grants: {name} -->");
    let after = README
        .split_once(&marker)
        .unwrap_or_else(|| panic!("the README has no {marker}"))
        .1;
    let block = after
        .split_once("```sql\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("an sql block after the marker")
        .0;
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

struct Names {
    user: String,
    schema: String,
    warehouse: String,
    /// The README's `immuta_readers_…` roles are this, then `_` and the project id.
    readers: String,
    /// The README's `alice`.
    reader: String,
}

impl Names {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let suffix = format!(
            "{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            user: format!("ivs_user_{suffix}"),
            schema: format!("ivs_views_{suffix}"),
            warehouse: format!("ivs_wh_{suffix}"),
            readers: format!("ivs_readers_{suffix}"),
            reader: format!("ivs_alice_{suffix}"),
        }
    }

    /// The README's statement with this run's names.
    fn apply(&self, statement: &str) -> String {
        statement
            .replace("immuta_view_sync", &self.user)
            .replace("immuta_views", &self.schema)
            .replace("warehouse", &self.warehouse)
            .replace("immuta\\_views", &self.schema.replace('_', "\\_"))
            .replace("immuta_readers", &self.readers)
            .replace("alice", &self.reader)
    }
}

async fn run(pool: &sqlx::AnyPool, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
        .execute(pool)
        .await
        .map(drop)
}

/// A database set up by the README's scripts, with this run's names.
struct Fixture {
    admin: sqlx::AnyPool,
    names: Names,
    mariadb: bool,
    warehouse_table: String,
}

impl Fixture {
    /// A warehouse with one table, then each of `scripts` from the README, as the admin.
    async fn new(admin_url: &str, scripts: &[&str], mariadb: bool) -> Self {
        views::install_drivers();
        let admin = AnyPoolOptions::new()
            .max_connections(1)
            .connect(admin_url)
            .await
            .unwrap();
        let names = Names::new();
        let fixture = Self {
            warehouse_table: String::new(),
            admin,
            names,
            mariadb,
        };
        let warehouse_table = format!(
            "{}.{}",
            fixture.quote(&fixture.names.warehouse),
            fixture.quote("customers")
        );
        let create_warehouse = if mariadb {
            "CREATE DATABASE"
        } else {
            "CREATE SCHEMA"
        };
        let fixture = Self {
            warehouse_table,
            ..fixture
        };
        fixture
            .run(&format!(
                "{create_warehouse} {}",
                fixture.quote(&fixture.names.warehouse)
            ))
            .await;
        fixture
            .run(&format!(
                "CREATE TABLE {} (id INT)",
                fixture.warehouse_table
            ))
            .await;
        for script in scripts {
            for statement in readme_script(script) {
                let statement = fixture
                    .names
                    .apply(&statement)
                    .replace("analytics", database_of(admin_url));
                run(&fixture.admin, &statement)
                    .await
                    .unwrap_or_else(|e| panic!("{script}: {statement}: {e}"));
            }
        }
        fixture
    }

    fn quote(&self, name: &str) -> String {
        if self.mariadb {
            format!("`{name}`")
        } else {
            format!("\"{name}\"")
        }
    }

    async fn run(&self, statement: &str) {
        run(&self.admin, statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    /// The URL of `user` (password `change-me`); on MariaDB in `VIEW_SCHEMA`.
    fn url_of(&self, admin_url: &str, user: &str) -> String {
        url_as(
            admin_url,
            user,
            self.mariadb.then_some(self.names.schema.as_str()),
        )
    }

    /// The store as the README's processor user, with `VIEW_GRANT_ROLES` = `grant_roles`.
    fn store(&self, admin_url: &str, grant_roles: &str) -> ViewStore {
        self.store_with_schemas(admin_url, grant_roles, None)
    }

    /// [`Fixture::store`], with a `VIEW_SCHEMA` template (the ledger in the README's schema).
    fn store_with_schemas(
        &self,
        admin_url: &str,
        grant_roles: &str,
        view_schemas: Option<&str>,
    ) -> ViewStore {
        ViewStore::connect_lazy(&StoreConfig {
            view_schemas: view_schemas.map(|t| ProjectTemplate::parse(t).unwrap()),
            grant_roles: if grant_roles.is_empty() {
                Vec::new()
            } else {
                ProjectTemplate::parse_roles(grant_roles).unwrap()
            },
            ..support::config(
                &self.url_of(admin_url, &self.names.user),
                Some(self.names.schema.clone()),
                "immuta_view_sync_ledger",
            )
        })
        .unwrap()
    }

    async fn finish(self, roles: &[String]) {
        let q = |name: &str| self.quote(name);
        let mut cleanup = if self.mariadb {
            vec![
                format!("DROP DATABASE IF EXISTS {}", q(&self.names.schema)),
                format!("DROP DATABASE IF EXISTS {}", q(&self.names.warehouse)),
                format!("DROP USER IF EXISTS '{}'@'%'", self.names.user),
                format!("DROP USER IF EXISTS '{}'@'%'", self.names.reader),
            ]
        } else {
            vec![
                format!("DROP SCHEMA IF EXISTS {} CASCADE", q(&self.names.schema)),
                format!("DROP SCHEMA IF EXISTS {} CASCADE", q(&self.names.warehouse)),
                format!("DROP OWNED BY {}", q(&self.names.user)),
                format!("DROP ROLE IF EXISTS {}", q(&self.names.user)),
                format!("DROP ROLE IF EXISTS {}", q(&self.names.reader)),
            ]
        };
        cleanup.extend(
            roles
                .iter()
                .map(|role| format!("DROP ROLE IF EXISTS {}", q(role))),
        );
        for statement in cleanup {
            self.run(&statement).await;
        }
    }
}

fn view(store: &ViewStore, warehouse_table: &str, project_id: &str, version: &str) -> DesiredView {
    let location = store.location();
    let sql = ViewSql::parse(
        &format!("SELECT '{version}' AS version, count(*) AS n FROM {warehouse_table}"),
        location,
    )
    .unwrap();
    let key = ViewKey {
        project_id: Id::new(project_id).unwrap(),
        data_source_id: Id::new("2").unwrap(),
    };
    DesiredView::new(key, &format!("p{project_id}__d2"), &sql, location)
}

/// The processor's work as the README's user, then what it must not be able to do.
async fn check(admin_url: &str, script: &str, mariadb: bool) {
    let fixture = Fixture::new(admin_url, &[script], mariadb).await;
    let warehouse_table = &fixture.warehouse_table;
    let store = fixture.store(admin_url, "");
    let created = store
        .apply(
            &Target::Present(view(&store, warehouse_table, "1", "v1")),
            10,
        )
        .await
        .unwrap_or_else(|e| panic!("{script}: create as the README's user: {e}"));
    assert_eq!(created.decision, Decision::Create, "{script}");
    let replaced = store
        .apply(
            &Target::Present(view(&store, warehouse_table, "1", "v2")),
            20,
        )
        .await
        .unwrap_or_else(|e| panic!("{script}: replace as the README's user: {e}"));
    assert!(
        matches!(replaced.decision, Decision::Replace { .. }),
        "{script}"
    );
    let key = view(&store, warehouse_table, "1", "v2").view;
    store
        .apply(&Target::Absent(key), 30)
        .await
        .unwrap_or_else(|e| panic!("{script}: drop as the README's user: {e}"));

    let user = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&fixture.url_of(admin_url, &fixture.names.user))
        .await
        .unwrap();
    let q = |name: &str| fixture.quote(name);
    for forbidden in [
        format!(
            "CREATE TABLE {}.{} (id INT)",
            q(&fixture.names.warehouse),
            q("evil")
        ),
        format!(
            "CREATE VIEW {}.{} AS SELECT 1 AS a",
            q(&fixture.names.warehouse),
            q("evil")
        ),
        format!("DROP TABLE {warehouse_table}"),
        format!("DELETE FROM {warehouse_table}"),
    ] {
        assert!(
            run(&user, &forbidden).await.is_err(),
            "{script}: the README's user may run {forbidden}"
        );
    }
    user.close().await;
    store.pool().close().await;
    fixture.finish(&[]).await;
}

/// The README's roles per project, as its processor user grants them: the reader of project 10
/// reads project 10's view and not project 20's; a view dropped takes its grants.
async fn check_roles(admin_url: &str, scripts: &[&str], mariadb: bool) {
    let fixture = Fixture::new(admin_url, scripts, mariadb).await;
    let names = &fixture.names;
    let store = fixture.store(admin_url, &format!("{}_{{project_id}}", names.readers));
    let roles = [
        format!("{}_10", names.readers),
        format!("{}_20", names.readers),
    ];
    let mut references = Vec::new();
    for (project_id, role) in [("10", &roles[0]), ("20", &roles[1])] {
        let desired = view(&store, &fixture.warehouse_table, project_id, "v1")
            .with_grants(vec![role.clone()]);
        references.push(desired.name.clone());
        store
            .apply(&Target::Present(desired), 10)
            .await
            .unwrap_or_else(|e| panic!("{scripts:?}: create and grant as the README's user: {e}"));
    }
    let reader = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&fixture.url_of(admin_url, &names.reader))
        .await
        .unwrap();
    let select = |reference: &str| format!("SELECT * FROM {reference}");
    run(&reader, &select(&references[0]))
        .await
        .unwrap_or_else(|e| panic!("{scripts:?}: project 10's reader reads its view: {e}"));
    let denied = run(&reader, &select(&references[1])).await.unwrap_err();
    assert!(
        denied.to_string().contains("denied"),
        "{scripts:?}: project 10's reader reads project 20's view: {denied}"
    );
    reader.close().await;

    let key = view(&store, &fixture.warehouse_table, "10", "v1").view;
    store
        .apply(&Target::Absent(key), 20)
        .await
        .unwrap_or_else(|e| panic!("{scripts:?}: drop as the README's user: {e}"));
    if mariadb {
        let left: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM mysql.tables_priv WHERE Db = '{}' AND Table_name = 'p10__d2'",
            names.schema
        )))
        .fetch_one(&fixture.admin)
        .await
        .unwrap();
        assert_eq!(left, 0, "the dropped view's grants are gone");
    }
    store.pool().close().await;
    fixture.finish(&roles).await;
}

#[tokio::test]
async fn the_readme_postgres_user_can_do_the_processors_work_and_nothing_else() {
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        check(&url, "postgres", false).await;
    }
}

#[tokio::test]
async fn the_readme_mariadb_user_can_do_the_processors_work_and_nothing_else() {
    if let Ok(url) = std::env::var("TEST_MYSQL_URL") {
        check(&url, "mariadb", true).await;
    }
}

/// The database a URL names (`scheme://…/database?…`).
/// The database a URL names: its path, or an ODBC connection string's `Database=`.
fn database_of(url: &str) -> &str {
    if url.starts_with("odbc+") {
        return url
            .split(';')
            .find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("database")
                    .then_some(value.trim())
            })
            .unwrap_or_default();
    }
    let path = url.rsplit_once('/').map_or("", |(_, path)| path);
    path.split('?').next().unwrap_or_default()
}

/// The README's schema per project, as its processor user makes them: each project's view in
/// its own schema, created on demand, read by that project's reader only.
async fn check_schemas(admin_url: &str, scripts: &[&str], mariadb: bool) {
    let fixture = Fixture::new(admin_url, scripts, mariadb).await;
    let names = &fixture.names;
    let template = format!("{}_{{project_id}}", names.schema);
    let store = fixture.store_with_schemas(
        admin_url,
        &format!("{}_{{project_id}}", names.readers),
        Some(&template),
    );
    let roles = [
        format!("{}_10", names.readers),
        format!("{}_20", names.readers),
    ];
    let mut references = Vec::new();
    for (project_id, role) in [("10", &roles[0]), ("20", &roles[1])] {
        let location = store.location_of(project_id, "ignored");
        let sql = ViewSql::parse(
            &format!("SELECT count(*) AS n FROM {}", fixture.warehouse_table),
            &location,
        )
        .unwrap();
        let key = ViewKey {
            project_id: Id::new(project_id).unwrap(),
            data_source_id: Id::new("2").unwrap(),
        };
        let desired = DesiredView::new(key, "d2", &sql, &location).with_grants(vec![role.clone()]);
        assert!(
            desired
                .name
                .contains(&format!("{}_{project_id}", names.schema)),
            "{}",
            desired.name
        );
        references.push(desired.name.clone());
        store
            .apply(&Target::Present(desired), 10)
            .await
            .unwrap_or_else(|e| panic!("{scripts:?}: a view in its project's schema: {e}"));
    }
    let reader = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url_as(
            admin_url,
            &names.reader,
            mariadb.then_some(&*format!("{}_10", names.schema)),
        ))
        .await
        .unwrap();
    run(&reader, &format!("SELECT * FROM {}", references[0]))
        .await
        .unwrap_or_else(|e| panic!("{scripts:?}: project 10's reader reads its view: {e}"));
    run(&reader, &format!("SELECT * FROM {}", references[1]))
        .await
        .expect_err("project 10's reader reads project 20's view");
    reader.close().await;
    store.pool().close().await;
    if mariadb {
        for project_id in ["10", "20"] {
            fixture
                .run(&format!(
                    "DROP DATABASE IF EXISTS `{}_{project_id}`",
                    names.schema
                ))
                .await;
        }
    }
    fixture.finish(&roles).await;
}

#[tokio::test]
async fn the_readme_postgres_schemas_per_project_hold_their_projects_views() {
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        check_schemas(
            &url,
            &["postgres", "postgres-roles", "postgres-schemas"],
            false,
        )
        .await;
    }
}

#[tokio::test]
async fn the_readme_mariadb_schemas_per_project_hold_their_projects_views() {
    if let Ok(url) = std::env::var("TEST_MYSQL_URL") {
        check_schemas(&url, &["mariadb", "mariadb-roles", "mariadb-schemas"], true).await;
    }
}

#[tokio::test]
async fn the_readme_postgres_roles_read_their_projects_views_only() {
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        check_roles(&url, &["postgres", "postgres-roles"], false).await;
    }
}

#[tokio::test]
async fn the_readme_mariadb_roles_read_their_projects_views_only() {
    if let Ok(url) = std::env::var("TEST_MYSQL_URL") {
        check_roles(&url, &["mariadb", "mariadb-roles"], true).await;
    }
}
