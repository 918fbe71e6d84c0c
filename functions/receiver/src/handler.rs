//! The receiver's request handling: method and size checks, signature verification, parsing and
//! classification ([`Receiver::triage`], no I/O), then the hand-off to the queue.

use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use tracing::{Instrument, error, info, info_span, warn};
use view_sync_core::signature::{self, SignatureHeaders, UnverifiedBody, VerifyError};
use view_sync_core::{Notification, ParseError, QueueMessage};

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
    /// A well-formed, authentic notification of a type outside `FORWARD_TYPES`.
    Ignore(Notification),
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
    BadRequest(ParseError),
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
        let parsed = Notification::parse(verified).map_err(Rejection::BadRequest)?;
        if !self
            .config
            .forward
            .forwards(&parsed.notification.notification_type)
        {
            return Ok(Triage::Ignore(parsed.notification));
        }
        let body = QueueMessage::encode(&parsed.notification, received_at_ms, Some(parsed.json));
        Ok(Triage::Forward {
            outgoing: Outgoing::notification(&parsed.notification, body),
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
                Ok(Triage::Ignore(notification)) => {
                    info!(
                        outcome = "ignored",
                        notification_type = %notification.notification_type,
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

    async fn forward(&self, n: &Notification, outgoing: &Outgoing) -> Response<Body> {
        let ids = (
            n.data_source_id.as_ref().map(|id| id.as_str()),
            n.project_id.as_ref().map(|id| id.as_str()),
        );
        let started = std::time::Instant::now();
        let sent = self.sink.send(outgoing).await;
        telemetry::record(
            Metric::QueueSendLatency,
            telemetry::elapsed_ms(started),
            &[],
        );
        match sent {
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
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "queue_unavailable", "message": "the notification could not be queued; Immuta records the delivery as failed and it can be retried"}),
                )
            }
        }
    }
}

pub(crate) fn reject(rejection: Rejection) -> Response<Body> {
    let outcome = match &rejection {
        Rejection::MethodNotAllowed(_) => "method_not_allowed",
        Rejection::PayloadTooLarge { .. } => "payload_too_large",
        Rejection::Unauthorized(_) => "unauthorized",
        Rejection::BadRequest(_) | Rejection::InvalidBase64 => "bad_request",
    };
    count_webhook(match &rejection {
        Rejection::MethodNotAllowed(_) => "rejected_method",
        Rejection::PayloadTooLarge { .. } => "rejected_size",
        Rejection::Unauthorized(_) => "rejected_signature",
        Rejection::BadRequest(_) => "rejected_json",
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
        Rejection::BadRequest(reason) => {
            warn!(outcome, reason = %reason, "refused a body that is not a notification");
            respond(
                StatusCode::BAD_REQUEST,
                json!({"error": outcome, "message": reason.to_string()}),
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
