//! Dialect profiles: everything the store needs from a database, as statements and decisions
//! made in pure code, one profile per database.
//!
//! A profile answers each question the store asks of its dialect: how names are quoted and how
//! long they may be, and how values are bound; what each session runs as it connects and what
//! it refuses to keep; the view's DDL (create, replace in place or not, drop, and the error
//! that says a view is already gone), and whether the database refuses to drop or replace a
//! view others depend on, with what answers it; what protects a view's rows from its readers'
//! own predicates, or that nothing does; the catalog reads that drift repair compares (a view's
//! definition, its grants); the grant and revoke statements, and which roles exist; how a
//! schema is found and made and a role made; the critical section (a lock that spans the DDL
//! and the ledger's row) and whether DDL is transactional; the ledger's column types, its
//! `CREATE TABLE` and its upsert with the order of its bound values, and the indexes of the
//! store's tables; which `sqlparser` dialect validates the view SQL; and what the database's
//! errors mean to the store.
//!
//! **Status.** The databases the store runs today ([`of`]: SQLite, PostgreSQL, MariaDB): the
//! store takes from the profile the `sqlparser` dialect that validates view SQL and the rewrite
//! that protects a view from its readers (both carried to view-sql by [`view_location`]); its
//! views' `CREATE` and replace (in place, or a drop and a create), written around that rewrite
//! ([`crate::ddl::view_statements`]); whether the database refuses to drop or replace a view
//! others depend on and what answers a refusal (the view's lock, the reads and the closed view
//! that [`crate::ddl::runs`] and the store run); its ledger's table, added columns and upsert,
//! the indexes of its own tables, and its placeholders; its reads of view definitions (drift); whether DDL is transactional
//! (an intent first, or not) and whether grants outlive a drop; its grants and how they are read
//! back (who holds `SELECT` on a view, on its columns, with a grant option or that alone; which
//! roles exist; MariaDB's revokes by column and what its user must be allowed to read for them);
//! how schemas are found and made and roles made; its critical sections' kind, begin and
//! settings, and their session locks (MariaDB's) with their names and release; what each
//! session runs as it connects and what it refuses to keep, and whether the database has one
//! writer; and the meaning of every database error. Still the store's own: the statements of
//! its tables beside the ledger (audit trail, failures, hints, marks) and PostgreSQL's locks in
//! a section (the ledger row's reserve, the advisory locks on a view's names and scopes). The
//! profiles' versions are held to the databases themselves by `views/tests/profiles.rs`
//! (natively and through ODBC), and the store's tests run through them. SQL Server, Oracle,
//! Teradata ([`PROFILES`]): written from the vendors' documentation and unit-tested here (exact
//! statements, and each that `sqlparser` can read parsed as one statement of the profile's
//! dialect); none has run against a real server, and the store does not take these databases'
//! URLs yet ([`named_in_url`] lets its configuration say so by name). README, "Target
//! databases".

mod mariadb;
mod oracle;
mod postgres;
mod sql_server;
mod sqlite;
mod teradata;

use std::time::Duration;

pub use mariadb::MariaDb;
pub use oracle::Oracle;
pub use postgres::Postgres;
pub use sql_server::SqlServer;
pub use sqlite::Sqlite;
pub use teradata::Teradata;

use crate::dialect::Dialect;
use crate::view_sql::ViewLocation;
pub use crate::view_sql::dialect::ParserDialect;
pub use crate::view_sql::{Clauses, Rewrite};

/// The profiles of the databases reached only through ODBC, each once.
pub static PROFILES: [&(dyn Profile + Sync); 3] = [&SqlServer, &Oracle, &Teradata];

/// The profile of a database the store runs today.
pub fn of(dialect: Dialect) -> &'static (dyn Profile + Sync) {
    match dialect {
        Dialect::Sqlite => &Sqlite,
        Dialect::Postgres => &Postgres,
        Dialect::MySql => &MariaDb,
    }
}

/// Where the views of `dialect` go in `schema`: their SQL read by its profile's parser and
/// rewritten as its reader protection asks, with the barrier on.
pub fn view_location(dialect: Dialect, schema: Option<String>) -> ViewLocation {
    let profile = of(dialect);
    ViewLocation::new(
        dialect,
        schema,
        profile.parser(),
        profile.reader_protection().rewrite(),
    )
}

/// What follows `odbc+` in `DATABASE_URL` for each profiled database, and its name.
const SCHEMES: [(&str, &str); 4] = [
    ("sqlserver", "SQL Server"),
    ("mssql", "SQL Server"),
    ("oracle", "Oracle"),
    ("teradata", "Teradata"),
];

/// The name of the profiled database whose ODBC scheme `url` starts with (`odbc+sqlserver:…`,
/// `odbc+mssql:…`, `odbc+oracle:…`, `odbc+teradata:…`), if any. Apart from [`named_in_url`]
/// so that a build that only names them (the store's configuration) links no profile.
pub fn database_named_in_url(url: &str) -> Option<&'static str> {
    let scheme = url.split(':').next()?.to_ascii_lowercase();
    let database = scheme.strip_prefix("odbc+")?;
    SCHEMES
        .iter()
        .find(|(named, _)| *named == database)
        .map(|(_, name)| *name)
}

/// The profile whose ODBC scheme `url` starts with, if any.
pub fn named_in_url(url: &str) -> Option<&'static (dyn Profile + Sync)> {
    let name = database_named_in_url(url)?;
    PROFILES
        .iter()
        .copied()
        .find(|profile| profile.name() == name)
}

/// Everything the store needs from one database.
pub trait Profile {
    /// The database's name, as people write it.
    fn name(&self) -> &'static str;
    /// The `sqlparser` dialect that validates view SQL for it.
    fn parser(&self) -> ParserDialect;
    /// How long a name may be.
    fn name_limit(&self) -> NameLimit;
    /// `identifier` quoted, or why it cannot be a name there.
    fn quote(&self, identifier: &str) -> Result<String, NameError>;

    /// The placeholder of the `n`th (1-based) bound value.
    fn placeholder(&self, _n: usize) -> String {
        "?".to_owned()
    }

    /// `schema.name`, each part quoted.
    fn qualified(&self, schema: &str, name: &str) -> Result<String, NameError> {
        Ok(format!("{}.{}", self.quote(schema)?, self.quote(name)?))
    }

    /// `CREATE VIEW` of `view` (quoted and qualified), which fails if the name is taken, with
    /// the clauses of the view's reader protection ([`ReaderProtection::Rewritten`]: PostgreSQL's
    /// `WITH (security_barrier = true)` after the name, MariaDB's `ALGORITHM = TEMPTABLE` before
    /// `VIEW`; none elsewhere) around the name.
    fn create_view(&self, view: &str, clauses: Clauses, query: &str) -> String {
        view_statement("CREATE", view, clauses, query)
    }
    /// How a view's definition is replaced (the clauses as in [`Profile::create_view`]).
    fn replace_view(&self, view: &str, clauses: Clauses, query: &str) -> Replace;
    /// How a view is dropped.
    fn drop_view(&self, view: &str) -> DropView;
    /// Where the database refuses to drop a view others depend on, or to replace it in place
    /// by one whose columns differ (PostgreSQL, which keeps what others built on a view), how the
    /// store answers: each such statement runs after the view's lock and in a savepoint, a
    /// refused replace becomes a drop and a create, and a refused drop closes the view rather
    /// than drop what others built on it. `None` where every view's DDL simply runs.
    fn refusals(&self) -> Option<Refusals> {
        None
    }
    /// The statement that takes the view `view`'s (quoted and qualified) exclusive lock for the
    /// rest of the section, before a statement that may be refused ([`Profile::refusals`]).
    fn lock_view(&self, _view: &str) -> Option<String> {
        None
    }
    /// The view `view` replaced in place by one of the same `columns` that shows no rows, where
    /// a drop may be refused ([`Profile::refusals`]).
    fn closed_view(&self, _view: &str, _columns: &[ViewColumn]) -> Option<String> {
        None
    }
    /// What keeps a reader's predicates from running before the view's own filter.
    fn reader_protection(&self) -> ReaderProtection;
    /// Whether DDL and grants take part in a transaction (else each commits on its own).
    fn ddl_is_transactional(&self) -> bool;

    /// The catalog's read of the views of `schema` (the session's own where `None`) that
    /// `views` names: rows of (name, definition). The definition is what the catalog holds of
    /// the view (the whole statement as run, or only its query:
    /// [`Profile::definition_is_the_query`]) and of what else decides what it shows (PostgreSQL:
    /// its owner and options; MariaDB: its definer, security type and check option); the
    /// store's drift digest is its SHA-256, so it must not change between versions. NULL where
    /// the catalog does not show it.
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead;
    /// How many views a read of [`Views::After`] takes at most: `None` where one read takes
    /// them all (and [`Views::After`] is never asked for).
    fn catalog_page(&self) -> Option<usize> {
        None
    }
    /// A cheaper read of the view `name`, this session having just made it, where the database
    /// has one (SQLite: the catalog's last row, found by a seek where a search by name reads
    /// every row). A read that finds nothing is made again with [`Views::Named`].
    fn just_made_view_definition(&self, _schema: Option<&str>, _name: &str) -> Option<CatalogRead> {
        None
    }
    /// Whether the catalog's definition is the view's query alone (else the statement).
    fn definition_is_the_query(&self) -> bool;
    /// The grants that let someone other than the views' owner (the store's own user) read the
    /// views of `schema` (the session's own where `None`), or only of the one called `view`
    /// (asked for by its name alone): one row per grant, its columns named as [`GrantRow`]
    /// says; `None` where the database has no grants (and the store refuses to manage them).
    fn view_grants(&self, schema: Option<&str>, view: Option<&str>) -> Option<CatalogRead>;
    /// The statements that grant `SELECT` on `view` to `grantee` (both quoted), in order.
    fn grant_select(&self, view: &str, grantee: &str) -> Vec<String>;
    /// The revoke of `held` (as [`Profile::view_grants`] read it) on `view` from `grantee`
    /// (both quoted), with its grant option and, where the database follows it, what the
    /// grantee granted on from it. `None` where nothing is left to take (a column grant whose
    /// columns were not found), or the database has no grants: the grant then stays, and the
    /// store's check after granting fails the view, naming it.
    fn revoke(&self, view: &str, grantee: &str, held: &HeldGrant<'_>) -> Option<String>;
    /// The read of the columns of the view `view` of `schema` (the session's own where `None`)
    /// on which the account `user`@`host` holds `SELECT` (one text column), where a grant on
    /// columns is revoked column by column (MariaDB); `None` where the view's revoke takes its
    /// columns' grants too.
    fn granted_columns(
        &self,
        _schema: Option<&str>,
        _view: &str,
        _user: &str,
        _host: &str,
    ) -> Option<CatalogRead> {
        None
    }
    /// The read of which of `roles` (the roles a view's grants go to) exist: rows of (`name`,
    /// `kind`), `kind` being `role` for a role, `account` for a user account of that name
    /// (which is no role), and one row `self` naming the store's own user. `None` where the
    /// database has no roles.
    fn roles_found(&self, roles: &[&str]) -> Option<CatalogRead>;
    /// Whether a `GRANT … TO name` can only go to a role (PostgreSQL, where users are roles),
    /// so that a role once seen need not be looked for again; elsewhere it goes to a user
    /// account where no role of that name exists, and roles are looked for before every grant.
    fn grantees_are_roles(&self) -> bool {
        false
    }
    /// What the store's user must be allowed to read for the grants to be read, and the
    /// queries (one each) that check it (`view-sync doctor`), where that is more than its own
    /// views' catalog: MariaDB's privilege tables.
    fn grant_read_rights(&self) -> Option<GrantReadRights> {
        None
    }
    /// Whether a view's grants outlive its drop (MariaDB keeps them for the next view of that
    /// name): they are then revoked before the drop.
    fn drop_keeps_grants(&self) -> bool {
        false
    }
    /// Whether a replace keeps the grants of the view it replaces (so a grant the project no
    /// longer has must be revoked before it).
    fn replace_keeps_grants(&self) -> bool;

    /// The query of one bound value, a schema's name, that returns a row where the schema
    /// exists (PostgreSQL's and SQL Server's schemas, MariaDB's and Teradata's databases,
    /// Oracle's users, SQLite's attached databases).
    fn find_schema(&self) -> String;
    /// The statement that makes the schema `schema` (quoted) where it is absent; `None` where
    /// the store makes none, and fails a view whose schema is missing, saying so: SQLite's
    /// schemas are attached files; Oracle's are users, Teradata's databases need space of their
    /// own, which their administrators give; SQL Server's not yet (`CREATE SCHEMA` has no
    /// `IF NOT EXISTS` there, and must be alone in its batch).
    fn create_schema(&self, _schema: &str) -> Option<String> {
        None
    }
    /// The statement that makes the role `role` (quoted), where the database has roles (SQLite
    /// has none, and the store refuses grants there); where it exists, the statement succeeds or
    /// fails with [`ErrorMeaning::Exists`] (Teradata's number for it is not known here).
    fn create_role(&self, role: &str) -> String {
        format!("CREATE ROLE {role}")
    }
    /// `create` (of a role, of a schema, named from a template) as it runs inside a view's
    /// critical section, where another session may make the same object at once: so that the
    /// object made meanwhile does not fail the section.
    fn tolerating_a_concurrent_create(&self, create: String) -> String {
        create
    }

    /// How a view's critical section is held.
    fn section(&self) -> Section;
    /// The statements that make the store's lock table `table` (quoted and qualified), where the
    /// database has no named locks ([`Section::RowLockOnSecondConnection`]); none elsewhere.
    fn create_lock_table(&self, _table: &str) -> Vec<String> {
        Vec::new()
    }
    /// The statement that takes the lock `key`, waiting `wait` at most where the database can
    /// wait (a wait under the database's unit may be no wait: the section asks for the unit at
    /// least for a view's own lock); `locks` is the lock table where it has one. What it
    /// returns or raises says whether the lock was taken ([`Section`]). `None` where the
    /// section holds no lock of its own ([`Section::LedgerRow`], [`Section::OneWriter`]).
    fn take_lock(&self, locks: &str, key: &LockKey, wait: Duration) -> Option<String>;
    /// The statement that releases the lock `key`; `None` where it ends with the transaction
    /// that holds it.
    fn release_lock(&self, key: &LockKey) -> Option<String>;
    /// One statement that releases `count` locks, binding each one's [`LockKey::name`] in
    /// turn, where the database has one (a section releases its locks in one round trip);
    /// `None` where each is released by [`Profile::release_lock`].
    fn release_locks(&self, _count: usize) -> Option<String> {
        None
    }
    /// The statement that begins a section's transaction ([`Section::OneTransaction`],
    /// [`Section::LedgerRow`], [`Section::OneWriter`]).
    fn begin_section(&self) -> &'static str {
        "BEGIN"
    }
    /// The settings that bound a section's lock waits (and its statements) by `wait`, run in
    /// the round trip that begins it or takes its lock, where the database has them.
    fn section_settings(&self, _wait: Duration) -> Option<String> {
        None
    }

    /// The ledger's column types.
    fn column_types(&self) -> ColumnTypes;
    /// `CREATE TABLE` of the ledger `table` (quoted and qualified); [`ErrorMeaning::Exists`]
    /// where it was made meanwhile.
    fn create_ledger(&self, table: &str) -> String;
    /// How `index`, of one of the store's own tables, is made.
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError>;

    /// `name` in `schema`, each part quoted; `name` alone without a schema.
    fn in_schema(&self, schema: Option<&str>, name: &str) -> Result<String, NameError> {
        match schema {
            Some(schema) => self.qualified(schema, name),
            None => self.quote(name),
        }
    }
    /// The upsert of one ledger row, its values bound in [`Upsert::binds`] order; `applied_sql`
    /// says whether it writes the applied SQL or keeps the row's own (a new row's is then NULL).
    /// Each value is bound as a column's value, never inside an expression (Oracle refuses a
    /// bound text over 4,000 bytes in one, Teradata a CLOB in `COALESCE`).
    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert;

    /// What an error means to the store, if anything.
    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning>;

    /// What every session of the store runs as it connects: so that the database reads
    /// literals and names as view-sql's validation read them, and bounds its waits; `None`
    /// where a session needs nothing set.
    fn session_settings(&self) -> Option<SessionSettings>;
}

/// How long a name may be, and in what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameLimit {
    Characters(usize),
    /// Bytes of its UTF-8 text (the database's character set being AL32UTF8).
    Bytes(usize),
}

impl NameLimit {
    /// Whether `identifier` can be a name: not empty, within the limit, no NUL (which ends a
    /// driver's C string).
    fn check(self, identifier: &str) -> Result<(), NameError> {
        let (length, limit) = match self {
            Self::Characters(limit) => (identifier.chars().count(), limit),
            Self::Bytes(limit) => (identifier.len(), limit),
        };
        if identifier.is_empty() {
            return Err(NameError::Empty);
        }
        if length > limit {
            return Err(NameError::TooLong { limit: self });
        }
        if identifier.contains('\0') {
            return Err(NameError::Forbidden { what: "a NUL" });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("the name is longer than {limit:?}")]
    TooLong { limit: NameLimit },
    #[error("the name holds {what}, which no name can hold there")]
    Forbidden { what: &'static str },
}

/// How a view's definition is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replace {
    /// One statement replaces it in place (and creates it where it is absent); what was built
    /// on it stays.
    InPlace(String),
    /// None replaces it in place: it is dropped and created again in one transaction.
    DropAndCreate,
}

/// How a view is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropView {
    pub statement: String,
    /// Whether the statement fails where the view is already gone ([`ErrorMeaning::Absent`],
    /// which a drop then counts as done).
    pub fails_when_absent: bool,
}

/// The reads a database with refusals ([`Profile::refusals`]) answers them with, each of one
/// bound value, the view's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusals {
    /// The sessions that hold the view's lock, one text each for a person to read.
    pub lock_holders: &'static str,
    /// What depends on the view, one text each (column `blocker`) for a person to read.
    pub dependents: &'static str,
    /// The view's columns in order: `name`, `type` (as the catalog formats it) and `collation`
    /// (one other than the type's own, qualified and quoted; NULL otherwise).
    pub columns: &'static str,
}

/// A column of a view as the catalog describes it, for [`Profile::closed_view`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewColumn {
    pub name: String,
    pub type_name: String,
    pub collation: Option<String>,
}

/// What keeps a reader's own predicates from running before the view's filter (a predicate
/// that fails or stalls on the rows it may not see tells the reader about them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderProtection {
    /// A server setting protects views of other owners; the store checks it before it writes,
    /// and a check that fails (Oracle: ORA-00942 without `SELECT` on `V_$PARAMETER`) counts as
    /// unprotected.
    ServerSetting {
        /// A query of one row and one column: the setting's value.
        check: &'static str,
        /// The value that protects.
        protects_when: &'static str,
        /// What the setting leaves open.
        gaps: &'static str,
    },
    /// The store rewrites the view's statement with `rewrite` so that the server works the view
    /// out before the reader's conditions (view-sql's barrier), as `how` says.
    Rewritten { rewrite: Rewrite, how: &'static str },
    /// Nothing does: the store runs only where the operator says so (`VIEW_BARRIER=false`),
    /// and the README says what readers can learn.
    None { why: &'static str },
}

impl ReaderProtection {
    /// The rewrite view-sql gives the views, if any.
    pub fn rewrite(&self) -> Option<Rewrite> {
        match self {
            Self::Rewritten { rewrite, .. } => Some(*rewrite),
            Self::ServerSetting { .. } | Self::None { .. } => None,
        }
    }
}

/// How a view's critical section (its DDL and its ledger row, excluding every other section of
/// the same view) is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// One transaction holds the DDL and the row (DDL is transactional), under a lock of the
    /// session taken before it and released ([`Profile::release_lock`]) once it has ended (a
    /// session lock needs no open transaction to be taken). The lock statement returns one row
    /// of one integer: `taken_from` or more means taken, less means not (and a deadlock's
    /// victim must roll back what it holds).
    OneTransaction { taken_from: i64 },
    /// A session lock held across statements that each commit (DDL commits on its own), so an
    /// intent is written to the ledger before the DDL, as on MariaDB; `answer` says how the
    /// lock statement tells whether it took the lock.
    SessionLock { answer: LockAnswer },
    /// No named locks: a row of a lock table, locked in a transaction of a second connection
    /// that is held while the section runs; the lock statement fails at once with
    /// [`ErrorMeaning::LockWait`] while another holds it, and is retried until the deadline.
    RowLockOnSecondConnection,
    /// One transaction holds the DDL and the row (DDL is transactional), and the view's ledger
    /// row is its lock: a placeholder row inserted unless there is one, then read `FOR UPDATE`
    /// (PostgreSQL; its locks on names and scopes are the store's own, see the `views` crate).
    LedgerRow,
    /// The database has one writer at a time, taken by the transaction that holds the DDL and
    /// the row (SQLite's `BEGIN IMMEDIATE`).
    OneWriter,
}

/// How a [`Section::SessionLock`]'s lock statement says whether it took the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAnswer {
    /// It returns nothing, and fails with [`ErrorMeaning::LockWait`] where it did not.
    Fails,
    /// It returns one row of one integer: `taken` where it took the lock, anything else (NULL
    /// included: an error) where it did not.
    Returns { taken: i64 },
}

/// What a lock guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKind {
    /// A view's critical section.
    View,
    /// A view name a section may take, so that two sections that may take one name take turns
    /// (see the `views` crate's `section`).
    ViewName,
}

/// A lock's key: what it guards, and a digest of the ledger and of the view or the name. The
/// names of the locks ([`LockKey::name`]) are those MariaDB's sections have always taken: two
/// versions of the store running side by side (a rolling deploy) must lock one view alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockKey {
    pub kind: LockKind,
    pub digest: [u8; 16],
}

impl LockKey {
    /// The lock of the section of the view (`project_id`, `data_source_id`) of the ledger
    /// `ledger` (its reference, as the store writes it).
    pub fn of_view(ledger: &str, project_id: &str, data_source_id: &str) -> Self {
        Self {
            kind: LockKind::View,
            digest: lock_digest(&[ledger, project_id, data_source_id]),
        }
    }

    /// The locks of the view names `names` among the views of `ledger`, in the one order every
    /// section takes them in (so that no two wait on each other in a cycle), each once; folded
    /// to lower case as [`crate::lanes`] compares names (a collision only makes two names share
    /// a lock).
    pub fn of_view_names(ledger: &str, names: &[String]) -> Vec<Self> {
        let mut digests: Vec<[u8; 16]> = names
            .iter()
            .map(|name| lock_digest(&[ledger, "view name", &name.to_lowercase()]))
            .collect();
        digests.sort_unstable();
        digests.dedup();
        digests
            .into_iter()
            .map(|digest| Self {
                kind: LockKind::ViewName,
                digest,
            })
            .collect()
    }

    /// The name a named lock takes: `immuta_view_sync_` (`immuta_view_sync_name_` for a view
    /// name's) and the digest in hex; within MariaDB's 64 characters.
    pub fn name(&self) -> String {
        let prefix = match self.kind {
            LockKind::View => "immuta_view_sync_",
            LockKind::ViewName => "immuta_view_sync_name_",
        };
        format!("{prefix}{}", crate::hex::encode(&self.digest))
    }

    /// A number below `count` from the key, for a database whose locks are numbers or slots
    /// (two keys that give one number only share a lock).
    pub fn number_below(&self, count: u32) -> u32 {
        let [a, b, c, d, ..] = self.digest;
        u32::from_be_bytes([a, b, c, d]) % count
    }

    /// The key as two numbers, for a lock of two (PostgreSQL's advisory locks).
    pub fn two_numbers(&self) -> [i32; 2] {
        let [a, b, c, d, e, f, g, h, ..] = self.digest;
        [
            i32::from_be_bytes([a, b, c, d]),
            i32::from_be_bytes([e, f, g, h]),
        ]
    }
}

/// The first 16 bytes of the SHA-256 of `parts`, each ended by a NUL.
fn lock_digest(parts: &[&str]) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut first = [0; 16];
    first.copy_from_slice(&digest[..16]);
    first
}

/// A catalog query and its bound values, in order (`None` binds NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRead {
    pub statement: String,
    pub binds: Vec<Option<String>>,
}

/// Which views of a schema a catalog read is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Views<'a> {
    All,
    /// The one called so: asked for by its name alone (never as `(? IS NULL OR name = ?)`,
    /// which no index of the catalog serves), spelled as the catalog may spell it.
    Named(&'a str),
    /// The next page ([`Profile::catalog_page`]) of views named after this one, by name in the
    /// catalog's order ("" for the first).
    After(&'a str),
}

impl Views<'_> {
    /// The condition on the catalog's `name_column` (`AND …`, its placeholder `?`) and its
    /// bind, for a profile that binds with `?`.
    fn condition(self, name_column: &str) -> (String, Option<String>) {
        match self {
            Self::All => (String::new(), None),
            Self::Named(name) => (format!(" AND {name_column} = ?"), Some(name.to_owned())),
            Self::After(after) => (format!(" AND {name_column} > ?"), Some(after.to_owned())),
        }
    }
}

/// The columns of a row of [`Profile::view_grants`], by name, each text:
/// - `name`: the view;
/// - `grantee`: the role or user granted; for `PUBLIC` (everyone) empty, or NULL where empty
///   text is NULL (Oracle), with a NULL `host`;
/// - `host`: the user account's host where grantees are accounts (MariaDB: empty for a role; an
///   empty user with a host is an anonymous account), NULL elsewhere;
/// - `level`: `view` for a grant on the whole view, `columns` for one on some of its columns;
/// - `grantable`: `yes` where the grantee may grant it on, else `no`;
/// - `selects`: `yes` where it lets the grantee read, `no` for a grant option alone (MariaDB);
/// - `privilege`: the privilege as [`Privilege::named`] reads it.
pub struct GrantRow;

impl GrantRow {
    pub const COLUMNS: [&'static str; 7] = [
        "name",
        "grantee",
        "host",
        "level",
        "grantable",
        "selects",
        "privilege",
    ];
}

/// A privilege that lets its grantee read a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    Select,
    /// Oracle's `READ`: `SELECT` without `SELECT … FOR UPDATE`.
    Read,
}

impl Privilege {
    /// The privilege a catalog calls `name`, if it is one of these.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "SELECT" => Some(Self::Select),
            "READ" => Some(Self::Read),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "SELECT",
            Self::Read => "READ",
        }
    }
}

/// A grant as [`Profile::view_grants`] read it, for its revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldGrant<'a> {
    pub privilege: Privilege,
    /// On some of the view's columns: those found by [`Profile::granted_columns`] (unquoted)
    /// where the database revokes by column, else none.
    pub columns: Option<&'a [String]>,
    /// With the right to grant it on.
    pub grantable: bool,
    /// `false` for a grant option alone.
    pub selects: bool,
}

/// What reading the grants takes ([`Profile::grant_read_rights`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantReadRights {
    /// What the store's user must be allowed to read, in words.
    pub to_read: &'static str,
    /// Queries that fail where it may not (each returns no rows).
    pub checks: &'static [&'static str],
}

/// A read of the schema (`schema`, or the session's own by `current`) and the views `views`
/// names: `select` (`SELECT … WHERE`), then the schema's condition on `schema_column`, then the
/// names' on `name_column`, for a profile that binds with `?` and reads in one go (one that
/// pages needs an order and a limit, and a first page's "" is NULL on Oracle).
fn catalog_read(
    select: &str,
    schema_column: &str,
    current: &str,
    name_column: &str,
    schema: Option<&str>,
    views: Views<'_>,
) -> CatalogRead {
    let (names, name) = views.condition(name_column);
    CatalogRead {
        statement: format!("{select} {schema_column} = COALESCE(?, {current}){names}"),
        binds: [Some(schema.map(str::to_owned)), name.map(Some)]
            .into_iter()
            .flatten()
            .collect(),
    }
}

/// A read of which of `roles` exist, its statement made by `statement` from the list of their
/// placeholders (`?, ?, …`), the names bound once for each of the statement's `lists`.
fn roles_read(roles: &[&str], lists: usize, statement: impl FnOnce(&str) -> String) -> CatalogRead {
    CatalogRead {
        statement: statement(&vec!["?"; roles.len()].join(", ")),
        binds: (0..lists)
            .flat_map(|_| roles.iter().map(|role| Some((*role).to_owned())))
            .collect(),
    }
}

/// The binds of a read of `schema` (NULL: the session's own) and, where asked for, of the one
/// view `view`.
fn schema_and_view(schema: Option<&str>, view: Option<&str>) -> Vec<Option<String>> {
    let mut binds = vec![schema.map(str::to_owned)];
    binds.extend(view.map(|view| Some(view.to_owned())));
    binds
}

/// The ledger's column types in one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnTypes {
    /// An id or key of up to 255 characters, compared case-sensitively.
    pub key: &'static str,
    /// A view's reference (up to 1,024 characters).
    pub reference: &'static str,
    /// A digest (64 hex characters) or a state word.
    pub short: &'static str,
    /// Microseconds since the epoch.
    pub micros: &'static str,
    /// Text of any length (the applied SQL, up to 1 MiB).
    pub long_text: &'static str,
    /// Whether the database stores an empty text as NULL (Oracle): a column that may be empty
    /// is then nullable and read back NULL as empty.
    pub empty_text_is_null: bool,
}

/// The ledger's types in the SQL standard's words (PostgreSQL, SQLite; MariaDB but for its
/// long text).
const STANDARD_TYPES: ColumnTypes = ColumnTypes {
    key: "VARCHAR(255)",
    reference: "VARCHAR(1024)",
    short: "VARCHAR(64)",
    micros: "BIGINT",
    long_text: "TEXT",
    empty_text_is_null: false,
};

/// A ledger column and the type it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub content: Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Key,
    Reference,
    Short,
    Micros,
    LongText,
}

/// What a column may hold besides a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Never NULL, never empty.
    Always,
    /// Never NULL, but empty text at times (a dropped row's digest): NULL where the database
    /// stores empty text as NULL ([`ColumnTypes::empty_text_is_null`]), read back as empty.
    MaybeEmpty,
    /// NULL at times.
    MaybeNull,
}

/// The ledger's columns in the order the `views` crate creates them; the first two are its key.
pub const LEDGER_COLUMNS: [Column; 11] = [
    column("project_id", ColumnKind::Key, Content::Always),
    column("data_source_id", ColumnKind::Key, Content::Always),
    column("view_name", ColumnKind::Reference, Content::Always),
    column("sql_digest", ColumnKind::Short, Content::MaybeEmpty),
    column("state", ColumnKind::Short, Content::Always),
    column("observed_at", ColumnKind::Micros, Content::Always),
    column("updated_at", ColumnKind::Micros, Content::Always),
    column("catalog_digest", ColumnKind::Short, Content::MaybeEmpty),
    column("applied_sql", ColumnKind::LongText, Content::MaybeNull),
    column("grants_digest", ColumnKind::Short, Content::MaybeEmpty),
    column("blocked_by", ColumnKind::LongText, Content::MaybeNull),
];

/// The column an upsert writes or keeps ([`AppliedSql`]).
const APPLIED_SQL: &str = "applied_sql";

/// Whether an upsert writes the applied SQL (an apply) or keeps the row's own (a drop, a
/// catalog digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedSql {
    Written,
    Kept,
}

impl AppliedSql {
    /// The ledger's columns an upsert writes: all, or all but the applied SQL.
    pub fn written(self) -> Vec<&'static Column> {
        LEDGER_COLUMNS
            .iter()
            .filter(|column| self == Self::Written || column.name != APPLIED_SQL)
            .collect()
    }
}

const fn column(name: &'static str, kind: ColumnKind, content: Content) -> Column {
    Column {
        name,
        kind,
        content,
    }
}

impl ColumnTypes {
    fn of(&self, kind: ColumnKind) -> &'static str {
        match kind {
            ColumnKind::Key => self.key,
            ColumnKind::Reference => self.reference,
            ColumnKind::Short => self.short,
            ColumnKind::Micros => self.micros,
            ColumnKind::LongText => self.long_text,
        }
    }

    /// `column`'s definition, `name type [NOT NULL [DEFAULT '']]`.
    pub fn definition(&self, column: &Column) -> String {
        let constraint = match (column.content, self.empty_text_is_null) {
            (Content::Always, _) => " NOT NULL",
            (Content::MaybeEmpty, false) => " NOT NULL DEFAULT ''",
            (Content::MaybeEmpty, true) | (Content::MaybeNull, _) => "",
        };
        format!("{} {}{constraint}", column.name, self.of(column.kind))
    }

    /// The ledger's column definitions, comma-separated.
    fn ledger_columns(&self) -> String {
        LEDGER_COLUMNS
            .iter()
            .map(|column| self.definition(column))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An upsert and the ledger columns its `?`s take, in order (a column may be bound twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsert {
    pub statement: String,
    pub binds: Vec<&'static str>,
}

/// What every session runs as it connects ([`Profile::session_settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Statements of the profile's own, run as one text.
    pub statements: &'static str,
    /// A setting the statements' one query reads back (in the one row they return), which must
    /// hold none of some flags.
    pub refused_flags: Option<RefusedFlags>,
}

/// Flags a session must not keep on: a setting the server may hold in a way the session's
/// statements cannot take back, refused rather than run statements the database reads otherwise
/// than their validation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedFlags {
    /// The column of the row the settings return that holds the setting, its flags
    /// comma-separated.
    pub column: &'static str,
    pub flags: &'static [&'static str],
    /// What the operator does about one.
    pub remedy: &'static str,
}

impl RefusedFlags {
    /// The first refused flag `setting` holds, if any.
    pub fn found(&self, setting: &str) -> Option<&'static str> {
        let held: Vec<&str> = setting.split(',').map(str::trim).collect();
        self.flags.iter().copied().find(|flag| held.contains(flag))
    }
}

/// An index of one of the store's own tables ([`Profile::add_index`]), its names unquoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreIndex<'a> {
    /// The table's schema (the session's own where `None`).
    pub schema: Option<&'a str>,
    pub table: &'a str,
    /// The index's name.
    pub name: &'a str,
    /// The column it is on.
    pub column: &'a str,
    /// Where the column is too long to be a key whole, how many of its first characters are
    /// (where the database keys a column's first characters: MariaDB).
    pub prefix: Option<usize>,
}

impl StoreIndex<'_> {
    /// The binds of a read of the index by its schema (NULL: the session's own), its table
    /// and its name, in that order.
    fn schema_table_and_name(&self) -> Vec<Option<String>> {
        vec![
            self.schema.map(str::to_owned),
            Some(self.table.to_owned()),
            Some(self.name.to_owned()),
        ]
    }
}

/// How an index of the store's own tables is made ([`Profile::add_index`]), at each process's
/// start: the statement, which fails with [`ErrorMeaning::Exists`] (or not at all) where it is
/// there, and where looking first spares a lock or a refusal, the read that finds it (a row
/// whose first column, a text, is not NULL where it is there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddIndex {
    pub find: Option<CatalogRead>,
    pub create: String,
}

/// An error as the database gave it: its SQLSTATE and its native number, where it has each
/// (PostgreSQL speaks in SQLSTATEs; the others in numbers, their SQLSTATEs being coarser).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    pub sqlstate: Option<&'a str>,
    pub native: Option<i64>,
}

/// What an error means to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMeaning {
    /// A lock was not had in time, or a deadlock chose this session: retried.
    LockWait,
    /// The login was refused: the secret is read again, not retried as is.
    LoginRefused,
    /// The object is not there (a drop counts it done where [`DropView::fails_when_absent`]).
    Absent,
    /// Made meanwhile (a table, an index, a role): as good as made, by the DDL that made it.
    /// PostgreSQL's includes a unique violation (two sessions making one object collide in the
    /// catalog's own index), so only DDL may take it as done, never a write of rows.
    Exists,
    /// The grantee of a grant does not exist.
    GranteeMissing,
    /// A view cannot be replaced in place: its columns differ from the new query's (a drop and
    /// a create replace it instead).
    ColumnsDiffer,
    /// A view cannot be dropped or replaced: other objects depend on it.
    OthersDepend,
}

/// `names` comma-separated, each through `each`.
fn listed(names: &[&'static Column], mut each: impl FnMut(&str) -> String) -> String {
    names
        .iter()
        .map(|column| each(column.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `verb` (`CREATE`, `CREATE OR REPLACE`, …) `[before]VIEW view[after] AS query`.
fn view_statement(verb: &str, view: &str, clauses: Clauses, query: &str) -> String {
    format!(
        "{verb} {}VIEW {view}{} AS {query}",
        clauses.before_view, clauses.after_name
    )
}

/// `CREATE OR REPLACE VIEW`, which replaces a view in place (PostgreSQL, MariaDB, Oracle).
fn create_or_replace(view: &str, clauses: Clauses, query: &str) -> Replace {
    Replace::InPlace(view_statement("CREATE OR REPLACE", view, clauses, query))
}

/// `DROP VIEW IF EXISTS` of `view`, which an absent view does not fail.
pub fn drop_view_if_exists(view: &str) -> DropView {
    DropView {
        statement: format!("DROP VIEW IF EXISTS {view}"),
        fails_when_absent: false,
    }
}

/// `CREATE TABLE IF NOT EXISTS` of the ledger `table` (PostgreSQL, MariaDB, SQLite).
fn create_ledger_if_absent(profile: &dyn Profile, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} ({}, PRIMARY KEY (project_id, data_source_id))",
        profile.column_types().ledger_columns()
    )
}

/// The upsert of a ledger row where the database has `INSERT … ON CONFLICT` (PostgreSQL,
/// SQLite); `excluded` names the row the insert would have written, and the table's alias keeps
/// it that where the ledger itself is named `excluded`.
fn upsert_on_conflict(profile: &dyn Profile, table: &str, applied_sql: AppliedSql) -> Upsert {
    let written = applied_sql.written();
    let mut n = 0;
    Upsert {
        statement: format!(
            "INSERT INTO {table} AS ledger_row ({}) VALUES ({}) \
             ON CONFLICT (project_id, data_source_id) DO UPDATE SET {}",
            listed(&written, str::to_owned),
            listed(&written, |_| {
                n += 1;
                profile.placeholder(n)
            }),
            listed(&written[2..], |name| format!("{name} = excluded.{name}")),
        ),
        binds: written.iter().map(|column| column.name).collect(),
    }
}

#[cfg(test)]
mod tests;
