//! "Decided as of" marks per scope, beside the ledger (DESIGN.md, "the newer read must win").
//!
//! A reconcile of a data source or a project marks its scope with its `observed_at` once it has
//! read Immuta, before it reads the ledger's rows; a create or replace older than the newest mark
//! of a scope covering its view is superseded (`plan::check_scope_marks`). Without marks an older
//! read could create a view for a source that a newer read found deleted: with no view to drop,
//! the newer read wrote nothing that the older one could see.
//!
//! A view's critical section must not miss a mark written while it runs, or a create could slip
//! in between the newer read's mark and its read of the rows. Per database:
//!
//! | database | the mark's write (then the newer read reads the rows) | a create's critical section |
//! | --- | --- | --- |
//! | SQLite | a write transaction | a write transaction: one runs entirely before the other |
//! | PostgreSQL | holds exclusive advisory locks on its scopes | holds shared advisory locks on its view's scopes from its start |
//! | MariaDB/MySQL | committed on its own | records its intent row, then reads the marks: whichever writes second reads the other's write (`GET_LOCK` has no shared mode) |
//!
//! The batch's marks are written in one statement, after its Immuta reads and before any of its
//! keys reads the ledger.
//!
//! Marks are only ever written, never a reason to drop. One row per scope, so the table grows
//! with the tenant, not with time; marks far older than any reconcile can run are pruned.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AssertSqlSafe};
use view_sync_core::Id;
use view_sync_core::plan::{Scope, ScopeKind, ViewKey};

use crate::dialect::{Dialect, LedgerSql};
use crate::error::ViewsError;
use crate::handle::{ViewStore, label};
use crate::ledger::now_micros;

const WHAT: &str = "the scope marks";

/// How long a mark is kept. A mark matters to decisions observed before it and still being
/// applied; a reconcile ends within its invocation (15 minutes at most on Lambda), so a day is
/// far beyond any that can still be running.
const RETENTION_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Scopes marked per statement: far below every database's limit on bound values.
const MARKS_PER_STATEMENT: usize = 500;

/// How often a process prunes (at most).
const PRUNE_EVERY_MICROS: i64 = 3600 * 1_000_000;

impl ViewStore {
    /// `CREATE TABLE` of the marks table.
    pub(crate) fn marks_table_ddl(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (scope_kind VARCHAR(16) NOT NULL, scope_id VARCHAR(255) NOT NULL, \
             observed_at BIGINT NOT NULL, PRIMARY KEY (scope_kind, scope_id))",
            self.marks_table()
        )
    }

    /// Marks each of `scopes` decided as of `observed_at` (a newer mark is kept): one statement
    /// per [`MARKS_PER_STATEMENT`] scopes, so a batch pays for its marks once, not per key.
    /// Scopes without marks ([`Scope::mark`]) need nothing.
    pub async fn mark_decided(&self, scopes: &[Scope], observed_at: i64) -> Result<(), ViewsError> {
        let marks: BTreeSet<(ScopeKind, &Id)> = scopes.iter().filter_map(Scope::mark).collect();
        if marks.is_empty() {
            return Ok(());
        }
        self.ensure_ledger().await?;
        let marks: Vec<_> = marks.into_iter().collect();
        for chunk in marks.chunks(MARKS_PER_STATEMENT) {
            self.write_marks(chunk, observed_at).await?;
        }
        self.prune_marks_now_and_then().await
    }

    /// One statement, committed on its own. On PostgreSQL it first takes the scopes' exclusive
    /// advisory locks, in increasing order (as every section takes its shared ones), and holds
    /// them until it commits.
    async fn write_marks(
        &self,
        marks: &[(ScopeKind, &Id)],
        observed_at: i64,
    ) -> Result<(), ViewsError> {
        let table = self.marks_table();
        let dialect = self.dialect();
        let mut n = 0;
        let mut next = || {
            n += 1;
            dialect.param(n)
        };
        let rows = marks
            .iter()
            .map(|_| format!("({}, {}, {})", next(), next(), next()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut lock_keys: Vec<i64> = marks
            .iter()
            .map(|(kind, id)| self.scope_lock_key(*kind, id))
            .collect();
        lock_keys.sort_unstable();
        lock_keys.dedup();
        let upsert = match dialect {
            // A CTE with volatile functions is evaluated, once, before the insert reads its
            // rows; VALUES yields its rows in the order written.
            Dialect::Postgres => format!(
                "WITH scope_locks AS (SELECT count(*) AS taken FROM \
                 (SELECT pg_advisory_xact_lock(k) FROM (VALUES {locks}) AS keys (k)) AS locked) \
                 INSERT INTO {table} AS m (scope_kind, scope_id, observed_at) \
                 SELECT v.scope_kind, v.scope_id, v.observed_at FROM scope_locks \
                 CROSS JOIN (VALUES {rows}) AS v (scope_kind, scope_id, observed_at) \
                 ON CONFLICT (scope_kind, scope_id) DO UPDATE \
                 SET observed_at = GREATEST(m.observed_at, excluded.observed_at)",
                locks = lock_keys
                    .iter()
                    .map(|_| format!("({}::bigint)", next()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            // SQLite has no alias on INSERT: unqualified names are the kept row.
            Dialect::Sqlite => format!(
                "INSERT INTO {table} (scope_kind, scope_id, observed_at) VALUES {rows} \
                 ON CONFLICT (scope_kind, scope_id) DO UPDATE \
                 SET observed_at = MAX(observed_at, excluded.observed_at)"
            ),
            Dialect::MySql => format!(
                "INSERT INTO {table} (scope_kind, scope_id, observed_at) VALUES {rows} \
                 ON DUPLICATE KEY UPDATE observed_at = GREATEST(observed_at, VALUES(observed_at))"
            ),
        };
        let mut query = sqlx::query(AssertSqlSafe(upsert));
        for (kind, id) in marks {
            query = query
                .bind(kind.as_str())
                .bind(id.as_str().to_owned())
                .bind(observed_at);
        }
        if dialect == Dialect::Postgres {
            for key in lock_keys {
                query = query.bind(key);
            }
        }
        query
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))
    }

    /// The newest mark of the scopes covering `view`, read in its critical section.
    pub(crate) async fn newest_mark(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
    ) -> Result<Option<i64>, ViewsError> {
        let p = |n| self.dialect().param(n);
        let sql = format!(
            "SELECT MAX(observed_at) AS newest FROM {} WHERE (scope_kind = {} AND scope_id = {}) \
             OR (scope_kind = {} AND scope_id = {})",
            self.marks_table(),
            p(1),
            p(2),
            p(3),
            p(4)
        );
        let mut query = sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql));
        for (kind, id) in view.covering_marks() {
            query = query.bind(kind.as_str()).bind(id.as_str().to_owned());
        }
        query
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the scope marks of", &label(view)))
    }

    /// PostgreSQL advisory lock keys of the scopes covering `view`, in increasing order: every
    /// transaction takes its scope locks in that order, so none waits on another in a cycle. A
    /// collision of two keys only makes two scopes share a lock.
    pub(crate) fn scope_lock_keys(&self, view: &ViewKey) -> [i64; 2] {
        let mut keys = view
            .covering_marks()
            .map(|(kind, id)| self.scope_lock_key(kind, id));
        keys.sort_unstable();
        keys
    }

    fn scope_lock_key(&self, kind: ScopeKind, id: &Id) -> i64 {
        let mut hasher = Sha256::new();
        for part in [self.marks_table(), kind.as_str(), id.as_str()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    async fn prune_marks_now_and_then(&self) -> Result<(), ViewsError> {
        let now = now_micros();
        let due = self.marks_pruned_at.load(Ordering::Relaxed) + PRUNE_EVERY_MICROS;
        if now < due {
            return Ok(());
        }
        self.marks_pruned_at.store(now, Ordering::Relaxed);
        let sql = format!(
            "DELETE FROM {} WHERE observed_at < {}",
            self.marks_table(),
            self.dialect().param(1)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(now - RETENTION_MICROS)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "prune", WHAT))
    }
}
