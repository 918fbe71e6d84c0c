//! `view-sync plan` says exactly what the re-sync that follows it does: over look-alike names, a
//! view dropped by hand, a policy change, a removal, a new source and a decision superseded by a
//! newer one, the plan's (view, action) list equals the audit trail's entries of the re-sync, on
//! every configured database.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::tenant::Tenant;
use view_sync_core::plan::Scope;
use views::AuditQuery;

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    for (id, name) in [
        (1, "Orders"),
        (2, "Customers"),
        (3, "Invoices"),
        (4, "orders!"),
        (5, "ORDERS?"),
        (6, "Refunds"),
    ] {
        t.add_data_source(id, name, "PostgreSQL");
    }
    t.add_project(12, "Sales", true, &[1, 2, 3, 4, 6]);
    t
}

/// (view name, action) of every change.
type Changes = BTreeSet<(String, String)>;

async fn plan(p: &Pipeline) -> Changes {
    let deadline = Instant::now() + Duration::from_secs(120);
    let plan = cli::plan::plan(&p.reconciler, deadline).await.unwrap();
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    plan.changes
        .iter()
        .map(|c| (c.view_name.clone(), c.decision.action().to_owned()))
        .collect()
}

/// The re-sync's audit entries.
async fn resync(p: &Pipeline) -> Changes {
    let since = views::now_micros();
    p.queue_resync().await.unwrap();
    let stats = p.drain().await;
    assert_eq!(stats.failed, 0, "{stats:?}");
    let query = AuditQuery {
        since: Some(since),
        ..AuditQuery::default()
    };
    let audit = p.reconciler.store().audit(&query).await.unwrap();
    audit.into_iter().map(|e| (e.view_name, e.action)).collect()
}

async fn view_name_of(p: &Pipeline, data_source_id: &str) -> String {
    let rows = p.reconciler.store().rows(&Scope::Everything).await.unwrap();
    rows.into_iter()
        .find(|r| r.view.data_source_id.as_str() == data_source_id && r.state.is_owned())
        .map(|r| r.view_name)
        .unwrap_or_else(|| panic!("no view of data source {data_source_id}"))
}

#[tokio::test]
async fn the_plan_lists_exactly_what_the_resync_then_does() {
    Database::each_at_once(|db| async move {
        let name = db.name();
        let p = Pipeline::start(&db, tenant(), Options::default()).await;

        // A first deployment: everything is created, two look-alike names among them.
        let planned = plan(&p).await;
        assert_eq!(planned.len(), 5, "{name}: {planned:?}");
        assert!(planned.iter().all(|(_, action)| action == "created"));
        assert_eq!(resync(&p).await, planned, "{name}: the first re-sync");

        // Changes no webhook told of: a policy on source 2, source 3 leaves the project, a third
        // look-alike name joins it, and the view of source 4 (an alternate name) and of source 6
        // are dropped by hand.
        {
            let mut t = p.simulator.tenant();
            let customers = t.data_sources.get_mut(&2).unwrap();
            customers.masking = customers.masking.next();
            customers.policy_version += 1;
            let sales = t.projects.get_mut(&12).unwrap();
            sales.members.remove(&3);
            sales.members.insert(5);
        }
        for source in ["4", "6"] {
            let view = view_name_of(&p, source).await;
            p.run_sql(format!("DROP VIEW {view}")).await;
        }
        let planned = plan(&p).await;
        let actions: BTreeSet<&str> = planned.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(
            actions,
            ["created", "dropped", "replaced", "restored"].into(),
            "{name}: {planned:?}"
        );
        assert_eq!(planned.len(), 5, "{name}: {planned:?}");
        assert_eq!(resync(&p).await, planned, "{name}: after the changes");

        // Nothing left to do: the plan is empty, and so is the re-sync.
        assert!(plan(&p).await.is_empty(), "{name}");
        assert!(resync(&p).await.is_empty(), "{name}");

        // A decision observed later than any read of ours holds the view of source 1 (another
        // processor's clock far ahead): both supersede theirs, and say so.
        let orders = view_name_of(&p, "1").await;
        p.run_sql(format!(
            "UPDATE {} SET observed_at = {} WHERE data_source_id = '1'",
            p.reconciler.store().ledger_table(),
            i64::MAX / 2
        ))
        .await;
        let planned = plan(&p).await;
        assert_eq!(
            planned,
            [(orders, "superseded".to_owned())].into(),
            "{name}: a newer decision"
        );
        assert_eq!(resync(&p).await, planned, "{name}: a newer decision");
        p.finish().await;
    })
    .await;
}
