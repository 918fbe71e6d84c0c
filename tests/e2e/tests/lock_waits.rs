//! Database waits stay inside the invocation: a view whose replace is blocked by a reader holding
//! it open fails (retryably) before the deadline, and the views after it in the batch are still
//! applied; once the reader lets go, the retry applies it.

use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use sqlx::AssertSqlSafe;
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::plan::{Decision, RowState, Scope, ViewKey};
use views::Cause;

/// The invocation's budget: the Lambda deadline less `DEADLINE_MARGIN_MS` (2 s by default).
const BUDGET: Duration = Duration::from_secs(6);

/// How far past the budget a wait may end: MariaDB and SQLite wait in whole seconds.
const OVERRUN: Duration = Duration::from_millis(1_200);

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    t.add_data_source(1, "Blocked", "PostgreSQL");
    t.add_data_source(2, "Free", "PostgreSQL");
    t.add_project(5, "Sales", true, &[1, 2]);
    t
}

fn source(d: u64) -> ReconcileKey {
    ReconcileKey::DataSource {
        data_source_id: Id::new(d.to_string()).unwrap(),
    }
}

async fn view_name(p: &Pipeline, d: &str) -> String {
    let view = ViewKey {
        project_id: Id::new("5").unwrap(),
        data_source_id: Id::new(d).unwrap(),
    };
    let rows = p.reconciler.store().rows(&Scope::View(view)).await.unwrap();
    assert_eq!(rows[0].state, RowState::Present);
    rows[0].view_name.clone()
}

#[tokio::test]
async fn a_view_blocked_by_a_reader_fails_alone_and_before_the_deadline() {
    for db in Database::all() {
        let name = db.name();
        let p = Pipeline::start(&db, tenant(), Options::default()).await;
        p.play([Action::BumpProjectPolicy { project_id: 5 }]).await;
        let blocked = view_name(&p, "1").await;

        // A reader holds view 1 open in a transaction: PostgreSQL's replace needs an exclusive
        // lock on it, MariaDB's a metadata lock; SQLite's reader blocks nobody, so there the
        // blocker holds the write lock (and, SQLite having one writer, blocks both views).
        // Another session: on SQLite the processor's pool has its one connection.
        let other = p.second_processor();
        let mut reader = other.store().pool().begin().await.unwrap();
        let hold = match db {
            Database::Sqlite => {
                "INSERT INTO immuta_view_sync_ledger_disabled_hints VALUES ('held', 0, 0)"
                    .to_owned()
            }
            _ => format!("SELECT * FROM {blocked}"),
        };
        sqlx::query(AssertSqlSafe(hold))
            .execute(&mut *reader)
            .await
            .unwrap();

        // Both sources' policies change; the processor reconciles them in one batch.
        for d in [1, 2] {
            p.simulator
                .act(Action::BumpDataSourcePolicy { data_source_id: d })
                .await
                .unwrap();
        }
        let started = Instant::now();
        let deadline = started + BUDGET;
        let results = p
            .reconciler
            .reconcile(
                &[(source(1), Cause::default()), (source(2), Cause::default())],
                deadline,
            )
            .await;
        let took = started.elapsed();
        assert!(
            took < BUDGET + OVERRUN,
            "{name}: the batch took {took:?} against a budget of {BUDGET:?}"
        );
        let error = results[0].as_ref().expect_err("view 1 is blocked");
        assert!(error.is_retryable(), "{name}: {error}");
        assert!(
            error.to_string().contains("timed out waiting for a lock"),
            "{name}: {error}"
        );
        match db {
            Database::Sqlite => assert!(results[1].is_err(), "{name}: one writer"),
            _ => {
                let outcomes = results[1]
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{name}: view 2 is free: {e}"));
                assert!(
                    matches!(outcomes[..], [ref o] if matches!(o.decision, Decision::Replace { .. })),
                    "{name}: {outcomes:?}"
                );
            }
        }

        // The reader lets go; the retry (the next delivery) applies view 1.
        reader.rollback().await.unwrap();
        let results = p
            .reconciler
            .reconcile(
                &[(source(1), Cause::default()), (source(2), Cause::default())],
                Instant::now() + BUDGET,
            )
            .await;
        assert!(results.iter().all(Result::is_ok), "{name}: {results:?}");
        p.drain().await;
        p.assert_converged("a blocked view, then its retry").await;
        p.finish().await;
    }
}
