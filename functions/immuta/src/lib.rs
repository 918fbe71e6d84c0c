//! Client for the parts of the Immuta API that immuta-view-sync reads: data sources, projects,
//! project membership, webhooks and the (configured) view SQL endpoint.
//!
//! - Answers are read tolerantly ([`answer`]) into the plain models of `view_sync_core::reads`
//!   ([`model`]): unused fields never matter, a needed field that is missing or mistyped is an
//!   error naming the endpoint and the field.
//! - Auth, bounded concurrency and retries live in `transport`; every list is paged to the end
//!   by one helper, and a list that may be truncated is an error, never a shorter list.
//! - 404 is [`ImmutaError::NotFound`]; 429 (honouring `Retry-After` in both of its forms), 5xx,
//!   timeouts and network errors are retried within `IMMUTA_MAX_ATTEMPTS` and the deadline.
#![forbid(unsafe_code)]

pub mod answer;
mod client;
pub mod config;
mod contract;
pub mod endpoint;
mod error;
pub mod model;
mod paging;
mod transport;
pub mod webhooks;

pub use answer::ShapeError;
pub use client::ImmutaClient;
pub use config::{AuthMode, ImmutaConfig, ViewSqlEndpoint};
pub use endpoint::Endpoint;
pub use error::ImmutaError;
