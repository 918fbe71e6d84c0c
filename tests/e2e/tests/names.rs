//! View names in any script: projects and data sources named in Japanese, Cyrillic and accented
//! Latin, and two sources whose names come out alike, all get distinct views through the whole
//! pipeline, and keep their names when re-synced. `view-sync plan` names each view as the re-sync
//! that follows it does, the second of two look-alike names included.

use std::collections::BTreeSet;

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::tenant::Tenant;

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    for (id, name) in [
        (1, "Orders"),
        (2, "注文"),
        (3, "顧客"),
        (4, "orders!"),
        (5, "Отчёты"),
        (6, "Café Müller"),
    ] {
        t.add_data_source(id, name, "PostgreSQL");
    }
    t.add_project(10, "営業", true, &[1]);
    t.add_project(11, "経理", true, &[1]);
    t.add_project(12, "Sales", true, &[1, 2, 3, 4, 5, 6]);
    t
}

#[tokio::test]
async fn names_in_any_script_and_names_alike_get_distinct_views() {
    for db in Database::all() {
        let name = db.name();
        let p = Pipeline::start(&db, tenant(), Options::default()).await;
        for round in ["first re-sync", "second re-sync"] {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            let plan = cli::plan::plan(&p.reconciler, deadline).await.unwrap();
            assert!(
                plan.failures.is_empty(),
                "{name}, {round}: {:?}",
                plan.failures
            );
            let planned: BTreeSet<String> =
                plan.changes.iter().map(|c| c.view_name.clone()).collect();
            p.queue_resync().await.unwrap();
            let stats = p.drain().await;
            assert_eq!(stats.failed, 0, "{name}, {round}: no view is refused");
            p.assert_converged(round).await;
            let views = p.ledger_views().await;
            assert_eq!(views.len(), 8, "{name}, {round}: {views:?}");
            assert_eq!(p.database_views().await, views, "{name}, {round}");
            assert!(
                views.iter().all(|v| v.is_ascii()),
                "{name}, {round}: {views:?}"
            );
            // The plan named the views the re-sync made (the first time), or none (after it).
            let expected = match round {
                "first re-sync" => views.clone(),
                _ => BTreeSet::new(),
            };
            assert_eq!(planned, expected, "{name}, {round}: the plan's names");
        }
        p.finish().await;
    }
}
