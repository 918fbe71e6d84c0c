//! Webhook management: registration (`GET`/`POST /webhooks`) and failed deliveries
//! (`GET /webhooks/history`, `POST /webhooks/history/retry/{id}`). These need APPLICATION_ADMIN.

use std::time::Instant;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use view_sync_core::Id;

use crate::ImmutaClient;
use crate::client::{decode_error, encode};
use crate::error::ImmutaError;

/// A registered webhook, as `GET /webhooks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: Id,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub notification_type: Vec<String>,
}

/// A webhook to create (`POST /webhooks`).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewWebhook {
    pub url: String,
    pub name: String,
    pub global: bool,
    pub notification_type: Vec<String>,
    pub action_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &self.url)
            .field("name", &self.name)
            .field("notification_type", &self.notification_type)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A delivery recorded in the webhook history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: Id,
    #[serde(default)]
    pub notification_type: Option<String>,
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The request as sent (`{text, metadata, webhookId, webhookName}`).
    #[serde(default)]
    pub request: Value,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Delivery {
    /// The webhook's name, from the request record (`webhookName`) or the record itself (`name`).
    pub fn webhook_name(&self) -> Option<&str> {
        self.request.get("webhookName").and_then(Value::as_str)
    }
}

/// `GET /webhooks` is documented as a list but one of Immuta's examples shows an object: accept
/// an array, or an object holding one under `webhooks`/`hits`/`records`, or a single webhook.
#[derive(Deserialize)]
#[serde(untagged)]
enum WebhookList {
    Array(Vec<Webhook>),
    Wrapped {
        #[serde(alias = "hits", alias = "records")]
        webhooks: Vec<Webhook>,
    },
    Single(Webhook),
}

const HISTORY_PAGE: u64 = 100;

impl ImmutaClient {
    pub async fn list_webhooks(&self, deadline: Instant) -> Result<Vec<Webhook>, ImmutaError> {
        Ok(
            match self.get_json::<WebhookList>("/webhooks", deadline).await? {
                WebhookList::Array(hooks) | WebhookList::Wrapped { webhooks: hooks } => hooks,
                WebhookList::Single(hook) => vec![hook],
            },
        )
    }

    /// Creates webhooks; returns what Immuta says it created.
    pub async fn create_webhooks(
        &self,
        webhooks: &[NewWebhook],
        deadline: Instant,
    ) -> Result<Vec<Webhook>, ImmutaError> {
        let body = serde_json::json!({ "webhooks": webhooks });
        let answer = self
            .request(Method::POST, "/webhooks", Some(&body), deadline)
            .await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            #[serde(default)]
            created_webhooks: Vec<Webhook>,
            #[serde(default)]
            errors: Vec<Value>,
        }
        let created: Created =
            serde_json::from_slice(&answer).map_err(|e| decode_error("/webhooks", e))?;
        if !created.errors.is_empty() {
            let errors = Value::Array(created.errors).to_string();
            return Err(ImmutaError::Status {
                path: "/webhooks".into(),
                status: 200,
                body: errors,
            });
        }
        Ok(created.created_webhooks)
    }

    /// Every failed delivery in the webhook history, global webhooks included (all pages).
    pub async fn failed_deliveries(&self, deadline: Instant) -> Result<Vec<Delivery>, ImmutaError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            count: Value,
            #[serde(default)]
            records: Vec<Delivery>,
        }
        let mut all = Vec::new();
        loop {
            let path = format!(
                "/webhooks/history?successOrFailure=failure&includeGlobal=true&pageSize={HISTORY_PAGE}&offset={}",
                all.len()
            );
            let page: Page = self.get_json(&path, deadline).await?;
            // `count` is a string in Immuta's examples ("0", "1").
            let count = page
                .count
                .as_u64()
                .or_else(|| page.count.as_str().and_then(|c| c.parse().ok()));
            let received = page.records.len() as u64;
            all.extend(page.records);
            let done = count.map_or(received < HISTORY_PAGE, |count| all.len() as u64 >= count);
            if done || received == 0 {
                return Ok(all);
            }
        }
    }

    /// Asks Immuta to send a recorded delivery again (`POST /webhooks/history/retry/{id}`).
    pub async fn retry_delivery(
        &self,
        id: &Id,
        deadline: Instant,
    ) -> Result<Delivery, ImmutaError> {
        let path = format!("/webhooks/history/retry/{}", encode(id.as_str()));
        let answer = self.request(Method::POST, &path, None, deadline).await?;
        serde_json::from_slice(&answer).map_err(|e| decode_error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_webhook_lists_parse_in_both_shapes() {
        for body in [
            include_str!("../../../events/immuta-api/webhooks-list.json"),
            include_str!("../../../events/immuta-api/webhook-get.json"),
        ] {
            let list: WebhookList = serde_json::from_str(body).unwrap();
            let hooks = match list {
                WebhookList::Array(h) | WebhookList::Wrapped { webhooks: h } => h,
                WebhookList::Single(h) => vec![h],
            };
            assert_eq!(hooks[0].name, "internal-automatic-subscription-webhook");
        }
        let created: Value = serde_json::from_str(include_str!(
            "../../../events/immuta-api/webhooks-create-response.json"
        ))
        .unwrap();
        let hook: Webhook = serde_json::from_value(created["createdWebhooks"][0].clone()).unwrap();
        assert_eq!(hook.name, "ViewMonitorHook");
    }

    #[test]
    fn seed_history_records_parse() {
        let page: Value = serde_json::from_str(include_str!(
            "../../../events/immuta-api/webhooks-history-failure.json"
        ))
        .unwrap();
        let record: Delivery = serde_json::from_value(page["records"][0].clone()).unwrap();
        assert_eq!(
            (record.status_code, record.webhook_name()),
            (Some(500), Some("webhook"))
        );
        let retried: Delivery = serde_json::from_str(include_str!(
            "../../../events/immuta-api/webhooks-history-retry-response.json"
        ))
        .unwrap();
        assert_eq!(retried.id.as_str(), "228");
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let hook = NewWebhook {
            url: "https://x".into(),
            name: "n".into(),
            global: true,
            notification_type: vec![],
            action_type: "triggered".into(),
            secret: Some("hunter2".into()),
        };
        assert!(!format!("{hook:?}").contains("hunter2"));
    }
}
