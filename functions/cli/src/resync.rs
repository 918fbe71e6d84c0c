//! `view-sync resync`: a full re-sync (see `processor::resync`), here or through the queue.

use std::collections::BTreeSet;
use std::time::Instant;

use processor::{ReconcileError, Reconciler};
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use views::{Cause, Origin};

pub use processor::resync::{enqueue, project_keys, projects};

/// Reconciles the projects in this process; returns the failures.
pub async fn run_here(
    reconciler: &Reconciler,
    projects: &BTreeSet<Id>,
    deadline: Instant,
) -> Vec<(ReconcileKey, ReconcileError)> {
    let cause = Cause {
        origin: Origin::Resync,
        ..Cause::default()
    };
    let keys: Vec<(ReconcileKey, Cause)> = project_keys(projects)
        .map(|key| (key, cause.clone()))
        .collect();
    let results = reconciler.reconcile(&keys, deadline).await;
    keys.into_iter()
        .zip(results)
        .filter_map(|((key, _), result)| result.err().map(|e| (key, e)))
        .collect()
}
