//! Batch-level reads: a batch of many data-source keys learns which equalized projects hold its
//! sources from one listing of the projects and their data sources, when that costs fewer calls
//! than a project search per source, and gets the same views; a batch for which the listing
//! would cost more searches per source. (The rule is `view_sync_core::memberships`'s; the
//! target database plays no part in it, so SQLite.)

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::tenant::Tenant;
use view_sync_core::{Notification, QueueMessage};

const SEARCH: &str = "GET /project";
const MEMBERS: &str = "GET /project/{id}/dataSources";
const SOURCE: &str = "GET /dataSource/{id}";
const VIEW_SQL: &str = immuta_simulator::DEFAULT_VIEW_SQL_ROUTE;

/// 30 sources: 1–10 in project 101, 11–20 in 102, 21–30 in 103, source 1 also in 102 and 103;
/// 104 is not equalized (sources 1–5), 105 is equalized but closed (source 2).
fn tenant() -> Tenant {
    let mut t = Tenant::default();
    for d in 1..=30 {
        t.add_data_source(d, &format!("Source {d}"), "PostgreSQL");
    }
    let range = |from: u64, to: u64| (from..=to).collect::<Vec<u64>>();
    t.add_project(101, "Alpha", true, &range(1, 10));
    t.add_project(102, "Beta", true, &[range(11, 20), vec![1]].concat());
    t.add_project(103, "Gamma", true, &[range(21, 30), vec![1]].concat());
    t.add_project(104, "Delta", false, &range(1, 5));
    t.add_project(105, "Epsilon", true, &[2]);
    t.projects.get_mut(&105).unwrap().closed = true;
    t
}

/// A `policyUpdated` notification per source, queued as the receiver would.
async fn storm(p: &Pipeline, sources: impl IntoIterator<Item = u64>) {
    for source in sources {
        let body = format!(
            r#"{{"notificationType":"policyUpdated","modelType":"datasource","modelId":{source},"policyType":"data"}}"#
        );
        let message = QueueMessage::encode(
            &Notification::parse_json(&body).unwrap(),
            queue::now_ms(),
            None,
        );
        p.enqueue(&message).await;
    }
}

/// A pipeline over `tenant()` whose batches hold up to 50 messages, after a first re-sync.
async fn resynced() -> Pipeline {
    let options = Options {
        batch_size: 50,
        ..Options::default()
    };
    let p = Pipeline::start(&Database::Sqlite, tenant(), options).await;
    p.queue_resync().await.unwrap();
    p.drain().await;
    p
}

#[tokio::test]
async fn a_batch_of_many_sources_lists_the_projects_once_and_gets_the_same_views() {
    let p = resynced().await;
    p.assert_converged("the first re-sync").await;
    assert_eq!(p.views().await.len(), 32);

    // Changes no webhook told of: source 5 leaves Alpha for Gamma, source 12 is deleted, Beta
    // is closed, source 2 stays in the closed Epsilon only.
    {
        let mut t = p.simulator.tenant();
        t.projects.get_mut(&101).unwrap().members.remove(&5);
        t.projects.get_mut(&103).unwrap().members.insert(5);
        t.data_sources.get_mut(&12).unwrap().deleted = true;
        t.projects.get_mut(&102).unwrap().closed = true;
    }
    p.simulator.reset_counters();
    storm(&p, 1..=30).await;
    let stats = p.drain().await;
    assert_eq!((stats.batches, stats.failed), (1, 0), "{stats:?}");
    p.assert_converged("a storm over every source").await;

    // One listing page and the data sources of the two projects still open and equalized
    // (Alpha, Gamma; Beta and Epsilon are closed, Delta is not listed): 3 calls, not 30 searches.
    assert_eq!(p.simulator.count(SEARCH), 1);
    assert_eq!(p.simulator.count(MEMBERS), 2);
    assert_eq!(p.simulator.count(SOURCE), 30);
    // Views wanted now: Alpha 9, Gamma 12 (its ten, source 1 and source 5).
    assert_eq!(p.views().await.len(), 21);
    assert_eq!(p.simulator.count(VIEW_SQL), 21);
    p.finish().await;
}

#[tokio::test]
async fn a_batch_of_few_sources_searches_per_source_when_listing_would_cost_more() {
    let p = resynced().await;

    // Three sources: a listing pays only with at most one equalized project. The first listing
    // page says there are four, so the batch searches per source: 1 + 3 calls.
    p.simulator.reset_counters();
    p.simulator
        .tenant()
        .projects
        .get_mut(&101)
        .unwrap()
        .members
        .remove(&3);
    storm(&p, [1, 3, 11]).await;
    let stats = p.drain().await;
    assert_eq!((stats.batches, stats.failed), (1, 0), "{stats:?}");
    assert_eq!(p.simulator.count(SEARCH), 1 + 3);
    assert_eq!(p.simulator.count(MEMBERS), 0);
    p.assert_converged("three sources").await;

    // Two sources: a listing pays only if there is no equalized project at all; not worth a
    // page to find out. One search each.
    p.simulator.reset_counters();
    storm(&p, [4, 21]).await;
    p.drain().await;
    assert_eq!(p.simulator.count(SEARCH), 2);
    p.assert_converged("two sources").await;

    // Three sources again: the processor remembers there were too many projects, and searches
    // without the listing page.
    p.simulator.reset_counters();
    storm(&p, [6, 7, 22]).await;
    p.drain().await;
    assert_eq!(p.simulator.count(SEARCH), 3);
    assert_eq!(p.simulator.count(MEMBERS), 0);
    p.assert_converged("three sources, again").await;
    p.finish().await;
}
