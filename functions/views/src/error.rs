use thiserror::Error;

/// A target-database failure. Messages never contain `DATABASE_URL` (it may hold a password).
/// `Clone`: a driver error is kept as its message, so one failure can fail every key it touches.
#[derive(Debug, Clone, Error)]
pub enum ViewsError {
    #[error("cannot reach the target database: {0}")]
    Unavailable(String),
    #[error("the target database refused to {action} {view}: {detail}")]
    Refused {
        action: &'static str,
        view: String,
        detail: String,
    },
    #[error(
        "view name {name} is already managed for project {project_id}, data source {data_source_id}; choose a VIEW_NAME_TEMPLATE that tells them apart"
    )]
    NameConflict {
        name: String,
        project_id: String,
        data_source_id: String,
    },
    #[error("timed out waiting for the lock on view {view} (another processor holds it)")]
    LockTimeout { view: String },
}

impl ViewsError {
    /// Unavailability and lock waits pass; a refused statement or a name conflict does not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::LockTimeout { .. })
    }

    /// Maps a database error on `view`: connection-level problems become [`ViewsError::Unavailable`].
    pub(crate) fn from_sqlx(error: sqlx::Error, action: &'static str, view: &str) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Self::Unavailable(error.to_string()),
            other => Self::Refused {
                action,
                view: view.to_owned(),
                detail: other.to_string(),
            },
        }
    }
}
