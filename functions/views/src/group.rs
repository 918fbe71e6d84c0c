//! Views applied one after another with their commits shared: where DDL is transactional
//! (SQLite, PostgreSQL) up to [`VIEWS_PER_TRANSACTION`] views go into one transaction, each in a
//! savepoint of its own (see [`crate::section`]). A commit is a WAL flush on PostgreSQL (about
//! half a millisecond on a local disk, a quarter of a view's server time) and the pages the
//! views share (the catalog's, the ledger's, the audit's) are written once for several views.
//!
//! A view's locks are held until its transaction commits, so a transaction is kept short: it
//! takes views for at most [`TRANSACTION_TIME`], at most [`VIEWS_PER_TRANSACTION`] of them, and
//! a view that joins it waits for its locks at most [`TRANSACTION_TIME`] too, before what is
//! held commits and the view waits the rest of its time alone (so SQLite's one connection is
//! free again for the rest of the processor, and a reader or another processor waits for a
//! view at most about half a second longer). Two processors applying the same views in
//! different orders, or a mark writer and a transaction holding the locks of two scopes, can
//! wait on each other across views: the capped wait ends it, or PostgreSQL's deadlock check
//! fails one statement (retried like a lock timeout).

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
                commit_held(&mut transaction, views, &mut results, &mut held).await;
            }
            // A view that joins an open transaction waits for its locks at most
            // TRANSACTION_TIME: the views before it hold theirs until the commit (a replaced
            // view's exclusive lock among them, which its readers wait for). Past that, what
            // is held commits and the view waits the rest of its time in a transaction of its
            // own (two processors waiting on each other's views end that way too).
            let joining = transaction.is_open();
            let joining_deadline = match joining {
                true => view_deadline.min(Instant::now() + TRANSACTION_TIME),
                false => view_deadline,
            };
            let mut applied = self
                .apply_in(
                    &mut transaction,
                    target,
                    observed_at,
                    joining_deadline,
                    cause,
                )
                .await;
            if joining
                && joining_deadline < view_deadline
                && matches!(applied, Err(ViewsError::LockTimeout { .. }))
            {
                commit_held(&mut transaction, views, &mut results, &mut held).await;
                applied = self
                    .apply_in(&mut transaction, target, observed_at, view_deadline, cause)
                    .await;
            }
            if holds_work(&applied) {
                if held.is_empty() {
                    began = Instant::now();
                }
                held.push(results.len());
            }
            results.push(applied);
        }
        commit_held(&mut transaction, views, &mut results, &mut held).await;
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

/// Commits `transaction` (leaving a new one in its place); if the commit fails, the `held`
/// results fail with its error. Empties `held`.
async fn commit_held(
    transaction: &mut Transaction,
    views: &[(&Target, &Cause)],
    results: &mut [Result<Applied, ViewsError>],
    held: &mut Vec<usize>,
) {
    let committed = std::mem::take(transaction).commit(&what(views, held)).await;
    if let Err(error) = committed {
        for &index in held.iter() {
            results[index] = Err(error.clone());
        }
    }
    held.clear();
}
