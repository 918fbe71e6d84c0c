//! Drift and the audit trail against real databases: a view edited or dropped by hand is found
//! against the catalog as it was right after the apply (whatever each database does to the
//! text), restored by the next apply, and every change is in the audit trail with its cause.

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use view_sync_core::plan::{Decision, Drift, Target};
use views::{AuditQuery, Cause, Dialect, Origin};

mod support;

use support::{TestDb, databases, desired, key};

async fn run(db: &TestDb, statement: &str) {
    sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
        .execute(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{}: {statement}: {e}", db.name));
}

/// Redefines `reference` by hand, as someone with DDL rights would.
async fn edit_by_hand(db: &TestDb, reference: &str, version: &str) {
    let query = format!("SELECT '{version}' AS version");
    match db.store.dialect() {
        Dialect::MySql => {
            run(
                db,
                &format!("CREATE OR REPLACE VIEW {reference} AS {query}"),
            )
            .await
        }
        Dialect::Postgres | Dialect::Sqlite => {
            run(db, &format!("DROP VIEW {reference}")).await;
            run(db, &format!("CREATE VIEW {reference} AS {query}")).await;
        }
    }
}

fn webhook(message: &str) -> Cause {
    Cause {
        origin: Origin::Webhook,
        message_ids: vec![message.to_owned()],
        notification_types: vec!["policyUpdated".into()],
        request_id: Some("request-1".into()),
        ..Cause::default()
    }
}

#[tokio::test]
async fn drift_is_found_restored_and_audited() {
    for db in databases() {
        let ours = desired(&db, key("1", "2"), "p1_d2", "ours");
        let target = Target::Present(ours.clone());
        let apply = |observed_at: i64, cause: Cause| {
            let target = target.clone();
            let store = &db.store;
            async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                store
                    .apply_until(&target, observed_at, deadline, &cause)
                    .await
                    .unwrap()
                    .decision
            }
        };
        assert_eq!(apply(10, webhook("m-1")).await, Decision::Create);
        // The catalog's text is compared with the catalog's text: no drift after a create.
        assert_eq!(
            apply(20, webhook("m-2")).await,
            Decision::Unchanged,
            "{}",
            db.name
        );

        edit_by_hand(&db, &ours.name, "edited").await;
        assert_eq!(db.read(&ours.name).await.as_deref(), Some("edited"));
        assert_eq!(
            apply(30, Cause::default()).await,
            Decision::Restore {
                drift: Drift::Edited
            },
            "{}",
            db.name
        );
        assert_eq!(
            db.read(&ours.name).await.as_deref(),
            Some("ours"),
            "{}",
            db.name
        );
        assert_eq!(
            apply(40, Cause::default()).await,
            Decision::Unchanged,
            "{}",
            db.name
        );

        run(&db, &format!("DROP VIEW {}", ours.name)).await;
        assert_eq!(
            apply(50, Cause::default()).await,
            Decision::Restore {
                drift: Drift::Missing
            },
            "{}",
            db.name
        );
        assert_eq!(
            db.read(&ours.name).await.as_deref(),
            Some("ours"),
            "{}",
            db.name
        );

        let absent = Target::Absent(ours.view.clone());
        let dropped = db.store.apply(&absent, 60).await.unwrap().decision;
        assert!(matches!(dropped, Decision::Drop { .. }), "{}", db.name);
        // An older read arriving late: superseded, and the audit trail says so.
        let late = db.store.apply(&target, 55).await.unwrap().decision;
        assert!(matches!(late, Decision::Superseded { .. }), "{}", db.name);

        let trail = db.store.audit(&AuditQuery::default()).await.unwrap();
        let actions: Vec<(&str, &str)> = trail
            .iter()
            .map(|e| (e.action.as_str(), e.detail.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("created", ""),
                ("restored", "drift: edited"),
                ("restored", "drift: missing"),
                ("dropped", ""),
                ("superseded", "a decision observed at 60 was applied first"),
            ],
            "{}",
            db.name
        );
        let created = &trail[0];
        assert_eq!(
            (
                created.origin.as_str(),
                created.message_ids.as_slice(),
                created.notification_types.as_slice(),
                created.request_id.as_str(),
                created.observed_at,
                created.new_digest.as_str(),
                created.old_digest.as_str(),
            ),
            (
                "webhook",
                ["m-1".to_owned()].as_slice(),
                ["policyUpdated".to_owned()].as_slice(),
                "request-1",
                10,
                ours.digest.as_str(),
                ""
            )
        );
        assert_eq!(trail[3].old_digest, ours.digest);
        assert!(trail.windows(2).all(|w| w[0].applied_at <= w[1].applied_at));

        // Filters: by view (bare or as the ledger names it), project, time; newest N.
        let by_name = AuditQuery {
            view_name: Some("p1_d2".into()),
            ..AuditQuery::default()
        };
        assert_eq!(db.store.audit(&by_name).await.unwrap().len(), 5);
        let other_project = AuditQuery {
            project_id: view_sync_core::Id::new("9"),
            ..AuditQuery::default()
        };
        assert!(db.store.audit(&other_project).await.unwrap().is_empty());
        let since_drop = AuditQuery {
            since: Some(trail[3].applied_at),
            ..AuditQuery::default()
        };
        assert_eq!(db.store.audit(&since_drop).await.unwrap().len(), 2);
        let newest = AuditQuery {
            limit: Some(1),
            ..AuditQuery::default()
        };
        assert_eq!(
            db.store.audit(&newest).await.unwrap()[0].action,
            "superseded"
        );

        assert_eq!(db.store.prune_audit(1).await.unwrap(), 0, "{}", db.name);
        run(
            &db,
            &format!(
                "UPDATE {} SET applied_at = applied_at - {}",
                db.store.reference("ledger_audit"),
                2_i64 * 86_400 * 1_000_000
            ),
        )
        .await;
        assert_eq!(db.store.prune_audit(1).await.unwrap(), 5, "{}", db.name);
        db.finish().await;
    }
}

/// A ledger made by an earlier version has no catalog digests: its views are restored once, so
/// that no view is vouched for without having been checked.
#[tokio::test]
async fn a_ledger_of_an_earlier_version_gains_its_columns_and_its_views_are_verified() {
    for db in databases() {
        let ledger = db.store.reference("ledger");
        if let Some(schema) = &db.store.location().schema {
            let kind = if db.store.dialect() == Dialect::Postgres {
                "SCHEMA"
            } else {
                "DATABASE"
            };
            run(
                &db,
                &format!("CREATE {kind} {}", db.store.dialect().quote(schema)),
            )
            .await;
        }
        // The first version's ledger, with one view.
        run(
            &db,
            &format!(
                "CREATE TABLE {ledger} (project_id VARCHAR(255) NOT NULL, data_source_id VARCHAR(255) NOT NULL, \
                 view_name VARCHAR(1024) NOT NULL, sql_digest VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, \
                 observed_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (project_id, data_source_id))"
            ),
        )
        .await;
        let ours = desired(&db, key("1", "2"), "p1_d2", "ours");
        run(&db, &ours.create).await;
        run(
            &db,
            &format!(
                "INSERT INTO {ledger} VALUES ('1', '2', '{}', '{}', 'present', 5, 5)",
                ours.name.replace('\'', "''"),
                ours.digest
            ),
        )
        .await;
        let target = Target::Present(ours.clone());
        assert_eq!(
            db.store.apply(&target, 10).await.unwrap().decision,
            Decision::Restore {
                drift: Drift::Unverified
            },
            "{}",
            db.name
        );
        assert_eq!(
            db.store.apply(&target, 20).await.unwrap().decision,
            Decision::Unchanged
        );
        assert_eq!(
            db.store.applied_sql(&ours.view).await.unwrap().as_deref(),
            Some(ours.create.as_str())
        );
        db.finish().await;
    }
}
