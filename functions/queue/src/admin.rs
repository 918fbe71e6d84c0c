//! What an operator does to the queues (`view-sync dlq`, `view-sync status`): read a queue's
//! depth, look at its messages without deleting them, and move dead letters back to the queue
//! without losing one.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

pub use crate::error::QueueError;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};

/// How many messages a queue holds, as SQS approximates it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    /// Received and not yet deleted (being processed).
    pub in_flight: u64,
    pub delayed: u64,
}

impl Depth {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// A message looked at and left in its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    pub message_id: String,
    pub body: String,
    /// Receives so far, this look included.
    pub receive_count: u64,
    /// When it was sent to this queue (a dead letter: to the first queue), in milliseconds.
    pub sent_at_ms: u64,
}

/// What SQS says of a queue that decides which way its messages may be redriven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveAttributes {
    pub arn: String,
    /// Its `RedrivePolicy` attribute as SQS keeps it (JSON naming its `deadLetterTargetArn`);
    /// `None` for a queue without a dead-letter queue (a dead-letter queue itself, usually).
    pub redrive_policy: Option<String>,
}

/// How a redrive moved the dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redriven {
    /// SQS's own message move task, finished.
    MoveTask { moved: u64 },
    /// Received, sent to the queue, then deleted, a batch at a time: a message is deleted only
    /// once the queue has it (a failure in between leaves a duplicate, never a loss).
    Copied { moved: usize },
}

/// How long a message looked at stays hidden from other consumers: long enough to page through
/// the queue without seeing it twice; it is made visible again right after.
const PEEK_VISIBILITY_SECONDS: i32 = 30;
/// How long a message being moved stays hidden: its send and delete take well under this.
const MOVE_VISIBILITY_SECONDS: i32 = 60;
/// A receive waits this long for messages, so that an empty answer means an empty queue (short
/// polling samples only some of SQS's servers).
const RECEIVE_WAIT_SECONDS: i32 = 1;

pub struct QueueAdmin {
    client: aws_sdk_sqs::Client,
}

impl QueueAdmin {
    pub fn new(config: &aws_config::SdkConfig, timeouts: TimeoutConfig) -> Self {
        let sqs_config = aws_sdk_sqs::config::Builder::from(config)
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_sqs::Client::from_conf(sqs_config),
        }
    }

    /// The AWS configuration loaded the standard way (see [`crate::SqsSink::from_environment`]).
    pub async fn from_environment(timeouts: TimeoutConfig) -> Self {
        let config = aws_https::load().await;
        Self::new(&config, timeouts)
    }

    pub async fn depth(&self, queue_url: &str) -> Result<Depth, QueueError> {
        let attributes = self
            .attributes(
                queue_url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    QueueAttributeName::ApproximateNumberOfMessagesDelayed,
                ],
            )
            .await?;
        let count = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(Depth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    async fn attributes(
        &self,
        queue_url: &str,
        names: &[QueueAttributeName],
    ) -> Result<HashMap<QueueAttributeName, String>, QueueError> {
        let mut request = self.client.get_queue_attributes().queue_url(queue_url);
        for name in names {
            request = request.attribute_names(name.clone());
        }
        let output = request
            .send()
            .await
            .map_err(|e| error("read the attributes of", queue_url, e))?;
        Ok(output.attributes.unwrap_or_default())
    }

    async fn arn(&self, queue_url: &str) -> Result<String, QueueError> {
        self.attributes(queue_url, &[QueueAttributeName::QueueArn])
            .await?
            .remove(&QueueAttributeName::QueueArn)
            .ok_or_else(|| no_arn(queue_url))
    }

    /// The queue's ARN and redrive policy, in one read.
    pub async fn redrive_attributes(
        &self,
        queue_url: &str,
    ) -> Result<RedriveAttributes, QueueError> {
        let mut attributes = self
            .attributes(
                queue_url,
                &[
                    QueueAttributeName::QueueArn,
                    QueueAttributeName::RedrivePolicy,
                ],
            )
            .await?;
        let arn = attributes
            .remove(&QueueAttributeName::QueueArn)
            .ok_or_else(|| no_arn(queue_url))?;
        Ok(RedriveAttributes {
            arn,
            redrive_policy: attributes
                .remove(&QueueAttributeName::RedrivePolicy)
                .filter(|policy| !policy.is_empty()),
        })
    }

    /// Up to `limit` messages of the queue, left in it: each is hidden while the queue is paged
    /// through, then made visible again. Its receive count goes up by one, which a dead-letter
    /// queue (that has no redrive policy of its own) does not act on: do not peek at a queue
    /// that has one.
    pub async fn peek(&self, queue_url: &str, limit: usize) -> Result<Vec<Peeked>, QueueError> {
        let mut seen = BTreeSet::new();
        let mut peeked = Vec::new();
        let mut handles = Vec::new();
        while peeked.len() < limit {
            let batch = self
                .receive(queue_url, limit - peeked.len(), PEEK_VISIBILITY_SECONDS)
                .await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                handles.extend(message.receipt_handle.clone());
                let Some(id) = message.message_id.clone() else {
                    continue;
                };
                if seen.insert(id.clone()) {
                    peeked.push(self::peeked(id, &message));
                }
            }
        }
        self.make_visible(queue_url, &handles).await?;
        Ok(peeked)
    }

    async fn receive(
        &self,
        queue_url: &str,
        up_to: usize,
        visibility_seconds: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(up_to.clamp(1, 10) as i32)
            .visibility_timeout(visibility_seconds)
            .wait_time_seconds(RECEIVE_WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| error("receive from", queue_url, e))?;
        Ok(output.messages.unwrap_or_default())
    }

    async fn make_visible(&self, queue_url: &str, handles: &[String]) -> Result<(), QueueError> {
        for chunk in handles.chunks(10) {
            let mut request = self
                .client
                .change_message_visibility_batch()
                .queue_url(queue_url);
            for (index, handle) in chunk.iter().enumerate() {
                request = request.entries(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| error("make visible the messages of", queue_url, e))?,
                );
            }
            request
                .send()
                .await
                .map_err(|e| error("make visible the messages of", queue_url, e))?;
        }
        Ok(())
    }

    /// Moves the messages of `from` (a dead-letter queue) to `to`: with SQS's message move task
    /// when `max` is `None` and the API offers it, else (or for at most `max` messages)
    /// receive, send, delete. `progress` is told how many have moved so far. It moves whatever
    /// `from` holds: the caller checks first that `from` is the dead-letter queue of `to` (see
    /// [`Self::redrive_attributes`]).
    pub async fn redrive(
        &self,
        from: &str,
        to: &str,
        max: Option<usize>,
        deadline: Instant,
        mut progress: impl FnMut(u64),
    ) -> Result<Redriven, QueueError> {
        if max.is_none()
            && let Some(moved) = self.move_task(from, to, deadline, &mut progress).await?
        {
            return Ok(Redriven::MoveTask { moved });
        }
        let limit = max.unwrap_or(usize::MAX);
        let mut moved = 0;
        while moved < limit && Instant::now() < deadline {
            let batch = self
                .receive(from, limit - moved, MOVE_VISIBILITY_SECONDS)
                .await?;
            if batch.is_empty() {
                break;
            }
            moved += self.copy_then_delete(from, to, &batch).await?;
            progress(moved as u64);
        }
        Ok(Redriven::Copied { moved })
    }

    /// SQS's message move task from `from` to `to`, waited for; `None` when it cannot be
    /// started (an API without it, e.g. a local emulator), so that nothing was moved.
    async fn move_task(
        &self,
        from: &str,
        to: &str,
        deadline: Instant,
        progress: &mut impl FnMut(u64),
    ) -> Result<Option<u64>, QueueError> {
        let (source, destination) = (self.arn(from).await?, self.arn(to).await?);
        let started = self
            .client
            .start_message_move_task()
            .source_arn(&source)
            .destination_arn(&destination)
            .send()
            .await;
        let Ok(started) = started else {
            return Ok(None);
        };
        let handle = started.task_handle.unwrap_or_default();
        loop {
            let tasks = self
                .client
                .list_message_move_tasks()
                .source_arn(&source)
                .send()
                .await
                .map_err(|e| error("follow the move task of", from, e))?;
            let task =
                tasks.results.unwrap_or_default().into_iter().find(|t| {
                    t.task_handle() == Some(handle.as_str()) || t.task_handle().is_none()
                });
            let Some(task) = task else {
                return Err(QueueError {
                    action: "follow the move task of",
                    queue: from.to_owned(),
                    detail: "SQS no longer lists it".into(),
                });
            };
            let moved = task.approximate_number_of_messages_moved() as u64;
            progress(moved);
            match task.status() {
                Some("COMPLETED") => return Ok(Some(moved)),
                Some(status @ ("FAILED" | "CANCELLED" | "CANCELLING")) => {
                    return Err(QueueError {
                        action: "move the messages of",
                        queue: from.to_owned(),
                        detail: format!(
                            "the move task is {status} after {moved} message(s): {}",
                            task.failure_reason().unwrap_or("no reason given")
                        ),
                    });
                }
                _ if Instant::now() >= deadline => {
                    return Err(QueueError {
                        action: "move the messages of",
                        queue: from.to_owned(),
                        detail: format!(
                            "the move task is still running ({moved} moved); SQS goes on with it"
                        ),
                    });
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    /// Sends each message to `to`, then deletes from `from` exactly those `to` accepted.
    async fn copy_then_delete(
        &self,
        from: &str,
        to: &str,
        batch: &[Message],
    ) -> Result<usize, QueueError> {
        let mut send = self.client.send_message_batch().queue_url(to);
        for (index, message) in batch.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(message.body.clone().unwrap_or_default());
            for (name, value) in message.message_attributes.iter().flatten() {
                entry = entry.message_attributes(name, value.clone());
            }
            send = send.entries(entry.build().map_err(|e| error("send to", to, e))?);
        }
        let sent = send.send().await.map_err(|e| error("send to", to, e))?;
        let accepted: Vec<usize> = sent
            .successful
            .iter()
            .filter_map(|entry| entry.id.parse().ok())
            .collect();
        let mut delete = self.client.delete_message_batch().queue_url(from);
        for &index in &accepted {
            let handle = batch[index].receipt_handle.clone().unwrap_or_default();
            delete = delete.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| error("delete from", from, e))?,
            );
        }
        if !accepted.is_empty() {
            delete
                .send()
                .await
                .map_err(|e| error("delete from", from, e))?;
        }
        if let Some(refused) = sent.failed.first() {
            return Err(QueueError {
                action: "send to",
                queue: to.to_owned(),
                detail: format!(
                    "{} message(s) refused ({}); they stay in {from}",
                    sent.failed.len(),
                    refused.message.as_deref().unwrap_or(&refused.code)
                ),
            });
        }
        Ok(accepted.len())
    }
}

fn peeked(message_id: String, message: &Message) -> Peeked {
    let attribute = |name: MessageSystemAttributeName| {
        message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Peeked {
        message_id,
        body: message.body.clone().unwrap_or_default(),
        receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount),
        sent_at_ms: attribute(MessageSystemAttributeName::SentTimestamp),
    }
}

fn no_arn(queue_url: &str) -> QueueError {
    QueueError {
        action: "read the ARN of",
        queue: queue_url.to_owned(),
        detail: "SQS did not say".into(),
    }
}

fn error(action: &'static str, queue: &str, e: impl std::error::Error) -> QueueError {
    QueueError {
        action,
        queue: queue.to_owned(),
        detail: DisplayErrorContext(e).to_string(),
    }
}
