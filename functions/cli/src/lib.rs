//! The operator commands of `view-sync`, over the same libraries as the Lambdas.
#![forbid(unsafe_code)]

pub mod doctor;
mod error;
pub mod register;
pub mod replay;
pub mod resync;

pub use error::CliError;
