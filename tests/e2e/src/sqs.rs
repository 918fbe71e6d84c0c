//! SQS clients and queues on moto, configured as production configures them.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

/// AWS configuration pointing at `endpoint` with dummy credentials.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aws_https::https_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            Credentials::for_tests(),
        ))
        .build()
}

pub fn client(endpoint: &str) -> Client {
    Client::new(&sdk_config(endpoint))
}

/// A work queue with a redrive policy to its own dead-letter queue.
pub struct Queues {
    pub url: String,
    pub dlq_url: String,
}

pub async fn create_with_dlq(
    client: &Client,
    name: &str,
    visibility_timeout: Duration,
    max_receive_count: u32,
) -> Queues {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("create DLQ")
        .queue_url
        .unwrap();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("read DLQ ARN")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("DLQ has an ARN");
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
            .to_string();
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .unwrap();
    Queues { url, dlq_url }
}

/// Receives up to `max` messages (with all attributes), waiting at most `wait`.
pub async fn receive(client: &Client, queue_url: &str, max: i32, wait: Duration) -> Vec<Message> {
    client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive from moto")
        .messages
        .unwrap_or_default()
}

/// Every message currently visible on the queue, drained without deleting (until the visibility
/// timeout makes them visible again).
pub async fn drain(client: &Client, queue_url: &str) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let batch = receive(client, queue_url, 10, Duration::ZERO).await;
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

/// Messages in the queue, visible or not, as SQS counts them.
pub async fn messages_in(client: &Client, queue_url: &str) -> u64 {
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("read the queue's depth")
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| {
        attributes
            .get(name)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}
