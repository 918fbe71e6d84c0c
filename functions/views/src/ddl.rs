//! How a statement is run. The statements themselves are decided in [`view_sync_core::apply`]
//! and [`view_sync_core::ddl`].

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe};
use view_sync_core::plan::ViewKey;

use crate::error::{ViewsError, label};

/// A statement run so that the driver accepts one statement only: PostgreSQL's extended protocol
/// and MariaDB's prepared statements refuse a second one, so even a validation bug cannot chain
/// statements there. (sqlx's SQLite driver runs every statement of a string: there the guarantee
/// rests on `view_sql`, which prints what runs from one parsed statement.) Not cached: DDL runs
/// once per change.
pub(crate) fn one_statement(statement: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(statement)).persistent(false)
}

/// Runs one statement of `view`'s critical section; a failure says it was `action` that failed.
pub(crate) async fn run(
    conn: &mut AnyConnection,
    view: &ViewKey,
    statement: String,
    action: &'static str,
) -> Result<(), ViewsError> {
    one_statement(statement)
        .execute(&mut *conn)
        .await
        .map(drop)
        .map_err(|e| ViewsError::from_sqlx(e, action, &label(view)))
}
