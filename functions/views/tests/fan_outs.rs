//! The time of the last re-sync fan-out, kept beside the ledger on every database: a later one
//! is kept, an earlier one never overwrites it, and no view's scope check reads it.

use view_sync_core::plan::{Decision, Target};

mod support;

use support::{databases, desired, key};

#[tokio::test]
async fn the_latest_fan_out_is_kept_and_no_view_check_reads_it() {
    for db in databases() {
        let name = db.name;
        let store = &db.store;
        assert_eq!(
            store.last_fan_out_started_ms().await.unwrap(),
            None,
            "{name}"
        );

        let now_ms = (views::now_micros() / 1_000) as u64;
        store.record_fan_out_started(now_ms).await.unwrap();
        assert_eq!(
            store.last_fan_out_started_ms().await.unwrap(),
            Some(now_ms),
            "{name}"
        );
        // A fan-out that started earlier, recorded late (another processor), changes nothing.
        store.record_fan_out_started(now_ms - 5_000).await.unwrap();
        assert_eq!(
            store.last_fan_out_started_ms().await.unwrap(),
            Some(now_ms),
            "{name}"
        );
        store.record_fan_out_started(now_ms + 5).await.unwrap();
        assert_eq!(
            store.last_fan_out_started_ms().await.unwrap(),
            Some(now_ms + 5),
            "{name}"
        );

        // A create observed before the fan-out started is not superseded by it.
        let view = desired(&db, key("1", "2"), "p1_d2", "v1");
        let observed_before = views::now_micros() - 60_000_000;
        let applied = store
            .apply(&Target::Present(view.clone()), observed_before)
            .await
            .unwrap();
        assert!(
            applied.decision == Decision::Create,
            "{name}: {:?}",
            applied.decision
        );
        assert_eq!(db.read(&view.name).await.as_deref(), Some("v1"), "{name}");
        db.finish().await;
    }
}
