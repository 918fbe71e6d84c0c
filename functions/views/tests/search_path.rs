//! PostgreSQL without `VIEW_SCHEMA`: the ledger and the views stay in `public` whatever a
//! session's `search_path` resolves, and a ledger an earlier version made elsewhere on the
//! `search_path` is named, not duplicated; and a process opening a ledger never queues behind
//! the open sections of others. When TEST_POSTGRES_URL is set.

mod support;

use sqlx::{AnyPool, AssertSqlSafe};
use view_sync_core::plan::{Decision, DesiredView, Scope, Target};
use view_sync_core::view_sql::ViewSql;
use views::{ViewStore, ViewsError};

use support::{admin_pool, config, key, run_as_admin as run, unique};

/// A store with no schema configured, whose sessions resolve names through `search_path`.
fn store(url: &str, ledger: &str, search_path: Option<&str>) -> ViewStore {
    let url = match search_path {
        // psqlODBC runs `ConnSettings` as each session starts.
        Some(path) if url.starts_with("odbc+") => {
            format!("{url};ConnSettings=SET search_path TO {path}")
        }
        Some(path) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}options[search_path]={path}")
        }
        None => url.to_owned(),
    };
    ViewStore::connect_lazy(&config(&url, None, ledger)).unwrap()
}

fn version(store: &ViewStore, name: &str, version: &str) -> Target {
    let location = store.location();
    let sql = ViewSql::parse(&format!("SELECT '{version}' AS version"), location).unwrap();
    Target::Present(DesiredView::new(key("1", "2"), name, &sql, location))
}

/// Drops the ledger `ledger` and its tables from `schema`.
async fn drop_ledger(admin: &AnyPool, schema: &str, ledger: &str) {
    for suffix in ["", "_disabled_hints", "_scope_marks", "_audit", "_failures"] {
        run(
            admin,
            &format!("DROP TABLE IF EXISTS \"{schema}\".\"{ledger}{suffix}\""),
        )
        .await;
    }
}

#[tokio::test]
async fn a_changed_search_path_keeps_one_ledger_and_masks_the_view_readers_have() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        return;
    };
    let admin = admin_pool(&url).await;
    let suffix = unique("sp");
    let (ledger, warehouse, name) = (
        format!("ivs_ledger_{suffix}"),
        format!("ivs_wh_{suffix}"),
        format!("ivs_people_{suffix}"),
    );
    run(&admin, &format!("CREATE SCHEMA \"{warehouse}\"")).await;

    let before = store(&url, &ledger, None);
    before
        .apply(&version(&before, &name, "unmasked"), 1)
        .await
        .unwrap();

    // As after `ALTER DATABASE … SET search_path = warehouse, public`: new sessions resolve
    // unqualified names in the warehouse first.
    let after = store(&url, &ledger, Some(&format!("{warehouse},public")));
    let applied = after
        .apply(&version(&after, &name, "masked"), 2)
        .await
        .unwrap();
    assert_eq!(
        applied.decision,
        Decision::Replace {
            previous_name: None
        }
    );
    let masked: String = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM \"public\".\"{name}\""
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(masked, "masked");
    let in_warehouse: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = '{warehouse}'"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(in_warehouse, 0, "a second ledger or view in the warehouse");
    assert_eq!(before.reference(&name), format!("\"public\".\"{name}\""));

    run(&admin, &format!("DROP VIEW \"public\".\"{name}\"")).await;
    drop_ledger(&admin, "public", &ledger).await;
    run(&admin, &format!("DROP SCHEMA \"{warehouse}\" CASCADE")).await;
}

#[tokio::test]
async fn an_earlier_versions_ledger_is_taken_over_or_named() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        return;
    };
    let admin = admin_pool(&url).await;
    let suffix = unique("sp");
    let (ledger, elsewhere) = (format!("ivs_ledger_{suffix}"), format!("ivs_old_{suffix}"));

    // An earlier version's ledger in `public`, its views named unqualified.
    let earlier = store(&url, &ledger, None);
    earlier.ensure_ledger().await.unwrap();
    run(
        &admin,
        &format!(
            "INSERT INTO \"public\".\"{ledger}\" (project_id, data_source_id, view_name, sql_digest, \
             state, observed_at, updated_at) VALUES ('1', '2', '\"old_view\"', 'd', 'present', 1, 1), \
             ('1', '3', '', '', 'dropped', 0, 0), ('1', '4', '\"s\".\"v\"', 'd', 'present', 1, 1)"
        ),
    )
    .await;
    let now = store(&url, &ledger, None);
    now.ensure_ledger().await.unwrap();
    let mut names: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT view_name FROM \"public\".\"{ledger}\""
    )))
    .fetch_all(&admin)
    .await
    .unwrap();
    names.sort();
    assert_eq!(names, ["", "\"public\".\"old_view\"", "\"s\".\"v\""]);
    // And a row such a version writes while this one runs (a rolling deploy) reads alike.
    run(
        &admin,
        &format!(
            "UPDATE \"public\".\"{ledger}\" SET view_name = '\"old_view\"' WHERE data_source_id = '2'"
        ),
    )
    .await;
    let read: Vec<String> = now
        .rows(&Scope::View(key("1", "2")))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.view_name)
        .collect();
    assert_eq!(read, ["\"public\".\"old_view\""]);

    // An earlier version's ledger made in another schema of the search_path: named, not
    // duplicated in `public`.
    let other = format!("ivs_other_{suffix}");
    run(&admin, &format!("CREATE SCHEMA \"{elsewhere}\"")).await;
    run(
        &admin,
        &format!("CREATE TABLE \"{elsewhere}\".\"{other}\" (project_id TEXT)"),
    )
    .await;
    let refused = store(&url, &other, Some(&format!("{elsewhere},public")))
        .ensure_ledger()
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ViewsError::Refused { detail, .. }
            if detail.contains(&format!("set VIEW_SCHEMA={elsewhere}"))),
        "{refused}"
    );
    let duplicated: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT CAST(to_regclass('\"public\".\"{other}\"') AS TEXT)"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(duplicated, None);

    drop_ledger(&admin, "public", &ledger).await;
    run(&admin, &format!("DROP SCHEMA \"{elsewhere}\" CASCADE")).await;
}

/// A process that starts while another holds a view's section (its ledger row written, its
/// transaction open) opens the same ledger without waiting for it: the ledger's indexes are
/// looked for before they are made, since PostgreSQL's `CREATE INDEX IF NOT EXISTS` takes a
/// share lock on the table first and would queue behind the open section, and every later
/// section behind it.
#[tokio::test]
async fn a_starting_process_does_not_wait_for_open_sections() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        return;
    };
    let admin = admin_pool(&url).await;
    let schema = unique("ivs_start");
    let config = config(&url, Some(schema.clone()), "ledger");
    let first = ViewStore::connect_lazy(&config).unwrap();
    first.ensure_ledger().await.unwrap();
    // A section's write to the ledger, still open.
    let mut section = first.pool().begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (project_id, data_source_id, view_name, sql_digest, state, observed_at, \
         updated_at) VALUES ('1', '2', '', '', 'dropped', 0, 0)",
        first.ledger_table()
    )))
    .execute(&mut *section)
    .await
    .unwrap();
    let second = ViewStore::connect_lazy(&config).unwrap();
    let started = tokio::time::timeout(std::time::Duration::from_secs(5), second.ensure_ledger())
        .await
        .expect("the second process waited for the open section");
    started.unwrap();
    section.rollback().await.unwrap();
    run(
        &admin,
        &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
    )
    .await;
}
