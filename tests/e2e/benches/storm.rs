//! `make bench`, the processor under a storm: 1,000 `policyUpdated` notifications over 200 data
//! sources in 20 equalized projects, as one SQS batch, against the Immuta simulator (a separate
//! process, so the peak memory measured here is the processor's) with 20 ms latency on every call.
//! Reports Immuta calls against the floor and wall time against the floor's ideal duration.
//! With 200 data-source keys, one listing of the 20 equalized projects and their data sources
//! (21 calls) tells which projects hold each source, instead of 200 project searches.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use e2e::runtime_api::peak_rss_mb;
use e2e::{free_port, repo_root};
use immuta_simulator::tenant::Tenant;
use lambda_runtime::{Context, LambdaEvent};
use processor::{ProcessorConfig, Reconciler, batch};
use serde_json::{Value, json};
use view_sync_core::memberships::listing_calls;
use view_sync_core::plan::{RowState, Scope};
use view_sync_core::{Notification, QueueMessage};

const SOURCES: u64 = 200;
const PROJECTS: u64 = 20;
const NOTIFICATIONS: usize = 1_000;
const LATENCY_MS: u64 = 20;
const API_KEY: &str = "bench-api-key";
/// The processor's default IMMUTA_PAGE_SIZE.
const PAGE_SIZE: u32 = 100;

struct Process(Child);
impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    for d in 1..=SOURCES {
        t.add_data_source(d, &format!("Source {d}"), "PostgreSQL");
    }
    let per_project = SOURCES / PROJECTS;
    for p in 0..PROJECTS {
        let members: Vec<u64> = (1..=per_project).map(|i| p * per_project + i).collect();
        t.add_project(1_000 + p, &format!("Project {p}"), true, &members);
    }
    t
}

async fn control(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("simulator control API");
    response.json::<Value>().await.unwrap_or(Value::Null)
}

#[tokio::main]
async fn main() {
    let binary = std::env::var("SIMULATOR_BIN")
        .map(Into::into)
        .unwrap_or_else(|_| repo_root().join("target/release/immuta-simulator"));
    let port = free_port();
    let _simulator = Process(
        Command::new(&binary)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--api-key",
                API_KEY,
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (make bench builds it)", binary.display())),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{base}/_sim/counters"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control(
        &http,
        reqwest::Method::PUT,
        format!("{base}/_sim/tenant"),
        Some(serde_json::to_value(tenant()).unwrap()),
    )
    .await;
    control(
        &http,
        reqwest::Method::PUT,
        format!("{base}/_sim/faults"),
        Some(json!({"latencyMs": LATENCY_MS})),
    )
    .await;
    control(
        &http,
        reqwest::Method::DELETE,
        format!("{base}/_sim/counters"),
        None,
    )
    .await;

    // 1,000 notifications over the 200 sources, drawn with a fixed seed.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut sources = BTreeSet::new();
    let records: Vec<Value> = (0..NOTIFICATIONS)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let source = state % SOURCES + 1;
            sources.insert(source);
            let body = format!(r#"{{"notificationType":"policyUpdated","modelType":"datasource","modelId":{source},"policyType":"data"}}"#);
            let message = QueueMessage::encode(&Notification::parse_json(&body).unwrap(), 0, None);
            json!({"messageId": format!("m{i}"), "body": message, "eventSource": "aws:sqs"})
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();

    let dir = std::env::temp_dir().join(format!("ivs_storm_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let concurrency: usize = std::env::var("IMMUTA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let env = [
        ("IMMUTA_URL", base.clone()),
        ("IMMUTA_API_KEY", API_KEY.to_owned()),
        (
            "VIEW_SQL_PATH",
            immuta_simulator::DEFAULT_VIEW_SQL_PATH.to_owned(),
        ),
        ("VIEW_SQL_JSON_POINTER", "/sql".to_owned()),
        (
            "DATABASE_URL",
            format!("sqlite://{}/views.db", dir.display()),
        ),
        ("IMMUTA_MAX_CONCURRENCY", concurrency.to_string()),
    ];
    let config =
        ProcessorConfig::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .unwrap();
    let reconciler = Reconciler::new(config).unwrap();
    reconciler.store().ensure_ledger().await.unwrap();

    let started = Instant::now();
    let response = batch::handle(&reconciler, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    let wall = started.elapsed();
    let rows = reconciler.store().rows(&Scope::Everything).await.unwrap();
    let views_present = rows.iter().filter(|r| r.state == RowState::Present).count();
    let _ = std::fs::remove_dir_all(&dir);

    let counters = control(
        &http,
        reqwest::Method::GET,
        format!("{base}/_sim/counters"),
        None,
    )
    .await;
    let count = |route: &str| counters[route].as_u64().unwrap_or(0);
    let keys = sources.len() as u64;
    let views = keys; // every source is in exactly one equalized project: one view per key
    let (lookups, searches, members, sql) = (
        count("GET /dataSource/{id}"),
        count("GET /project"),
        count("GET /project/{id}/dataSources"),
        count(immuta_simulator::DEFAULT_VIEW_SQL_ROUTE),
    );
    let calls = lookups + searches + members + sql;
    // Which projects hold the sources: a search per key, or one listing of the equalized
    // projects and their data sources, whichever costs fewer calls.
    let memberships = (keys as usize).min(listing_calls(PROJECTS as usize, PAGE_SIZE)) as u64;
    let floor = keys + memberships + views;
    let ideal = Duration::from_millis(floor * LATENCY_MS / concurrency as u64);

    println!(
        "storm: {NOTIFICATIONS} policyUpdated over {SOURCES} data sources in {PROJECTS} equalized projects, one batch"
    );
    println!(
        "simulator latency {LATENCY_MS} ms per call, IMMUTA_MAX_CONCURRENCY={concurrency}, SQLite target"
    );
    println!("distinct keys                 {keys}");
    println!("views in the database         {views_present} (expected {views})");
    println!(
        "failed batch items            {}",
        response.batch_item_failures.len()
    );
    println!(
        "Immuta calls                  {calls} (GET /dataSource {lookups}, project search {searches}, project data sources {members}, view SQL {sql})"
    );
    println!(
        "floor                         {floor} (per data-source key: GET /dataSource; the projects holding them: {memberships}; per view: one SQL fetch)"
    );
    println!("wall time                     {:.2} s", wall.as_secs_f64());
    println!(
        "ideal at the floor            {:.2} s (floor x {LATENCY_MS} ms / {concurrency})",
        ideal.as_secs_f64()
    );
    println!(
        "wall / ideal                  {:.2}x (target <= 1.3x)",
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
    println!(
        "peak RSS of the processor     {:.1} MB (target < 64 MB)",
        peak_rss_mb("/proc/self/status")
    );
    assert_eq!(response.batch_item_failures.len(), 0);
    assert_eq!(views_present as u64, views);
    assert_eq!(calls, floor, "the storm's Immuta calls are at the floor");
}
