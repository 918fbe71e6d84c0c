//! When the last re-sync of every project was fanned out, kept beside the ledger so that every
//! processor sees it: a notification received before then needs no fan-out of its own
//! (`view_sync_core::fan_out`). It is one row of the scope marks table, under a scope kind that
//! no view's check reads (`allProjects`), in the table's unit (microseconds); the marks' pruning
//! removes it after a day without a fan-out, which costs at most one fan-out more.

use sqlx::AssertSqlSafe;

use crate::dialect::{Dialect, LedgerSql};
use crate::error::ViewsError;
use crate::handle::ViewStore;

const WHAT: &str = "the time of the last re-sync fan-out";
const SCOPE_KIND: &str = "allProjects";
const SCOPE_ID: &str = "*";

impl ViewStore {
    /// When the last fan-out of every project started (milliseconds since the Unix epoch).
    pub async fn last_fan_out_started_ms(&self) -> Result<Option<u64>, ViewsError> {
        self.ensure_ledger().await?;
        let p = |n| self.dialect().param(n);
        let sql = format!(
            "SELECT MAX(observed_at) AS started FROM {} WHERE scope_kind = {} AND scope_id = {}",
            self.marks_table(),
            p(1),
            p(2)
        );
        let started = sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql))
            .bind(SCOPE_KIND)
            .bind(SCOPE_ID)
            .fetch_one(self.pool())
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", WHAT))?;
        Ok(started.and_then(|micros| u64::try_from(micros / 1_000).ok()))
    }

    /// Records that a fan-out started at `started_ms`; a later one already recorded is kept.
    /// Call it once the fan-out's keys are queued: a fan-out that failed covers nothing.
    pub async fn record_fan_out_started(&self, started_ms: u64) -> Result<(), ViewsError> {
        self.ensure_ledger().await?;
        let table = self.marks_table();
        let p = |n| self.dialect().param(n);
        let (kind, id, at) = (p(1), p(2), p(3));
        let sql = match self.dialect() {
            Dialect::Postgres => format!(
                "INSERT INTO {table} AS m (scope_kind, scope_id, observed_at) VALUES ({kind}, {id}, {at}) \
                 ON CONFLICT (scope_kind, scope_id) DO UPDATE \
                 SET observed_at = GREATEST(m.observed_at, excluded.observed_at)"
            ),
            Dialect::Sqlite => format!(
                "INSERT INTO {table} (scope_kind, scope_id, observed_at) VALUES ({kind}, {id}, {at}) \
                 ON CONFLICT (scope_kind, scope_id) DO UPDATE \
                 SET observed_at = MAX(observed_at, excluded.observed_at)"
            ),
            Dialect::MySql => format!(
                "INSERT INTO {table} (scope_kind, scope_id, observed_at) VALUES ({kind}, {id}, {at}) \
                 ON DUPLICATE KEY UPDATE observed_at = GREATEST(observed_at, VALUES(observed_at))"
            ),
        };
        let micros = i64::try_from(started_ms)
            .unwrap_or(i64::MAX / 1_000)
            .saturating_mul(1_000);
        sqlx::query(AssertSqlSafe(sql))
            .bind(SCOPE_KIND)
            .bind(SCOPE_ID)
            .bind(micros)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))
    }
}
