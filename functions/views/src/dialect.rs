//! What the ledger's own statements need from each dialect: placeholders and upserts.

pub use view_sync_core::dialect::Dialect;

/// The ledger's statements in each dialect.
pub trait LedgerSql {
    /// The placeholder for the `n`th (1-based) bound value.
    fn param(self, n: usize) -> String;
    /// The clause that turns an insert of the ledger's columns into an upsert on its key.
    fn upsert_clause(self) -> &'static str;
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
                 updated_at = excluded.updated_at"
            }
            Self::MySql => {
                "ON DUPLICATE KEY UPDATE view_name = VALUES(view_name), sql_digest = VALUES(sql_digest), \
                 state = VALUES(state), observed_at = VALUES(observed_at), updated_at = VALUES(updated_at)"
            }
        }
    }
}
