//! The receiver Lambda: a Lambda Function URL request → signature check → classification → SQS.
//! It makes no Immuta call and touches no database, so it answers in milliseconds, far inside
//! Immuta's 10-second delivery limit.
#![forbid(unsafe_code)]

pub mod config;
pub mod function_url;
pub mod handler;

pub use config::{ReceiverConfig, SECRET_VARIABLES};
pub use handler::{Receiver, Rejection, Triage, Unclassified};
pub use queue::{MessageSink, Outgoing, SendError};
