//! Views applied one after another with their commits shared: where DDL is transactional
//! (SQLite, PostgreSQL) up to [`VIEWS_PER_TRANSACTION`] views go into one transaction, each in a
//! savepoint of its own (see [`crate::section`]). A commit is a WAL flush on PostgreSQL (about
//! half a millisecond on a local disk, a quarter of a view's server time) and the pages the
//! views share (the catalog's, the ledger's, the audit's) are written once for several views.
//!
//! A view's locks are held until its transaction commits, so a transaction is kept short: at
//! most [`VIEWS_PER_TRANSACTION`] views and [`TRANSACTION_TIME`] (another processor waits for a
//! view at most that much longer; SQLite's one connection is free again for the rest of the
//! processor). Two processors applying the same views in different orders can now wait on each
//! other: PostgreSQL ends the cycle by failing one view's statement (a deadlock, retried like a
//! lock timeout), which rolls back to that view's savepoint; its transaction's other views commit.

use std::time::{Duration, Instant};

use view_sync_core::plan::Target;

use crate::audit::Cause;
use crate::error::{ViewsError, label};
use crate::handle::ViewStore;
use crate::section::Transaction;
use crate::store::Applied;

/// The most views one transaction holds.
const VIEWS_PER_TRANSACTION: usize = 16;

/// How long a transaction takes new views after its first.
const TRANSACTION_TIME: Duration = Duration::from_millis(250);

impl ViewStore {
    /// Brings each of `views` to its target, in order, as [`ViewStore::apply_until`] would one
    /// at a time (a view waits for its locks at most `lock_wait`, and none starts after
    /// `deadline`), with their commits shared. A view's result is known once its work is
    /// committed: when a commit fails, each view whose work it held fails with that error.
    pub async fn apply_in_order(
        &self,
        views: &[(&Target, &Cause)],
        observed_at: i64,
        lock_wait: Duration,
        deadline: Instant,
    ) -> Vec<Result<Applied, ViewsError>> {
        let mut results = Vec::with_capacity(views.len());
        let mut transaction = Transaction::default();
        // The results whose work the transaction holds, and when it took its first.
        let mut held: Vec<usize> = Vec::new();
        let mut began = Instant::now();
        for (target, cause) in views {
            let full_wait = Instant::now() + lock_wait;
            let view_deadline = full_wait.min(deadline);
            // Near the deadline, what is held commits first, under the timeout of a view that
            // had its full wait: PostgreSQL's COMMIT runs under the timeout the last view's
            // part set, and a short one could cancel the commit of them all.
            let near_the_deadline = view_deadline < full_wait;
            if !held.is_empty()
                && (transaction.is_lost()
                    || near_the_deadline
                    || held.len() >= VIEWS_PER_TRANSACTION
                    || began.elapsed() >= TRANSACTION_TIME)
            {
                let committed = std::mem::take(&mut transaction)
                    .commit(&what(views, &held))
                    .await;
                fail_held(&mut results, &mut held, committed);
            }
            let applied = self
                .apply_in(&mut transaction, target, observed_at, view_deadline, cause)
                .await;
            if holds_work(&applied) {
                if held.is_empty() {
                    began = Instant::now();
                }
                held.push(results.len());
            }
            results.push(applied);
        }
        let committed = transaction.commit(&what(views, &held)).await;
        fail_held(&mut results, &mut held, committed);
        results
    }
}

/// Whether an apply's result left work in its transaction: a view applied, or closed.
fn holds_work(applied: &Result<Applied, ViewsError>) -> bool {
    matches!(applied, Ok(_) | Err(ViewsError::Blocked { .. }))
}

/// The views whose work a commit holds, as its error names them.
fn what(views: &[(&Target, &Cause)], held: &[usize]) -> String {
    match held {
        [] => "no view".to_owned(),
        [one] => label(views[*one].0.view()),
        [first, rest @ ..] => format!(
            "{} and {} other views applied with it",
            label(views[*first].0.view()),
            rest.len()
        ),
    }
}

/// Fails the `held` results with the commit's error, if it failed; empties `held`.
fn fail_held(
    results: &mut [Result<Applied, ViewsError>],
    held: &mut Vec<usize>,
    committed: Result<(), ViewsError>,
) {
    if let Err(error) = committed {
        for &index in held.iter() {
            results[index] = Err(error.clone());
        }
    }
    held.clear();
}
