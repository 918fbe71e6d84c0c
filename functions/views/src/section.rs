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
//! Where DDL is transactional (SQLite, PostgreSQL), views applied one after another share a
//! [`Transaction`]: the first view's section begins it, each later one runs in a savepoint of
//! its own, so that a view that fails rolls back alone, and their work is committed together
//! (one commit, one WAL flush, for several views: see [`crate::group`]). A view's locks are
//! held until that commit.
//!
//! A view that may take a name (a create, a rename) also locks the names it may take before it
//! reads who holds them: on PostgreSQL advisory locks on every name its target may take, as the
//! section starts and before its row lock (in the statement that sets its timeouts and reserves
//! its row: one round trip); on MariaDB named locks after the view's own
//! ([`Section::lock_names`]).
//!
//! No lock is waited for past the caller's deadline: PostgreSQL's `lock_timeout` and
//! `statement_timeout` for the view's part of the transaction, MariaDB's lock waits for the
//! session and `GET_LOCK`'s timeout, SQLite's busy timeout (one second per attempt).
//!
//! A closed enum rather than a trait object: the three dialects are all there will be, and async
//! methods on `dyn` traits would need boxed futures for no gain.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row};
use view_sync_core::hex;
use view_sync_core::plan::{Target, ViewKey};

use crate::dialect::Dialect;
use crate::error::{ViewsError, label};
use crate::handle::ViewStore;
use crate::ledger::SectionLocks;

/// The savepoint of the view being applied in a shared [`Transaction`].
const SAVEPOINT: &str = "immuta_view_sync_view";

/// The transaction that views applied one after another share where DDL is transactional.
#[derive(Default)]
pub(crate) struct Transaction {
    open: Option<sqlx::Transaction<'static, Any>>,
    /// Whether the open transaction holds [`SAVEPOINT`]: begun by every view but the first,
    /// released as the next view's begins.
    savepoint: bool,
    /// Why the work of the views applied in it was lost: a savepoint that could not be rolled
    /// back to, so the whole transaction was. No later view is applied in it.
    lost: Option<ViewsError>,
}

impl Transaction {
    /// Starts a view's part: begins the transaction with `begin` (the first view's) or a
    /// savepoint (a later one's, releasing the one before), and runs `settings` in the same
    /// round trip.
    async fn begin_view(
        &mut self,
        pool: &AnyPool,
        begin: &str,
        settings: &str,
        label: &str,
    ) -> Result<(), ViewsError> {
        if let Some(lost) = &self.lost {
            return Err(lost.clone());
        }
        let lock_error = |e| ViewsError::from_sqlx(e, "lock", label);
        match self.open.as_mut() {
            None => {
                let open = pool
                    .begin_with(AssertSqlSafe(format!("{begin}{settings}")))
                    .await
                    .map_err(lock_error)?;
                self.open = Some(open);
                self.savepoint = false;
            }
            Some(open) => {
                let release = match self.savepoint {
                    true => format!("RELEASE SAVEPOINT {SAVEPOINT}; "),
                    false => String::new(),
                };
                let started = sqlx::raw_sql(AssertSqlSafe(format!(
                    "{release}SAVEPOINT {SAVEPOINT}{settings}"
                )))
                .execute(&mut **open)
                .await;
                if let Err(e) = started {
                    // Dropped, so rolled back: the work of the views before this one with it.
                    let error = lock_error(e);
                    self.open = None;
                    self.lost = Some(error.clone());
                    return Err(error);
                }
                self.savepoint = true;
            }
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut AnyConnection {
        self.open
            .as_deref_mut()
            .expect("a view's section runs in an open transaction")
    }

    /// Undoes the work of the view being applied: back to its savepoint or, for the
    /// transaction's first view, the whole transaction (nothing else is in it).
    async fn undo_view(&mut self, label: &str) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if !self.savepoint {
            self.open = None;
            return;
        }
        let rolled_back =
            sqlx::raw_sql(AssertSqlSafe(format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}")))
                .execute(&mut **open)
                .await;
        if let Err(e) = rolled_back {
            self.open = None;
            self.lost = Some(ViewsError::from_sqlx(e, "roll back", label));
        }
    }

    /// Whether a view's work waits in it for its commit.
    pub(crate) fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Whether the work of the views applied in it was lost (see [`Transaction::commit`]).
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// Commits the work of the views applied in the transaction; `what` names them in an
    /// error. Fails with what lost their work, if something did.
    pub(crate) async fn commit(self, what: &str) -> Result<(), ViewsError> {
        if let Some(lost) = self.lost {
            return Err(lost);
        }
        match self.open {
            Some(open) => open
                .commit()
                .await
                .map_err(|e| ViewsError::from_sqlx(e, "commit", what)),
            None => Ok(()),
        }
    }
}

pub(crate) enum Section<'t> {
    /// SQLite (one writer) and PostgreSQL (which locks the view's ledger row when it reads
    /// it): the view's part of a [`Transaction`].
    InTransaction {
        transaction: &'t mut Transaction,
        row_locked: bool,
    },
    /// MariaDB/MySQL: named locks held on one connection: the view's, then those of the names
    /// it may take.
    NamedLock(NamedLocks),
}

/// Named locks held on one connection. They belong to the session, not to a transaction: a
/// section dropped before [`Section::leave`] released them (its run stopped by a timeout)
/// closes the connection rather than hand a locked session back to the pool, where it would
/// keep the view locked while it lived.
pub(crate) struct NamedLocks {
    conn: Option<PoolConnection<Any>>,
    /// Those held, or being asked for.
    locks: Vec<String>,
    /// When the section stops waiting for locks.
    until: Instant,
}

impl NamedLocks {
    /// Takes the lock `lock`, waiting at most `seconds` (0 takes a free lock and waits for
    /// none), after running `before` (statements of our own, no values from outside) in the
    /// same round trip.
    async fn take(
        &mut self,
        before: &str,
        lock: String,
        seconds: u64,
        view: &ViewKey,
    ) -> Result<(), ViewsError> {
        let conn = self.conn.as_mut().expect("held until the section leaves");
        self.locks.push(lock.clone());
        let lock_error = |e| ViewsError::from_sqlx(e, "lock", &label(view));
        // The lock's name is ours (a digest in hex, see `lock_name`), so it can be written into
        // the text that carries `before` with it.
        assert!(lock.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let rows = sqlx::raw_sql(AssertSqlSafe(format!(
            "{before}SELECT GET_LOCK('{lock}', {seconds})"
        )))
        .fetch_all(&mut **conn)
        .await
        .map_err(lock_error)?;
        let locked: Option<i64> = match rows.last() {
            Some(row) => row.try_get(0).map_err(lock_error)?,
            None => None,
        };
        if locked != Some(1) {
            self.locks.pop();
            return Err(ViewsError::LockTimeout {
                view: label(view),
                held_by: String::new(),
            });
        }
        Ok(())
    }

    /// Releases the locks, and the connection to the pool; where a release failed (or was
    /// stopped), dropping `self` closes the connection instead, which releases them for sure.
    async fn release(mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if self.locks.is_empty() {
            return;
        }
        // In one statement: each RELEASE_LOCK runs whatever the others return.
        let calls = vec!["RELEASE_LOCK(?)"; self.locks.len()].join(", ");
        let mut release = sqlx::query(AssertSqlSafe(format!("SELECT {calls}")));
        for lock in self.locks.iter().rev() {
            release = release.bind(lock.clone());
        }
        if release.execute(&mut **conn).await.is_ok() {
            self.locks.clear();
        }
    }
}

impl Drop for NamedLocks {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.locks.is_empty()
        {
            conn.detach();
        }
    }
}

impl<'t> Section<'t> {
    /// Enters the section of `target`'s view, in `transaction` where DDL is transactional; no
    /// lock is waited for longer than `wait` (see [`ViewStore::apply_until`]).
    pub(crate) async fn enter(
        store: &ViewStore,
        transaction: &'t mut Transaction,
        target: &Target,
        wait: Duration,
    ) -> Result<Self, ViewsError> {
        let view = target.view();
        let label = label(view);
        let lock_error = |e| ViewsError::from_sqlx(e, "lock", &label);
        match store.dialect() {
            Dialect::Sqlite => {
                transaction
                    .begin_view(&store.pool, "BEGIN IMMEDIATE", "", &label)
                    .await?;
                Ok(Self::InTransaction {
                    transaction,
                    row_locked: false,
                })
            }
            Dialect::Postgres => {
                // The timeouts are set with BEGIN (or the view's savepoint), in its round trip,
                // so that they bound every statement of the section, the first one's lock waits
                // included. No sequential scans: a session's cached generic plan is made from
                // the statistics of a statement's sixth run and kept until the table is
                // analyzed, and the ledger grows from nothing during a re-sync; a plan made for
                // an empty ledger scans all of it (30-60 ms an apply at 60,000 views, where the
                // index takes a tenth of a millisecond). Every statement of a section looks up
                // rows by an index, so the plan made once per session is the right one at any
                // size (planning each run instead cost 0.5 ms a view). No JIT: a plan that
                // cannot avoid a scan is costed past JIT's threshold, and these statements are
                // far too small to gain from compiling.
                let timeout = wait.as_millis().max(1);
                transaction
                    .begin_view(
                        &store.pool,
                        // Read committed, whatever the server's default: each view of a shared
                        // transaction reads the rows and marks committed before its locks.
                        "BEGIN ISOLATION LEVEL READ COMMITTED",
                        &format!(
                            "; SET LOCAL lock_timeout = '{timeout}ms'; \
                             SET LOCAL statement_timeout = '{timeout}ms'; \
                             SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
                        ),
                        &label,
                    )
                    .await?;
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
                let reserved = store
                    .ledger
                    .reserve_row(transaction.connection(), view, &locks)
                    .await;
                if let Err(error) = reserved {
                    transaction.undo_view(&label).await;
                    return Err(error);
                }
                Ok(Self::InTransaction {
                    transaction,
                    row_locked: true,
                })
            }
            Dialect::MySql => {
                let conn = store.pool.acquire().await.map_err(lock_error)?;
                // Whole seconds, at least one: what MariaDB takes.
                let seconds = wait.as_secs().max(1);
                let mut held = NamedLocks {
                    conn: Some(conn),
                    locks: Vec::new(),
                    until: Instant::now() + wait,
                };
                // The session's lock waits are set in the round trip that takes the view's lock.
                held.take(
                    &format!(
                        "SET SESSION innodb_lock_wait_timeout = {seconds}, \
                         lock_wait_timeout = {seconds}; "
                    ),
                    lock_name(store.ledger.name(), view),
                    seconds,
                    view,
                )
                .await?;
                Ok(Self::NamedLock(held))
            }
        }
    }

    /// Locks the view names `names` until the section ends, so that two sections that may both
    /// take a name (two processors, or applies run side by side) take turns: the second reads
    /// the ledger row the first wrote and takes its alternate, rather than both finding the name
    /// free. Taken after the view's own lock and in one order, so no two sections wait on each
    /// other in a cycle (across the views of a shared transaction, see [`crate::group`]).
    /// PostgreSQL's section took them as it started (every name its target may take, before its
    /// row lock); SQLite has one writer: nothing to lock.
    pub(crate) async fn lock_names(
        &mut self,
        ledger: &str,
        view: &ViewKey,
        names: &[String],
    ) -> Result<(), ViewsError> {
        let Self::NamedLock(held) = self else {
            return Ok(());
        };
        for key in name_lock_keys(ledger, names) {
            let lock = format!("immuta_view_sync_name_{}", hex::encode(&key));
            // What is left of the section's wait, in whole seconds.
            let seconds = held
                .until
                .saturating_duration_since(Instant::now())
                .as_secs();
            held.take("", lock, seconds, view).await?;
        }
        Ok(())
    }

    /// The connection the section's statements run on.
    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        match self {
            Self::InTransaction { transaction, .. } => transaction.connection(),
            Self::NamedLock(held) => held.conn.as_mut().expect("held until the section leaves"),
        }
    }

    /// Whether the section took the locks of the view's names and scopes as it started
    /// (PostgreSQL), so that what they guard can be read with its row.
    pub(crate) fn holds_its_locks_from_the_start(&self) -> bool {
        matches!(
            self,
            Self::InTransaction {
                row_locked: true,
                ..
            }
        )
    }

    /// Ends the section: what `applied` did stays in the transaction, for its commit (a
    /// failure rolls back the view's part), or the locks are released.
    pub(crate) async fn leave<T>(
        self,
        applied: Result<T, ViewsError>,
        label: &str,
    ) -> Result<T, ViewsError> {
        match self {
            Self::InTransaction { transaction, .. } => {
                if applied.is_err() {
                    transaction.undo_view(label).await;
                }
                applied
            }
            Self::NamedLock(held) => {
                held.release().await;
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
