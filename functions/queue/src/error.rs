//! What can go wrong with a queue: a message it did not accept, and an operator's action on it.

use thiserror::Error;

#[derive(Debug, Clone, Error)]
#[error("the queue did not accept the message: {0}")]
pub struct SendError(pub String);

#[derive(Debug, Clone, Error)]
#[error("{action} {queue}: {detail}")]
pub struct QueueError {
    pub(crate) action: &'static str,
    pub(crate) queue: String,
    pub(crate) detail: String,
}
