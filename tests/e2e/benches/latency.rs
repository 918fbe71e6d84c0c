//! `make bench`, end-to-end latency: from a webhook's arrival at the receiver to its view applied.
//! The simulator sends NOTIFICATIONS signed `policyUpdated` webhooks (a masking change of a
//! different data source each, 25 ms apart) to the receiver's Function URL; the receiver queues
//! them on (moto's) SQS; an event source mapping with a batching window of 0 (a long-polling
//! receive, then an invocation with what it got, BatchSize 10) invokes the processor, the release
//! binary started as Lambda starts it; the target is SQLite. The lag of each change is the
//! processor's own `FreshnessLag` (receiver's `receivedAtMs` → change applied); where the time
//! goes comes from the webhook round trips timed here and the processor's batch metrics.
//!
//! PROCESSOR_BIN names the processor binary (`make bench` builds it with `cargo build --release
//! --features processor/sqlite`: the processor links SQLite only when asked).

use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline, Runtime};
use e2e::runtime_api::metric_values;
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;

const NOTIFICATIONS: u64 = 200;
const PACE: Duration = Duration::from_millis(25);

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    for d in 1..=NOTIFICATIONS {
        t.add_data_source(d, &format!("Source {d}"), "PostgreSQL");
    }
    let members: Vec<u64> = (1..=NOTIFICATIONS).collect();
    t.add_project(1, "Latency", true, &members);
    t
}

/// The `q` quantile (nearest rank) of `values`, in ms.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(name: &str, values: &[f64]) {
    println!(
        "  {name:<44} p50 {:>7.1} ms   p99 {:>7.1} ms   ({} values)",
        quantile(values, 0.5),
        quantile(values, 0.99),
        values.len()
    );
}

#[tokio::main]
async fn main() {
    let options = Options {
        runtime: Runtime::ReleaseProcessor,
        batch_size: 10,
        ..Options::default()
    };
    let p = Pipeline::start(&Database::Sqlite, tenant(), options).await;
    // The views exist first, so that every notification replaces one.
    p.queue_resync().await.expect("queue the re-sync");
    p.drain().await;
    let output_before = p.function_output().unwrap_or_default().len();

    let started = Instant::now();
    let send = async {
        let mut round_trips = Vec::new();
        for d in 1..=NOTIFICATIONS {
            let next = started + PACE * d as u32;
            let sent = Instant::now();
            p.act(Action::BumpDataSourcePolicy { data_source_id: d })
                .await;
            round_trips.push(sent.elapsed().as_secs_f64() * 1e3);
            tokio::time::sleep_until(next.into()).await;
        }
        round_trips
    };
    let consume = async {
        let mut records = 0;
        let mut batches = 0;
        while records < NOTIFICATIONS as u32 && started.elapsed() < Duration::from_secs(120) {
            let stats = p.poll_once(Duration::from_secs(1)).await;
            records += stats.records;
            batches += stats.batches;
        }
        (records, batches)
    };
    let (round_trips, (records, batches)) = tokio::join!(send, consume);
    let wall = started.elapsed();

    let output = p.function_output().unwrap_or_default();
    let output = &output[output_before..];
    let lags = metric_values(output, "FreshnessLag");
    println!(
        "latency: {NOTIFICATIONS} policyUpdated webhooks, one every {} ms, each changing a view; batching window 0, BatchSize 10, SQLite",
        PACE.as_millis()
    );
    println!(
        "records {records} in {batches} invocations, {:.1} s",
        wall.as_secs_f64()
    );
    summary("webhook → view applied (FreshnessLag)", &lags);
    summary("webhook round trip (signature, SendMessage)", &round_trips);
    summary(
        "processor invocation (BatchDuration)",
        &metric_values(output, "BatchDuration"),
    );
    summary(
        "  reads of Immuta (BatchReadDuration)",
        &metric_values(output, "BatchReadDuration"),
    );
    summary(
        "  database (BatchApplyDuration)",
        &metric_values(output, "BatchApplyDuration"),
    );
    summary(
        "  Immuta calls (ImmutaLatency)",
        &metric_values(output, "ImmutaLatency"),
    );
    assert_eq!(records, NOTIFICATIONS as u32);
    assert_eq!(
        lags.len() as u64,
        NOTIFICATIONS,
        "one applied change per notification"
    );
    p.finish().await;
}
