use thiserror::Error;

/// An Immuta API call that did not succeed. Messages name the request path, never the API key or
/// token (which travel only in the `Authorization` header).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImmutaError {
    #[error("Immuta has no {path} (404)")]
    NotFound { path: String },
    #[error(
        "Immuta refused the credentials for {path} (401/403); check IMMUTA_API_KEY and IMMUTA_AUTH"
    )]
    Unauthorized { path: String },
    #[error("Immuta answered {status} for {path}: {body}")]
    Status {
        path: String,
        status: u16,
        body: String,
    },
    #[error("Immuta did not answer {path} in time")]
    Timeout { path: String },
    #[error("could not reach Immuta for {path}: {detail}")]
    Connect { path: String, detail: String },
    #[error("Immuta's answer to {path} is not what we expect: {detail}")]
    Decode { path: String, detail: String },
    #[error(
        "gave up on {path} after {attempts} attempt(s): the time budget ran out (last error: {last})"
    )]
    OutOfTime {
        path: String,
        attempts: u32,
        last: String,
    },
}

impl ImmutaError {
    /// Whether trying again later can succeed: rate limits, server errors, timeouts, network.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout { .. } | Self::Connect { .. } | Self::OutOfTime { .. } => true,
            Self::NotFound { .. } | Self::Unauthorized { .. } | Self::Decode { .. } => false,
        }
    }
}
