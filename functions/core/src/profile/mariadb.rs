//! MariaDB 10.5 or newer (and MySQL 8), natively or through MariaDB Connector/ODBC: the
//! statements the store runs there.
//!
//! DDL commits on its own and drops row locks, so a view's section is a named lock of the
//! session (`GET_LOCK`), an intent written to the ledger before the DDL and the row after it: a
//! re-run finishes the job. The ledger's text columns keep the database's default collation,
//! as earlier versions made them (Immuta's ids are numbers: case never tells two apart).

use std::time::Duration;

use super::{
    AddIndex, AppliedSql, CatalogRead, Clauses, ColumnTypes, DropView, ErrorCode, ErrorMeaning,
    GrantReadRights, HeldGrant, LockAnswer, LockKey, NameError, NameLimit, ParserDialect,
    Privilege, Profile, ReaderProtection, RefusedFlags, Replace, Rewrite, Section, SessionSettings,
    StoreIndex, Upsert, Views, listed,
};
use crate::dialect::Dialect;

#[derive(Debug, Clone, Copy)]
pub struct MariaDb;

impl Profile for MariaDb {
    fn name(&self) -> &'static str {
        Dialect::MySql.name()
    }

    fn parser(&self) -> ParserDialect {
        ParserDialect::MySql
    }

    fn name_limit(&self) -> NameLimit {
        NameLimit::Characters(64)
    }

    fn quote(&self, identifier: &str) -> Result<String, NameError> {
        self.name_limit().check(identifier)?;
        Ok(Dialect::MySql.quote(identifier))
    }

    fn replace_view(&self, view: &str, clauses: Clauses, query: &str) -> Replace {
        super::create_or_replace(view, clauses, query)
    }

    fn drop_view(&self, view: &str) -> DropView {
        super::drop_view_if_exists(view)
    }

    fn reader_protection(&self) -> ReaderProtection {
        ReaderProtection::Rewritten {
            rewrite: Rewrite::TempTable,
            how: "ALGORITHM = TEMPTABLE and a top-level LIMIT of every row on a view whose query \
                  can exclude rows, so that the server neither merges the view nor pushes a \
                  reader's condition into it (view-sql's barrier)",
        }
    }

    fn ddl_is_transactional(&self) -> bool {
        false
    }

    /// `information_schema.VIEWS`: the query as the server prints it back (names qualified),
    /// its definer, security type and check option.
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead {
        super::catalog_read(
            "SELECT CAST(TABLE_NAME AS CHAR) AS name, \
             CAST(CONCAT_WS('|', VIEW_DEFINITION, DEFINER, SECURITY_TYPE, CHECK_OPTION) AS CHAR) AS definition \
             FROM information_schema.VIEWS WHERE",
            "TABLE_SCHEMA",
            "DATABASE()",
            "TABLE_NAME",
            schema,
            views,
        )
    }

    fn definition_is_the_query(&self) -> bool {
        true
    }

    /// `mysql.tables_priv` (`information_schema` shows a user only its own grants): the view's
    /// privileges and, in `Column_priv`, those held on some of its columns (which have no grant
    /// option of their own; a grant option alone is held on the view). MariaDB 10.11 keeps
    /// `PUBLIC` as a role of that name: read as everyone (an empty grantee and no host), apart
    /// from an anonymous account (an empty user with a host).
    fn view_grants(&self, schema: Option<&str>, view: Option<&str>) -> Option<CatalogRead> {
        let one_view = if view.is_some() {
            " AND Table_name = ?"
        } else {
            ""
        };
        let select = |level: &str, privileges: &str, grantable: &str| {
            format!(
                "SELECT CAST(Table_name AS CHAR) AS name, \
                 CASE WHEN User = 'PUBLIC' AND Host = '' THEN '' ELSE CAST(User AS CHAR) END AS grantee, \
                 CASE WHEN User = 'PUBLIC' AND Host = '' THEN NULL ELSE CAST(Host AS CHAR) END AS host, \
                 '{level}' AS level, {grantable} AS grantable, \
                 CASE WHEN FIND_IN_SET('Select', {privileges}) > 0 THEN 'yes' ELSE 'no' END AS selects, \
                 'SELECT' AS privilege \
                 FROM mysql.tables_priv \
                 WHERE Db = COALESCE(?, DATABASE()){one_view} \
                 AND (FIND_IN_SET('Select', {privileges}) > 0 OR {grantable} = 'yes')"
            )
        };
        let binds = super::schema_and_view(schema, view);
        Some(CatalogRead {
            statement: format!(
                "{} UNION ALL {}",
                select(
                    "view",
                    "Table_priv",
                    "CASE WHEN FIND_IN_SET('Grant', Table_priv) > 0 THEN 'yes' ELSE 'no' END"
                ),
                select("columns", "Column_priv", "'no'")
            ),
            binds: binds.iter().chain(&binds).cloned().collect(),
        })
    }

    fn grant_select(&self, view: &str, grantee: &str) -> Vec<String> {
        vec![format!("GRANT SELECT ON {view} TO {grantee}")]
    }

    /// A grant on columns column by column, a grant option alone as such, `SELECT` with its
    /// grant option; no `CASCADE` (what the grantee granted on stays, and is found and revoked
    /// in turn).
    fn revoke(&self, view: &str, grantee: &str, held: &HeldGrant<'_>) -> Option<String> {
        if held.privilege != Privilege::Select {
            return None;
        }
        Some(match held.columns {
            Some(columns) => {
                let columns = columns
                    .iter()
                    .map(|column| self.quote(column))
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .filter(|columns| !columns.is_empty())?;
                format!(
                    "REVOKE SELECT ({}) ON {view} FROM {grantee}",
                    columns.join(", ")
                )
            }
            None if !held.selects => format!("REVOKE GRANT OPTION ON {view} FROM {grantee}"),
            None if held.grantable => {
                format!("REVOKE SELECT, GRANT OPTION ON {view} FROM {grantee}")
            }
            None => format!("REVOKE SELECT ON {view} FROM {grantee}"),
        })
    }

    fn granted_columns(
        &self,
        schema: Option<&str>,
        view: &str,
        user: &str,
        host: &str,
    ) -> Option<CatalogRead> {
        Some(CatalogRead {
            statement: "SELECT CAST(Column_name AS CHAR) FROM mysql.columns_priv \
                        WHERE Db = COALESCE(?, DATABASE()) AND Table_name = ? AND User = ? AND Host = ? \
                        AND FIND_IN_SET('Select', Column_priv) > 0"
                .to_owned(),
            binds: vec![
                schema.map(str::to_owned),
                Some(view.to_owned()),
                Some(user.to_owned()),
                Some(host.to_owned()),
            ],
        })
    }

    /// Roles have an empty host; `mysql.user` shows the store's user only the columns it needs
    /// (see the README).
    fn roles_found(&self, roles: &[&str]) -> Option<CatalogRead> {
        Some(super::roles_read(roles, 1, |names| {
            format!(
                "SELECT CAST(User AS CHAR) AS name, \
                 CASE WHEN is_role = 'Y' AND Host = '' THEN 'role' ELSE 'account' END AS kind \
                 FROM mysql.user WHERE User IN ({names}) \
                 UNION ALL SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), 'self'"
            )
        }))
    }

    fn grant_read_rights(&self) -> Option<GrantReadRights> {
        Some(GrantReadRights {
            to_read: "mysql.tables_priv, mysql.columns_priv and mysql.user's User, Host and \
                      is_role columns",
            checks: &[
                "SELECT Table_name FROM mysql.tables_priv WHERE 1 = 0",
                "SELECT Column_name FROM mysql.columns_priv WHERE 1 = 0",
                "SELECT User, Host, is_role FROM mysql.user WHERE 1 = 0",
            ],
        })
    }

    fn replace_keeps_grants(&self) -> bool {
        true
    }

    /// `mysql.tables_priv` keeps a dropped view's rows: the next view of that name would be
    /// readable by them.
    fn drop_keeps_grants(&self) -> bool {
        true
    }

    /// A database (MariaDB's schemas).
    fn create_schema(&self, schema: &str) -> Option<String> {
        Some(format!("CREATE DATABASE IF NOT EXISTS {schema}"))
    }

    fn create_role(&self, role: &str) -> String {
        format!("CREATE ROLE IF NOT EXISTS {role}")
    }

    fn find_schema(&self) -> String {
        "SELECT 'found' AS found FROM information_schema.schemata WHERE schema_name = ?".to_owned()
    }

    fn section(&self) -> Section {
        // GET_LOCK: 1 taken, 0 timed out, NULL an error (the session killed, say).
        Section::SessionLock {
            answer: LockAnswer::Returns { taken: 1 },
        }
    }

    /// Whole seconds, rounded down: 0 takes a free lock and waits for none. The name is ours
    /// (hex), written into the text so that it runs in one round trip with the settings.
    fn take_lock(&self, _locks: &str, key: &LockKey, wait: Duration) -> Option<String> {
        Some(format!(
            "SELECT GET_LOCK('{}', {})",
            key.name(),
            wait.as_secs()
        ))
    }

    fn release_lock(&self, key: &LockKey) -> Option<String> {
        Some(format!("SELECT RELEASE_LOCK('{}')", key.name()))
    }

    /// Strings quoted as view-sql's validation and the ODBC driver's statement reader read
    /// them (no `ANSI_QUOTES`, no `NO_BACKSLASH_ESCAPES`), and the mode left read back: a
    /// combined mode the setting leaves in place (`ANSI`, `ORACLE`, …) turns `ANSI_QUOTES` back
    /// on, and a session whose literals could hide a second statement is refused. And on
    /// MariaDB (the executable comment; MySQL 8 has no such mode and never creates users so), a
    /// GRANT to a role that does not exist fails rather than create a user of that name with no
    /// password.
    fn session_settings(&self) -> Option<SessionSettings> {
        Some(SessionSettings {
            statements: "SET SESSION innodb_lock_wait_timeout = 10, lock_wait_timeout = 10; \
                         SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(CONCAT(',', @@sql_mode, ','), \
                         ',ANSI_QUOTES,', ','), ',NO_BACKSLASH_ESCAPES,', ',')); \
                         SELECT CAST(@@sql_mode AS CHAR) AS sql_mode; \
                         /*M! SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_CREATE_USER') */",
            refused_flags: Some(RefusedFlags {
                column: "sql_mode",
                flags: &["ANSI_QUOTES", "NO_BACKSLASH_ESCAPES"],
                remedy: "remove the combined mode that sets it (ANSI, ORACLE, MSSQL, DB2, MAXDB, \
                         POSTGRESQL) from the server's default sql_mode",
            }),
        })
    }

    /// Each `RELEASE_LOCK` runs whatever the others return.
    fn release_locks(&self, count: usize) -> Option<String> {
        Some(format!(
            "SELECT {}",
            vec!["RELEASE_LOCK(?)"; count].join(", ")
        ))
    }

    /// The session's waits for row and metadata locks (DDL), in whole seconds, at least one:
    /// what MariaDB takes.
    fn section_settings(&self, wait: Duration) -> Option<String> {
        let seconds = wait.as_secs().max(1);
        Some(format!(
            "SET SESSION innodb_lock_wait_timeout = {seconds}, lock_wait_timeout = {seconds}"
        ))
    }

    /// `MEDIUMTEXT`: view SQL may be up to 1 MiB, `TEXT` holds 64 KiB.
    fn column_types(&self) -> ColumnTypes {
        ColumnTypes {
            long_text: "MEDIUMTEXT",
            ..super::STANDARD_TYPES
        }
    }

    /// Looked for first: MySQL has no `CREATE INDEX IF NOT EXISTS`. `ALTER TABLE`, not `CREATE
    /// INDEX`: the README's user holds ALTER, not INDEX. InnoDB keys hold at most 3,072 bytes: a
    /// long column's first characters tell its rows apart.
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError> {
        let prefix = index
            .prefix
            .map(|prefix| format!("({prefix})"))
            .unwrap_or_default();
        Ok(AddIndex {
            find: Some(CatalogRead {
                statement:
                    "SELECT 'found' FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = \
                            COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1"
                        .to_owned(),
                binds: index.schema_table_and_name(),
            }),
            create: format!(
                "ALTER TABLE {} ADD INDEX {} ({}{prefix})",
                Dialect::MySql.qualified(index.schema, index.table),
                Dialect::MySql.quote(index.name),
                index.column
            ),
        })
    }

    fn create_ledger(&self, table: &str) -> String {
        super::create_ledger_if_absent(self, table)
    }

    /// `VALUES(column)` names the value the insert would have written (MariaDB has no alias
    /// for it).
    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert {
        let written = applied_sql.written();
        Upsert {
            statement: format!(
                "INSERT INTO {table} ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}",
                listed(&written, str::to_owned),
                listed(&written, |_| "?".to_owned()),
                listed(&written[2..], |name| format!("{name} = VALUES({name})")),
            ),
            binds: written.iter().map(|column| column.name).collect(),
        }
    }

    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning> {
        match code.native? {
            // ER_LOCK_WAIT_TIMEOUT (row and metadata locks), ER_LOCK_DEADLOCK.
            1205 | 1213 => Some(ErrorMeaning::LockWait),
            // ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR. Not SQLSTATE 28000 as
            // such: MariaDB gives it to a grant to a role that does not exist (1133) too.
            1045 | 1698 => Some(ErrorMeaning::LoginRefused),
            // ER_BAD_TABLE_ERROR (a drop's), ER_NO_SUCH_TABLE.
            1051 | 1146 => Some(ErrorMeaning::Absent),
            // ER_TABLE_EXISTS_ERROR, ER_DUP_KEYNAME (an index).
            1050 | 1061 => Some(ErrorMeaning::Exists),
            // ER_PASSWORD_NO_MATCH: "Can't find any matching row in the user table".
            1133 => Some(ErrorMeaning::GranteeMissing),
            _ => None,
        }
    }
}
