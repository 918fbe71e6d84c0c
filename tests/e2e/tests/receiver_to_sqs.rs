//! The receiver handler in front of a real SQS API (moto): accepted webhooks arrive on the queue
//! with their attributes, refused ones never do, authentic bodies we cannot classify arrive as
//! a request for a re-sync, and a dead queue turns into a timely 503.

use std::time::{Duration, Instant};

use e2e::moto::Moto;
use e2e::sqs;
use lambda_http::http::StatusCode;
use queue::SqsSink;
use receiver::{Receiver, ReceiverConfig};
use serde_json::Value;
use view_sync_core::message::PayloadOmitted;
use view_sync_core::signature::{self, Algorithm, Secret};
use view_sync_core::{Asks, Id, NotificationType, QueueMessage, QueuedBy};

/// The secret the samples under `events/` are signed with.
const TEST_SECRET: &str = e2e::pipeline::WEBHOOK_SECRET;

macro_rules! event {
    ($name:literal) => {
        include_str!(concat!("../../../events/lambda/", $name))
    };
}

fn receiver_for(endpoint: &str, queue_url: &str) -> Receiver<SqsSink> {
    let config = ReceiverConfig::from_lookup(|k| match k {
        "QUEUE_URL" => Some(queue_url.to_owned()),
        "WEBHOOK_SECRETS" => Some(TEST_SECRET.to_owned()),
        _ => None,
    })
    .unwrap();
    let sink = SqsSink::new(
        &sqs::sdk_config(endpoint),
        config.queue_url.clone(),
        queue::webhook_timeouts(),
    );
    Receiver::new(config, sink)
}

async fn post(receiver: &Receiver<SqsSink>, event: &str) -> (StatusCode, Value) {
    let response = receiver
        .handle(lambda_http::request::from_str(event).unwrap())
        .await;
    (
        response.status(),
        serde_json::from_slice(response.body().as_ref()).unwrap(),
    )
}

fn string_attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    message
        .message_attributes
        .as_ref()?
        .get(name)?
        .string_value
        .clone()
}

#[tokio::test]
async fn accepted_webhooks_arrive_on_the_queue_with_attributes() {
    let moto = Moto::shared();
    let client = sqs::client(&moto.endpoint);
    let queues = sqs::create_with_dlq(
        &client,
        &e2e::unique_name("accepted"),
        Duration::from_secs(30),
        3,
    )
    .await;
    let receiver = receiver_for(&moto.endpoint, &queues.url);

    let (status, body) = post(&receiver, event!("function-url-policy-updated.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = post(
        &receiver,
        event!("function-url-added-to-project-base64.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let messages = sqs::drain(&client, &queues.url).await;
    assert_eq!(messages.len(), 2);
    let first = messages
        .iter()
        .find(|m| Some(m.message_id().unwrap()) == body["messageId"].as_str())
        .expect("message id answered to Immuta is the queue's");
    let decoded = QueueMessage::decode(first.body().unwrap()).unwrap();
    assert_eq!(
        decoded.notification().unwrap().notification_type,
        NotificationType::PolicyUpdated
    );
    assert_eq!(decoded.notification().unwrap().data_source_id, Id::new("2"));
    assert_eq!(
        string_attribute(first, "notificationType").as_deref(),
        Some("policyUpdated")
    );
    assert_eq!(
        string_attribute(first, "modelType").as_deref(),
        Some("datasource")
    );
    let payload: Value = serde_json::from_str(decoded.payload.unwrap().get()).unwrap();
    assert_eq!(payload["dataSourceName"], "Customer");
}

#[tokio::test]
async fn refused_and_ignored_requests_enqueue_nothing() {
    let moto = Moto::shared();
    let client = sqs::client(&moto.endpoint);
    let queues = sqs::create_with_dlq(
        &client,
        &e2e::unique_name("refused"),
        Duration::from_secs(30),
        3,
    )
    .await;
    let receiver = receiver_for(&moto.endpoint, &queues.url);

    for (event, expected) in [
        (
            event!("function-url-unsigned.json"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            event!("function-url-bad-signature.json"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            event!("function-url-get.json"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (event!("function-url-marketplace.json"), StatusCode::OK),
    ] {
        assert_eq!(post(&receiver, event).await.0, expected);
    }
    let messages = sqs::receive(&client, &queues.url, 10, Duration::from_secs(1)).await;
    assert!(
        messages.is_empty(),
        "refused requests reached the queue: {messages:?}"
    );
    assert!(sqs::drain(&client, &queues.dlq_url).await.is_empty());
}

#[tokio::test]
async fn authentic_bodies_we_cannot_classify_arrive_as_a_resync_request() {
    let moto = Moto::shared();
    let client = sqs::client(&moto.endpoint);
    let queues = sqs::create_with_dlq(
        &client,
        &e2e::unique_name("unclassified"),
        Duration::from_secs(30),
        3,
    )
    .await;
    let receiver = receiver_for(&moto.endpoint, &queues.url);
    for event in [
        event!("function-url-not-json.json"),
        event!("function-url-array.json"),
        event!("function-url-unclassifiable.json"),
    ] {
        let (status, body) = post(&receiver, event).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("unclassified"))
        );
    }
    let messages = sqs::drain(&client, &queues.url).await;
    assert_eq!(messages.len(), 3);
    for message in &messages {
        let decoded = QueueMessage::decode(message.body().unwrap()).unwrap();
        assert_eq!(decoded.queued_by, Some(QueuedBy::Unclassified));
        assert_eq!(
            decoded.asks(),
            Asks::Resync(view_sync_core::message::Resync::AllProjects)
        );
        assert_eq!(
            string_attribute(message, "queuedBy").as_deref(),
            Some("unclassified")
        );
    }
}

#[tokio::test]
async fn a_body_too_big_for_sqs_is_queued_without_its_payload() {
    let moto = Moto::shared();
    let client = sqs::client(&moto.endpoint);
    let queues = sqs::create_with_dlq(
        &client,
        &e2e::unique_name("large"),
        Duration::from_secs(30),
        3,
    )
    .await;
    let receiver = receiver_for(&moto.endpoint, &queues.url);

    // 262,000 bytes: under MAX_BODY_BYTES, but over SQS's limit once wrapped in a message.
    let pad = "x".repeat(262_000 - 90);
    let body = format!(
        r#"{{"notificationType":"policyUpdated","modelType":"datasource","modelId":5,"pad":"{pad}"}}"#
    );
    let event = function_url_event(&body);
    let (status, answer) = post(&receiver, &event).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let messages = sqs::drain(&client, &queues.url).await;
    assert_eq!(messages.len(), 1);
    let decoded = QueueMessage::decode(messages[0].body().unwrap()).unwrap();
    assert_eq!(decoded.payload_omitted, Some(PayloadOmitted::TooLarge));
    assert_eq!(decoded.notification().unwrap().data_source_id, Id::new("5"));
}

#[tokio::test]
async fn an_unreachable_queue_is_a_503_well_inside_immutas_10_seconds() {
    // Nothing listens on this port: every SendMessage attempt is refused.
    let dead = format!("http://127.0.0.1:{}", e2e::free_port());
    let receiver = receiver_for(&dead, &format!("{dead}/000000000000/gone"));
    let started = Instant::now();
    let (status, body) = post(&receiver, event!("function-url-policy-updated.json")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

fn function_url_event(body: &str) -> String {
    let secret = Secret::new(TEST_SECRET);
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            signature::SHA256_HEADER: signature::sign(&secret, body.as_bytes(), Algorithm::Sha256),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "x",
            "domainName": "x.lambda-url.us-east-1.on.aws",
            "domainPrefix": "x",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "test"},
            "requestId": "large-body",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}
