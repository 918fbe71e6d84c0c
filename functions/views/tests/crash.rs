//! A run that dies at any step of an apply leaves no view of ours outside the ledger, and the
//! retry brings the view to its target: create, replace, rename and drop, on every database,
//! each stopped after every one of its steps in turn (as Lambda stops a run at its timeout: no
//! clean-up runs after the step).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use view_sync_core::plan::{Scope, Target, ViewKey};
use views::steps::{Step, StepHook};
use views::{Cause, Dialect, ViewsError};

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

/// `count` views of project `project`, each wanted present with `version`.
fn present_views(db: &TestDb, project: &str, count: usize, version: &str) -> Vec<Target> {
    (0..count)
        .map(|n| {
            let view = key(project, &n.to_string());
            Target::Present(desired(db, view, &format!("g{project}_{n}"), version))
        })
        .collect()
}

fn with_cause<'a>(targets: &'a [Target], cause: &'a Cause) -> Vec<(&'a Target, &'a Cause)> {
    targets.iter().map(|target| (target, cause)).collect()
}

const LOCK_WAIT: Duration = Duration::from_secs(10);

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Views applied in order share their commits (more views than one transaction holds, here);
/// one stopped half-way, whether the first of its transaction or a later one, rolls back
/// alone, and the others are committed.
#[tokio::test]
async fn views_applied_in_order_commit_together_and_a_stopped_one_fails_alone() {
    for db in databases() {
        let crash = Arc::new(Crash::default());
        let db = db.with_step_hook(crash.hook());
        let cause = Cause::default();
        for (project, stopped) in [("11", 0), ("12", 2), ("13", 16), ("14", 39)] {
            let name = format!("{}: view {stopped} of 40 stopped", db.name);
            let targets = present_views(&db, project, 40, "v1");
            crash.arm(targets[stopped].view(), 2);
            let results = db
                .store
                .apply_in_order(&with_cause(&targets, &cause), 10, LOCK_WAIT, far_deadline())
                .await;
            assert!(crash.disarm(), "{name}: the view was stopped");
            for (n, (target, result)) in targets.iter().zip(&results).enumerate() {
                let Target::Present(desired) = target else {
                    unreachable!()
                };
                if n == stopped {
                    assert!(result.is_err(), "{name}: the stopped view fails");
                    if db.store.dialect() != Dialect::MySql {
                        assert_eq!(db.read(&desired.name).await, None, "{name}: rolled back");
                    }
                } else {
                    result
                        .as_ref()
                        .unwrap_or_else(|e| panic!("{name}: view {n}: {e}"));
                    assert_eq!(
                        db.read(&desired.name).await.as_deref(),
                        Some("v1"),
                        "{name}: view {n} is committed"
                    );
                }
            }
            let (in_database, in_ledger) = (db.database_views().await, db.ledger_views().await);
            assert!(in_database.is_subset(&in_ledger), "{name}");

            db.store
                .apply(&targets[stopped], 20)
                .await
                .unwrap_or_else(|e| panic!("{name}: the retry: {e}"));
            assert_eq!(db.database_views().await, db.ledger_views().await, "{name}");
        }
        db.finish().await;
    }
}

/// A run that stops (its future dropped, as at Lambda's timeout) while a shared transaction
/// holds several views' work leaves nothing of theirs committed where DDL is transactional,
/// no view outside the ledger anywhere, and the retry applies them all.
#[tokio::test]
async fn a_run_stopped_inside_a_shared_transaction_leaves_no_view_outside_the_ledger() {
    for db in databases() {
        let stall = Arc::new(AtomicBool::new(true));
        // The second view: the first's work waits in the transaction (a later one could find
        // the first committed already, its transaction's time being up on a slow machine).
        let stalled_view = key("21", "1");
        let hook: StepHook = {
            let stall = stall.clone();
            Arc::new(move |view, step| {
                let stop_here = stall.load(Ordering::SeqCst)
                    && view == &stalled_view
                    && step == Step::StatementRun(0);
                Box::pin(async move {
                    if stop_here {
                        std::future::pending::<()>().await;
                    }
                    Ok(())
                })
            })
        };
        let db = db.with_step_hook(hook);
        let name = db.name;
        let cause = Cause::default();
        let targets = present_views(&db, "21", 6, "v1");
        let views = with_cause(&targets, &cause);
        let run = tokio::time::timeout(
            Duration::from_secs(2),
            db.store
                .apply_in_order(&views, 10, LOCK_WAIT, far_deadline()),
        )
        .await;
        assert!(run.is_err(), "{name}: the run was stopped");
        let (in_database, in_ledger) = (db.database_views().await, db.ledger_views().await);
        assert!(in_database.is_subset(&in_ledger), "{name}: {in_database:?}");
        if db.store.dialect() != Dialect::MySql {
            assert!(
                in_ledger.is_empty(),
                "{name}: nothing of the stopped transaction was committed: {in_ledger:?}"
            );
        }

        stall.store(false, Ordering::SeqCst);
        let retried = db
            .store
            .apply_in_order(&views, 20, LOCK_WAIT, far_deadline())
            .await;
        for result in retried {
            result.unwrap_or_else(|e| panic!("{name}: the retry: {e}"));
        }
        assert_eq!(db.database_views().await.len(), 6, "{name}");
        assert_eq!(db.database_views().await, db.ledger_views().await, "{name}");
        db.finish().await;
    }
}

/// Two processors apply the same two views in opposite orders, each holding its first view's
/// work (and locks, where views share a transaction) until the other has applied its first.
/// On PostgreSQL each waits for the other's view only as long as a view joining a transaction
/// may, then commits what it holds and waits for that view alone: both go through. Elsewhere
/// a view may fail, retryably.
#[tokio::test]
async fn processors_that_wait_on_each_other_commit_what_they_hold_and_go_on() {
    for db in databases() {
        let arrived = Arc::new(AtomicUsize::new(0));
        // Holds the first view each processor writes until both have, for at most 3 s (SQLite
        // has one writer: its second processor waits for the first's whole transaction).
        let meet_the_other = || -> StepHook {
            let arrived = arrived.clone();
            let first = Arc::new(AtomicBool::new(true));
            Arc::new(move |_view, step| {
                let wait = step == Step::RowWritten && first.swap(false, Ordering::SeqCst);
                let arrived = arrived.clone();
                Box::pin(async move {
                    if wait {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        let until = Instant::now() + Duration::from_secs(3);
                        while arrived.load(Ordering::SeqCst) < 2 && Instant::now() < until {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    Ok(())
                })
            })
        };
        let one = db.another_processor().with_step_hook(meet_the_other());
        let other = db.another_processor().with_step_hook(meet_the_other());
        // Tables made before the processors meet: two that make them at once can collide.
        one.ensure_ledger().await.unwrap();
        other.ensure_ledger().await.unwrap();
        let cause = Cause::default();
        let targets = present_views(&db, "31", 2, "v1");
        let reversed: Vec<Target> = targets.iter().rev().cloned().collect();
        let (in_order, in_reverse) = (with_cause(&targets, &cause), with_cause(&reversed, &cause));
        let (one_results, other_results) = tokio::join!(
            one.apply_in_order(&in_order, 10, LOCK_WAIT, far_deadline()),
            other.apply_in_order(&in_reverse, 10, LOCK_WAIT, far_deadline()),
        );
        let failures: Vec<&ViewsError> = one_results
            .iter()
            .chain(&other_results)
            .filter_map(|result| result.as_ref().err())
            .collect();
        let name = db.name;
        assert!(
            failures.iter().all(|e| e.is_retryable()),
            "{name}: {failures:?}"
        );
        if db.store.dialect() == Dialect::Postgres {
            assert!(failures.is_empty(), "{name}: {failures:?}");
        }
        for target in &targets {
            db.store
                .apply(target, 20)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(db.database_views().await.len(), 2, "{name}");
        assert_eq!(db.database_views().await, db.ledger_views().await, "{name}");
        db.finish().await;
    }
}
