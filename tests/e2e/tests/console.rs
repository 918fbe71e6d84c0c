//! The operator's console, the binary against the simulator on every configured database:
//! `plan` exits 0 on a synced database and 2 after a policy change not yet applied, a view edited
//! by hand and a view dropped by hand, naming each view; `resync` repairs all three and `plan`
//! returns to 0; `audit` lists each change with its cause.

use e2e::console::{json_of, view_sync};
use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use view_sync_core::plan::{RowState, Scope};
use views::Dialect;

async fn run(p: &Pipeline, args: &[&str]) -> (i32, Value) {
    let output = view_sync(p.processor_environment(), args).await;
    (output.status.code().unwrap_or(-1), json_of(&output))
}

/// `plan`'s changes as (action, view, drift).
async fn plan(p: &Pipeline, expected_status: i32) -> Vec<(String, String, String)> {
    let (status, plan) = run(p, &["plan", "--output", "json"]).await;
    assert_eq!(status, expected_status, "{}: {plan:#}", p.database.name());
    assert_eq!(plan["failures"], Value::Array(vec![]), "{plan:#}");
    let mut changes: Vec<(String, String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_owned(),
                c["view"].as_str().unwrap().to_owned(),
                c["drift"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    changes.sort();
    changes
}

async fn sql(p: &Pipeline, statement: &str) {
    sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
        .execute(p.reconciler.store().pool())
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

#[tokio::test]
async fn plan_finds_what_resync_repairs_and_audit_says_why() {
    Database::each_at_once(|db| async move {
        let mut tenant = Tenant::demo();
        tenant.add_project(30, "Everything", true, &[1, 2, 3]);
        let p = Pipeline::start(&db, tenant, Options::default()).await;
        let name = db.name();

        let to_create = plan(&p, 2).await;
        assert_eq!(to_create.len(), 4, "{name}: {to_create:?}");
        assert!(to_create.iter().all(|(action, _, _)| action == "create"));
        let (status, resynced) = run(&p, &["resync", "--output", "json"]).await;
        assert_eq!(
            (status, &resynced["reconciled"]),
            (0, &Value::from(2)),
            "{resynced}"
        );
        assert!(plan(&p, 0).await.is_empty(), "{name}: synced");
        p.assert_converged("after the first re-sync").await;

        let rows = p.reconciler.store().rows(&Scope::Everything).await.unwrap();
        let view_of = |project: &str, source: &str| {
            rows.iter()
                .find(|r| {
                    r.state == RowState::Present
                        && r.view.project_id.as_str() == project
                        && r.view.data_source_id.as_str() == source
                })
                .map(|r| r.view_name.clone())
                .unwrap()
        };
        let (policy_changed, edited, dropped) =
            (view_of("30", "1"), view_of("30", "2"), view_of("20", "3"));

        // (a) A policy change Immuta announced, still in the queue.
        p.act(Action::BumpDataSourcePolicy { data_source_id: 1 })
            .await;
        let expected_a = ("replace".to_owned(), policy_changed.clone(), String::new());
        assert_eq!(
            plan(&p, 2).await,
            std::slice::from_ref(&expected_a),
            "{name}"
        );
        // The replace comes with the diff of its SQL.
        let text = view_sync(p.processor_environment(), &["plan"]).await;
        assert_eq!(text.status.code(), Some(2));
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        assert!(
            text.contains(&format!("replace {policy_changed}"))
                && text.lines().any(|l| l.trim_start().starts_with("- "))
                && text.lines().any(|l| l.trim_start().starts_with("+ ")),
            "{name}: {text}"
        );

        // (b) A view edited by hand.
        let by_hand = "SELECT 'by hand' AS policy";
        match p.reconciler.store().dialect() {
            Dialect::MySql => {
                sql(&p, &format!("CREATE OR REPLACE VIEW {edited} AS {by_hand}")).await
            }
            Dialect::Postgres | Dialect::Sqlite => {
                sql(&p, &format!("DROP VIEW {edited}")).await;
                sql(&p, &format!("CREATE VIEW {edited} AS {by_hand}")).await;
            }
        }
        let expected_b = ("restore".to_owned(), edited.clone(), "edited".to_owned());
        let mut expected = vec![expected_a, expected_b];
        expected.sort();
        assert_eq!(plan(&p, 2).await, expected, "{name}");

        // (c) A view dropped by hand.
        sql(&p, &format!("DROP VIEW {dropped}")).await;
        expected.push(("restore".to_owned(), dropped.clone(), "missing".to_owned()));
        expected.sort();
        assert_eq!(plan(&p, 2).await, expected, "{name}");

        let (status, _) = run(&p, &["resync", "--output", "json"]).await;
        assert_eq!(status, 0, "{name}");
        assert!(plan(&p, 0).await.is_empty(), "{name}: repaired");
        p.assert_converged("after the repairing re-sync").await;
        // The queued notification finds nothing left to do.
        assert_eq!(p.drain().await.failed, 0);
        assert!(plan(&p, 0).await.is_empty());

        // A policy change delivered and applied through the queue.
        p.act(Action::BumpProjectPolicy { project_id: 20 }).await;
        assert_eq!(p.drain().await.failed, 0);
        assert!(plan(&p, 0).await.is_empty());

        let (status, audit) = run(&p, &["audit", "--output", "json", "--since", "1h"]).await;
        assert_eq!(status, 0, "{audit}");
        let entries: Vec<(String, String, String, String)> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["view"].as_str().unwrap().to_owned(),
                    e["detail"].as_str().unwrap().to_owned(),
                    e["cause"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let after_the_first_resync: Vec<_> = entries[4..].to_vec();
        assert!(
            entries[..4]
                .iter()
                .all(|(action, _, _, cause)| action == "created" && cause == "resync"),
            "{name}: {entries:?}"
        );
        let mut repaired = after_the_first_resync[..3].to_vec();
        repaired.sort();
        let resync = |action: &str, view: &str, detail: &str| {
            (
                action.to_owned(),
                view.to_owned(),
                detail.to_owned(),
                "resync".to_owned(),
            )
        };
        let mut expected = vec![
            resync("replaced", &policy_changed, ""),
            resync("restored", &edited, "drift: edited"),
            resync("restored", &dropped, "drift: missing"),
        ];
        expected.sort();
        assert_eq!(repaired, expected, "{name}");
        assert_eq!(
            after_the_first_resync[3..],
            [(
                "replaced".to_owned(),
                dropped.clone(),
                String::new(),
                "webhook".to_owned()
            )],
            "{name}: {entries:?}"
        );
        let webhook = audit["entries"].as_array().unwrap().last().unwrap();
        assert_eq!(
            webhook["notificationTypes"],
            serde_json::json!(["policyUpdated"])
        );
        assert_eq!(webhook["messageIds"].as_array().unwrap().len(), 1);

        // Filters: one view, one project.
        let (_, one_view) = run(&p, &["audit", "--output", "json", "--view", &dropped]).await;
        assert_eq!(
            one_view["entries"].as_array().unwrap().len(),
            3,
            "{one_view}"
        );
        let (_, project_20) = run(&p, &["audit", "--output", "json", "--project", "20"]).await;
        assert_eq!(project_20["entries"], one_view["entries"]);
        let (status, bad) = run(&p, &["audit", "--output", "json", "--since", "last week"]).await;
        assert_eq!(status, 1);
        assert!(bad["error"].as_str().unwrap().contains("--since"), "{bad}");
        p.finish().await;
    })
    .await;
}
