//! `make bench`, a full re-sync at scale: a tenant of SCALE_SOURCES data sources (500) in each of
//! SCALE_PROJECTS equalized projects (20), so 10,000 views, with 20 ms of latency on every Immuta
//! call. `view-sync resync --queue-url` queues one key per project on (moto's) SQS; the processor,
//! the release binary started as Lambda starts it, takes them in batches as the event source
//! mapping would (the template's BatchSize 50 and 60 s timeout, IMMUTA_MAX_CONCURRENCY=8), on
//! SQLite, PostgreSQL (TEST_POSTGRES_URL, or the local server) and MariaDB (TEST_MYSQL_URL, or
//! the local server); SCALE_DATABASES picks some of them (`postgres`, or
//! `sqlite,postgres,mariadb`, the default). Reports the Immuta calls against the floor, wall time
//! against the ideal (calls × latency ÷ concurrency), the batches' database time, and the
//! processor's peak RSS.
//!
//! SCALE_DRAIN_SECS bounds the wait for the queue to drain (by default 900 s, and 20 ms per view
//! beyond 45,000).
//!
//! PROCESSOR_BIN names the processor binary (`make bench` builds it with `cargo build --release
//! --features processor/sqlite`: the processor links SQLite only when asked).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline, Runtime};
use e2e::runtime_api::metric_values;
use immuta_simulator::faults::Faults;
use immuta_simulator::tenant::Tenant;
use view_sync_core::plan::{RowState, Scope};

const LATENCY_MS: u64 = 20;
const CONCURRENCY: u64 = 8;
const BATCH_SIZE: usize = 50;
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How long the queue may take to drain: SCALE_DRAIN_SECS, or 15 minutes and 20 ms per view
/// beyond 45,000 (a generous bound for one processor; the run panics past it).
fn drain_limit(views: u64) -> Duration {
    let default = 900 + views.saturating_sub(45_000) / 50;
    Duration::from_secs(setting("SCALE_DRAIN_SECS", default))
}

fn tenant(sources: u64, projects: u64) -> Tenant {
    let mut t = Tenant::default();
    for d in 1..=sources {
        t.add_data_source(d, &format!("Source {d}"), "PostgreSQL");
    }
    let members: Vec<u64> = (1..=sources).collect();
    for p in 1..=projects {
        t.add_project(10_000 + p, &format!("Project {p}"), true, &members);
    }
    t
}

fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

async fn run(database: Database, sources: u64, projects: u64, page_size: u64) {
    let options = Options {
        runtime: Runtime::ReleaseProcessor,
        batch_size: BATCH_SIZE,
        function_timeout: FUNCTION_TIMEOUT,
        // As the template sets it: six times the timeout.
        visibility_timeout: FUNCTION_TIMEOUT * 6,
        max_receive_count: 5,
        processor_env: vec![
            ("IMMUTA_MAX_CONCURRENCY", CONCURRENCY.to_string()),
            ("IMMUTA_PAGE_SIZE", page_size.to_string()),
            ("IMMUTA_TIMEOUT_MS", "5000".to_owned()),
        ],
        ..Options::default()
    };
    let name = database.name();
    let p = Pipeline::start(&database, tenant(sources, projects), options).await;
    p.simulator.set_faults(Faults {
        latency_ms: LATENCY_MS,
        ..Faults::default()
    });
    let queued = p.queue_resync().await.expect("queue the re-sync");
    p.simulator.reset_counters();

    let started = Instant::now();
    let stats = p.drain_within(drain_limit(sources * projects)).await;
    let wall = started.elapsed();

    let rows = p.reconciler.store().rows(&Scope::Everything).await.unwrap();
    let present = rows.iter().filter(|r| r.state == RowState::Present).count() as u64;
    let in_database = p.database_views().await.len() as u64;
    let counters: BTreeMap<String, u64> = p.simulator.counters();
    let calls: u64 = counters.values().sum();
    let output = p.function_output().unwrap_or_default();
    let read_ms = sum(&metric_values(&output, "BatchReadDuration"));
    let apply_ms = sum(&metric_values(&output, "BatchApplyDuration"));
    let batch_ms = metric_values(&output, "BatchDuration");
    let rss = p.processor_peak_rss_mb().unwrap_or_default();

    let views = sources * projects;
    // Per project key: its record, its equalization state (GET /project carries none), and its
    // data sources a page at a time; per view, one SQL fetch.
    let floor = projects * (2 + sources.div_ceil(page_size)) + views;
    let ideal = Duration::from_millis(floor * LATENCY_MS / CONCURRENCY);

    println!(
        "== {name}: full re-sync, {projects} projects x {sources} data sources = {views} views"
    );
    println!("project keys queued           {queued}");
    println!(
        "batches                       {} ({} records, {} failed), BatchSize {BATCH_SIZE}",
        stats.batches, stats.records, stats.failed
    );
    println!("views in the ledger / catalog {present} / {in_database} (expected {views})");
    println!("Immuta calls                  {calls}");
    for (route, count) in &counters {
        println!("  {route:<50} {count}");
    }
    println!(
        "floor                         {floor} (per project: GET /project, checkEqualizationState, {} page(s) of data sources; per view: one SQL fetch)",
        sources.div_ceil(page_size)
    );
    println!("wall time                     {:.2} s", wall.as_secs_f64());
    println!(
        "ideal at the floor            {:.2} s (floor x {LATENCY_MS} ms / {CONCURRENCY})",
        ideal.as_secs_f64()
    );
    println!(
        "wall / ideal                  {:.2}x (target <= 1.3x)",
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
    println!(
        "batch time: reads {:.2} s, database {:.2} s, whole batches {:.2} s ({} invocations)",
        read_ms / 1e3,
        apply_ms / 1e3,
        sum(&batch_ms) / 1e3,
        batch_ms.len()
    );
    let longest_batch_ms = batch_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "longest invocation            {:.2} s (timeout {} s); records handed on to a later one: {}",
        longest_batch_ms / 1e3,
        FUNCTION_TIMEOUT.as_secs(),
        sum(&metric_values(&output, "BatchRecordsHandedOn")) as u64
    );
    let mut latencies = metric_values(&output, "ImmutaLatency");
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let mean_latency_ms = sum(&latencies) / latencies.len().max(1) as f64;
    println!(
        "Immuta latency (processor)    median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, mean {mean_latency_ms:.1} ms ({} requests; the simulator waits {LATENCY_MS} ms)",
        quantile(0.5),
        quantile(0.9),
        quantile(0.99),
        latencies.len()
    );
    // The ideal again with the latency the processor measured: what is left above it is the
    // pipeline's own, not the transport's.
    let measured_ideal_s = floor as f64 * mean_latency_ms / CONCURRENCY as f64 / 1e3;
    println!(
        "ideal at the measured latency {measured_ideal_s:.2} s; wall / it {:.2}x",
        wall.as_secs_f64() / measured_ideal_s
    );
    println!("peak RSS of the processor     {rss:.1} MB (target <= 64 MB)");
    assert_eq!(stats.failed, 0, "{name}: failed batch items");
    assert!(
        longest_batch_ms < FUNCTION_TIMEOUT.as_secs_f64() * 1e3,
        "{name}: an invocation ran {longest_batch_ms:.0} ms, past its timeout"
    );
    assert_eq!(present, views, "{name}: views in the ledger");
    assert_eq!(in_database, views, "{name}: views in the database");
    p.finish().await;
}

#[tokio::main]
async fn main() {
    let sources = setting("SCALE_SOURCES", 500);
    let projects = setting("SCALE_PROJECTS", 20);
    let page_size = setting("IMMUTA_PAGE_SIZE", 100);
    let postgres = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mariadb = std::env::var("TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let databases =
        std::env::var("SCALE_DATABASES").unwrap_or_else(|_| "sqlite,postgres,mariadb".into());
    for name in databases.split(',').map(str::trim) {
        let database = match name {
            "sqlite" => Database::Sqlite,
            "postgres" => Database::Postgres(postgres.clone()),
            "mariadb" => Database::MariaDb(mariadb.clone()),
            other => panic!("SCALE_DATABASES: {other:?} is not sqlite, postgres or mariadb"),
        };
        run(database, sources, projects, page_size).await;
    }
}
