//! A full re-sync fanned out through the processor's queue: views that pre-date any webhook (or
//! whose webhooks were lost) are created, on every configured database.

use std::time::{Duration, Instant};

use e2e::moto::Moto;
use e2e::pipeline::{Database, Options, Pipeline};
use e2e::sqs;
use immuta_simulator::tenant::Tenant;
use receiver::SqsSink;

#[tokio::test]
async fn a_resync_through_the_queue_converges_without_any_webhook() {
    for db in Database::all() {
        let mut tenant = Tenant::demo();
        tenant.add_project(30, "Everything", true, &[1, 2, 3, 4]);
        let p = Pipeline::start(&db, tenant, Options::default()).await;
        assert!(p.views().await.is_empty());

        let deadline = Instant::now() + Duration::from_secs(30);
        let projects = cli::resync::projects(&p.reconciler, deadline)
            .await
            .unwrap();
        let sink = SqsSink::new(
            &sqs::sdk_config(&Moto::shared().endpoint),
            p.queues.url.clone(),
        );
        assert_eq!(cli::resync::enqueue(&sink, &projects).await.unwrap(), 2);
        let stats = p.drain().await;
        assert_eq!((stats.records, stats.failed), (2, 0), "{}", db.name());
        p.assert_converged("a re-sync").await;
        assert_eq!(p.views().await.len(), 5, "{}", db.name());
        p.finish().await;
    }
}
