//! The view SQL endpoint's answer is untrusted input, and names come from Immuta's users: end to
//! end, on every configured database, a hostile answer fails its own view alone (retried, then
//! dead-lettered) and runs nothing; hostile names make safe, distinct views.

use std::collections::BTreeSet;

use e2e::pipeline::{Database, Options, Pipeline, ViewState};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use sqlx::AssertSqlSafe;
use view_sync_core::plan::{RowState, Scope};

fn options() -> Options {
    Options {
        max_receive_count: 2,
        ..Options::default()
    }
}

/// The demo tenant with project 10 equalized over data sources 1 and 2 (and 20 over 3).
async fn with_three_views(db: &Database) -> Pipeline {
    let mut tenant = Tenant::demo();
    tenant.add_project(10, "Demo Project", true, &[1, 2]);
    let p = Pipeline::start(db, tenant, options()).await;
    assert_eq!(p.queue_resync().await.unwrap(), 2);
    let stats = p.drain().await;
    assert_eq!(stats.failed, 0, "{}: {stats:?}", db.name());
    assert_eq!(p.views().await.len(), 3);
    p
}

/// The rows of `table` (quoted, in the test's schema), or the error reading it.
async fn rows_of(p: &Pipeline, table: &str) -> Result<usize, sqlx::Error> {
    let sql = format!("SELECT * FROM {}", p.reconciler.store().reference(table));
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(p.reconciler.store().pool())
        .await
        .map(|rows| rows.len())
}

fn base_table(p: &Pipeline, data_source_id: u64) -> String {
    p.simulator.tenant().data_sources[&data_source_id].table_name()
}

/// The views the simulator wants now, except those of data source `stuck`, which must be as
/// they were `before`.
fn expected_except(p: &Pipeline, before: &BTreeSet<ViewState>, stuck: &str) -> BTreeSet<ViewState> {
    let mut expected: BTreeSet<ViewState> = p
        .expected(None)
        .into_iter()
        .filter(|(_, d, _)| d != stuck)
        .collect();
    expected.extend(before.iter().filter(|(_, d, _)| d == stuck).cloned());
    expected
}

#[tokio::test]
async fn a_second_statement_never_runs_and_fails_only_its_own_view() {
    for db in Database::all() {
        let p = with_three_views(&db).await;
        let before = p.views().await;
        let victim = base_table(&p, 2);
        let victim_ref = p.reconciler.store().reference(&victim);
        p.act(Action::ServeViewSql {
            data_source_id: 1,
            answer: Some(format!("{{sql}}; DROP TABLE {victim_ref}")),
        })
        .await;
        // A batch mate that must succeed.
        p.act(Action::BumpDataSourcePolicy { data_source_id: 2 })
            .await;
        let stats = p.drain().await;
        assert!(
            stats.failed >= 2,
            "{}: the hostile answer failed on every receive: {stats:?}",
            db.name()
        );
        assert_eq!(rows_of(&p, &victim).await.unwrap(), 4, "{}", db.name());
        let dead = p.dead_letters().await;
        assert_eq!(dead.len(), 1, "{}", db.name());
        assert!(
            dead[0]
                .body()
                .unwrap_or_default()
                .contains("\"modelId\":\"1\""),
            "{}: {:?}",
            db.name(),
            dead[0].body()
        );
        // Data source 1's view keeps its last good definition; data source 2's moved on.
        assert_eq!(
            p.views().await,
            expected_except(&p, &before, "1"),
            "{}",
            db.name()
        );

        p.act(Action::ServeViewSql {
            data_source_id: 1,
            answer: None,
        })
        .await;
        let stats = p.drain().await;
        assert_eq!(stats.failed, 0, "{}", db.name());
        p.assert_converged("the endpoint answers a query again")
            .await;
        p.finish().await;
    }
}

#[tokio::test]
async fn semicolons_in_literals_and_comments_make_one_view() {
    for db in Database::all() {
        let p = with_three_views(&db).await;
        p.act(Action::ServeViewSql {
            data_source_id: 1,
            answer: Some(
                "/* v2; DROP TABLE x; */ SELECT v.*, 'semi; colon -- not a comment' AS note \
                 FROM ({sql}) AS v -- trailing; DROP TABLE x"
                    .into(),
            ),
        })
        .await;
        let stats = p.drain().await;
        assert_eq!(stats.failed, 0, "{}: {stats:?}", db.name());
        p.assert_converged("an answer with semicolons inside").await;
        let rows = p.reconciler.store().rows(&Scope::Everything).await.unwrap();
        let view = rows
            .iter()
            .find(|r| r.view.project_id.as_str() == "10" && r.view.data_source_id.as_str() == "1")
            .expect("the view of data source 1 in project 10");
        let note: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT note FROM {} LIMIT 1",
            view.view_name
        )))
        .fetch_one(p.reconciler.store().pool())
        .await
        .unwrap();
        assert_eq!(note, "semi; colon -- not a comment", "{}", db.name());
        p.finish().await;
    }
}

#[tokio::test]
async fn a_create_view_answer_never_replaces_a_view_outside_the_ledger() {
    for db in Database::all() {
        let p = with_three_views(&db).await;
        let before = p.views().await;
        let theirs = p.reconciler.store().reference("someone_elses");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE VIEW {theirs} AS SELECT 'theirs' AS owner"
        )))
        .execute(p.reconciler.store().pool())
        .await
        .unwrap();
        p.act(Action::ServeViewSql {
            data_source_id: 1,
            answer: Some("CREATE OR REPLACE VIEW someone_elses AS {sql}".into()),
        })
        .await;
        let stats = p.drain().await;
        assert!(stats.failed >= 2, "{}: {stats:?}", db.name());
        assert_eq!(p.dead_letters().await.len(), 1, "{}", db.name());
        let owner: String =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT owner FROM {theirs}")))
                .fetch_one(p.reconciler.store().pool())
                .await
                .unwrap();
        assert_eq!(owner, "theirs", "{}", db.name());
        assert_eq!(
            p.views().await,
            expected_except(&p, &before, "1"),
            "{}",
            db.name()
        );
        p.finish().await;
    }
}

#[tokio::test]
async fn hostile_names_make_safe_distinct_views() {
    for db in Database::all() {
        let long = "very long name ".repeat(15);
        let mut tenant = Tenant::default();
        tenant
            .add_data_source(1, "O'Brien \"Clients\"; DROP TABLE x; --", "PostgreSQL")
            .add_data_source(2, "`back`ticks [brackets] \\ backslash \\'", "PostgreSQL")
            .add_data_source(3, "注文 données ✓", "PostgreSQL")
            .add_data_source(4, &long, "PostgreSQL")
            // These two sanitise alike: two views, the second under its alternate name.
            .add_data_source(5, "Orders!", "PostgreSQL")
            .add_data_source(6, "orders?", "PostgreSQL")
            .add_project(30, "Sales'; -- \"x\"", true, &[1, 2, 3, 4, 5, 6]);
        let p = Pipeline::start(&db, tenant, options()).await;
        assert_eq!(p.queue_resync().await.unwrap(), 1);
        let stats = p.drain().await;
        assert_eq!(stats.failed, 0, "{}: {stats:?}", db.name());
        assert!(p.dead_letters().await.is_empty(), "{}", db.name());

        // Every view reads back as the view of its own ledger row (checked by `views`).
        p.assert_converged("hostile names").await;

        let rows = p.reconciler.store().rows(&Scope::Everything).await.unwrap();
        let names: Vec<&str> = rows
            .iter()
            .filter(|r| r.state == RowState::Present)
            .map(|r| r.view_name.as_str())
            .collect();
        for name in &names {
            let bare = name.rsplit('.').next().unwrap().trim_matches(['"', '`']);
            assert!(
                bare.len() <= 63
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}: {name}",
                db.name()
            );
        }
        assert_eq!(names.len(), 6, "{}", db.name());
        assert_eq!(
            names.iter().collect::<BTreeSet<_>>().len(),
            6,
            "{}",
            db.name()
        );
        for id in 1..=6 {
            let table = base_table(&p, id);
            assert_eq!(
                rows_of(&p, &table).await.unwrap(),
                4,
                "{}: {table}",
                db.name()
            );
        }
        p.finish().await;
    }
}
