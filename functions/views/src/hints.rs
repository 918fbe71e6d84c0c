//! The newest disabled hint per data source, kept beside the ledger.
//!
//! Immuta documents no disabled state on a data source's answers; the `dataSourceUpdated`
//! notification carries `fields.disabled`. So the newest such hint decides when a read is silent
//! (see `view_sync_core::want`). SQS does not keep order, so a hint is written only if it was
//! received later than the one kept: an older hint delivered late never overrides a newer one.
//! On a tie (the same millisecond), disabled wins: it is the state that exposes no data.

use sqlx::{AnyPool, AssertSqlSafe, Row};
use view_sync_core::Id;
use view_sync_core::reads::DisabledHint;
use view_sync_core::want::DisabledHints;

use crate::dialect::{Dialect, LedgerSql};
use crate::error::ViewsError;

const WHAT: &str = "the disabled hints";

/// The hints' table.
pub(crate) struct Hints {
    /// Quoted and qualified.
    name: String,
    dialect: Dialect,
}

impl Hints {
    pub(crate) fn new(name: String, dialect: Dialect) -> Self {
        Self { name, dialect }
    }

    /// `CREATE TABLE` of the hints table.
    pub(crate) fn create_table(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (data_source_id VARCHAR(255) NOT NULL PRIMARY KEY, \
             disabled BIGINT NOT NULL, received_at_ms BIGINT NOT NULL)",
            &self.name
        )
    }

    /// Keeps each hint unless a newer one for its data source is already kept.
    pub(crate) async fn record(
        &self,
        pool: &AnyPool,
        hints: &[(Id, DisabledHint)],
    ) -> Result<(), ViewsError> {
        let p = |n| self.dialect.param(n);
        let table = &self.name;
        let newer = "excluded.received_at_ms > h.received_at_ms OR \
                     (excluded.received_at_ms = h.received_at_ms AND excluded.disabled > h.disabled)";
        let sql = match self.dialect {
            Dialect::Postgres => format!(
                "INSERT INTO {table} AS h (data_source_id, disabled, received_at_ms) VALUES ({}, {}, {}) \
                 ON CONFLICT (data_source_id) DO UPDATE SET disabled = excluded.disabled, \
                 received_at_ms = excluded.received_at_ms WHERE {newer}",
                p(1),
                p(2),
                p(3)
            ),
            // SQLite has no alias on INSERT: unqualified names are the kept row.
            Dialect::Sqlite => format!(
                "INSERT INTO {table} (data_source_id, disabled, received_at_ms) VALUES (?, ?, ?) \
                 ON CONFLICT (data_source_id) DO UPDATE SET disabled = excluded.disabled, \
                 received_at_ms = excluded.received_at_ms WHERE {}",
                newer.replace("h.", "")
            ),
            // Assignments run left to right and see the values already assigned, so `disabled`
            // is decided before `received_at_ms` moves.
            Dialect::MySql => format!(
                "INSERT INTO {table} (data_source_id, disabled, received_at_ms) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE \
                 disabled = IF({newer_mysql}, VALUES(disabled), disabled), \
                 received_at_ms = GREATEST(received_at_ms, VALUES(received_at_ms))",
                newer_mysql = "VALUES(received_at_ms) > received_at_ms OR \
                     (VALUES(received_at_ms) = received_at_ms AND VALUES(disabled) > disabled)"
            ),
        };
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))?;
        for (data_source, hint) in hints {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(data_source.as_str().to_owned())
                .bind(i64::from(hint.disabled))
                .bind(hint.received_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))?;
        }
        tx.commit()
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))
    }

    /// The data sources whose newest hint says disabled.
    pub(crate) async fn disabled(&self, pool: &AnyPool) -> Result<DisabledHints, ViewsError> {
        let sql = format!(
            "SELECT data_source_id, received_at_ms FROM {} WHERE disabled = 1",
            &self.name
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", WHAT))?;
        Ok(DisabledHints::new(rows.iter().filter_map(|row| {
            let id = Id::new(row.try_get::<String, _>("data_source_id").ok()?)?;
            let received_at_ms = row.try_get::<i64, _>("received_at_ms").ok()?;
            Some((
                id,
                DisabledHint {
                    disabled: true,
                    received_at_ms,
                },
            ))
        })))
    }
}
