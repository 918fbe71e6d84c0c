//! A full re-sync: every project that is equalized now, plus every project the ledger still has
//! views for, reconciled as a project key. That creates what is missing, restores what drifted,
//! replaces what changed, and drops what Immuta no longer wants (projects closed, deleted or
//! unequalized). `view-sync resync` starts one by hand; the stack's schedule queues one, which
//! the processor fans out through its own queue so that every project is a key of its own, with
//! the processors' usual concurrency and retries.

use std::collections::BTreeSet;
use std::time::Instant;

use queue::{MessageSink, Outgoing, SendError};
use tracing::{info, warn};
use view_sync_core::keys::ReconcileKey;
use view_sync_core::plan::{RowState, Scope};
use view_sync_core::{Id, QueueMessage, QueuedBy};
use views::{Cause, Origin};

use crate::reconcile::{ReconcileError, Reconciler};

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
    let rows = reconciler
        .retry_while_transient(deadline, || reconciler.store().rows(&Scope::Everything))
        .await?;
    ids.extend(
        rows.into_iter()
            .filter(|r| r.state != RowState::Dropped)
            .map(|r| r.view.project_id),
    );
    Ok(ids)
}

/// A project key per project.
pub fn project_keys(projects: &BTreeSet<Id>) -> impl Iterator<Item = ReconcileKey> + '_ {
    projects.iter().map(|id| ReconcileKey::Project {
        project_id: id.clone(),
    })
}

/// Queues one project key per project on `sink` (in batches of ten).
pub async fn enqueue(
    sink: &impl MessageSink,
    projects: &BTreeSet<Id>,
    queued_by: QueuedBy,
) -> Result<usize, SendError> {
    let queued_at_ms = queue::now_ms();
    let messages: Vec<Outgoing> = project_keys(projects)
        .map(|key| {
            let body = QueueMessage::encode_key(&key, queued_at_ms, queued_by);
            Outgoing::key(&key, body)
        })
        .collect();
    sink.send_all(&messages).await
}

/// The scheduled re-sync, in the processor: every project fanned out as a key through the
/// processor's queue (`QUEUE_URL`), or reconciled in this invocation when no queue is set; then
/// the audit trail is pruned to `AUDIT_RETENTION_DAYS`, and the kept failures of messages SQS no
/// longer holds are removed. Returns how many projects it covered.
pub async fn scheduled(
    reconciler: &Reconciler,
    deadline: Instant,
) -> Result<usize, ReconcileError> {
    let started_ms = queue::now_ms();
    let projects = projects(reconciler, deadline).await?;
    match reconciler.fan_out_queue() {
        Some(sink) => {
            enqueue(sink, &projects, QueuedBy::Schedule).await?;
            info!(
                projects = projects.len(),
                "scheduled re-sync: every project queued as a key"
            );
        }
        None => {
            let cause = Cause {
                origin: Origin::Schedule,
                received_at_ms: Some(started_ms),
                ..Cause::default()
            };
            let keys: Vec<(ReconcileKey, Cause)> = project_keys(&projects)
                .map(|key| (key, cause.clone()))
                .collect();
            let results = reconciler.reconcile(&keys, deadline).await;
            if let Some(error) = results.into_iter().find_map(Result::err) {
                return Err(error);
            }
            info!(
                projects = projects.len(),
                "scheduled re-sync: every project reconciled here (no QUEUE_URL)"
            );
        }
    }
    let retention = reconciler.config().audit_retention_days;
    let store = reconciler.store();
    // The re-sync itself is done: a prune that fails is tried again next time.
    match store.prune_audit(retention).await {
        Ok(pruned) => info!(pruned, retention_days = retention, "audit trail pruned"),
        Err(error) => warn!(error = %error, "could not prune the audit trail"),
    }
    if let Err(error) = store.prune_failures().await {
        warn!(error = %error, "could not prune the kept failures of queue messages");
    }
    Ok(projects.len())
}
