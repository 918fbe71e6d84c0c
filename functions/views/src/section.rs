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
//! A view that may take a name (a create, a rename) also locks the names it may take
//! ([`Section::lock_names`]) before it reads who holds them: advisory locks on PostgreSQL, named
//! locks on MariaDB.
//!
//! No lock is waited for past the caller's deadline: PostgreSQL's `lock_timeout` and
//! `statement_timeout` for the transaction, MariaDB's lock waits for the session and `GET_LOCK`'s
//! timeout, SQLite's busy timeout (one second per attempt).
//!
//! A closed enum rather than a trait object: the three dialects are all there will be, and async
//! methods on `dyn` traits would need boxed futures for no gain.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Transaction};
use view_sync_core::hex;
use view_sync_core::plan::{Target, ViewKey};

use crate::dialect::Dialect;
use crate::error::{ViewsError, label};
use crate::handle::ViewStore;

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
        /// How long `GET_LOCK` waits, in whole seconds.
        seconds: u64,
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
                let mut tx = store.pool.begin().await.map_err(lock_error)?;
                let timeout = format!("{}ms", wait.as_millis().max(1));
                sqlx::query(AssertSqlSafe(
                    "SELECT set_config('lock_timeout', $1, true) AS lock_timeout, \
                     set_config('statement_timeout', $1, true) AS statement_timeout",
                ))
                .bind(timeout)
                .execute(&mut *tx)
                .await
                .map_err(lock_error)?;
                let scope_locks =
                    matches!(target, Target::Present(_)).then(|| store.marks.scope_lock_keys(view));
                store.ledger.reserve_row(&mut tx, view, scope_locks).await?;
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
                    seconds,
                })
            }
        }
    }

    /// Locks the view names `names` until the section ends, so that two sections that may both
    /// take a name (two processors, or applies run side by side) take turns: the second reads
    /// the ledger row the first wrote and takes its alternate, rather than both finding the name
    /// free. Taken after the view's own lock and in one order, so no two sections wait on each
    /// other in a cycle. SQLite has one writer: nothing to lock.
    pub(crate) async fn lock_names(
        &mut self,
        ledger: &str,
        view: &ViewKey,
        names: &[String],
    ) -> Result<(), ViewsError> {
        let mut keys: Vec<[u8; 16]> = names.iter().map(|n| name_lock_key(ledger, n)).collect();
        keys.sort_unstable();
        keys.dedup();
        let lock_error = |e| ViewsError::from_sqlx(e, "lock the names of", &label(view));
        match self {
            _ if keys.is_empty() => Ok(()),
            Self::Writer(_) => Ok(()),
            Self::RowLock(tx) => {
                // The two-integer form: a lock space of its own, apart from the scopes' keys.
                let values: Vec<String> = (0..keys.len())
                    .map(|i| format!("(${}::int, ${}::int)", 2 * i + 1, 2 * i + 2))
                    .collect();
                let mut query = sqlx::query(AssertSqlSafe(format!(
                    "SELECT pg_advisory_xact_lock(k1, k2) FROM (VALUES {}) AS keys (k1, k2)",
                    values.join(", ")
                )));
                for key in &keys {
                    let half = |at: usize| {
                        i32::from_be_bytes(key[at..at + 4].try_into().expect("4 bytes"))
                    };
                    query = query.bind(half(0)).bind(half(4));
                }
                query.execute(&mut **tx).await.map(drop).map_err(lock_error)
            }
            Self::NamedLock {
                conn,
                locks,
                seconds,
            } => {
                for key in keys {
                    let lock = format!("immuta_view_sync_name_{}", hex::encode(&key));
                    let locked: Option<i64> =
                        sqlx::query_scalar(AssertSqlSafe("SELECT GET_LOCK(?, ?)"))
                            .bind(lock.clone())
                            .bind(*seconds as i64)
                            .fetch_one(&mut **conn)
                            .await
                            .map_err(lock_error)?;
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
        }
    }

    /// The connection the section's statements run on.
    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        match self {
            Self::Writer(tx) | Self::RowLock(tx) => tx,
            Self::NamedLock { conn, .. } => conn,
        }
    }

    /// What a read of the ledger row appends to lock the row until the section ends.
    pub(crate) fn row_lock(&self) -> &'static str {
        match self {
            Self::RowLock(_) => " FOR UPDATE",
            Self::Writer(_) | Self::NamedLock { .. } => "",
        }
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

/// The lock of the view name `name` among the views of `ledger`, folded to lower case as
/// [`view_sync_core::lanes`] compares names: a collision only makes two names share a lock.
fn name_lock_key(ledger: &str, name: &str) -> [u8; 16] {
    digest_of(&[ledger, "view name", &name.to_lowercase()])
}

fn digest_of(parts: &[&str]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..16].try_into().expect("16 bytes")
}
