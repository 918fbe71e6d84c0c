//! Webhook management: registration (`GET`/`POST /webhooks`) and failed deliveries
//! (`GET /webhooks/history`, `POST /webhooks/history/retry/{id}`). These need APPLICATION_ADMIN.

use std::time::Instant;

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use view_sync_core::Id;

use crate::ImmutaClient;
use crate::answer::{Fields, ShapeError, read_list};
use crate::client::{Paging, encode};
use crate::endpoint::Endpoint;
use crate::error::ImmutaError;
use crate::model::Page;

/// A registered webhook, as `GET /webhooks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Id,
    pub name: String,
    pub url: String,
    pub notification_type: Vec<String>,
    /// `global`, when the answer carries it.
    pub global: Option<bool>,
    /// `actionType`: null for a global webhook such as Immuta's own (seed 002), `triggered` or
    /// `received` for a user's.
    pub action_type: Option<String>,
}

/// A webhook to create (`POST /webhooks`).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewWebhook {
    pub url: String,
    pub name: String,
    pub global: bool,
    pub notification_type: Vec<String>,
    /// Absent for a global webhook, as the guide's registration (seed 003) and Immuta's own
    /// global webhook (`actionType: null`, seed 002) have it: `triggered` would fire only for
    /// what the registering user does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
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
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Id,
    pub notification_type: Option<String>,
    pub status_code: Option<u16>,
    /// The request as sent (`{text, metadata, webhookId, webhookName}`).
    pub request: Value,
    /// The webhook it was sent for: the request's `webhookName`, else the record's `name`.
    pub webhook_name: Option<String>,
    pub created_at: Option<String>,
    /// The notification delivered (`webhooksActivityId`): a retry delivers the same activity
    /// again, under a record of its own.
    pub activity_id: Option<Id>,
}

impl crate::paging::ListItem for Delivery {
    fn list_id(&self) -> &str {
        self.id.as_str()
    }
}

impl Delivery {
    pub fn succeeded(&self) -> bool {
        self.status_code
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// Times the webhook history is read before an inconsistent read is an error.
const HISTORY_READS: u32 = 3;

/// Which deliveries of the webhook history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFilter {
    All,
    Failed,
}

fn webhook(endpoint: Endpoint) -> impl Fn(Fields<'_>) -> Result<Webhook, ShapeError> + Copy {
    move |f| {
        let types = match f.raw("notificationType") {
            None => Vec::new(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                return Err(ShapeError {
                    endpoint,
                    field: "notificationType".into(),
                    problem: "is not a list of notification types".into(),
                });
            }
        };
        Ok(Webhook {
            id: f.id("id")?,
            name: f.optional_text("name")?.unwrap_or_default(),
            url: f.optional_text("url")?.unwrap_or_default(),
            notification_type: types,
            global: f.flag("global")?,
            action_type: f.optional_text("actionType")?,
        })
    }
}

pub(crate) fn delivery(f: Fields<'_>) -> Result<Delivery, ShapeError> {
    let request = f.raw("request").cloned().unwrap_or(Value::Null);
    let webhook_name = match request.get("webhookName").and_then(Value::as_str) {
        Some(name) => Some(name.to_owned()),
        None => f.optional_text("name")?,
    };
    Ok(Delivery {
        id: f.id("id")?,
        notification_type: f.optional_text("notificationType")?,
        status_code: f
            .count("statusCode")?
            .and_then(|status| u16::try_from(status).ok()),
        request,
        webhook_name,
        created_at: f.optional_text("createdAt")?,
        activity_id: f.optional_id("webhooksActivityId")?,
    })
}

/// `GET /webhooks` is documented as a list, but one of Immuta's examples shows a single webhook:
/// accept a list, an object holding one under `webhooks`/`hits`/`records`, or a single webhook.
pub fn webhook_list(answer: &Value) -> Result<Vec<Webhook>, ShapeError> {
    let read = webhook(Endpoint::WebhookList);
    if let Value::Array(items) = answer {
        return read_list(Endpoint::WebhookList, "", items, read);
    }
    let f = Fields::of(Endpoint::WebhookList, answer)?;
    match ["webhooks", "hits", "records"]
        .into_iter()
        .find(|m| f.has(m))
    {
        Some(member) => f.list(member, read),
        None => Ok(vec![read(f)?]),
    }
}

/// `GET /webhooks/actions`: the notification types a webhook can subscribe to.
pub fn actions(answer: &Value) -> Result<Vec<String>, ShapeError> {
    let mistyped = |field: String| ShapeError {
        endpoint: Endpoint::WebhookActions,
        field,
        problem: "is not a list of notification type names".into(),
    };
    let Value::Array(items) = answer else {
        return Err(mistyped("(answer)".into()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| mistyped(format!("[{i}]")))
        })
        .collect()
}

/// The answer of `POST /webhooks`: `{createdWebhooks: [...], errors: [...]}`.
pub fn created(answer: &Value) -> Result<Vec<Webhook>, ShapeError> {
    Fields::of(Endpoint::WebhookCreate, answer)?
        .list("createdWebhooks", webhook(Endpoint::WebhookCreate))
}

/// The answer of `DELETE /webhooks/{id}`: the webhook deleted (seed 002).
pub fn deleted(answer: &Value) -> Result<Webhook, ShapeError> {
    webhook(Endpoint::WebhookDelete)(Fields::of(Endpoint::WebhookDelete, answer)?)
}

/// A page of `GET /webhooks/history`.
pub fn history_page(answer: &Value) -> Result<Page<Delivery>, ShapeError> {
    Page::read(Endpoint::WebhookHistory, "records", answer, delivery)
}

impl ImmutaClient {
    /// The notification types this tenant's webhooks can subscribe to.
    pub async fn webhook_actions(&self, deadline: Instant) -> Result<Vec<String>, ImmutaError> {
        Ok(actions(
            &self
                .get_json(Endpoint::WebhookActions, "/webhooks/actions", deadline)
                .await?,
        )?)
    }

    pub async fn list_webhooks(&self, deadline: Instant) -> Result<Vec<Webhook>, ImmutaError> {
        Ok(webhook_list(
            &self
                .get_json(Endpoint::WebhookList, "/webhooks", deadline)
                .await?,
        )?)
    }

    /// Creates webhooks; returns what Immuta says it created.
    pub async fn create_webhooks(
        &self,
        webhooks: &[NewWebhook],
        deadline: Instant,
    ) -> Result<Vec<Webhook>, ImmutaError> {
        let body = serde_json::json!({ "webhooks": webhooks });
        let answer = self
            .send(
                Endpoint::WebhookCreate,
                Method::POST,
                "/webhooks",
                Some(&body),
                deadline,
            )
            .await?;
        let f = Fields::of(Endpoint::WebhookCreate, &answer)?;
        if let Some(Value::Array(errors)) = f.raw("errors")
            && !errors.is_empty()
        {
            return Err(ImmutaError::Status {
                path: "/webhooks".into(),
                status: 200,
                body: Value::Array(errors.clone()).to_string(),
            });
        }
        Ok(created(&answer)?)
    }

    /// Deletes a webhook (`DELETE /webhooks/{id}`; Immuta deletes its history with it). Returns
    /// the webhook as Immuta answers it.
    pub async fn delete_webhook(&self, id: &Id, deadline: Instant) -> Result<Webhook, ImmutaError> {
        let path = format!("/webhooks/{}", encode(id.as_str()));
        let answer = self
            .send(
                Endpoint::WebhookDelete,
                Method::DELETE,
                &path,
                None,
                deadline,
            )
            .await?;
        Ok(deleted(&answer)?)
    }

    /// Every failed delivery in the webhook history, global webhooks included (all pages).
    pub async fn failed_deliveries(&self, deadline: Instant) -> Result<Vec<Delivery>, ImmutaError> {
        self.deliveries(HistoryFilter::Failed, deadline).await
    }

    /// The deliveries of the webhook history, global webhooks included (all pages).
    pub async fn deliveries(
        &self,
        filter: HistoryFilter,
        deadline: Instant,
    ) -> Result<Vec<Delivery>, ImmutaError> {
        let paging = Paging {
            member: "records",
            size_parameter: "pageSize",
        };
        let path = match filter {
            HistoryFilter::All => "/webhooks/history?includeGlobal=true",
            HistoryFilter::Failed => {
                "/webhooks/history?successOrFailure=failure&includeGlobal=true"
            }
        };
        // The history is a live log, newest first: a delivery recorded between two pages shifts
        // them, and the read is refused as inconsistent. Reading it again is the remedy.
        let mut reads = 1;
        loop {
            match self
                .all_pages(Endpoint::WebhookHistory, path, paging, delivery, deadline)
                .await
            {
                Err(ImmutaError::Inconsistent { .. }) if reads < HISTORY_READS => reads += 1,
                read => return read,
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
        let answer = self
            .send(Endpoint::WebhookRetry, Method::POST, &path, None, deadline)
            .await?;
        Ok(delivery(Fields::of(Endpoint::WebhookRetry, &answer)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_in_debug_output() {
        let hook = NewWebhook {
            url: "https://x".into(),
            name: "n".into(),
            global: true,
            notification_type: vec![],
            action_type: None,
            secret: Some("hunter2".into()),
        };
        assert!(!format!("{hook:?}").contains("hunter2"));
    }

    #[test]
    fn a_delivery_names_its_webhook_from_the_request_or_the_record() {
        let read = |answer: Value| {
            delivery(Fields::of(Endpoint::WebhookHistory, &answer).unwrap()).unwrap()
        };
        let from_request =
            read(serde_json::json!({"id": 1, "request": {"webhookName": "a"}, "name": "b"}));
        assert_eq!(from_request.webhook_name.as_deref(), Some("a"));
        let from_record =
            read(serde_json::json!({"id": 1, "request": {}, "name": "b", "statusCode": "500"}));
        assert_eq!(
            (from_record.webhook_name.as_deref(), from_record.status_code),
            (Some("b"), Some(500))
        );
    }
}
