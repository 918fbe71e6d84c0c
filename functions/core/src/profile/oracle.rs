//! Oracle Database 12.2 or newer (names of up to 128 bytes), through Oracle's Instant Client
//! ODBC driver.
//!
//! DDL and grants commit on their own (and end the transaction before them, with its row
//! locks), so a view's section is MariaDB's: a lock held by the session across statements
//! (`DBMS_LOCK`, which needs `EXECUTE ON DBMS_LOCK` granted to the store's user), an intent
//! written to the ledger before the DDL. Oracle stores an empty text as NULL: the columns that
//! may be empty are nullable, and NULL reads back as empty. A schema is a user: the store's
//! schema is the user that owns the views, made by a DBA.

use std::time::Duration;

use super::{
    AddIndex, AppliedSql, CatalogRead, Clauses, ColumnTypes, DropView, ErrorCode, ErrorMeaning,
    GrantReadRights, HeldGrant, LockAnswer, LockKey, NameError, NameLimit, ParserDialect, Profile,
    ReaderProtection, Replace, Section, SessionSettings, StoreIndex, Upsert, Views, listed,
};

/// `DBMS_LOCK`'s user lock ids are 0 to 1073741823 (those above are `ALLOCATE_UNIQUE`'s).
const USER_LOCK_IDS: u32 = 1 << 30;

/// `DBMS_LOCK.REQUEST`'s longest wait, in seconds (`MAXWAIT`, which means for ever).
const LONGEST_WAIT_SECONDS: u64 = 32_766;

/// The application error the lock statement raises where the lock was not had in time or a
/// deadlock chose the session (ORA-20001); any other refusal raises ORA-20002.
const LOCK_NOT_TAKEN: i64 = 20_001;

#[derive(Debug, Clone, Copy)]
pub struct Oracle;

impl Oracle {
    /// The user lock id of `key`: two views whose ids collide only share a lock. Not
    /// `ALLOCATE_UNIQUE`'s ids, which are safe from other applications' user locks but commit
    /// (and a section must not commit what it has not finished); an application sharing the
    /// database and its user lock ids could wait on ours.
    pub fn lock_id(key: &LockKey) -> u32 {
        key.number_below(USER_LOCK_IDS)
    }
}

impl Profile for Oracle {
    fn name(&self) -> &'static str {
        "Oracle"
    }

    fn parser(&self) -> ParserDialect {
        ParserDialect::Oracle
    }

    fn name_limit(&self) -> NameLimit {
        // 128 bytes where COMPATIBLE is 12.2 or more (30 before).
        NameLimit::Bytes(128)
    }

    /// `"name"`: a quoted name can hold anything but a double quote and NUL.
    fn quote(&self, identifier: &str) -> Result<String, NameError> {
        self.name_limit().check(identifier)?;
        if identifier.contains('"') {
            return Err(NameError::Forbidden {
                what: "a double quote",
            });
        }
        Ok(format!("\"{identifier}\""))
    }

    /// Waits for a DDL lock bounded (seconds); Oracle has no setting that reads quotes or
    /// backslashes otherwise.
    fn session_settings(&self) -> Option<SessionSettings> {
        Some(SessionSettings {
            statements: "ALTER SESSION SET DDL_LOCK_TIMEOUT = 10",
            refused_flags: None,
        })
    }

    fn replace_view(&self, view: &str, clauses: Clauses, query: &str) -> Replace {
        // Keeps the view's grants; what is built on it becomes invalid until recompiled.
        super::create_or_replace(view, clauses, query)
    }

    fn drop_view(&self, view: &str) -> DropView {
        // `IF EXISTS` only from 23ai: ORA-00942 says the view is gone already.
        DropView {
            statement: format!("DROP VIEW {view}"),
            fails_when_absent: true,
        }
    }

    fn reader_protection(&self) -> ReaderProtection {
        ReaderProtection::ServerSetting {
            check: "SELECT VALUE FROM V$PARAMETER WHERE NAME = 'optimizer_secure_view_merging'",
            protects_when: "TRUE",
            gaps: "it keeps the optimizer from merging a view of another owner into a reader's \
                   query, or moving the reader's predicates into it, where a function the \
                   reader wrote could see rows the view excludes; Oracle's built-in operators \
                   and functions are trusted and may still run before the view's filter (a \
                   division by zero, a failed conversion), and a user holding MERGE VIEW or \
                   MERGE ANY VIEW is not held by it: never grant those to readers",
        }
    }

    fn ddl_is_transactional(&self) -> bool {
        false
    }

    /// `TEXT` is the view's query alone, a LONG: read as it is (it cannot take part in an
    /// expression).
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead {
        super::catalog_read(
            "SELECT VIEW_NAME, TEXT FROM ALL_VIEWS WHERE",
            "OWNER",
            "SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')",
            "VIEW_NAME",
            schema,
            views,
        )
    }

    fn definition_is_the_query(&self) -> bool {
        true
    }

    /// `ALL_TAB_PRIVS` of the views, the store's own user left out. `READ` (12c) lets its
    /// grantee query a view as `SELECT` does. Oracle has no column-level `SELECT` grant. One
    /// row per grantee and privilege whoever granted it (`ALL_TAB_PRIVS` has a row per grantor;
    /// the store's user owns the views and sees them all); a grant another user made is revoked
    /// by its grantor only (ORA-01927 fails the view, naming it). `PUBLIC` is everyone (NULL:
    /// Oracle's empty text). The columns' names are quoted: unquoted, Oracle returns them in
    /// capitals, and `LEVEL` is a reserved word.
    fn view_grants(&self, schema: Option<&str>, view: Option<&str>) -> Option<CatalogRead> {
        Some(CatalogRead {
            statement: format!(
                "SELECT p.TABLE_NAME AS \"name\", \
                 CASE WHEN p.GRANTEE = 'PUBLIC' THEN NULL ELSE p.GRANTEE END AS \"grantee\", \
                 CAST(NULL AS VARCHAR2(128)) AS \"host\", 'view' AS \"level\", \
                 MAX(CASE p.GRANTABLE WHEN 'YES' THEN 'yes' ELSE 'no' END) AS \"grantable\", \
                 'yes' AS \"selects\", p.PRIVILEGE AS \"privilege\" \
                 FROM ALL_TAB_PRIVS p JOIN ALL_VIEWS v \
                 ON v.OWNER = p.TABLE_SCHEMA AND v.VIEW_NAME = p.TABLE_NAME \
                 WHERE p.TABLE_SCHEMA = COALESCE(?, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')){} \
                 AND p.PRIVILEGE IN ('SELECT', 'READ') AND p.GRANTEE <> USER \
                 GROUP BY p.TABLE_NAME, p.GRANTEE, p.PRIVILEGE",
                if view.is_some() {
                    " AND p.TABLE_NAME = ?"
                } else {
                    ""
                }
            ),
            binds: super::schema_and_view(schema, view),
        })
    }

    fn grant_select(&self, view: &str, grantee: &str) -> Vec<String> {
        vec![format!("GRANT SELECT ON {view} TO {grantee}")]
    }

    /// An object privilege's revoke also takes back what its grantee granted on.
    fn revoke(&self, view: &str, grantee: &str, held: &HeldGrant<'_>) -> Option<String> {
        Some(format!(
            "REVOKE {} ON {view} FROM {grantee}",
            held.privilege.as_str()
        ))
    }

    /// `DBA_ROLES`, which the store's user must be allowed to read ([`GrantReadRights`]); users
    /// (`ALL_USERS`) as accounts.
    fn roles_found(&self, roles: &[&str]) -> Option<CatalogRead> {
        Some(super::roles_read(roles, 2, |names| {
            format!(
                "SELECT ROLE AS \"name\", 'role' AS \"kind\" FROM DBA_ROLES WHERE ROLE IN ({names}) \
                 UNION ALL SELECT USERNAME, 'account' FROM ALL_USERS WHERE USERNAME IN ({names}) \
                 UNION ALL SELECT USER, 'self' FROM DUAL"
            )
        }))
    }

    fn grant_read_rights(&self) -> Option<GrantReadRights> {
        Some(GrantReadRights {
            to_read: "DBA_ROLES (SELECT on it, or SELECT_CATALOG_ROLE)",
            checks: &["SELECT ROLE FROM DBA_ROLES WHERE 1 = 0"],
        })
    }

    fn replace_keeps_grants(&self) -> bool {
        true
    }

    fn find_schema(&self) -> String {
        "SELECT 'found' AS found FROM ALL_USERS WHERE USERNAME = ?".to_owned()
    }

    fn section(&self) -> Section {
        Section::SessionLock {
            answer: LockAnswer::Fails,
        }
    }

    /// `DBMS_LOCK.REQUEST` in exclusive mode, kept past commits (the DDL commits): 0 taken,
    /// 4 held already by this session; 1 timed out and 2 deadlock raise ORA-20001, anything
    /// else ORA-20002.
    fn take_lock(&self, _locks: &str, key: &LockKey, wait: Duration) -> Option<String> {
        let id = Self::lock_id(key);
        // Whole seconds, rounded up: a wait under one is not no wait.
        let seconds =
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).min(LONGEST_WAIT_SECONDS);
        Some(format!(
            "DECLARE result INTEGER; BEGIN \
             result := DBMS_LOCK.REQUEST(id => {id}, lockmode => DBMS_LOCK.X_MODE, \
             timeout => {seconds}, release_on_commit => FALSE); \
             IF result IN (1, 2) THEN RAISE_APPLICATION_ERROR(-{LOCK_NOT_TAKEN}, \
             'immuta-view-sync: lock {id} not taken (' || result || ')'); \
             ELSIF result NOT IN (0, 4) THEN RAISE_APPLICATION_ERROR(-20002, \
             'immuta-view-sync: lock {id} refused (' || result || ')'); END IF; END;"
        ))
    }

    fn release_lock(&self, key: &LockKey) -> Option<String> {
        Some(format!(
            "DECLARE result INTEGER; BEGIN result := DBMS_LOCK.RELEASE(id => {}); END;",
            Self::lock_id(key)
        ))
    }

    /// `NUMBER(19)` holds every BIGINT (Oracle has no BIGINT); an ODBC driver reports it as a
    /// DECIMAL, which the session must read as an integer.
    fn column_types(&self) -> ColumnTypes {
        ColumnTypes {
            key: "VARCHAR2(255 CHAR)",
            reference: "VARCHAR2(1024 CHAR)",
            short: "VARCHAR2(64 CHAR)",
            micros: "NUMBER(19)",
            long_text: "CLOB",
            empty_text_is_null: true,
        }
    }

    /// Looked for first (no `IF NOT EXISTS`); made in the table's schema.
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError> {
        Ok(AddIndex {
            find: Some(CatalogRead {
                statement: "SELECT INDEX_NAME FROM ALL_INDEXES WHERE OWNER = \
                            COALESCE(?, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')) AND INDEX_NAME = ?"
                    .to_owned(),
                binds: vec![
                    index.schema.map(str::to_owned),
                    Some(index.name.to_owned()),
                ],
            }),
            create: format!(
                "CREATE INDEX {} ON {} ({})",
                self.in_schema(index.schema, index.name)?,
                self.in_schema(index.schema, index.table)?,
                index.column
            ),
        })
    }

    /// ORA-00955 where it was made meanwhile.
    fn create_ledger(&self, table: &str) -> String {
        format!(
            "CREATE TABLE {table} ({}, PRIMARY KEY (project_id, data_source_id))",
            self.column_types().ledger_columns()
        )
    }

    /// Only the key goes through `USING`: a text over 4,000 bytes bound in its `SELECT` list
    /// fails (ORA-01461), so the values are bound in the update's and the insert's own lists
    /// (whether `MERGE` takes a bound CLOB value there as `INSERT` and `UPDATE` do is not
    /// verified; a PL/SQL update-then-insert is the way if not).
    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert {
        let written = applied_sql.written();
        let (key, rest) = written.split_at(2);
        Upsert {
            statement: format!(
                "MERGE INTO {table} ledger_row \
                 USING (SELECT ? AS project_id, ? AS data_source_id FROM DUAL) excluded \
                 ON (ledger_row.project_id = excluded.project_id \
                 AND ledger_row.data_source_id = excluded.data_source_id) \
                 WHEN MATCHED THEN UPDATE SET {} \
                 WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
                listed(rest, |name| format!("ledger_row.{name} = ?")),
                listed(&written, str::to_owned),
                listed(&written, |_| "?".to_owned()),
            ),
            binds: key
                .iter()
                .chain(rest)
                .chain(&written)
                .map(|column| column.name)
                .collect(),
        }
    }

    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning> {
        match code.native? {
            // Busy with NOWAIT; a deadlock; a DDL lock not had in time; busy after WAIT n; ours.
            54 | 60 | 4021 | 30006 | LOCK_NOT_TAKEN => Some(ErrorMeaning::LockWait),
            // Invalid user or password; the account is locked.
            1017 | 28000 => Some(ErrorMeaning::LoginRefused),
            942 => Some(ErrorMeaning::Absent),
            // A name in use; a role's name in use; the column list indexed already.
            955 | 1921 | 1408 => Some(ErrorMeaning::Exists),
            1917 => Some(ErrorMeaning::GranteeMissing),
            _ => None,
        }
    }
}
