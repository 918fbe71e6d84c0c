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
//!
//! The table also keeps when the last re-sync of every project was fanned out, so that every
//! processor sees it: a notification received before then needs no fan-out of its own
//! (`view_sync_core::fan_out`). It is one row, under a scope kind that no view's check reads
//! (`allProjects`), in the table's unit (microseconds); the marks' pruning removes it after a
//! day without a fan-out, which costs at most one fan-out more.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use view_sync_core::Id;
use view_sync_core::plan::{Scope, ScopeKind, ViewKey};

use crate::dialect::{Dialect, LedgerSql};
use crate::error::{ViewsError, label};
use crate::ledger::now_micros;

const WHAT: &str = "the scope marks";
const FAN_OUT: &str = "the time of the last re-sync fan-out";
const FAN_OUT_KIND: &str = "allProjects";
const FAN_OUT_ID: &str = "*";

/// How long a mark is kept. A mark matters to decisions observed before it and still being
/// applied; a reconcile ends within its invocation (15 minutes at most on Lambda), so a day is
/// far beyond any that can still be running.
const RETENTION_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Scopes marked per statement: far below every database's limit on bound values.
const MARKS_PER_STATEMENT: usize = 500;

/// How often a process prunes (at most).
const PRUNE_EVERY_MICROS: i64 = 3600 * 1_000_000;

/// The scope marks table.
pub(crate) struct Marks {
    /// Quoted and qualified.
    name: String,
    dialect: Dialect,
    /// When this process last pruned (microseconds since the Unix epoch).
    pruned_at: AtomicI64,
}

impl Marks {
    pub(crate) fn new(name: String, dialect: Dialect) -> Self {
        Self {
            name,
            dialect,
            pruned_at: AtomicI64::new(0),
        }
    }

    /// `CREATE TABLE` of the marks table.
    pub(crate) fn create_table(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (scope_kind VARCHAR(16) NOT NULL, scope_id VARCHAR(255) NOT NULL, \
             observed_at BIGINT NOT NULL, PRIMARY KEY (scope_kind, scope_id))",
            self.name
        )
    }

    /// Marks each of `scopes` decided as of `observed_at` (a newer mark is kept): one statement
    /// per [`MARKS_PER_STATEMENT`] scopes, so a batch pays for its marks once, not per key.
    /// Scopes without marks ([`Scope::mark`]) need nothing.
    pub(crate) async fn mark_decided(
        &self,
        pool: &AnyPool,
        scopes: &[Scope],
        observed_at: i64,
    ) -> Result<(), ViewsError> {
        let marks: BTreeSet<(ScopeKind, &Id)> = scopes.iter().filter_map(Scope::mark).collect();
        if marks.is_empty() {
            return Ok(());
        }
        let marks: Vec<_> = marks.into_iter().collect();
        for chunk in marks.chunks(MARKS_PER_STATEMENT) {
            self.write_marks(pool, chunk, observed_at).await?;
        }
        self.prune_now_and_then(pool).await
    }

    /// One statement, committed on its own. On PostgreSQL it first takes the scopes' exclusive
    /// advisory locks, in increasing order (as every section takes its shared ones), and holds
    /// them until it commits.
    async fn write_marks(
        &self,
        pool: &AnyPool,
        marks: &[(ScopeKind, &Id)],
        observed_at: i64,
    ) -> Result<(), ViewsError> {
        let table = &self.name;
        let dialect = self.dialect;
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
        let (alias, newest_kept) = self.newest_kept();
        let upsert = match dialect {
            // A CTE with volatile functions is evaluated, once, before the insert reads its
            // rows; VALUES yields its rows in the order written.
            Dialect::Postgres => format!(
                "WITH scope_locks AS (SELECT count(*) AS taken FROM \
                 (SELECT pg_advisory_xact_lock(k) FROM (VALUES {locks}) AS keys (k)) AS locked) \
                 INSERT INTO {table}{alias} (scope_kind, scope_id, observed_at) \
                 SELECT v.scope_kind, v.scope_id, v.observed_at FROM scope_locks \
                 CROSS JOIN (VALUES {rows}) AS v (scope_kind, scope_id, observed_at) {newest_kept}",
                locks = lock_keys
                    .iter()
                    .map(|_| format!("({}::bigint)", next()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Dialect::Sqlite | Dialect::MySql => format!(
                "INSERT INTO {table}{alias} (scope_kind, scope_id, observed_at) VALUES {rows} {newest_kept}"
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
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "record", WHAT))
    }

    /// The newest mark of the scopes covering `view`, read in its critical section.
    pub(crate) async fn newest(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
    ) -> Result<Option<i64>, ViewsError> {
        let p = |n| self.dialect.param(n);
        let sql = format!(
            "SELECT MAX(observed_at) AS newest FROM {} WHERE (scope_kind = {} AND scope_id = {}) \
             OR (scope_kind = {} AND scope_id = {})",
            self.name,
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

    /// [`Marks::newest`] as a scalar subquery for PostgreSQL, with its binds, numbered from
    /// `$first` (see [`crate::ledger::Ledger::read_row_with_holders`]).
    pub(crate) fn newest_select(&self, view: &ViewKey, first: usize) -> (String, Vec<String>) {
        let sql = format!(
            "(SELECT MAX(observed_at) FROM {} WHERE (scope_kind = ${} AND scope_id = ${}) \
             OR (scope_kind = ${} AND scope_id = ${}))",
            self.name,
            first,
            first + 1,
            first + 2,
            first + 3
        );
        let binds = view
            .covering_marks()
            .into_iter()
            .flat_map(|(kind, id)| [kind.as_str().to_owned(), id.as_str().to_owned()])
            .collect();
        (sql, binds)
    }

    /// PostgreSQL advisory lock keys of the scopes covering `view`, in increasing order: every
    /// view's section takes its scope locks in that order, so no two views wait on each other
    /// in a cycle. (A transaction shared by several views holds the locks of those before; a
    /// cycle through them ends as [`crate::group`] says.) A collision of two keys only makes two
    /// scopes share a lock.
    pub(crate) fn scope_lock_keys(&self, view: &ViewKey) -> [i64; 2] {
        let mut keys = view
            .covering_marks()
            .map(|(kind, id)| self.scope_lock_key(kind, id));
        keys.sort_unstable();
        keys
    }

    fn scope_lock_key(&self, kind: ScopeKind, id: &Id) -> i64 {
        let mut hasher = Sha256::new();
        for part in [self.name.as_str(), kind.as_str(), id.as_str()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    async fn prune_now_and_then(&self, pool: &AnyPool) -> Result<(), ViewsError> {
        let now = now_micros();
        let due = self.pruned_at.load(Ordering::Relaxed) + PRUNE_EVERY_MICROS;
        if now < due {
            return Ok(());
        }
        self.pruned_at.store(now, Ordering::Relaxed);
        let sql = format!(
            "DELETE FROM {} WHERE observed_at < {}",
            self.name,
            self.dialect.param(1)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(now - RETENTION_MICROS)
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "prune", WHAT))
    }

    /// What an insert of marks says so that a mark already kept only ever moves forward: the
    /// table's alias and the clause on conflict.
    fn newest_kept(&self) -> (&'static str, &'static str) {
        match self.dialect {
            Dialect::Postgres => (
                " AS m",
                "ON CONFLICT (scope_kind, scope_id) DO UPDATE \
                 SET observed_at = GREATEST(m.observed_at, excluded.observed_at)",
            ),
            // SQLite has no alias on INSERT: unqualified names are the kept row.
            Dialect::Sqlite => (
                "",
                "ON CONFLICT (scope_kind, scope_id) DO UPDATE \
                 SET observed_at = MAX(observed_at, excluded.observed_at)",
            ),
            Dialect::MySql => (
                "",
                "ON DUPLICATE KEY UPDATE observed_at = GREATEST(observed_at, VALUES(observed_at))",
            ),
        }
    }

    /// When the last fan-out of every project started (milliseconds since the Unix epoch).
    pub(crate) async fn last_fan_out_started_ms(
        &self,
        pool: &AnyPool,
    ) -> Result<Option<u64>, ViewsError> {
        let p = |n| self.dialect.param(n);
        let sql = format!(
            "SELECT MAX(observed_at) AS started FROM {} WHERE scope_kind = {} AND scope_id = {}",
            &self.name,
            p(1),
            p(2)
        );
        let started = sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql))
            .bind(FAN_OUT_KIND)
            .bind(FAN_OUT_ID)
            .fetch_one(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", FAN_OUT))?;
        Ok(started.and_then(|micros| u64::try_from(micros / 1_000).ok()))
    }

    /// Records that a fan-out started at `started_ms`; a later one already recorded is kept.
    /// Call it once the fan-out's keys are queued: a fan-out that failed covers nothing.
    pub(crate) async fn record_fan_out_started(
        &self,
        pool: &AnyPool,
        started_ms: u64,
    ) -> Result<(), ViewsError> {
        let table = &self.name;
        let p = |n| self.dialect.param(n);
        let (kind, id, at) = (p(1), p(2), p(3));
        let (alias, newest_kept) = self.newest_kept();
        let sql = format!(
            "INSERT INTO {table}{alias} (scope_kind, scope_id, observed_at) \
             VALUES ({kind}, {id}, {at}) {newest_kept}"
        );
        let micros = i64::try_from(started_ms)
            .unwrap_or(i64::MAX / 1_000)
            .saturating_mul(1_000);
        sqlx::query(AssertSqlSafe(sql))
            .bind(FAN_OUT_KIND)
            .bind(FAN_OUT_ID)
            .bind(micros)
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "record", FAN_OUT))
    }
}
