//! A full re-sync fanned out through the processor's queue: views that pre-date any webhook (or
//! whose webhooks were lost) are created, on every configured database.

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::tenant::Tenant;

#[tokio::test]
async fn a_resync_through_the_queue_converges_without_any_webhook() {
    for db in Database::all() {
        let mut tenant = Tenant::demo();
        tenant.add_project(30, "Everything", true, &[1, 2, 3, 4]);
        let p = Pipeline::start(&db, tenant, Options::default()).await;
        assert!(p.views().await.is_empty());

        assert_eq!(p.queue_resync().await.unwrap(), 2);
        let stats = p.drain().await;
        assert_eq!((stats.records, stats.failed), (2, 0), "{}", db.name());
        p.assert_converged("a re-sync").await;
        assert_eq!(p.views().await.len(), 5, "{}", db.name());
        p.finish().await;
    }
}
