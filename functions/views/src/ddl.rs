//! How a statement is run. The statements themselves are decided in [`view_sync_core::apply`]
//! and [`view_sync_core::ddl`].

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe};
use view_sync_core::plan::ViewKey;

use view_sync_core::profile::{AddIndex, ErrorMeaning};

use crate::dialect::catalog_scalar;

use crate::error::{ViewsError, error_meaning, label};

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

/// Makes an index of the store's own table `table` as its profile says (`index`), once: made
/// at each process's start, so a creation that races another process's counts as made; where
/// the profile looks for it first (PostgreSQL, so as not to queue behind open sections for a
/// share lock on the table; MariaDB, which has no `IF NOT EXISTS`), one found is left as it is.
pub(crate) async fn make_index(
    pool: &AnyPool,
    index: AddIndex,
    table: &str,
) -> Result<(), ViewsError> {
    if let Some(find) = index.find {
        let found: Option<Option<String>> = catalog_scalar(find)
            .fetch_optional(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "look for the indexes of", table))?;
        if found.flatten().is_some() {
            return Ok(());
        }
    }
    let create = index.create;
    match sqlx::query(AssertSqlSafe(create)).execute(pool).await {
        Ok(_) => Ok(()),
        // Another process made the same index first (PostgreSQL: also the unique violation of
        // the catalog's name index when both made it at once).
        Err(e) if error_meaning(&e) == Some(ErrorMeaning::Exists) => Ok(()),
        Err(e) => Err(ViewsError::from_sqlx(e, "index", table)),
    }
}
