//! A full re-sync: every project that is equalized now, plus every project the ledger still has
//! views for, reconciled as a project key. That creates what is missing, restores what drifted,
//! replaces what changed, and drops what Immuta no longer wants (projects closed, deleted or
//! unequalized). `view-sync resync` starts one by hand; the stack's schedule queues one, which
//! the processor fans out through its own queue so that every project is a key of its own, with
//! the processors' usual concurrency and retries.
//!
//! Notifications whose reach is every project (and bodies the receiver could not classify) ask
//! for the same fan-out, bounded: one per batch, and none when every record that asks was
//! received before the last fan-out started (`view_sync_core::fan_out`), whose keys read Immuta
//! after that. Every fan-out records when it started, beside the ledger, once its keys are
//! queued.

use std::collections::BTreeSet;
use std::time::Instant;

use queue::{MessageSink, Outgoing, SendError};
use tracing::{info, warn};
use view_sync_core::keys::ReconcileKey;
use view_sync_core::plan::{RowState, Scope};
use view_sync_core::{Id, QueueMessage, QueuedBy};
use views::{Cause, Origin};

use crate::error::ReconcileError;
use crate::reconcile::Reconciler;

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
    enqueue_asked_by(sink, projects, queued_by, &[]).await
}

/// [`enqueue`], each key naming the notification types that asked for the re-sync.
async fn enqueue_asked_by(
    sink: &impl MessageSink,
    projects: &BTreeSet<Id>,
    queued_by: QueuedBy,
    asked_by: &[String],
) -> Result<usize, SendError> {
    let queued_at_ms = queue::now_ms();
    let messages: Vec<Outgoing> = project_keys(projects)
        .map(|key| {
            let body = QueueMessage::encode_key_asked_by(&key, queued_at_ms, queued_by, asked_by);
            Outgoing::key(&key, body)
        })
        .collect();
    sink.send_all(&messages).await
}

/// The scheduled re-sync, in the processor: every project fanned out (see [`fan_out`]); then
/// the audit trail is pruned to `AUDIT_RETENTION_DAYS`, and the kept failures of messages SQS no
/// longer holds are removed. Returns how many projects it covered.
pub async fn scheduled(
    reconciler: &Reconciler,
    deadline: Instant,
) -> Result<usize, ReconcileError> {
    let projects = fan_out(reconciler, QueuedBy::Schedule, &[], deadline).await?;
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
    Ok(projects)
}

/// What came of the re-sync that notifications asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResync {
    /// Every project was fanned out.
    FannedOut { projects: usize },
    /// Every record that asked was received before the last fan-out started: it covers them.
    Covered { last_started_ms: u64 },
}

/// The re-sync of every project that notifications asked for: `asked` holds, for each record
/// that asked, when it was received and what asked (a notification type, or `unclassified`).
pub async fn for_webhooks(
    reconciler: &Reconciler,
    asked: &[(u64, String)],
    deadline: Instant,
) -> Result<WebhookResync, ReconcileError> {
    // A time that cannot be read is no reason to skip: the fan-out costs work, never views.
    let last_started_ms = reconciler
        .retry_while_transient(deadline, || reconciler.store().last_fan_out_started_ms())
        .await
        .unwrap_or_else(|error| {
            warn!(error = %error, "could not read when the last re-sync was fanned out; fanning out");
            None
        });
    if let Some(last_started_ms) = last_started_ms
        && !view_sync_core::fan_out::owed(asked.iter().map(|(at, _)| *at), Some(last_started_ms))
    {
        return Ok(WebhookResync::Covered { last_started_ms });
    }
    let mut asked_by: Vec<String> = Vec::new();
    for (_, name) in asked {
        let label = audit_label(name);
        if !asked_by.contains(&label) && asked_by.len() < MAX_ASKED_BY {
            asked_by.push(label);
        }
    }
    let projects = fan_out(reconciler, QueuedBy::Webhook, &asked_by, deadline).await?;
    Ok(WebhookResync::FannedOut { projects })
}

/// Notification types a fanned-out key names at most.
const MAX_ASKED_BY: usize = 20;

/// A notification type as the audit trail keeps it: a list item (no commas), of bounded length
/// (an unknown type's name is whatever a body said).
fn audit_label(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c == ',' { ';' } else { c })
        .collect()
}

/// Every project fanned out as a key through the processor's queue (`QUEUE_URL`), or reconciled
/// in this invocation when no queue is set; once that is done, when it started is recorded
/// beside the ledger. Returns how many projects it covered.
async fn fan_out(
    reconciler: &Reconciler,
    queued_by: QueuedBy,
    asked_by: &[String],
    deadline: Instant,
) -> Result<usize, ReconcileError> {
    let started_ms = queue::now_ms();
    let projects = projects(reconciler, deadline).await?;
    match reconciler.fan_out_queue() {
        Some(sink) => {
            enqueue_asked_by(sink, &projects, queued_by, asked_by).await?;
            info!(
                projects = projects.len(),
                queued_by = queued_by.as_str(),
                asked_by = asked_by.join(","),
                "re-sync: every project queued as a key"
            );
        }
        None => {
            let cause = Cause {
                origin: match queued_by {
                    QueuedBy::Schedule => Origin::Schedule,
                    QueuedBy::Resync | QueuedBy::Other => Origin::Resync,
                    QueuedBy::Webhook | QueuedBy::Unclassified => Origin::Webhook,
                },
                notification_types: asked_by.to_vec(),
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
                queued_by = queued_by.as_str(),
                "re-sync: every project reconciled here (no QUEUE_URL)"
            );
        }
    }
    // Best effort: without the record, the next notification that asks fans out again.
    if let Err(error) = reconciler.store().record_fan_out_started(started_ms).await {
        warn!(error = %error, "could not record when the re-sync was fanned out");
    }
    Ok(projects.len())
}
