//! One logical request to Immuta: authentication (the key as-is, or a bearer token renewed once
//! on 401), at most `IMMUTA_MAX_CONCURRENCY` requests on the wire, and retries of 429, 5xx,
//! timeouts and network errors with jittered exponential backoff or the server's `Retry-After`,
//! within `IMMUTA_MAX_ATTEMPTS` and the caller's deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::{RwLock, Semaphore};

use crate::config::{AuthMode, ImmutaConfig};
use telemetry::{Metric, dimension};

use crate::endpoint::Endpoint;
use crate::error::ImmutaError;

/// Limit of error-body text kept in an error (Immuta's error bodies are undocumented).
const ERROR_BODY_LIMIT: usize = 300;
/// Bytes of an error's body read at most (the rest is never needed: see `ERROR_BODY_LIMIT`).
const ERROR_BODY_READ: u64 = 16 << 10;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured; a longer one ends the request as out of time, so that
/// the item is retried by SQS rather than by a sleeping Lambda.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(120);

pub(crate) struct Transport {
    http: reqwest::Client,
    config: ImmutaConfig,
    token: RwLock<Option<String>>,
    in_flight: Semaphore,
    jitter_state: AtomicU64,
}

enum Attempt {
    Done(Vec<u8>),
    Retry {
        error: ImmutaError,
        after: Option<Duration>,
    },
    Reauthenticate,
    Fail(ImmutaError),
}

impl Transport {
    pub fn new(config: ImmutaConfig) -> Result<Self, ImmutaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("immuta-view-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ImmutaError::Connect {
                path: config.base_url.clone(),
                detail: e.to_string(),
            })?;
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Ok(Self {
            http,
            in_flight: Semaphore::new(config.max_concurrency),
            config,
            token: RwLock::new(None),
            jitter_state: AtomicU64::new(seed | 1),
        })
    }

    pub fn config(&self) -> &ImmutaConfig {
        &self.config
    }

    /// One logical request: attempts until success, a permanent error, `max_attempts`, or the
    /// deadline. The concurrency permit is held only while a request is on the wire.
    pub async fn request(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Vec<u8>, ImmutaError> {
        let mut attempts = 0;
        let mut reauthenticated = false;
        // The last attempt's error, for an error that says the time ran out after it.
        let mut last_error: Option<String> = None;
        loop {
            let out_of_time = |attempts, why: &str, last: &Option<String>| ImmutaError::OutOfTime {
                path: path.to_owned(),
                attempts,
                last: match last {
                    Some(last) => format!("{last}; then {why}"),
                    None => why.to_owned(),
                },
            };
            // The wait for a free request slot counts against the deadline like any other.
            let Ok(permit) =
                tokio::time::timeout_at(deadline.into(), self.in_flight.acquire()).await
            else {
                let why = format!(
                    "all {} request slots (IMMUTA_MAX_CONCURRENCY) stayed busy until the deadline",
                    self.config.max_concurrency
                );
                return Err(out_of_time(attempts, &why, &last_error));
            };
            if Instant::now() >= deadline {
                return Err(out_of_time(
                    attempts,
                    "no time was left to try",
                    &last_error,
                ));
            }
            attempts += 1;
            let outcome = {
                let _permit = permit.expect("the semaphore is never closed");
                // A token exchange is counted as its own endpoint's request (`authenticate`), so
                // that this endpoint's count and latency are its own requests on the wire. It
                // and the wait for the token share the deadline with the request.
                let remaining = || {
                    deadline
                        .saturating_duration_since(Instant::now())
                        .min(self.config.request_timeout)
                };
                let authorization =
                    tokio::time::timeout_at(deadline.into(), self.authorization(remaining())).await;
                match authorization {
                    Err(_) => Attempt::Retry {
                        error: ImmutaError::Timeout {
                            path: "/bim/apikey/authenticate".into(),
                        },
                        after: None,
                    },
                    Ok(Err(error)) if error.is_retryable() => Attempt::Retry { error, after: None },
                    Ok(Err(error)) => Attempt::Fail(error),
                    Ok(Ok(authorization)) => {
                        let started = Instant::now();
                        let outcome = self
                            .attempt(
                                endpoint,
                                method.clone(),
                                path,
                                body,
                                authorization,
                                remaining(),
                            )
                            .await;
                        count_attempt(endpoint, started, &outcome);
                        outcome
                    }
                }
            };
            let (error, retry_after) = match outcome {
                Attempt::Done(bytes) => return Ok(bytes),
                Attempt::Fail(error) => return Err(error),
                Attempt::Reauthenticate if !reauthenticated => {
                    reauthenticated = true;
                    attempts -= 1;
                    *self.token.write().await = None;
                    continue;
                }
                Attempt::Reauthenticate => {
                    return Err(ImmutaError::Unauthorized {
                        path: path.to_owned(),
                    });
                }
                Attempt::Retry { error, after } => (error, after),
            };
            if attempts >= self.config.max_attempts {
                return Err(error);
            }
            let wait = next_wait(retry_after, self.backoff(attempts));
            if wait > RETRY_AFTER_CAP || Instant::now() + wait >= deadline {
                let why = format!("the next try was due in {} ms", wait.as_millis());
                return Err(out_of_time(attempts, &why, &Some(error.to_string())));
            }
            last_error = Some(error.to_string());
            telemetry::count(
                Metric::ImmutaRetries,
                &[(dimension::ENDPOINT, endpoint.name())],
            );
            tracing::debug!(path, attempts, wait_ms = wait.as_millis() as u64, error = %error, "retrying an Immuta request");
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        authorization: String,
        timeout: Duration,
    ) -> Attempt {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.config.base_url))
            .header(AUTHORIZATION, authorization)
            .timeout(timeout);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Attempt::Retry {
                    error: transport_error(path, &e),
                    after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers().get(RETRY_AFTER), SystemTime::now());
        let (limit, beyond) = body_limit(status, endpoint);
        let bytes = match read_bounded(response, limit, beyond).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge { declared }) => {
                return Attempt::Fail(ImmutaError::TooLarge {
                    endpoint,
                    path: path.to_owned(),
                    limit,
                    declared,
                });
            }
            Err(BodyError::Transport(e)) => {
                return Attempt::Retry {
                    error: transport_error(path, &e),
                    after: None,
                };
            }
        };
        classify(status, path, bytes, retry_after, self.config.auth)
    }

    async fn authorization(&self, timeout: Duration) -> Result<String, ImmutaError> {
        match self.config.auth {
            AuthMode::ApiKey => Ok(self.config.api_key.clone()),
            AuthMode::Token => {
                if let Some(token) = self.token.read().await.as_ref() {
                    return Ok(format!("Bearer {token}"));
                }
                let mut slot = self.token.write().await;
                if slot.is_none() {
                    *slot = Some(self.authenticate(timeout).await?);
                }
                Ok(format!("Bearer {}", slot.as_deref().unwrap_or_default()))
            }
        }
    }

    async fn authenticate(&self, timeout: Duration) -> Result<String, ImmutaError> {
        let started = Instant::now();
        let token = self.exchange_key(timeout).await;
        let outcome = match &token {
            Ok(_) => "ok",
            Err(error) => error_outcome(error),
        };
        count_request(Endpoint::Authenticate, started, outcome);
        token
    }

    async fn exchange_key(&self, timeout: Duration) -> Result<String, ImmutaError> {
        const PATH: &str = "/bim/apikey/authenticate";
        let response = self
            .http
            .post(format!("{}{PATH}", self.config.base_url))
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "apikey": self.config.api_key }).to_string())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(PATH, &e))?;
        let status = response.status();
        let (limit, beyond) = body_limit(status, Endpoint::Authenticate);
        let bytes = read_bounded(response, limit, beyond)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => transport_error(PATH, &e),
                BodyError::TooLarge { declared } => ImmutaError::TooLarge {
                    endpoint: Endpoint::Authenticate,
                    path: PATH.into(),
                    limit,
                    declared,
                },
            })?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImmutaError::Unauthorized { path: PATH.into() });
        }
        if !status.is_success() {
            return Err(status_error(PATH, status, &bytes));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| decode_error(PATH, e))?;
        Ok(crate::answer::Fields::of(Endpoint::Authenticate, &answer)?.text("token")?)
    }

    /// Exponential backoff with jitter: base × 2^(attempt-1), capped, scaled by 50–100 %.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = BACKOFF_BASE
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(BACKOFF_CAP);
        let mut x = self.jitter_state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state.store(x, Ordering::Relaxed);
        let scale = 0.5 + (x % 1_000) as f64 / 2_000.0;
        exponential.mul_f64(scale)
    }
}

/// One attempt in the metrics: `ImmutaRequests` by endpoint and outcome, `ImmutaLatency`.
fn count_attempt(endpoint: Endpoint, started: Instant, attempt: &Attempt) {
    let outcome = match attempt {
        Attempt::Done(_) => "ok",
        Attempt::Retry { error, .. } | Attempt::Fail(error) => error_outcome(error),
        Attempt::Reauthenticate => "unauthorized",
    };
    count_request(endpoint, started, outcome);
}

fn count_request(endpoint: Endpoint, started: Instant, outcome: &'static str) {
    let name = endpoint.name();
    telemetry::count(
        Metric::ImmutaRequests,
        &[(dimension::ENDPOINT, name), (dimension::OUTCOME, outcome)],
    );
    telemetry::record(
        Metric::ImmutaLatency,
        telemetry::elapsed_ms(started),
        &[(dimension::ENDPOINT, name)],
    );
}

/// How `ImmutaRequests` names a failed attempt.
fn error_outcome(error: &ImmutaError) -> &'static str {
    match error {
        ImmutaError::Status { status: 429, .. } => "429",
        ImmutaError::Status { status, .. } if *status >= 500 => "5xx",
        ImmutaError::Timeout { .. } => "timeout",
        ImmutaError::Connect { .. } => "network",
        _ => "client_error",
    }
}

/// The wait before the next attempt: the server's `Retry-After` where it asks for longer, but
/// never less than our own backoff, so that a `Retry-After` already past (or 0) cannot turn the
/// remaining attempts into a burst.
fn next_wait(retry_after: Option<Duration>, backoff: Duration) -> Duration {
    retry_after.map_or(backoff, |asked| asked.max(backoff))
}

/// How much of a body to read: an answer up to its endpoint's limit, an error's body (only ever
/// quoted in part) no more than that part needs.
fn body_limit(status: StatusCode, endpoint: Endpoint) -> (u64, Beyond) {
    if status.is_success() {
        (endpoint.answer_limit(), Beyond::Refuse)
    } else {
        (ERROR_BODY_READ, Beyond::Cut)
    }
}

/// What to do with the part of a body past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beyond {
    /// The answer is refused.
    Refuse,
    /// The body is kept up to the limit, the rest left unread (an error body, quoted in part).
    Cut,
}

#[derive(Debug)]
enum BodyError {
    TooLarge { declared: Option<u64> },
    Transport(reqwest::Error),
}

/// Reads a body as a stream, never holding more than `limit` bytes of it; a `Content-Length`
/// over the limit is refused before anything is read.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
    beyond: Beyond,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if beyond == Beyond::Refuse && declared.is_some_and(|bytes| bytes > limit) {
        return Err(BodyError::TooLarge { declared });
    }
    let capacity = declared.unwrap_or(0).min(limit).min(64 << 10);
    let mut body = Vec::with_capacity(capacity as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        let room = (limit as usize).saturating_sub(body.len());
        if chunk.len() > room {
            match beyond {
                Beyond::Refuse => return Err(BodyError::TooLarge { declared }),
                Beyond::Cut => {
                    body.extend_from_slice(&chunk[..room]);
                    break;
                }
            }
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(
    status: StatusCode,
    path: &str,
    body: Vec<u8>,
    retry_after: Option<Duration>,
    auth: AuthMode,
) -> Attempt {
    match status {
        s if s.is_success() => Attempt::Done(body),
        StatusCode::UNAUTHORIZED if auth == AuthMode::Token => Attempt::Reauthenticate,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Attempt::Fail(ImmutaError::Unauthorized {
                path: path.to_owned(),
            })
        }
        StatusCode::NOT_FOUND => Attempt::Fail(ImmutaError::NotFound {
            path: path.to_owned(),
        }),
        s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => Attempt::Retry {
            error: status_error(path, s, &body),
            after: retry_after,
        },
        s => Attempt::Fail(status_error(path, s, &body)),
    }
}

/// `Retry-After` in either form HTTP allows: delay-seconds, or an HTTP-date (IMF-fixdate, and the
/// obsolete RFC 850 and asctime forms). A date has a resolution of one second, and a server that
/// writes "now + its window" cuts the fraction off, so the wait runs to the end of the date's
/// second; a date already past means "now" (and [`next_wait`] still leaves the backoff).
fn retry_after(value: Option<&HeaderValue>, now: SystemTime) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(text).ok()? + Duration::from_secs(1);
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn status_error(path: &str, status: StatusCode, body: &[u8]) -> ImmutaError {
    let text = String::from_utf8_lossy(body);
    let mut body: String = text.chars().take(ERROR_BODY_LIMIT).collect();
    if text.chars().count() > ERROR_BODY_LIMIT {
        body.push('…');
    }
    ImmutaError::Status {
        path: path.to_owned(),
        status: status.as_u16(),
        body,
    }
}

fn transport_error(path: &str, error: &reqwest::Error) -> ImmutaError {
    if error.is_timeout() {
        return ImmutaError::Timeout {
            path: path.to_owned(),
        };
    }
    // The error chain names the host and the cause; the URL it may print holds no secret (the
    // key travels only in a header).
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(&e.to_string());
        source = e.source();
    }
    ImmutaError::Connect {
        path: path.to_owned(),
        detail,
    }
}

pub(crate) fn decode_error(path: &str, detail: impl std::fmt::Display) -> ImmutaError {
    ImmutaError::Decode {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_retry_or_failure() {
        let c = |status: u16, auth| {
            classify(
                StatusCode::from_u16(status).unwrap(),
                "/x",
                b"{}".to_vec(),
                None,
                auth,
            )
        };
        assert!(matches!(c(200, AuthMode::ApiKey), Attempt::Done(_)));
        assert!(matches!(
            c(404, AuthMode::ApiKey),
            Attempt::Fail(ImmutaError::NotFound { .. })
        ));
        assert!(matches!(
            c(401, AuthMode::ApiKey),
            Attempt::Fail(ImmutaError::Unauthorized { .. })
        ));
        assert!(matches!(c(401, AuthMode::Token), Attempt::Reauthenticate));
        assert!(matches!(c(429, AuthMode::ApiKey), Attempt::Retry { .. }));
        assert!(matches!(c(503, AuthMode::ApiKey), Attempt::Retry { .. }));
        assert!(matches!(
            c(400, AuthMode::ApiKey),
            Attempt::Fail(ImmutaError::Status { status: 400, .. })
        ));
    }

    #[test]
    fn error_bodies_are_cut() {
        let long = "x".repeat(1_000);
        let ImmutaError::Status { body, .. } =
            status_error("/x", StatusCode::BAD_GATEWAY, long.as_bytes())
        else {
            panic!()
        };
        assert_eq!(body.chars().count(), ERROR_BODY_LIMIT + 1);
    }

    #[test]
    fn retry_after_in_seconds_and_as_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let header = |text: &'static str| retry_after(Some(&HeaderValue::from_static(text)), now);
        assert_eq!(header("2"), Some(Duration::from_secs(2)));
        // A date runs to the end of its second.
        assert_eq!(
            header("Sun, 06 Nov 1994 08:49:40 GMT"),
            Some(Duration::from_secs(4))
        );
        // The obsolete forms HTTP recipients must accept.
        assert_eq!(
            header("Sunday, 06-Nov-94 08:49:47 GMT"),
            Some(Duration::from_secs(11))
        );
        assert_eq!(
            header("Sun Nov  6 08:49:38 1994"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            header("Sun, 06 Nov 1994 08:49:36 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            header("Sun, 06 Nov 1994 08:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(header("soon"), None);
        assert_eq!(retry_after(None, now), None);
    }

    #[test]
    fn a_retry_after_never_shortens_the_backoff() {
        let backoff = Duration::from_millis(400);
        assert_eq!(next_wait(Some(Duration::ZERO), backoff), backoff);
        assert_eq!(next_wait(None, backoff), backoff);
        assert_eq!(
            next_wait(Some(Duration::from_secs(2)), backoff),
            Duration::from_secs(2)
        );
    }
}
