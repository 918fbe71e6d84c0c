//! Where queue messages go: a small trait, with SQS as the production implementation. The
//! receiver sends each accepted notification; `view-sync resync --queue-url` sends reconcile keys.
#![forbid(unsafe_code)]

pub mod admin;
mod error;

pub use error::{QueueError, SendError};

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::{ModelType, Notification, NotificationType, QueuedBy};

/// A message ready to send: the encoded body (a `view_sync_core::QueueMessage`) and what its
/// message attributes say, so that consumers can filter or inspect without parsing it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: String,
    about: About,
}

/// What a message is about; its attributes are derived when it is sent (nothing is allocated
/// for them on the receiver's hot path).
#[derive(Debug, Clone)]
enum About {
    Notification {
        notification_type: NotificationType,
        model_type: Option<ModelType>,
    },
    Key(String),
    Resync(QueuedBy),
    /// A received message sent again as it came, with its attributes.
    Again(Vec<(String, String)>),
}

impl Outgoing {
    /// A notification's message; the attributes repeat its type and model type.
    pub fn notification(notification: &Notification, body: String) -> Self {
        let about = About::Notification {
            notification_type: notification.notification_type.clone(),
            model_type: notification.model_type.clone(),
        };
        Self { body, about }
    }

    /// A reconcile key's message (a re-sync); the attribute names the key.
    pub fn key(key: &ReconcileKey, body: String) -> Self {
        let about = About::Key(key.to_string());
        Self { body, about }
    }

    /// A re-sync of every project (the receiver's, for a body it could not classify); the
    /// attributes say so and who asked.
    pub fn resync(queued_by: QueuedBy, body: String) -> Self {
        let about = About::Resync(queued_by);
        Self { body, about }
    }

    /// A message received from the queue, to be sent again as it came: its body and its string
    /// attributes (name, value).
    pub fn again(body: String, attributes: Vec<(String, String)>) -> Self {
        let about = About::Again(attributes);
        Self { body, about }
    }

    /// The SQS message attributes (name, string value); empty values are left out.
    pub fn attributes(&self) -> Vec<(&str, &str)> {
        let mut attributes = match &self.about {
            About::Notification {
                notification_type,
                model_type,
            } => {
                let mut attributes = vec![("notificationType", notification_type.as_str())];
                if let Some(model_type) = model_type {
                    attributes.push(("modelType", model_type.as_str()));
                }
                attributes
            }
            About::Key(key) => vec![("reconcileKey", key.as_str())],
            About::Resync(queued_by) => {
                vec![("resync", "allProjects"), ("queuedBy", queued_by.as_str())]
            }
            About::Again(attributes) => attributes
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
        };
        attributes.retain(|(_, value)| !value.is_empty());
        attributes
    }
}

/// Milliseconds since the Unix epoch: when a message was received or queued (`receivedAtMs`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub trait MessageSink: Send + Sync {
    /// Sends the message and returns the queue's message id.
    fn send(&self, message: &Outgoing) -> impl Future<Output = Result<String, SendError>> + Send;

    /// Sends every message (small ones: a batch request holds at most 256 KiB); fails if any was
    /// not accepted, after those that were.
    fn send_all(
        &self,
        messages: &[Outgoing],
    ) -> impl Future<Output = Result<usize, SendError>> + Send {
        async move {
            for message in messages {
                self.send(message).await?;
            }
            Ok(messages.len())
        }
    }
}

/// What one `SendMessageBatch` request may hold.
pub const SEND_BATCH: usize = 10;

/// Timeouts for the receiver, which must answer within Immuta's 10 s delivery limit. The SDK sets
/// only a connect timeout by default; without these a hung `SendMessage` would outlive the
/// webhook and Immuta would record a timeout instead of our 503.
pub fn webhook_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// Timeouts for an operator's command (`view-sync resync --queue-url`): nobody's delivery
/// deadline is at stake, so a slow call may take its time, but a stalled one still ends.
pub fn command_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSink {
    /// Uses `config` with `timeouts` ([`webhook_timeouts`] or [`command_timeouts`]).
    pub fn new(config: &aws_config::SdkConfig, queue_url: String, timeouts: TimeoutConfig) -> Self {
        let sqs_config = aws_sdk_sqs::config::Builder::from(config)
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_sqs::Client::from_conf(sqs_config),
            queue_url,
        }
    }

    /// Loads the AWS configuration the standard way: region, credentials, and the endpoint from
    /// `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` (so the same binary runs against moto).
    pub async fn from_environment(queue_url: String, timeouts: TimeoutConfig) -> Self {
        let config = aws_https::load().await;
        Self::new(&config, queue_url, timeouts)
    }
}

impl SqsSink {
    /// Makes received messages visible again at once (`ChangeMessageVisibilityBatch` to 0, ten
    /// at a time), for messages a batch had no time to start: they come back now rather than
    /// after the visibility timeout. Up to [`RELEASES_AT_ONCE`] batches go at once. Returns how
    /// many SQS accepted.
    pub async fn release(&self, receipt_handles: &[String]) -> Result<usize, SendError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let batches = receipt_handles.chunks(SEND_BATCH).map(|chunk| async move {
            let mut request = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url);
            for (index, handle) in chunk.iter().enumerate() {
                request = request.entries(
                    aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| SendError(e.to_string()))?,
                );
            }
            let output = request
                .send()
                .await
                .map_err(|e| SendError(DisplayErrorContext(e).to_string()))?;
            Ok::<_, SendError>(output.successful.len())
        });
        stream::iter(batches)
            .buffer_unordered(RELEASES_AT_ONCE)
            .try_fold(0, |released, batch| async move { Ok(released + batch) })
            .await
    }
}

/// `ChangeMessageVisibilityBatch` requests in flight at once.
const RELEASES_AT_ONCE: usize = 8;

impl MessageSink for SqsSink {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&message.body);
        for (name, value) in message.attributes() {
            request = request.message_attributes(name, string_attribute(value)?);
        }
        let output = request
            .send()
            .await
            .map_err(|e| SendError(DisplayErrorContext(e).to_string()))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// `SendMessageBatch`, ten at a time; the entries SQS did not accept are sent once more, one
    /// by one, before giving up on them.
    async fn send_all(&self, messages: &[Outgoing]) -> Result<usize, SendError> {
        for chunk in messages.chunks(SEND_BATCH) {
            let mut request = self.client.send_message_batch().queue_url(&self.queue_url);
            for (index, message) in chunk.iter().enumerate() {
                let mut entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(&message.body);
                for (name, value) in message.attributes() {
                    entry = entry.message_attributes(name, string_attribute(value)?);
                }
                request = request.entries(entry.build().map_err(|e| SendError(e.to_string()))?);
            }
            let output = request
                .send()
                .await
                .map_err(|e| SendError(DisplayErrorContext(e).to_string()))?;
            for failed in output.failed {
                let index: usize = failed.id.parse().unwrap_or(usize::MAX);
                let message = chunk.get(index).ok_or_else(|| {
                    SendError(format!(
                        "SQS refused an entry it was not sent: {}",
                        failed.id
                    ))
                })?;
                self.send(message).await?;
            }
        }
        Ok(messages.len())
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SendError(e.to_string()))
}
