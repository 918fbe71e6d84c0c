//! The dialect profiles held to the databases themselves: each statement a profile gives runs on
//! its database (natively, or through ODBC when the test URLs are ODBC connection strings, as in
//! `make test-odbc`) and does what the profile says it does; each meaning it gives an error is
//! the meaning of the error the database really raises.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AssertSqlSafe, Row};
use support::{TestDb, admin_pool, databases, unique};
use view_sync_core::profile::{
    self, AppliedSql, Clauses, ColumnKind, ErrorMeaning, GrantRow, HeldGrant, LEDGER_COLUMNS,
    LockAnswer, LockKey, LockKind, Privilege, Profile, Replace, Section, StoreIndex, Views,
};
use views::{Dialect, error_meaning};

fn profile_of(db: &TestDb) -> &'static dyn Profile {
    profile::of(db.store.dialect())
}

/// A session of its own on the store's database (the store's SQLite pool has one connection).
async fn another_session(db: &TestDb) -> PoolConnection<Any> {
    admin_pool(db.url()).await.acquire().await.unwrap()
}

async fn run(db: &TestDb, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(db.store.pool())
        .await
        .map(drop)
}

/// What the database raises for `sql`, which must fail.
async fn refusal(db: &TestDb, sql: &str) -> Option<ErrorMeaning> {
    let error = run(db, sql)
        .await
        .expect_err(&format!("{}: {sql} must fail", db.name));
    error_meaning(&error)
}

/// Upserts the ledger row of (`project`, `source`) with `state` and, where given, `applied`.
async fn upsert(db: &TestDb, table: &str, key: [&str; 2], state: &str, applied: Option<&str>) {
    let applied_sql = match applied {
        Some(_) => AppliedSql::Written,
        None => AppliedSql::Kept,
    };
    let upsert = profile_of(db).upsert_ledger_row(table, applied_sql);
    let mut query = sqlx::query(AssertSqlSafe(upsert.statement.clone()));
    for name in &upsert.binds {
        let column = LEDGER_COLUMNS.iter().find(|c| c.name == *name).unwrap();
        query = match (column.kind, *name) {
            (ColumnKind::Micros, _) => query.bind(7_i64),
            (_, "project_id") => query.bind(key[0].to_owned()),
            (_, "data_source_id") => query.bind(key[1].to_owned()),
            (_, "state") => query.bind(state.to_owned()),
            (_, "applied_sql") => query.bind(applied.map(str::to_owned)),
            (_, "blocked_by") => query.bind(None::<String>),
            (_, other) => query.bind(format!("{other} of {}", key[1])),
        };
    }
    query
        .execute(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{}: {}: {e}", db.name, upsert.statement));
}

/// The state and applied SQL of a ledger row.
async fn ledger_row(db: &TestDb, table: &str, key: [&str; 2]) -> (String, Option<String>) {
    let p = |n| profile_of(db).placeholder(n);
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT state, applied_sql FROM {table} WHERE project_id = {} AND data_source_id = {}",
        p(1),
        p(2)
    )))
    .bind(key[0].to_owned())
    .bind(key[1].to_owned())
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn the_ledger_is_made_and_upserted_as_the_profile_says() {
    for db in databases() {
        db.store.ensure_ledger().await.unwrap();
        let profile = profile_of(&db);
        let table = profile
            .qualified(db.schema(), &unique("ivs_ledger"))
            .unwrap();
        for _ in 0..2 {
            run(&db, &profile.create_ledger(&table)).await.unwrap();
        }
        let (one, two) = (["7", "42"], ["7", "43"]);
        upsert(
            &db,
            &table,
            one,
            "present",
            Some("CREATE VIEW v AS SELECT 1"),
        )
        .await;
        upsert(&db, &table, one, "dropped", None).await;
        assert_eq!(
            ledger_row(&db, &table, one).await,
            ("dropped".into(), Some("CREATE VIEW v AS SELECT 1".into())),
            "{}: a row upserted without its applied SQL keeps it",
            db.name
        );
        upsert(
            &db,
            &table,
            one,
            "present",
            Some("CREATE VIEW v AS SELECT 2"),
        )
        .await;
        assert_eq!(
            ledger_row(&db, &table, one).await.1.as_deref(),
            Some("CREATE VIEW v AS SELECT 2")
        );
        upsert(&db, &table, two, "pending", None).await;
        assert_eq!(
            ledger_row(&db, &table, two).await,
            ("pending".into(), None),
            "{}",
            db.name
        );
        // A megabyte of view SQL: what the applied SQL's column must hold.
        let long = format!("SELECT '{}' AS a", "x".repeat(1 << 20));
        upsert(&db, &table, two, "present", Some(&long)).await;
        assert_eq!(
            ledger_row(&db, &table, two).await.1.as_deref(),
            Some(&*long)
        );
        // A table or an index made twice (no `IF NOT EXISTS`) is refused as existing.
        let plain = profile.qualified(db.schema(), &unique("ivs_t")).unwrap();
        let index = profile.quote(&unique("ivs_i")).unwrap();
        run(&db, &format!("CREATE TABLE {plain} (a INT)"))
            .await
            .unwrap();
        let add_index = match db.store.dialect() {
            Dialect::MySql => format!("ALTER TABLE {plain} ADD INDEX {index} (a)"),
            // SQLite names the index's schema, and the table bare.
            Dialect::Sqlite => {
                let (schema, table) = plain.split_once('.').unwrap();
                format!("CREATE INDEX {schema}.{index} ON {table} (a)")
            }
            Dialect::Postgres => format!("CREATE INDEX {index} ON {plain} (a)"),
        };
        run(&db, &add_index).await.unwrap();
        for made_again in [format!("CREATE TABLE {plain} (a INT)"), add_index] {
            let exists = refusal(&db, &made_again).await;
            match db.store.dialect() {
                // SQLite says so only in its message (SQLITE_ERROR is every refusal's code).
                Dialect::Sqlite => assert_eq!(exists, None),
                Dialect::Postgres | Dialect::MySql => assert_eq!(
                    exists,
                    Some(ErrorMeaning::Exists),
                    "{}: {made_again}",
                    db.name
                ),
            }
        }
        for made in [&table, &plain] {
            run(&db, &format!("DROP TABLE {made}")).await.unwrap();
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn views_are_made_replaced_read_back_and_dropped_as_the_profile_says() {
    for db in databases() {
        db.store.ensure_ledger().await.unwrap();
        let profile = profile_of(&db);
        let bare = unique("ivs_profiled");
        let view = profile.qualified(db.schema(), &bare).unwrap();
        run(
            &db,
            &profile.create_view(&view, Clauses::NONE, "SELECT 'one' AS a"),
        )
        .await
        .unwrap();
        match profile.replace_view(&view, Clauses::NONE, "SELECT 'two' AS a") {
            Replace::InPlace(replace) => run(&db, &replace).await.unwrap(),
            Replace::DropAndCreate => {
                run(&db, &profile.drop_view(&view).statement).await.unwrap();
                run(
                    &db,
                    &profile.create_view(&view, Clauses::NONE, "SELECT 'two' AS a"),
                )
                .await
                .unwrap();
            }
        }
        let a: String = sqlx::query_scalar(AssertSqlSafe(format!("SELECT a FROM {view}")))
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(a, "two", "{}", db.name);

        // Every read the profile has finds the view, with one definition.
        let schema = Some(db.schema());
        let mut reads = vec![
            profile.view_definitions(schema, Views::All),
            profile.view_definitions(schema, Views::Named(&bare)),
        ];
        if profile.catalog_page().is_some() {
            reads.push(profile.view_definitions(schema, Views::After("")));
        }
        reads.extend(profile.just_made_view_definition(schema, &bare));
        let mut definitions = BTreeSet::new();
        for read in reads {
            let statement = read.statement.clone();
            let mut query = sqlx::query(AssertSqlSafe(read.statement));
            for bind in read.binds {
                query = query.bind(bind);
            }
            let rows = query.fetch_all(db.store.pool()).await.unwrap();
            let definition: String = rows
                .iter()
                .find(|row| row.get::<String, _>(0) == bare)
                .map(|row| row.get(1))
                .unwrap_or_else(|| panic!("{}: {bare} not read back by {statement}", db.name));
            definitions.insert(definition);
        }
        assert_eq!(definitions.len(), 1, "{}: {definitions:?}", db.name);
        let definition = definitions.pop_first().unwrap();
        assert!(definition.contains("two"), "{}: {definition}", db.name);
        assert_eq!(
            definition.to_ascii_uppercase().contains("CREATE"),
            !profile.definition_is_the_query(),
            "{}: {definition}",
            db.name
        );

        let drop = profile.drop_view(&view);
        run(&db, &drop.statement).await.unwrap();
        let again = run(&db, &drop.statement).await;
        match drop.fails_when_absent {
            false => again.unwrap(),
            true => assert_eq!(
                error_meaning(&again.unwrap_err()),
                Some(ErrorMeaning::Absent)
            ),
        }
        if db.store.dialect() == Dialect::Postgres {
            // The two refusals a PostgreSQL apply answers: a replace whose columns differ, a
            // drop of a view others are built on.
            let over = profile.qualified(db.schema(), &unique("ivs_over")).unwrap();
            run(
                &db,
                &profile.create_view(&view, Clauses::NONE, "SELECT 'two' AS a"),
            )
            .await
            .unwrap();
            let Replace::InPlace(renamed) =
                profile.replace_view(&view, Clauses::NONE, "SELECT 'two' AS b")
            else {
                panic!("PostgreSQL replaces in place");
            };
            assert_eq!(
                refusal(&db, &renamed).await,
                Some(ErrorMeaning::ColumnsDiffer)
            );
            run(
                &db,
                &profile.create_view(&over, Clauses::NONE, &format!("SELECT a FROM {view}")),
            )
            .await
            .unwrap();
            assert_eq!(
                refusal(&db, &profile.drop_view(&view).statement).await,
                Some(ErrorMeaning::OthersDepend)
            );
            for made in [&over, &view] {
                run(&db, &profile.drop_view(made).statement).await.unwrap();
            }
        }
        let absent = refusal(&db, &format!("SELECT a FROM {view}")).await;
        match db.store.dialect() {
            Dialect::Sqlite => assert_eq!(absent, None),
            Dialect::Postgres | Dialect::MySql => {
                assert_eq!(absent, Some(ErrorMeaning::Absent), "{}", db.name)
            }
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn ddl_is_transactional_where_the_profile_says_and_its_section_agrees() {
    for db in databases() {
        db.store.ensure_ledger().await.unwrap();
        let profile = profile_of(&db);
        let view = profile
            .qualified(db.schema(), &unique("ivs_rolled_back"))
            .unwrap();
        let mut transaction = db.store.pool().begin().await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(profile.create_view(
            &view,
            Clauses::NONE,
            "SELECT 1 AS a",
        )))
        .execute(&mut *transaction)
        .await
        .unwrap();
        transaction.rollback().await.unwrap();
        let kept = run(&db, &format!("SELECT a FROM {view}")).await.is_ok();
        assert_eq!(kept, !profile.ddl_is_transactional(), "{}", db.name);
        let section_is_one_transaction = matches!(
            profile.section(),
            Section::OneTransaction { .. } | Section::LedgerRow | Section::OneWriter
        );
        assert_eq!(section_is_one_transaction, profile.ddl_is_transactional());
        if kept {
            run(&db, &profile.drop_view(&view).statement).await.unwrap();
        }
        db.finish().await;
    }
}

/// The one integer `sql` answers on `conn`.
async fn answer(conn: &mut PoolConnection<Any>, sql: String) -> Option<i64> {
    sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql))
        .fetch_one(&mut **conn)
        .await
        .unwrap()
}

/// The lock of one view excludes every other session's, and is taken again once released.
#[tokio::test]
async fn a_session_lock_excludes_other_sessions_until_released() {
    for db in databases() {
        let profile = profile_of(&db);
        // Named locks are the server's, shared by every run against it: a key of this run's.
        let mut key = [0_u8; 16];
        let name = unique("ivs_lock");
        for (at, byte) in name.bytes().rev().take(16).enumerate() {
            key[at] = byte;
        }
        let key = LockKey {
            kind: LockKind::View,
            digest: key,
        };
        let short = Duration::from_millis(0);
        let Some(take) = profile.take_lock("", &key, Duration::from_secs(1)) else {
            // The section's lock is the ledger row's or the one writer's: the store's own
            // tests (ordering, crash) hold it to its promise.
            assert!(matches!(
                profile.section(),
                Section::LedgerRow | Section::OneWriter
            ));
            db.finish().await;
            continue;
        };
        let Section::SessionLock {
            answer: LockAnswer::Returns { taken },
        } = profile.section()
        else {
            panic!("{}: a lock answered otherwise", db.name);
        };
        let (mut first, mut second) = (another_session(&db).await, another_session(&db).await);
        assert_eq!(answer(&mut first, take.clone()).await, Some(taken));
        let other = profile.take_lock("", &key, short).unwrap();
        assert_ne!(answer(&mut second, other.clone()).await, Some(taken));
        let release = profile.release_lock(&key).unwrap();
        answer(&mut first, release.clone()).await;
        assert_eq!(answer(&mut second, other.clone()).await, Some(taken));
        answer(&mut second, release).await;
        // Two locks released in one statement, as a section releases its own.
        let name_key = LockKey {
            kind: LockKind::ViewName,
            ..key
        };
        let release_both = profile.release_locks(2).unwrap();
        let take_name = profile.take_lock("", &name_key, short).unwrap();
        assert_eq!(answer(&mut first, take.clone()).await, Some(taken));
        assert_eq!(answer(&mut first, take_name.clone()).await, Some(taken));
        assert_ne!(answer(&mut second, take_name.clone()).await, Some(taken));
        sqlx::query(AssertSqlSafe(release_both))
            .bind(name_key.name())
            .bind(key.name())
            .execute(&mut *first)
            .await
            .unwrap();
        assert_eq!(answer(&mut second, take_name).await, Some(taken));
        assert_eq!(answer(&mut second, other).await, Some(taken));
        sqlx::query(AssertSqlSafe(profile.release_locks(2).unwrap()))
            .bind(name_key.name())
            .bind(key.name())
            .execute(&mut *second)
            .await
            .unwrap();
        db.finish().await;
    }
}

/// A write that waits for another session's past the session's own limit is a lock wait.
#[tokio::test]
async fn a_lock_not_had_in_time_means_a_lock_wait() {
    for db in databases() {
        db.store.ensure_ledger().await.unwrap();
        let profile = profile_of(&db);
        let table = profile
            .qualified(db.schema(), &unique("ivs_ledger"))
            .unwrap();
        run(&db, &profile.create_ledger(&table)).await.unwrap();
        upsert(&db, &table, ["7", "42"], "present", None).await;
        let update = format!("UPDATE {table} SET state = 'dropped'");
        let mut holder = db.store.pool().begin().await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(update.clone()))
            .execute(&mut *holder)
            .await
            .unwrap();
        let mut waiter = another_session(&db).await;
        let limit = match db.store.dialect() {
            Dialect::Postgres => "SET lock_timeout = '200ms'",
            Dialect::MySql => "SET SESSION innodb_lock_wait_timeout = 1",
            Dialect::Sqlite => "PRAGMA busy_timeout = 50",
        };
        sqlx::raw_sql(AssertSqlSafe(limit))
            .execute(&mut *waiter)
            .await
            .unwrap();
        let waited = sqlx::raw_sql(AssertSqlSafe(update))
            .execute(&mut *waiter)
            .await
            .expect_err("the row is held");
        assert_eq!(
            error_meaning(&waited),
            Some(ErrorMeaning::LockWait),
            "{}: {waited}",
            db.name
        );
        holder.rollback().await.unwrap();
        waiter.close().await.unwrap();
        run(&db, &format!("DROP TABLE {table}")).await.unwrap();
        db.finish().await;
    }
}

/// Grants given, read back and taken as the profile says; a grant to no one is one whose
/// grantee is missing.
#[tokio::test]
async fn grants_are_given_read_back_and_revoked_as_the_profile_says() {
    for db in databases() {
        let profile = profile_of(&db);
        if profile.view_grants(Some(db.schema()), None).is_none() {
            assert!(profile.grant_select("v", "r").is_empty(), "{}", db.name);
            assert!(profile.roles_found(&["r"]).is_none(), "{}", db.name);
            db.finish().await;
            continue;
        }
        db.store.ensure_ledger().await.unwrap();
        let bare = unique("ivs_granted");
        let view = profile.qualified(db.schema(), &bare).unwrap();
        let role_name = unique("ivs_reader");
        let role = profile.quote(&role_name).unwrap();
        run(
            &db,
            &profile.create_view(&view, Clauses::NONE, "SELECT 1 AS a"),
        )
        .await
        .unwrap();
        run(&db, &format!("CREATE ROLE {role}")).await.unwrap();
        // (grantee, host, level, grantable, selects, privilege) of each grant on the view, read
        // for the schema and for the view alone.
        let held = |db: &TestDb| {
            let reads = [
                profile.view_grants(Some(db.schema()), None).unwrap(),
                profile.view_grants(Some(db.schema()), Some(&bare)).unwrap(),
            ];
            let pool = db.store.pool().clone();
            let bare = bare.clone();
            async move {
                let mut found = Vec::new();
                for read in reads {
                    let mut query = sqlx::query(AssertSqlSafe(read.statement));
                    for bind in read.binds {
                        query = query.bind(bind);
                    }
                    let grants: Vec<Vec<Option<String>>> = query
                        .fetch_all(&pool)
                        .await
                        .unwrap()
                        .iter()
                        .filter(|row| row.get::<String, _>("name") == bare)
                        .map(|row| {
                            GrantRow::COLUMNS[1..]
                                .iter()
                                .map(|column| row.get::<Option<String>, _>(*column))
                                .collect()
                        })
                        .collect();
                    found.push(grants);
                }
                assert_eq!(found[0], found[1], "the schema's read and the view's");
                found.remove(0)
            }
        };
        for grant in profile.grant_select(&view, &role) {
            run(&db, &grant).await.unwrap();
        }
        let host = match db.store.dialect() {
            Dialect::MySql => Some(""),
            Dialect::Postgres | Dialect::Sqlite => None,
        };
        let granted = |level: &str, grantable: &str, selects: &str| {
            [
                Some(role_name.as_str()),
                host,
                Some(level),
                Some(grantable),
                Some(selects),
                Some("SELECT"),
            ]
            .map(|value| value.map(str::to_owned))
            .to_vec()
        };
        assert_eq!(
            held(&db).await,
            [granted("view", "no", "yes")],
            "{}",
            db.name
        );
        let select = HeldGrant {
            privilege: Privilege::Select,
            columns: None,
            grantable: false,
            selects: true,
        };
        revoked(
            &db,
            &profile.revoke(&view, &role, &select).unwrap(),
            held(&db),
        )
        .await;
        // A grant on a column: read so, and revoked as read.
        run(&db, &format!("GRANT SELECT (a) ON {view} TO {role}"))
            .await
            .unwrap();
        assert_eq!(
            held(&db).await,
            [granted("columns", "no", "yes")],
            "{}",
            db.name
        );
        let columns = match profile.granted_columns(Some(db.schema()), &bare, &role_name, "") {
            Some(read) => {
                let mut query = sqlx::query_scalar(AssertSqlSafe(read.statement));
                for bind in read.binds {
                    query = query.bind(bind);
                }
                let columns: Vec<String> = query.fetch_all(db.store.pool()).await.unwrap();
                assert_eq!(columns, ["a"], "{}", db.name);
                Some(columns)
            }
            None => None,
        };
        let on_columns = HeldGrant {
            columns: columns.as_deref(),
            ..select
        };
        revoked(
            &db,
            &profile.revoke(&view, &role, &on_columns).unwrap(),
            held(&db),
        )
        .await;
        run(
            &db,
            &format!("GRANT SELECT ON {view} TO {role} WITH GRANT OPTION"),
        )
        .await
        .unwrap();
        assert_eq!(
            held(&db).await,
            [granted("view", "yes", "yes")],
            "{}",
            db.name
        );
        let grantable = HeldGrant {
            grantable: true,
            ..select
        };
        revoked(
            &db,
            &profile.revoke(&view, &role, &grantable).unwrap(),
            held(&db),
        )
        .await;
        // Everyone's grant, on the view and on a column: an empty grantee and no host, revoked
        // from PUBLIC (MariaDB keeps PUBLIC as a role of that name, its column grant revoked
        // column by column).
        let public = vec![Some(String::new()), None];
        let everyone = |level: &str| {
            let mut row = public.clone();
            row.extend([level, "no", "yes", "SELECT"].map(|value| Some(value.to_owned())));
            row
        };
        for (grant, level) in [
            (format!("GRANT SELECT ON {view} TO PUBLIC"), "view"),
            (format!("GRANT SELECT (a) ON {view} TO PUBLIC"), "columns"),
        ] {
            run(&db, &grant).await.unwrap();
            assert_eq!(held(&db).await, [everyone(level)], "{}: {grant}", db.name);
            let columns = match profile.granted_columns(Some(db.schema()), &bare, "PUBLIC", "") {
                Some(read) if level == "columns" => {
                    let mut query = sqlx::query_scalar(AssertSqlSafe(read.statement));
                    for bind in read.binds {
                        query = query.bind(bind);
                    }
                    Some(query.fetch_all(db.store.pool()).await.unwrap())
                }
                _ => None,
            };
            let held_by_everyone = HeldGrant {
                columns: columns.as_deref(),
                ..select
            };
            revoked(
                &db,
                &profile.revoke(&view, "PUBLIC", &held_by_everyone).unwrap(),
                held(&db),
            )
            .await;
        }
        // Which roles exist, and the store's own user.
        let read = profile
            .roles_found(&[&role_name, "ivs_no_such_role"])
            .unwrap();
        let mut query = sqlx::query(AssertSqlSafe(read.statement));
        for bind in read.binds {
            query = query.bind(bind);
        }
        let found: Vec<(String, String)> = query
            .fetch_all(db.store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get("name"), row.get("kind")))
            .collect();
        assert_eq!(found.len(), 2, "{}: {found:?}", db.name);
        assert_eq!(
            found[0],
            (role_name.clone(), "role".to_owned()),
            "{}",
            db.name
        );
        assert_eq!(found[1].1, "self", "{}", db.name);
        if let Some(rights) = profile.grant_read_rights() {
            for check in rights.checks {
                run(&db, check).await.unwrap();
            }
        }
        let missing = profile.quote(&unique("ivs_nobody")).unwrap();
        let grant = profile.grant_select(&view, &missing);
        assert_eq!(
            refusal(&db, grant.last().unwrap()).await,
            Some(ErrorMeaning::GranteeMissing),
            "{}",
            db.name
        );
        run(&db, &profile.drop_view(&view).statement).await.unwrap();
        if db.store.dialect() == Dialect::Postgres {
            // The schema's USAGE, which a revoke of the view leaves.
            run(&db, &format!("DROP OWNED BY {role}")).await.unwrap();
        }
        run(&db, &format!("DROP ROLE {role}")).await.unwrap();
        db.finish().await;
    }
}

/// Runs `revoke`, after which `held` (a read of the view's grants, not run yet) finds none.
async fn revoked(
    db: &TestDb,
    revoke: &str,
    held: impl std::future::Future<Output = Vec<Vec<Option<String>>>>,
) {
    run(db, revoke).await.unwrap();
    assert_eq!(
        held.await,
        Vec::<Vec<Option<String>>>::new(),
        "{}: {revoke}",
        db.name
    );
}

/// Runs `create` on a session that holds it uncommitted while a second session runs it too:
/// the second waits for the first's commit, then must not fail (the object made meanwhile).
async fn made_by_two_sessions_at_once(db: &TestDb, create: &str) {
    let mut first = another_session(db).await;
    sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; {create}")))
        .execute(&mut *first)
        .await
        .unwrap();
    let mut second = another_session(db).await;
    let create = create.to_owned();
    let waiting = tokio::spawn(async move {
        sqlx::raw_sql(AssertSqlSafe(create))
            .execute(&mut *second)
            .await
            .map(drop)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "{}: the second did not wait",
        db.name
    );
    sqlx::raw_sql(AssertSqlSafe("COMMIT"))
        .execute(&mut *first)
        .await
        .unwrap();
    waiting
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}: the second session's create failed: {e}", db.name));
}

/// A schema and a role made as the profile makes them: again over themselves (as a processor
/// that did not see them), and on PostgreSQL by two sessions at once, the second waiting for
/// the first's uncommitted one; and a schema found where the profile looks for it.
#[tokio::test]
async fn schemas_and_roles_are_made_and_found_as_the_profile_says() {
    for db in databases() {
        db.store.ensure_ledger().await.unwrap();
        let profile = profile_of(&db);
        let transactional = profile.ddl_is_transactional();
        let found = |name: String| {
            let pool = db.store.pool().clone();
            async move {
                sqlx::query(AssertSqlSafe(profile.find_schema()))
                    .bind(name)
                    .fetch_optional(&pool)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        assert!(found(db.schema().to_owned()).await, "{}", db.name);
        let schema = unique("ivs_made");
        assert!(!found(schema.clone()).await, "{}", db.name);
        let quoted = profile.quote(&schema).unwrap();
        match profile.create_schema(&quoted) {
            None => assert_eq!(db.store.dialect(), Dialect::Sqlite),
            Some(create) => {
                let create = profile.tolerating_a_concurrent_create(create);
                if transactional {
                    made_by_two_sessions_at_once(&db, &create).await;
                } else {
                    run(&db, &create).await.unwrap();
                }
                run(&db, &create).await.unwrap();
                assert!(found(schema.clone()).await, "{}", db.name);
                let drop = match db.store.dialect() {
                    Dialect::MySql => "DATABASE",
                    Dialect::Postgres | Dialect::Sqlite => "SCHEMA",
                };
                run(&db, &format!("DROP {drop} {quoted}")).await.unwrap();
            }
        }
        if profile.view_grants(Some(db.schema()), None).is_some() {
            let role = profile.quote(&unique("ivs_made_role")).unwrap();
            let create = profile.tolerating_a_concurrent_create(profile.create_role(&role));
            if transactional {
                made_by_two_sessions_at_once(&db, &create).await;
            } else {
                run(&db, &create).await.unwrap();
            }
            run(&db, &create).await.unwrap();
            run(&db, &format!("DROP ROLE {role}")).await.unwrap();
        }
        db.finish().await;
    }
}

/// A session's settings run as the profile writes them; where it reads a setting back, a flag
/// it refuses shows in what it reads (MariaDB: a session whose mode was `ANSI` before the
/// settings ran still quotes with `ANSI_QUOTES` after them).
#[tokio::test]
async fn a_sessions_settings_run_and_what_they_read_back_names_a_refused_flag() {
    for db in databases() {
        let profile = profile_of(&db);
        let Some(settings) = profile.session_settings() else {
            db.finish().await;
            continue;
        };
        db.store.ensure_ledger().await.unwrap();
        let mut session = another_session(&db).await;
        let Some(refused) = settings.refused_flags else {
            sqlx::raw_sql(AssertSqlSafe(settings.statements))
                .execute(&mut *session)
                .await
                .unwrap();
            db.finish().await;
            continue;
        };
        let read_back =
            |rows: Vec<sqlx::any::AnyRow>| -> String { rows.first().unwrap().get(refused.column) };
        let rows = sqlx::raw_sql(AssertSqlSafe(settings.statements))
            .fetch_all(&mut *session)
            .await
            .unwrap();
        assert_eq!(refused.found(&read_back(rows)), None, "{}", db.name);
        sqlx::raw_sql(AssertSqlSafe("SET SESSION sql_mode = 'ANSI'"))
            .execute(&mut *session)
            .await
            .unwrap();
        let rows = sqlx::raw_sql(AssertSqlSafe(settings.statements))
            .fetch_all(&mut *session)
            .await
            .unwrap();
        assert_eq!(
            refused.found(&read_back(rows)),
            Some("ANSI_QUOTES"),
            "{}",
            db.name
        );
        // Not handed back to the pool in that mode.
        session.detach();
        db.finish().await;
    }
}

/// An index of the store's own tables is looked for (where the profile looks first) and not
/// found, made, found, and made again without failing, as the store makes it at each start.
#[tokio::test]
async fn an_index_is_looked_for_made_and_made_again_as_the_profile_says() {
    for db in databases() {
        let profile = profile_of(&db);
        db.store.ensure_ledger().await.unwrap();
        let table = unique("ivs_indexed");
        let qualified = profile.qualified(db.schema(), &table).unwrap();
        run(&db, &format!("CREATE TABLE {qualified} (c VARCHAR(300))"))
            .await
            .unwrap();
        let index = profile
            .add_index(&StoreIndex {
                schema: Some(db.schema()),
                table: &table,
                name: &format!("{table}_c"),
                column: "c",
                prefix: Some(255),
            })
            .unwrap();
        let found = |db: &TestDb| {
            let find = index.find.clone();
            let pool = db.store.pool().clone();
            async move {
                let find = find?;
                let mut query =
                    sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(find.statement));
                for bind in find.binds {
                    query = query.bind(bind);
                }
                Some(
                    query
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                        .flatten()
                        .is_some(),
                )
            }
        };
        assert_ne!(found(&db).await, Some(true), "{}", db.name);
        run(&db, &index.create).await.unwrap();
        assert_ne!(found(&db).await, Some(false), "{}", db.name);
        if let Err(error) = run(&db, &index.create).await {
            assert_eq!(
                error_meaning(&error),
                Some(ErrorMeaning::Exists),
                "{}: {error}",
                db.name
            );
        }
        run(&db, &format!("DROP TABLE {qualified}")).await.unwrap();
        db.finish().await;
    }
}
