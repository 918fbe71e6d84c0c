//! A batch's records as what they ask, decided without I/O: each record decoded (or failed
//! alone), its notification turned into a reconcile key (or a re-sync of every project, or
//! nothing), the keys merged with the records behind each and their cause, and the disabled
//! hints to keep. `batch` feeds it the SQS records and carries out what it says.

use tracing::{error, info};
use view_sync_core::keys::{self, Reaction, ReconcileKey};
use view_sync_core::reads::DisabledHint;
use view_sync_core::{Asks, Id, QueueMessage, QueuedBy, want};
use views::{Cause, Origin};

/// One SQS record, as the intake reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub(crate) message_id: Option<&'a str>,
    pub(crate) body: &'a str,
    /// SQS's `SentTimestamp` in milliseconds since the Unix epoch (0: not given).
    pub(crate) sent_at_ms: u64,
}

/// What became of one record.
#[derive(Debug, Clone)]
pub(crate) struct RecordTaken {
    /// When it reached the queue: the receiver's `receivedAtMs`, else (an undecodable body, the
    /// schedule's message) SQS's `SentTimestamp`.
    pub(crate) received_at_ms: u64,
    /// What it asked for; `None` when it could not be decoded.
    pub(crate) asked: Option<Asked>,
    /// Why it fails before anything is reconciled (it fails alone).
    pub(crate) failure: Option<String>,
}

/// A reconcile key, the records that asked for it and the cause its changes record.
#[derive(Debug, Clone)]
pub(crate) struct KeyAsked {
    pub(crate) key: ReconcileKey,
    pub(crate) records: Vec<usize>,
    pub(crate) cause: Cause,
}

/// What a batch asks, record by record and merged.
#[derive(Debug)]
pub(crate) struct Intake {
    /// One per record, in the batch's order.
    pub(crate) records: Vec<RecordTaken>,
    pub(crate) keys: Vec<KeyAsked>,
    /// The disabled hints the notifications carry, with the record of each.
    pub(crate) hints: Vec<(usize, (Id, DisabledHint))>,
    pub(crate) resyncs: ResyncAsks,
}

/// Reads `records`; `request_id` is the Lambda request each key's cause names.
pub(crate) fn intake(records: &[Record<'_>], request_id: Option<String>) -> Intake {
    let mut taken: Vec<RecordTaken> = Vec::with_capacity(records.len());
    let mut keyed: Vec<(ReconcileKey, usize)> = Vec::new();
    let mut hints = Vec::new();
    let mut resyncs = ResyncAsks::default();
    for (index, record) in records.iter().enumerate() {
        let id = record.message_id.unwrap_or("<no messageId>");
        let mut this = RecordTaken {
            received_at_ms: record.sent_at_ms,
            asked: None,
            failure: None,
        };
        let message = match QueueMessage::decode(record.body) {
            Ok(message) => message,
            Err(e) => {
                error!(message_id = id, error = %e, "undecodable message: it fails alone and reaches the DLQ after maxReceiveCount");
                this.failure = Some(e.to_string());
                taken.push(this);
                continue;
            }
        };
        if message.received_at_ms > 0 {
            this.received_at_ms = message.received_at_ms;
        }
        match message.asks() {
            Asks::Key(key) => {
                this.asked = Some(Asked::Key {
                    queued_by: message.queued_by.unwrap_or(QueuedBy::Resync),
                    asked_by: message.asked_by.clone(),
                });
                keyed.push((key.clone(), index));
            }
            Asks::Resync(_) => {
                let queued_by = message.queued_by.unwrap_or(QueuedBy::Schedule);
                this.asked = Some(Asked::Resync(queued_by));
                match queued_by {
                    QueuedBy::Unclassified => resyncs
                        .by_webhooks
                        .push((index, QueuedBy::Unclassified.as_str().to_owned())),
                    _ => resyncs.scheduled.push(index),
                }
            }
            Asks::Notification(notification) => {
                let notification_type = notification.notification_type.to_string();
                this.asked = Some(Asked::Notification(notification_type.clone()));
                if let Some(hint) = want::disabled_hint(notification, message.received_at_ms) {
                    hints.push((index, hint));
                }
                match keys::reaction_to(notification) {
                    Ok(Reaction::Key(key)) => keyed.push((key, index)),
                    Ok(Reaction::ResyncAll) => resyncs.by_webhooks.push((index, notification_type)),
                    Ok(Reaction::Nothing) => {
                        info!(message_id = id, notification_type = %notification_type, "no view can depend on this notification")
                    }
                    Err(e) => {
                        error!(message_id = id, error = %e, "notification without the ids its type needs");
                        this.failure = Some(e.to_string());
                    }
                }
            }
        }
        taken.push(this);
    }
    let keys = keys::merge(keyed)
        .into_iter()
        .map(|(key, contributors)| {
            let mut cause = cause_of(records, &taken, &contributors, request_id.clone());
            cause.received_at_ms = contributors
                .iter()
                .map(|&index| taken[index].received_at_ms)
                .filter(|&ms| ms > 0)
                .min();
            KeyAsked {
                key,
                records: contributors,
                cause,
            }
        })
        .collect();
    Intake {
        records: taken,
        keys,
        hints,
        resyncs,
    }
}

/// The records of a batch that ask for a re-sync of every project.
#[derive(Debug, Default)]
pub(crate) struct ResyncAsks {
    /// The schedule's: always fanned out, and it covers the others.
    pub(crate) scheduled: Vec<usize>,
    /// Notifications whose reach is every project, and the receiver's requests for bodies it
    /// could not classify: each with what asked.
    pub(crate) by_webhooks: Vec<(usize, String)>,
}

/// What a record asked for, as its key's cause records it.
#[derive(Debug, Clone)]
pub(crate) enum Asked {
    Notification(String),
    Key {
        queued_by: QueuedBy,
        /// For a key a webhook's re-sync queued: the notification types that asked for it.
        asked_by: Vec<String>,
    },
    Resync(QueuedBy),
}

impl Asked {
    pub(crate) fn describe(asked: Option<&Asked>) -> String {
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

/// Message ids an audit entry names: a storm's key can have thousands, which the log has.
const MAX_MESSAGE_IDS_PER_CAUSE: usize = 50;

/// The cause of a key's changes: the records that asked for it.
fn cause_of(
    records: &[Record<'_>],
    taken: &[RecordTaken],
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
        if let Some(id) = records[index].message_id
            && cause.message_ids.len() < MAX_MESSAGE_IDS_PER_CAUSE
        {
            cause.message_ids.push(id.to_owned());
        }
        match &taken[index].asked {
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

#[cfg(test)]
mod tests {
    use view_sync_core::Notification;

    use super::*;

    fn record<'a>(message_id: Option<&'a str>, body: &'a str) -> Record<'a> {
        Record {
            message_id,
            body,
            sent_at_ms: 7,
        }
    }

    fn taken(asked: Vec<Option<Asked>>) -> Vec<RecordTaken> {
        asked
            .into_iter()
            .map(|asked| RecordTaken {
                received_at_ms: 0,
                asked,
                failure: None,
            })
            .collect()
    }

    fn notification(json: &str, received_at_ms: u64) -> String {
        let notification = Notification::parse_json(json).unwrap();
        QueueMessage::encode(&notification, received_at_ms, None)
    }

    #[test]
    fn records_become_merged_keys_resyncs_and_failures_without_io() {
        let policy = notification(
            r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":2}"#,
            100,
        );
        let again = notification(
            r#"{"notificationType":"dataSourceUpdated","modelType":"datasource","modelId":2}"#,
            90,
        );
        let unclassified = QueueMessage::encode_resync(95, QueuedBy::Unclassified);
        let scheduled = QueueMessage::encode_resync(0, QueuedBy::Schedule);
        let records = [
            record(Some("m0"), &policy),
            record(Some("m1"), "not a message"),
            record(Some("m2"), &again),
            record(Some("m3"), &unclassified),
            record(Some("m4"), &scheduled),
        ];
        let intake = intake(&records, Some("r1".into()));
        // The undecodable record fails alone, and keeps SQS's time.
        let failures: Vec<(usize, u64)> = intake
            .records
            .iter()
            .enumerate()
            .filter(|(_, t)| t.failure.is_some())
            .map(|(i, t)| (i, t.received_at_ms))
            .collect();
        assert_eq!(failures, [(1, 7)]);
        // One key for the two notifications of data source 2, caused by both.
        assert_eq!(intake.keys.len(), 1, "{:?}", intake.keys);
        let key = &intake.keys[0];
        assert_eq!(key.key.to_string(), "dataSource:2");
        assert_eq!(key.records, [0, 2]);
        assert_eq!(key.cause.origin, Origin::Webhook);
        assert_eq!(key.cause.message_ids, ["m0", "m2"]);
        assert_eq!(
            key.cause.notification_types,
            ["policyUpdated", "dataSourceUpdated"]
        );
        assert_eq!(key.cause.received_at_ms, Some(90));
        assert_eq!(key.cause.request_id.as_deref(), Some("r1"));
        // The two re-syncs: the schedule's (whose receivedAtMs of 0 leaves SQS's time) and the
        // receiver's for a body it could not classify.
        assert_eq!(intake.resyncs.scheduled, [4]);
        assert_eq!(intake.resyncs.by_webhooks, [(3, "unclassified".to_owned())]);
        assert_eq!(intake.records[4].received_at_ms, 7);
        assert_eq!(
            Asked::describe(intake.records[3].asked.as_ref()),
            "a re-sync for a body the receiver could not classify"
        );
        assert_eq!(
            Asked::describe(intake.records[1].asked.as_ref()),
            "an undecodable message"
        );
    }

    #[test]
    fn a_notification_without_the_ids_its_type_needs_fails_alone() {
        let orphan = notification(
            r#"{"notificationType":"policyUpdated","modelType":"datasource"}"#,
            5,
        );
        let fine = notification(
            r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":3}"#,
            5,
        );
        let records = [record(Some("a"), &orphan), record(Some("b"), &fine)];
        let intake = intake(&records, None);
        assert!(intake.records[0].failure.is_some());
        assert_eq!(intake.records[1].failure, None);
        assert_eq!(intake.keys.len(), 1);
        assert_eq!(intake.keys[0].records, [1]);
    }

    #[test]
    fn a_cause_names_its_messages_and_what_started_them() {
        let ids: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
        let records: Vec<Record<'_>> = ids.iter().map(|id| record(Some(id), "")).collect();
        let webhook = Asked::Notification("policyUpdated".into());
        let schedule = Asked::Key {
            queued_by: QueuedBy::Schedule,
            asked_by: Vec::new(),
        };
        let mut asked = vec![Some(schedule.clone()); 60];
        asked[1] = Some(webhook.clone());
        asked[2] = Some(webhook);
        let asked = taken(asked);
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
        let by_hand = taken(vec![
            Some(Asked::Key {
                queued_by: QueuedBy::Resync,
                asked_by: Vec::new(),
            });
            60
        ]);
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
        let asked = taken(vec![
            fanned(&["governanceSettingsUpdated"]),
            fanned(&["unclassified", "governanceSettingsUpdated"]),
        ]);
        let cause = cause_of(&records, &asked, &[0, 1], None);
        assert_eq!(cause.origin, Origin::Webhook);
        assert_eq!(
            cause.notification_types,
            ["governanceSettingsUpdated", "unclassified"]
        );
    }
}
