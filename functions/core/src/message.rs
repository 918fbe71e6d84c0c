//! The SQS message the processor reads: a small versioned JSON document. Version 1, which the
//! receiver writes, carries a notification with what the processor needs (type, ids, hints) and,
//! for debugging, the original payload:
//!
//! ```json
//! {"version":1,"receivedAtMs":1763859410000,
//!  "notification":{"notificationType":"policyUpdated","shape":"flat","modelType":"datasource",
//!                  "modelId":"2","dataSourceId":"2"},
//!  "payload":{…the body as Immuta sent it…}}
//! ```
//!
//! Version 2, which a re-sync writes, carries a reconcile key as it is:
//!
//! ```json
//! {"version":2,"receivedAtMs":1763859410000,"key":{"kind":"project","projectId":"10"}}
//! ```
//!
//! or, from a scheduled re-sync, a request to fan every project out as keys (written by the
//! stack's EventBridge schedule, so its `receivedAtMs` is 0: the processor's read of the
//! record's `SentTimestamp` stands in for it):
//!
//! ```json
//! {"version":2,"receivedAtMs":0,"resync":"allProjects","queuedBy":"schedule"}
//! ```
//!
//! The receiver asks for the same re-sync for a signed body it cannot classify
//! (`"queuedBy":"unclassified"`); the keys a webhook's re-sync fans out say which notification
//! types asked for it (`"queuedBy":"webhook","askedBy":["governanceSettingsUpdated"]`).
//!
//! Notification messages stay at version 1, so a processor that predates keys still reads them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::keys::ReconcileKey;
use crate::notification::{JsonText, Notification};

/// The newest message format this build reads.
pub const MESSAGE_VERSION: u32 = 2;
/// The format of a notification message.
pub const NOTIFICATION_VERSION: u32 = 1;
/// The first format that can carry a reconcile key.
pub const KEY_VERSION: u32 = 2;

/// SQS's limit for a message, body and attributes together (the classic 256 KiB, which every
/// queue accepts whatever its `MaximumMessageSize`).
pub const SQS_MAX_MESSAGE_BYTES: usize = 262_144;

/// What the body may use of that limit; the rest is left for the message attributes.
pub const MAX_BODY_BYTES: usize = SQS_MAX_MESSAGE_BYTES - 2_048;

/// A queue message, decoded: what it asks for is exactly one thing ([`Request`]).
#[derive(Debug, Clone)]
pub struct QueueMessage<'a> {
    pub version: u32,
    /// When the receiver accepted the webhook (or the key was queued), in milliseconds since the
    /// Unix epoch.
    pub received_at_ms: u64,
    pub request: Request<'a>,
    /// Since version 2, beside a key or a re-sync: who queued it (absent: an operator's re-sync).
    pub queued_by: Option<QueuedBy>,
    /// Since version 2, beside a key a webhook's re-sync queued: the notification types that
    /// asked for the re-sync (`unclassified` for a body the receiver could not classify).
    pub asked_by: Vec<String>,
    /// Why the payload is missing, when it is: the processor re-reads Immuta and does not need it.
    pub payload_omitted: Option<PayloadOmitted>,
    pub payload: Option<&'a RawValue>,
}

/// What a message asks the processor to reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Notification(Cow<'a, Notification>),
    /// Since version 2: a reconcile key, queued by a re-sync.
    Key(ReconcileKey),
    /// Since version 2: a re-sync to fan out.
    Resync(Resync),
}

/// The message as it is on the wire: what it asks for is one of three members.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    version: u32,
    received_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notification: Option<Cow<'a, Notification>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<ReconcileKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resync: Option<Resync>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queued_by: Option<QueuedBy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    asked_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload_omitted: Option<PayloadOmitted>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PayloadOmitted {
    /// The message would have exceeded SQS's size limit.
    TooLarge,
    /// The payload holds characters SQS refuses in a message (e.g. U+FFFE).
    CharactersRefusedBySqs,
    /// The payload was not available (e.g. a re-sync or a replay built the message).
    NotAvailable,
}

/// A re-sync a message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resync {
    /// Every equalized project and every project with managed views, one key each.
    AllProjects,
}

/// Who queued a reconcile key or a re-sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum QueuedBy {
    /// `view-sync resync --queue-url`.
    Resync,
    /// The scheduled re-sync of the stack.
    Schedule,
    /// The processor, fanning out the re-sync that notifications asked for (a type whose reach
    /// is every equalized project, or a body the receiver could not classify).
    Webhook,
    /// The receiver, for a signed body it could not classify: a re-sync of every project.
    Unclassified,
    /// A value a later release writes: read as a re-sync by hand rather than refused, so that a
    /// processor older than its receiver still serves the message.
    #[serde(other)]
    Other,
}

impl QueuedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resync => "resync",
            Self::Schedule => "schedule",
            Self::Webhook => "webhook",
            Self::Unclassified => "unclassified",
            Self::Other => "other",
        }
    }
}

/// What a message asks the processor to reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks<'m> {
    Notification(&'m Notification),
    Key(&'m ReconcileKey),
    Resync(Resync),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("the message is not a queue message of immuta-view-sync: {0}")]
    Malformed(String),
    #[error(
        "message version {0} is newer than this processor understands ({MESSAGE_VERSION}); deploy the newer processor"
    )]
    UnsupportedVersion(u32),
}

impl<'a> QueueMessage<'a> {
    /// Encodes a message for SQS. `payload` is the body as received; it is left out (and the
    /// omission recorded) when it would push the message past [`MAX_BODY_BYTES`] or holds
    /// characters SQS refuses.
    pub fn encode(
        notification: &Notification,
        received_at_ms: u64,
        payload: Option<JsonText<'_>>,
    ) -> String {
        const PAYLOAD_MEMBER: &str = ",\"payload\":";
        let header = |payload_omitted| {
            QueueMessage {
                version: NOTIFICATION_VERSION,
                received_at_ms,
                request: Request::Notification(Cow::Borrowed(notification)),
                queued_by: None,
                asked_by: Vec::new(),
                payload_omitted,
                payload: None,
            }
            .to_json()
        };
        let Some(json) = payload else {
            return header(Some(PayloadOmitted::NotAvailable));
        };
        if !sqs_accepts(json.as_str()) {
            return header(Some(PayloadOmitted::CharactersRefusedBySqs));
        }
        let mut body = header(None);
        if body.len() + PAYLOAD_MEMBER.len() + json.as_str().len() > MAX_BODY_BYTES {
            return header(Some(PayloadOmitted::TooLarge));
        }
        // Splice the payload in verbatim: `JsonText` is valid JSON, so re-parsing it into a
        // `RawValue` would only cost a second pass over the body.
        body.pop(); // the header's closing brace
        body.push_str(PAYLOAD_MEMBER);
        body.push_str(json.as_str());
        body.push('}');
        body
    }

    /// Encodes a message that asks for `key` (a re-sync), queued at `queued_at_ms`.
    pub fn encode_key(key: &ReconcileKey, queued_at_ms: u64, queued_by: QueuedBy) -> String {
        Self::encode_key_asked_by(key, queued_at_ms, queued_by, &[])
    }

    /// [`QueueMessage::encode_key`] for a webhook's re-sync: `asked_by` names the notification
    /// types that asked for it.
    pub fn encode_key_asked_by(
        key: &ReconcileKey,
        queued_at_ms: u64,
        queued_by: QueuedBy,
        asked_by: &[String],
    ) -> String {
        QueueMessage {
            version: KEY_VERSION,
            received_at_ms: queued_at_ms,
            request: Request::Key(key.clone()),
            queued_by: Some(queued_by),
            asked_by: asked_by.to_vec(),
            payload_omitted: None,
            payload: None,
        }
        .to_json()
    }

    /// Encodes a message that asks for a re-sync of every project: the schedule's, or the
    /// receiver's for a body it could not classify ([`QueuedBy::Unclassified`]).
    pub fn encode_resync(queued_at_ms: u64, queued_by: QueuedBy) -> String {
        QueueMessage {
            version: KEY_VERSION,
            received_at_ms: queued_at_ms,
            request: Request::Resync(Resync::AllProjects),
            queued_by: Some(queued_by),
            asked_by: Vec::new(),
            payload_omitted: None,
            payload: None,
        }
        .to_json()
    }

    /// What the message asks for, borrowed.
    pub fn asks(&self) -> Asks<'_> {
        match &self.request {
            Request::Notification(notification) => Asks::Notification(notification),
            Request::Key(key) => Asks::Key(key),
            Request::Resync(resync) => Asks::Resync(*resync),
        }
    }

    /// The notification the message carries, if it carries one.
    pub fn notification(&self) -> Option<&Notification> {
        match &self.request {
            Request::Notification(notification) => Some(notification),
            _ => None,
        }
    }

    fn to_json(&self) -> String {
        let (notification, key, resync) = match &self.request {
            Request::Notification(notification) => {
                (Some(Cow::Borrowed(notification.as_ref())), None, None)
            }
            Request::Key(key) => (None, Some(key.clone()), None),
            Request::Resync(resync) => (None, None, Some(*resync)),
        };
        let wire = Wire {
            version: self.version,
            received_at_ms: self.received_at_ms,
            notification,
            key,
            resync,
            queued_by: self.queued_by,
            asked_by: self.asked_by.clone(),
            payload_omitted: self.payload_omitted,
            payload: self.payload,
        };
        serde_json::to_string(&wire).expect("a queue message always serialises")
    }

    pub fn decode(body: &'a str) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let Version { version } =
            serde_json::from_str(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if version > MESSAGE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let wire: Wire<'a> =
            serde_json::from_str(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let request = match (wire.notification, wire.key, wire.resync) {
            (Some(notification), None, None) => Request::Notification(notification),
            (None, Some(key), None) if version >= KEY_VERSION => Request::Key(key),
            (None, None, Some(resync)) if version >= KEY_VERSION => Request::Resync(resync),
            _ => {
                return Err(DecodeError::Malformed(
                    "a message must carry one of a notification or (since version 2) a reconcile \
                     key or a re-sync"
                        .into(),
                ));
            }
        };
        Ok(Self {
            version,
            received_at_ms: wire.received_at_ms,
            request,
            queued_by: wire.queued_by,
            asked_by: wire.asked_by,
            payload_omitted: wire.payload_omitted,
            payload: wire.payload,
        })
    }
}

/// SQS accepts only #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF. In valid
/// JSON the only control characters are the whitespace SQS allows, so ASCII JSON always passes
/// and only non-ASCII text needs the character-by-character rule.
fn sqs_accepts(json: &str) -> bool {
    json.is_ascii()
        || json
            .chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::Id;

    const BODY: &str =
        r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":2}"#;

    fn json(text: &str) -> Option<JsonText<'_>> {
        Some(JsonText::validate(text).expect("test payloads are JSON"))
    }

    #[test]
    fn a_queued_by_of_a_later_release_is_read_not_refused() {
        let body =
            r#"{"version":2,"receivedAtMs":7,"resync":"allProjects","queuedBy":"somethingNew"}"#;
        let message = QueueMessage::decode(body).unwrap();
        assert_eq!(message.queued_by, Some(QueuedBy::Other));
    }

    #[test]
    fn round_trips_with_the_payload_verbatim() {
        let notification = Notification::parse_json(BODY).unwrap();
        let encoded = QueueMessage::encode(&notification, 1_700_000_000_000, json(BODY));
        let decoded = QueueMessage::decode(&encoded).unwrap();
        assert_eq!(decoded.version, NOTIFICATION_VERSION);
        assert_eq!(decoded.received_at_ms, 1_700_000_000_000);
        assert_eq!(decoded.asks(), Asks::Notification(&notification));
        assert_eq!(decoded.payload.unwrap().get(), BODY);
        assert_eq!(decoded.payload_omitted, None);
    }

    #[test]
    fn pretty_printed_payloads_stay_valid_json() {
        let pretty = "{\n  \"notificationType\": \"policyUpdated\",\t\"x\": [1, 2]\r\n}";
        let notification = Notification::parse_json(pretty).unwrap();
        let encoded = QueueMessage::encode(&notification, 1, json(pretty));
        assert_eq!(
            QueueMessage::decode(&encoded)
                .unwrap()
                .payload
                .unwrap()
                .get(),
            pretty
        );
    }

    #[test]
    fn an_oversized_payload_is_dropped_and_the_omission_recorded() {
        let notification = Notification::parse_json(BODY).unwrap();
        let big = format!(
            r#"{{"notificationType":"policyUpdated","pad":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES - 100)
        );
        let encoded = QueueMessage::encode(&notification, 1, json(&big));
        assert!(encoded.len() < 1_000);
        let decoded = QueueMessage::decode(&encoded).unwrap();
        assert!(decoded.payload.is_none());
        assert_eq!(decoded.payload_omitted, Some(PayloadOmitted::TooLarge));

        // Under the body limit on its own, over it once wrapped; and one that just fits.
        let near = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES - 20));
        let encoded = QueueMessage::encode(&notification, 1, json(&near));
        assert!(encoded.len() <= MAX_BODY_BYTES);
        assert_eq!(
            QueueMessage::decode(&encoded).unwrap().payload_omitted,
            Some(PayloadOmitted::TooLarge)
        );
        let header_len = QueueMessage::encode(&notification, 1, None).len();
        let fits = format!(
            r#"{{"pad":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES - header_len - 40)
        );
        let encoded = QueueMessage::encode(&notification, 1, json(&fits));
        assert!(encoded.len() <= MAX_BODY_BYTES);
        assert!(QueueMessage::decode(&encoded).unwrap().payload.is_some());
    }

    #[test]
    fn characters_sqs_refuses_are_not_sent() {
        let notification = Notification::parse_json(BODY).unwrap();
        let odd = "{\"name\":\"a\u{FFFE}b\"}";
        let encoded = QueueMessage::encode(&notification, 1, json(odd));
        let decoded = QueueMessage::decode(&encoded).unwrap();
        assert_eq!(
            decoded.payload_omitted,
            Some(PayloadOmitted::CharactersRefusedBySqs)
        );
        assert!(sqs_accepts("{\"name\":\"caf\u{e9} \u{1F600}\"}"));
    }

    #[test]
    fn a_message_without_a_payload_says_so() {
        let notification = Notification::parse_json(BODY).unwrap();
        let decoded_text = QueueMessage::encode(&notification, 1, None);
        assert_eq!(
            QueueMessage::decode(&decoded_text).unwrap().payload_omitted,
            Some(PayloadOmitted::NotAvailable)
        );
    }

    #[test]
    fn a_key_travels_as_itself_and_notification_messages_stay_at_version_1() {
        let key = ReconcileKey::Project {
            project_id: Id::new("10").unwrap(),
        };
        let encoded = QueueMessage::encode_key(&key, 7, QueuedBy::Schedule);
        assert_eq!(
            encoded,
            r#"{"version":2,"receivedAtMs":7,"key":{"kind":"project","projectId":"10"},"queuedBy":"schedule"}"#
        );
        let decoded = QueueMessage::decode(&encoded).unwrap();
        assert_eq!(
            (decoded.asks(), decoded.received_at_ms, decoded.queued_by),
            (Asks::Key(&key), 7, Some(QueuedBy::Schedule))
        );
        // A key queued before `queuedBy` existed: an operator's re-sync.
        let unattributed =
            r#"{"version":2,"receivedAtMs":7,"key":{"kind":"project","projectId":"10"}}"#;
        assert_eq!(QueueMessage::decode(unattributed).unwrap().queued_by, None);
        // A message written before keys existed still decodes.
        let old = r#"{"version":1,"receivedAtMs":1,"notification":{"notificationType":"projectUpdated","shape":"flat","modelType":"project","modelId":"10","projectId":"10"}}"#;
        assert!(matches!(
            QueueMessage::decode(old).unwrap().asks(),
            Asks::Notification(_)
        ));
        let notification = Notification::parse_json(BODY).unwrap();
        assert!(QueueMessage::encode(&notification, 1, None).starts_with(r#"{"version":1,"#));
        // What the stack's schedule sends (template.yaml) asks for a re-sync of every project.
        let scheduled =
            r#"{"version":2,"receivedAtMs":0,"resync":"allProjects","queuedBy":"schedule"}"#;
        assert_eq!(
            QueueMessage::encode_resync(0, QueuedBy::Schedule),
            scheduled
        );
        let decoded = QueueMessage::decode(scheduled).unwrap();
        assert_eq!(
            (decoded.asks(), decoded.queued_by),
            (Asks::Resync(Resync::AllProjects), Some(QueuedBy::Schedule))
        );
        // The receiver's re-sync for a body it could not classify, and the keys a webhook's
        // re-sync fans out, naming what asked for it.
        let unclassified = QueueMessage::encode_resync(9, QueuedBy::Unclassified);
        assert_eq!(
            unclassified,
            r#"{"version":2,"receivedAtMs":9,"resync":"allProjects","queuedBy":"unclassified"}"#
        );
        let asked_by = [
            "governanceSettingsUpdated".to_owned(),
            "unclassified".to_owned(),
        ];
        let fanned = QueueMessage::encode_key_asked_by(&key, 10, QueuedBy::Webhook, &asked_by);
        assert_eq!(
            fanned,
            r#"{"version":2,"receivedAtMs":10,"key":{"kind":"project","projectId":"10"},"queuedBy":"webhook","askedBy":["governanceSettingsUpdated","unclassified"]}"#
        );
        let decoded = QueueMessage::decode(&fanned).unwrap();
        assert_eq!(
            (decoded.queued_by, decoded.asked_by.as_slice()),
            (Some(QueuedBy::Webhook), asked_by.as_slice())
        );
        // Neither, two things, or a key in a version-1 message: refused.
        for odd in [
            r#"{"version":2,"receivedAtMs":1}"#,
            r#"{"version":2,"receivedAtMs":1,"resync":"allProjects","key":{"kind":"project","projectId":"10"}}"#,
            r#"{"version":1,"receivedAtMs":1,"resync":"allProjects"}"#,
            r#"{"version":1,"receivedAtMs":1,"key":{"kind":"project","projectId":"10"}}"#,
        ] {
            assert!(
                matches!(QueueMessage::decode(odd), Err(DecodeError::Malformed(_))),
                "{odd}"
            );
        }
    }

    #[test]
    fn keys_and_resyncs_keep_their_wire_format() {
        let key = ReconcileKey::Project {
            project_id: Id::new("10").unwrap(),
        };
        let encoded = QueueMessage::encode_key_asked_by(
            &key,
            5,
            QueuedBy::Webhook,
            &["governanceSettingsUpdated".into()],
        );
        assert_eq!(
            encoded,
            r#"{"version":2,"receivedAtMs":5,"key":{"kind":"project","projectId":"10"},"queuedBy":"webhook","askedBy":["governanceSettingsUpdated"]}"#
        );
        let decoded = QueueMessage::decode(&encoded).unwrap();
        assert_eq!(decoded.request, Request::Key(key));
        assert_eq!(decoded.notification(), None);
        let encoded = QueueMessage::encode_resync(0, QueuedBy::Schedule);
        assert_eq!(
            encoded,
            r#"{"version":2,"receivedAtMs":0,"resync":"allProjects","queuedBy":"schedule"}"#
        );
        assert_eq!(
            QueueMessage::decode(&encoded).unwrap().asks(),
            Asks::Resync(Resync::AllProjects)
        );
    }

    #[test]
    fn newer_or_foreign_messages_are_refused_clearly() {
        assert_eq!(
            QueueMessage::decode(r#"{"version":3,"whatever":true}"#).unwrap_err(),
            DecodeError::UnsupportedVersion(3)
        );
        assert!(matches!(
            QueueMessage::decode("hello"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            QueueMessage::decode(r#"{"version":1}"#),
            Err(DecodeError::Malformed(_))
        ));
    }
}
