//! The HTTP client: authentication, bounded concurrency, retries with backoff, paging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::{RwLock, Semaphore};
use view_sync_core::Id;

use crate::config::{AuthMode, ImmutaConfig, ViewSqlEndpoint};
use crate::error::ImmutaError;
use crate::model::{
    DataSource, EqualizationState, Page, Project, ProjectDataSource, ProjectSummary,
};

/// Limit of error-body text kept in an error (Immuta's error bodies are undocumented).
const ERROR_BODY_LIMIT: usize = 300;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// Immuta's default page size of `GET /project/{id}/dataSources` is 15; we always send ours.
const PROJECT_DATA_SOURCES_PAGE: &str = "dataSources";

pub struct ImmutaClient {
    http: reqwest::Client,
    config: ImmutaConfig,
    token: RwLock<Option<String>>,
    in_flight: Semaphore,
    jitter_state: AtomicU64,
}

impl std::fmt::Debug for ImmutaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImmutaClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
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

impl ImmutaClient {
    pub fn new(config: ImmutaConfig) -> Result<Self, ImmutaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("immuta-view-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ImmutaError::Connect {
                path: config.base_url.clone(),
                detail: e.to_string(),
            })?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
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

    /// `GET /dataSource/{id}`.
    pub async fn data_source(&self, id: &Id, deadline: Instant) -> Result<DataSource, ImmutaError> {
        self.get_json(&format!("/dataSource/{}", encode(id.as_str())), deadline)
            .await
    }

    /// `GET /project/{id}`.
    pub async fn project(&self, id: &Id, deadline: Instant) -> Result<Project, ImmutaError> {
        self.get_json(&format!("/project/{}", encode(id.as_str())), deadline)
            .await
    }

    /// `GET /project/{id}/checkEqualizationState`.
    pub async fn equalization_state(
        &self,
        id: &Id,
        deadline: Instant,
    ) -> Result<EqualizationState, ImmutaError> {
        self.get_json(
            &format!("/project/{}/checkEqualizationState", encode(id.as_str())),
            deadline,
        )
        .await
    }

    /// Every equalized project containing the data source (project search, all pages).
    pub async fn equalized_projects_with(
        &self,
        data_source: &Id,
        deadline: Instant,
    ) -> Result<Vec<ProjectSummary>, ImmutaError> {
        let path = format!(
            "{}?isEqualized=true&dataSourceId={}",
            self.config.project_search_path,
            encode(data_source.as_str())
        );
        self.all_pages(&path, deadline).await
    }

    /// Every equalized project (project search without a data source, all pages).
    pub async fn equalized_projects(
        &self,
        deadline: Instant,
    ) -> Result<Vec<ProjectSummary>, ImmutaError> {
        let path = format!("{}?isEqualized=true", self.config.project_search_path);
        self.all_pages(&path, deadline).await
    }

    /// Every data source of the project (all pages).
    pub async fn project_data_sources(
        &self,
        project: &Id,
        deadline: Instant,
    ) -> Result<Vec<ProjectDataSource>, ImmutaError> {
        let path = format!(
            "/project/{}/{PROJECT_DATA_SOURCES_PAGE}",
            encode(project.as_str())
        );
        self.all_pages(&path, deadline).await
    }

    /// The SQL of the native view of `data_source` in `project`, from the configured endpoint.
    pub async fn view_sql(
        &self,
        endpoint: &ViewSqlEndpoint,
        project: &Id,
        data_source: &Id,
        deadline: Instant,
    ) -> Result<String, ImmutaError> {
        let path = endpoint
            .path
            .replace("{projectId}", &encode(project.as_str()))
            .replace("{dataSourceId}", &encode(data_source.as_str()));
        let body = self.request(Method::GET, &path, None, deadline).await?;
        let text =
            String::from_utf8(body).map_err(|_| decode_error(&path, "the answer is not UTF-8"))?;
        let Some(pointer) = &endpoint.json_pointer else {
            return Ok(text);
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| decode_error(&path, e))?;
        match json.pointer(pointer) {
            Some(serde_json::Value::String(sql)) => Ok(sql.clone()),
            Some(_) => Err(decode_error(
                &path,
                format!("VIEW_SQL_JSON_POINTER {pointer} does not point at a string"),
            )),
            None => Err(decode_error(
                &path,
                format!("VIEW_SQL_JSON_POINTER {pointer} matches nothing in the answer"),
            )),
        }
    }

    pub(crate) async fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        deadline: Instant,
    ) -> Result<Vec<T>, ImmutaError> {
        let size = self.config.page_size;
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut offset: u64 = 0;
        loop {
            let page: Page<T> = self
                .get_json(
                    &format!("{path}{separator}offset={offset}&size={size}"),
                    deadline,
                )
                .await?;
            let received = page.items.len() as u64;
            items.extend(page.items);
            offset += received;
            let done = match page.count {
                Some(count) => offset >= count,
                // No count (as in the seed's example): a short page is the last one.
                None => received < u64::from(size),
            };
            if done || received == 0 {
                return Ok(items);
            }
        }
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        deadline: Instant,
    ) -> Result<T, ImmutaError> {
        let body = self.request(Method::GET, path, None, deadline).await?;
        serde_json::from_slice(&body).map_err(|e| decode_error(path, e))
    }

    /// One logical request: attempts until success, a permanent error, `max_attempts`, or the
    /// deadline. The concurrency permit is held only while a request is on the wire.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Vec<u8>, ImmutaError> {
        let mut attempts = 0;
        let mut reauthenticated = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ImmutaError::OutOfTime {
                    path: path.to_owned(),
                    attempts,
                    last: "no time left to try".into(),
                });
            }
            attempts += 1;
            let outcome = {
                let _permit = self
                    .in_flight
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                self.attempt(
                    method.clone(),
                    path,
                    body,
                    remaining.min(self.config.request_timeout),
                )
                .await
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
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempts));
            if Instant::now() + wait >= deadline {
                return Err(ImmutaError::OutOfTime {
                    path: path.to_owned(),
                    attempts,
                    last: error.to_string(),
                });
            }
            tracing::debug!(path, attempts, wait_ms = wait.as_millis() as u64, error = %error, "retrying an Immuta request");
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Attempt {
        let authorization = match self.authorization(timeout).await {
            Ok(value) => value,
            Err(error) if error.is_retryable() => return Attempt::Retry { error, after: None },
            Err(error) => return Attempt::Fail(error),
        };
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
        let retry_after = retry_after(response.headers().get(RETRY_AFTER));
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                return Attempt::Retry {
                    error: transport_error(path, &e),
                    after: None,
                };
            }
        };
        classify(status, path, bytes.to_vec(), retry_after, self.config.auth)
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
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(PATH, &e))?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImmutaError::Unauthorized { path: PATH.into() });
        }
        if !status.is_success() {
            return Err(status_error(PATH, status, &bytes));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: String,
        }
        serde_json::from_slice::<Token>(&bytes)
            .map(|t| t.token)
            .map_err(|e| decode_error(PATH, e))
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

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and falls back to backoff).
fn retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(60)))
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
        ImmutaError::Timeout {
            path: path.to_owned(),
        }
    } else {
        // `without_url`: the URL is already in `path`, and nothing else in it is ours to show.
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
}

pub(crate) fn decode_error(path: &str, detail: impl std::fmt::Display) -> ImmutaError {
    ImmutaError::Decode {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

/// Percent-encodes an id for use as a path segment or query value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
    fn error_bodies_are_cut_and_ids_encoded() {
        let long = "x".repeat(1_000);
        let ImmutaError::Status { body, .. } =
            status_error("/x", StatusCode::BAD_GATEWAY, long.as_bytes())
        else {
            panic!()
        };
        assert_eq!(body.chars().count(), ERROR_BODY_LIMIT + 1);
        assert_eq!(encode("a b/1"), "a%20b%2F1");
        assert_eq!(
            retry_after(Some(&reqwest::header::HeaderValue::from_static("2"))),
            Some(Duration::from_secs(2))
        );
    }
}
