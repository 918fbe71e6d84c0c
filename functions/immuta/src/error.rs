use thiserror::Error;

pub use crate::answer::ShapeError;
use crate::endpoint::Endpoint;

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
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A list ended before the count it announced: it may be truncated, which is never a reason
    /// to drop a view.
    #[error(
        "Immuta's list {path} announced {count} item(s) but ended after {received}; it may be truncated, so nothing is decided from it"
    )]
    Truncated {
        path: String,
        count: u64,
        received: u64,
    },
    /// The pages of a list do not make one consistent list (see `paging`): nothing may be
    /// decided from it, least of all a drop.
    #[error(
        "Immuta's list {path} is not consistent across its pages: {detail}; nothing is decided from it"
    )]
    Inconsistent { path: String, detail: String },
    /// An answer over its endpoint's size limit, refused without reading past the limit.
    #[error(
        "Immuta's answer to {path} is over the {limit}-byte limit for {endpoint}{}; it was not read past the limit",
        declared.map(|bytes| format!(" (it declares {bytes} bytes)")).unwrap_or_default()
    )]
    TooLarge {
        endpoint: Endpoint,
        path: String,
        limit: u64,
        declared: Option<u64>,
    },
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
    /// Whether trying again later can succeed: rate limits, server errors, timeouts, network, a
    /// list that changed while it was paged.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout { .. }
            | Self::Connect { .. }
            | Self::OutOfTime { .. }
            | Self::Truncated { .. }
            | Self::Inconsistent { .. } => true,
            Self::NotFound { .. }
            | Self::Unauthorized { .. }
            | Self::Decode { .. }
            | Self::TooLarge { .. }
            | Self::Shape(_) => false,
        }
    }
}
