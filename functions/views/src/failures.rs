//! The last error of each queue message that failed, beside the ledger: what `view-sync dlq list`
//! shows for a dead letter, and `view-sync status` for the oldest notification still failing.
//! Written by the processor when a record fails; removed when a retried record succeeds (only a
//! record received more than once can have a row, so the first delivery costs nothing); rows
//! older than SQS keeps any message (14 days) are removed with them.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::dialect::{Dialect, LedgerSql};
use crate::error::ViewsError;
use crate::ledger::now_micros;

const WHAT: &str = "the failures of queue messages";

/// SQS keeps a message at most 14 days: a failure older than that has no message left.
const RETENTION_MICROS: i64 = 14 * 86_400 * 1_000_000;

/// Message ids per statement.
const IDS_PER_STATEMENT: usize = 500;

/// A queue message's last failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFailure {
    pub message_id: String,
    /// What the message asked for (a key, a notification type), for a person to read.
    pub asked: String,
    pub error: String,
    /// When the receiver accepted it (milliseconds since the Unix epoch; 0 if unknown).
    pub received_at_ms: i64,
    /// SQS's receive count when it failed.
    pub receive_count: i64,
    /// Microseconds since the Unix epoch.
    pub failed_at: i64,
}

/// The failures' table.
pub(crate) struct Failures {
    /// Quoted and qualified.
    name: String,
    dialect: Dialect,
}

impl Failures {
    pub(crate) fn new(name: String, dialect: Dialect) -> Self {
        Self { name, dialect }
    }

    /// `CREATE TABLE` of the failures' table.
    pub(crate) fn create_table(&self) -> String {
        let text = match self.dialect {
            Dialect::MySql => "MEDIUMTEXT",
            Dialect::Sqlite | Dialect::Postgres => "TEXT",
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (message_id VARCHAR(255) NOT NULL PRIMARY KEY, asked VARCHAR(1024) NOT NULL, \
             error {text} NOT NULL, received_at BIGINT NOT NULL, receive_count BIGINT NOT NULL, failed_at BIGINT NOT NULL)",
            self.name
        )
    }

    /// Keeps each message's failure, replacing an earlier one.
    pub(crate) async fn record(
        &self,
        pool: &AnyPool,
        failures: &[MessageFailure],
    ) -> Result<(), ViewsError> {
        let dialect = self.dialect;
        let upsert = match dialect {
            Dialect::Sqlite | Dialect::Postgres => {
                "ON CONFLICT (message_id) DO UPDATE SET asked = excluded.asked, error = excluded.error, \
                 received_at = excluded.received_at, receive_count = excluded.receive_count, \
                 failed_at = excluded.failed_at"
            }
            Dialect::MySql => {
                "ON DUPLICATE KEY UPDATE asked = VALUES(asked), error = VALUES(error), \
                 received_at = VALUES(received_at), receive_count = VALUES(receive_count), \
                 failed_at = VALUES(failed_at)"
            }
        };
        let params: Vec<String> = (1..=6).map(|n| dialect.param(n)).collect();
        let sql = format!(
            "INSERT INTO {} (message_id, asked, error, received_at, receive_count, failed_at) VALUES ({}) {upsert}",
            self.name,
            params.join(", ")
        );
        for failure in failures {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(failure.message_id.clone())
                .bind(failure.asked.clone())
                .bind(failure.error.clone())
                .bind(failure.received_at_ms)
                .bind(failure.receive_count)
                .bind(failure.failed_at)
                .execute(pool)
                .await
                .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))?;
        }
        Ok(())
    }

    /// Forgets the failures of messages that have now succeeded, and those older than any
    /// message can be.
    pub(crate) async fn clear(
        &self,
        pool: &AnyPool,
        message_ids: &[String],
    ) -> Result<(), ViewsError> {
        for chunk in message_ids.chunks(IDS_PER_STATEMENT) {
            let dialect = self.dialect;
            let ids: Vec<String> = (2..chunk.len() + 2).map(|n| dialect.param(n)).collect();
            let sql = format!(
                "DELETE FROM {} WHERE failed_at < {} OR message_id IN ({})",
                self.name,
                dialect.param(1),
                ids.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now_micros() - RETENTION_MICROS);
            for id in chunk {
                query = query.bind(id.clone());
            }
            query
                .execute(pool)
                .await
                .map_err(|e| ViewsError::from_sqlx(e, "clear", WHAT))?;
        }
        Ok(())
    }

    /// Forgets the failures older than any message can be (the scheduled re-sync calls it).
    pub(crate) async fn prune(&self, pool: &AnyPool) -> Result<u64, ViewsError> {
        let sql = format!(
            "DELETE FROM {} WHERE failed_at < {}",
            self.name,
            self.dialect.param(1)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(now_micros() - RETENTION_MICROS)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| ViewsError::from_sqlx(e, "prune", WHAT))
    }

    /// Every failure kept, oldest message first.
    pub(crate) async fn all(&self, pool: &AnyPool) -> Result<Vec<MessageFailure>, ViewsError> {
        let sql = format!(
            "SELECT message_id, asked, error, received_at, receive_count, failed_at FROM {} \
             ORDER BY received_at",
            self.name
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", WHAT))?;
        Ok(rows.iter().filter_map(failure).collect())
    }
}

fn failure(row: &AnyRow) -> Option<MessageFailure> {
    Some(MessageFailure {
        message_id: row.try_get("message_id").ok()?,
        asked: row.try_get("asked").ok()?,
        error: row.try_get("error").ok()?,
        received_at_ms: row.try_get("received_at").ok()?,
        receive_count: row.try_get("receive_count").ok()?,
        failed_at: row.try_get("failed_at").ok()?,
    })
}
