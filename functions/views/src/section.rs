//! One view's critical section, per database: its ledger row is read, its DDL run and its row
//! written inside it, so that two processors never interleave on one view and an older decision
//! can be recognised as superseded.
//!
//! | database | critical section per view | DDL and ledger |
//! | --- | --- | --- |
//! | SQLite | `BEGIN IMMEDIATE` (one writer) | one transaction |
//! | PostgreSQL | the ledger row, `SELECT … FOR UPDATE` (and, for a view wanted present, shared locks on its scopes: see [`crate::marks`]) | one transaction (DDL is transactional) |
//! | MariaDB/MySQL | a named lock (`GET_LOCK`), since DDL commits implicitly and drops row locks | intent row, then DDL, then the row: a re-run finishes the job (a rename drops the old view before the intent names the new one) |
//!
//! A view that may take a name (a create, a rename) also locks the names it may take before it
//! reads who holds them: on PostgreSQL advisory locks on every name its target may take, as the
//! section starts and before its row lock (in the statement that sets its timeouts and reserves
//! its row: one round trip); on MariaDB named locks after the view's own
//! ([`Section::lock_names`]).
//!
//! No lock is waited for past the caller's deadline: PostgreSQL's `lock_timeout` and
//! `statement_timeout` for the transaction, MariaDB's lock waits for the session and `GET_LOCK`'s
//! timeout, SQLite's busy timeout (one second per attempt).
//!
//! A closed enum rather than a trait object: the three dialects are all there will be, and async
//! methods on `dyn` traits would need boxed futures for no gain.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Transaction};
use view_sync_core::hex;
use view_sync_core::plan::{Target, ViewKey};

use crate::dialect::Dialect;
use crate::error::{ViewsError, label};
use crate::handle::ViewStore;
use crate::ledger::SectionLocks;

pub(crate) enum Section {
    /// SQLite: the one writer's transaction.
    Writer(Transaction<'static, Any>),
    /// PostgreSQL: a transaction that locks the view's ledger row when it reads it.
    RowLock(Transaction<'static, Any>),
    /// MariaDB/MySQL: named locks held on one connection: the view's, then those of the names
    /// it may take.
    NamedLock {
        conn: PoolConnection<Any>,
        locks: Vec<String>,
        /// When the section stops waiting for locks.
        until: Instant,
    },
}

impl Section {
    /// Enters the section of `target`'s view; no lock is waited for longer than `wait` (see
    /// [`ViewStore::apply_until`]).
    pub(crate) async fn enter(
        store: &ViewStore,
        target: &Target,
        wait: Duration,
    ) -> Result<Self, ViewsError> {
        let view = target.view();
        let label = label(view);
        let lock_error = |e| ViewsError::from_sqlx(e, "lock", &label);
        match store.dialect() {
            Dialect::Sqlite => Ok(Self::Writer(
                store
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(lock_error)?,
            )),
            Dialect::Postgres => {
                // The timeouts are set with BEGIN, in its round trip, so that they bound every
                // statement of the section, the first one's lock waits included. Custom plans:
                // a session's cached generic plan is made from the statistics of its sixth run
                // and kept until the table is analyzed, and the ledger grows from nothing during
                // a re-sync; a plan made for an empty ledger scans all of it (30-60 ms an apply
                // at 60,000 views, where the index takes a tenth of a millisecond).
                let timeout = wait.as_millis().max(1);
                let mut tx = store
                    .pool
                    .begin_with(AssertSqlSafe(format!(
                        "BEGIN; SET LOCAL lock_timeout = '{timeout}ms'; \
                         SET LOCAL statement_timeout = '{timeout}ms'; \
                         SET LOCAL plan_cache_mode = force_custom_plan"
                    )))
                    .await
                    .map_err(lock_error)?;
                let locks = SectionLocks {
                    scopes: matches!(target, Target::Present(_))
                        .then(|| store.marks.scope_lock_keys(view)),
                    names: name_lock_keys(store.ledger.name(), &target.names_it_may_take())
                        .iter()
                        .map(|key| {
                            [0, 4].map(|at| {
                                i32::from_be_bytes(key[at..at + 4].try_into().expect("4 bytes"))
                            })
                        })
                        .collect(),
                };
                store.ledger.reserve_row(&mut tx, view, &locks).await?;
                Ok(Self::RowLock(tx))
            }
            Dialect::MySql => {
                let mut conn = store.pool.acquire().await.map_err(lock_error)?;
                // Whole seconds, at least one: what MariaDB takes.
                let seconds = wait.as_secs().max(1);
                sqlx::query(AssertSqlSafe(format!(
                    "SET SESSION innodb_lock_wait_timeout = {seconds}, lock_wait_timeout = {seconds}"
                )))
                .execute(&mut *conn)
                .await
                .map_err(lock_error)?;
                let lock = lock_name(store.ledger.name(), view);
                let locked: Option<i64> =
                    sqlx::query_scalar(AssertSqlSafe("SELECT GET_LOCK(?, ?)"))
                        .bind(lock.clone())
                        .bind(seconds as i64)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(lock_error)?;
                if locked != Some(1) {
                    return Err(ViewsError::LockTimeout {
                        view: label,
                        held_by: String::new(),
                    });
                }
                Ok(Self::NamedLock {
                    conn,
                    locks: vec![lock],
                    until: Instant::now() + wait,
                })
            }
        }
    }

    /// Locks the view names `names` until the section ends, so that two sections that may both
    /// take a name (two processors, or applies run side by side) take turns: the second reads
    /// the ledger row the first wrote and takes its alternate, rather than both finding the name
    /// free. Taken after the view's own lock and in one order, so no two sections wait on each
    /// other in a cycle. PostgreSQL's section took them as it started (every name its target
    /// may take, before its row lock); SQLite has one writer: nothing to lock.
    pub(crate) async fn lock_names(
        &mut self,
        ledger: &str,
        view: &ViewKey,
        names: &[String],
    ) -> Result<(), ViewsError> {
        let Self::NamedLock { conn, locks, until } = self else {
            return Ok(());
        };
        for key in name_lock_keys(ledger, names) {
            let lock = format!("immuta_view_sync_name_{}", hex::encode(&key));
            // What is left of the section's wait, in whole seconds: 0 takes a free lock and
            // waits for none.
            let seconds = until.saturating_duration_since(Instant::now()).as_secs();
            let locked: Option<i64> = sqlx::query_scalar(AssertSqlSafe("SELECT GET_LOCK(?, ?)"))
                .bind(lock.clone())
                .bind(seconds as i64)
                .fetch_one(&mut **conn)
                .await
                .map_err(|e| ViewsError::from_sqlx(e, "lock the names of", &label(view)))?;
            if locked != Some(1) {
                return Err(ViewsError::LockTimeout {
                    view: label(view),
                    held_by: String::new(),
                });
            }
            locks.push(lock);
        }
        Ok(())
    }

    /// The connection the section's statements run on.
    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        match self {
            Self::Writer(tx) | Self::RowLock(tx) => tx,
            Self::NamedLock { conn, .. } => conn,
        }
    }

    /// Whether the section took the locks of the view's names and scopes as it started
    /// (PostgreSQL), so that what they guard can be read with its row.
    pub(crate) fn holds_its_locks_from_the_start(&self) -> bool {
        matches!(self, Self::RowLock(_))
    }

    /// Ends the section: commits what `applied` did (a failure rolls back where the database
    /// can), or releases the lock.
    pub(crate) async fn leave<T>(
        self,
        applied: Result<T, ViewsError>,
        label: &str,
    ) -> Result<T, ViewsError> {
        match self {
            Self::Writer(tx) | Self::RowLock(tx) => {
                let applied = applied?;
                tx.commit()
                    .await
                    .map_err(|e| ViewsError::from_sqlx(e, "commit", label))?;
                Ok(applied)
            }
            Self::NamedLock {
                mut conn, locks, ..
            } => {
                let mut released = Ok(());
                for lock in locks.into_iter().rev() {
                    released = released.and(
                        sqlx::query(AssertSqlSafe("SELECT RELEASE_LOCK(?)"))
                            .bind(lock)
                            .execute(&mut *conn)
                            .await
                            .map(drop),
                    );
                }
                if released.is_err() {
                    // Closing the connection releases the lock for sure.
                    conn.detach();
                }
                applied
            }
        }
    }
}

/// MariaDB lock names are limited to 64 characters: a digest of ledger and view keeps them unique.
fn lock_name(ledger: &str, view: &ViewKey) -> String {
    let digest = digest_of(&[
        ledger,
        view.project_id.as_str(),
        view.data_source_id.as_str(),
    ]);
    format!("immuta_view_sync_{}", hex::encode(&digest))
}

/// The locks of the view names `names` among the views of `ledger`, in the one order every
/// section takes them in; folded to lower case as [`view_sync_core::lanes`] compares names (a
/// collision only makes two names share a lock).
fn name_lock_keys(ledger: &str, names: &[String]) -> Vec<[u8; 16]> {
    let mut keys: Vec<[u8; 16]> = names
        .iter()
        .map(|name| digest_of(&[ledger, "view name", &name.to_lowercase()]))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn digest_of(parts: &[&str]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..16].try_into().expect("16 bytes")
}
