//! The session's errors as sqlx's: what the database said as a database error (with its
//! SQLSTATE), what kept a connection from being made or kept as I/O (so that callers retry it).

use std::borrow::Cow;
use std::error::Error as StdError;

use sqlx_core::error::{DatabaseError, ErrorKind};

use super::placeholders::Rules;
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

    /// A statement refused before it reached the driver, as a native driver refuses it (a
    /// second statement where one is prepared, a placeholder with no value): SQLSTATE 42000,
    /// syntax error or access rule violation.
    pub(crate) fn refused(scheme: &'static str, detail: &str) -> Self {
        Self {
            sqlstate: "42000".to_owned(),
            native: 0,
            message: detail.to_owned(),
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
    let error = with_the_servers_refusal(error, scheme);
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

/// psqlODBC reports every failed login as SQLSTATE 08001, the server's own code (28P01 for a
/// wrong password, 28000 for a role it does not know or may not log in, or a `pg_hba.conf`
/// refusal) lost: read back from the server's message (its English wording), so that a refused
/// login is not retried as a network fault.
fn with_the_servers_refusal(error: OdbcError, scheme: &str) -> OdbcError {
    let postgres = Rules::of(scheme) == Rules::Postgres;
    match error {
        OdbcError::Database {
            sqlstate,
            native,
            message,
        } if postgres && sqlstate == "08001" && is_a_refused_login(&message) => {
            OdbcError::Database {
                sqlstate: "28000".to_owned(),
                native,
                message,
            }
        }
        other => other,
    }
}

fn is_a_refused_login(message: &str) -> bool {
    let unknown_role = message
        .split("role \"")
        .skip(1)
        .any(|rest| rest.contains("\" does not exist"));
    unknown_role
        || [
            "password authentication failed",
            "no pg_hba.conf entry",
            "no password supplied",
            "is not permitted to log in",
        ]
        .iter()
        .any(|said| message.contains(said))
}

#[cfg(test)]
mod tests {
    use super::is_a_refused_login;

    #[test]
    fn the_servers_refusals_of_a_login_are_read_from_its_words() {
        for refused in [
            "FATAL:  password authentication failed for user \"x\"",
            "FATAL:  role \"x\" does not exist",
            "FATAL:  no pg_hba.conf entry for host \"10.0.0.1\"",
            "fe_sendauth: no password supplied",
            "FATAL:  role \"x\" is not permitted to log in",
        ] {
            assert!(is_a_refused_login(refused), "{refused}");
        }
        for not_refused in [
            "FATAL:  database \"roles\" does not exist",
            "could not connect to server: Connection refused",
            "timeout expired",
        ] {
            assert!(!is_a_refused_login(not_refused), "{not_refused}");
        }
    }
}
