//! `make bench`: what a reader's query pays for the protection the views give it (see
//! `view_sync_core::view_sql`'s barrier). A table of 1,000,000 people (a third of them in the EU,
//! an index on `id` and one on `email`), and a view of the EU rows made by the store as it makes
//! every view, beside the same view without protection, in one run. A reader's indexed queries
//! (one row by `id`, one by `email`; on PostgreSQL also one by `lower(email)`, which the barrier
//! cannot use an index for) and a count of the whole view, taking turns, READER_RUNS times each
//! (50); the median and the 90th percentile of each, and the ratio of medians
//! against the unprotected view.
//!
//! PostgreSQL (TEST_POSTGRES_URL, else the local server): a plain view, the store's view with
//! `VIEW_BARRIER=false` (`security_barrier` alone, which lets the planner search the hidden rows
//! by a reader's leakproof condition: see the README), and the store's view (the barrier and
//! `OFFSET 0`). MariaDB (TEST_MYSQL_URL, else the local server): a merged view (the store's with
//! `VIEW_BARRIER=false`), the same as `ALGORITHM = TEMPTABLE` alone (which leaks through
//! condition pushdown), and the store's view (`TEMPTABLE` with a `LIMIT`). On both, a
//! masking-only projection, which the store leaves to the server's optimisations, against the
//! table itself. READER_DATABASES picks some (`postgres`, `mariadb`).

use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe};
use view_sync_core::Id;
use view_sync_core::plan::{DesiredView, Target, ViewKey};
use view_sync_core::view_sql::ViewSql;
use views::{StoreConfig, ViewStore};

const PEOPLE: u64 = 1_000_000;
const SCHEMA: &str = "ivs_bench_readers";

fn runs() -> usize {
    std::env::var("READER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

async fn run(pool: &AnyPool, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A view made by a store in `SCHEMA`, as the processor makes it.
async fn store_view(url: &str, name: &str, query: &str, barrier: bool) -> String {
    let store = ViewStore::connect_lazy(&StoreConfig {
        database_url: url.to_owned(),
        schema: Some(SCHEMA.to_owned()),
        view_schemas: None,
        ledger_table: format!("ledger_{name}"),
        grant_roles: Vec::new(),
        create_roles: false,
        barrier,
        apply_concurrency: 4,
    })
    .unwrap();
    let location = store.location();
    let sql = ViewSql::parse(query, location).unwrap();
    let view = ViewKey {
        project_id: Id::new("1").unwrap(),
        data_source_id: Id::new(name).unwrap(),
    };
    let desired = DesiredView::new(view, name, &sql, location);
    println!("    {name}: {}", desired.create);
    store.apply(&Target::Present(desired), 1).await.unwrap();
    store.reference(name)
}

struct Timings(Vec<Duration>);

impl Timings {
    fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1_000.0)
}

/// What a reader's query asks for: a row by id, a row by email, or everything.
#[derive(Clone, Copy)]
enum Asks {
    Id,
    Email,
    Nothing,
}

/// Runs each of `queries` against each view in turn, `runs` times, and prints the figures: the
/// ratio is to the first view's median.
async fn measure(pool: &AnyPool, views: &[(&str, String)], queries: &[(&str, String, Asks)]) {
    let runs = runs();
    for (label, query, asks) in queries {
        let mut timings: Vec<Timings> = views.iter().map(|_| Timings(Vec::new())).collect();
        for round in 0..runs {
            // EU ids are multiples of 3; a different row each round.
            let id = 3 * (1 + (round as u64 * 7_919) % (PEOPLE / 3 - 1));
            // Each round starts at another view, so that none always follows the slowest.
            let count = views.len();
            for turn in 0..count {
                let index = (round + turn) % count;
                let (view, timing) = (&views[index].1, &mut timings[index]);
                let sql = query.replace("{view}", view);
                let started = Instant::now();
                let query = sqlx::query(AssertSqlSafe(sql));
                let query = match asks {
                    Asks::Id => query.bind(id as i64),
                    Asks::Email => query.bind(format!("p{id}@eu.example")),
                    Asks::Nothing => query,
                };
                let rows = query.fetch_all(pool).await.unwrap();
                timing.0.push(started.elapsed());
                assert!(!rows.is_empty(), "{label}: no row");
            }
        }
        println!("  {label} ({runs} runs each)");
        let baseline = timings[0].percentile(50);
        for ((name, _), timing) in views.iter().zip(&timings) {
            let median = timing.percentile(50);
            println!(
                "    {name:<28} median {:>11}  p90 {:>11}  {:>8.2}x",
                ms(median),
                ms(timing.percentile(90)),
                median.as_secs_f64() / baseline.as_secs_f64()
            );
        }
    }
}

async fn postgres(url: &str) {
    println!("PostgreSQL, {PEOPLE} people");
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    run(&pool, &format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).await;
    run(&pool, &format!("CREATE SCHEMA {SCHEMA}")).await;
    run(
        &pool,
        &format!(
            "CREATE TABLE {SCHEMA}.people AS SELECT CAST(n AS BIGINT) AS id, 'person ' || n AS name, \
             'p' || n || CASE n % 3 WHEN 0 THEN '@eu.example' WHEN 1 THEN '@us.example' ELSE '@apac.example' END AS email, \
             CASE n % 3 WHEN 0 THEN 'EU' WHEN 1 THEN 'US' ELSE 'APAC' END AS region \
             FROM generate_series(1, {PEOPLE}) AS n"
        ),
    )
    .await;
    run(
        &pool,
        &format!("ALTER TABLE {SCHEMA}.people ADD PRIMARY KEY (id)"),
    )
    .await;
    run(&pool, &format!("CREATE INDEX ON {SCHEMA}.people (email)")).await;
    run(
        &pool,
        &format!("CREATE INDEX ON {SCHEMA}.people (lower(email))"),
    )
    .await;
    run(&pool, &format!("ANALYZE {SCHEMA}.people")).await;
    let query = format!("SELECT id, name, email, region FROM {SCHEMA}.people WHERE region = 'EU'");
    run(&pool, &format!("CREATE VIEW {SCHEMA}.plain AS {query}")).await;
    println!("    plain: CREATE VIEW {SCHEMA}.plain AS {query}");
    let barrier = store_view(url, "barrier", &query, false).await;
    let ours = store_view(url, "ours", &query, true).await;
    let projection = format!("SELECT id, name, md5(email) AS email, region FROM {SCHEMA}.people");
    let masked = store_view(url, "masked", &projection, true).await;
    let views = [
        ("plain view", format!("{SCHEMA}.plain")),
        ("barrier alone (leaky)", barrier),
        ("barrier + OFFSET 0 (ours)", ours),
    ];
    measure(
        &pool,
        &views,
        &[
            (
                "one row by id",
                "SELECT * FROM {view} WHERE id = $1".to_owned(),
                Asks::Id,
            ),
            (
                "one row by email",
                "SELECT * FROM {view} WHERE email = $1".to_owned(),
                Asks::Email,
            ),
            // The barrier's price: lower() is not LEAKPROOF, so the condition is not taken
            // inside the view, and the index on lower(email) is not used.
            (
                "one row by lower(email), indexed",
                "SELECT * FROM {view} WHERE lower(email) = $1".to_owned(),
                Asks::Email,
            ),
            (
                "count of the view",
                "SELECT COUNT(*) FROM {view}".to_owned(),
                Asks::Nothing,
            ),
        ],
    )
    .await;
    measure(
        &pool,
        &[
            ("the table itself", format!("{SCHEMA}.people")),
            ("masking projection (ours)", masked),
        ],
        &[(
            "one row by id",
            "SELECT * FROM {view} WHERE id = $1".to_owned(),
            Asks::Id,
        )],
    )
    .await;
    run(&pool, &format!("DROP SCHEMA {SCHEMA} CASCADE")).await;
}

async fn mariadb(url: &str) {
    println!("MariaDB, {PEOPLE} people");
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    run(&pool, &format!("DROP DATABASE IF EXISTS {SCHEMA}")).await;
    run(&pool, &format!("CREATE DATABASE {SCHEMA}")).await;
    run(
        &pool,
        &format!(
            "CREATE TABLE {SCHEMA}.people (id BIGINT PRIMARY KEY, name VARCHAR(40), \
             email VARCHAR(60), region VARCHAR(8), KEY (email))"
        ),
    )
    .await;
    run(
        &pool,
        &format!(
            "INSERT INTO {SCHEMA}.people SELECT seq, CONCAT('person ', seq), \
             CONCAT('p', seq, ELT(seq % 3 + 1, '@eu.example', '@us.example', '@apac.example')), \
             ELT(seq % 3 + 1, 'EU', 'US', 'APAC') FROM seq_1_to_{PEOPLE}"
        ),
    )
    .await;
    run(&pool, &format!("ANALYZE TABLE {SCHEMA}.people")).await;
    let query = format!("SELECT id, name, email, region FROM {SCHEMA}.people WHERE region = 'EU'");
    let merged = store_view(url, "merged", &query, false).await;
    run(
        &pool,
        &format!("CREATE ALGORITHM = TEMPTABLE VIEW {SCHEMA}.temptable AS {query}"),
    )
    .await;
    println!("    temptable: CREATE ALGORITHM = TEMPTABLE VIEW {SCHEMA}.temptable AS {query}");
    let ours = store_view(url, "ours", &query, true).await;
    let projection = format!("SELECT id, name, MD5(email) AS email, region FROM {SCHEMA}.people");
    let masked = store_view(url, "masked", &projection, true).await;
    let views = [
        ("merged (VIEW_BARRIER=false)", merged),
        ("TEMPTABLE alone (leaky)", format!("{SCHEMA}.temptable")),
        ("TEMPTABLE + LIMIT (ours)", ours),
    ];
    measure(
        &pool,
        &views,
        &[
            (
                "one row by id",
                "SELECT * FROM {view} WHERE id = ?".to_owned(),
                Asks::Id,
            ),
            (
                "one row by email",
                "SELECT * FROM {view} WHERE email = ?".to_owned(),
                Asks::Email,
            ),
            (
                "count of the view",
                "SELECT COUNT(*) FROM {view}".to_owned(),
                Asks::Nothing,
            ),
        ],
    )
    .await;
    let people = format!("{SCHEMA}.people");
    measure(
        &pool,
        &[
            ("the table itself", people),
            ("masking projection (ours)", masked),
        ],
        &[(
            "one row by id",
            "SELECT * FROM {view} WHERE id = ?".to_owned(),
            Asks::Id,
        )],
    )
    .await;
    run(&pool, &format!("DROP DATABASE {SCHEMA}")).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    views::install_drivers();
    let wanted = std::env::var("READER_DATABASES").unwrap_or_else(|_| "postgres,mariadb".into());
    if wanted.contains("postgres") {
        let url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        postgres(&url).await;
    }
    if wanted.contains("mariadb") {
        let url = std::env::var("TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        mariadb(&url).await;
    }
}
