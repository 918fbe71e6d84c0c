//! What the store's own statements need from each dialect: placeholders, as the dialect's
//! profile (`view_sync_core::profile`) writes them, as it writes the ledger's table and upsert;
//! and its catalog reads as queries.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryScalar};
use sqlx::{Any, AssertSqlSafe, FromRow};
pub use view_sync_core::dialect::Dialect;
use view_sync_core::profile::{self, CatalogRead};

/// The placeholders of the store's statements in each dialect.
pub trait LedgerSql {
    /// The placeholder for the `n`th (1-based) bound value.
    fn param(self, n: usize) -> String;
}

impl LedgerSql for Dialect {
    fn param(self, n: usize) -> String {
        profile::of(self).placeholder(n)
    }
}

/// A profile's catalog read as a query, its values bound in order.
pub(crate) fn catalog_query(read: CatalogRead) -> Query<'static, Any, AnyArguments> {
    read.binds
        .into_iter()
        .fold(sqlx::query(AssertSqlSafe(read.statement)), |query, bind| {
            query.bind(bind)
        })
}

/// A profile's catalog read of one column as a query, its values bound in order.
pub(crate) fn catalog_scalar<O>(read: CatalogRead) -> QueryScalar<'static, Any, O, AnyArguments>
where
    (O,): for<'r> FromRow<'r, AnyRow>,
{
    read.binds.into_iter().fold(
        sqlx::query_scalar(AssertSqlSafe(read.statement)),
        |query, bind| query.bind(bind),
    )
}
