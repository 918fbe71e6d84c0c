//! The views hold against their readers, tried as a reader would: someone who may read a
//! project's view and nothing else, who writes any query over it, creates temporary objects and
//! reads the errors. PostgreSQL and MariaDB, when TEST_POSTGRES_URL / TEST_MYSQL_URL are set
//! (SQLite has no readers of its own).
//!
//! The view shows the EU rows of five people; whatever a reader does, nothing of the US and APAC
//! rows (their emails end in `@us.example` and `@apac.example`) may reach the reader's code.

mod support;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection};
use view_sync_core::naming::ProjectTemplate;
use view_sync_core::plan::{self, Decision, DesiredView, RowState, Scope, Target};
use view_sync_core::view_sql::ViewSql;
use views::{StoreConfig, ViewStore, ViewsError};

use support::{key, unique, url_as};

const PEOPLE: [(i32, &str, &str, &str); 5] = [
    (1, "ann", "ann@eu.example", "EU"),
    (2, "bob", "bob@us.example", "US"),
    (3, "cat", "cat@eu.example", "EU"),
    (4, "dan", "dan@apac.example", "APAC"),
    (5, "eve", "eve@us.example", "US"),
];

/// One database with a warehouse of people, a project's role, and people to play the reader,
/// an analyst and an outsider; named uniquely per run.
struct Fixture {
    admin_url: String,
    admin: AnyPool,
    mariadb: bool,
    views: String,
    warehouse: String,
    /// The project's role (the store creates it: `VIEW_CREATE_ROLES`).
    role: String,
    reader: String,
    analyst: String,
    outsider: String,
    /// MariaDB: a database the reader may create functions and tables in.
    scratch: String,
    store: ViewStore,
}

/// A store of the views in `views` that grants to the roles of `templates`.
fn store_granting(admin_url: &str, views: &str, templates: &str, create_roles: bool) -> ViewStore {
    ViewStore::connect_lazy(&StoreConfig {
        grant_roles: ProjectTemplate::parse_roles(templates).unwrap(),
        create_roles,
        ..support::config(admin_url, Some(views.to_owned()), "ledger")
    })
    .unwrap()
}

/// The fixtures of the configured databases (none without TEST_POSTGRES_URL / TEST_MYSQL_URL).
async fn fixtures() -> Vec<Fixture> {
    fixtures_where(|_| true).await
}

/// The fixtures of the configured databases that `wanted` (told whether it is MariaDB) takes:
/// only those are made, so that each one made is finished (one made and dropped unused left
/// its databases and users behind).
async fn fixtures_where(wanted: impl Fn(bool) -> bool) -> Vec<Fixture> {
    let mut found = Vec::new();
    for (variable, mariadb) in [("TEST_POSTGRES_URL", false), ("TEST_MYSQL_URL", true)] {
        if let (true, Ok(url)) = (wanted(mariadb), std::env::var(variable)) {
            found.push(Fixture::new(url, mariadb).await);
        }
    }
    found
}

impl Fixture {
    async fn new(admin_url: String, mariadb: bool) -> Self {
        views::install_drivers();
        let admin = AnyPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url)
            .await
            .unwrap();
        let suffix = unique("r");
        let role_prefix = format!("ivs_readers_{suffix}");
        let views = format!("ivs_views_{suffix}");
        let store = store_granting(
            &admin_url,
            &views,
            &format!("{role_prefix}_{{project_id}}"),
            true,
        );
        let fixture = Self {
            admin_url,
            admin,
            mariadb,
            warehouse: format!("ivs_wh_{suffix}"),
            role: format!("{role_prefix}_10"),
            reader: format!("ivs_reader_{suffix}"),
            analyst: format!("ivs_analyst_{suffix}"),
            outsider: format!("ivs_outsider_{suffix}"),
            scratch: format!("ivs_scratch_{suffix}"),
            views,
            store,
        };
        fixture.set_up().await;
        fixture
    }

    fn q(&self, name: &str) -> String {
        self.store.dialect().quote(name)
    }

    /// A user (MariaDB: `'name'@'%'`) or role (PostgreSQL) as a GRANT names it.
    fn user(&self, name: &str) -> String {
        if self.mariadb {
            format!("'{name}'@'%'")
        } else {
            self.q(name)
        }
    }

    async fn run(&self, sql: &str) {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&self.admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn set_up(&self) {
        let people = format!("{}.{}", self.q(&self.warehouse), self.q("people"));
        let rows: Vec<String> = PEOPLE
            .iter()
            .map(|(id, name, email, region)| format!("({id}, '{name}', '{email}', '{region}')"))
            .collect();
        let mut statements = if self.mariadb {
            vec![
                format!("CREATE DATABASE {}", self.q(&self.warehouse)),
                format!("CREATE DATABASE {}", self.q(&self.scratch)),
                // An index on email and none on region: the optimiser may then meet a reader's
                // condition on email before the view's on region.
                format!(
                    "CREATE TABLE {people} (id INT PRIMARY KEY, name VARCHAR(50), \
                     email VARCHAR(100), region VARCHAR(10), KEY (email))"
                ),
            ]
        } else {
            vec![
                format!("CREATE SCHEMA {}", self.q(&self.warehouse)),
                format!(
                    "CREATE TABLE {people} (id INT PRIMARY KEY, name TEXT, email TEXT, region TEXT)"
                ),
                format!("CREATE INDEX ON {people} (email)"),
            ]
        };
        statements.push(format!("INSERT INTO {people} VALUES {}", rows.join(", ")));
        for person in [&self.reader, &self.analyst, &self.outsider] {
            statements.push(if self.mariadb {
                format!("CREATE USER '{person}'@'%' IDENTIFIED BY 'change-me'")
            } else {
                format!("CREATE ROLE {} LOGIN", self.q(person))
            });
        }
        if self.mariadb {
            for person in [&self.reader, &self.analyst] {
                statements.push(format!(
                    "GRANT ALL ON {}.* TO {}",
                    self.q(&self.scratch),
                    self.user(person)
                ));
            }
        } else {
            statements.push(format!(
                "CREATE SCHEMA {} AUTHORIZATION {}",
                self.q(&self.analyst),
                self.q(&self.analyst)
            ));
        }
        for statement in statements {
            self.run(&statement).await;
        }
    }

    /// The project's role, which the first apply created, for `person`.
    async fn join_project(&self, person: &str) {
        self.run(&format!(
            "GRANT {} TO {}",
            self.q(&self.role),
            self.user(person)
        ))
        .await;
        if self.mariadb {
            self.run(&format!(
                "SET DEFAULT ROLE {} FOR {}",
                self.q(&self.role),
                self.user(person)
            ))
            .await;
        }
    }

    /// A session of `person`'s own (on MariaDB in the scratch database, for those who may).
    async fn session(&self, person: &str) -> AnyConnection {
        let database = match self.mariadb {
            true if [&self.reader, &self.analyst].contains(&&person.to_owned()) => {
                Some(self.scratch.as_str())
            }
            true => Some(""),
            false => None,
        };
        AnyConnection::connect(&url_as(&self.admin_url, person, database))
            .await
            .unwrap_or_else(|e| panic!("{person} connects: {e}"))
    }

    /// The project's view with `select` (its columns, over the warehouse's people) and `filter`,
    /// readable by the project's role.
    fn target(&self, select: &str, filter: &str) -> Target {
        self.target_for(select, filter, &self.role)
    }

    /// [`Fixture::target`], readable by `role`.
    fn target_for(&self, select: &str, filter: &str, role: &str) -> Target {
        let location = self.store.location();
        let people = format!("{}.{}", self.q(&self.warehouse), self.q("people"));
        let sql = ViewSql::parse(&format!("SELECT {select} FROM {people}{filter}"), location)
            .unwrap_or_else(|e| panic!("{select}: {e}"));
        Target::Present(
            DesiredView::new(key("10", "20"), "people_eu", &sql, location)
                .with_grants(vec![role.to_owned()]),
        )
    }

    fn eu_only(&self) -> Target {
        self.target("id, name, email, region", " WHERE region = 'EU'")
    }

    fn reference(&self) -> String {
        self.store.reference("people_eu")
    }

    async fn finish(self) {
        let q = |name: &str| self.q(name);
        let cleanup = if self.mariadb {
            vec![
                format!("DROP DATABASE IF EXISTS {}", q(&self.views)),
                format!("DROP DATABASE IF EXISTS {}", q(&self.warehouse)),
                format!("DROP DATABASE IF EXISTS {}", q(&self.scratch)),
                format!("DROP USER IF EXISTS {}", self.user(&self.reader)),
                format!("DROP USER IF EXISTS {}", self.user(&self.analyst)),
                format!("DROP USER IF EXISTS {}", self.user(&self.outsider)),
                format!("DROP ROLE IF EXISTS {}", q(&self.role)),
            ]
        } else {
            let mut statements = vec![
                format!("DROP SCHEMA IF EXISTS {} CASCADE", q(&self.views)),
                format!("DROP SCHEMA IF EXISTS {} CASCADE", q(&self.warehouse)),
                format!("DROP SCHEMA IF EXISTS {} CASCADE", q(&self.analyst)),
            ];
            for role in [&self.reader, &self.analyst, &self.outsider, &self.role] {
                statements.push(format!(
                    "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN \
                     EXECUTE 'DROP OWNED BY {0}'; EXECUTE 'DROP ROLE {0}'; END IF; END $$",
                    q(role)
                ));
            }
            statements
        };
        for statement in cleanup {
            self.run(&statement).await;
        }
    }
}

async fn exec(session: &mut AnyConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *session)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The ids `sql` answers, sorted; its error as text.
async fn ids(session: &mut AnyConnection, sql: &str) -> Result<Vec<i32>, String> {
    let mut ids: Vec<i32> = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *session)
        .await
        .map_err(|e| e.to_string())?;
    ids.sort_unstable();
    Ok(ids)
}

async fn texts(session: &mut AnyConnection, sql: &str) -> Vec<String> {
    sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *session)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .flatten()
        .collect()
}

const EU: [i32; 2] = [1, 3];

/// One thing a reader tries: `query`, which must answer `answers`; with `peeks`, the reader's
/// own code records what it is handed, which must be EU rows only.
struct Attack {
    name: &'static str,
    query: String,
    answers: Vec<i32>,
    peeks: bool,
}

impl Attack {
    fn new(name: &'static str, query: String, answers: &[i32], peeks: bool) -> Self {
        Self {
            name,
            query,
            answers: answers.to_vec(),
            peeks,
        }
    }
}

/// Runs each attack in the reader's session; returns what each one learned that it should not.
async fn leaks(fx: &Fixture, reader: &mut AnyConnection, attacks: &[Attack]) -> Vec<String> {
    let (forget, recall) = if fx.mariadb {
        ("SET @seen = NULL", "SELECT CAST(@seen AS CHAR)")
    } else {
        ("DELETE FROM pg_temp.seen", "SELECT value FROM pg_temp.seen")
    };
    let mut leaks = Vec::new();
    for attack in attacks {
        exec(reader, forget).await;
        let answered = ids(reader, &attack.query).await;
        if answered.as_deref() != Ok(attack.answers.as_slice()) {
            leaks.push(format!("{}: answered {answered:?}", attack.name));
        }
        if attack.peeks {
            let seen: Vec<String> = texts(reader, recall)
                .await
                .iter()
                .flat_map(|s| s.split(','))
                .map(str::to_owned)
                .collect();
            if seen.is_empty() {
                leaks.push(format!("{}: the reader's code never ran", attack.name));
            }
            if let Some(hidden) = seen.iter().find(|v| !v.ends_with("@eu.example")) {
                leaks.push(format!("{}: the reader's code saw {hidden}", attack.name));
            }
        }
    }
    leaks
}

/// A hidden row's email, and one nobody has.
const HIDDEN: &str = "bob@us.example";
const NOBODYS: &str = "nobody@us.example";

/// What a reader can watch of the server's work on a query by one guessed email, with the
/// guess taken out: the plan, its row counts and estimates (PostgreSQL's `EXPLAIN`; MariaDB
/// refuses a reader `EXPLAIN` on a view they cannot `SHOW VIEW`), and the counters of what was
/// read (PostgreSQL's `pg_stat_xact_user_tables`, MariaDB's handler statistics).
async fn watched(fx: &Fixture, reader: &mut AnyConnection, view: &str, guess: &str) -> Vec<String> {
    let query = format!("SELECT * FROM {view} WHERE email = '{guess}'");
    let mut seen = Vec::new();
    if fx.mariadb {
        let counters = "SELECT CONCAT(VARIABLE_NAME, '=', VARIABLE_VALUE) FROM information_schema.SESSION_STATUS \
             WHERE VARIABLE_NAME LIKE 'HANDLER_READ%' OR VARIABLE_NAME = 'ROWS_READ' ORDER BY VARIABLE_NAME";
        let before = texts(reader, counters).await;
        ids(reader, &query.replace('*', "id")).await.unwrap();
        let after = texts(reader, counters).await;
        seen.extend(growth(&before, &after));
    } else {
        // The reader steers the planner to the base table's index on email if it can.
        exec(reader, "SET enable_seqscan = off").await;
        exec(reader, "SET enable_bitmapscan = off").await;
        for explain in [
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)",
            "EXPLAIN",
        ] {
            seen.extend(texts(reader, &format!("{explain} {query}")).await);
        }
        // What this query read, as the counters of the transaction show it.
        let counters = format!(
            "SELECT CONCAT_WS(',', seq_scan, seq_tup_read, idx_scan, idx_tup_fetch) \
             FROM pg_stat_xact_user_tables WHERE schemaname = '{}' AND relname = 'people'",
            fx.warehouse
        );
        exec(reader, "BEGIN").await;
        let before = texts(reader, &counters).await;
        ids(reader, &query.replace('*', "id")).await.unwrap();
        let after = texts(reader, &counters).await;
        seen.extend(growth(&before, &after));
        exec(reader, "ROLLBACK").await;
        exec(reader, "RESET enable_seqscan").await;
        exec(reader, "RESET enable_bitmapscan").await;
    }
    seen.iter().map(|line| line.replace(guess, "?")).collect()
}

/// How much each counter of `after` grew since `before` (lines of `name=value` or `a,b,c`).
fn growth(before: &[String], after: &[String]) -> Vec<String> {
    before
        .iter()
        .zip(after)
        .map(|(before, after)| {
            let numbers =
                |line: &str| -> Vec<String> { line.split([',', '=']).map(str::to_owned).collect() };
            numbers(before)
                .iter()
                .zip(numbers(after))
                .map(|(b, a)| match (b.parse::<i64>(), a.parse::<i64>()) {
                    (Ok(b), Ok(a)) => (a - b).to_string(),
                    _ => a,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Whether a guessed email of a hidden row shows differently from one nobody has.
async fn oracle_leaks(fx: &Fixture, reader: &mut AnyConnection, view: &str) -> Vec<String> {
    let hidden = watched(fx, reader, view, HIDDEN).await;
    let nobodys = watched(fx, reader, view, NOBODYS).await;
    match hidden == nobodys {
        true => Vec::new(),
        false => vec![format!(
            "what the server shows of a query by a guessed hidden email:\n  {}\n  against one nobody has:\n  {}",
            hidden.join("\n  "),
            nobodys.join("\n  ")
        )],
    }
}

#[tokio::test]
async fn a_readers_functions_joins_and_errors_learn_nothing_of_the_hidden_rows() {
    for fx in fixtures().await {
        fx.store.apply(&fx.eu_only(), 1).await.unwrap();
        fx.join_project(&fx.reader).await;
        let mut reader = fx.session(&fx.reader).await;
        let view = fx.reference();
        let attacks = if fx.mariadb {
            // A stored function with a side effect (the reader may create routines in a
            // database of their own), and a table to join with.
            exec(
                &mut reader,
                "CREATE FUNCTION peek(value VARCHAR(100)) RETURNS INT DETERMINISTIC \
                 BEGIN SET @seen = CONCAT_WS(',', @seen, value); RETURN 1; END",
            )
            .await;
            exec(&mut reader, "CREATE TABLE nums (i INT PRIMARY KEY)").await;
            exec(
                &mut reader,
                "INSERT INTO nums VALUES (1), (2), (3), (4), (5)",
            )
            .await;
            vec![
                // No privilege needed: a session variable assigned in the reader's WHERE.
                Attack::new(
                    "a variable assigned in WHERE",
                    format!(
                        "SELECT id FROM {view} WHERE (@seen := CONCAT_WS(',', @seen, email)) IS NOT NULL"
                    ),
                    &EU,
                    true,
                ),
                Attack::new(
                    "a function in WHERE",
                    format!("SELECT id FROM {view} WHERE peek(email) = 1"),
                    &EU,
                    true,
                ),
                Attack::new(
                    "a function in JOIN … ON",
                    format!(
                        "SELECT v.id FROM nums n JOIN {view} v ON peek(v.email) = 1 AND v.id = n.i"
                    ),
                    &EU,
                    true,
                ),
                // Errors raised only on a hidden row: on a guessed email (which MariaDB would
                // push into the view to use its index), and from a subquery.
                Attack::new(
                    "an overflow on a guessed hidden row",
                    format!(
                        "SELECT id FROM {view} WHERE email = '{HIDDEN}' \
                         AND EXP(IF(email LIKE '%@us.%', 1000, 1)) > 0"
                    ),
                    &[],
                    false,
                ),
                Attack::new(
                    "a subquery that fails on a hidden row",
                    format!(
                        "SELECT id FROM {view} WHERE IF(email LIKE '%@us.%', (SELECT 1 UNION SELECT 2), 1) = 1"
                    ),
                    &EU,
                    false,
                ),
            ]
        } else {
            // Any role may create temporary objects: PUBLIC has TEMP on a database by default.
            exec(&mut reader, "CREATE TEMP TABLE seen (value TEXT)").await;
            exec(
                &mut reader,
                "CREATE FUNCTION pg_temp.peek(value TEXT) RETURNS BOOLEAN LANGUAGE plpgsql \
                 COST 0.0000001 AS $$ BEGIN INSERT INTO pg_temp.seen VALUES (value); RETURN true; END $$",
            )
            .await;
            exec(
                &mut reader,
                "CREATE FUNCTION pg_temp.boom(value TEXT) RETURNS BOOLEAN LANGUAGE plpgsql \
                 COST 0.0000001 AS $$ BEGIN IF value NOT LIKE '%@eu.example' THEN \
                 RAISE EXCEPTION 'a hidden row: %', value; END IF; RETURN true; END $$",
            )
            .await;
            vec![
                Attack::new(
                    "a function in WHERE",
                    format!("SELECT id FROM {view} WHERE pg_temp.peek(email)"),
                    &EU,
                    true,
                ),
                Attack::new(
                    "a function in JOIN … ON",
                    format!(
                        "SELECT v.id FROM (VALUES (1), (2), (3), (4), (5)) AS x (i) \
                         JOIN {view} v ON pg_temp.peek(v.email) AND v.id = x.i"
                    ),
                    &EU,
                    true,
                ),
                Attack::new(
                    "an error raised on a hidden row",
                    format!("SELECT id FROM {view} WHERE pg_temp.boom(email)"),
                    &EU,
                    false,
                ),
            ]
        };
        let mut leaks = leaks(&fx, &mut reader, &attacks).await;
        leaks.extend(oracle_leaks(&fx, &mut reader, &view).await);
        assert!(
            leaks.is_empty(),
            "{}: a reader learned of hidden rows through\n{}",
            fx.store.dialect().name(),
            leaks.join("\n")
        );
        reader.close().await.unwrap();
        fx.finish().await;
    }
}

fn md5_hex(values: &[String]) -> bool {
    !values.is_empty()
        && values
            .iter()
            .all(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn a_masking_change_reaches_readers_through_what_they_built_on_the_view() {
    for fx in fixtures().await {
        fx.store.apply(&fx.eu_only(), 1).await.unwrap();
        fx.join_project(&fx.reader).await;
        fx.join_project(&fx.analyst).await;
        let view = fx.reference();
        let mut reader = fx.session(&fx.reader).await;
        let mut analyst = fx.session(&fx.analyst).await;
        // The analyst's own view over ours; on PostgreSQL also a reader's temporary one, held
        // open in their session.
        // (MariaDB checks a definer's rights without its roles: the analyst's view runs with
        // the invoker's.)
        let (theirs, create) = if fx.mariadb {
            (
                format!("{}.{}", fx.q(&fx.scratch), fx.q("mine")),
                "CREATE SQL SECURITY INVOKER VIEW",
            )
        } else {
            exec(
                &mut reader,
                &format!("CREATE TEMP VIEW pin AS SELECT id, email FROM {view}"),
            )
            .await;
            (
                format!("{}.{}", fx.q(&fx.analyst), fx.q("mine")),
                "CREATE VIEW",
            )
        };
        exec(
            &mut analyst,
            &format!("{create} {theirs} AS SELECT id, email FROM {view}"),
        )
        .await;

        let masked = fx.target(
            "id, name, MD5(email) AS email, region",
            " WHERE region = 'EU'",
        );
        let applied = fx.store.apply(&masked, 2).await.unwrap();
        assert_eq!(
            applied.decision,
            Decision::Replace {
                previous_name: None
            }
        );
        let through_theirs = texts(&mut analyst, &format!("SELECT email FROM {theirs}")).await;
        assert!(
            md5_hex(&through_theirs),
            "{}: {through_theirs:?}",
            fx.store.dialect().name()
        );
        if !fx.mariadb {
            let pinned = texts(&mut reader, "SELECT email FROM pin").await;
            assert!(md5_hex(&pinned), "the reader's temporary view: {pinned:?}");
            // Who may read it is as wanted after the replace in place too.
            assert_eq!(drift(&fx.store, &view).await, None);
        }
        reader.close().await.unwrap();
        analyst.close().await.unwrap();
        fx.finish().await;
    }
}

#[tokio::test]
async fn postgresql_fails_closed_where_a_view_cannot_change_in_place_and_names_the_blockers() {
    for fx in fixtures_where(|mariadb| !mariadb).await {
        fx.store.apply(&fx.eu_only(), 1).await.unwrap();
        fx.join_project(&fx.reader).await;
        fx.join_project(&fx.analyst).await;
        let view = fx.reference();
        let mine = format!("{}.{}", fx.q(&fx.analyst), fx.q("mine"));
        let mut reader = fx.session(&fx.reader).await;
        let mut analyst = fx.session(&fx.analyst).await;
        exec(
            &mut reader,
            &format!("CREATE TEMP VIEW pin AS SELECT id, email FROM {view}"),
        )
        .await;
        exec(
            &mut analyst,
            &format!("CREATE VIEW {mine} AS SELECT id, email FROM {view}"),
        )
        .await;

        // email becomes a number: no replace in place, and the drop is refused.
        let retyped = fx.target(
            "id, name, LENGTH(email) AS email, region",
            " WHERE region = 'EU'",
        );
        let error = fx.store.apply(&retyped, 2).await.unwrap_err();
        let ViewsError::Blocked { blockers, .. } = &error else {
            panic!("{error}");
        };
        // Exactly the two, each with its kind, schema and owner (the view's own rule is none).
        let pin = format!(".pin (owner {})", fx.reader);
        let mine_named = format!("view {0}.mine (owner {0})", fx.analyst);
        let named: Vec<&str> = blockers.split(", ").collect();
        assert!(
            named.len() == 2
                && named[0].starts_with("temporary view pg_temp_")
                && named[0].ends_with(&pin)
                && named[1] == mine_named,
            "{blockers}"
        );
        assert!(error.to_string().contains("closed"), "{error}");
        // Closed: nobody reads the older definition, through ours or through theirs.
        assert_eq!(
            ids(&mut reader, &format!("SELECT id FROM {view}")).await,
            Ok(Vec::new())
        );
        assert_eq!(ids(&mut reader, "SELECT id FROM pin").await, Ok(Vec::new()));
        assert_eq!(
            ids(&mut analyst, &format!("SELECT id FROM {mine}")).await,
            Ok(Vec::new())
        );
        let row = &fx.store.rows(&Scope::Everything).await.unwrap()[0];
        assert_eq!(row.state, RowState::Closed);
        assert_eq!(&row.blocked_by, blockers);
        let audit = fx.store.audit(&Default::default()).await.unwrap();
        let last = audit.last().unwrap();
        assert_eq!(last.action, "closed");
        assert!(last.detail.contains(".mine"), "{}", last.detail);

        // Still blocked: still closed, tried again (and audited once); once the blockers are
        // gone, it goes through.
        assert!(matches!(
            fx.store.apply(&retyped, 3).await,
            Err(ViewsError::Blocked { .. })
        ));
        let audit = fx.store.audit(&Default::default()).await.unwrap();
        assert_eq!(audit.iter().filter(|e| e.action == "closed").count(), 1);
        reader.close().await.unwrap();
        exec(&mut analyst, &format!("DROP VIEW {mine}")).await;
        let applied = fx.store.apply(&retyped, 4).await.unwrap();
        assert_eq!(
            applied.decision,
            Decision::Replace {
                previous_name: None
            }
        );
        let lengths: Vec<i32> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT email FROM {view} ORDER BY id"
        )))
        .fetch_all(&mut analyst)
        .await
        .unwrap();
        assert_eq!(lengths, [14, 14]);
        let row = &fx.store.rows(&Scope::Everything).await.unwrap()[0];
        assert_eq!(
            (row.state, row.blocked_by.as_str()),
            (RowState::Present, "")
        );

        // A view that must go, with the analyst's view on it: closed, theirs kept.
        exec(
            &mut analyst,
            &format!("CREATE VIEW {mine} AS SELECT id, email FROM {view}"),
        )
        .await;
        let gone = Target::Absent(key("10", "20"));
        let error = fx.store.apply(&gone, 5).await.unwrap_err();
        assert!(
            matches!(&error, ViewsError::Blocked { blockers, .. } if blockers.contains(".mine")),
            "{error}"
        );
        assert_eq!(
            ids(&mut analyst, &format!("SELECT id FROM {mine}")).await,
            Ok(Vec::new())
        );
        exec(&mut analyst, &format!("DROP VIEW {mine}")).await;
        let applied = fx.store.apply(&gone, 6).await.unwrap();
        assert_eq!(applied.decision, Decision::Drop { name: view.clone() });
        assert!(fx.store.views_in_catalog().await.unwrap().is_empty());
        analyst.close().await.unwrap();
        fx.finish().await;
    }
}

/// How the one view's catalog differs from its ledger row.
async fn drift(store: &ViewStore, view: &str) -> Option<plan::Drift> {
    let rows = store.rows(&Scope::Everything).await.unwrap();
    let catalog = store.catalog_state().await.unwrap();
    plan::drift(&rows[0], catalog.get(view))
}

/// Whether `person` may read the view, in a session of their own.
async fn reads(fx: &Fixture, person: &str, view: &str) -> bool {
    let mut session = fx.session(person).await;
    let read = ids(&mut session, &format!("SELECT id FROM {view}")).await;
    session.close().await.unwrap();
    read.is_ok()
}

#[tokio::test]
async fn a_grant_option_made_by_hand_is_drift_and_goes_with_the_grants_it_allowed() {
    for fx in fixtures().await {
        fx.store.apply(&fx.eu_only(), 1).await.unwrap();
        fx.join_project(&fx.reader).await;
        let view = fx.reference();
        fx.run(&format!(
            "GRANT SELECT ON {view} TO {} WITH GRANT OPTION",
            fx.q(&fx.role)
        ))
        .await;
        if !fx.mariadb {
            // Only for the outsider's read to hinge on the grant alone.
            fx.run(&format!(
                "GRANT USAGE ON SCHEMA {} TO {}",
                fx.q(&fx.views),
                fx.q(&fx.outsider)
            ))
            .await;
        }
        // A member of the project passes the view on.
        let mut member = fx.session(&fx.reader).await;
        exec(
            &mut member,
            &format!("GRANT SELECT ON {view} TO {}", fx.user(&fx.outsider)),
        )
        .await;
        member.close().await.unwrap();
        assert!(
            reads(&fx, &fx.outsider, &view).await,
            "the outsider reads before the re-sync"
        );

        assert_eq!(drift(&fx.store, &view).await, Some(plan::Drift::Grants));
        let applied = fx.store.apply(&fx.eu_only(), 2).await.unwrap();
        assert_eq!(
            applied.decision,
            Decision::Restore {
                drift: plan::Drift::Grants
            }
        );
        assert!(
            !reads(&fx, &fx.outsider, &view).await,
            "the outsider still reads"
        );
        assert!(
            reads(&fx, &fx.reader, &view).await,
            "the project's reader no longer reads"
        );
        let grant_option = if fx.mariadb {
            format!(
                "SELECT CAST(Table_priv AS CHAR) FROM mysql.tables_priv WHERE Db = '{}' AND User = '{}'",
                fx.views, fx.role
            )
        } else {
            format!(
                "SELECT CASE WHEN has_table_privilege('{}', '{}', 'SELECT WITH GRANT OPTION') \
                 THEN 'with grant option' ELSE 'Select' END",
                fx.role,
                view.replace('\'', "''")
            )
        };
        let held: Vec<String> = sqlx::query_scalar(AssertSqlSafe(grant_option))
            .fetch_all(&fx.admin)
            .await
            .unwrap();
        assert_eq!(held, ["Select"]);
        assert_eq!(drift(&fx.store, &view).await, None);
        if fx.mariadb {
            // A grant option alone, to someone without SELECT, is drift too, and goes.
            fx.run(&format!(
                "GRANT GRANT OPTION ON {view} TO {}",
                fx.user(&fx.outsider)
            ))
            .await;
            assert_eq!(drift(&fx.store, &view).await, Some(plan::Drift::Grants));
            fx.store.apply(&fx.eu_only(), 3).await.unwrap();
            let outsiders: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM mysql.tables_priv WHERE Db = '{}' AND User = '{}'",
                fx.views, fx.outsider
            )))
            .fetch_one(&fx.admin)
            .await
            .unwrap();
            assert_eq!(outsiders, 0);
        }
        fx.finish().await;
    }
}

#[tokio::test]
async fn mariadb_grants_go_to_roles_never_to_a_user_account_of_that_name() {
    for fx in fixtures_where(|mariadb| mariadb).await {
        // A user account named as the role would be; no role of that name.
        let account = format!("{}_account", fx.outsider);
        fx.run(&format!(
            "CREATE USER '{account}'@'%' IDENTIFIED BY 'change-me'"
        ))
        .await;
        let target = fx.target_for("id, email", " WHERE region = 'EU'", &account);
        let view = fx.reference();
        let granted = format!(
            "SELECT CAST(Host AS CHAR) FROM mysql.tables_priv WHERE Db = '{}' AND User = '{account}'",
            fx.views
        );
        let hosts = || async {
            sqlx::query_scalar::<_, String>(AssertSqlSafe(granted.clone()))
                .fetch_all(&fx.admin)
                .await
                .unwrap()
        };

        let strict = store_granting(&fx.admin_url, &fx.views, &account, false);
        let error = strict.apply(&target, 1).await.unwrap_err().to_string();
        assert!(
            error.contains("a user account named") && error.contains("never granted"),
            "{error}"
        );
        assert!(hosts().await.is_empty(), "the account was granted");
        assert!(!reads(&fx, &account, &view).await);

        // With VIEW_CREATE_ROLES the role is made beside the account, and only it is granted.
        let creating = store_granting(&fx.admin_url, &fx.views, &account, true);
        creating.apply(&target, 2).await.unwrap();
        assert_eq!(hosts().await, [""]);
        assert!(
            !reads(&fx, &account, &view).await,
            "the account reads the view"
        );
        fx.run(&format!("DROP ROLE {}", fx.q(&account))).await;
        fx.run(&format!("DROP USER '{account}'@'%'")).await;
        fx.finish().await;
    }
}

#[tokio::test]
async fn a_role_that_names_the_views_owner_is_refused_as_such() {
    for fx in fixtures().await {
        let current_user = if fx.mariadb {
            "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"
        } else {
            "SELECT CAST(current_user AS TEXT)"
        };
        let owner: String = sqlx::query_scalar(AssertSqlSafe(current_user))
            .fetch_one(&fx.admin)
            .await
            .unwrap();
        let store = store_granting(&fx.admin_url, &fx.views, &owner, false);
        let target = fx.target_for("id, email", " WHERE region = 'EU'", &owner);
        let error = store.apply(&target, 1).await.unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "role {owner} of VIEW_GRANT_ROLES is the views' owner"
            )),
            "{error}"
        );
        fx.finish().await;
    }
}

#[tokio::test]
async fn a_reader_holding_a_view_open_delays_a_change_and_is_named() {
    for fx in fixtures_where(|mariadb| !mariadb).await {
        fx.store.apply(&fx.eu_only(), 1).await.unwrap();
        fx.join_project(&fx.reader).await;
        let view = fx.reference();
        let mut reader = fx.session(&fx.reader).await;
        exec(&mut reader, "BEGIN").await;
        assert_eq!(
            ids(&mut reader, &format!("SELECT id FROM {view}")).await,
            Ok(EU.to_vec())
        );
        let masked = fx.target(
            "id, name, MD5(email) AS email, region",
            " WHERE region = 'EU'",
        );
        let soon = std::time::Instant::now() + std::time::Duration::from_millis(500);
        let error = fx
            .store
            .apply_until(&masked, 2, soon, &Default::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ViewsError::LockTimeout { held_by, .. }
                if held_by.contains(&format!(" of {} (idle in transaction, in a transaction since ", fx.reader))),
            "{error}"
        );
        assert!(error.is_retryable());
        exec(&mut reader, "COMMIT").await;
        let applied = fx.store.apply(&masked, 3).await.unwrap();
        assert_eq!(
            applied.decision,
            Decision::Replace {
                previous_name: None
            }
        );
        reader.close().await.unwrap();
        fx.finish().await;
    }
}
