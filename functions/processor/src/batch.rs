//! The SQS batch: decode, key, merge, reconcile, and report exactly the items that failed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::error::UnreportableFailure;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use telemetry::Metric;
use tracing::{error, info, warn};
use view_sync_core::keys::{self, Reaction, ReconcileKey};
use view_sync_core::reads::DisabledHint;
use view_sync_core::{Asks, Id, QueueMessage, QueuedBy, want};
use views::{Cause, MessageFailure, Origin, now_micros};

use crate::reconcile::Reconciler;
use crate::resync;

/// Kept free before the Lambda deadline to return the batch's answer.
const REPORT_MARGIN: Duration = Duration::from_millis(300);

/// Budget when the invocation carries no deadline (tests, local runs).
const DEFAULT_BUDGET: Duration = Duration::from_secs(300);

/// Handles one SQS batch. Records that fail to decode fail alone; a key that fails fails every
/// record that asked for it; the rest succeed and are deleted by the event source mapping.
pub async fn handle(
    reconciler: &Reconciler,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, UnreportableFailure> {
    let started = Instant::now();
    let deadline = deadline_of(event.context.deadline, reconciler.config().deadline_margin);
    // What is left after the reconciles (the margin) is for reporting: the records to release and
    // the errors to keep, both best effort, must not make the batch miss the Lambda deadline.
    let report_by = deadline_of(event.context.deadline, REPORT_MARGIN);
    let records = event.payload.records;
    // The records that failed, with their error.
    let mut failed: BTreeMap<usize, String> = BTreeMap::new();
    // When each record reached the queue: the receiver's `receivedAtMs`, else (an undecodable
    // body, the schedule's message) SQS's `SentTimestamp`.
    let mut received_at_ms: Vec<u64> = records
        .iter()
        .map(|r| {
            r.attributes
                .get("SentTimestamp")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let mut keyed: Vec<(ReconcileKey, usize)> = Vec::new();
    let mut hints: Vec<(usize, (Id, DisabledHint))> = Vec::new();
    // What each record contributes to the cause of its key's changes (see `views::audit`).
    let mut asked: Vec<Option<Asked>> = vec![None; records.len()];
    // Records that ask for a re-sync of every project: one fan-out serves them all.
    let mut resyncs = ResyncAsks::default();
    for (index, record) in records.iter().enumerate() {
        let id = record.message_id.as_deref().unwrap_or("<no messageId>");
        let message = match QueueMessage::decode(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => message,
            Err(e) => {
                error!(message_id = id, error = %e, "undecodable message: it fails alone and reaches the DLQ after maxReceiveCount");
                failed.insert(index, e.to_string());
                continue;
            }
        };
        if message.received_at_ms > 0 {
            received_at_ms[index] = message.received_at_ms;
        }
        let notification = match message.asks() {
            Asks::Key(key) => {
                asked[index] = Some(Asked::Key {
                    queued_by: message.queued_by.unwrap_or(QueuedBy::Resync),
                    asked_by: message.asked_by.clone(),
                });
                keyed.push((key.clone(), index));
                continue;
            }
            Asks::Resync(_) => {
                let queued_by = message.queued_by.unwrap_or(QueuedBy::Schedule);
                asked[index] = Some(Asked::Resync(queued_by));
                match queued_by {
                    QueuedBy::Unclassified => resyncs
                        .by_webhooks
                        .push((index, QueuedBy::Unclassified.as_str().to_owned())),
                    _ => resyncs.scheduled.push(index),
                }
                continue;
            }
            Asks::Notification(notification) => notification,
        };
        asked[index] = Some(Asked::Notification(
            notification.notification_type.to_string(),
        ));
        if let Some(hint) = want::disabled_hint(notification, message.received_at_ms) {
            hints.push((index, hint));
        }
        match keys::reaction_to(notification) {
            Ok(Reaction::Key(key)) => keyed.push((key, index)),
            Ok(Reaction::ResyncAll) => resyncs
                .by_webhooks
                .push((index, notification.notification_type.to_string())),
            Ok(Reaction::Nothing) => {
                info!(message_id = id, notification_type = %notification.notification_type, "no view can depend on this notification")
            }
            Err(e) => {
                error!(message_id = id, error = %e, "notification without the ids its type needs");
                failed.insert(index, e.to_string());
            }
        }
    }
    // The hints are kept before any key is reconciled, so that this batch's reads see them.
    if !hints.is_empty() {
        let kept: Vec<(Id, DisabledHint)> = hints.iter().map(|(_, hint)| hint.clone()).collect();
        if let Err(e) = reconciler.record_disabled_hints(&kept, deadline).await {
            warn!(records = hints.len(), error = %e, "could not keep the disabled hints; their records will be retried");
            failed.extend(hints.iter().map(|(index, _)| (*index, e.to_string())));
        }
    }
    let merged = keys::merge(keyed);
    let request_id = Some(event.context.request_id.clone()).filter(|id| !id.is_empty());
    let keys: Vec<(ReconcileKey, Cause)> = merged
        .iter()
        .map(|(key, contributors)| {
            let mut cause = cause_of(&records, &asked, contributors, request_id.clone());
            cause.received_at_ms = contributors
                .iter()
                .map(|&index| received_at_ms[index])
                .filter(|&ms| ms > 0)
                .min();
            (key.clone(), cause)
        })
        .collect();
    info!(
        records = records.len(),
        keys = keys.len(),
        budget_ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64,
        "reconciling a batch"
    );
    resync_every_project(reconciler, &resyncs, &received_at_ms, deadline, &mut failed).await;
    let results = reconciler.reconcile(&keys, deadline).await;
    // Records whose key the batch had no time to start come back at once.
    let mut no_time: Vec<usize> = Vec::new();
    for ((key, contributors), result) in merged.iter().zip(&results) {
        if let Err(e) = result {
            if e.had_no_time() {
                no_time.extend(contributors);
            }
            warn!(key = %key, records = contributors.len(), retryable = e.is_retryable(), error = %e, "reconcile failed; its records will be retried");
            for index in contributors {
                failed
                    .entry(*index)
                    .or_insert_with(|| format!("{key}: {e}"));
            }
        }
    }
    let report = async {
        release(reconciler, &records, &no_time).await;
        keep_failures(reconciler, &records, &asked, &received_at_ms, &failed).await;
    };
    if tokio::time::timeout_at(report_by.into(), report)
        .await
        .is_err()
    {
        warn!(
            "the records to release and the errors to keep were not all done before the deadline; the batch is reported without them"
        );
    }
    // Before any return: a batch that fails as a whole is the one to see on the dashboard.
    telemetry::record(Metric::BatchRecords, records.len() as f64, &[]);
    telemetry::record(Metric::BatchKeys, keys.len() as f64, &[]);
    telemetry::record(Metric::BatchItemFailures, failed.len() as f64, &[]);
    telemetry::record(Metric::BatchDuration, telemetry::elapsed_ms(started), &[]);
    let mut response = SqsBatchResponse::default();
    let mut unnamed = 0;
    for &index in failed.keys() {
        match records[index]
            .message_id
            .as_deref()
            .filter(|id| !id.is_empty())
        {
            Some(id) => {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.to_owned();
                response.batch_item_failures.push(failure);
            }
            // An empty itemIdentifier would fail the batch anyway, less clearly.
            None => unnamed += 1,
        }
    }
    if unnamed > 0 {
        return Err(UnreportableFailure(unnamed));
    }
    let failures = response.batch_item_failures.len();
    info!(records = records.len(), failed = failures, "batch done");
    Ok(response)
}

/// The records of a batch that ask for a re-sync of every project.
#[derive(Debug, Default)]
struct ResyncAsks {
    /// The schedule's: always fanned out, and it covers the others.
    scheduled: Vec<usize>,
    /// Notifications whose reach is every project, and the receiver's requests for bodies it
    /// could not classify: each with what asked.
    by_webhooks: Vec<(usize, String)>,
}

/// One fan-out for every record of the batch that asks for a re-sync; if it fails, they fail.
async fn resync_every_project(
    reconciler: &Reconciler,
    asks: &ResyncAsks,
    received_at_ms: &[u64],
    deadline: Instant,
    failed: &mut BTreeMap<usize, String>,
) {
    let records: Vec<usize> = asks
        .scheduled
        .iter()
        .copied()
        .chain(asks.by_webhooks.iter().map(|(index, _)| *index))
        .collect();
    let result = if !asks.scheduled.is_empty() {
        resync::scheduled(reconciler, deadline)
            .await
            .map(|projects| resync::WebhookResync::FannedOut { projects })
    } else if !asks.by_webhooks.is_empty() {
        let asked: Vec<(u64, String)> = asks
            .by_webhooks
            .iter()
            .map(|(index, what)| (received_at_ms[*index], what.clone()))
            .collect();
        resync::for_webhooks(reconciler, &asked, deadline).await
    } else {
        return;
    };
    match result {
        Ok(resync::WebhookResync::FannedOut { projects }) => {
            info!(records = records.len(), projects, "re-sync fanned out")
        }
        Ok(resync::WebhookResync::Covered { last_started_ms }) => info!(
            records = records.len(),
            last_started_ms,
            "re-sync not fanned out again: every record that asks arrived before the last fan-out started"
        ),
        Err(e) => {
            warn!(records = records.len(), retryable = e.is_retryable(), error = %e, "the re-sync could not be fanned out; its records will be retried");
            failed.extend(records.iter().map(|index| (*index, e.to_string())));
        }
    }
}

/// What a record asked for, as its key's cause records it.
#[derive(Debug, Clone)]
enum Asked {
    Notification(String),
    Key {
        queued_by: QueuedBy,
        /// For a key a webhook's re-sync queued: the notification types that asked for it.
        asked_by: Vec<String>,
    },
    Resync(QueuedBy),
}

impl Asked {
    fn describe(asked: Option<&Asked>) -> String {
        match asked {
            Some(Self::Notification(notification_type)) => notification_type.clone(),
            Some(Self::Key { queued_by, .. }) => {
                format!("a key queued by {}", queued_by.as_str())
            }
            Some(Self::Resync(QueuedBy::Unclassified)) => {
                "a re-sync for a body the receiver could not classify".into()
            }
            Some(Self::Resync(_)) => "a scheduled re-sync".into(),
            None => "an undecodable message".into(),
        }
    }
}

/// Keeps each failed record's error for `view-sync dlq list` and `status`, and forgets those of
/// retried records that have now succeeded (see `views::failures`). Best effort: the failure
/// is already reported to SQS, and the database may be what failed.
async fn keep_failures(
    reconciler: &Reconciler,
    records: &[SqsMessage],
    asked: &[Option<Asked>],
    received_at_ms: &[u64],
    failed: &BTreeMap<usize, String>,
) {
    let receive_count = |record: &SqsMessage| {
        record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let failures: Vec<MessageFailure> = failed
        .iter()
        .filter_map(|(&index, error)| {
            Some(MessageFailure {
                message_id: records[index]
                    .message_id
                    .clone()
                    .filter(|id| !id.is_empty())?,
                asked: Asked::describe(asked[index].as_ref()),
                error: error.clone(),
                received_at_ms: received_at_ms[index] as i64,
                receive_count: receive_count(&records[index]),
                failed_at: now_micros(),
            })
        })
        .collect();
    // Only a record received before can have failed before.
    let succeeded: Vec<String> = records
        .iter()
        .enumerate()
        .filter(|(index, record)| !failed.contains_key(index) && receive_count(record) > 1)
        .filter_map(|(_, record)| record.message_id.clone())
        .collect();
    if !failures.is_empty()
        && let Err(e) = reconciler.store().record_failures(&failures).await
    {
        warn!(records = failures.len(), error = %e, "could not keep the errors of the failed records");
    }
    if !succeeded.is_empty()
        && let Err(e) = reconciler.store().clear_failures(&succeeded).await
    {
        warn!(records = succeeded.len(), error = %e, "could not forget the errors of records that succeeded");
    }
}

/// Makes the records at `indices` visible again at once (see [`queue::SqsSink::release`]), through
/// the processor's own queue (`QUEUE_URL`), which is the queue its records come from. Best
/// effort: a record not released still comes back after the visibility timeout.
async fn release(reconciler: &Reconciler, records: &[SqsMessage], indices: &[usize]) {
    if indices.is_empty() {
        return;
    }
    let handles: Vec<String> = indices
        .iter()
        .filter_map(|&index| records[index].receipt_handle.clone())
        .collect();
    let Some(queue) = reconciler.fan_out_queue() else {
        warn!(
            records = indices.len(),
            "the batch had no time for these records; without QUEUE_URL they come back after the visibility timeout"
        );
        return;
    };
    match queue.release(&handles).await {
        Ok(released) => {
            info!(
                records = indices.len(),
                released, "the batch had no time for these records: they are visible again at once"
            )
        }
        Err(e) => {
            warn!(records = indices.len(), error = %e, "could not make the records the batch had no time for visible again; they come back after the visibility timeout")
        }
    }
}

/// Message ids an audit entry names: a storm's key can have thousands, which the log has.
const MAX_MESSAGE_IDS_PER_CAUSE: usize = 50;

/// The cause of a key's changes: the records that asked for it.
fn cause_of(
    records: &[SqsMessage],
    asked: &[Option<Asked>],
    contributors: &[usize],
    request_id: Option<String>,
) -> Cause {
    let mut cause = Cause {
        origin: Origin::Resync,
        request_id,
        ..Cause::default()
    };
    let mut scheduled = false;
    for &index in contributors {
        if let Some(id) = records[index].message_id.as_deref()
            && cause.message_ids.len() < MAX_MESSAGE_IDS_PER_CAUSE
        {
            cause.message_ids.push(id.to_owned());
        }
        match &asked[index] {
            Some(Asked::Notification(notification_type)) => {
                cause.origin = Origin::Webhook;
                if !cause.notification_types.contains(notification_type) {
                    cause.notification_types.push(notification_type.clone());
                }
            }
            Some(Asked::Key {
                queued_by: QueuedBy::Schedule,
                ..
            }) => scheduled = true,
            // A webhook's re-sync: the webhook's change, naming the types that asked for it.
            Some(Asked::Key {
                queued_by: QueuedBy::Webhook | QueuedBy::Unclassified,
                asked_by,
            }) => {
                cause.origin = Origin::Webhook;
                for notification_type in asked_by {
                    if !cause.notification_types.contains(notification_type) {
                        cause.notification_types.push(notification_type.clone());
                    }
                }
            }
            Some(Asked::Key {
                queued_by: QueuedBy::Resync | QueuedBy::Other,
                ..
            })
            | Some(Asked::Resync(_))
            | None => {}
        }
    }
    let unnamed = contributors.len().saturating_sub(MAX_MESSAGE_IDS_PER_CAUSE);
    if unnamed > 0 {
        cause.message_ids.push(format!("+{unnamed} more"));
    }
    if scheduled && cause.origin != Origin::Webhook {
        cause.origin = Origin::Schedule;
    }
    cause
}

/// Epoch milliseconds before 2001-09-09: no invocation deadline is that old.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

fn deadline_of(deadline_ms: u64, margin: Duration) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let remaining = match deadline_ms {
        0 => return Instant::now() + DEFAULT_BUDGET,
        // `cargo lambda watch` sends the function's timeout itself (600000) where Lambda sends
        // the epoch time of the deadline; read as a time, it would leave no budget at all.
        ms if ms < EPOCH_MS_FLOOR => Duration::from_millis(ms),
        ms => Duration::from_millis(ms.saturating_sub(now_ms)),
    };
    Instant::now()
        + remaining
            .saturating_sub(margin)
            .max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<SqsMessage> {
        (0..n)
            .map(|i| {
                let mut record = SqsMessage::default();
                record.message_id = Some(format!("m{i}"));
                record
            })
            .collect()
    }

    #[test]
    fn the_budget_is_the_time_to_the_deadline_less_the_margin() {
        let budget = |deadline_ms: u64| {
            deadline_of(deadline_ms, Duration::from_secs(2))
                .saturating_duration_since(Instant::now())
        };
        let now_ms = queue::now_ms();
        let in_a_minute = budget(now_ms + 60_000);
        assert!(
            (57..=58).contains(&in_a_minute.as_secs()),
            "{in_a_minute:?}"
        );
        // A deadline already past still leaves a moment to report the batch.
        assert!(budget(now_ms - 5_000) <= Duration::from_millis(100));
        // cargo lambda watch's 600000: the timeout, not a time.
        let emulated = budget(600_000);
        assert!((597..=598).contains(&emulated.as_secs()), "{emulated:?}");
        assert!(budget(0) > Duration::from_secs(290));
    }

    #[test]
    fn a_cause_names_its_messages_and_what_started_them() {
        let records = records(60);
        let webhook = Asked::Notification("policyUpdated".into());
        let schedule = Asked::Key {
            queued_by: QueuedBy::Schedule,
            asked_by: Vec::new(),
        };
        let mut asked = vec![Some(schedule.clone()); 60];
        asked[1] = Some(webhook.clone());
        asked[2] = Some(webhook);
        let all: Vec<usize> = (0..60).collect();
        let cause = cause_of(&records, &asked, &all, Some("r".into()));
        // Any notification makes it a webhook's change; its type is named once.
        assert_eq!(cause.origin, Origin::Webhook);
        assert_eq!(cause.notification_types, ["policyUpdated"]);
        assert_eq!(cause.message_ids.len(), MAX_MESSAGE_IDS_PER_CAUSE + 1);
        assert_eq!(cause.message_ids.last().unwrap(), "+10 more");
        assert_eq!(cause.request_id.as_deref(), Some("r"));

        let scheduled = cause_of(&records, &asked, &[0, 3], None);
        assert_eq!(
            (scheduled.origin, scheduled.message_ids.as_slice()),
            (
                Origin::Schedule,
                ["m0".to_owned(), "m3".to_owned()].as_slice()
            )
        );
        let by_hand = vec![
            Some(Asked::Key {
                queued_by: QueuedBy::Resync,
                asked_by: Vec::new(),
            });
            60
        ];
        assert_eq!(
            cause_of(&records, &by_hand, &[0], None).origin,
            Origin::Resync
        );
        // The keys a webhook's re-sync fanned out: the webhook's change, and what asked for it.
        let fanned = |types: &[&str]| {
            Some(Asked::Key {
                queued_by: QueuedBy::Webhook,
                asked_by: types.iter().map(|t| t.to_string()).collect(),
            })
        };
        let asked = vec![
            fanned(&["governanceSettingsUpdated"]),
            fanned(&["unclassified", "governanceSettingsUpdated"]),
        ];
        let cause = cause_of(&records, &asked, &[0, 1], None);
        assert_eq!(cause.origin, Origin::Webhook);
        assert_eq!(
            cause.notification_types,
            ["governanceSettingsUpdated", "unclassified"]
        );
    }
}
