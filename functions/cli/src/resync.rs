//! A full re-sync: every project that is equalized now, plus every project the ledger still has
//! views for, is reconciled as a project key. That creates what is missing, replaces what
//! drifted, and drops what Immuta no longer wants (projects closed, deleted or unequalized).

use std::collections::BTreeSet;
use std::time::Instant;

use processor::{ReconcileError, Reconciler};
use queue::{MessageSink, Outgoing, SendError};
use view_sync_core::keys::ReconcileKey;
use view_sync_core::plan::{RowState, Scope};
use view_sync_core::{Id, QueueMessage, QueuedBy};
use views::{Cause, Origin};

/// Projects to reconcile: equalized in Immuta now, or holding managed views in the ledger.
pub async fn projects(
    reconciler: &Reconciler,
    deadline: Instant,
) -> Result<BTreeSet<Id>, ReconcileError> {
    let mut ids: BTreeSet<Id> = reconciler
        .immuta()
        .equalized_projects(deadline)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let rows = reconciler.store().rows(&Scope::Everything).await?;
    ids.extend(
        rows.into_iter()
            .filter(|r| r.state != RowState::Dropped)
            .map(|r| r.view.project_id),
    );
    Ok(ids)
}

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

/// Fans the projects out through the processor's queue, one project key each, so the processors
/// do the work with their usual concurrency limits and retries.
pub async fn enqueue(sink: &impl MessageSink, projects: &BTreeSet<Id>) -> Result<usize, SendError> {
    let queued_at_ms = queue::now_ms();
    for key in project_keys(projects) {
        let body = QueueMessage::encode_key(&key, queued_at_ms, QueuedBy::Resync);
        sink.send(&Outgoing::key(&key, body)).await?;
    }
    Ok(projects.len())
}

/// A project key per project.
pub fn project_keys(projects: &BTreeSet<Id>) -> impl Iterator<Item = ReconcileKey> + '_ {
    projects.iter().map(|id| ReconcileKey::Project {
        project_id: id.clone(),
    })
}
