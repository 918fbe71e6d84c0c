//! The scheduled re-sync end to end through moto SQS: the message the stack's schedule sends
//! (`events/lambda/sqs-scheduled-resync.json`, which `make lint` holds `template.yaml` to) makes
//! the processor fan every project out as a key through its own queue, the keys converge the
//! views with "schedule" as their cause, and the audit trail is pruned.

use e2e::pipeline::{Database, Options, Pipeline, Runtime};
use immuta_simulator::tenant::Tenant;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use views::{AuditQuery, DEFAULT_LEDGER_TABLE};

fn scheduled_message() -> String {
    let event: Value = serde_json::from_str(include_str!(
        "../../../events/lambda/sqs-scheduled-resync.json"
    ))
    .unwrap();
    event["Records"][0]["body"].as_str().unwrap().to_owned()
}

async fn scheduled_resync_converges_and_prunes(db: &Database, options: Options) {
    let mut tenant = Tenant::demo();
    tenant.add_project(30, "Everything", true, &[1, 2, 3]);
    let p = Pipeline::start(db, tenant, options).await;
    let store = p.reconciler.store();
    store.ensure_ledger().await.unwrap();
    // A change recorded long before the retention period.
    let audit = store.reference(&format!("{DEFAULT_LEDGER_TABLE}_audit"));
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO {audit} (applied_at, project_id, data_source_id, view_name, action, detail, old_digest, \
         new_digest, observed_at, origin, message_ids, notification_types, request_id) \
         VALUES (1, '1', '1', 'old', 'created', '', '', '', 1, 'webhook', '', '', '')"
    )))
    .execute(store.pool())
    .await
    .unwrap();

    p.enqueue(&scheduled_message()).await;
    let stats = p.drain().await;
    // The schedule's message, then one key per project (20 and 30) that it queued.
    assert_eq!((stats.records, stats.failed), (3, 0), "{}", db.name());
    p.assert_converged("the scheduled re-sync").await;
    assert_eq!(p.views().await.len(), 4, "{}", db.name());

    let trail = store.audit(&AuditQuery::default()).await.unwrap();
    let changes: Vec<(&str, &str)> = trail
        .iter()
        .map(|e| (e.action.as_str(), e.origin.as_str()))
        .collect();
    assert_eq!(
        changes,
        [("created", "schedule"); 4],
        "{}: pruned, then the re-sync's",
        db.name()
    );
    assert!(
        trail
            .iter()
            .all(|e| e.message_ids.len() == 1 && !e.request_id.is_empty())
    );
    assert!(p.dead_letters().await.is_empty());
    p.finish().await;
}

#[tokio::test]
async fn the_scheduled_resync_fans_out_converges_and_prunes_on_every_database() {
    Database::each_at_once(|db| async move {
        scheduled_resync_converges_and_prunes(&db, Options::default()).await;
    })
    .await;
}

/// The processor binary as deployed (under `cargo lambda watch`): `QUEUE_URL` makes its fan-out
/// queue at cold start.
#[tokio::test]
async fn the_deployed_processor_fans_the_scheduled_resync_out() {
    let options = Options {
        runtime: Runtime::CargoLambdaWatch,
        ..Options::default()
    };
    scheduled_resync_converges_and_prunes(&Database::Sqlite, options).await;
}
