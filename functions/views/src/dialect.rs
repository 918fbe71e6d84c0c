//! What the ledger's own statements need from each dialect: placeholders and upserts.

pub use view_sync_core::dialect::Dialect;

/// The ledger's statements in each dialect.
pub trait LedgerSql {
    /// The placeholder for the `n`th (1-based) bound value.
    fn param(self, n: usize) -> String;
    /// The clause that turns an insert of the ledger's columns into an upsert on its key. A
    /// column left NULL by the insert (`applied_sql`) keeps its value.
    fn upsert_clause(self) -> &'static str;
    /// What follows the table of that insert, so that the clause can name the row it updates.
    fn upsert_alias(self) -> &'static str;
}

impl LedgerSql for Dialect {
    fn param(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::Sqlite | Self::MySql => "?".to_owned(),
        }
    }

    fn upsert_clause(self) -> &'static str {
        match self {
            Self::Sqlite | Self::Postgres => {
                "ON CONFLICT (project_id, data_source_id) DO UPDATE SET view_name = excluded.view_name, \
                 sql_digest = excluded.sql_digest, state = excluded.state, observed_at = excluded.observed_at, \
                 updated_at = excluded.updated_at, catalog_digest = excluded.catalog_digest, \
                 applied_sql = COALESCE(excluded.applied_sql, ledger_row.applied_sql), \
                 grants_digest = excluded.grants_digest, blocked_by = excluded.blocked_by"
            }
            Self::MySql => {
                "ON DUPLICATE KEY UPDATE view_name = VALUES(view_name), sql_digest = VALUES(sql_digest), \
                 state = VALUES(state), observed_at = VALUES(observed_at), updated_at = VALUES(updated_at), \
                 catalog_digest = VALUES(catalog_digest), applied_sql = COALESCE(VALUES(applied_sql), applied_sql), \
                 grants_digest = VALUES(grants_digest), blocked_by = VALUES(blocked_by)"
            }
        }
    }

    fn upsert_alias(self) -> &'static str {
        match self {
            Self::Sqlite | Self::Postgres => " AS ledger_row",
            // MariaDB names the row's own columns bare (and has no alias here).
            Self::MySql => "",
        }
    }
}
