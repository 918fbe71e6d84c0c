//! The operator commands of `view-sync`, over the same libraries as the Lambdas.
#![forbid(unsafe_code)]

pub mod audit;
pub mod dlq;
pub mod doctor;
mod error;
pub mod history;
pub mod plan;
pub mod progress;
pub mod register;
pub mod replay;
pub mod resync;
pub mod status;

pub use error::CliError;
