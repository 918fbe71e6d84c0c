//! `view-sync dlq`: the dead letters decoded, with the error the processor last kept for each
//! (see `views::failures`), and their move back to the queue, once SQS confirms the direction.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

use queue::admin::{Peeked, QueueAdmin, RedriveAttributes, Redriven};
use serde_json::{Value, json};
use view_sync_core::printable::printable;
use view_sync_core::{Asks, QueueMessage};
use views::MessageFailure;

use view_sync_core::time::format_utc;

use crate::CliError;
pub use crate::error::WrongDirection;

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
            printable(&letter.message_id),
            printable(&letter.asks),
            received(letter),
            letter.receive_count
        );
        let _ = writeln!(
            out,
            "    last error: {}",
            letter.last_error.as_deref().map_or(
                "not kept (the database may have been what failed)".into(),
                printable
            )
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

/// `Ok` when `queue`'s redrive policy names `dlq` as its dead-letter queue: only then do the
/// dead letters of `dlq` belong back in `queue`.
pub fn check_direction(
    dlq: &RedriveAttributes,
    queue: &RedriveAttributes,
) -> Result<(), WrongDirection> {
    if dead_letter_queue(queue).as_deref() == Some(dlq.arn.as_str()) {
        return Ok(());
    }
    let (dlq_arn, queue_arn) = (dlq.arn.clone(), queue.arn.clone());
    if dead_letter_queue(dlq).as_deref() == Some(queue.arn.as_str()) {
        return Err(WrongDirection::Swapped {
            dlq: dlq_arn,
            queue: queue_arn,
        });
    }
    Err(match (&queue.redrive_policy, dead_letter_queue(queue)) {
        (None, _) => WrongDirection::NoRedrivePolicy {
            dlq: dlq_arn,
            queue: queue_arn,
        },
        (Some(policy), None) => WrongDirection::UnreadableRedrivePolicy {
            queue: queue_arn,
            policy: policy.clone(),
        },
        (Some(_), Some(target)) => WrongDirection::OtherDeadLetterQueue {
            dlq: dlq_arn,
            queue: queue_arn,
            target,
        },
    })
}

/// The ARN of `queue`'s dead-letter queue, as its `RedrivePolicy` names it.
fn dead_letter_queue(queue: &RedriveAttributes) -> Option<String> {
    let policy: Value = serde_json::from_str(queue.redrive_policy.as_deref()?).ok()?;
    policy["deadLetterTargetArn"].as_str().map(str::to_owned)
}

/// Moves the dead letters of `dlq_url` back to `queue_url`, once SQS says that the first is the
/// dead-letter queue of the second (swapped URLs would move live messages into the dead-letter
/// queue).
pub async fn redrive(
    admin: &QueueAdmin,
    dlq_url: &str,
    queue_url: &str,
    max: Option<usize>,
    deadline: Instant,
    progress: impl FnMut(u64),
) -> Result<Redriven, CliError> {
    let dlq = admin.redrive_attributes(dlq_url).await?;
    let queue = admin.redrive_attributes(queue_url).await?;
    check_direction(&dlq, &queue)?;
    Ok(admin
        .redrive(dlq_url, queue_url, max, deadline, progress)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notification whose type retitles and clears the terminal, about a project whose id
    /// reads backwards: JSON escapes, as a message body carries them.
    const HOSTILE_BODY: &str = r#"{"version":1,"receivedAtMs":0,"notification":{"notificationType":"\u001b]0;owned\u0007\u001b[2J","shape":"flat","projectId":"a\u202egpj"}}"#;

    fn hostile_letters() -> Vec<DeadLetter> {
        let peeked = Peeked {
            message_id: "m-1\u{1b}[1A".into(),
            body: HOSTILE_BODY.into(),
            receive_count: 3,
            sent_at_ms: 0,
        };
        let failure = MessageFailure {
            message_id: peeked.message_id.clone(),
            asked: String::new(),
            error: "boom\nnothing to change\u{7}".into(),
            received_at_ms: 0,
            receive_count: 3,
            failed_at: 0,
        };
        dead_letters(vec![peeked], &[failure])
    }

    #[test]
    fn what_a_dead_letter_says_is_shown_escaped_not_obeyed() {
        let text = to_text(&hostile_letters(), "https://sqs/dlq");
        assert_eq!(
            text,
            "1 dead letter(s) in https://sqs/dlq\n\
             m-1\\u{1b}[1A  \\u{1b}]0;owned\\u{7}\\u{1b}[2J (project a\\u{202e}gpj)  received \
             unknown  delivered 3 time(s)\n    \
             last error: boom\\u{a}nothing to change\\u{7}\n"
        );
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{text}");
    }

    #[test]
    fn json_keeps_what_a_dead_letter_says_as_it_is() {
        let json = to_json(&hostile_letters());
        let letter = &json["deadLetters"][0];
        assert_eq!(letter["messageId"], "m-1\u{1b}[1A");
        assert_eq!(
            letter["asks"],
            "\u{1b}]0;owned\u{7}\u{1b}[2J (project a\u{202e}gpj)"
        );
        assert_eq!(letter["lastError"], "boom\nnothing to change\u{7}");
        assert!(json.to_string().contains(r"\u001b]0;owned\u0007"));
    }

    const LIVE: &str = "arn:aws:sqs:us-east-1:123456789012:live";
    const DEAD: &str = "arn:aws:sqs:us-east-1:123456789012:live-dlq";

    fn queue(arn: &str, dead_letter_queue: Option<&str>) -> RedriveAttributes {
        RedriveAttributes {
            arn: arn.into(),
            redrive_policy: dead_letter_queue.map(|target| {
                json!({"deadLetterTargetArn": target, "maxReceiveCount": "5"}).to_string()
            }),
        }
    }

    #[test]
    fn dead_letters_go_back_only_to_the_queue_whose_dead_letter_queue_they_are_in() {
        let (dlq, live) = (queue(DEAD, None), queue(LIVE, Some(DEAD)));
        assert_eq!(check_direction(&dlq, &live), Ok(()));

        let swapped = check_direction(&live, &dlq).unwrap_err();
        assert_eq!(
            swapped,
            WrongDirection::Swapped {
                dlq: LIVE.into(),
                queue: DEAD.into()
            }
        );
        assert_eq!(
            swapped.to_string(),
            "--dlq-url and --queue-url are swapped: --queue-url \
             (arn:aws:sqs:us-east-1:123456789012:live-dlq) is the dead-letter queue of --dlq-url \
             (arn:aws:sqs:us-east-1:123456789012:live); nothing was moved"
        );

        let other = queue("arn:aws:sqs:us-east-1:123456789012:other", None);
        assert_eq!(
            check_direction(&other, &dlq).unwrap_err().to_string(),
            "--queue-url (arn:aws:sqs:us-east-1:123456789012:live-dlq) has no RedrivePolicy, so \
             --dlq-url (arn:aws:sqs:us-east-1:123456789012:other) is not its dead-letter queue; \
             nothing was moved"
        );
        assert_eq!(
            check_direction(&other, &live).unwrap_err().to_string(),
            "the dead-letter queue of --queue-url (arn:aws:sqs:us-east-1:123456789012:live) is \
             arn:aws:sqs:us-east-1:123456789012:live-dlq, not --dlq-url's \
             arn:aws:sqs:us-east-1:123456789012:other; were the two swapped? Nothing was moved"
        );
        let unreadable = RedriveAttributes {
            arn: LIVE.into(),
            redrive_policy: Some("{\"maxReceiveCount\":5}".into()),
        };
        assert_eq!(
            check_direction(&dlq, &unreadable),
            Err(WrongDirection::UnreadableRedrivePolicy {
                queue: LIVE.into(),
                policy: "{\"maxReceiveCount\":5}".into()
            })
        );
        // A queue is not its own dead-letter queue's source, nor its own target.
        assert!(check_direction(&live, &live).is_err());
    }
}
