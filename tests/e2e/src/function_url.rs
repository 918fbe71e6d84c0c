//! A Lambda Function URL on loopback for the receiver: each HTTP request becomes the Function URL
//! event JSON that AWS would deliver, goes to the receiver's runtime entry point
//! (`Receiver::handle_event`), and its Function URL answer goes back over HTTP. What the simulator's webhooks reach in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use receiver::{MessageSink, Receiver};
use serde_json::{Map, Value, json};

pub struct FunctionUrl {
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        self.server.abort();
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// The Function URL event (payload format 2.0) for one HTTP request.
pub fn event_json(method: &Method, headers: &HeaderMap, body: &[u8]) -> String {
    let mut header_map = Map::new();
    for (name, value) in headers {
        header_map.insert(
            name.as_str().to_owned(),
            Value::from(value.to_str().unwrap_or_default()),
        );
    }
    let text = std::str::from_utf8(body);
    let (body, encoded) = match text {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": header_map,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {"method": method.as_str(), "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": format!("local-{}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed)),
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": encoded
    })
    .to_string()
}

impl FunctionUrl {
    pub async fn start<S: MessageSink + 'static>(receiver: Arc<Receiver<S>>) -> FunctionUrl {
        let app = axum::Router::new()
            .fallback(invoke::<S>)
            .with_state(receiver);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FunctionUrl { url, server }
    }
}

async fn invoke<S: MessageSink + 'static>(
    State(receiver): State<Arc<Receiver<S>>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = event_json(&method, &headers, &body);
    let event: ApiGatewayV2httpRequest = match serde_json::from_str(&event) {
        Ok(event) => event,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(e.to_string()))
                .unwrap();
        }
    };
    let answer = receiver.handle_event(event).await;
    let mut response = Response::new(Body::from(
        answer.body.map(|b| b.as_ref().to_vec()).unwrap_or_default(),
    ));
    *response.status_mut() =
        StatusCode::from_u16(u16::try_from(answer.status_code).unwrap_or(500)).unwrap_or_default();
    *response.headers_mut() = answer.headers;
    response
}
