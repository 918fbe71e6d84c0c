//! Outgoing webhooks, signed and shaped as Immuta sends them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use view_sync_core::signature::{self, Algorithm, Secret};

/// Which body shape a registered webhook receives v1 notifications in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Shape {
    #[default]
    Flat,
    /// `{"text", "attachments", "metadata": {…flat…}}`.
    Envelope,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTarget {
    pub id: u64,
    pub name: String,
    pub url: String,
    #[serde(skip_serializing)]
    pub secret: Option<String>,
    #[serde(default)]
    pub shape: Shape,
    #[serde(default)]
    pub notification_type: Vec<String>,
    /// As registered: none for a global webhook (Immuta's own has `actionType: null`).
    #[serde(default)]
    pub action_type: Option<String>,
    /// As registered (`global`); a webhook added through the control API is global.
    #[serde(default = "global")]
    pub global: bool,
}

fn global() -> bool {
    true
}

impl WebhookTarget {
    /// As `GET /webhooks` lists it (seed 002).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "notificationType": self.notification_type,
            "global": self.global,
            "createdBy": 1,
        })
    }

    pub fn wants(&self, notification_type: &str) -> bool {
        self.notification_type.is_empty()
            || self
                .notification_type
                .iter()
                .any(|t| t == "ALL_NOTIFICATIONS" || t == notification_type)
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub webhook_id: u64,
    pub notification_type: String,
    /// The HTTP status, or `None` when the request failed (refused, timed out).
    pub status: Option<u16>,
    pub body: Value,
}

/// One delivery in the webhook history.
#[derive(Debug, Clone)]
pub struct HistoryRecord {
    pub id: u64,
    /// The notification this delivers; its retries share it.
    pub activity_id: u64,
    pub created_at: String,
    pub webhook_id: u64,
    pub webhook_name: String,
    pub url: String,
    pub notification_type: String,
    /// The receiver's status, or 500 when it could not be reached (as Immuta records it).
    pub status_code: u16,
    /// The exact body sent, for retries.
    pub body: Value,
}

impl HistoryRecord {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// The record as `POST /webhooks/history/retry/{id}` answers it (seed 002): the history's
    /// record without the webhook's own fields.
    pub fn to_retry_json(&self) -> Value {
        let mut record = self.to_json();
        if let Value::Object(fields) = &mut record {
            for webhook_field in ["webhooksId", "url", "name", "actionType", "createdBy"] {
                fields.remove(webhook_field);
            }
            fields.insert("response".into(), json!({}));
        }
        record
    }

    /// The record as `GET /webhooks/history` shows it (seed 002).
    pub fn to_json(&self) -> Value {
        let metadata = self
            .body
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| self.body.clone());
        let response = if self.succeeded() {
            json!({})
        } else {
            json!({"body": {"code": "ESOCKETTIMEDOUT", "connect": false}})
        };
        json!({
            "id": self.id,
            "request": {
                "text": format!("{} notification", self.notification_type),
                "metadata": metadata,
                "webhookId": self.webhook_id,
                "webhookName": self.webhook_name,
            },
            "response": response,
            "statusCode": self.status_code,
            "notificationType": self.notification_type,
            "webhooksActivityId": self.activity_id,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "webhooksId": self.webhook_id,
            "url": self.url,
            "name": self.webhook_name,
            "actionType": null,
            "createdBy": 1,
        })
    }
}

/// The body for `target`: the flat notification, or wrapped in the history envelope.
pub fn shaped(target: &WebhookTarget, flat: &Value) -> Value {
    match target.shape {
        Shape::Flat => flat.clone(),
        Shape::Envelope => json!({
            "text": format!("{} ({})", flat["notificationType"].as_str().unwrap_or_default(), flat["modelId"]),
            "attachments": [],
            "metadata": flat,
        }),
    }
}

/// POSTs `body` as compact JSON (Immuta's `JSON.stringify`), signed with both headers when the
/// target has a secret. Immuta waits 10 s and does not retry.
pub async fn deliver(http: &reqwest::Client, target: &WebhookTarget, body: &Value) -> Option<u16> {
    let bytes = serde_json::to_vec(body).expect("JSON values serialise");
    let mut request = http
        .post(&target.url)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(10))
        .body(bytes.clone());
    if let Some(secret) = &target.secret {
        let secret = Secret::new(secret.as_bytes());
        request = request
            .header(
                signature::SHA256_HEADER,
                signature::sign(&secret, &bytes, Algorithm::Sha256),
            )
            .header(
                signature::SHA1_HEADER,
                signature::sign(&secret, &bytes, Algorithm::Sha1),
            );
    }
    request.send().await.ok().map(|r| r.status().as_u16())
}
