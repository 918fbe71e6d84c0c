//! The processor Lambda: an SQS batch of queued notifications → reconcile keys → the current
//! state from Immuta → views created, replaced or dropped → the batch items that failed.
#![forbid(unsafe_code)]

pub mod batch;
pub mod config;
mod credentials;
mod error;
mod intake;
mod memberships;
pub mod reconcile;
mod resolve;
pub mod resync;
mod start;

pub use config::{ProcessorConfig, SECRET_VARIABLES};
pub use error::ReconcileError;
pub use reconcile::{PlannedChange, Preview, Reconciler, ViewOutcome};
pub use start::{StartError, cold_start};
