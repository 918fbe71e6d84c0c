//! The README's least-privilege database users, run as written (names made unique per run): the
//! processor's work succeeds as that user, and anything outside `VIEW_SCHEMA` is refused.
//! PostgreSQL and MariaDB, when TEST_POSTGRES_URL / TEST_MYSQL_URL are set.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;
use sqlx::any::AnyPoolOptions;
use view_sync_core::Id;
use view_sync_core::plan::{Decision, DesiredView, Target, ViewKey};
use view_sync_core::view_sql::ViewSql;
use views::{StoreConfig, ViewStore};

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
        }
    }

    /// The README's statement with this run's names.
    fn apply(&self, statement: &str) -> String {
        statement
            .replace("immuta_view_sync", &self.user)
            .replace("immuta_views", &self.schema)
            .replace("warehouse", &self.warehouse)
    }
}

async fn run(pool: &sqlx::AnyPool, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
        .execute(pool)
        .await
        .map(drop)
}

/// `scheme://user:change-me@rest-of-the-url`, with `database` in place of the URL's own.
fn url_as(admin_url: &str, user: &str, database: Option<&str>) -> String {
    let (scheme, rest) = admin_url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = match database {
        Some(database) => format!("{}/{database}", host.split_once('/').map_or(host, |h| h.0)),
        None => host.to_owned(),
    };
    format!("{scheme}://{user}:change-me@{host}")
}

fn view(store: &ViewStore, warehouse_table: &str, version: &str) -> DesiredView {
    let location = store.location();
    let sql = ViewSql::parse(
        &format!("SELECT '{version}' AS version, count(*) AS n FROM {warehouse_table}"),
        location,
    )
    .unwrap();
    let key = ViewKey {
        project_id: Id::new("1").unwrap(),
        data_source_id: Id::new("2").unwrap(),
    };
    DesiredView::new(key, "p1__d2", &sql, location)
}

/// The processor's work as the README's user, then what it must not be able to do.
async fn check(admin_url: &str, script: &str, mariadb: bool) {
    sqlx::any::install_default_drivers();
    let admin = AnyPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await
        .unwrap();
    let names = Names::new();
    let quote = |name: &str| {
        if mariadb {
            format!("`{name}`")
        } else {
            format!("\"{name}\"")
        }
    };
    let warehouse_table = format!("{}.{}", quote(&names.warehouse), quote("customers"));
    let create_warehouse = if mariadb {
        "CREATE DATABASE"
    } else {
        "CREATE SCHEMA"
    };
    run(
        &admin,
        &format!("{create_warehouse} {}", quote(&names.warehouse)),
    )
    .await
    .unwrap();
    run(&admin, &format!("CREATE TABLE {warehouse_table} (id INT)"))
        .await
        .unwrap();
    for statement in readme_script(script) {
        let statement = names.apply(&statement);
        run(&admin, &statement)
            .await
            .unwrap_or_else(|e| panic!("{script}: {statement}: {e}"));
    }

    let user_url = url_as(
        admin_url,
        &names.user,
        mariadb.then_some(names.schema.as_str()),
    );
    let store = ViewStore::connect_lazy(&StoreConfig {
        database_url: user_url.clone(),
        schema: Some(names.schema.clone()),
        ledger_table: "immuta_view_sync_ledger".into(),
    })
    .unwrap();
    let created = store
        .apply(&Target::Present(view(&store, &warehouse_table, "v1")), 10)
        .await
        .unwrap_or_else(|e| panic!("{script}: create as the README's user: {e}"));
    assert_eq!(created.decision, Decision::Create, "{script}");
    let replaced = store
        .apply(&Target::Present(view(&store, &warehouse_table, "v2")), 20)
        .await
        .unwrap_or_else(|e| panic!("{script}: replace as the README's user: {e}"));
    assert!(
        matches!(replaced.decision, Decision::Replace { .. }),
        "{script}"
    );
    let key = view(&store, &warehouse_table, "v2").view;
    store
        .apply(&Target::Absent(key), 30)
        .await
        .unwrap_or_else(|e| panic!("{script}: drop as the README's user: {e}"));

    let user = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&user_url)
        .await
        .unwrap();
    for forbidden in [
        format!(
            "CREATE TABLE {}.{} (id INT)",
            quote(&names.warehouse),
            quote("evil")
        ),
        format!(
            "CREATE VIEW {}.{} AS SELECT 1 AS a",
            quote(&names.warehouse),
            quote("evil")
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

    let cleanup = if mariadb {
        vec![
            format!("DROP DATABASE IF EXISTS {}", quote(&names.schema)),
            format!("DROP DATABASE IF EXISTS {}", quote(&names.warehouse)),
            format!("DROP USER IF EXISTS '{}'@'%'", names.user),
        ]
    } else {
        vec![
            format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(&names.schema)),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(&names.warehouse)),
            format!("DROP OWNED BY {}", quote(&names.user)),
            format!("DROP ROLE IF EXISTS {}", quote(&names.user)),
        ]
    };
    for statement in cleanup {
        run(&admin, &statement).await.unwrap();
    }
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
