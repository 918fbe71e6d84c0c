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
}

impl WebhookTarget {
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
