//! The kept failures of queue messages against real databases: kept, replaced by a later
//! failure of the same message, forgotten when it succeeds, pruned when SQS can hold it no more.

use views::{MessageFailure, now_micros};

mod support;

use support::databases;

fn failure(message_id: &str, error: &str, received_at_ms: i64, failed_at: i64) -> MessageFailure {
    MessageFailure {
        message_id: message_id.into(),
        asked: "policyUpdated".into(),
        error: error.into(),
        received_at_ms,
        receive_count: 1,
        failed_at,
    }
}

#[tokio::test]
async fn failures_are_kept_replaced_forgotten_and_pruned() {
    for db in databases() {
        let now = now_micros();
        let store = &db.store;
        store
            .record_failures(&[
                failure("b", "first", 20, now),
                failure("a", "other", 10, now),
            ])
            .await
            .unwrap();
        store
            .record_failures(&[MessageFailure {
                receive_count: 2,
                ..failure("b", "second", 20, now)
            }])
            .await
            .unwrap();
        let kept = store.failures().await.unwrap();
        let seen: Vec<(&str, &str, i64)> = kept
            .iter()
            .map(|f| (f.message_id.as_str(), f.error.as_str(), f.receive_count))
            .collect();
        assert_eq!(seen, [("a", "other", 1), ("b", "second", 2)], "{}", db.name);

        store.clear_failures(&["a".into()]).await.unwrap();
        assert_eq!(store.failures().await.unwrap().len(), 1, "{}", db.name);
        let fifteen_days_ago = now - 15 * 86_400 * 1_000_000;
        store
            .record_failures(&[failure("old", "gone", 1, fifteen_days_ago)])
            .await
            .unwrap();
        assert_eq!(store.prune_failures().await.unwrap(), 1, "{}", db.name);
        let left: Vec<String> = store
            .failures()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.message_id)
            .collect();
        assert_eq!(left, ["b"], "{}", db.name);
        db.finish().await;
    }
}
