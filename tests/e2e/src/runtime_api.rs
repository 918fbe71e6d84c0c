//! A function binary started as Lambda starts `bootstrap`, against a stand-in Lambda Runtime API
//! on loopback: the binary asks for its next event (`GET /runtime/invocation/next`) and posts the
//! answer back, exactly as on Lambda, with the headers `lambda_runtime` reads. The benchmarks run
//! the release binaries this way, so that what they measure (wall time, peak memory, the EMF
//! documents on stdout) is the deployed function's and not a test process's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::trigger::{BatchProcessor, failed_ids, now_ms};
use crate::unique_name;

type Reply = oneshot::Sender<Result<Value, String>>;

struct Invocation {
    event: Value,
    deadline_ms: u64,
    reply: Reply,
}

#[derive(Clone)]
struct Shared {
    next: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    waiting: Arc<std::sync::Mutex<HashMap<String, Reply>>>,
}

/// A function process and the Runtime API it takes its events from.
pub struct LambdaProcess {
    child: Child,
    invocations: mpsc::UnboundedSender<Invocation>,
    output: PathBuf,
}

impl LambdaProcess {
    /// Starts `binary` with exactly `env` plus what Lambda sets (function name, memory, the
    /// Runtime API's address); its stdout and stderr go to a file ([`Self::output`]).
    pub async fn start(binary: &Path, name: &str, env: &[(&str, String)]) -> LambdaProcess {
        let (invocations, next) = mpsc::unbounded_channel();
        let shared = Shared {
            next: Arc::new(Mutex::new(next)),
            waiting: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API");
        let runtime_api = listener.local_addr().expect("local address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let output = std::env::temp_dir().join(format!("{}.log", unique_name(name)));
        let log = std::fs::File::create(&output).expect("create the function's log");
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", name)
            .env("AWS_LAMBDA_LOG_STREAM_NAME", name)
            .stdout(log.try_clone().expect("share the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        LambdaProcess {
            child,
            invocations,
            output,
        }
    }

    /// Invokes the function with `event` and `timeout` as its deadline; its answer, or the error
    /// it reported.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Value, String> {
        let (reply, answer) = oneshot::channel();
        self.invocations
            .send(Invocation {
                event,
                deadline_ms: now_ms() + timeout.as_millis() as u64,
                reply,
            })
            .map_err(|_| "the Runtime API is gone".to_owned())?;
        match tokio::time::timeout(timeout + Duration::from_secs(5), answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the invocation was dropped".to_owned()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    /// The process's peak resident memory (`VmHWM`), in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        peak_rss_mb(&format!("/proc/{}/status", self.child.id()))
    }

    /// Everything the function printed so far (logs and EMF documents).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.output);
    }
}

impl BatchProcessor for LambdaProcess {
    async fn process(&self, event: &Value, timeout: Duration) -> Result<Vec<String>, String> {
        let answer = self.invoke(event.clone(), timeout).await?;
        let response: aws_lambda_events::event::sqs::SqsBatchResponse =
            serde_json::from_value(answer.clone()).map_err(|e| {
                format!("the processor's answer {answer} is not a batch response: {e}")
            })?;
        Ok(failed_ids(&response))
    }
}

/// Peak resident memory (`VmHWM`) in MB from a `/proc/*/status` file; 0 when unreadable.
pub fn peak_rss_mb(status_file: &str) -> f64 {
    let status = std::fs::read_to_string(status_file).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

async fn next_event(State(shared): State<Shared>) -> (HeaderMap, String) {
    let invocation = shared.next.lock().await.recv().await;
    let Some(invocation) = invocation else {
        // Nothing will ever come: let the function wait, as Lambda's frozen sandbox does.
        return std::future::pending::<(HeaderMap, String)>().await;
    };
    let request_id = unique_name("invocation");
    let mut headers = HeaderMap::new();
    let header = |value: &str| HeaderValue::from_str(value).expect("a header value");
    headers.insert("lambda-runtime-aws-request-id", header(&request_id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&invocation.deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    headers.insert("content-type", header("application/json"));
    shared
        .waiting
        .lock()
        .unwrap()
        .insert(request_id, invocation.reply);
    (headers, invocation.event.to_string())
}

async fn response(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let answer = serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"));
    answered(&shared, &id, answer)
}

async fn error(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let error = String::from_utf8_lossy(&body).into_owned();
    answered(
        &shared,
        &id,
        Err(format!("the function reported an error: {error}")),
    )
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!(
        "the function failed its init: {}",
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}

fn answered(shared: &Shared, id: &str, answer: Result<Value, String>) -> StatusCode {
    match shared.waiting.lock().unwrap().remove(id) {
        Some(reply) => {
            let _ = reply.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Every value of `metric` in the EMF documents among a function's output lines (a number or an
/// array of numbers under the metric's name). No validation: `tests/metrics.rs` checks the format.
pub fn metric_values(output: &str, metric: &str) -> Vec<f64> {
    output
        .lines()
        .filter(|line| line.starts_with('{') && line.contains("\"_aws\""))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .flat_map(|document| match &document[metric] {
            Value::Number(n) => n.as_f64().into_iter().collect::<Vec<_>>(),
            Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
            _ => Vec::new(),
        })
        .collect()
}
