//! A run that dies at any step of an apply leaves no view of ours outside the ledger, and the
//! retry brings the view to its target: create, replace, rename and drop, on every database,
//! each stopped after every one of its steps in turn (as Lambda stops a run at its timeout: no
//! clean-up runs after the step).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use view_sync_core::plan::{Scope, Target, ViewKey};
use views::ViewsError;
use views::steps::StepHook;

mod support;

use support::{TestDb, databases, desired, key};

/// Stops the apply of one view after its `n`th step (from 0).
#[derive(Default)]
struct Crash {
    at: Mutex<Option<(ViewKey, usize)>>,
    steps_seen: AtomicUsize,
    fired: AtomicBool,
}

impl Crash {
    fn arm(&self, view: &ViewKey, after_step: usize) {
        *self.at.lock().unwrap() = Some((view.clone(), after_step));
        self.steps_seen.store(0, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
    }

    fn disarm(&self) -> bool {
        *self.at.lock().unwrap() = None;
        self.fired.load(Ordering::SeqCst)
    }

    fn hook(self: &Arc<Self>) -> StepHook {
        let crash = self.clone();
        Arc::new(move |view, step| {
            let armed = crash.at.lock().unwrap().clone();
            let stop = armed.is_some_and(|(at_view, after)| {
                &at_view == view && crash.steps_seen.fetch_add(1, Ordering::SeqCst) == after
            });
            if stop {
                crash.fired.store(true, Ordering::SeqCst);
            }
            Box::pin(async move {
                if stop {
                    Err(ViewsError::Unavailable(format!(
                        "stopped by the test after {step:?}"
                    )))
                } else {
                    Ok(())
                }
            })
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Operation {
    Create,
    Replace,
    Rename,
    Drop,
}

/// What the view is before the operation, and the operation's target.
fn before_and_target(
    db: &TestDb,
    operation: Operation,
    view: &ViewKey,
) -> (Option<Target>, Target) {
    let d = &view.data_source_id;
    let v1 = Target::Present(desired(db, view.clone(), &format!("v{d}_a"), "v1"));
    let target = match operation {
        Operation::Create | Operation::Replace => {
            Target::Present(desired(db, view.clone(), &format!("v{d}_a"), "v2"))
        }
        Operation::Rename => Target::Present(desired(db, view.clone(), &format!("v{d}_b"), "v2")),
        Operation::Drop => Target::Absent(view.clone()),
    };
    let before = (!matches!(operation, Operation::Create)).then_some(v1);
    (before, target)
}

#[tokio::test]
async fn a_run_stopped_after_any_step_leaves_no_view_outside_the_ledger() {
    for db in databases() {
        let crash = Arc::new(Crash::default());
        let db = db.with_step_hook(crash.hook());
        let mut source = 0;
        for operation in [
            Operation::Create,
            Operation::Replace,
            Operation::Rename,
            Operation::Drop,
        ] {
            let mut stopped_runs = 0;
            for after_step in 0..20 {
                source += 1;
                let name = format!("{}: {operation:?} stopped after step {after_step}", db.name);
                let view = key("1", &source.to_string());
                let (before, target) = before_and_target(&db, operation, &view);
                if let Some(before) = &before {
                    db.store.apply(before, 10).await.unwrap();
                }

                crash.arm(&view, after_step);
                let run = db.store.apply(&target, 20).await;
                if !crash.disarm() {
                    // Fewer steps than `after_step`: the run went through.
                    run.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(db.database_views().await, db.ledger_views().await, "{name}");
                    break;
                }
                assert!(run.is_err(), "{name}: a stopped run reports a failure");
                stopped_runs += 1;
                let (in_database, in_ledger) = (db.database_views().await, db.ledger_views().await);
                assert!(
                    in_database.is_subset(&in_ledger),
                    "{name}: views {:?} are outside the ledger {in_ledger:?}",
                    in_database.difference(&in_ledger).collect::<Vec<_>>()
                );

                // The retry (a newer delivery of the same notification).
                db.store
                    .apply(&target, 30)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: the retry: {e}"));
                assert_eq!(
                    db.database_views().await,
                    db.ledger_views().await,
                    "{name}: after the retry, the views are exactly the ledger's"
                );
                match &target {
                    Target::Present(desired) => {
                        assert_eq!(
                            db.read(&desired.name).await.as_deref(),
                            Some("v2"),
                            "{name}"
                        );
                    }
                    Target::Absent(view) => {
                        let rows = db.store.rows(&Scope::View(view.clone())).await.unwrap();
                        assert!(rows.iter().all(|r| !r.state.is_owned()), "{name}: {rows:?}");
                    }
                }
            }
            assert!(stopped_runs > 0, "{}: {operation:?} has steps", db.name);
        }
        db.finish().await;
    }
}
