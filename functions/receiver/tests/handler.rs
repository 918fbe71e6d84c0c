//! The receiver driven with real Function URL events (events/lambda/, signed by
//! scripts/make_fixtures.py) through the entry point the runtime calls, `handle_event`.

use std::sync::Mutex;

use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::StatusCode;
use receiver::{MessageSink, Outgoing, Receiver, ReceiverConfig, SendError};
use serde_json::Value;
use telemetry::{Metric, dimension};
use view_sync_core::message::Resync;
use view_sync_core::{Asks, Id, NotificationType, QueueMessage, QueuedBy};

const TEST_SECRET: &str = "immuta-view-sync-test-secret";

macro_rules! event {
    ($name:literal) => {
        include_str!(concat!("../../../events/lambda/", $name))
    };
}

#[derive(Default)]
struct RecordingSink {
    sent: Mutex<Vec<Outgoing>>,
}

impl MessageSink for RecordingSink {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        let mut sent = self.sent.lock().unwrap();
        sent.push(message.clone());
        Ok(format!("msg-{}", sent.len()))
    }
}

struct FailingSink;

impl MessageSink for FailingSink {
    async fn send(&self, _: &Outgoing) -> Result<String, SendError> {
        Err(SendError("dispatch failure: connection refused".into()))
    }
}

fn config(extra: &[(&str, &str)]) -> ReceiverConfig {
    let mut pairs = vec![
        ("QUEUE_URL", "http://127.0.0.1:1/000000000000/q"),
        ("WEBHOOK_SECRETS", TEST_SECRET),
    ];
    pairs.extend_from_slice(extra);
    ReceiverConfig::from_lookup(|k| {
        pairs
            .iter()
            .rev()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn receiver(extra: &[(&str, &str)]) -> Receiver<RecordingSink> {
    Receiver::new(config(extra), RecordingSink::default())
}

async fn call<S: MessageSink>(
    receiver: &Receiver<S>,
    event: &str,
) -> (StatusCode, Value, ApiGatewayV2httpResponse) {
    let event: ApiGatewayV2httpRequest =
        serde_json::from_str(event).expect("fixture is a Function URL event");
    let answer = receiver.handle_event(event).await;
    assert!(!answer.is_base64_encoded);
    let body = answer.body.as_ref().expect("every answer has a body");
    let body: Value = serde_json::from_slice(body.as_ref()).expect("answers are JSON");
    let status = u16::try_from(answer.status_code).expect("an HTTP status");
    (StatusCode::from_u16(status).unwrap(), body, answer)
}

fn sent(receiver: &Receiver<RecordingSink>) -> Vec<Outgoing> {
    receiver.sink().sent.lock().unwrap().clone()
}

/// A queued message as it is compared here: its body as JSON, with `receivedAtMs` (checked to
/// be a time during the test) set to 0, and its attributes.
type Queued = (Value, Vec<(String, String)>);

fn queued(receiver: &Receiver<RecordingSink>, since_ms: u64) -> Vec<Queued> {
    sent(receiver)
        .iter()
        .map(|outgoing| {
            let mut body: Value = serde_json::from_str(&outgoing.body).unwrap();
            let received_at_ms = body["receivedAtMs"].as_u64().unwrap();
            assert!(
                (since_ms..=queue::now_ms()).contains(&received_at_ms),
                "{received_at_ms} is not a time of the test (since {since_ms})"
            );
            body["receivedAtMs"] = 0.into();
            let attributes = outgoing
                .attributes()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            (body, attributes)
        })
        .collect()
}

/// The notification message a fixture's request queues: `notification` as the receiver reads
/// it, and the body as Immuta sent it.
fn notification_message(notification: Value, event: &str) -> Value {
    let event: Value = serde_json::from_str(event).unwrap();
    assert_eq!(event["isBase64Encoded"], false);
    let payload: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    serde_json::json!({
        "version": 1,
        "receivedAtMs": 0,
        "notification": notification,
        "payload": payload,
    })
}

fn attributes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// What function-url-policy-updated.json queues.
fn policy_updated_message() -> Queued {
    (
        notification_message(
            serde_json::json!({
                "notificationType": "policyUpdated",
                "shape": "flat",
                "modelType": "datasource",
                "modelId": "2",
                "dataSourceId": "2",
            }),
            event!("function-url-policy-updated.json"),
        ),
        attributes(&[
            ("notificationType", "policyUpdated"),
            ("modelType", "datasource"),
        ]),
    )
}

#[tokio::test]
async fn a_signed_notification_is_queued_with_its_ids_and_original_payload() {
    let since_ms = queue::now_ms();
    let r = receiver(&[]);
    let (status, body, response) = call(&r, event!("function-url-policy-updated.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"status": "queued", "messageId": "msg-1"})
    );
    assert_eq!(response.headers["content-type"], "application/json");

    assert_eq!(queued(&r, since_ms), [policy_updated_message()]);
}

#[tokio::test]
async fn base64_bodies_are_decoded_before_verifying() {
    let r = receiver(&[]);
    let (status, _, _) = call(&r, event!("function-url-added-to-project-base64.json")).await;
    assert_eq!(status, StatusCode::OK);
    let message_body = &sent(&r)[0].body;
    let message = QueueMessage::decode(message_body).unwrap();
    assert_eq!(message.notification().unwrap().project_id, Id::new("1"));
    assert_eq!(message.notification().unwrap().data_source_id, Id::new("1"));
}

#[tokio::test]
async fn header_names_are_case_insensitive() {
    let r = receiver(&[]);
    let (status, _, _) = call(&r, event!("function-url-mixed-case-headers.json")).await;
    assert_eq!(status, StatusCode::OK);
    let sent = sent(&r);
    let message = QueueMessage::decode(&sent[0].body).unwrap();
    assert_eq!(message.notification().unwrap().hints.disabled, Some(true));
}

#[tokio::test]
async fn sha1_only_is_accepted_by_default_and_refused_when_sha256_is_required() {
    let since_ms = queue::now_ms();
    let r = receiver(&[]);
    assert_eq!(
        call(&r, event!("function-url-sha1-only.json")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        queued(&r, since_ms),
        [(
            notification_message(
                serde_json::json!({
                    "notificationType": "removedFromProject",
                    "shape": "flat",
                    "modelType": "project",
                    "modelId": "1",
                    "dataSourceId": "1",
                    "projectId": "1",
                }),
                event!("function-url-sha1-only.json")
            ),
            attributes(&[
                ("notificationType", "removedFromProject"),
                ("modelType", "project")
            ])
        )]
    );

    let strict = receiver(&[("SIGNATURE_ALGORITHMS", "sha256")]);
    let (status, _, _) = call(&strict, event!("function-url-sha1-only.json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(sent(&strict).is_empty());
    assert_eq!(
        call(&strict, event!("function-url-policy-updated.json"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(queued(&strict, since_ms), [policy_updated_message()]);
}

#[tokio::test]
async fn missing_and_bad_signatures_get_the_same_401_and_nothing_is_queued() {
    let r = receiver(&[]);
    let (missing_status, missing_body, _) = call(&r, event!("function-url-unsigned.json")).await;
    let (bad_status, bad_body, _) = call(&r, event!("function-url-bad-signature.json")).await;
    assert_eq!(missing_status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad_status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing_body, bad_body,
        "the answer must not say which check failed"
    );
    assert!(!bad_body.to_string().contains(TEST_SECRET));
    assert!(sent(&r).is_empty());

    let since_ms = queue::now_ms();
    let rotated = receiver(&[("WEBHOOK_SECRETS", "new-secret,immuta-view-sync-test-secret")]);
    assert_eq!(
        call(&rotated, event!("function-url-policy-updated.json"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(queued(&rotated, since_ms), [policy_updated_message()]);
    let wrong = receiver(&[("WEBHOOK_SECRETS", "some-other-secret")]);
    assert_eq!(
        call(&wrong, event!("function-url-policy-updated.json"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(sent(&wrong).is_empty());
}

#[tokio::test]
async fn only_post_is_accepted() {
    let r = receiver(&[]);
    let (status, body, response) = call(&r, event!("function-url-get.json")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers["allow"], "POST");
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn oversized_bodies_get_413_before_any_verification() {
    let r = receiver(&[("MAX_BODY_BYTES", "64")]);
    let (status, body, _) = call(&r, event!("function-url-policy-updated.json")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["message"].as_str().unwrap().contains("MAX_BODY_BYTES"));
    assert!(sent(&r).is_empty());
}

#[tokio::test]
async fn signed_bodies_we_cannot_classify_are_accepted_counted_and_queue_a_resync() {
    let r = receiver(&[]);
    for event in [
        event!("function-url-not-json.json"),
        event!("function-url-array.json"),
        event!("function-url-unclassifiable.json"),
    ] {
        let ((status, body, _), recorded) = telemetry::collect(call(&r, event)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "unclassified");
        assert!(body["messageId"].as_str().is_some(), "{body}");
        let outcome = |o| recorded.total(Metric::Webhooks, &[(dimension::OUTCOME, o)]);
        assert_eq!((outcome("unclassified"), outcome("queued")), (1.0, 0.0));
    }
    let sent = sent(&r);
    assert_eq!(sent.len(), 3);
    for outgoing in &sent {
        let message = QueueMessage::decode(&outgoing.body).unwrap();
        assert_eq!(message.asks(), Asks::Resync(Resync::AllProjects));
        assert_eq!(message.queued_by, Some(QueuedBy::Unclassified));
        assert!(message.received_at_ms > 1_700_000_000_000);
        assert_eq!(
            outgoing.attributes(),
            vec![("resync", "allProjects"), ("queuedBy", "unclassified")]
        );
    }
}

#[tokio::test]
async fn an_unknown_type_is_queued_as_unclassified_unless_forward_types_lists_others() {
    let r = receiver(&[]);
    let ((status, body, _), recorded) =
        telemetry::collect(call(&r, event!("function-url-unknown-type.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "unclassified");
    assert_eq!(body["notificationType"], "somethingImmutaAddsLater");
    assert_eq!(
        recorded.total(Metric::Webhooks, &[(dimension::OUTCOME, "unclassified")]),
        1.0
    );
    let queued = sent(&r);
    let message = QueueMessage::decode(&queued[0].body).unwrap();
    assert_eq!(
        message.notification().unwrap().notification_type,
        NotificationType::Unknown("somethingImmutaAddsLater".into())
    );

    // A list names known types only: the operator chose to leave unknown ones out.
    let listed = receiver(&[("FORWARD_TYPES", "policyUpdated")]);
    let (status, body, _) = call(&listed, event!("function-url-unknown-type.json")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    assert!(sent(&listed).is_empty());
}

#[tokio::test]
async fn a_new_view_affecting_type_is_queued_by_default() {
    let since_ms = queue::now_ms();
    let r = receiver(&[]);
    let (status, body, _) = call(&r, event!("function-url-governance-settings-updated.json")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            serde_json::json!({"status": "queued", "messageId": "msg-1"})
        )
    );
    assert_eq!(
        queued(&r, since_ms),
        [(
            notification_message(
                serde_json::json!({
                    "notificationType": "governanceSettingsUpdated",
                    "shape": "flat",
                }),
                event!("function-url-governance-settings-updated.json")
            ),
            attributes(&[("notificationType", "governanceSettingsUpdated")])
        )]
    );
}

#[tokio::test]
async fn an_unclassified_body_whose_resync_cannot_be_queued_is_a_503() {
    let r = Receiver::new(config(&[]), FailingSink);
    let (status, body, _) = call(&r, event!("function-url-unclassifiable.json")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "queue_unavailable");
}

#[tokio::test]
async fn types_outside_forward_types_are_acknowledged_and_ignored() {
    let r = receiver(&[]);
    let (status, body, _) = call(&r, event!("function-url-marketplace.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ignored");
    assert_eq!(
        body["notificationType"],
        "marketplace.data_product.data_sources.updated"
    );
    let (status, body, _) = call(&r, event!("function-url-envelope.json")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    assert!(sent(&r).is_empty());
}

#[tokio::test]
async fn forward_types_all_forwards_every_shape() {
    let since_ms = queue::now_ms();
    let r = receiver(&[("FORWARD_TYPES", "all")]);
    assert_eq!(
        call(&r, event!("function-url-marketplace.json")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&r, event!("function-url-envelope.json")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        queued(&r, since_ms),
        [
            (
                notification_message(
                    serde_json::json!({
                        "notificationType": "marketplace.data_product.data_sources.updated",
                        "shape": "marketplace",
                        "modelType": "dataProduct",
                        "modelId": "12345",
                    }),
                    event!("function-url-marketplace.json")
                ),
                attributes(&[
                    (
                        "notificationType",
                        "marketplace.data_product.data_sources.updated"
                    ),
                    ("modelType", "dataProduct")
                ])
            ),
            (
                notification_message(
                    serde_json::json!({
                        "notificationType": "modelCreated",
                        "shape": "envelope",
                        "modelType": "project",
                        "modelId": "1",
                        "projectId": "1",
                    }),
                    event!("function-url-envelope.json")
                ),
                attributes(&[
                    ("notificationType", "modelCreated"),
                    ("modelType", "project")
                ])
            ),
        ]
    );
}

#[tokio::test]
async fn a_queue_failure_is_a_503_so_immuta_records_a_failed_delivery() {
    let r = Receiver::new(config(&[]), FailingSink);
    let (status, body, _) = call(&r, event!("function-url-policy-updated.json")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "queue_unavailable");
}

#[tokio::test]
async fn unsigned_mode_accepts_without_signatures_only_when_explicit() {
    let config = ReceiverConfig::from_lookup(|k| match k {
        "QUEUE_URL" => Some("q".into()),
        "ALLOW_UNSIGNED" => Some("true".into()),
        _ => None,
    })
    .unwrap();
    let since_ms = queue::now_ms();
    let r = Receiver::new(config, RecordingSink::default());
    assert_eq!(
        call(&r, event!("function-url-unsigned.json")).await.0,
        StatusCode::OK
    );
    // The unsigned fixture carries function-url-policy-updated.json's body.
    assert_eq!(queued(&r, since_ms), [policy_updated_message()]);
}

#[tokio::test]
async fn a_body_flagged_base64_that_does_not_decode_is_a_400_not_a_panic() {
    let r = receiver(&[]);
    let mut event: Value =
        serde_json::from_str(event!("function-url-added-to-project-base64.json")).unwrap();
    event["body"] = Value::from("not base64 at all!");
    let (status, body, _) = call(&r, &event.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("base64"),
        "{body}"
    );
    assert!(sent(&r).is_empty());
}
