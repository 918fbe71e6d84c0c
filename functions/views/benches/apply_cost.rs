//! `make bench`: what applying a view costs in the database, against what the database itself
//! needs to make it. APPLY_VIEWS views (2,000) over one table, each created in a schema (a
//! database; for SQLite a file) of its own per run, one connection, no Immuta:
//!
//! - **the database alone**: the store's own `CREATE VIEW` of each view (the same text, barrier
//!   and all), sent one after another, each its own transaction: the least the database does
//!   for a view, and the floor of the rest;
//! - **the database alone, 16 to a commit** (SQLite, PostgreSQL): the same statements, committed
//!   in transactions of 16 views, as the store shares its commits;
//! - **the store, a commit per view**: `ViewStore::apply_until` per view (its critical section,
//!   ledger row, catalog read-back, audit entry);
//! - **the store, commits shared**: `ViewStore::apply_in_order` over all of them, as a
//!   processor's batch applies a lane.
//!
//! The configurations take turns, APPLY_RUNS times (3); each line is the median of its runs,
//! per view, and its ratio to the database alone. PostgreSQL's catalogs are vacuumed after each
//! run (a server with autovacuum off, as this project's CI runs it, would otherwise slow each
//! run by the dead rows of the ones before). APPLY_DATABASES picks some of `sqlite`,
//! `postgres`, `mariadb` (all three; PostgreSQL and MariaDB at TEST_POSTGRES_URL /
//! TEST_MYSQL_URL, else the local servers).
//!
//! A loopback connection answers in tens of microseconds, where a Lambda and its database in
//! one availability zone are a few hundred apart: APPLY_ROUND_TRIP_US (0) sends PostgreSQL's
//! and MariaDB's traffic through a proxy that holds each chunk half that long each way, so that
//! what a round trip costs shows (the round trip of a `SELECT 1` through it is printed).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe};
use view_sync_core::Id;
use view_sync_core::plan::{DesiredView, Target, ViewKey};
use view_sync_core::view_sql::ViewSql;
use views::{Cause, Dialect, StoreConfig, ViewStore};

/// Where the table the views read is, on PostgreSQL and MariaDB.
const BASE: &str = "ivs_bench_apply_base";
/// Views per transaction in "16 to a commit": the store's own figure.
const VIEWS_PER_COMMIT: usize = 16;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(pool: &AnyPool, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    DatabaseAlone,
    DatabaseSharingCommits,
    StoreCommitPerView,
    StoreSharingCommits,
}

impl Way {
    fn describe(self) -> &'static str {
        match self {
            Self::DatabaseAlone => "the database alone (its CREATE VIEW, a commit each)",
            Self::DatabaseSharingCommits => "the database alone, 16 to a commit",
            Self::StoreCommitPerView => "the store, a commit per view",
            Self::StoreSharingCommits => "the store, commits shared",
        }
    }
}

/// One database: where each run's views go, and how to make and remove that place.
struct Place {
    dialect: Dialect,
    /// The URL of run `n`'s place.
    url: Box<dyn Fn(usize) -> String>,
    /// The schema of run `n`'s views (PostgreSQL, MariaDB).
    schema: Box<dyn Fn(usize) -> Option<String>>,
    /// The table the views read, as they name it.
    table: String,
    admin: Option<AnyPool>,
}

impl Place {
    async fn prepare(&self, n: usize) {
        let table = "(id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, \
                     email VARCHAR(200) NOT NULL, region VARCHAR(10) NOT NULL)";
        match (&self.admin, (self.schema)(n)) {
            (Some(admin), Some(schema)) => {
                let create = match self.dialect {
                    Dialect::MySql => "CREATE DATABASE",
                    _ => "CREATE SCHEMA",
                };
                run(admin, &format!("{create} {schema}")).await;
            }
            _ => {
                // SQLite: the table goes in each run's file.
                let pool = pool(&(self.url)(n)).await;
                run(&pool, &format!("CREATE TABLE people {table}")).await;
                pool.close().await;
            }
        }
    }

    async fn remove(&self, n: usize) {
        match (&self.admin, (self.schema)(n)) {
            (Some(admin), Some(schema)) if self.dialect == Dialect::MySql => {
                run(admin, &format!("DROP DATABASE {schema}")).await;
            }
            (Some(admin), Some(schema)) => {
                // A thousand views a statement: one statement dropping them all would lock
                // every one at once, past the server's lock table.
                loop {
                    let names: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT CAST(quote_ident(viewname) AS TEXT) FROM pg_views \
                         WHERE schemaname = '{schema}' LIMIT 1000"
                    )))
                    .fetch_all(admin)
                    .await
                    .unwrap();
                    if names.is_empty() {
                        break;
                    }
                    let qualified: Vec<String> = names
                        .iter()
                        .map(|name| format!("{schema}.{name}"))
                        .collect();
                    run(admin, &format!("DROP VIEW {}", qualified.join(", "))).await;
                }
                run(admin, &format!("DROP SCHEMA {schema} CASCADE")).await;
                for catalog in [
                    "pg_class",
                    "pg_attribute",
                    "pg_type",
                    "pg_depend",
                    "pg_rewrite",
                    "pg_description",
                    "pg_init_privs",
                ] {
                    // Owner or superuser only; without it, later runs pay for the dead rows.
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!("VACUUM (ANALYZE) {catalog}")))
                        .execute(admin)
                        .await;
                }
            }
            _ => {}
        }
    }
}

async fn pool(url: &str) -> AnyPool {
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn desired_views(store: &ViewStore, table: &str, views: usize) -> Vec<Target> {
    let location = store.location();
    (0..views)
        .map(|n| {
            let sql = format!(
                "SELECT '{n}' AS data_source_id, 'source {n}' AS data_source_name, t.id, t.name, \
                 t.email, t.region FROM {table} AS t WHERE t.region = 'EU'"
            );
            let sql = ViewSql::parse(&sql, location).unwrap();
            let view = ViewKey {
                project_id: Id::new("1").unwrap(),
                data_source_id: Id::new(n.to_string()).unwrap(),
            };
            Target::Present(DesiredView::new(view, &format!("v{n}"), &sql, location))
        })
        .collect()
}

/// Seconds per view for one run of `way` in place `n`.
async fn one_run(db: &Place, way: Way, n: usize, views: usize) -> Duration {
    db.prepare(n).await;
    let store = ViewStore::connect_lazy(&StoreConfig {
        database_url: (db.url)(n),
        schema: (db.schema)(n),
        view_schemas: None,
        ledger_table: "ledger".to_owned(),
        grant_roles: Vec::new(),
        create_roles: false,
        barrier: true,
        apply_concurrency: 1,
    })
    .unwrap();
    store.ensure_ledger().await.unwrap();
    let targets = desired_views(&store, &db.table, views);
    let creates: Vec<&str> = targets
        .iter()
        .map(|target| match target {
            Target::Present(desired) => desired.create.as_str(),
            Target::Absent(_) => unreachable!(),
        })
        .collect();
    let cause = Cause::default();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let conn_pool = pool(&(db.url)(n)).await;
    if db.dialect == Dialect::Sqlite {
        // As the store's connections are (WAL is the file's, set by the store).
        run(&conn_pool, "PRAGMA synchronous = NORMAL").await;
    }
    let started = Instant::now();
    match way {
        Way::DatabaseAlone => {
            // One connection throughout: a pool's check of a connection it hands out would be
            // a round trip the database does not need.
            let mut conn = conn_pool.acquire().await.unwrap();
            for create in &creates {
                sqlx::raw_sql(AssertSqlSafe(create.to_string()))
                    .execute(&mut *conn)
                    .await
                    .unwrap();
            }
        }
        Way::DatabaseSharingCommits => {
            let begin = match db.dialect {
                Dialect::Sqlite => "BEGIN IMMEDIATE",
                _ => "BEGIN",
            };
            for chunk in creates.chunks(VIEWS_PER_COMMIT) {
                let mut conn = conn_pool.acquire().await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(begin))
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                for create in chunk {
                    sqlx::raw_sql(AssertSqlSafe(create.to_string()))
                        .execute(&mut *conn)
                        .await
                        .unwrap();
                }
                sqlx::raw_sql("COMMIT").execute(&mut *conn).await.unwrap();
            }
        }
        Way::StoreCommitPerView => {
            for target in &targets {
                store
                    .apply_until(target, 1, deadline, &cause)
                    .await
                    .unwrap();
            }
        }
        Way::StoreSharingCommits => {
            let views: Vec<_> = targets.iter().map(|target| (target, &cause)).collect();
            for applied in store
                .apply_in_order(&views, 1, Duration::from_secs(30), deadline)
                .await
            {
                applied.unwrap();
            }
        }
    }
    let took = started.elapsed();
    conn_pool.close().await;
    store.pool().close().await;
    db.remove(n).await;
    took / views as u32
}

async fn measure(name: &str, db: Place) {
    let views = setting("APPLY_VIEWS", 2_000);
    let runs = setting("APPLY_RUNS", 3);
    let mut ways = vec![
        Way::DatabaseAlone,
        Way::StoreCommitPerView,
        Way::StoreSharingCommits,
    ];
    if db.dialect != Dialect::MySql {
        ways.insert(1, Way::DatabaseSharingCommits);
    }
    println!("{name}: {views} views, {runs} runs, the configurations taking turns");
    let mut per_view: Vec<Vec<Duration>> = vec![Vec::new(); ways.len()];
    let mut place = 0;
    for _ in 0..runs {
        for (i, way) in ways.iter().enumerate() {
            place += 1;
            per_view[i].push(one_run(&db, *way, place, views).await);
        }
    }
    let median = |runs: &[Duration]| {
        let mut sorted = runs.to_vec();
        sorted.sort();
        sorted[sorted.len() / 2]
    };
    let floor = median(&per_view[0]);
    for (way, runs) in ways.iter().zip(&per_view) {
        let each: Vec<String> = runs
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
            .collect();
        println!(
            "  {:<54} {:>6.2} ms/view  {:>5.2}x  (runs: {})",
            way.describe(),
            median(runs).as_secs_f64() * 1e3,
            median(runs).as_secs_f64() / floor.as_secs_f64(),
            each.join(", ")
        );
    }
}

/// Starts a proxy to the server `url` names that holds every chunk `one_way` before passing it
/// on; returns `url` pointed at the proxy. Threads and blocking sleeps, since an async timer
/// rounds up to a millisecond.
fn delayed(url: &str, one_way: Duration) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (user, server) = match authority.rsplit_once('@') {
        Some((user, server)) => (format!("{user}@"), server),
        None => (String::new(), authority),
    };
    let server = server.to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = TcpStream::connect(&server).unwrap();
            for stream in [&client, &upstream] {
                stream.set_nodelay(true).unwrap();
            }
            relay(
                client.try_clone().unwrap(),
                upstream.try_clone().unwrap(),
                one_way,
            );
            relay(upstream, client, one_way);
        }
    });
    format!("{scheme}://{user}127.0.0.1:{port}{path}")
}

/// Passes what `from` sends on to `to`, each chunk `one_way` after it arrived.
fn relay(mut from: TcpStream, mut to: TcpStream, one_way: Duration) {
    let (chunks, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(read @ 1..) = from.read(&mut buffer) {
            let _ = chunks.send((Instant::now() + one_way, buffer[..read].to_vec()));
        }
    });
    std::thread::spawn(move || {
        for (at, chunk) in due {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The median round trip of a `SELECT 1` on `url`, on one connection.
async fn round_trip(url: &str) -> Duration {
    let pool = pool(url).await;
    let mut conn = pool.acquire().await.unwrap();
    let mut took = Vec::new();
    for _ in 0..101 {
        let started = Instant::now();
        sqlx::raw_sql("SELECT 1").execute(&mut *conn).await.unwrap();
        took.push(started.elapsed());
    }
    drop(conn);
    pool.close().await;
    took.sort();
    took[took.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    views::install_drivers();
    let wanted =
        std::env::var("APPLY_DATABASES").unwrap_or_else(|_| "sqlite,postgres,mariadb".into());
    let tag = std::process::id();
    if wanted.contains("sqlite") {
        let dir = std::env::temp_dir().join(format!("ivs_bench_apply_{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let files = dir.clone();
        measure(
            "SQLite",
            Place {
                dialect: Dialect::Sqlite,
                url: Box::new(move |n| format!("sqlite://{}/run{n}.db?mode=rwc", files.display())),
                schema: Box::new(|_| None),
                table: "people".into(),
                admin: None,
            },
        )
        .await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (key, name, variable, default, dialect) in [
        (
            "postgres",
            "PostgreSQL",
            "TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
            Dialect::Postgres,
        ),
        (
            "mariadb",
            "MariaDB",
            "TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/test",
            Dialect::MySql,
        ),
    ] {
        if !wanted.contains(key) {
            continue;
        }
        let url = std::env::var(variable).unwrap_or_else(|_| default.into());
        let admin = pool(&url).await;
        let url = match setting("APPLY_ROUND_TRIP_US", 0) {
            0 => url,
            us => {
                let url = delayed(&url, Duration::from_micros(us as u64 / 2));
                let took = round_trip(&url).await;
                println!(
                    "{name} through a proxy: a SELECT 1 round trip takes {:.2} ms",
                    took.as_secs_f64() * 1e3
                );
                url
            }
        };
        let (create_base, drop_base) = match dialect {
            Dialect::MySql => ("CREATE DATABASE", "DROP DATABASE IF EXISTS"),
            _ => ("CREATE SCHEMA", "DROP SCHEMA IF EXISTS"),
        };
        let cascade = if dialect == Dialect::Postgres {
            " CASCADE"
        } else {
            ""
        };
        run(&admin, &format!("{drop_base} {BASE}{cascade}")).await;
        run(&admin, &format!("{create_base} {BASE}")).await;
        run(
            &admin,
            &format!(
                "CREATE TABLE {BASE}.people (id INTEGER NOT NULL PRIMARY KEY, \
                 name VARCHAR(100) NOT NULL, email VARCHAR(200) NOT NULL, \
                 region VARCHAR(10) NOT NULL)"
            ),
        )
        .await;
        let schema_of = move |n: usize| format!("ivs_bench_apply_{tag}_{n}");
        let base_url = url.clone();
        measure(
            name,
            Place {
                dialect,
                url: Box::new(move |_| base_url.clone()),
                schema: Box::new(move |n| Some(schema_of(n))),
                table: format!("{BASE}.people"),
                admin: Some(admin.clone()),
            },
        )
        .await;
        run(&admin, &format!("{drop_base} {BASE}{cascade}")).await;
    }
}
