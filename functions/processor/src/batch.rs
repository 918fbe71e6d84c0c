//! The SQS batch: decode, key, merge, reconcile, and report exactly the items that failed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::error::UnreportableFailure;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use queue::{MessageSink, Outgoing, SEND_BATCH};
use telemetry::Metric;
use tracing::{info, warn};
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::reads::DisabledHint;
use views::{Cause, MessageFailure, now_micros};

use crate::intake::{self, Asked, Intake, Record, RecordTaken, ResyncAsks};
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
    let request_id = Some(event.context.request_id.clone()).filter(|id| !id.is_empty());
    let read: Vec<Record<'_>> = records
        .iter()
        .map(|r| Record {
            message_id: r.message_id.as_deref(),
            body: r.body.as_deref().unwrap_or_default(),
            sent_at_ms: r
                .attributes
                .get("SentTimestamp")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0),
        })
        .collect();
    let Intake {
        records: taken,
        keys,
        hints,
        resyncs,
    } = intake::intake(&read, request_id);
    // The records that failed, with their error.
    let mut failed: BTreeMap<usize, String> = taken
        .iter()
        .enumerate()
        .filter_map(|(index, taken)| Some((index, taken.failure.clone()?)))
        .collect();
    // The hints are kept before any key is reconciled, so that this batch's reads see them.
    if !hints.is_empty() {
        let kept: Vec<(Id, DisabledHint)> = hints.iter().map(|(_, hint)| hint.clone()).collect();
        if let Err(e) = reconciler.record_disabled_hints(&kept, deadline).await {
            warn!(records = hints.len(), error = %e, "could not keep the disabled hints; their records will be retried");
            failed.extend(hints.iter().map(|(index, _)| (*index, e.to_string())));
        }
    }
    info!(
        records = records.len(),
        keys = keys.len(),
        budget_ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64,
        "reconciling a batch"
    );
    resync_every_project(reconciler, &resyncs, &taken, deadline, &mut failed).await;
    let asked_keys: Vec<(ReconcileKey, Cause)> = keys
        .iter()
        .map(|k| (k.key.clone(), k.cause.clone()))
        .collect();
    let mut failed_otherwise: BTreeSet<usize> = failed.keys().copied().collect();
    let results = reconciler.reconcile(&asked_keys, deadline).await;
    // Records whose key the batch had no time to start are handed on (see `hand_on`), unless
    // another of their keys failed; those it had no time to finish come back at once.
    let mut not_started: BTreeSet<usize> = BTreeSet::new();
    let mut no_time: BTreeSet<usize> = BTreeSet::new();
    for (asked, result) in keys.iter().zip(&results) {
        let (key, contributors) = (&asked.key, &asked.records);
        if let Err(e) = result {
            if e.was_not_started() {
                not_started.extend(contributors);
            } else {
                failed_otherwise.extend(contributors);
            }
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
        // A batch that started none of its keys (its time went before: a stall of the database
        // or of Immuta) made no progress: its records fail, so that a lasting stall reaches the
        // DLQ rather than goes round the queue for ever.
        let any_started = results.iter().any(|result| match result {
            Err(e) => !e.was_not_started(),
            Ok(_) => true,
        });
        let only_not_started: Vec<usize> = match any_started {
            true => not_started.difference(&failed_otherwise).copied().collect(),
            false => Vec::new(),
        };
        let handed_on = hand_on(reconciler, &records, &only_not_started).await;
        for index in &handed_on {
            failed.remove(index);
        }
        let to_release: Vec<usize> = no_time
            .iter()
            .filter(|index| !handed_on.contains(index))
            .copied()
            .collect();
        release(reconciler, &records, &to_release).await;
        keep_failures(reconciler, &records, &taken, &failed, &handed_on).await;
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

/// One fan-out for every record of the batch that asks for a re-sync; if it fails, they fail.
async fn resync_every_project(
    reconciler: &Reconciler,
    asks: &ResyncAsks,
    taken: &[RecordTaken],
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
            .map(|(index, what)| (taken[*index].received_at_ms, what.clone()))
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

/// Keeps each failed record's error for `view-sync dlq list` and `status`, and forgets those of
/// retried records that have now succeeded (see `views::failures`). Best effort: the failure
/// is already reported to SQS, and the database may be what failed.
async fn keep_failures(
    reconciler: &Reconciler,
    records: &[SqsMessage],
    taken: &[RecordTaken],
    failed: &BTreeMap<usize, String>,
    handed_on: &[usize],
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
                asked: Asked::describe(taken[index].asked.as_ref()),
                error: error.clone(),
                received_at_ms: taken[index].received_at_ms as i64,
                receive_count: receive_count(&records[index]),
                failed_at: now_micros(),
            })
        })
        .collect();
    // Only a record received before can have failed before; one handed on was not applied, so
    // what failed it before still stands.
    let succeeded: Vec<String> = records
        .iter()
        .enumerate()
        .filter(|(index, record)| {
            !failed.contains_key(index) && !handed_on.contains(index) && receive_count(record) > 1
        })
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

/// Sends the records at `indices` to the processor's own queue (`QUEUE_URL`) again, as they
/// came, and returns them: the batch had no time to start them (they changed nothing) and
/// nothing else failed them, so they are reported done (deleted) and come back as new
/// messages. A re-sync larger than one invocation thus goes on over several, its keys never
/// nearer `maxReceiveCount` and the dead-letter queue for having waited their turn, as a
/// record released would be. Nothing is
/// lost: a record is reported done only once SQS accepted its copy; if it did not, the record
/// fails and is released as before. Without `QUEUE_URL`, none is handed on.
async fn hand_on(reconciler: &Reconciler, records: &[SqsMessage], indices: &[usize]) -> Vec<usize> {
    let Some(queue) = reconciler.fan_out_queue() else {
        return Vec::new();
    };
    let (sendable, copies): (Vec<usize>, Vec<Outgoing>) = indices
        .iter()
        .filter_map(|&index| {
            let record = &records[index];
            let body = record.body.clone()?;
            let attributes = record
                .message_attributes
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.string_value.clone()?)))
                .collect();
            Some((index, Outgoing::again(body, attributes)))
        })
        .unzip();
    let mut handed_on = Vec::new();
    // A request at a time (ten messages), so that one SQS refuses costs only its own records.
    for (indices, copies) in sendable.chunks(SEND_BATCH).zip(copies.chunks(SEND_BATCH)) {
        match queue.send_all(copies).await {
            Ok(_) => handed_on.extend_from_slice(indices),
            Err(e) => {
                warn!(records = indices.len(), error = %e, "could not send again records the batch had no time for; they fail and are released")
            }
        }
    }
    if !handed_on.is_empty() {
        telemetry::record(Metric::BatchRecordsHandedOn, handed_on.len() as f64, &[]);
        info!(
            records = handed_on.len(),
            "the batch had no time for these records: sent to the queue again, to go on in the next invocation"
        );
    }
    handed_on
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
}
