//! Teradata Vantage 16.20 or newer (object names of up to 128 characters), through Teradata's
//! ODBC driver, sessions in ANSI mode.
//!
//! Teradata has no named locks, and DDL must be the last statement of its transaction, so a
//! view's section holds a row of a lock table of 1,024 slots in a transaction of a second
//! connection (`LOCKING ROW FOR WRITE NOWAIT`, retried until the deadline: a lock wait cannot be
//! bounded), and the view's own statements commit one by one, an intent written to the ledger
//! before the DDL, as on MariaDB. Names compare case-insensitively even quoted, as the store's
//! lanes already fold them; the ledger's text is `CASESPECIFIC`. A schema is a database.

use std::time::Duration;

use super::{
    AddIndex, AppliedSql, CatalogRead, Clauses, ColumnTypes, DropView, ErrorCode, ErrorMeaning,
    HeldGrant, LockKey, NameError, NameLimit, ParserDialect, Privilege, Profile, ReaderProtection,
    Replace, Section, SessionSettings, StoreIndex, Upsert, Views, listed,
};

/// The lock table's slots: a view takes the slot of its key (two views sharing one only wait
/// for each other).
pub const LOCK_SLOTS: u32 = 1024;

#[derive(Debug, Clone, Copy)]
pub struct Teradata;

impl Teradata {
    pub fn lock_slot(key: &LockKey) -> u32 {
        key.number_below(LOCK_SLOTS)
    }
}

impl Profile for Teradata {
    fn name(&self) -> &'static str {
        "Teradata"
    }

    fn parser(&self) -> ParserDialect {
        ParserDialect::Teradata
    }

    fn name_limit(&self) -> NameLimit {
        NameLimit::Characters(128)
    }

    /// `"name"`, a double quote inside doubled.
    fn quote(&self, identifier: &str) -> Result<String, NameError> {
        self.name_limit().check(identifier)?;
        Ok(format!("\"{}\"", identifier.replace('"', "\"\"")))
    }

    /// The session's mode (ANSI) is chosen at logon, by the ODBC data source
    /// (`SessionMode=ANSI`): nothing is set here (unverified: no read of it back).
    fn session_settings(&self) -> Option<SessionSettings> {
        None
    }

    fn replace_view(&self, view: &str, clauses: Clauses, query: &str) -> Replace {
        // Creates the view where it is absent; keeps the privileges of one that exists.
        Replace::InPlace(super::view_statement("REPLACE", view, clauses, query))
    }

    fn drop_view(&self, view: &str) -> DropView {
        DropView {
            statement: format!("DROP VIEW {view}"),
            fails_when_absent: true,
        }
    }

    fn reader_protection(&self) -> ReaderProtection {
        ReaderProtection::None {
            why: "Teradata has no optimization fence for views: the optimizer may evaluate a \
                  reader's own conditions (a division by zero, a failed cast) on rows the \
                  view's WHERE excludes, before it, and the error tells the reader about them",
        }
    }

    fn ddl_is_transactional(&self) -> bool {
        false
    }

    /// `RequestText` holds the first 12,500 characters of the statement that made the view (the
    /// whole is in `SHOW VIEW`): a longer definition is compared by that part.
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead {
        super::catalog_read(
            "SELECT TableName, RequestText FROM DBC.TablesV WHERE TableKind = 'V' AND",
            "DatabaseName",
            "DATABASE",
            "TableName",
            schema,
            views,
        )
    }

    fn definition_is_the_query(&self) -> bool {
        false
    }

    /// `R` is the retrieve (`SELECT`) right, to users and to roles (a role cannot hold it with
    /// grant option), on the database's views only. The store's own user is left out: Teradata
    /// gives a view's creator its rights, `SELECT` with grant option among them.
    /// `DBC.AllRightsV` (users) and `DBC.AllRoleRightsV` (roles, which hold no grant option)
    /// of the views, the store's own user left out; every right read as on the whole view.
    /// Unverified: how a grant to `PUBLIC` shows there (as a user of that name, it is revoked
    /// as one, and the check after granting fails the view where it stays).
    fn view_grants(&self, schema: Option<&str>, view: Option<&str>) -> Option<CatalogRead> {
        let one_view = if view.is_some() {
            " AND r.TableName = ?"
        } else {
            ""
        };
        let binds = super::schema_and_view(schema, view);
        Some(CatalogRead {
            statement: format!(
                "SELECT r.TableName AS \"name\", r.UserName AS \"grantee\", \
                 CAST(NULL AS VARCHAR(128)) AS \"host\", 'view' AS \"level\", \
                 MAX(CASE r.GrantAuthority WHEN 'Y' THEN 'yes' ELSE 'no' END) AS \"grantable\", \
                 'yes' AS \"selects\", 'SELECT' AS \"privilege\" \
                 FROM DBC.AllRightsV r JOIN DBC.TablesV t \
                 ON t.DatabaseName = r.DatabaseName AND t.TableName = r.TableName \
                 WHERE r.DatabaseName = COALESCE(?, DATABASE){one_view} AND t.TableKind = 'V' \
                 AND r.AccessRight = 'R' AND r.UserName <> USER GROUP BY 1, 2 \
                 UNION ALL \
                 SELECT r.TableName, r.RoleName, CAST(NULL AS VARCHAR(128)), 'view', 'no', 'yes', 'SELECT' \
                 FROM DBC.AllRoleRightsV r JOIN DBC.TablesV t \
                 ON t.DatabaseName = r.DatabaseName AND t.TableName = r.TableName \
                 WHERE r.DatabaseName = COALESCE(?, DATABASE){one_view} AND t.TableKind = 'V' \
                 AND r.AccessRight = 'R' GROUP BY 1, 2"
            ),
            binds: binds.iter().chain(&binds).cloned().collect(),
        })
    }

    fn grant_select(&self, view: &str, grantee: &str) -> Vec<String> {
        vec![format!("GRANT SELECT ON {view} TO {grantee}")]
    }

    fn revoke(&self, view: &str, grantee: &str, held: &HeldGrant<'_>) -> Option<String> {
        (held.privilege == Privilege::Select)
            .then(|| format!("REVOKE SELECT ON {view} FROM {grantee}"))
    }

    /// `DBC.RoleInfoV`; users (`DBC.UsersV`) as accounts.
    fn roles_found(&self, roles: &[&str]) -> Option<CatalogRead> {
        Some(super::roles_read(roles, 2, |names| {
            format!(
                "SELECT RoleName AS \"name\", 'role' AS \"kind\" FROM DBC.RoleInfoV WHERE RoleName IN ({names}) \
                 UNION ALL SELECT UserName, 'account' FROM DBC.UsersV WHERE UserName IN ({names}) \
                 UNION ALL SELECT USER, 'self'"
            )
        }))
    }

    fn replace_keeps_grants(&self) -> bool {
        true
    }

    fn find_schema(&self) -> String {
        "SELECT 'found' AS found FROM DBC.DatabasesV WHERE DatabaseName = ?".to_owned()
    }

    fn section(&self) -> Section {
        Section::RowLockOnSecondConnection
    }

    /// The table and its slots, made once (3803 where it was made meanwhile; the slots'
    /// insert then finds them and adds none).
    fn create_lock_table(&self, table: &str) -> Vec<String> {
        vec![
            format!("CREATE TABLE {table} (slot INTEGER NOT NULL) UNIQUE PRIMARY INDEX (slot)"),
            format!(
                "INSERT INTO {table} (slot) SELECT day_of_calendar - 1 FROM sys_calendar.calendar \
                 WHERE day_of_calendar <= {LOCK_SLOTS} AND NOT EXISTS (SELECT 1 FROM {table})"
            ),
        ]
    }

    /// Fails at once (7423) while another section holds the slot: there is no lock timeout to
    /// give, so `wait` is the store's to spend on retries.
    fn take_lock(&self, locks: &str, key: &LockKey, _wait: Duration) -> Option<String> {
        Some(format!(
            "LOCKING ROW FOR WRITE NOWAIT SELECT slot FROM {locks} WHERE slot = {}",
            Self::lock_slot(key)
        ))
    }

    fn release_lock(&self, _key: &LockKey) -> Option<String> {
        None
    }

    fn column_types(&self) -> ColumnTypes {
        ColumnTypes {
            key: "VARCHAR(255) CHARACTER SET UNICODE CASESPECIFIC",
            reference: "VARCHAR(1024) CHARACTER SET UNICODE CASESPECIFIC",
            short: "VARCHAR(64) CHARACTER SET LATIN CASESPECIFIC",
            micros: "BIGINT",
            long_text: "CLOB CHARACTER SET UNICODE",
            empty_text_is_null: false,
        }
    }

    /// A secondary index, looked for first (no `IF NOT EXISTS`).
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError> {
        Ok(AddIndex {
            find: Some(CatalogRead {
                statement: "SELECT IndexName FROM DBC.IndicesV WHERE DatabaseName = \
                            COALESCE(?, DATABASE) AND TableName = ? AND IndexName = ?"
                    .to_owned(),
                binds: index.schema_table_and_name(),
            }),
            create: format!(
                "CREATE INDEX {} ({}) ON {}",
                self.quote(index.name)?,
                index.column,
                self.in_schema(index.schema, index.table)?
            ),
        })
    }

    /// 3803 where it was made meanwhile.
    fn create_ledger(&self, table: &str) -> String {
        format!(
            "CREATE TABLE {table} ({}) UNIQUE PRIMARY INDEX (project_id, data_source_id)",
            self.column_types().ledger_columns()
        )
    }

    /// Teradata's atomic upsert: the update names the whole primary index, the insert follows
    /// `ELSE`; the values are bound for both (the key twice, the same values).
    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert {
        let written = applied_sql.written();
        let (key, rest) = written.split_at(2);
        Upsert {
            statement: format!(
                "UPDATE {table} SET {} WHERE project_id = ? AND data_source_id = ? \
                 ELSE INSERT INTO {table} ({}) VALUES ({})",
                listed(rest, |name| format!("{name} = ?")),
                listed(&written, str::to_owned),
                listed(&written, |_| "?".to_owned()),
            ),
            binds: rest
                .iter()
                .chain(key)
                .chain(&written)
                .map(|column| column.name)
                .collect(),
        }
    }

    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning> {
        match code.native? {
            // A deadlock aborted the transaction; the object is locked and NOWAIT was asked.
            2631 | 7423 => Some(ErrorMeaning::LockWait),
            // The user or the password is not valid.
            8017 => Some(ErrorMeaning::LoginRefused),
            3807 => Some(ErrorMeaning::Absent),
            // A table, a view of that name exists.
            3803 | 3804 => Some(ErrorMeaning::Exists),
            _ => None,
        }
    }
}
