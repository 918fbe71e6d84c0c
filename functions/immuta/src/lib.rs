//! Client for the parts of the Immuta API that immuta-view-sync reads: data sources, projects,
//! project membership and the (configured) view SQL endpoint.
//!
//! - Auth: the API key as-is, or exchanged for a bearer token that is renewed once on 401.
//! - Every list is paged to the end; 404 is [`ImmutaError::NotFound`].
//! - 429 (honouring `Retry-After`), 5xx, timeouts and network errors are retried with
//!   exponential backoff and jitter, within `IMMUTA_MAX_ATTEMPTS` and the caller's deadline.
//! - At most `IMMUTA_MAX_CONCURRENCY` requests are on the wire at once.
#![forbid(unsafe_code)]

mod client;
pub mod config;
mod error;
pub mod model;
pub mod webhooks;

pub use client::ImmutaClient;
pub use config::{AuthMode, ImmutaConfig, ViewSqlEndpoint};
pub use error::ImmutaError;
