use thiserror::Error;

use view_sync_core::profile::{self, ErrorCode, ErrorMeaning};

use crate::drivers;

/// A target-database failure. Messages never contain `DATABASE_URL` (it may hold a password).
/// `Clone`: a driver error is kept as its message, so one failure can fail every key it touches.
#[derive(Debug, Clone, Error)]
pub enum ViewsError {
    #[error("cannot reach the target database: {0}")]
    Unavailable(String),
    /// The database refused the credentials of `DATABASE_URL` (a rotated password, say): the
    /// processor reads its secret again (see [`crate::ViewStore::use_database_url`]).
    #[error("the target database refused our credentials: {0}")]
    Unauthenticated(String),
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
    /// The batch's deadline came before the view's apply could start: nothing was tried.
    #[error("no time left to apply {view}: the batch's deadline passed before it could start")]
    OutOfTime { view: String },
    #[error("timed out waiting for a lock on {view}: {}", holders(held_by))]
    LockTimeout {
        view: String,
        /// The sessions that hold it, where the database says (PostgreSQL, for a view's DDL).
        held_by: String,
    },
    /// The view could not take its newest definition, or be dropped, because objects we do not
    /// manage depend on it: it was closed (it shows no rows) until they are gone.
    #[error(
        "{view} ({name}) cannot be replaced in place or dropped while objects we do not manage \
         depend on it: {blockers}. It is closed (it and what is built on it show no rows) and \
         is tried again until they are dropped"
    )]
    Blocked {
        view: String,
        name: String,
        blockers: String,
    },
}

fn holders(held_by: &str) -> String {
    match held_by {
        "" => "another session (a reader, or another processor) holds it".to_owned(),
        held_by => format!("held by {held_by}"),
    }
}

/// A name another view of ours holds, as the pure plan found it (`plan::named_target`).
impl From<view_sync_core::plan::NameTaken> for ViewsError {
    fn from(taken: view_sync_core::plan::NameTaken) -> Self {
        Self::NameConflict {
            name: taken.name,
            project_id: taken.holder.project_id.to_string(),
            data_source_id: taken.holder.data_source_id.to_string(),
        }
    }
}

impl ViewsError {
    /// Unavailability and lock waits pass; a refused statement, a name conflict, refused
    /// credentials (read again before a retry) or a view blocked by what depends on it do not
    /// within one invocation: its message comes back, and each re-sync tries it again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::LockTimeout { .. } | Self::OutOfTime { .. }
        )
    }

    /// Maps a database error on `view`: connection-level problems become [`ViewsError::Unavailable`],
    /// a lock not granted in time (or a deadlock) [`ViewsError::LockTimeout`], refused
    /// credentials [`ViewsError::Unauthenticated`].
    pub(crate) fn from_sqlx(error: sqlx::Error, action: &'static str, view: &str) -> Self {
        if let sqlx::Error::Database(database) = &error {
            let meaning = meaning(database.as_ref());
            if meaning == Some(ErrorMeaning::LockWait) {
                return Self::LockTimeout {
                    view: view.to_owned(),
                    held_by: String::new(),
                };
            }
            if meaning == Some(ErrorMeaning::LoginRefused) {
                // The server's message names the user, never the password. MariaDB's shows its
                // codes; PostgreSQL's does not.
                let message = database.to_string();
                return Self::Unauthenticated(match database.code() {
                    Some(code) if !message.contains(code.as_ref()) => {
                        format!("{message} (SQLSTATE {code})")
                    }
                    _ => message,
                });
            }
        }
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

/// What a database's refusal means to the store (its profile's reading of the error's codes);
/// `None` for any other error.
pub fn error_meaning(error: &sqlx::Error) -> Option<ErrorMeaning> {
    match error {
        sqlx::Error::Database(database) => meaning(database.as_ref()),
        _ => None,
    }
}

/// What `error` means to the store, as the profile of the database that gave it reads its
/// SQLSTATE and native number.
pub(crate) fn meaning(error: &dyn sqlx::error::DatabaseError) -> Option<ErrorMeaning> {
    let (dialect, native) = drivers::origin(error)?;
    let sqlstate = error.code();
    profile::of(dialect).error_meaning(ErrorCode {
        sqlstate: sqlstate.as_deref(),
        native,
    })
}

/// How an error names one view.
pub(crate) fn label(view: &view_sync_core::plan::ViewKey) -> String {
    format!(
        "view of data source {} in project {}",
        view.data_source_id, view.project_id
    )
}
