//! Disabled data sources against a tenant that answers as Immuta documents: `GET /dataSource/{id}`
//! carries no disabled state, so the notification's `fields.disabled` is the only evidence. The
//! newest hint (by when the receiver accepted it) decides, whatever order SQS delivers in; an
//! explicit state in a read, when a release has one, wins over any hint; a re-sync respects both.

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;

/// Project 20 holds data source 3: one view.
fn tenant() -> Tenant {
    Tenant::demo()
}

fn set_disabled(disabled: bool) -> Action {
    Action::SetDisabled {
        data_source_id: 3,
        disabled,
    }
}

async fn view_of_source_3(p: &Pipeline) -> bool {
    p.views().await.iter().any(|(_, d, _)| d == "3")
}

/// Sends the two notifications in the order they happen, takes them off the queue, and delivers
/// them to the processor newest first, one batch each.
async fn deliver_reversed(p: &Pipeline, first: bool, second: bool) {
    p.act(set_disabled(first)).await;
    p.act(set_disabled(second)).await;
    let queued = p.take_queued().await;
    assert_eq!(queued.len(), 2);
    for body in queued.iter().rev() {
        p.enqueue(body).await;
        let stats = p.drain().await;
        assert_eq!(
            (stats.records, stats.failed),
            (1, 0),
            "{}",
            p.database.name()
        );
    }
}

#[tokio::test]
async fn the_newest_hint_wins_when_the_notifications_arrive_reversed() {
    for db in Database::all() {
        let p = Pipeline::start(&db, tenant(), Options::default()).await;
        p.play([Action::BumpProjectPolicy { project_id: 20 }]).await;
        assert!(view_of_source_3(&p).await, "{}", db.name());

        // Disabled, then enabled; the enabled notification is processed first.
        deliver_reversed(&p, true, false).await;
        assert!(
            view_of_source_3(&p).await,
            "{}: enabled is the newest",
            db.name()
        );
        p.assert_converged("disable, enable, delivered reversed")
            .await;

        // Enabled, then disabled; the disabled notification is processed first.
        deliver_reversed(&p, false, true).await;
        assert!(
            !view_of_source_3(&p).await,
            "{}: disabled is the newest",
            db.name()
        );
        p.assert_converged("enable, disable, delivered reversed")
            .await;

        // A re-sync (project keys: the project's rows carry no disabled state) keeps it dropped.
        assert_eq!(p.queue_resync().await.unwrap(), 1);
        p.drain().await;
        assert!(
            !view_of_source_3(&p).await,
            "{}: the re-sync respects the hint",
            db.name()
        );
        p.assert_converged("a re-sync").await;
        assert!(p.dead_letters().await.is_empty());
        p.finish().await;
    }
}

#[tokio::test]
async fn an_explicit_disabled_state_in_the_read_wins_over_the_newest_hint() {
    for db in Database::all() {
        let mut t = tenant();
        t.disabled_in_answers = true;
        let p = Pipeline::start(&db, t, Options::default()).await;
        // The newest hint says disabled.
        p.play([set_disabled(true)]).await;
        assert!(!view_of_source_3(&p).await, "{}", db.name());
        // Enabled again without a notification (a lost webhook): the next read says so explicitly.
        p.simulator
            .tenant()
            .data_sources
            .get_mut(&3)
            .unwrap()
            .disabled = false;
        p.play([Action::BumpDataSourcePolicy { data_source_id: 3 }])
            .await;
        assert!(
            view_of_source_3(&p).await,
            "{}: the read's `disabled: false` wins",
            db.name()
        );
        // And disabled without a notification: the read alone drops the view.
        p.simulator
            .tenant()
            .data_sources
            .get_mut(&3)
            .unwrap()
            .disabled = true;
        p.play([Action::BumpProjectPolicy { project_id: 20 }]).await;
        assert!(
            !view_of_source_3(&p).await,
            "{}: the project's rows say disabled",
            db.name()
        );
        p.assert_converged("explicit states").await;
        p.finish().await;
    }
}
