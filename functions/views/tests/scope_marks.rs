//! "Decided as of" marks per scope on real databases (DESIGN.md, "the newer read must win"): a
//! create or replace older than a mark of a scope covering its view is superseded, and a mark
//! written while a create is inside its critical section is never missed by both sides.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use view_sync_core::Id;
use view_sync_core::plan::{self, Decision, LedgerRow, Scope, Target, ViewKey};
use views::steps::{Step, StepHook};
use views::{Cause, Dialect, ViewStore};

mod support;

use support::{databases, desired, key};

/// `offset` µs after the test began: marks are pruned by age, so they carry real times.
fn at(offset: i64) -> i64 {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *START.get_or_init(views::now_micros) + offset
}

fn data_source(id: &str) -> Scope {
    Scope::DataSource(Id::new(id).unwrap())
}

fn project(id: &str) -> Scope {
    Scope::Project(Id::new(id).unwrap())
}

#[tokio::test]
async fn a_create_or_replace_older_than_a_covering_mark_is_superseded() {
    for db in databases() {
        let name = db.name;
        let store = &db.store;

        // Source 7 found deleted at 200, with no view to drop; a read of 100 arrives late.
        store
            .mark_decided(&[data_source("7")], at(200))
            .await
            .unwrap();
        let late = desired(&db, key("5", "7"), "p5_d7", "v1");
        let applied = store
            .apply(&Target::Present(late.clone()), at(100))
            .await
            .unwrap();
        assert_eq!(
            applied.decision,
            Decision::Superseded {
                applied_observed_at: at(200)
            },
            "{name}"
        );
        assert_eq!(db.read(&late.name).await, None, "{name}: no view");
        let rows = store.rows(&Scope::View(key("5", "7"))).await.unwrap();
        assert!(
            rows.iter().all(|r| !r.state.is_owned()),
            "{name}: the ledger claims no view: {rows:?}"
        );
        // A newer read still creates what it wants.
        let newer = store
            .apply(&Target::Present(late.clone()), at(300))
            .await
            .unwrap();
        assert_eq!(newer.decision, Decision::Create, "{name}");
        assert_eq!(db.read(&late.name).await.as_deref(), Some("v1"), "{name}");

        // A project mark covers its views; a replace older than it keeps the view as it is.
        let v1 = desired(&db, key("6", "8"), "p6_d8", "v1");
        let v2 = desired(&db, key("6", "8"), "p6_d8", "v2");
        store
            .apply(&Target::Present(v1.clone()), at(100))
            .await
            .unwrap();
        store.mark_decided(&[project("6")], at(200)).await.unwrap();
        let late = store
            .apply(&Target::Present(v2.clone()), at(150))
            .await
            .unwrap();
        assert!(
            matches!(late.decision, Decision::Superseded { .. }),
            "{name}"
        );
        assert_eq!(db.read(&v1.name).await.as_deref(), Some("v1"), "{name}");
        // Marks never drop, nor stop a drop: the view's own row orders those.
        let dropped = store
            .apply(&Target::Absent(key("6", "8")), at(150))
            .await
            .unwrap();
        assert!(matches!(dropped.decision, Decision::Drop { .. }), "{name}");
        assert_eq!(db.read(&v1.name).await, None, "{name}");

        // A mark older than the decision does not supersede it, and an older mark written
        // later does not move the newer one back.
        store
            .mark_decided(&[data_source("9")], at(100))
            .await
            .unwrap();
        let fresh = desired(&db, key("5", "9"), "p5_d9", "v1");
        let applied = store
            .apply(&Target::Present(fresh.clone()), at(150))
            .await
            .unwrap();
        assert_eq!(applied.decision, Decision::Create, "{name}");
        store.mark_decided(&[project("10")], at(300)).await.unwrap();
        store.mark_decided(&[project("10")], at(100)).await.unwrap();
        let other = desired(&db, key("10", "9"), "p10_d9", "v1");
        let applied = store.apply(&Target::Present(other), at(200)).await.unwrap();
        assert_eq!(
            applied.decision,
            Decision::Superseded {
                applied_observed_at: at(300)
            },
            "{name}"
        );

        // A batch marks all its scopes at once, duplicates and all, past one statement's share.
        let batch: Vec<Scope> = (1000..2200)
            .map(|d| data_source(&d.to_string()))
            .chain([project("11"), project("11")])
            .collect();
        store.mark_decided(&batch, at(400)).await.unwrap();
        for (p, d) in [("5", "1000"), ("5", "2199"), ("11", "3")] {
            let view = desired(&db, key(p, d), &format!("p{p}_d{d}"), "v1");
            let applied = store.apply(&Target::Present(view), at(350)).await.unwrap();
            assert_eq!(
                applied.decision,
                Decision::Superseded {
                    applied_observed_at: at(400)
                },
                "{name}: view of {d} in {p}"
            );
        }

        // A single view's scope has no mark of its own: its row is its mark.
        store
            .mark_decided(&[Scope::View(key("5", "9"))], at(999))
            .await
            .unwrap();
        db.finish().await;
    }
}

/// A hook that stops the first apply (of the view `only`, if given) after `at`, tells
/// `reached`, and lets it go on when `go` fires.
fn pause_once_after(
    at: Step,
    only: Option<ViewKey>,
) -> (StepHook, oneshot::Receiver<()>, oneshot::Sender<()>) {
    let (reached_tx, reached_rx) = oneshot::channel();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let once = Arc::new(Mutex::new(Some((reached_tx, go_rx))));
    let hook: StepHook = Arc::new(move |view, step| {
        let this_view = only.as_ref().is_none_or(|only| only == view);
        let pause = (step == at && this_view)
            .then(|| once.lock().unwrap().take())
            .flatten();
        Box::pin(async move {
            if let Some((reached, go)) = pause {
                let _ = reached.send(());
                let _ = go.await;
            }
            Ok(())
        })
    });
    (hook, reached_rx, go_tx)
}

/// A newer read, once an apply has paused (`reached`): it marks `scope` decided and reads the
/// scope's ledger rows, while the apply goes on (`go`) a moment later: long enough for a mark
/// that does not wait for it to be written first.
async fn newer_read(
    store: &ViewStore,
    scope: &Scope,
    reached: oneshot::Receiver<()>,
    go: oneshot::Sender<()>,
) -> Vec<LedgerRow> {
    reached.await.unwrap();
    let mark_then_read = async {
        store
            .mark_decided(std::slice::from_ref(scope), at(200))
            .await
            .unwrap();
        store.rows(scope).await.unwrap()
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = go.send(());
    };
    tokio::join!(mark_then_read, release).0
}

/// The race the marks exist for: an older read's create is inside its critical section when a
/// newer read marks the source decided and reads the ledger's rows. Either the create is
/// superseded or the newer read sees its row (and drops the view); never neither, whatever the
/// database and wherever in the section the create is.
#[tokio::test]
async fn a_mark_written_while_a_create_is_in_flight_is_never_missed() {
    for db in databases() {
        let mut steps = vec![
            Step::RowRead,
            Step::MarksRead,
            Step::StatementRun(0),
            Step::RowWritten,
        ];
        if db.store.dialect() == Dialect::MySql {
            steps.insert(1, Step::IntentRecorded);
        }
        let mut db = db;
        for (n, &paused_at) in steps.iter().enumerate() {
            let (hook, reached, go) = pause_once_after(paused_at, None);
            db = db.with_step_hook(hook);
            let name = format!("{} paused after {paused_at:?}", db.name);
            let source = (70 + n).to_string();
            let scope = data_source(&source);
            let view = desired(&db, key("5", &source), &format!("p5_d{source}"), "v1");
            let store = &db.store;

            let target = Target::Present(view.clone());
            let older = store.apply(&target, at(100));
            let newer = newer_read(store, &scope, reached, go);
            let (older, rows_after_mark) = tokio::join!(older, newer);
            let older = older.unwrap();
            let seen = rows_after_mark
                .iter()
                .any(|r| r.view == view.view && r.state.is_owned());
            assert!(
                matches!(older.decision, Decision::Superseded { .. }) || seen,
                "{name}: the older create ({:?}) went in unseen by the newer read: {rows_after_mark:?}",
                older.decision
            );

            // The newer read then applies what it wants for its scope: nothing.
            for target in plan::targets(&scope, vec![], &rows_after_mark, &BTreeSet::new()) {
                store.apply(&target, at(200)).await.unwrap();
            }
            assert_eq!(db.read(&view.name).await, None, "{name}: no view is left");
        }
        db.finish().await;
    }
}

/// The same race where views share a transaction: the newer read marks a scope while a view
/// of it is applied but not yet committed (the transaction is on its next view). The mark
/// waits for the commit (or, where each view commits on its own, comes after it), so the newer
/// read sees the view's row and drops it.
#[tokio::test]
async fn a_mark_written_before_a_shared_transaction_commits_sees_its_views() {
    for db in databases() {
        let name = db.name;
        let applied_first = desired(&db, key("6", "80"), "p6_d80", "v1");
        let next = desired(&db, key("6", "81"), "p6_d81", "v1");
        let (hook, reached, go) = pause_once_after(Step::RowRead, Some(next.view.clone()));
        let db = db.with_step_hook(hook);
        let store = &db.store;
        let scope = data_source("80");
        let targets = [
            Target::Present(applied_first.clone()),
            Target::Present(next),
        ];
        let cause = Cause::default();
        let views: Vec<(&Target, &Cause)> = targets.iter().map(|t| (t, &cause)).collect();
        let applying = store.apply_in_order(
            &views,
            at(100),
            Duration::from_secs(10),
            Instant::now() + Duration::from_secs(60),
        );
        let newer = newer_read(store, &scope, reached, go);
        let (applied, rows_after_mark) = tokio::join!(applying, newer);
        for result in applied {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(
            rows_after_mark
                .iter()
                .any(|r| r.view == applied_first.view && r.state.is_owned()),
            "{name}: the newer read missed a view applied before its mark: {rows_after_mark:?}"
        );
        for target in plan::targets(&scope, vec![], &rows_after_mark, &BTreeSet::new()) {
            store.apply(&target, at(200)).await.unwrap();
        }
        assert_eq!(db.read(&applied_first.name).await, None, "{name}");
        db.finish().await;
    }
}
