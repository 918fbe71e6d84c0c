use std::collections::BTreeSet;
use std::time::Duration;

use sqlparser::ast::{ObjectNamePart, SetExpr, Statement, TableFactor};
use sqlparser::parser::Parser as SqlParser;

use super::*;

/// An error that carries only a native number.
fn native(number: i64) -> ErrorCode<'static> {
    ErrorCode {
        sqlstate: None,
        native: Some(number),
    }
}

/// `sql` read as exactly one statement of the profile's own dialect.
fn parses_as_one(profile: &dyn Profile, sql: &str) -> Result<Statement, String> {
    let mut statements = SqlParser::parse_sql(profile.parser().sqlparser(), sql)
        .map_err(|e| format!("{e}: {sql}"))?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        n => Err(format!("{n} statements: {sql}")),
    }
}

/// The profiles of the databases the store runs today.
const NATIVES: [&dyn Profile; 3] = [&Postgres, &MariaDb, &Sqlite];

/// Every profile.
fn all() -> impl Iterator<Item = &'static dyn Profile> {
    PROFILES
        .iter()
        .map(|profile| *profile as &dyn Profile)
        .chain(NATIVES)
}

const KEY: LockKey = LockKey {
    kind: LockKind::View,
    digest: [
        0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ],
};

/// The statements of the sections of the databases the store runs, exactly: MariaDB's waits in
/// whole seconds (the session's at least one, a name's lock none once the section's time is
/// spent), PostgreSQL's in milliseconds with its planner settings.
#[test]
fn the_sections_of_the_databases_the_store_runs() {
    let name = KEY.name();
    assert_eq!(
        MariaDb.take_lock("", &KEY, Duration::from_millis(2_900)),
        Some(format!("SELECT GET_LOCK('{name}', 2)"))
    );
    assert_eq!(
        MariaDb.take_lock("", &KEY, Duration::from_millis(900)),
        Some(format!("SELECT GET_LOCK('{name}', 0)"))
    );
    assert_eq!(
        MariaDb
            .section_settings(Duration::from_millis(200))
            .unwrap(),
        "SET SESSION innodb_lock_wait_timeout = 1, lock_wait_timeout = 1"
    );
    assert_eq!(
        MariaDb.section_settings(Duration::from_secs(10)).unwrap(),
        "SET SESSION innodb_lock_wait_timeout = 10, lock_wait_timeout = 10"
    );
    assert_eq!(
        MariaDb.release_locks(3).unwrap(),
        "SELECT RELEASE_LOCK(?), RELEASE_LOCK(?), RELEASE_LOCK(?)"
    );
    assert_eq!(
        MariaDb.section(),
        Section::SessionLock {
            answer: LockAnswer::Returns { taken: 1 }
        }
    );
    assert_eq!(Postgres.section(), Section::LedgerRow);
    assert_eq!(
        Postgres.begin_section(),
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    );
    assert_eq!(
        Postgres
            .section_settings(Duration::from_micros(1_500_400))
            .unwrap(),
        "SET LOCAL lock_timeout = '1500ms'; SET LOCAL statement_timeout = '1500ms'; \
         SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
    );
    assert!(
        Postgres
            .section_settings(Duration::ZERO)
            .unwrap()
            .contains("lock_timeout = '1ms'"),
        "no timeout is 0, which PostgreSQL reads as none"
    );
    assert_eq!(Sqlite.section(), Section::OneWriter);
    assert_eq!(Sqlite.begin_section(), "BEGIN IMMEDIATE");
    for profile in NATIVES {
        assert_eq!(
            profile.release_lock(&KEY).is_some(),
            profile.take_lock("", &KEY, Duration::ZERO).is_some()
        );
    }
    assert_eq!(Sqlite.section_settings(Duration::from_secs(1)), None);
    // A section that holds locks of its own takes and releases them; the others none.
    for profile in all() {
        let holds_locks = !matches!(profile.section(), Section::LedgerRow | Section::OneWriter);
        assert_eq!(
            profile
                .take_lock("\"locks\"", &KEY, Duration::from_secs(1))
                .is_some(),
            holds_locks,
            "{}",
            profile.name()
        );
    }
}

/// A MariaDB session whose `sql_mode` still quotes strings otherwise than view-sql reads them
/// (a combined mode the settings leave in place turns `ANSI_QUOTES` back on) is refused, naming
/// the flag; the others read nothing back.
#[test]
fn a_mode_that_quotes_otherwise_is_named() {
    let refused = MariaDb.session_settings().unwrap().refused_flags.unwrap();
    assert!(MariaDb.session_settings().unwrap().statements.ends_with(
        "SELECT CAST(@@sql_mode AS CHAR) AS sql_mode; \
         /*M! SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_CREATE_USER') */"
    ));
    assert_eq!(refused.column, "sql_mode");
    // As MariaDB reports `ANSI` after expanding it.
    let ansi = "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI";
    assert_eq!(refused.found(ansi), Some("ANSI_QUOTES"));
    assert_eq!(
        refused.found("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES"),
        Some("NO_BACKSLASH_ESCAPES")
    );
    let default = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,\
                   NO_ENGINE_SUBSTITUTION";
    assert_eq!(refused.found(default), None);
    assert_eq!(refused.found(""), None);
    for profile in all() {
        let refuses = profile
            .session_settings()
            .is_some_and(|settings| settings.refused_flags.is_some());
        assert_eq!(
            refuses,
            profile.parser() == ParserDialect::MySql,
            "{}",
            profile.name()
        );
    }
}

/// The indexes of the store's own tables, as the store made them before they were the
/// profiles' (looked for first where making one would lock or fail for being there).
#[test]
fn the_indexes_of_the_stores_tables() {
    let index = |profile: &dyn Profile, schema, prefix| {
        profile
            .add_index(&StoreIndex {
                schema,
                table: "ledger",
                name: "ledger_view_name",
                column: "view_name",
                prefix,
            })
            .unwrap()
    };
    let postgres = index(&Postgres, Some("public"), Some(255));
    assert_eq!(
        postgres.create,
        "CREATE INDEX IF NOT EXISTS \"ledger_view_name\" ON \"public\".\"ledger\" (view_name)"
    );
    assert_eq!(
        postgres.find,
        Some(CatalogRead {
            statement: "SELECT CAST(to_regclass($1) AS TEXT)".into(),
            binds: vec![Some("\"public\".\"ledger_view_name\"".into())],
        })
    );
    let mariadb = index(&MariaDb, None, Some(255));
    assert_eq!(
        mariadb.create,
        "ALTER TABLE `ledger` ADD INDEX `ledger_view_name` (view_name(255))"
    );
    assert_eq!(
        mariadb.find,
        Some(CatalogRead {
            statement: "SELECT 'found' FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = \
                        COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1"
                .into(),
            binds: vec![None, Some("ledger".into()), Some("ledger_view_name".into())],
        })
    );
    assert_eq!(
        MariaDb
            .add_index(&StoreIndex {
                schema: None,
                table: "t",
                name: "t_applied_at",
                column: "applied_at",
                prefix: None,
            })
            .unwrap()
            .create,
        "ALTER TABLE `t` ADD INDEX `t_applied_at` (applied_at)"
    );
    let sqlite = index(&Sqlite, Some("main"), None);
    assert_eq!(
        sqlite.create,
        "CREATE INDEX IF NOT EXISTS \"main\".\"ledger_view_name\" ON \"ledger\" (view_name)"
    );
    assert_eq!(sqlite.find, None);
    for profile in all() {
        let made = index(profile, Some("s"), Some(255));
        for statement in made
            .find
            .iter()
            .map(|find| &find.statement)
            .chain([&made.create])
        {
            // Every index statement reads as one statement of its dialect but Teradata's
            // `CREATE INDEX … ON`, which sqlparser does not know.
            if profile.parser() != ParserDialect::Teradata || !statement.starts_with("CREATE") {
                parses_as_one(profile, statement).unwrap();
            }
        }
        if profile.parser() == ParserDialect::Teradata {
            assert_eq!(
                made.create,
                "CREATE INDEX \"ledger_view_name\" (view_name) ON \"s\".\"ledger\""
            );
        }
        let too_long = "x".repeat(200);
        assert!(
            profile
                .add_index(&StoreIndex {
                    schema: None,
                    table: &too_long,
                    name: &too_long,
                    column: "c",
                    prefix: None,
                })
                .is_err()
                || NATIVES.iter().any(|native| native.name() == profile.name()),
            "{}",
            profile.name()
        );
    }
}

/// The names of the locks do not change: two versions of the store running side by side (a
/// rolling deploy) lock one view and one name alike. Pinned to the names MariaDB's sections
/// took before the keys were the profiles' (a digest of ledger, project and data source; of
/// ledger and name folded to lower case, sorted, each once).
#[test]
fn the_lock_names_do_not_change() {
    let ledger = "\"public\".\"ledger\"";
    assert_eq!(
        LockKey::of_view(ledger, "1", "2").name(),
        "immuta_view_sync_6f976c28bbb18d0f503aff5a5daaafee"
    );
    let names = ["Demo__People", "demo__people", "b"].map(str::to_owned);
    assert_eq!(
        LockKey::of_view_names(ledger, &names)
            .iter()
            .map(LockKey::name)
            .collect::<Vec<_>>(),
        [
            "immuta_view_sync_name_030c7902ae0dc1485a31de9aca28bee0",
            "immuta_view_sync_name_b5b05f6e48e0893ecbd88191c35c66bd",
        ]
    );
    assert_eq!(
        LockKey::of_view_names(ledger, &names)[0].two_numbers(),
        [0x030c_7902, 0xae0d_c148_u32 as i32]
    );
    assert!(LockKey::of_view(ledger, "1", "2").name().len() <= 64);
    assert!(LockKey::of_view_names(ledger, &names)[0].name().len() <= 64);
}

#[test]
fn urls_name_their_profile() {
    let name = |url| named_in_url(url).map(|profile| profile.name());
    assert_eq!(
        name("odbc+sqlserver:Driver={ODBC Driver 18 for SQL Server}"),
        Some("SQL Server")
    );
    assert_eq!(name("ODBC+MSSQL:DSN=x"), Some("SQL Server"));
    assert_eq!(name("odbc+oracle:DSN=x"), Some("Oracle"));
    assert_eq!(name("odbc+teradata:DSN=x"), Some("Teradata"));
    for other in [
        "odbc+postgres:DSN=x",
        "sqlserver://h",
        "oracle://h",
        "odbc+:x",
        "",
    ] {
        assert_eq!(name(other), None, "{other}");
    }
}

#[test]
fn a_quoted_name_reads_back_as_itself_whatever_it_holds() {
    let hostile = [
        "v",
        "Mixed Case",
        "a]b",
        "a]]b",
        "[a]",
        "a\"b",
        "a'b",
        "a; DROP TABLE t; --",
        "a.b",
        "é漢字",
    ];
    for profile in PROFILES {
        for name in hostile {
            let quoted = match profile.quote(name) {
                Ok(quoted) => quoted,
                // Oracle: no double quote in any name.
                Err(NameError::Forbidden { .. }) if name.contains('"') => {
                    assert_eq!(profile.name(), "Oracle");
                    continue;
                }
                Err(e) => panic!("{}: {name:?}: {e}", profile.name()),
            };
            let statement = parses_as_one(profile, &format!("SELECT a FROM {quoted}"))
                .unwrap_or_else(|e| panic!("{}: {e}", profile.name()));
            let Statement::Query(query) = statement else {
                panic!("a query");
            };
            let SetExpr::Select(select) = *query.body else {
                panic!("a select");
            };
            let TableFactor::Table { name: read, .. } = &select.from[0].relation else {
                panic!("a table");
            };
            let [ObjectNamePart::Identifier(ident)] = read.0.as_slice() else {
                panic!("{}: {quoted} read as {read}", profile.name());
            };
            assert_eq!(ident.value, name, "{}: {quoted}", profile.name());
        }
        assert_eq!(profile.quote(""), Err(NameError::Empty));
        assert!(matches!(
            profile.quote("a\0b"),
            Err(NameError::Forbidden { what: "a NUL" })
        ));
    }
}

#[test]
fn names_are_held_to_each_database_limit() {
    for profile in PROFILES {
        assert!(
            profile.quote(&"a".repeat(128)).is_ok(),
            "{}",
            profile.name()
        );
        assert!(
            matches!(
                profile.quote(&"a".repeat(129)),
                Err(NameError::TooLong { .. })
            ),
            "{}",
            profile.name()
        );
    }
    // 64 two-byte characters are 128 bytes: Oracle counts bytes, the others characters.
    let wide = "é".repeat(65);
    assert!(Oracle.quote(&"é".repeat(64)).is_ok());
    assert!(matches!(
        Oracle.quote(&wide),
        Err(NameError::TooLong { .. })
    ));
    assert!(SqlServer.quote(&wide).is_ok());
    assert!(Teradata.quote(&wide).is_ok());
}

#[test]
fn view_ddl_per_database() {
    let query = "SELECT id, name FROM s.people WHERE region = 'EU'";
    let view = |profile: &dyn Profile| profile.qualified("analytics", "demo__people").unwrap();
    assert_eq!(
        SqlServer.create_view(&view(&SqlServer), Clauses::NONE, query),
        format!("CREATE VIEW [analytics].[demo__people] AS {query}")
    );
    assert_eq!(
        SqlServer.replace_view(&view(&SqlServer), Clauses::NONE, query),
        Replace::InPlace(format!(
            "CREATE OR ALTER VIEW [analytics].[demo__people] AS {query}"
        ))
    );
    assert_eq!(
        SqlServer.drop_view(&view(&SqlServer)),
        DropView {
            statement: "DROP VIEW IF EXISTS [analytics].[demo__people]".into(),
            fails_when_absent: false
        }
    );
    assert_eq!(
        Oracle.replace_view(&view(&Oracle), Clauses::NONE, query),
        Replace::InPlace(format!(
            "CREATE OR REPLACE VIEW \"analytics\".\"demo__people\" AS {query}"
        ))
    );
    assert_eq!(
        Oracle.drop_view(&view(&Oracle)),
        DropView {
            statement: "DROP VIEW \"analytics\".\"demo__people\"".into(),
            fails_when_absent: true
        }
    );
    assert_eq!(
        Teradata.replace_view(&view(&Teradata), Clauses::NONE, query),
        Replace::InPlace(format!(
            "REPLACE VIEW \"analytics\".\"demo__people\" AS {query}"
        ))
    );
    assert_eq!(
        Teradata.drop_view(&view(&Teradata)).statement,
        "DROP VIEW \"analytics\".\"demo__people\""
    );
    // A drop that fails on an absent view must have the error that says so.
    for profile in PROFILES {
        let absent =
            (0..100_000).any(|n| profile.error_meaning(native(n)) == Some(ErrorMeaning::Absent));
        assert!(
            !profile.drop_view("v").fails_when_absent || absent,
            "{}",
            profile.name()
        );
    }
}

#[test]
fn the_statements_read_as_one_statement_of_their_dialect() {
    let query = "SELECT id, name FROM s.people WHERE region = 'EU'";
    for profile in all() {
        let view = profile.qualified("analytics", "v").unwrap();
        let table = profile
            .qualified("analytics", "immuta_view_sync_ledger")
            .unwrap();
        let grantee = profile.quote("analyst").unwrap();
        let upsert = profile
            .upsert_ledger_row(&table, AppliedSql::Written)
            .statement;
        let mut statements = vec![
            profile.create_view(&view, Clauses::NONE, query),
            profile.drop_view(&view).statement,
            profile
                .view_definitions(Some("analytics"), Views::All)
                .statement,
            profile.view_definitions(None, Views::Named("v")).statement,
            profile.find_schema(),
            profile.create_role(&grantee),
        ];
        statements.extend(profile.create_schema(&profile.quote("analytics").unwrap()));
        statements.extend(
            [
                profile.view_grants(Some("analytics"), None),
                profile.view_grants(None, Some("v")),
                profile.roles_found(&["analyst", "auditor"]),
                profile.granted_columns(None, "v", "analyst", ""),
            ]
            .into_iter()
            .flatten()
            .map(|read| read.statement),
        );
        if let ReaderProtection::ServerSetting { check, .. } = profile.reader_protection() {
            statements.push(check.to_owned());
        }
        // What sqlparser 0.64 cannot read of each dialect is held to its exact text below.
        match profile.parser() {
            ParserDialect::MsSql => {
                let Replace::InPlace(replace) = profile.replace_view(&view, Clauses::NONE, query)
                else {
                    panic!("in place");
                };
                statements.push(replace);
                // sqlparser reads neither a MERGE's table hint nor a grant's `OBJECT::`.
                let hint = " WITH (HOLDLOCK)";
                assert_eq!(upsert.matches(hint).count(), 1);
                statements.push(upsert.replacen(hint, "", 1));
                statements.push(
                    profile
                        .revoke(&view, &grantee, &SELECT)
                        .unwrap()
                        .replace("OBJECT::", ""),
                );
                statements.extend(
                    profile
                        .grant_select(&view, &grantee)
                        .iter()
                        .map(|grant| grant.replace("OBJECT::", "")),
                );
            }
            ParserDialect::Oracle => {
                statements.push(upsert);
                let Replace::InPlace(replace) = profile.replace_view(&view, Clauses::NONE, query)
                else {
                    panic!("in place");
                };
                statements.push(replace);
                statements.push(profile.create_ledger(&table));
                statements.extend(profile.grant_select(&view, &grantee));
                statements.push(profile.revoke(&view, &grantee, &READ).unwrap());
            }
            ParserDialect::Teradata => {
                statements.extend(profile.grant_select(&view, &grantee));
                statements.push(profile.revoke(&view, &grantee, &SELECT).unwrap());
            }
            // Every statement of the databases the store runs today reads.
            ParserDialect::PostgreSql | ParserDialect::MySql | ParserDialect::Sqlite => {
                // sqlparser's SQLite dialect does not read an insert's alias (SQLite does:
                // views/tests/profiles.rs runs it).
                if profile.parser() != ParserDialect::Sqlite {
                    statements.push(upsert);
                    statements.push(
                        profile
                            .upsert_ledger_row(&table, AppliedSql::Kept)
                            .statement,
                    );
                }
                statements.push(profile.create_ledger(&table));
                if let Replace::InPlace(replace) = profile.replace_view(&view, Clauses::NONE, query)
                {
                    statements.push(replace);
                }
                statements.extend(profile.grant_select(&view, &grantee));
                statements.extend(profile.revoke(&view, &grantee, &SELECT));
                statements.extend(profile.take_lock("", &KEY, Duration::from_secs(1)));
                statements.extend(profile.release_lock(&KEY));
                statements.extend(profile.release_locks(2));
                // Several settings, each a statement.
                if let Some(settings) = profile.section_settings(Duration::from_secs(1)) {
                    statements.extend(settings.split("; ").map(str::to_owned));
                }
                statements.push(profile.begin_section().to_owned());
            }
        }
        let failed: Vec<String> = statements
            .iter()
            .filter_map(|statement| parses_as_one(profile, statement).err())
            .collect();
        assert!(failed.is_empty(), "{}: {failed:#?}", profile.name());
    }
}

#[test]
fn the_ledger_has_every_column_in_each_database_and_oracle_no_empty_text_not_null() {
    for profile in PROFILES {
        let create = profile.create_ledger("t");
        for column in LEDGER_COLUMNS {
            assert!(
                create.contains(&format!("{} ", column.name)),
                "{}: {}",
                profile.name(),
                column.name
            );
        }
    }
    let oracle = Oracle.create_ledger("\"s\".\"t\"");
    assert!(
        oracle.contains("sql_digest VARCHAR2(64 CHAR), "),
        "{oracle}"
    );
    assert!(
        oracle.contains("catalog_digest VARCHAR2(64 CHAR), "),
        "{oracle}"
    );
    assert!(
        oracle.contains("state VARCHAR2(64 CHAR) NOT NULL"),
        "{oracle}"
    );
    assert!(
        oracle.contains("observed_at NUMBER(19) NOT NULL"),
        "{oracle}"
    );
    assert!(!oracle.contains("DEFAULT ''"), "{oracle}");
    let sql_server = SqlServer.create_ledger("[s].[it's]");
    assert_eq!(
        sql_server,
        "IF OBJECT_ID(N'[s].[it''s]', N'U') IS NULL CREATE TABLE [s].[it's] (\
         project_id NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL, \
         data_source_id NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL, \
         view_name NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL, \
         sql_digest NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL DEFAULT '', \
         state NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL, \
         observed_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
         catalog_digest NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL DEFAULT '', \
         applied_sql NVARCHAR(MAX), \
         grants_digest NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL DEFAULT '', \
         blocked_by NVARCHAR(MAX), \
         PRIMARY KEY NONCLUSTERED (project_id, data_source_id))"
    );
    assert_eq!(
        Teradata.create_ledger("\"s\".\"t\""),
        "CREATE TABLE \"s\".\"t\" (\
         project_id VARCHAR(255) CHARACTER SET UNICODE CASESPECIFIC NOT NULL, \
         data_source_id VARCHAR(255) CHARACTER SET UNICODE CASESPECIFIC NOT NULL, \
         view_name VARCHAR(1024) CHARACTER SET UNICODE CASESPECIFIC NOT NULL, \
         sql_digest VARCHAR(64) CHARACTER SET LATIN CASESPECIFIC NOT NULL DEFAULT '', \
         state VARCHAR(64) CHARACTER SET LATIN CASESPECIFIC NOT NULL, \
         observed_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
         catalog_digest VARCHAR(64) CHARACTER SET LATIN CASESPECIFIC NOT NULL DEFAULT '', \
         applied_sql CLOB CHARACTER SET UNICODE, \
         grants_digest VARCHAR(64) CHARACTER SET LATIN CASESPECIFIC NOT NULL DEFAULT '', \
         blocked_by CLOB CHARACTER SET UNICODE) \
         UNIQUE PRIMARY INDEX (project_id, data_source_id)"
    );
}

#[test]
fn each_upsert_binds_one_ledger_column_per_placeholder_and_writes_or_keeps_the_applied_sql() {
    for profile in all() {
        for applied_sql in [AppliedSql::Written, AppliedSql::Kept] {
            let upsert = profile.upsert_ledger_row("t", applied_sql);
            let name = profile.name();
            let placeholders = match profile.placeholder(1).as_str() {
                "?" => upsert.statement.matches('?').count(),
                _ => (1..=upsert.binds.len() + 1)
                    .take_while(|n| upsert.statement.contains(&profile.placeholder(*n)))
                    .count(),
            };
            assert_eq!(placeholders, upsert.binds.len(), "{name}");
            for column in applied_sql.written() {
                assert!(
                    upsert.binds.contains(&column.name),
                    "{name}: {}",
                    column.name
                );
            }
            // A value is never bound inside an expression (Oracle, Teradata refuse long ones).
            assert!(!upsert.statement.contains("COALESCE"), "{name}");
            assert_eq!(
                upsert.statement.contains("applied_sql"),
                applied_sql == AppliedSql::Written,
                "{name}: {}",
                upsert.statement
            );
        }
    }
    assert_eq!(
        Postgres.upsert_ledger_row("t", AppliedSql::Kept).statement,
        "INSERT INTO t AS ledger_row (project_id, data_source_id, view_name, sql_digest, state, \
         observed_at, updated_at, catalog_digest, grants_digest, blocked_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (project_id, data_source_id) DO UPDATE SET view_name = excluded.view_name, \
         sql_digest = excluded.sql_digest, state = excluded.state, \
         observed_at = excluded.observed_at, updated_at = excluded.updated_at, \
         catalog_digest = excluded.catalog_digest, grants_digest = excluded.grants_digest, \
         blocked_by = excluded.blocked_by"
    );
    assert_eq!(
        MariaDb
            .upsert_ledger_row("t", AppliedSql::Written)
            .statement,
        "INSERT INTO t (project_id, data_source_id, view_name, sql_digest, state, observed_at, \
         updated_at, catalog_digest, applied_sql, grants_digest, blocked_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE view_name = VALUES(view_name), sql_digest = VALUES(sql_digest), \
         state = VALUES(state), observed_at = VALUES(observed_at), \
         updated_at = VALUES(updated_at), catalog_digest = VALUES(catalog_digest), \
         applied_sql = VALUES(applied_sql), grants_digest = VALUES(grants_digest), \
         blocked_by = VALUES(blocked_by)"
    );
    let teradata = Teradata.upsert_ledger_row("t", AppliedSql::Written);
    assert_eq!(
        teradata.statement,
        "UPDATE t SET view_name = ?, sql_digest = ?, state = ?, observed_at = ?, updated_at = ?, \
         catalog_digest = ?, applied_sql = ?, grants_digest = ?, blocked_by = ? \
         WHERE project_id = ? AND data_source_id = ? ELSE INSERT INTO t \
         (project_id, data_source_id, view_name, sql_digest, state, observed_at, updated_at, \
         catalog_digest, applied_sql, grants_digest, blocked_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let all = LEDGER_COLUMNS.map(|c| c.name);
    assert_eq!(&teradata.binds[..9], &all[2..]);
    assert_eq!(&teradata.binds[9..11], &all[..2]);
    assert_eq!(&teradata.binds[11..], all.as_slice());
    let oracle = Oracle.upsert_ledger_row("t", AppliedSql::Kept);
    assert!(oracle.statement.starts_with(
        "MERGE INTO t ledger_row USING (SELECT ? AS project_id, ? AS data_source_id FROM DUAL) \
         excluded ON (ledger_row.project_id = excluded.project_id AND "
    ));
    assert!(
        oracle
            .statement
            .contains("UPDATE SET ledger_row.view_name = ?, ")
    );
    assert_eq!(
        &oracle.binds[..3],
        &["project_id", "data_source_id", "view_name"]
    );
    let sql_server = SqlServer
        .upsert_ledger_row("t", AppliedSql::Written)
        .statement;
    assert!(sql_server.starts_with("MERGE INTO t WITH (HOLDLOCK) AS ledger_row USING (VALUES ("));
    assert!(sql_server.contains("WHEN MATCHED THEN UPDATE SET view_name = excluded.view_name, "));
    assert!(
        sql_server.ends_with(';'),
        "T-SQL ends a MERGE with a semicolon"
    );
}

#[test]
fn the_critical_sections() {
    let wait = Duration::from_millis(2_500);
    assert_eq!(
        SqlServer.take_lock("", &KEY, wait).unwrap(),
        "DECLARE @result int; EXEC @result = sp_getapplock \
         @Resource = N'immuta_view_sync_deadbeef0102030405060708090a0b0c', \
         @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = 2500; \
         SELECT @result AS result"
    );
    assert_eq!(
        SqlServer.section(),
        Section::OneTransaction { taken_from: 0 }
    );
    assert_eq!(
        SqlServer.release_lock(&KEY).unwrap(),
        "EXEC sp_releaseapplock @Resource = N'immuta_view_sync_deadbeef0102030405060708090a0b0c', \
         @LockOwner = N'Session'"
    );
    assert!(SqlServer.ddl_is_transactional());

    let id = Oracle::lock_id(&KEY);
    assert!(id < 1 << 30);
    assert_eq!(id, 0xdeadbeef % (1 << 30));
    let take = Oracle.take_lock("", &KEY, wait).unwrap();
    assert!(take.contains(&format!("DBMS_LOCK.REQUEST(id => {id}, lockmode => DBMS_LOCK.X_MODE, timeout => 3, release_on_commit => FALSE)")), "{take}");
    assert!(take.contains("RAISE_APPLICATION_ERROR(-20001"), "{take}");
    assert_eq!(
        Oracle.error_meaning(native(20_001)),
        Some(ErrorMeaning::LockWait)
    );
    assert_eq!(Oracle.error_meaning(native(20_002)), None);
    assert_eq!(
        Oracle.release_lock(&KEY).unwrap(),
        format!("DECLARE result INTEGER; BEGIN result := DBMS_LOCK.RELEASE(id => {id}); END;")
    );
    assert!(
        Oracle
            .take_lock("", &KEY, Duration::from_secs(1 << 40))
            .unwrap()
            .contains("timeout => 32766")
    );
    assert!(
        Oracle
            .take_lock("", &KEY, Duration::from_millis(1))
            .unwrap()
            .contains("timeout => 1,")
    );
    assert_eq!(
        Oracle.section(),
        Section::SessionLock {
            answer: LockAnswer::Fails
        }
    );
    assert!(!Oracle.ddl_is_transactional());

    let slot = Teradata::lock_slot(&KEY);
    assert!(slot < LOCK_SLOTS_FOR_TESTS);
    assert_eq!(
        Teradata.take_lock("\"s\".\"locks\"", &KEY, wait).unwrap(),
        format!(
            "LOCKING ROW FOR WRITE NOWAIT SELECT slot FROM \"s\".\"locks\" WHERE slot = {slot}"
        )
    );
    assert_eq!(
        Teradata.error_meaning(native(7423)),
        Some(ErrorMeaning::LockWait)
    );
    assert_eq!(Teradata.section(), Section::RowLockOnSecondConnection);
    assert_eq!(Teradata.create_lock_table("t").len(), 2);
    for profile in [&SqlServer as &dyn Profile, &Oracle] {
        assert!(profile.create_lock_table("t").is_empty());
    }
}

const LOCK_SLOTS_FOR_TESTS: u32 = teradata::LOCK_SLOTS;

#[test]
fn a_database_without_a_fence_says_why_and_oracle_names_its_setting() {
    for profile in [&SqlServer as &dyn Profile, &Teradata] {
        let ReaderProtection::None { why } = profile.reader_protection() else {
            panic!("{}: no fence is known", profile.name());
        };
        assert!(why.contains("division by zero"), "{why}");
    }
    let ReaderProtection::ServerSetting {
        check,
        protects_when,
        gaps,
    } = Oracle.reader_protection()
    else {
        panic!("Oracle's secure view merging");
    };
    assert!(check.contains("optimizer_secure_view_merging"));
    assert_eq!(protects_when, "TRUE");
    assert!(gaps.contains("MERGE ANY VIEW"));
}

#[test]
fn the_databases_the_store_runs_today_read_and_rewrite_their_views_as_their_profiles_say() {
    use crate::dialect::Dialect as Native;
    assert_eq!(
        [Native::Postgres, Native::MySql, Native::Sqlite]
            .map(|dialect| of(dialect).reader_protection().rewrite()),
        [
            Some(Rewrite::SecurityBarrier),
            Some(Rewrite::TempTable),
            None
        ]
    );
    assert_eq!(
        [Native::Postgres, Native::MySql, Native::Sqlite].map(|dialect| of(dialect).parser()),
        [
            ParserDialect::PostgreSql,
            ParserDialect::MySql,
            ParserDialect::Sqlite
        ]
    );
    let ReaderProtection::None { why } = Sqlite.reader_protection() else {
        panic!("SQLite has no readers of its own");
    };
    assert!(why.contains("file"), "{why}");
    for profile in PROFILES {
        assert_eq!(
            profile.reader_protection().rewrite(),
            None,
            "{}",
            profile.name()
        );
    }
    // The clauses go where each database reads them: before `VIEW`, after the name.
    let clauses = Clauses {
        before_view: "ALGORITHM = TEMPTABLE ",
        after_name: " WITH (security_barrier = true)",
    };
    assert_eq!(
        Postgres.create_view("v", clauses, "SELECT 1"),
        "CREATE ALGORITHM = TEMPTABLE VIEW v WITH (security_barrier = true) AS SELECT 1"
    );
    assert_eq!(
        MariaDb.replace_view("v", clauses, "SELECT 1"),
        Replace::InPlace(
            "CREATE OR REPLACE ALGORITHM = TEMPTABLE VIEW v WITH (security_barrier = true) AS \
             SELECT 1"
                .into()
        )
    );
}

const SELECT: HeldGrant<'static> = HeldGrant {
    privilege: Privilege::Select,
    columns: None,
    grantable: false,
    selects: true,
};

const READ: HeldGrant<'static> = HeldGrant {
    privilege: Privilege::Read,
    ..SELECT
};

/// Each grant read names every column the store reads of it, as the store reads it (lowercase,
/// quoted where the database would otherwise answer in capitals).
#[test]
fn the_grant_reads_answer_the_columns_the_store_reads() {
    for profile in all() {
        let Some(read) = profile.view_grants(Some("s"), None) else {
            assert_eq!(profile.parser(), ParserDialect::Sqlite);
            continue;
        };
        let quoted = matches!(
            profile.parser(),
            ParserDialect::Oracle | ParserDialect::Teradata
        );
        for column in GrantRow::COLUMNS {
            let alias = match quoted {
                true => format!("AS \"{column}\""),
                false => format!("AS {column}"),
            };
            // PostgreSQL's `level` comes from its subquery, under that name.
            assert!(
                read.statement.contains(&alias)
                    || (profile.parser() == ParserDialect::PostgreSql && column == "level"),
                "{}: {column}",
                profile.name()
            );
        }
        let roles = profile.roles_found(&["a"]).unwrap();
        for column in ["name", "kind"] {
            let alias = match quoted {
                true => format!("AS \"{column}\""),
                false => format!("AS {column}"),
            };
            assert!(
                roles.statement.contains(&alias),
                "{}: {column}",
                profile.name()
            );
        }
    }
}

#[test]
fn grants_per_database() {
    assert_eq!(
        SqlServer.grant_select("[s].[v]", "[analyst]"),
        ["GRANT SELECT ON OBJECT::[s].[v] TO [analyst]"]
    );
    assert_eq!(
        SqlServer.revoke("[s].[v]", "[analyst]", &SELECT).unwrap(),
        "REVOKE SELECT ON OBJECT::[s].[v] FROM [analyst] CASCADE"
    );
    assert_eq!(
        Oracle.revoke("\"s\".\"v\"", "\"ANALYST\"", &READ).unwrap(),
        "REVOKE READ ON \"s\".\"v\" FROM \"ANALYST\""
    );
    // A privilege read from the catalog that is not one of these never reaches a revoke.
    for unknown in ["DELETE", "SELECT; DROP TABLE t", "select", ""] {
        assert_eq!(Privilege::named(unknown), None);
    }
    // Only Oracle has READ; only MariaDB revokes by column, or a grant option alone.
    for profile in all() {
        let read = profile.revoke("v", "r", &READ);
        assert_eq!(
            read.is_some(),
            profile.parser() == ParserDialect::Oracle,
            "{}",
            profile.name()
        );
        let by_column = profile.granted_columns(Some("s"), "v", "r", "");
        assert_eq!(
            by_column.is_some(),
            profile.parser() == ParserDialect::MySql,
            "{}",
            profile.name()
        );
    }
    assert_eq!(
        Teradata.view_grants(Some("s"), None).unwrap().binds,
        vec![Some("s".to_owned()), Some("s".to_owned())]
    );
    assert_eq!(
        Oracle.view_grants(None, Some("V")).unwrap().binds,
        vec![None, Some("V".to_owned())]
    );
    for profile in all() {
        let placeholders = |statement: &str| match profile.placeholder(1).as_str() {
            "?" => statement.matches('?').count(),
            _ => (1..=9)
                .filter(|n| statement.contains(&profile.placeholder(*n)))
                .count(),
        };
        let reads = [
            profile.view_grants(Some("s"), None),
            profile.view_grants(None, Some("v")),
            profile.roles_found(&["a", "b", "c"]),
            profile.granted_columns(Some("s"), "v", "r", "%"),
        ]
        .into_iter()
        .flatten();
        let definitions = [
            profile.view_definitions(Some("s"), Views::All),
            profile.view_definitions(None, Views::Named("v")),
            profile.view_definitions(Some("s"), Views::After("v")),
        ];
        for read in reads
            .chain(definitions)
            .chain(profile.just_made_view_definition(Some("s"), "v"))
        {
            assert_eq!(
                placeholders(&read.statement),
                read.binds.len(),
                "{}: {}",
                profile.name(),
                read.statement
            );
        }
        assert!(profile.replace_keeps_grants(), "{}", profile.name());
    }
    assert!(Oracle.definition_is_the_query());
    assert!(!SqlServer.definition_is_the_query() && !Teradata.definition_is_the_query());
}

#[test]
fn the_error_numbers_each_database_is_read_by() {
    let meanings = |profile: &dyn Profile| {
        (0..100_000)
            .filter_map(|n| profile.error_meaning(native(n)).map(|m| (n, m)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        meanings(&SqlServer),
        vec![
            (208, ErrorMeaning::Absent),
            (1205, ErrorMeaning::LockWait),
            (1222, ErrorMeaning::LockWait),
            (1913, ErrorMeaning::Exists),
            (2714, ErrorMeaning::Exists),
            (15023, ErrorMeaning::Exists),
            (15151, ErrorMeaning::GranteeMissing),
            (18456, ErrorMeaning::LoginRefused),
        ]
    );
    assert_eq!(
        Oracle.error_meaning(native(942)),
        Some(ErrorMeaning::Absent)
    );
    assert_eq!(
        Oracle.error_meaning(native(1017)),
        Some(ErrorMeaning::LoginRefused)
    );
    assert_eq!(
        Teradata.error_meaning(native(3807)),
        Some(ErrorMeaning::Absent)
    );
    assert_eq!(
        Teradata.error_meaning(native(8017)),
        Some(ErrorMeaning::LoginRefused)
    );
}

#[test]
fn the_databases_the_store_runs_today_read_their_own_codes() {
    use ErrorMeaning::*;
    let sqlstate = |code| ErrorCode {
        sqlstate: Some(code),
        native: None,
    };
    for (code, meaning) in [
        ("55P03", Some(LockWait)),
        ("57014", Some(LockWait)),
        ("40P01", Some(LockWait)),
        ("28P01", Some(LoginRefused)),
        ("28000", Some(LoginRefused)),
        ("42P01", Some(Absent)),
        ("42P07", Some(Exists)),
        ("23505", Some(Exists)),
        ("42704", Some(GranteeMissing)),
        ("42P16", Some(ColumnsDiffer)),
        ("2BP01", Some(OthersDepend)),
        ("23503", None),
        ("42601", None),
    ] {
        assert_eq!(Postgres.error_meaning(sqlstate(code)), meaning, "{code}");
    }
    assert_eq!(Postgres.error_meaning(native(1205)), None);
    for (number, meaning) in [
        (1205, Some(LockWait)),
        (1213, Some(LockWait)),
        (1045, Some(LoginRefused)),
        (1698, Some(LoginRefused)),
        (1051, Some(Absent)),
        (1146, Some(Absent)),
        (1050, Some(Exists)),
        (1061, Some(Exists)),
        (1133, Some(GranteeMissing)),
        (1064, None),
    ] {
        assert_eq!(MariaDb.error_meaning(native(number)), meaning, "{number}");
    }
    // MariaDB's SQLSTATEs are coarse (28000 is also a grant to no one's): never read.
    assert_eq!(MariaDb.error_meaning(sqlstate("28000")), None);
    // SQLite: BUSY and LOCKED with their extended codes (BUSY_SNAPSHOT, LOCKED_SHAREDCACHE).
    for (code, meaning) in [
        (5, Some(LockWait)),
        (517, Some(LockWait)),
        (6, Some(LockWait)),
        (262, Some(LockWait)),
        (1, None),
        (2067, None),
    ] {
        assert_eq!(Sqlite.error_meaning(native(code)), meaning, "{code}");
    }
    for dialect in [
        crate::dialect::Dialect::Sqlite,
        crate::dialect::Dialect::Postgres,
        crate::dialect::Dialect::MySql,
    ] {
        assert_eq!(of(dialect).name(), dialect.name());
    }
    assert_eq!(Postgres.placeholder(3), "$3");
    assert_eq!(MariaDb.placeholder(3), "?");
}

#[test]
fn a_catalog_read_binds_its_schema_or_null_and_the_name_it_asks_for() {
    assert_eq!(
        SqlServer.view_definitions(None, Views::Named("v")),
        CatalogRead {
            statement: "SELECT v.name, m.definition FROM sys.views AS v \
                        JOIN sys.schemas AS s ON s.schema_id = v.schema_id \
                        JOIN sys.sql_modules AS m ON m.object_id = v.object_id \
                        WHERE s.name = COALESCE(?, SCHEMA_NAME()) AND v.name = ?"
                .into(),
            binds: vec![None, Some("v".into())],
        }
    );
    let page = Postgres.view_definitions(Some("s"), Views::After("m"));
    assert!(page.statement.ends_with(
        "n.nspname = COALESCE($1, current_schema()) AND c.relname > CAST($2 AS name) \
         ORDER BY c.relname LIMIT 500) AS v ORDER BY v.relname"
    ));
    assert_eq!(page.binds, [Some("s".into()), Some("m".into())]);
    assert_eq!(Postgres.catalog_page(), Some(500));
    assert_eq!(
        Sqlite.view_definitions(Some("main"), Views::All),
        CatalogRead {
            statement: "SELECT name, sql AS definition FROM \"main\".sqlite_master \
                        WHERE type = 'view'"
                .into(),
            binds: vec![],
        }
    );
    for profile in all() {
        assert_eq!(
            profile.catalog_page().is_some(),
            profile.parser() == ParserDialect::PostgreSql,
            "{}",
            profile.name()
        );
    }
}

/// The ledger records the digest of what these reads return for each view it applied: a read
/// that returned other text for the same view would make every view of an earlier version look
/// edited. Their select lists are held here, as every version has read them.
#[test]
fn what_a_definition_read_returns_does_not_change() {
    // Every read of a profile selects the same, whichever views it asks for.
    let select = |profile: &dyn Profile| {
        let before_from = |read: CatalogRead| {
            let statement = read.statement;
            statement
                .split(" FROM ")
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let reads = [
            profile.view_definitions(None, Views::All),
            profile.view_definitions(Some("s"), Views::Named("v")),
            profile.view_definitions(Some("s"), Views::After("v")),
        ];
        let selects: BTreeSet<String> = reads
            .into_iter()
            .chain(profile.just_made_view_definition(Some("s"), "v"))
            .map(before_from)
            .collect();
        assert_eq!(selects.len(), 1, "{}: {selects:?}", profile.name());
        selects.into_iter().next().unwrap()
    };
    assert_eq!(
        select(&Postgres),
        "SELECT CAST(v.relname AS TEXT) AS name, pg_get_viewdef(v.oid) || '|' || \
         pg_get_userbyid(v.relowner) || '|' || COALESCE(array_to_string(v.reloptions, ','), '') \
         AS definition"
    );
    assert_eq!(
        select(&MariaDb),
        "SELECT CAST(TABLE_NAME AS CHAR) AS name, CAST(CONCAT_WS('|', VIEW_DEFINITION, DEFINER, \
         SECURITY_TYPE, CHECK_OPTION) AS CHAR) AS definition"
    );
    assert_eq!(select(&Sqlite), "SELECT name, sql AS definition");
}

/// A database whose drop keeps grants needs them revoked before every drop of a view of ours;
/// the apply does so where DDL commits on its own (the only such database today, MariaDB).
#[test]
fn grants_outlive_a_drop_only_where_ddl_commits_on_its_own() {
    for profile in all() {
        assert!(
            !profile.drop_keeps_grants() || !profile.ddl_is_transactional(),
            "{}: revoke before the drop of a rename too",
            profile.name()
        );
    }
}
