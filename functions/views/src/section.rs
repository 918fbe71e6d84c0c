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
//! ([`Section::lock_names`]). The locks' names ([`LockKey::name`]) stay what they were, so
//! that two versions of the store lock one view alike during a rolling deploy.
//!
//! No lock is waited for past the caller's deadline: PostgreSQL's `lock_timeout` and
//! `statement_timeout` for the view's part of the transaction, MariaDB's lock waits for the
//! session and `GET_LOCK`'s timeout, SQLite's busy timeout (one second per attempt).
//!
//! Which kind of section a view has, the statement that begins it, the settings that bound its
//! waits and its session locks (taken, released, named) are its database's profile's
//! ([`view_sync_core::profile::Section`]); PostgreSQL's row lock and advisory locks are the
//! ledger's and the marks' statements. The kinds the store does not run (SQL Server's
//! transaction under a session lock, Teradata's lock table) are refused, naming them; Oracle's is
//! a session lock like MariaDB's, whose other path (a lock statement that fails when the lock is
//! not had) has not run, since the store does not take Oracle's URLs. A closed enum rather than
//! a trait object: async methods on `dyn` traits would need boxed futures for no gain.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row};
use view_sync_core::plan::{Target, ViewKey};
use view_sync_core::profile::{LockAnswer, LockKey, Profile, Section as ProfileSection};

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
        settings: Option<String>,
        label: &str,
    ) -> Result<(), ViewsError> {
        let settings = settings
            .map(|settings| format!("; {settings}"))
            .unwrap_or_default();
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
    /// MariaDB/MySQL: session locks held on one connection: the view's, then those of the
    /// names it may take.
    SessionLocks(SessionLocks),
}

/// Session locks held on one connection, as the database's profile takes and releases them.
/// They belong to the session, not to a transaction: a section dropped before
/// [`Section::leave`] released them (its run stopped by a timeout) closes the connection rather
/// than hand a locked session back to the pool, where it would keep the view locked while it
/// lived.
pub(crate) struct SessionLocks {
    conn: Option<PoolConnection<Any>>,
    profile: &'static (dyn Profile + Sync),
    /// How the lock statement says it took the lock.
    answer: LockAnswer,
    /// Those held, or being asked for.
    locks: Vec<LockKey>,
    /// When the section stops waiting for locks.
    until: Instant,
}

impl SessionLocks {
    /// Takes the lock `key`, waiting at most `wait`, after running `before` (settings of the
    /// profile's, no values from outside) in the same round trip.
    async fn take(
        &mut self,
        before: Option<String>,
        key: LockKey,
        wait: Duration,
        view: &ViewKey,
    ) -> Result<(), ViewsError> {
        let conn = self.conn.as_mut().expect("held until the section leaves");
        let Some(take) = self.profile.take_lock("", &key, wait) else {
            return Err(ViewsError::Refused {
                action: "lock",
                view: label(view),
                detail: format!(
                    "{}'s section is a session lock, and its profile takes none",
                    self.profile.name()
                ),
            });
        };
        self.locks.push(key);
        let lock_error = |e| ViewsError::from_sqlx(e, "lock", &label(view));
        let before = before
            .map(|settings| format!("{settings}; "))
            .unwrap_or_default();
        let rows = sqlx::raw_sql(AssertSqlSafe(format!("{before}{take}")))
            .fetch_all(&mut **conn)
            .await
            .map_err(lock_error)?;
        let taken = match self.answer {
            // Not taken, it failed.
            LockAnswer::Fails => true,
            LockAnswer::Returns { taken } => {
                let answered: Option<i64> = match rows.last() {
                    Some(row) => row.try_get(0).map_err(lock_error)?,
                    None => None,
                };
                answered == Some(taken)
            }
        };
        if !taken {
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
        let released = match self.profile.release_locks(self.locks.len()) {
            Some(release) => {
                let mut release = sqlx::query(AssertSqlSafe(release));
                for key in self.locks.iter().rev() {
                    release = release.bind(key.name());
                }
                release.execute(&mut **conn).await.is_ok()
            }
            None => {
                let mut all = true;
                for key in self.locks.iter().rev() {
                    if let Some(release) = self.profile.release_lock(key) {
                        all &= sqlx::raw_sql(AssertSqlSafe(release))
                            .execute(&mut **conn)
                            .await
                            .is_ok();
                    }
                }
                all
            }
        };
        if released {
            self.locks.clear();
        }
    }
}

impl Drop for SessionLocks {
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
        let profile = store.profile();
        match profile.section() {
            ProfileSection::OneWriter => {
                transaction
                    .begin_view(&store.pool, profile.begin_section(), None, &label)
                    .await?;
                Ok(Self::InTransaction {
                    transaction,
                    row_locked: false,
                })
            }
            ProfileSection::LedgerRow => {
                // The settings go with BEGIN (or the view's savepoint), in its round trip, so
                // that they bound every statement of the section.
                transaction
                    .begin_view(
                        &store.pool,
                        profile.begin_section(),
                        profile.section_settings(wait),
                        &label,
                    )
                    .await?;
                let locks = SectionLocks {
                    scopes: matches!(target, Target::Present(_))
                        .then(|| store.marks.scope_lock_keys(view)),
                    names: LockKey::of_view_names(store.ledger.name(), &target.names_it_may_take())
                        .iter()
                        .map(LockKey::two_numbers)
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
            ProfileSection::SessionLock { answer } => {
                let conn = store.pool.acquire().await.map_err(lock_error)?;
                let mut held = SessionLocks {
                    conn: Some(conn),
                    profile,
                    answer,
                    locks: Vec::new(),
                    until: Instant::now() + wait,
                };
                // The session's lock waits are set in the round trip that takes the view's
                // lock, which waits a second at least.
                held.take(
                    profile.section_settings(wait),
                    LockKey::of_view(
                        store.ledger.name(),
                        view.project_id.as_str(),
                        view.data_source_id.as_str(),
                    ),
                    wait.max(Duration::from_secs(1)),
                    view,
                )
                .await?;
                Ok(Self::SessionLocks(held))
            }
            section @ (ProfileSection::OneTransaction { .. }
            | ProfileSection::RowLockOnSecondConnection) => Err(ViewsError::Refused {
                action: "lock",
                view: label,
                detail: format!(
                    "{}'s critical section ({section:?}) is not one the store runs yet",
                    profile.name()
                ),
            }),
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
        let Self::SessionLocks(held) = self else {
            return Ok(());
        };
        for key in LockKey::of_view_names(ledger, names) {
            // What is left of the section's wait.
            let wait = held.until.saturating_duration_since(Instant::now());
            held.take(None, key, wait, view).await?;
        }
        Ok(())
    }

    /// The connection the section's statements run on.
    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        match self {
            Self::InTransaction { transaction, .. } => transaction.connection(),
            Self::SessionLocks(held) => held.conn.as_mut().expect("held until the section leaves"),
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
            Self::SessionLocks(held) => {
                held.release().await;
                applied
            }
        }
    }
}
