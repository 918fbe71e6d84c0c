//! Batch item reporting, with the real `aws_lambda_events` types and no reconcile I/O (none of
//! these records yields a key).

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use processor::{ProcessorConfig, Reconciler, batch};
use serde_json::json;
use view_sync_core::keys::{self, Reaction};
use view_sync_core::{Asks, Notification, QueueMessage};

fn reconciler() -> Reconciler {
    let config = ProcessorConfig::from_lookup(|k| match k {
        "IMMUTA_URL" => Some("http://127.0.0.1:1".into()),
        "IMMUTA_API_KEY" => Some("k".into()),
        "VIEW_SQL_PATH" => Some("/v/{projectId}/{dataSourceId}".into()),
        "DATABASE_URL" => Some("sqlite::memory:".into()),
        _ => None,
    })
    .unwrap();
    Reconciler::new(config).unwrap()
}

fn event(records: serde_json::Value) -> LambdaEvent<SqsEvent> {
    LambdaEvent::new(
        serde_json::from_value(json!({ "Records": records })).unwrap(),
        Context::default(),
    )
}

fn message(body: &str) -> String {
    QueueMessage::encode(&Notification::parse_json(body).unwrap(), 1, None)
}

#[tokio::test]
async fn undecodable_and_keyless_records_fail_alone() {
    let r = reconciler();
    let records = json!([
        {"messageId": "good-but-irrelevant", "body": message(r#"{"notificationType":"userCreated","modelType":"user","modelId":1}"#)},
        {"messageId": "garbage", "body": "not a queue message"},
        {"messageId": "missing-ids", "body": message(r#"{"notificationType":"addedToProject","modelType":"project","modelId":1}"#)},
        {"messageId": "future-version", "body": "{\"version\":99}"},
        {"messageId": "no-body"}
    ]);
    let response = batch::handle(&r, event(records)).await.unwrap();
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["garbage", "missing-ids", "future-version", "no-body"]
    );
}

#[tokio::test]
async fn a_failure_without_a_message_id_fails_the_batch_rather_than_reporting_an_empty_id() {
    let r = reconciler();
    let records = json!([{"body": "not a queue message"}, {"messageId": "", "body": "also not"}]);
    let error = batch::handle(&r, event(records)).await.unwrap_err();
    assert_eq!(error.0, 2);
    assert!(error.to_string().contains("whole batch"));
}

#[tokio::test]
async fn an_empty_batch_succeeds() {
    let response = batch::handle(&reconciler(), event(json!([])))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
}

/// `cargo lambda` builds with `panic = "abort"`: one panic would fail every record of the batch.
#[tokio::test]
async fn no_record_body_makes_the_processor_panic() {
    let valid = message(
        r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":"7","fields":{"disabled":true}}"#,
    );
    let mut state: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let records: Vec<serde_json::Value> = (0..3_000)
        .map(|i| {
            let mut body = valid.clone().into_bytes();
            for _ in 0..=(next() % 3) {
                if body.is_empty() {
                    break;
                }
                let at = (next() as usize) % body.len();
                match next() % 3 {
                    0 => body.truncate(at),
                    1 => body[at] = b"{}[]\":,0a\\"[(next() % 10) as usize],
                    _ => body.insert(at, b'"'),
                }
            }
            json!({"messageId": format!("m{i}"), "body": String::from_utf8_lossy(&body)})
        })
        .collect();
    let mut event = event(json!(records));
    // Mutations that still decode name unreachable Immuta and databases: keep the budget short.
    event.context.deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 3_000;
    // Decided here from each body alone, before the batch runs.
    let mut expected_failures = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &event.payload.records {
        let kind = kind_of(record.body.as_deref().unwrap());
        *kinds.entry(kind).or_default() += 1;
        if kind != "asks for nothing" {
            expected_failures.push(record.message_id.clone().unwrap());
        }
    }
    // The mutations cover every outcome (a changed generator or decoder shows here).
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("undecodable", 2_850),
            ("names no id its type needs", 20),
            ("asks for a key", 73),
            ("asks for a re-sync", 26),
            ("asks for nothing", 31),
        ])
    );
    let response = batch::handle(&reconciler(), event).await.unwrap();
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let not_reported: Vec<&String> = expected_failures
        .iter()
        .filter(|id| !failed.contains(&id.as_str()))
        .collect();
    let not_expected: Vec<&&str> = failed
        .iter()
        .filter(|id| !expected_failures.iter().any(|expected| expected == *id))
        .collect();
    assert!(
        not_reported.is_empty() && not_expected.is_empty(),
        "failed but not reported: {not_reported:?}; reported but should succeed: {not_expected:?}"
    );
    // Each once, in the batch's order.
    assert_eq!(failed, expected_failures);
}

/// What a record's body asks the processor, as its outcome depends on it: Immuta is
/// unreachable, so only a record that asks for nothing succeeds.
fn kind_of(body: &str) -> &'static str {
    let Ok(message) = QueueMessage::decode(body) else {
        return "undecodable";
    };
    match message.asks() {
        Asks::Key(_) => "asks for a key",
        Asks::Resync(_) => "asks for a re-sync",
        Asks::Notification(notification) => match keys::reaction_to(notification) {
            Err(_) => "names no id its type needs",
            Ok(Reaction::Key(_)) => "asks for a key",
            Ok(Reaction::ResyncAll) => "asks for a re-sync",
            Ok(Reaction::Nothing) => "asks for nothing",
        },
    }
}
