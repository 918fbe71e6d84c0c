//! `view-sync resync`: a full re-sync (see `processor::resync`), here or through the queue.

use std::collections::BTreeSet;
use std::time::Instant;

use processor::{ReconcileError, Reconciler};
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use views::{Cause, Origin};

pub use processor::resync::{enqueue, project_keys, projects};

use crate::progress::Progress;

/// Projects reconciled at a time, between reports of progress: as many as the processor's
/// Immuta concurrency keeps busy.
const PROJECTS_PER_STEP: usize = 25;

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
    let mut progress = Progress::new("projects reconciled", Some(keys.len() as u64));
    let mut failures = Vec::new();
    for chunk in keys.chunks(PROJECTS_PER_STEP) {
        let results = reconciler.reconcile(chunk, deadline).await;
        failures.extend(
            chunk
                .iter()
                .zip(results)
                .filter_map(|((key, _), result)| result.err().map(|e| (key.clone(), e))),
        );
        progress.add(chunk.len() as u64);
    }
    progress.finish();
    failures
}
