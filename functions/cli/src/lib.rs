//! The operator commands of `view-sync`, over the same libraries as the Lambdas.
#![forbid(unsafe_code)]

pub mod audit;
pub mod doctor;
mod error;
pub mod plan;
pub mod register;
pub mod replay;
pub mod resync;
pub mod time;

pub use error::CliError;
