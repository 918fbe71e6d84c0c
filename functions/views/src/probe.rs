//! A probe of the database's rights for `view-sync doctor`: a view is created in `VIEW_SCHEMA`
//! over a query, read and dropped again, so an operator learns before the first deploy whether
//! the user may do what the processor does.

use sqlx::AssertSqlSafe;

use crate::ddl::one_statement;
use crate::error::ViewsError;
use crate::handle::ViewStore;

/// The probe view's name; nothing else uses it.
pub const PROBE_VIEW: &str = "immuta_view_sync_doctor_probe";

impl ViewStore {
    /// Creates the probe view over `query`, reads one row from it and drops it again. The view is
    /// dropped whatever happened after it was created.
    pub async fn probe_view(&self, query: &str) -> Result<(), ViewsError> {
        self.ensure_ledger().await?;
        let name = self.reference(PROBE_VIEW);
        let run = |statement: String, action: &'static str| async move {
            one_statement(statement)
                .execute(self.pool())
                .await
                .map(drop)
                .map_err(|e| ViewsError::from_sqlx(e, action, PROBE_VIEW))
        };
        // A probe left behind by an interrupted run.
        run(format!("DROP VIEW IF EXISTS {name}"), "drop").await?;
        run(format!("CREATE VIEW {name} AS {query}"), "create").await?;
        let read = sqlx::query(AssertSqlSafe(format!("SELECT * FROM {name} LIMIT 1")))
            .fetch_optional(self.pool())
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "read", PROBE_VIEW));
        let dropped = run(format!("DROP VIEW {name}"), "drop").await;
        read.and(dropped)
    }
}
