//! A Function URL invocation, from the event the Lambda runtime delivers to the answer it sends
//! back.
//!
//! The conversion is ours rather than `lambda_http`'s adapter (`lambda_http::run`): that one
//! decodes a body flagged base64 with an `expect` (`Body::from_maybe_encoded`), so a body that does
//! not decode would panic, and with `panic = "abort"` kill the invocation. Here it is a 400.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use queue::MessageSink;

use crate::handler::{Receiver, Rejection, reject};

impl<S: MessageSink> Receiver<S> {
    /// Answers one Function URL invocation. Never fails: every outcome is an explicit status.
    pub async fn handle_event(&self, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let response = match request(event) {
            Ok(request) => self.handle(request).await,
            Err(rejection) => reject(rejection),
        };
        answer(response)
    }
}

/// The HTTP request an event describes: method, headers and the body's exact bytes.
pub fn request(event: ApiGatewayV2httpRequest) -> Result<Request, Rejection> {
    let body = match (event.body, event.is_base64_encoded) {
        (None, _) => Body::Empty,
        (Some(text), false) => Body::Text(text),
        (Some(text), true) => Body::Binary(
            STANDARD
                .decode(text.as_bytes())
                .map_err(|_| Rejection::InvalidBase64)?,
        ),
    };
    let mut request = Request::new(body);
    *request.method_mut() = event.request_context.http.method.clone();
    *request.headers_mut() = event.headers;
    Ok(request.with_request_context(RequestContext::ApiGatewayV2(event.request_context)))
}

/// The answer in the shape a Function URL expects (payload format 2.0).
pub fn answer(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(parts.status.as_u16());
    answer.headers = parts.headers;
    answer.is_base64_encoded = matches!(body, Body::Binary(_));
    answer.body = match body {
        Body::Empty => None,
        body => Some(body),
    };
    answer
}
