//! The newer read wins for views that do not exist yet (DESIGN.md, "Two processors, one view").
//!
//! Two processors on one database: an older one reads Immuta while the view SQL it asked for is
//! held back; meanwhile Immuta changes, the webhook goes through the receiver and the queue, and
//! the pipeline's processor reconciles it. Then the older answer arrives. Its create must be
//! superseded: no view for a source deleted or disabled, a project taken off equalization, closed
//! or deleted, or a membership removed, by the newer read. And a newer read still creates what
//! it wants after an older read marked the scope.

use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use processor::Reconciler;
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::plan::Decision;
use views::Cause;

const VIEW_SQL: &str = immuta_simulator::DEFAULT_VIEW_SQL_ROUTE;

struct Case {
    what: &'static str,
    /// What the older processor reconciles.
    older_key: ReconcileKey,
    /// The change made while its view SQL is held back.
    change: Action,
}

fn id(n: u64) -> Id {
    Id::new(n.to_string()).unwrap()
}

fn data_source(d: u64) -> ReconcileKey {
    ReconcileKey::DataSource {
        data_source_id: id(d),
    }
}

fn project(p: u64) -> ReconcileKey {
    ReconcileKey::Project { project_id: id(p) }
}

/// Case `n` works on project `10 + n` holding data source `n` (and nothing else).
fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "a source deleted",
            older_key: data_source(1),
            change: Action::DeleteDataSource { data_source_id: 1 },
        },
        Case {
            what: "a source disabled",
            older_key: data_source(2),
            change: Action::SetDisabled {
                data_source_id: 2,
                disabled: true,
            },
        },
        Case {
            what: "a project taken off equalization",
            older_key: project(13),
            change: Action::SetEqualized {
                project_id: 13,
                equalized: false,
            },
        },
        Case {
            what: "a project closed",
            older_key: data_source(4),
            change: Action::CloseProject { project_id: 14 },
        },
        Case {
            what: "a project deleted",
            older_key: project(15),
            change: Action::DeleteProject { project_id: 15 },
        },
        Case {
            what: "a membership removed",
            older_key: project(16),
            change: Action::RemoveFromProject {
                project_id: 16,
                data_source_id: 6,
            },
        },
    ]
}

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    for n in 1..=7 {
        t.add_data_source(n, &format!("Source {n}"), "PostgreSQL");
        // Case 7: a project not equalized yet.
        t.add_project(10 + n, &format!("Project {n}"), n != 7, &[n]);
    }
    t
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// Runs `older`'s reconcile of `key` with its view SQL held back, while `change` is made and the
/// pipeline processes its webhook; returns what `older` decided for its views.
async fn older_read_against_a_newer_one(
    p: &Pipeline,
    older: &Reconciler,
    key: &ReconcileKey,
    change: Action,
) -> Vec<Decision> {
    p.simulator.hold(VIEW_SQL);
    let keys = [(key.clone(), Cause::default())];
    let older_read = older.reconcile(&keys, deadline());
    let newer_read = async {
        assert!(
            p.simulator.until_held(1, Duration::from_secs(20)).await,
            "{}: the older read never asked for its view SQL",
            p.database.name()
        );
        let stats = p.play([change]).await;
        assert_eq!(stats.failed, 0, "{}", p.database.name());
        p.simulator.release(VIEW_SQL);
    };
    let (results, ()) = tokio::join!(older_read, newer_read);
    let [result] = <[_; 1]>::try_from(results).unwrap();
    result
        .unwrap_or_else(|e| panic!("{}: {key}: {e}", p.database.name()))
        .into_iter()
        .map(|outcome| outcome.decision)
        .collect()
}

#[tokio::test]
async fn an_older_read_cannot_create_a_view_a_newer_read_ruled_out() {
    for db in Database::all() {
        let p = Pipeline::start(&db, tenant(), Options::default()).await;
        let older = p.second_processor();
        let name = db.name();
        for (n, case) in (1u64..).zip(cases()) {
            let what = case.what;
            let decisions =
                older_read_against_a_newer_one(&p, &older, &case.older_key, case.change).await;
            assert!(
                !decisions.is_empty()
                    && decisions
                        .iter()
                        .all(|d| matches!(d, Decision::Superseded { .. })),
                "{name}, {what}: the older read must be superseded, not {decisions:?}"
            );
            let (project, source) = ((10 + n).to_string(), n.to_string());
            assert!(
                !p.views()
                    .await
                    .iter()
                    .any(|(p, d, _)| *p == project && *d == source),
                "{name}, {what}: no view of source {source} in project {project}"
            );
            assert_eq!(
                p.database_views().await,
                p.ledger_views().await,
                "{name}, {what}: every view in the database is one the ledger knows"
            );
        }

        // Case 7: an older read finds project 17 not equalized and marks it; then it is
        // equalized, and the newer read creates its view.
        let results = older
            .reconcile(&[(project(17), Cause::default())], deadline())
            .await;
        assert!(matches!(&results[..], [Ok(outcomes)] if outcomes.is_empty()));
        p.play([Action::SetEqualized {
            project_id: 17,
            equalized: true,
        }])
        .await;
        assert!(
            p.views()
                .await
                .iter()
                .any(|(p, d, _)| p == "17" && d == "7"),
            "{name}: the newer read creates its view"
        );
        p.assert_converged("project 17 equalized after an older read")
            .await;
        p.finish().await;
    }
}
