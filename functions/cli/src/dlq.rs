//! `view-sync dlq`: the dead letters decoded, with the error the processor last kept for each
//! (see `views::failures`), and their move back to the queue.

use std::collections::BTreeMap;
use std::fmt::Write;

use queue::admin::Peeked;
use serde_json::{Value, json};
use view_sync_core::{Asks, QueueMessage};
use views::MessageFailure;

use view_sync_core::time::format_utc;

/// A dead letter as an operator reads it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    /// What it asks for: a notification type and its ids, a key, a re-sync.
    pub asks: String,
    /// When the receiver accepted it (or the key was queued), in milliseconds.
    pub received_at_ms: Option<u64>,
    pub receive_count: u64,
    /// The error the processor last kept for it, if it kept one.
    pub last_error: Option<String>,
}

/// What a queue message asks for, and when it was received.
pub fn describe(body: &str) -> (String, Option<u64>) {
    let message = match QueueMessage::decode(body) {
        Ok(message) => message,
        Err(e) => return (format!("undecodable ({e})"), None),
    };
    let received = Some(message.received_at_ms).filter(|&ms| ms > 0);
    let asks = match message.asks() {
        Asks::Notification(n) => {
            let mut ids = Vec::new();
            if let Some(project) = &n.project_id {
                ids.push(format!("project {project}"));
            }
            if let Some(source) = &n.data_source_id {
                ids.push(format!("data source {source}"));
            }
            if ids.is_empty() {
                n.notification_type.to_string()
            } else {
                format!("{} ({})", n.notification_type, ids.join(", "))
            }
        }
        Asks::Key(key) => format!("re-sync of {key}"),
        Asks::Resync(_) => "the scheduled re-sync of every project".into(),
    };
    (asks, received)
}

pub fn dead_letters(peeked: Vec<Peeked>, failures: &[MessageFailure]) -> Vec<DeadLetter> {
    let errors: BTreeMap<&str, &str> = failures
        .iter()
        .map(|f| (f.message_id.as_str(), f.error.as_str()))
        .collect();
    peeked
        .into_iter()
        .map(|p| {
            let (asks, received_at_ms) = describe(&p.body);
            DeadLetter {
                last_error: errors.get(p.message_id.as_str()).map(|e| (*e).to_owned()),
                message_id: p.message_id,
                asks,
                received_at_ms: received_at_ms.or(Some(p.sent_at_ms).filter(|&ms| ms > 0)),
                receive_count: p.receive_count,
            }
        })
        .collect()
}

fn received(letter: &DeadLetter) -> String {
    letter
        .received_at_ms
        .map(|ms| format_utc(ms as i64 * 1_000))
        .unwrap_or_else(|| "unknown".into())
}

pub fn to_text(letters: &[DeadLetter], dlq_url: &str) -> String {
    let mut out = format!("{} dead letter(s) in {dlq_url}\n", letters.len());
    for letter in letters {
        let _ = writeln!(
            out,
            "{}  {}  received {}  delivered {} time(s)",
            letter.message_id,
            letter.asks,
            received(letter),
            letter.receive_count
        );
        let _ = writeln!(
            out,
            "    last error: {}",
            letter
                .last_error
                .as_deref()
                .unwrap_or("not kept (the database may have been what failed)")
        );
    }
    out
}

pub fn to_json(letters: &[DeadLetter]) -> Value {
    let letters: Vec<Value> = letters
        .iter()
        .map(|l| {
            json!({
                "messageId": l.message_id,
                "asks": l.asks,
                "receivedAt": l.received_at_ms.map(|ms| format_utc(ms as i64 * 1_000)),
                "receiveCount": l.receive_count,
                "lastError": l.last_error,
            })
        })
        .collect();
    json!({ "deadLetters": letters })
}
