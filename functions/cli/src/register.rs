//! Registers the webhook in Immuta, once: a webhook with the same name and URL means it is there.

use std::time::Instant;

use immuta::webhooks::NewWebhook;
use immuta::{ImmutaClient, ImmutaError};
use view_sync_core::{Id, NotificationType};

/// The notification types the webhook subscribes to by default: those that can change views.
pub fn default_types() -> Vec<String> {
    NotificationType::VIEW_AFFECTING
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    AlreadyRegistered { id: Id },
    Created { id: Id },
}

/// Registers a global webhook named `name` for `url`, unless one with that name and URL exists.
pub async fn register(
    client: &ImmutaClient,
    name: &str,
    url: &str,
    notification_types: Vec<String>,
    secret: Option<String>,
    deadline: Instant,
) -> Result<Registration, ImmutaError> {
    let existing = client.list_webhooks(deadline).await?;
    if let Some(hook) = existing.iter().find(|h| h.name == name && h.url == url) {
        return Ok(Registration::AlreadyRegistered {
            id: hook.id.clone(),
        });
    }
    let hook = NewWebhook {
        url: url.to_owned(),
        name: name.to_owned(),
        global: true,
        notification_type: notification_types,
        action_type: "triggered".into(),
        secret,
    };
    let created = client.create_webhooks(&[hook], deadline).await?;
    let id = created
        .into_iter()
        .next()
        .map(|h| h.id)
        .ok_or_else(|| ImmutaError::Decode {
            path: "/webhooks".into(),
            detail: "Immuta created no webhook and reported no error".into(),
        })?;
    Ok(Registration::Created { id })
}
