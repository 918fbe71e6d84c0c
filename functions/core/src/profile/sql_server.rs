//! Microsoft SQL Server 2016 SP1 or newer (`CREATE OR ALTER VIEW`, `DROP VIEW IF EXISTS`),
//! through Microsoft's ODBC Driver 18.
//!
//! DDL is transactional, so a view's section is PostgreSQL's: one transaction holds the DDL and
//! the ledger's row, and a failure rolls both back; the view's lock (`sp_getapplock`) is the
//! session's, taken before and released after (a lock owned by the transaction must be taken in
//! an open one, and with autocommit off the driver opens one only at the first statement that
//! touches a table). The default collations compare text case-insensitively: the
//! ledger's ids and names are binary (`Latin1_General_100_BIN2`). `CREATE VIEW` must be the
//! only statement of its batch, which each ODBC call is.

use std::time::Duration;

use super::{
    AddIndex, AppliedSql, CatalogRead, Clauses, ColumnTypes, DropView, ErrorCode, ErrorMeaning,
    HeldGrant, LockKey, NameError, NameLimit, ParserDialect, Privilege, Profile, ReaderProtection,
    Replace, Section, SessionSettings, StoreIndex, Upsert, Views, listed,
};

#[derive(Debug, Clone, Copy)]
pub struct SqlServer;

impl Profile for SqlServer {
    fn name(&self) -> &'static str {
        "SQL Server"
    }

    fn parser(&self) -> ParserDialect {
        ParserDialect::MsSql
    }

    fn name_limit(&self) -> NameLimit {
        // `sysname`: nvarchar(128).
        NameLimit::Characters(128)
    }

    /// `[name]`, a `]` inside doubled (brackets work whatever `QUOTED_IDENTIFIER` says).
    fn quote(&self, identifier: &str) -> Result<String, NameError> {
        self.name_limit().check(identifier)?;
        Ok(format!("[{}]", identifier.replace(']', "]]")))
    }

    /// Double quotes name identifiers and a comparison with NULL is never true (the ISO
    /// settings, which sqlparser's dialect reads and a view records as it is made, whatever the
    /// driver's or the login's defaults); lock waits bounded (milliseconds).
    fn session_settings(&self) -> Option<SessionSettings> {
        Some(SessionSettings {
            statements: "SET QUOTED_IDENTIFIER ON; SET ANSI_NULLS ON; SET LOCK_TIMEOUT 10000",
            refused_flags: None,
        })
    }

    fn replace_view(&self, view: &str, clauses: Clauses, query: &str) -> Replace {
        // Keeps the view's permissions and what is built on it.
        Replace::InPlace(super::view_statement(
            "CREATE OR ALTER",
            view,
            clauses,
            query,
        ))
    }

    fn drop_view(&self, view: &str) -> DropView {
        super::drop_view_if_exists(view)
    }

    fn reader_protection(&self) -> ReaderProtection {
        ReaderProtection::None {
            why: "SQL Server has no optimization fence for views: the optimizer may evaluate a \
                  reader's own predicates (a division by zero, a failed conversion) on rows the \
                  view's filter excludes, before that filter, and the error tells the reader \
                  about those rows; Microsoft documents the same side channel for Row-Level \
                  Security",
        }
    }

    fn ddl_is_transactional(&self) -> bool {
        true
    }

    /// `definition` is the `CREATE VIEW` statement as run; NULL for a view created `WITH
    /// ENCRYPTION` or where the store's user lacks `VIEW DEFINITION`: such a view cannot be
    /// compared, and is not ours.
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead {
        super::catalog_read(
            "SELECT v.name, m.definition FROM sys.views AS v \
             JOIN sys.schemas AS s ON s.schema_id = v.schema_id \
             JOIN sys.sql_modules AS m ON m.object_id = v.object_id WHERE",
            "s.name",
            "SCHEMA_NAME()",
            "v.name",
            schema,
            views,
        )
    }

    fn definition_is_the_query(&self) -> bool {
        false
    }

    /// `sys.database_permissions` of the views (class 1: objects and their columns), the
    /// store's own user left out; `public` is everyone. A grant on the view's columns
    /// (`minor_id` > 0) lets its grantee read those columns: one row per grantee for them all,
    /// revoked with the view's grant (whether the object's revoke takes back its column grants
    /// is not verified: the check after granting fails the view where one stays). `W` is a
    /// grant with grant option; a `DENY` is no grant.
    fn view_grants(&self, schema: Option<&str>, view: Option<&str>) -> Option<CatalogRead> {
        Some(CatalogRead {
            statement: format!(
                "SELECT v.name AS name, CASE WHEN p.name = 'public' THEN '' ELSE p.name END AS grantee, \
                 CAST(NULL AS NVARCHAR(128)) AS host, \
                 CASE WHEN pe.minor_id = 0 THEN 'view' ELSE 'columns' END AS level, \
                 MAX(CASE pe.state WHEN 'W' THEN 'yes' ELSE 'no' END) AS grantable, \
                 'yes' AS selects, pe.permission_name AS privilege \
                 FROM sys.database_permissions AS pe \
                 JOIN sys.views AS v ON v.object_id = pe.major_id \
                 JOIN sys.schemas AS s ON s.schema_id = v.schema_id \
                 JOIN sys.database_principals AS p ON p.principal_id = pe.grantee_principal_id \
                 WHERE s.name = COALESCE(?, SCHEMA_NAME()){} AND pe.class = 1 \
                 AND pe.permission_name = 'SELECT' AND pe.state IN ('G', 'W') \
                 AND pe.grantee_principal_id <> DATABASE_PRINCIPAL_ID() \
                 GROUP BY v.name, p.name, CASE WHEN pe.minor_id = 0 THEN 'view' ELSE 'columns' END, \
                 pe.permission_name",
                if view.is_some() {
                    " AND v.name = ?"
                } else {
                    ""
                }
            ),
            binds: super::schema_and_view(schema, view),
        })
    }

    fn grant_select(&self, view: &str, grantee: &str) -> Vec<String> {
        vec![format!("GRANT SELECT ON OBJECT::{view} TO {grantee}")]
    }

    /// `CASCADE`: refused without it where the grantee may grant on (error 4611), and it takes
    /// back what the grantee granted.
    fn revoke(&self, view: &str, grantee: &str, held: &HeldGrant<'_>) -> Option<String> {
        (held.privilege == Privilege::Select)
            .then(|| format!("REVOKE SELECT ON OBJECT::{view} FROM {grantee} CASCADE"))
    }

    /// Database roles (`type` R), other principals of that name (users) as accounts.
    fn roles_found(&self, roles: &[&str]) -> Option<CatalogRead> {
        Some(super::roles_read(roles, 1, |names| {
            format!(
                "SELECT name AS name, CASE WHEN type = 'R' THEN 'role' ELSE 'account' END AS kind \
                 FROM sys.database_principals WHERE name IN ({names}) \
                 UNION ALL SELECT USER_NAME(), 'self'"
            )
        }))
    }

    fn replace_keeps_grants(&self) -> bool {
        true
    }

    fn find_schema(&self) -> String {
        "SELECT 'found' AS found FROM sys.schemas WHERE name = ?".to_owned()
    }

    fn section(&self) -> Section {
        // sp_getapplock: 0 taken, 1 taken after a wait; -1 timed out, -2 cancelled, -3 chosen
        // as a deadlock victim, -999 a parameter refused.
        Section::OneTransaction { taken_from: 0 }
    }

    fn take_lock(&self, _locks: &str, key: &LockKey, wait: Duration) -> Option<String> {
        Some(format!(
            "DECLARE @result int; EXEC @result = sp_getapplock @Resource = N'{}', \
             @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = {}; \
             SELECT @result AS result",
            key.name(),
            wait.as_millis().min(i32::MAX as u128)
        ))
    }

    fn release_lock(&self, key: &LockKey) -> Option<String> {
        Some(format!(
            "EXEC sp_releaseapplock @Resource = N'{}', @LockOwner = N'Session'",
            key.name()
        ))
    }

    /// Text in a binary collation, so that ids differing only in case are two ids.
    fn column_types(&self) -> ColumnTypes {
        ColumnTypes {
            key: "NVARCHAR(255) COLLATE Latin1_General_100_BIN2",
            reference: "NVARCHAR(1024) COLLATE Latin1_General_100_BIN2",
            short: "NVARCHAR(64) COLLATE Latin1_General_100_BIN2",
            micros: "BIGINT",
            long_text: "NVARCHAR(MAX)",
            empty_text_is_null: false,
        }
    }

    /// Looked for first (no `IF NOT EXISTS`). Unverified: a nonclustered key holds 1,700 bytes,
    /// and a view's reference may be longer (SQL Server has no prefix index).
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError> {
        let table = self.in_schema(index.schema, index.table)?;
        Ok(AddIndex {
            find: Some(CatalogRead {
                statement:
                    "SELECT name FROM sys.indexes WHERE object_id = OBJECT_ID(?) AND name = ?"
                        .to_owned(),
                binds: vec![Some(table.clone()), Some(index.name.to_owned())],
            }),
            create: format!(
                "CREATE INDEX {} ON {table} ({})",
                self.quote(index.name)?,
                index.column
            ),
        })
    }

    /// Made only where absent. The key is NONCLUSTERED: two NVARCHAR(255) columns are up to
    /// 1,020 bytes, over a clustered key's 900 and within a nonclustered one's 1,700.
    fn create_ledger(&self, table: &str) -> String {
        format!(
            "IF OBJECT_ID(N'{}', N'U') IS NULL CREATE TABLE {table} ({}, \
             PRIMARY KEY NONCLUSTERED (project_id, data_source_id))",
            table.replace('\'', "''"),
            self.column_types().ledger_columns()
        )
    }

    /// `MERGE` with `HOLDLOCK`: without it two upserts of a new row can both insert.
    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert {
        let written = applied_sql.written();
        let names = listed(&written, str::to_owned);
        Upsert {
            statement: format!(
                "MERGE INTO {table} WITH (HOLDLOCK) AS ledger_row \
                 USING (VALUES ({})) AS excluded ({names}) \
                 ON ledger_row.project_id = excluded.project_id \
                 AND ledger_row.data_source_id = excluded.data_source_id \
                 WHEN MATCHED THEN UPDATE SET {} \
                 WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({});",
                listed(&written, |_| "?".to_owned()),
                listed(&written[2..], |name| format!("{name} = excluded.{name}")),
                listed(&written, |name| format!("excluded.{name}")),
            ),
            binds: written.iter().map(|column| column.name).collect(),
        }
    }

    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning> {
        match code.native? {
            // Chosen as a deadlock victim; a lock request timed out (LOCK_TIMEOUT).
            1205 | 1222 => Some(ErrorMeaning::LockWait),
            18456 => Some(ErrorMeaning::LoginRefused),
            // Invalid object name (a `DROP VIEW IF EXISTS` never fails on an absent view: its
            // 3701 would be a missing permission, which means nothing here).
            208 => Some(ErrorMeaning::Absent),
            // An object, an index, a principal of that name exists.
            2714 | 1913 | 15023 => Some(ErrorMeaning::Exists),
            // "Cannot find the user or role, because it does not exist or you do not have
            // permission": read as missing, the message says which.
            15151 => Some(ErrorMeaning::GranteeMissing),
            _ => None,
        }
    }
}
