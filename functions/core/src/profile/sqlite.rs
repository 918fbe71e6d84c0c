//! SQLite 3.35 or newer, through sqlx: the statements the store runs there.
//!
//! One writer at a time (`BEGIN IMMEDIATE`) holds a view's DDL and its ledger row in one
//! transaction. No replace in place: a view is dropped and created again in that transaction.
//! No users, so no grants and no readers of its own to protect a view from.

use std::time::Duration;

use super::{
    AddIndex, AppliedSql, CatalogRead, Clauses, ColumnTypes, DropView, ErrorCode, ErrorMeaning,
    HeldGrant, LockKey, NameError, NameLimit, ParserDialect, Profile, ReaderProtection, Replace,
    Section, SessionSettings, StoreIndex, Upsert, Views,
};
use crate::dialect::Dialect;

/// What both reads of view definitions select, from a catalog.
const DEFINITIONS: &str = "SELECT name, sql AS definition FROM";

/// The catalog of `schema` (an attached database), or of the connection's own.
fn master(schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("{}.sqlite_master", Dialect::Sqlite.quote(schema)),
        None => "sqlite_master".to_owned(),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Sqlite;

impl Profile for Sqlite {
    fn name(&self) -> &'static str {
        Dialect::Sqlite.name()
    }

    fn parser(&self) -> ParserDialect {
        ParserDialect::Sqlite
    }

    fn name_limit(&self) -> NameLimit {
        // None of its own; the statement's (a billion bytes by default) is the bound.
        NameLimit::Bytes(1_000_000_000)
    }

    fn quote(&self, identifier: &str) -> Result<String, NameError> {
        self.name_limit().check(identifier)?;
        Ok(Dialect::Sqlite.quote(identifier))
    }

    fn replace_view(&self, _view: &str, _clauses: Clauses, _query: &str) -> Replace {
        Replace::DropAndCreate
    }

    fn drop_view(&self, view: &str) -> DropView {
        super::drop_view_if_exists(view)
    }

    fn reader_protection(&self) -> ReaderProtection {
        ReaderProtection::None {
            why: "SQLite has no readers of its own: whoever can open the file reads every table",
        }
    }

    fn ddl_is_transactional(&self) -> bool {
        true
    }

    /// `sqlite_master` of the schema (an attached database): the statement as run.
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead {
        let (names, name) = views.condition("name");
        CatalogRead {
            statement: format!(
                "{DEFINITIONS} {} WHERE type = 'view'{names}",
                master(schema)
            ),
            binds: name.map(Some).into_iter().collect(),
        }
    }

    /// The row a `CREATE VIEW` has just written is the catalog's last (a new rowid is one past
    /// the largest), found by a seek; `sqlite_master` has no index on names, and a search by
    /// name reads every row, which at thousands of views costs as much as the `CREATE VIEW`.
    fn just_made_view_definition(&self, schema: Option<&str>, name: &str) -> Option<CatalogRead> {
        let master = master(schema);
        Some(CatalogRead {
            statement: format!(
                "{DEFINITIONS} {master} WHERE type = 'view' AND name = ? \
                 AND rowid = (SELECT max(rowid) FROM {master})"
            ),
            binds: vec![Some(name.to_owned())],
        })
    }

    fn definition_is_the_query(&self) -> bool {
        false
    }

    fn view_grants(&self, _schema: Option<&str>, _view: Option<&str>) -> Option<CatalogRead> {
        None
    }

    fn grant_select(&self, _view: &str, _grantee: &str) -> Vec<String> {
        Vec::new()
    }

    fn revoke(&self, _view: &str, _grantee: &str, _held: &HeldGrant<'_>) -> Option<String> {
        None
    }

    fn roles_found(&self, _roles: &[&str]) -> Option<CatalogRead> {
        None
    }

    fn replace_keeps_grants(&self) -> bool {
        // There are none to keep.
        true
    }

    fn find_schema(&self) -> String {
        "SELECT 'found' AS found FROM pragma_database_list WHERE name = ?".to_owned()
    }

    fn section(&self) -> Section {
        Section::OneWriter
    }

    fn take_lock(&self, _locks: &str, _key: &LockKey, _wait: Duration) -> Option<String> {
        None
    }

    /// WAL: readers never block the writer; NORMAL sync is durable in WAL mode. A busy timeout
    /// of one second per attempt: SQLite has no per-transaction timeout, so this stays below
    /// the default deadline margin, and the processor stops its attempts at the deadline. Every
    /// DDL statement reads all of `sqlite_master` (a row per view with its SQL): a page cache of
    /// up to 16 MiB (filled only as pages are read) holds eight times the views the default
    /// 2 MiB does before each read goes to the file (at about 5,000 views of 150 bytes of SQL).
    fn session_settings(&self) -> Option<SessionSettings> {
        Some(SessionSettings {
            statements: "PRAGMA busy_timeout = 1000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA cache_size = -16384",
            refused_flags: None,
        })
    }

    /// Takes the one writer's lock at once (waiting up to the busy timeout).
    fn begin_section(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }

    fn release_lock(&self, _key: &LockKey) -> Option<String> {
        None
    }

    /// Type names for their affinities (TEXT, INTEGER); SQLite does not hold text to a length.
    fn column_types(&self) -> ColumnTypes {
        super::STANDARD_TYPES
    }

    /// The schema goes on the index's name (one writer: no one waits for this).
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError> {
        Ok(AddIndex {
            find: None,
            create: format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                Dialect::Sqlite.qualified(index.schema, index.name),
                Dialect::Sqlite.quote(index.table),
                index.column
            ),
        })
    }

    fn create_ledger(&self, table: &str) -> String {
        super::create_ledger_if_absent(self, table)
    }

    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert {
        super::upsert_on_conflict(self, table, applied_sql)
    }

    /// SQLite's result codes, extended ones included (their low byte is the primary code). Its
    /// other refusals (a table that exists, one that does not) share SQLITE_ERROR: they mean
    /// nothing here.
    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning> {
        // SQLITE_BUSY, SQLITE_LOCKED.
        matches!(code.native? & 0xff, 5 | 6).then_some(ErrorMeaning::LockWait)
    }
}
