//! How a statement is run, and the DDL of the store's own objects (schemas). The statements of a
//! view's apply are decided in [`view_sync_core::apply`].

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};
use view_sync_core::dialect::Dialect;

pub(crate) use view_sync_core::apply::{Ddl, drop_view};

/// `CREATE SCHEMA` (PostgreSQL) or `CREATE DATABASE` (MariaDB) `IF NOT EXISTS` of `schema`.
pub(crate) fn create_schema(dialect: Dialect, schema: &str) -> String {
    let kind = match dialect {
        Dialect::Postgres => "SCHEMA",
        _ => "DATABASE",
    };
    format!("CREATE {kind} IF NOT EXISTS {}", dialect.quote(schema))
}

/// PostgreSQL: `create` (of a role or a schema named from a template, so `[a-z0-9_]` and safe
/// inside the block) succeeds when a concurrent session created the same object first. Its
/// unique violation would abort the section's transaction; inside a block it is caught there.
pub(crate) fn tolerating_a_concurrent_create(create: &str) -> String {
    format!(
        "DO $$ BEGIN {create}; \
         EXCEPTION WHEN duplicate_object OR duplicate_schema OR unique_violation THEN NULL; END $$"
    )
}

/// A statement run so that the driver accepts one statement only: PostgreSQL's extended protocol
/// and MariaDB's prepared statements refuse a second one, so even a validation bug cannot chain
/// statements there. (sqlx's SQLite driver runs every statement of a string: there the guarantee
/// rests on `view_sql`, which prints what runs from one parsed statement.) Not cached: DDL runs
/// once per change.
pub(crate) fn one_statement(statement: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(statement)).persistent(false)
}
