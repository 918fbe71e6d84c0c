//! The receiver's request handling: method and size checks, signature verification, parsing and
//! classification ([`Receiver::triage`], no I/O), then the hand-off to the queue.
//!
//! An authentic body is never refused for what it says: one we cannot classify (not JSON, a
//! shape we do not know, no type, or a type this build does not know) may announce a change to
//! views, so it is accepted, logged with its outline (keys and JSON types, never values) and
//! queued as a request for a re-sync of every project, which the processor bounds.

use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use tracing::{Instrument, error, info, info_span, warn};
use view_sync_core::outline::BodyOutline;
use view_sync_core::signature::{self, SignatureHeaders, UnverifiedBody, VerifyError};
use view_sync_core::{Notification, NotificationType, ParseError, QueueMessage, QueuedBy};

use queue::{MessageSink, Outgoing};
use telemetry::{Metric, dimension};

use crate::config::{ReceiverConfig, SignatureCheck};

/// What to do with a request that passed every check.
#[derive(Debug)]
pub enum Triage {
    Forward {
        notification: Notification,
        outgoing: Outgoing,
    },
    /// An authentic body we cannot classify, queued all the same (see [`Unclassified`]).
    Unclassified {
        what: Unclassified,
        outline: BodyOutline,
        outgoing: Outgoing,
    },
    /// A well-formed, authentic notification of a type outside `FORWARD_TYPES`.
    Ignore(Notification),
}

/// What could not be classified in an authentic body.
#[derive(Debug)]
pub enum Unclassified {
    /// Its shape: it is queued as a request for a re-sync of every project.
    Shape(ParseError),
    /// Its type, unknown to this build: queued as the notification it is; the processor
    /// re-syncs every project for it.
    Type(Notification),
}

impl Unclassified {
    /// Why, in words that quote nothing of the body (a parser's message may quote a value).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Shape(ParseError::NotUtf8) => "the body is not UTF-8 text",
            Self::Shape(ParseError::NotAnObject) => "the body is not a JSON object",
            Self::Shape(ParseError::InvalidJson(_)) => {
                "the body is not JSON, or a field we read has an unexpected type"
            }
            Self::Shape(ParseError::MissingType) => "the body names no notification type",
            Self::Type(_) => "the notification type is unknown to this build",
        }
    }
}

/// Why a request was refused; each maps to one HTTP status.
#[derive(Debug)]
pub enum Rejection {
    MethodNotAllowed(Method),
    PayloadTooLarge {
        size: usize,
        limit: usize,
    },
    Unauthorized(VerifyError),
    /// The event flags its body base64, and it does not decode.
    InvalidBase64,
}

pub struct Receiver<S> {
    config: ReceiverConfig,
    sink: S,
}

impl<S: MessageSink> Receiver<S> {
    pub fn new(config: ReceiverConfig, sink: S) -> Self {
        Self { config, sink }
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Everything the receiver decides, without I/O: the hot path measured by `make bench`.
    pub fn triage(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        received_at_ms: u64,
    ) -> Result<Triage, Rejection> {
        if method != Method::POST {
            return Err(Rejection::MethodNotAllowed(method.clone()));
        }
        if body.len() > self.config.max_body_bytes {
            return Err(Rejection::PayloadTooLarge {
                size: body.len(),
                limit: self.config.max_body_bytes,
            });
        }
        let unverified = UnverifiedBody::new(body);
        let verified = match &self.config.signatures {
            SignatureCheck::Verify(verifier) => {
                let pairs = headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_bytes()));
                let found = SignatureHeaders::from_pairs(pairs).map_err(Rejection::Unauthorized)?;
                verifier
                    .verify(unverified, found)
                    .map_err(Rejection::Unauthorized)?
            }
            SignatureCheck::Unsigned => signature::accept_unsigned(unverified),
        };
        let parsed = match Notification::parse(verified) {
            Ok(parsed) => parsed,
            Err(error) => {
                let message = QueueMessage::encode_resync(received_at_ms, QueuedBy::Unclassified);
                return Ok(Triage::Unclassified {
                    what: Unclassified::Shape(error),
                    outline: BodyOutline::of(body),
                    outgoing: Outgoing::resync(QueuedBy::Unclassified, message),
                });
            }
        };
        if !self
            .config
            .forward
            .forwards(&parsed.notification.notification_type)
        {
            return Ok(Triage::Ignore(parsed.notification));
        }
        let message = QueueMessage::encode(&parsed.notification, received_at_ms, Some(parsed.json));
        let outgoing = Outgoing::notification(&parsed.notification, message);
        if let NotificationType::Unknown(_) = parsed.notification.notification_type {
            return Ok(Triage::Unclassified {
                what: Unclassified::Type(parsed.notification),
                outline: BodyOutline::of(body),
                outgoing,
            });
        }
        Ok(Triage::Forward {
            outgoing,
            notification: parsed.notification,
        })
    }

    /// Answers one Function URL request. Never fails: every outcome is an explicit status.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let request_id = request
            .request_context_ref()
            .and_then(|context| match context {
                lambda_http::request::RequestContext::ApiGatewayV2(http) => http.request_id.clone(),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .unwrap_or_default();
        let span = info_span!("webhook", request_id = %request_id);
        async {
            let (parts, body) = request.into_parts();
            match self.triage(&parts.method, &parts.headers, body.as_ref(), queue::now_ms()) {
                Ok(Triage::Forward {
                    notification,
                    outgoing,
                }) => self.forward(&notification, &outgoing).await,
                Ok(Triage::Unclassified {
                    what,
                    outline,
                    outgoing,
                }) => self.queue_unclassified(&what, &outline, &outgoing).await,
                Ok(Triage::Ignore(notification)) => {
                    info!(
                        outcome = "ignored",
                        notification_type = %notification.notification_type,
                        known_type = !matches!(notification.notification_type, NotificationType::Unknown(_)),
                        model_id = notification.model_id.as_ref().map(|id| id.as_str()),
                        "notification type is not forwarded (FORWARD_TYPES)"
                    );
                    count_webhook("ignored");
                    respond(StatusCode::OK, json!({"status": "ignored", "notificationType": notification.notification_type}))
                }
                Err(rejection) => reject(rejection),
            }
        }
        .instrument(span)
        .await
    }

    /// Queues what an authentic body we could not classify asks for, and says so: the log has
    /// its outline, the `Webhooks` metric the outcome `unclassified`.
    async fn queue_unclassified(
        &self,
        what: &Unclassified,
        outline: &BodyOutline,
        outgoing: &Outgoing,
    ) -> Response<Body> {
        // A type we do not know is whatever the sender wrote: logged and echoed cut short.
        let notification_type: Option<String> = match what {
            Unclassified::Type(n) => Some(n.notification_type.as_str().chars().take(64).collect()),
            Unclassified::Shape(_) => None,
        };
        match self.send(outgoing).await {
            Ok(message_id) => {
                warn!(
                    outcome = "unclassified",
                    reason = what.reason(),
                    notification_type = notification_type.as_deref(),
                    body_bytes = outline.bytes,
                    body_outline = %outline,
                    message_id = %message_id,
                    "an authentic body we cannot classify: queued, and every project will be re-synced"
                );
                count_webhook("unclassified");
                let mut answer = json!({"status": "unclassified", "messageId": message_id});
                if let Some(name) = notification_type {
                    answer["notificationType"] = name.into();
                }
                respond(StatusCode::OK, answer)
            }
            Err(e) => {
                error!(outcome = "queue_failed", reason = what.reason(), body_outline = %outline, error = %e, "could not queue the re-sync an unclassified body asks for");
                count_webhook("queue_failed");
                queue_unavailable()
            }
        }
    }

    /// Sends one message, timing it.
    async fn send(&self, outgoing: &Outgoing) -> Result<String, queue::SendError> {
        let started = std::time::Instant::now();
        let sent = self.sink.send(outgoing).await;
        telemetry::record(
            Metric::QueueSendLatency,
            telemetry::elapsed_ms(started),
            &[],
        );
        sent
    }

    async fn forward(&self, n: &Notification, outgoing: &Outgoing) -> Response<Body> {
        let ids = (
            n.data_source_id.as_ref().map(|id| id.as_str()),
            n.project_id.as_ref().map(|id| id.as_str()),
        );
        match self.send(outgoing).await {
            Ok(message_id) => {
                info!(
                    outcome = "queued",
                    notification_type = %n.notification_type,
                    model_type = n.model_type.as_ref().map(|m| m.as_str()),
                    data_source_id = ids.0,
                    project_id = ids.1,
                    message_id = %message_id,
                    "notification queued"
                );
                count_webhook("queued");
                respond(
                    StatusCode::OK,
                    json!({"status": "queued", "messageId": message_id}),
                )
            }
            Err(e) => {
                error!(outcome = "queue_failed", notification_type = %n.notification_type, error = %e, "could not queue the notification");
                count_webhook("queue_failed");
                queue_unavailable()
            }
        }
    }
}

fn queue_unavailable() -> Response<Body> {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "queue_unavailable", "message": "the notification could not be queued; Immuta records the delivery as failed and it can be retried"}),
    )
}

pub(crate) fn reject(rejection: Rejection) -> Response<Body> {
    let outcome = match &rejection {
        Rejection::MethodNotAllowed(_) => "method_not_allowed",
        Rejection::PayloadTooLarge { .. } => "payload_too_large",
        Rejection::Unauthorized(_) => "unauthorized",
        Rejection::InvalidBase64 => "bad_request",
    };
    count_webhook(match &rejection {
        Rejection::MethodNotAllowed(_) => "rejected_method",
        Rejection::PayloadTooLarge { .. } => "rejected_size",
        Rejection::Unauthorized(_) => "rejected_signature",
        Rejection::InvalidBase64 => "rejected_base64",
    });
    match rejection {
        Rejection::MethodNotAllowed(method) => {
            warn!(outcome, method = %method, "refused a request that is not a POST");
            let mut response = respond(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": outcome, "message": "only POST is accepted"}),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            response
        }
        Rejection::PayloadTooLarge { size, limit } => {
            warn!(outcome, size, limit, "refused an oversized body");
            respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": outcome, "message": format!("the body is {size} bytes; the limit is {limit} (MAX_BODY_BYTES)")}),
            )
        }
        Rejection::Unauthorized(reason) => {
            // The log says which check failed; the answer does not, so it teaches a forger nothing.
            warn!(outcome, reason = %reason, "refused a request whose signature did not verify");
            respond(
                StatusCode::UNAUTHORIZED,
                json!({"error": outcome, "message": "missing or invalid webhook signature"}),
            )
        }
        Rejection::InvalidBase64 => {
            warn!(
                outcome,
                "refused a body flagged base64 that does not decode"
            );
            respond(
                StatusCode::BAD_REQUEST,
                json!({"error": outcome, "message": "the event flags its body as base64, and it is not valid base64"}),
            )
        }
    }
}

/// One request's outcome, as the `Webhooks` metric counts it.
fn count_webhook(outcome: &'static str) {
    telemetry::count(Metric::Webhooks, &[(dimension::OUTCOME, outcome)]);
}

fn respond(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
