//! Every type that can change views, beyond the ones Immuta documents payloads for, leads to the
//! reconcile the README's table says, end to end: the simulator changes its state silently (as
//! a change Immuta announces by that type would), sends the signed notification through the
//! receiver, and the processor reconciles. A key's reconcile converges the views it covers and
//! leaves a silent change elsewhere stale (the control); a re-sync of every project converges
//! everything, once per batch and not again for what arrived before the last one started. A
//! signed body of no shape we know does the same. (SQLite: what is decided here is the
//! processor's, not the database's.)

use std::collections::BTreeSet;

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use view_sync_core::{Notification, QueueMessage};
use views::AuditQuery;

/// Sources 1, 2, 3; projects 10 (sources 1, 2) and 20 (sources 1, 3), both equalized.
fn tenant() -> Tenant {
    let mut t = Tenant::default();
    t.add_data_source(1, "Case", "PostgreSQL")
        .add_data_source(2, "Customer", "PostgreSQL")
        .add_data_source(3, "Date Dim", "PostgreSQL")
        .add_project(10, "Alpha", true, &[1, 2])
        .add_project(20, "Beta", true, &[1, 3]);
    t
}

async fn converged() -> Pipeline {
    let p = Pipeline::start(&Database::Sqlite, tenant(), Options::default()).await;
    p.queue_resync().await.unwrap();
    p.drain().await;
    p.assert_converged("the first re-sync").await;
    p
}

/// A policy of the data source changes, silently: each of its views must be read anew.
fn change_source(p: &Pipeline, id: u64) {
    p.simulator
        .tenant()
        .data_sources
        .get_mut(&id)
        .unwrap()
        .policy_version += 1;
}

fn change_project(p: &Pipeline, id: u64) {
    p.simulator
        .tenant()
        .projects
        .get_mut(&id)
        .unwrap()
        .policy_version += 1;
}

/// The views (project, data source) that differ from what the simulator's state calls for.
async fn out_of_date(p: &Pipeline) -> BTreeSet<(String, String)> {
    let views = p.views().await;
    let expected = p.expected(None);
    views
        .symmetric_difference(&expected)
        .map(|(project, source, _)| (project.clone(), source.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(p, d)| (p.to_string(), d.to_string()))
        .collect()
}

fn announce(
    notification_type: &str,
    data_source_id: Option<u64>,
    project_id: Option<u64>,
) -> Action {
    Action::Announce {
        notification_type: notification_type.into(),
        data_source_id,
        project_id,
    }
}

/// Puts every view back in step (an operator's re-sync), for the next type's control.
async fn resync(p: &Pipeline) {
    p.queue_resync().await.unwrap();
    p.drain().await;
    p.assert_converged("a re-sync").await;
}

#[tokio::test]
async fn a_type_that_names_its_scope_reconciles_that_scope_only() {
    let p = converged().await;

    // A data source's key: its views in every project, and nothing else.
    for kind in [
        "nativeViewUpdated",
        "conflictingGlobalPolicies",
        "certificationRequired",
        "modelTagAdded",
        "modelTagRemoved",
        "taskValidated",
        "collectionDataSourceAdded",
        "collectionDataSourceRemoved",
    ] {
        change_source(&p, 1);
        change_source(&p, 2);
        p.act(announce(kind, Some(1), None)).await;
        let stats = p.drain().await;
        assert_eq!((stats.records, stats.failed), (1, 0), "{kind}: no fan-out");
        assert_eq!(out_of_date(&p).await, pairs(&[("10", "2")]), "{kind}");
        resync(&p).await;
    }

    // A project's key: every view of the project, and nothing else.
    for kind in [
        "policyAdjustmentCreated",
        "policyAdjustmentExpired",
        "nativeWorkspaceStateChanged",
    ] {
        change_project(&p, 10);
        change_project(&p, 20);
        p.act(announce(kind, None, Some(10))).await;
        let stats = p.drain().await;
        assert_eq!((stats.records, stats.failed), (1, 0), "{kind}: no fan-out");
        assert_eq!(
            out_of_date(&p).await,
            pairs(&[("20", "1"), ("20", "3")]),
            "{kind}"
        );
        resync(&p).await;
    }

    // A membership's key: the one view of the source in the project.
    change_source(&p, 1);
    p.act(announce("updatedModelInProject", Some(1), Some(10)))
        .await;
    let stats = p.drain().await;
    assert_eq!((stats.records, stats.failed), (1, 0));
    assert_eq!(out_of_date(&p).await, pairs(&[("20", "1")]));
    resync(&p).await;

    // Types that cannot change views change none: the receiver does not even queue them.
    for kind in [
        "globalPolicyChangeRequested",
        "purposeCreated",
        "modelCommentCreated",
    ] {
        change_project(&p, 10);
        p.act(announce(kind, None, Some(10))).await;
        let stats = p.drain().await;
        assert_eq!((stats.records, stats.failed), (0, 0), "{kind}");
        assert_eq!(
            out_of_date(&p).await,
            pairs(&[("10", "1"), ("10", "2")]),
            "{kind}: ignored"
        );
        resync(&p).await;
    }
    p.finish().await;
}

#[tokio::test]
async fn a_type_whose_reach_is_every_project_re_syncs_them_all_once() {
    let p = converged().await;
    for (kind, project) in [
        ("governanceSettingsUpdated", None),
        ("purposeUpdated", None),
        ("purposeDeleted", None),
        ("globalPolicyCreated", None),
        ("globalPolicyUpdated", None),
        ("globalPolicyDeleted", None),
        ("globalPolicyDisabled", None),
        ("globalPolicyApproved", None),
        ("globalPolicyApprovalRescinded", None),
        ("tagUpdated", None),
        ("tagDeleted", None),
        ("frameworkCreated", None),
        ("frameworkUpdated", None),
        ("frameworkDeleted", None),
        ("collectionDeleted", None),
        ("bulkJobStatus", None),
        ("modelCopied", Some(10)),
        // Named nothing, so their reach is every project too.
        ("policyAdjustmentCreated", None),
        ("nativeViewUpdated", None),
        // A type this build does not know may change views.
        ("somethingImmutaAddsLater", None),
    ] {
        let before = views::now_micros();
        change_source(&p, 2);
        change_project(&p, 20);
        p.act(announce(kind, None, project)).await;
        let stats = p.drain().await;
        // The notification, then a key for each of the two projects.
        assert_eq!((stats.records, stats.failed), (3, 0), "{kind}");
        assert!(out_of_date(&p).await.is_empty(), "{kind}");
        let changes = p
            .reconciler
            .store()
            .audit(&AuditQuery {
                since: Some(before),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(changes.len(), 3, "{kind}: (10,2), (20,1), (20,3)");
        for change in changes {
            assert_eq!(
                (change.origin.as_str(), change.notification_types.as_slice()),
                ("webhook", [kind.to_owned()].as_slice()),
                "{kind}"
            );
        }
    }
    p.finish().await;
}

#[tokio::test]
async fn a_burst_costs_one_fan_out_and_what_arrived_before_the_last_one_none() {
    let p = converged().await;

    // Three in one batch: one fan-out.
    change_project(&p, 10);
    for kind in [
        "globalPolicyUpdated",
        "tagDeleted",
        "governanceSettingsUpdated",
    ] {
        p.act(announce(kind, None, None)).await;
    }
    let stats = p.drain().await;
    assert_eq!((stats.batches, stats.records, stats.failed), (2, 5, 0));
    p.assert_converged("a burst").await;

    // A notification received before the last fan-out started (by more than the clocks may
    // disagree), delivered late: covered by it.
    let store = p.reconciler.store();
    let started = store.last_fan_out_started_ms().await.unwrap().unwrap();
    let late = Notification::parse_json(r#"{"notificationType":"tagUpdated"}"#).unwrap();
    change_project(&p, 10);
    let received = started - view_sync_core::fan_out::CLOCK_SKEW_MS - 1;
    p.enqueue(&QueueMessage::encode(&late, received, None))
        .await;
    let stats = p.drain().await;
    assert_eq!((stats.records, stats.failed), (1, 0), "no fan-out");
    assert_eq!(
        out_of_date(&p).await,
        pairs(&[("10", "1"), ("10", "2")]),
        "the change came after that fan-out, and no webhook told of it"
    );
    assert_eq!(
        store.last_fan_out_started_ms().await.unwrap(),
        Some(started)
    );

    // One received now: a fan-out of its own.
    p.act(announce("tagUpdated", None, None)).await;
    let stats = p.drain().await;
    assert_eq!((stats.records, stats.failed), (3, 0));
    p.assert_converged("a later notification").await;
    assert!(store.last_fan_out_started_ms().await.unwrap() > Some(started));
    p.finish().await;
}

#[tokio::test]
async fn a_signed_body_of_no_known_shape_is_accepted_and_re_syncs_every_project() {
    let p = converged().await;
    let before = views::now_micros();
    change_project(&p, 10);
    change_source(&p, 3);
    // `act` holds the receiver's answer to 200.
    p.act(Action::SendUnclassifiable {
        text: "Steve Touw has deleted the test data source.".into(),
    })
    .await;
    let delivered = p.simulator.history().last().cloned().unwrap();
    assert_eq!(delivered.status_code, 200);
    let stats = p.drain().await;
    assert_eq!((stats.records, stats.failed), (3, 0));
    p.assert_converged("an unclassifiable body").await;
    let changes = p
        .reconciler
        .store()
        .audit(&AuditQuery {
            since: Some(before),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(changes.len(), 3, "(10,1), (10,2), (20,3)");
    assert!(
        changes
            .iter()
            .all(|c| c.origin == "webhook" && c.notification_types == ["unclassified"]),
        "{changes:?}"
    );
    assert!(p.dead_letters().await.is_empty());
    p.finish().await;
}
