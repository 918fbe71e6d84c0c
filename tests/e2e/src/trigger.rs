//! A local SQS event source mapping, with Lambda's semantics: receive a batch, build the SQS event
//! Lambda would send, invoke the processor handler, delete only the records it did not report as
//! failed. Failed records become visible again after the visibility timeout, and after
//! `maxReceiveCount` receives SQS moves them to the dead-letter queue.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use lambda_runtime::{Context, LambdaEvent};
use processor::Reconciler;
use serde_json::{Map, Value, json};

use crate::lambda_watch::LambdaWatch;
use crate::sqs;

/// A processor the trigger can invoke with the SQS event Lambda would send.
pub trait BatchProcessor {
    /// The message ids the invocation reported as failed; `Err` when the invocation itself failed
    /// (Lambda then retries the whole batch).
    fn process(
        &self,
        event: &Value,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<String>, String>>;
}

/// The processor's handler in this process, driven with `aws_lambda_events`' own types.
impl BatchProcessor for Reconciler {
    async fn process(&self, event: &Value, timeout: Duration) -> Result<Vec<String>, String> {
        let event: SqsEvent =
            serde_json::from_value(event.clone()).expect("the SQS event Lambda sends deserialises");
        let mut context = Context::default();
        context.request_id = format!("local-trigger-{}", now_ms());
        context.deadline = now_ms() + timeout.as_millis() as u64;
        let response = processor::batch::handle(self, LambdaEvent::new(event, context))
            .await
            .map_err(|e| e.to_string())?;
        Ok(failed_ids(&response))
    }
}

/// The processor binary under `cargo lambda watch`, invoked through the Invoke API.
pub struct WatchedProcessor<'a>(pub &'a LambdaWatch);

impl BatchProcessor for WatchedProcessor<'_> {
    async fn process(&self, event: &Value, _timeout: Duration) -> Result<Vec<String>, String> {
        let answer = self.0.invoke("processor", event).await?;
        let response: aws_lambda_events::event::sqs::SqsBatchResponse =
            serde_json::from_value(answer.clone()).map_err(|e| {
                format!("the processor's answer {answer} is not a batch response: {e}")
            })?;
        Ok(failed_ids(&response))
    }
}

pub(crate) fn failed_ids(
    response: &aws_lambda_events::event::sqs::SqsBatchResponse,
) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PumpStats {
    pub batches: u32,
    pub records: u32,
    pub failed: u32,
    pub deleted: u32,
}

pub struct Trigger<'a> {
    pub client: &'a Client,
    pub queue_url: &'a str,
    /// Records per invocation (Lambda's `BatchSize`; gathered from several receives).
    pub batch_size: usize,
    /// What the invocation's deadline allows the processor (Lambda's function timeout).
    pub function_timeout: Duration,
}

impl Trigger<'_> {
    /// Invokes the processor until the queue holds nothing, visible or in flight, or `limit` passes.
    pub async fn drain(&self, processor: &impl BatchProcessor, limit: Duration) -> PumpStats {
        let started = Instant::now();
        let mut stats = PumpStats::default();
        while started.elapsed() < limit {
            let messages = self.receive_batch().await;
            if messages.is_empty() {
                if self.is_drained().await {
                    return stats;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let outcome = self.invoke(processor, &messages).await;
            stats.batches += 1;
            stats.records += messages.len() as u32;
            stats.failed += outcome.failed;
            stats.deleted += outcome.deleted;
        }
        panic!("the queue did not drain within {limit:?}: {stats:?}");
    }

    /// One poll as the event source mapping makes it with no batching window: a receive that
    /// waits up to `wait` for a message (long polling), then an invocation with what it got
    /// (at most `batch_size`, at most 10), without gathering more.
    pub async fn poll_once(&self, processor: &impl BatchProcessor, wait: Duration) -> PumpStats {
        let want = self.batch_size.clamp(1, 10) as i32;
        let messages = sqs::receive(self.client, self.queue_url, want, wait).await;
        if messages.is_empty() {
            return PumpStats::default();
        }
        self.invoke(processor, &messages).await
    }

    async fn receive_batch(&self) -> Vec<Message> {
        let mut batch = Vec::new();
        while batch.len() < self.batch_size {
            let want = (self.batch_size - batch.len()).min(10) as i32;
            let got = sqs::receive(self.client, self.queue_url, want, Duration::ZERO).await;
            if got.is_empty() {
                break;
            }
            batch.extend(got);
        }
        batch
    }

    /// Nothing visible or in flight. A reading takes the two counts one after the other, so a
    /// message that turns visible between them is in neither: only two empty readings apart
    /// mean empty.
    async fn is_drained(&self) -> bool {
        if !self.looks_empty().await {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.looks_empty().await
    }

    async fn looks_empty(&self) -> bool {
        sqs::messages_in(self.client, self.queue_url).await == 0
    }

    async fn invoke(&self, processor: &impl BatchProcessor, messages: &[Message]) -> PumpStats {
        let event = json!({"Records": messages.iter().map(record).collect::<Vec<_>>()});
        // A failed invocation fails the whole batch: nothing is deleted.
        let failed = processor
            .process(&event, self.function_timeout)
            .await
            .unwrap_or_else(|error| {
                eprintln!("the processor invocation failed: {error}");
                messages
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .collect()
            });
        let to_delete: Vec<&Message> = messages
            .iter()
            .filter(|m| {
                !failed
                    .iter()
                    .any(|f| Some(f.as_str()) == m.message_id.as_deref())
            })
            .collect();
        for chunk in to_delete.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                        .build()
                        .expect("complete entry")
                })
                .collect::<Vec<_>>();
            self.client
                .delete_message_batch()
                .queue_url(self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("delete");
        }
        PumpStats {
            batches: 1,
            records: messages.len() as u32,
            failed: failed.len() as u32,
            deleted: to_delete.len() as u32,
        }
    }
}

/// One record of the SQS event, as Lambda's event source mapping writes it.
fn record(message: &Message) -> Value {
    let attributes: Map<String, Value> = message
        .attributes
        .as_ref()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.as_str())))
                .collect()
        })
        .unwrap_or_default();
    let message_attributes: Map<String, Value> = message
        .message_attributes
        .as_ref()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.clone(), json!({"stringValue": v.string_value, "dataType": v.data_type, "stringListValues": [], "binaryListValues": []})))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local",
        "awsRegion": "us-east-1"
    })
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
