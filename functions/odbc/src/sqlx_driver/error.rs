//! The session's errors as sqlx's: what the database said as a database error (with its
//! SQLSTATE), what kept a connection from being made or kept as I/O (so that callers retry it).

use std::borrow::Cow;
use std::error::Error as StdError;

use sqlx_core::error::{DatabaseError, ErrorKind};

use crate::error::OdbcError;

/// The database's refusal of a statement, as sqlx carries it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct OdbcDatabaseError {
    sqlstate: String,
    native: i32,
    message: String,
    scheme: &'static str,
}

impl OdbcDatabaseError {
    /// The driver's own error number (MariaDB's error number; psqlODBC's is its own).
    pub fn native(&self) -> i32 {
        self.native
    }

    /// What a native driver says of a prepared statement that holds a second one: refused
    /// before it reaches the driver (SQLSTATE 42000, syntax error or access rule violation).
    pub(crate) fn several_statements(scheme: &'static str) -> Self {
        Self {
            sqlstate: "42000".to_owned(),
            native: 0,
            message: "a statement with values holds one statement, and this one holds more \
                      (refused before it reached the driver)"
                .to_owned(),
            scheme,
        }
    }

    /// The scheme of the connection's URL (`odbc+mariadb`), which says whose numbers
    /// [`OdbcDatabaseError::native`] are.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }
}

impl DatabaseError for OdbcDatabaseError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.sqlstate))
    }

    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.sqlstate.as_str() {
            "23505" => ErrorKind::UniqueViolation,
            "23503" => ErrorKind::ForeignKeyViolation,
            "23502" => ErrorKind::NotNullViolation,
            "23514" => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// `error`, on a connection made with a URL of scheme `scheme`, as sqlx carries it.
pub(crate) fn database_error(error: OdbcError, scheme: &'static str) -> sqlx_core::Error {
    match error {
        // Class 08: the connection could not be made or was lost; HYT0x: a timeout of the
        // driver's own. The call may succeed on another connection or later.
        OdbcError::Database {
            sqlstate, message, ..
        } if sqlstate.starts_with("08") || sqlstate.starts_with("HYT0") => {
            sqlx_core::Error::Io(std::io::Error::other(format!("[{sqlstate}] {message}")))
        }
        OdbcError::Database {
            sqlstate,
            native,
            message,
        } => sqlx_core::Error::Database(Box::new(OdbcDatabaseError {
            sqlstate,
            native,
            message,
            scheme,
        })),
        OdbcError::Lost(what) => sqlx_core::Error::Io(std::io::Error::other(what)),
        OdbcError::Other(what) => sqlx_core::Error::Protocol(what),
    }
}
