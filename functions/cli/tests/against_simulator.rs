//! The operator commands against the Immuta simulator (and SQLite for the re-sync).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use cli::register::{self, Registration};
use cli::{history, replay, resync};
use immuta::{ImmutaClient, ImmutaConfig};
use immuta_simulator::Simulator;
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use immuta_simulator::webhooks::Shape;
use processor::{ProcessorConfig, Reconciler};
use view_sync_core::Id;
use view_sync_core::plan::{DesiredView, RowState, Scope, Target, ViewKey};
use view_sync_core::view_sql::ViewSql;

const KEY: &str = "cli-test-key";

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn client(sim: &Simulator) -> ImmutaClient {
    let url = sim.url.clone();
    let config = ImmutaConfig::from_lookup(|k| match k {
        "IMMUTA_URL" => Some(url.clone()),
        "IMMUTA_API_KEY" => Some(KEY.into()),
        _ => None,
    })
    .unwrap();
    ImmutaClient::new(config).unwrap()
}

fn wanted(name: &str, url: &str, types: Vec<String>) -> register::Wanted {
    register::Wanted {
        name: name.into(),
        url: url.into(),
        notification_types: types,
        action_type: None,
        replace: false,
    }
}

#[tokio::test]
async fn registration_is_global_without_an_action_type_idempotent_and_replaces_what_differs() {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    let c = client(&sim);
    let url = "https://abc.lambda-url.us-east-1.on.aws/";
    let ours = wanted("immuta-view-sync", url, register::default_types());
    let first = register::register(&c, &ours, Some("s".into()), soon())
        .await
        .unwrap();
    let Registration::Created { id } = first else {
        panic!("{first:?}")
    };
    let again = register::register(&c, &ours, Some("s".into()), soon())
        .await
        .unwrap();
    assert_eq!(again, Registration::AlreadyRegistered { id: id.clone() });
    let hooks = c.list_webhooks(soon()).await.unwrap();
    assert_eq!(hooks.len(), 1);
    // Global, with no actionType, as Immuta's own global webhook.
    assert_eq!(
        (hooks[0].global, hooks[0].action_type.as_deref()),
        (Some(true), None)
    );
    assert_eq!(hooks[0].notification_type, register::default_types());

    // Other types asked: the webhook is replaced, exactly one left, with the new types.
    let fewer = wanted("immuta-view-sync", url, vec!["policyUpdated".into()]);
    let replaced = register::register(&c, &fewer, Some("s".into()), soon())
        .await
        .unwrap();
    let Registration::Replaced {
        deleted,
        id: new_id,
        why,
    } = &replaced
    else {
        panic!("{replaced:?}")
    };
    assert_eq!(deleted, &vec![id.clone()]);
    assert!(
        why.starts_with("its notification types differ (missing: none; not asked: "),
        "{why}"
    );
    let hooks = c.list_webhooks(soon()).await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        (&hooks[0].id, hooks[0].notification_type.as_slice()),
        (new_id, ["policyUpdated".to_owned()].as_slice())
    );
    let text = register::to_text(&fewer, &replaced);
    // Created first, deleted after: no notification falls between the two.
    assert!(
        text.ends_with(&format!("{new_id} created, then {id} deleted\n")),
        "{text}"
    );

    // Same name, other URL: a different webhook, left alone.
    let other = register::register(
        &c,
        &wanted("immuta-view-sync", "https://other/", vec![]),
        None,
        soon(),
    )
    .await
    .unwrap();
    assert!(matches!(other, Registration::Created { .. }));
    assert_eq!(c.list_webhooks(soon()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn every_published_type_can_be_asked_for_and_one_the_tenant_lacks_is_refused() {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    let offered = client(&sim).webhook_actions(soon()).await.unwrap();
    let all: Vec<view_sync_core::NotificationType> = view_sync_core::NotificationType::ALL
        .iter()
        .filter(|t| t.family() == view_sync_core::catalog::Family::V1)
        .filter(|t| offered.iter().any(|o| o == t.as_str()))
        .cloned()
        .collect();
    assert_eq!(all.len(), 80, "the simulator offers the published 80");
    let asked = register::offered_only(&all, &offered).unwrap();
    assert!(asked.contains(&"policyAdjustmentCreated".to_owned()));
    // An older tenant that offers none of them.
    let error = register::offered_only(&all[..2], &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "this tenant does not offer {}, {} (GET /webhooks/actions): leave them out of --types",
            all[0].as_str(),
            all[1].as_str()
        )
    );
}

#[tokio::test]
async fn a_tenant_that_requires_an_action_type_is_named_with_the_flag_that_gives_one() {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    sim.set_faults(immuta_simulator::faults::Faults {
        require_action_type: true,
        ..Default::default()
    });
    let c = client(&sim);
    let mut ours = wanted("immuta-view-sync", "https://r/", register::default_types());
    let error = register::register(&c, &ours, Some("s".into()), soon())
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("Immuta refused a global webhook without an actionType")
            && text.contains("pass --action-type"),
        "{text}"
    );
    assert!(c.list_webhooks(soon()).await.unwrap().is_empty());
    ours.action_type = Some("received".into());
    let created = register::register(&c, &ours, Some("s".into()), soon())
        .await
        .unwrap();
    assert!(matches!(created, Registration::Created { .. }));
    // Immuta's list shows no actionType; its record, as a delete answers it, does.
    let hooks = c.list_webhooks(soon()).await.unwrap();
    assert_eq!(hooks.len(), 1);
    let record = c.delete_webhook(&hooks[0].id, soon()).await.unwrap();
    assert_eq!(record.action_type.as_deref(), Some("received"));
}

#[tokio::test]
async fn a_webhook_with_undelivered_failures_is_only_replaced_when_told() {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    let c = client(&sim);
    // Our webhook, at a URL that refuses: a delivery fails and stays in its history.
    let url = "http://127.0.0.1:9/";
    let ours = wanted("immuta-view-sync", url, vec!["ALL_NOTIFICATIONS".into()]);
    let Registration::Created { id: old } =
        register::register(&c, &ours, None, soon()).await.unwrap()
    else {
        panic!()
    };
    sim.act(Action::BumpDataSourcePolicy { data_source_id: 3 })
        .await
        .unwrap();

    let other_types = wanted("immuta-view-sync", url, vec!["policyUpdated".into()]);
    let error = register::register(&c, &other_types, None, soon())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the webhook to replace has 1 failed deliveries"),
        "{error}"
    );
    assert_eq!(
        c.list_webhooks(soon()).await.unwrap().len(),
        1,
        "nothing changed"
    );

    let forced = register::Wanted {
        replace: true,
        ..other_types
    };
    let replaced = register::register(&c, &forced, None, soon()).await.unwrap();
    let Registration::Replaced { deleted, id, .. } = replaced else {
        panic!("{replaced:?}")
    };
    assert_eq!(deleted, vec![old.clone()]);
    let hooks = c.list_webhooks(soon()).await.unwrap();
    assert_eq!(
        (hooks.len(), &hooks[0].id, hooks[0].global),
        (1, &id, Some(true))
    );
}

/// A receiver that answers 503 until told to recover, counting requests.
async fn flaky_receiver(healthy: Arc<AtomicU32>, hits: Arc<AtomicU32>) -> String {
    let app = axum::Router::new().fallback(move || {
        let (healthy, hits) = (healthy.clone(), hits.clone());
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            if healthy.load(Ordering::SeqCst) == 1 {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn failed_deliveries_of_our_webhook_are_replayed() {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    let (healthy, hits) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let url = flaky_receiver(healthy.clone(), hits.clone()).await;
    sim.add_webhook(&url, Some("secret"), Shape::Flat);
    let c = client(&sim);
    // Another integration's failed delivery, which must be left alone.
    let other = register::register(
        &c,
        &wanted(
            "someone-else",
            "http://127.0.0.1:1/",
            vec!["ALL_NOTIFICATIONS".into()],
        ),
        None,
        soon(),
    )
    .await
    .unwrap();
    assert!(matches!(other, Registration::Created { .. }));

    sim.act(Action::BumpDataSourcePolicy { data_source_id: 3 })
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let dry = replay::replay(&c, "immuta-view-sync", true, None, soon(), |_, _| {})
        .await
        .unwrap();
    assert_eq!((dry.replayed.len(), dry.other_webhooks), (1, 1));
    assert_eq!(dry.replayed[0].1, None);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a dry run sends nothing");

    healthy.store(1, Ordering::SeqCst);
    let report = replay::replay(&c, "immuta-view-sync", false, None, soon(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(report.replayed[0].1, Some(200));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let last = sim.history().last().cloned().unwrap();
    assert!(last.succeeded() && last.body["notificationType"] == "policyUpdated");

    // Replayed successfully once: a second replay leaves it alone, and the history says why.
    let again = replay::replay(&c, "immuta-view-sync", false, None, soon(), |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.replayed.len(), again.already_delivered), (0, 1));
    assert_eq!(hits.load(Ordering::SeqCst), 2, "nothing was resent");
    let entries = history::history(&c, "immuta-view-sync", false, None, soon())
        .await
        .unwrap();
    let states: Vec<(bool, bool)> = entries
        .iter()
        .map(|e| (e.delivery.succeeded(), e.delivered_later))
        .collect();
    assert_eq!(states, [(false, true), (true, false)]);
    let failed_only = history::history(&c, "immuta-view-sync", true, None, soon())
        .await
        .unwrap();
    assert_eq!(failed_only.len(), 1);

    // A new failure; `--since` after it leaves it for later.
    healthy.store(0, Ordering::SeqCst);
    sim.act(Action::BumpDataSourcePolicy { data_source_id: 3 })
        .await
        .unwrap();
    let tomorrow = view_sync_core::time::now_micros() + 86_400_000_000;
    let later = replay::replay(
        &c,
        "immuta-view-sync",
        true,
        Some(tomorrow),
        soon(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((later.replayed.len(), later.older), (0, 2));
    let now = replay::replay(&c, "immuta-view-sync", true, Some(0), soon(), |_, _| {})
        .await
        .unwrap();
    assert_eq!((now.replayed.len(), now.already_delivered), (1, 1));
}

#[tokio::test]
async fn a_resync_creates_what_is_missing_and_drops_what_immuta_no_longer_wants() {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    let dir = std::env::temp_dir().join(format!("ivs_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut env = sim.processor_settings();
    env.push((
        "DATABASE_URL",
        format!("sqlite://{}/views.db", dir.display()),
    ));
    let config =
        ProcessorConfig::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .unwrap();
    let reconciler = Reconciler::new(config).unwrap();
    // A view managed for project 10, which is not equalized (any more).
    let stale = ViewKey {
        project_id: Id::new("10").unwrap(),
        data_source_id: Id::new("1").unwrap(),
    };
    let location = reconciler.store().location();
    let sql = ViewSql::parse("SELECT 'stale' AS policy", location).unwrap();
    let view = DesiredView::new(stale.clone(), "stale_view", &sql, location);
    reconciler
        .store()
        .apply(&Target::Present(view), 1)
        .await
        .unwrap();

    let projects = resync::projects(&reconciler, soon()).await.unwrap();
    let ids: Vec<&str> = projects.iter().map(Id::as_str).collect();
    assert_eq!(ids, ["10", "20"], "equalized now, or holding managed views");
    let failures = resync::run_here(&reconciler, &projects, soon()).await;
    assert!(failures.is_empty(), "{failures:?}");

    let rows = reconciler.store().rows(&Scope::Everything).await.unwrap();
    let present: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.state == RowState::Present)
        .map(|r| (r.view.project_id.as_str(), r.view.data_source_id.as_str()))
        .collect();
    assert_eq!(present, [("20", "3")]);
    assert!(
        rows.iter()
            .any(|r| r.view == stale && r.state == RowState::Dropped)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
