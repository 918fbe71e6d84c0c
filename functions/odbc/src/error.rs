use thiserror::Error;

/// What went wrong with an ODBC call. Never holds the connection string.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum OdbcError {
    /// The driver manager or the driver refused or failed the call, saying why.
    #[error("[{sqlstate}] {message}")]
    Database {
        /// The five-character SQLSTATE (`42P01`, `HYT00`, `08S01`, …).
        sqlstate: String,
        /// The driver's own number (MariaDB's error number; psqlODBC's is its own).
        native: i32,
        message: String,
    },
    /// The connection is gone: a call on it panicked or was stopped before it returned.
    #[error("the ODBC connection was lost: {0}")]
    Lost(String),
    /// Anything else the library reports (a value it could not read, a missing diagnostic).
    #[error("ODBC: {0}")]
    Other(String),
}

impl OdbcError {
    /// The SQLSTATE, where the driver gave one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Database { sqlstate, .. } => Some(sqlstate),
            _ => None,
        }
    }

    /// The driver's own error number, where the driver gave one.
    pub fn native(&self) -> Option<i32> {
        match self {
            Self::Database { native, .. } => Some(*native),
            _ => None,
        }
    }
}

impl From<odbc_api::Error> for OdbcError {
    fn from(error: odbc_api::Error) -> Self {
        match error {
            odbc_api::Error::Diagnostics { record, .. } => Self::Database {
                sqlstate: record.state.as_str().to_owned(),
                native: record.native_error,
                message: String::from_utf8_lossy(&record.message).trim().to_owned(),
            },
            other => Self::Other(other.to_string()),
        }
    }
}
