//! A data source the key may no longer read answers 404, as a deleted one does: its views are
//! dropped (fail closed), the audit trail says that the 404 may mean either, and a re-sync does
//! not bring them back. The target database plays no part, so SQLite.

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use views::AuditQuery;

#[tokio::test]
async fn a_source_the_key_cannot_read_loses_its_views_saying_why_it_may_be() {
    let p = Pipeline::start(&Database::Sqlite, Tenant::demo(), Options::default()).await;
    p.queue_resync().await.unwrap();
    p.drain().await;
    p.assert_converged("the first re-sync").await;
    let before = p.views().await;
    let of_source_3 = before.iter().filter(|(_, source, _)| source == "3").count();
    assert!(of_source_3 > 0, "the demo has views of data source 3");

    // The key loses its right to read source 3; a policy change on it is announced.
    p.simulator
        .tenant()
        .data_sources
        .get_mut(&3)
        .unwrap()
        .unreadable_by_key = true;
    p.play([Action::BumpDataSourcePolicy { data_source_id: 3 }])
        .await;

    let after = p.views().await;
    assert!(
        after.iter().all(|(_, source, _)| source != "3"),
        "{after:?}"
    );
    assert_eq!(after.len(), before.len() - of_source_3);
    let audit = p
        .reconciler
        .store()
        .audit(&AuditQuery::default())
        .await
        .unwrap();
    let drops: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "dropped" && e.view.data_source_id.as_str() == "3")
        .collect();
    assert_eq!(drops.len(), of_source_3, "{audit:#?}");
    for drop in drops {
        assert_eq!(
            drop.detail,
            "data source 3 not found: deleted, or the key may not read it (see `view-sync doctor`)"
        );
    }

    // A re-sync reads the projects, which still list the source: the key gets no SQL for its
    // views either, so they are not made again (the projects' keys fail, saying so), and the
    // views stay dropped until the key may read the source.
    p.queue_resync().await.unwrap();
    let stats = p.drain().await;
    assert!(stats.failed > 0, "{stats:?}");
    assert_eq!(p.views().await, after);
    p.finish().await;
}
