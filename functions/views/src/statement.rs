//! A statement kept as its text and its values until it is sent, so that two writes of one
//! section can travel as one where the database allows it (PostgreSQL's data-modifying CTEs):
//! every statement of an apply is a round trip.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe};

use crate::error::ViewsError;

/// A value bound to a statement's parameter.
pub(crate) enum Value {
    Int(i64),
    Text(String),
    OptionalText(Option<String>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Self::OptionalText(value)
    }
}

/// SQL whose parameters are bound, in order, to `values`.
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
}

impl Statement {
    pub(crate) fn query(self) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql));
        for value in self.values {
            query = match value {
                Value::Int(value) => query.bind(value),
                Value::Text(value) => query.bind(value),
                Value::OptionalText(value) => query.bind(value),
            };
        }
        query
    }

    /// Runs the statement on `conn`; a failure is reported as `action` on `what` (see
    /// [`ViewsError::from_sqlx`]).
    pub(crate) async fn execute(
        self,
        conn: &mut AnyConnection,
        action: &'static str,
        what: &str,
    ) -> Result<(), ViewsError> {
        self.query()
            .execute(conn)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, action, what))
    }
}
