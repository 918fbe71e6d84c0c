//! The audit trail beside the ledger: one row per change applied to a view (created, replaced,
//! restored from drift, dropped) and per decision superseded by a newer one, written in the
//! view's critical section: in the transaction of the change on SQLite and PostgreSQL, right
//! after the change under the view's named lock on MariaDB (whose DDL commits on its own).
//!
//! Each row says what was done (old and new SQL digests), what was known when (`observed_at`),
//! when it was applied, and why: the SQS messages and notification types of the batch's key, or
//! the re-sync that queued it, and the Lambda request.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use view_sync_core::Id;
use view_sync_core::plan::ViewKey;
use view_sync_core::profile::{self, AddIndex, NameError, StoreIndex};
use view_sync_core::view_sql::ViewLocation;

pub use view_sync_core::audit::{AuditEntry, Cause, Origin};

use crate::ddl;
use crate::dialect::{Dialect, LedgerSql};
use crate::error::{ViewsError, label};
use crate::ledger::now_micros;
use crate::statement::{Statement, Value};

const WHAT: &str = "the audit trail";

/// Which entries [`crate::ViewStore::audit`] returns, oldest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Applied at or after (microseconds since the Unix epoch).
    pub since: Option<i64>,
    /// A view, by its name with or without quotes and schema.
    pub view_name: Option<String>,
    pub project_id: Option<Id>,
    /// At most this many: the newest.
    pub limit: Option<usize>,
}

/// Lists are kept as comma-separated text: message ids and notification types have no commas.
fn joined(items: &[String]) -> String {
    items.join(",")
}

fn split(text: String) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The audit trail's table.
pub(crate) struct Audit {
    /// Quoted and qualified.
    name: String,
    /// The index on `applied_at` where it is not made with the table, as the profile makes it
    /// (or why it cannot name it).
    index: Option<Result<AddIndex, NameError>>,
    dialect: Dialect,
    /// Where the views are: a view named unqualified in a query is there.
    views: ViewLocation,
}

impl Audit {
    /// The trail of the ledger `ledger_table`, beside it in the views' schema.
    pub(crate) fn new(views: ViewLocation, ledger_table: &str) -> Self {
        let dialect = views.dialect;
        let schema = views.schema.as_deref();
        let table = format!("{ledger_table}_audit");
        let name = dialect.qualified(schema, &table);
        // MariaDB's is made with the table (an index inline, see `create_table`).
        let index = (dialect != Dialect::MySql).then(|| {
            profile::of(dialect).add_index(&StoreIndex {
                schema,
                table: &table,
                name: &format!("{table}_applied_at"),
                column: "applied_at",
                prefix: None,
            })
        });
        Self {
            name,
            index,
            dialect,
            views,
        }
    }

    /// `CREATE TABLE` of the trail (with its index on MariaDB/MySQL).
    pub(crate) fn create_table(&self) -> String {
        let dialect = self.dialect;
        let list = match dialect {
            Dialect::MySql => "MEDIUMTEXT",
            Dialect::Sqlite | Dialect::Postgres => "TEXT",
        };
        let inline_index = if dialect == Dialect::MySql {
            ", INDEX (applied_at)"
        } else {
            ""
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (applied_at BIGINT NOT NULL, project_id VARCHAR(255) NOT NULL, \
             data_source_id VARCHAR(255) NOT NULL, view_name VARCHAR(1024) NOT NULL, action VARCHAR(16) NOT NULL, \
             detail VARCHAR(1024) NOT NULL, old_digest VARCHAR(64) NOT NULL, new_digest VARCHAR(64) NOT NULL, \
             observed_at BIGINT NOT NULL, origin VARCHAR(16) NOT NULL, message_ids {list} NOT NULL, \
             notification_types {list} NOT NULL, request_id VARCHAR(255) NOT NULL{inline_index})",
            self.name
        )
    }

    /// Makes the index on `applied_at` where the table was made without it, once (see
    /// [`ddl::make_index`]).
    pub(crate) async fn add_index(&self, pool: &AnyPool) -> Result<(), ViewsError> {
        match &self.index {
            None => Ok(()),
            Some(Ok(index)) => ddl::make_index(pool, index.clone(), WHAT).await,
            Some(Err(e)) => Err(ViewsError::Unavailable(format!("{WHAT}'s index: {e}"))),
        }
    }

    /// Records one change in the audit trail, on the section's connection.
    pub(crate) async fn record(
        &self,
        conn: &mut AnyConnection,
        entry: &AuditEntry,
    ) -> Result<(), ViewsError> {
        self.record_statement(entry, 1)
            .execute(
                conn,
                "record the change in the audit trail of",
                &label(&entry.view),
            )
            .await
    }

    /// The insert of `entry`, its parameters numbered from `first`.
    pub(crate) fn record_statement(&self, entry: &AuditEntry, first: usize) -> Statement {
        let params: Vec<String> = (first..first + 13).map(|n| self.dialect.param(n)).collect();
        let sql = format!(
            "INSERT INTO {} (applied_at, project_id, data_source_id, view_name, action, detail, old_digest, \
             new_digest, observed_at, origin, message_ids, notification_types, request_id) VALUES ({})",
            self.name,
            params.join(", ")
        );
        let values = vec![
            entry.applied_at.into(),
            entry.view.project_id.as_str().into(),
            entry.view.data_source_id.as_str().into(),
            entry.view_name.clone().into(),
            entry.action.clone().into(),
            entry.detail.clone().into(),
            entry.old_digest.clone().into(),
            entry.new_digest.clone().into(),
            entry.observed_at.into(),
            entry.origin.clone().into(),
            joined(&entry.message_ids).into(),
            joined(&entry.notification_types).into(),
            entry.request_id.clone().into(),
        ];
        Statement { sql, values }
    }

    /// The entries `query` asks for, oldest first.
    pub(crate) async fn entries(
        &self,
        pool: &AnyPool,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, ViewsError> {
        let dialect = self.dialect;
        let mut conditions = Vec::new();
        let mut binds: Vec<Value> = Vec::new();
        if let Some(since) = query.since {
            binds.push(since.into());
            conditions.push(format!("applied_at >= {}", dialect.param(binds.len())));
        }
        if let Some(project) = &query.project_id {
            binds.push(project.as_str().into());
            conditions.push(format!("project_id = {}", dialect.param(binds.len())));
        }
        if let Some(name) = &query.view_name {
            let reference = match dialect.unqualified(name) {
                Some(_) => name.clone(),
                None => self.views.reference(name),
            };
            binds.push(reference.into());
            conditions.push(format!("view_name = {}", dialect.param(binds.len())));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let limit = query
            .limit
            .map(|n| format!(" LIMIT {n}"))
            .unwrap_or_default();
        let sql = format!(
            "SELECT applied_at, project_id, data_source_id, view_name, action, detail, old_digest, new_digest, \
             observed_at, origin, message_ids, notification_types, request_id FROM {}{filter} \
             ORDER BY applied_at DESC{limit}",
            self.name
        );
        let rows = Statement { sql, values: binds }
            .query()
            .fetch_all(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", WHAT))?;
        let mut entries: Vec<AuditEntry> = rows.iter().filter_map(audit_entry).collect();
        entries.reverse();
        Ok(entries)
    }

    /// Deletes the entries applied more than `retention_days` ago; returns how many.
    pub(crate) async fn prune(
        &self,
        pool: &AnyPool,
        retention_days: u32,
    ) -> Result<u64, ViewsError> {
        let before = now_micros() - i64::from(retention_days) * 86_400 * 1_000_000;
        let sql = format!(
            "DELETE FROM {} WHERE applied_at < {}",
            self.name,
            self.dialect.param(1)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| ViewsError::from_sqlx(e, "prune", WHAT))
    }

    /// When each project's views last changed (microseconds since the Unix epoch), as far as
    /// the audit trail remembers.
    pub(crate) async fn last_change_per_project(
        &self,
        pool: &AnyPool,
    ) -> Result<std::collections::BTreeMap<String, i64>, ViewsError> {
        let sql = format!(
            "SELECT project_id, MAX(applied_at) AS last_change FROM {} \
             WHERE action <> 'superseded' GROUP BY project_id",
            self.name
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", WHAT))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some((
                    row.try_get::<String, _>("project_id").ok()?,
                    row.try_get::<i64, _>("last_change").ok()?,
                ))
            })
            .collect())
    }
}

fn audit_entry(row: &AnyRow) -> Option<AuditEntry> {
    let text = |column: &str| row.try_get::<String, _>(column).ok();
    Some(AuditEntry {
        applied_at: row.try_get("applied_at").ok()?,
        view: ViewKey {
            project_id: Id::new(text("project_id")?)?,
            data_source_id: Id::new(text("data_source_id")?)?,
        },
        view_name: text("view_name")?,
        action: text("action")?,
        detail: text("detail")?,
        old_digest: text("old_digest")?,
        new_digest: text("new_digest")?,
        observed_at: row.try_get("observed_at").ok()?,
        origin: text("origin")?,
        message_ids: split(text("message_ids")?),
        notification_types: split(text("notification_types")?),
        request_id: text("request_id")?,
    })
}
