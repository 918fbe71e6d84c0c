//! What the database's own catalog says, beside what the ledger says: the views in the store's
//! schema, so that a check (and a test) can hold the two side by side.

use std::collections::BTreeSet;

use sqlx::AssertSqlSafe;
use view_sync_core::plan::Scope;

use crate::dialect::Dialect;
use crate::error::ViewsError;
use crate::store::ViewStore;

impl ViewStore {
    /// Every view in the store's schema (SQLite: the database), as the ledger refers to them.
    pub async fn views_in_catalog(&self) -> Result<BTreeSet<String>, ViewsError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'view'",
            Dialect::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.views \
                 WHERE table_schema = COALESCE($1, current_schema())"
            }
            Dialect::MySql => {
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.VIEWS \
                 WHERE TABLE_SCHEMA = COALESCE(?, DATABASE())"
            }
        };
        let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
        if self.dialect() != Dialect::Sqlite {
            query = query.bind(self.location().schema.clone());
        }
        let names = query
            .fetch_all(self.pool())
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the catalog for", "the views"))?;
        Ok(names.iter().map(|name| self.reference(name)).collect())
    }

    /// The views the ledger says may exist (present or pending), as it refers to them.
    pub async fn views_in_ledger(&self) -> Result<BTreeSet<String>, ViewsError> {
        Ok(self
            .rows(&Scope::Everything)
            .await?
            .into_iter()
            .filter(|r| r.state.is_owned())
            .map(|r| r.view_name)
            .collect())
    }
}
