//! The bodies of the fuzz targets. `fuzz/` (cargo-fuzz with libFuzzer, `make fuzz`) calls them
//! with the inputs it evolves; `tests/smoke.rs` calls them with the seed corpus and mutations of
//! it in every `make test`. Each asserts invariants, so a wrong answer is a crash too, not only a
//! panic.

use std::future::Future;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method};
use receiver::{MessageSink, Outgoing, Receiver, ReceiverConfig, SendError};
use view_sync_core::QueueMessage;
use view_sync_core::ddl::view_statements;
use view_sync_core::dialect::Dialect;
use view_sync_core::profile::view_location;
use view_sync_core::signature::{self, Algorithm, Secret};
use view_sync_core::view_sql::ViewSql;

/// The secret the fuzzed receiver verifies with.
pub const SECRET: &str = "immuta-view-sync-fuzz-secret";
/// SQS's limit on a message body.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// How the first input byte shapes a request.
pub mod flags {
    /// The body is sent base64-encoded (as a Function URL does for binary bodies).
    pub const BASE64: u8 = 1;
    /// The body is flagged base64 but sent as it is (mostly invalid base64).
    pub const FALSE_BASE64: u8 = 1 << 1;
    pub const SIGN_SHA256: u8 = 1 << 2;
    pub const SIGN_SHA1: u8 = 1 << 3;
    /// One character of each signature is changed.
    pub const CORRUPT_SIGNATURE: u8 = 1 << 4;
    pub const GET: u8 = 1 << 5;
    /// SQS refuses the message.
    pub const QUEUE_DOWN: u8 = 1 << 6;
}

/// A queue that keeps what it was sent, or refuses it.
#[derive(Default)]
struct Queue {
    down: Mutex<bool>,
    sent: Mutex<Vec<String>>,
}

impl MessageSink for &Queue {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        self.sent.lock().unwrap().push(message.body.clone());
        if *self.down.lock().unwrap() {
            return Err(SendError("the fuzzed queue is down".into()));
        }
        Ok("fuzz-message".into())
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime")
        })
        .block_on(future)
}

/// The receiver's whole request path: a Function URL event built from `data` — flags (see
/// [`flags`]), then header lines (`name: value`), a NUL, and the body — goes through
/// `Receiver::handle_event`, as the Lambda runtime delivers it. Invariants: every answer is one
/// of the documented statuses with a JSON body; nothing unsigned reaches the queue; what is
/// queued fits SQS and decodes as the processor decodes it; a refused send is a 503. Returns the
/// answer's status (`None` for an empty input).
pub fn receiver_request(data: &[u8]) -> Option<i64> {
    static QUEUE: OnceLock<Queue> = OnceLock::new();
    static RECEIVER: OnceLock<Receiver<&'static Queue>> = OnceLock::new();
    let queue = QUEUE.get_or_init(Queue::default);
    let receiver = RECEIVER.get_or_init(|| {
        let config = ReceiverConfig::from_lookup(|name| match name {
            "QUEUE_URL" => Some("https://sqs.invalid/queue".into()),
            "WEBHOOK_SECRETS" => Some(SECRET.into()),
            "FORWARD_TYPES" => Some("all".into()),
            "MAX_BODY_BYTES" => Some("65536".into()),
            _ => None,
        })
        .expect("the fuzzed receiver's configuration");
        Receiver::new(config, queue)
    });

    let (&flags, rest) = data.split_first()?;
    let (header_lines, body) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let mut headers = HeaderMap::new();
    for line in header_lines.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    // The bytes the receiver verifies: a text body is what a JSON string can carry.
    let (event_body, signed_bytes, is_base64) = if flags & flags::BASE64 != 0 {
        (STANDARD.encode(body), body.to_vec(), true)
    } else {
        let text = String::from_utf8_lossy(body).into_owned();
        let bytes = text.clone().into_bytes();
        (text, bytes, flags & flags::FALSE_BASE64 != 0)
    };
    let secret = Secret::new(SECRET);
    let mut signed = false;
    for (flag, algorithm) in [
        (flags::SIGN_SHA256, Algorithm::Sha256),
        (flags::SIGN_SHA1, Algorithm::Sha1),
    ] {
        if flags & flag == 0 {
            continue;
        }
        let mut hex = signature::sign(&secret, &signed_bytes, algorithm);
        if flags & flags::CORRUPT_SIGNATURE != 0 {
            let flipped = if hex.starts_with('0') { "1" } else { "0" };
            hex.replace_range(..1, flipped);
        } else {
            signed = true;
        }
        headers.insert(
            algorithm.header(),
            HeaderValue::from_str(&hex).expect("hex"),
        );
    }

    let mut event = ApiGatewayV2httpRequest::default();
    event.headers = headers;
    event.body = Some(event_body);
    event.is_base64_encoded = is_base64;
    event.request_context.http.method = if flags & flags::GET != 0 {
        Method::GET
    } else {
        Method::POST
    };
    *queue.down.lock().unwrap() = flags & flags::QUEUE_DOWN != 0;
    queue.sent.lock().unwrap().clear();

    let answer = block_on(receiver.handle_event(event));
    let sent = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert!(
        [200, 400, 401, 405, 413, 503].contains(&answer.status_code),
        "an undocumented status: {}",
        answer.status_code
    );
    let body = answer.body.expect("every answer has a body");
    let _: serde_json::Value = serde_json::from_slice(body.as_ref()).expect("answers are JSON");
    if !signed {
        // A valid signature for an unsigned or corrupted request is beyond any input's reach
        // (unless both a corrupted and a valid header were sent, which `signed` excludes).
        assert!(sent.is_empty(), "an unauthenticated request was queued");
        assert_ne!(
            answer.status_code, 200,
            "an unauthenticated request was accepted"
        );
    }
    for message in &sent {
        assert!(
            message.len() <= MAX_MESSAGE_BYTES,
            "{} bytes",
            message.len()
        );
        QueueMessage::decode(message).expect("the processor decodes what the receiver queues");
    }
    if !sent.is_empty() {
        let expected = if flags & flags::QUEUE_DOWN != 0 {
            503
        } else {
            200
        };
        assert_eq!(answer.status_code, expected);
    }
    Some(answer.status_code)
}

/// View SQL validation in every dialect, with and without a schema. Invariants: no panic; what
/// is accepted is run as one `CREATE VIEW` (and one replace, where the database has one) that
/// validates again, as itself, under the same name.
pub fn view_sql(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
        for schema in [None, Some("analytics")] {
            let location = view_location(dialect, schema.map(str::to_owned));
            let Ok(sql) = ViewSql::parse(text, &location) else {
                continue;
            };
            let name = sql.own_name().unwrap_or("fuzz_view").to_owned();
            let runs = view_statements(&sql, &location, &name);
            for statement in [Some(&runs.create), runs.replace.as_ref()]
                .into_iter()
                .flatten()
            {
                let again = ViewSql::parse(statement, &location).unwrap_or_else(|e| {
                    panic!("{dialect:?}: what runs does not validate: {e}\n{statement}")
                });
                assert_eq!(again.own_name(), Some(name.as_str()), "{statement}");
                assert_eq!(
                    view_statements(&again, &location, &name),
                    runs,
                    "{dialect:?}: printing what runs is not stable"
                );
            }
        }
    }
}
