//! What the deployed binaries tell CloudWatch: the receiver and the processor under
//! `cargo lambda watch`, fed through moto SQS, print embedded-metric-format documents that are
//! read back here, checked against the format, and held to what the test saw happen: every
//! applied change has a `FreshnessLag` bounded by the test's own clock, `ViewChanges` match
//! the audit trail, `ImmutaRequests` the simulator's own count, `Webhooks` the requests sent.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::pipeline::{Database, Options, Pipeline, Runtime};
use immuta_simulator::DEFAULT_VIEW_SQL_ROUTE;
use immuta_simulator::actions::Action;
use immuta_simulator::faults::{FaultKind, Faults};
use immuta_simulator::tenant::Tenant;
use immuta_simulator::view_sql::Masking;
use serde_json::Value;
use telemetry::{Metric, NAMESPACE};
use views::AuditQuery;

/// Every line of `output` that is an EMF document.
fn documents(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.starts_with('{') && line.contains("\"_aws\""))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// One metric datum as a document reports it.
#[derive(Debug)]
struct Datum {
    metric: Metric,
    dimensions: BTreeMap<String, String>,
    values: Vec<f64>,
    timestamp_ms: u64,
}

/// Reads a document as the format specifies it, failing on anything CloudWatch would reject
/// or that the catalog does not name.
fn data(document: &Value) -> Vec<Datum> {
    let aws = &document["_aws"];
    let timestamp_ms = aws["Timestamp"].as_u64().expect("a numeric Timestamp");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "{document}");
    assert!(document["requestId"].is_string(), "{document}");
    let mut data = Vec::new();
    let mut metrics_in_document = 0;
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE, "{document}");
        let sets = directive["Dimensions"].as_array().expect("Dimensions");
        assert_eq!(sets.len(), 1, "{document}");
        let names: Vec<&str> = sets[0]
            .as_array()
            .expect("a dimension set")
            .iter()
            .map(|n| n.as_str().expect("a dimension name"))
            .collect();
        assert!(
            names.len() <= 30 && names.contains(&"FunctionName"),
            "{document}"
        );
        let dimensions: BTreeMap<String, String> = names
            .iter()
            .map(|name| {
                let value = document[*name].as_str();
                let value = value.unwrap_or_else(|| panic!("dimension {name} in {document}"));
                ((*name).to_owned(), value.to_owned())
            })
            .collect();
        for definition in directive["Metrics"].as_array().expect("Metrics") {
            metrics_in_document += 1;
            let name = definition["Name"].as_str().expect("a metric name");
            let metric = Metric::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("{name} is not in the catalog"));
            assert_eq!(definition["Unit"], metric.unit().as_str(), "{document}");
            let mut expected: Vec<&str> = metric.dimensions().to_vec();
            expected.push("FunctionName");
            expected.sort_unstable();
            let mut named = names.clone();
            named.sort_unstable();
            assert_eq!(named, expected, "{name}'s dimensions in {document}");
            let values: Vec<f64> = match &document[name] {
                Value::Number(n) => vec![n.as_f64().unwrap()],
                Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).collect(),
                other => panic!("{name} is {other} in {document}"),
            };
            assert!((1..=100).contains(&values.len()), "{document}");
            data.push(Datum {
                metric,
                dimensions: dimensions.clone(),
                values,
                timestamp_ms,
            });
        }
    }
    assert!(metrics_in_document <= 100, "{document}");
    data
}

fn values(data: &[Datum], metric: Metric, filter: &[(&str, &str)]) -> Vec<f64> {
    data.iter()
        .filter(|d| d.metric == metric)
        .filter(|d| {
            filter
                .iter()
                .all(|(name, value)| d.dimensions.get(*name).map(String::as_str) == Some(*value))
        })
        .flat_map(|d| d.values.iter().copied())
        .collect()
}

fn total(data: &[Datum], metric: Metric, filter: &[(&str, &str)]) -> f64 {
    values(data, metric, filter).iter().sum()
}

/// The simulator's routes (as its counters name them) that each `Endpoint` the processor reads
/// calls.
const ROUTES: [(&str, &[&str]); 6] = [
    ("DataSource", &["GET /dataSource/{id}"]),
    ("Project", &["GET /project/{id}"]),
    (
        "EqualizationState",
        &["GET /project/{id}/checkEqualizationState"],
    ),
    ("ProjectSearch", &["GET /project", "GET /projects"]),
    (
        "ProjectDataSources",
        &[
            "GET /project/{id}/dataSources",
            "GET /project/{id}/datasources",
        ],
    ),
    ("ViewSql", &[DEFAULT_VIEW_SQL_ROUTE]),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_binaries_report_freshness_and_every_view_change_as_emf() {
    let options = Options {
        runtime: Runtime::CargoLambdaWatch,
        batch_size: 10,
        ..Options::default()
    };
    let p = Pipeline::start(&Database::Sqlite, Tenant::demo(), options).await;
    // A first deployment's re-sync, so that the views converge on the story's changes alone.
    p.queue_resync().await.unwrap();
    p.drain().await;
    // Start-up sent one warm-up request to each function: their cold starts are here.
    let at_start = p.function_output().unwrap();
    // Whole lines only: a line being written stays for the later part.
    let at_start = &at_start[..at_start.rfind('\n').map_or(0, |end| end + 1)];
    let cold: Vec<Datum> = documents(at_start).iter().flat_map(data).collect();
    for function in ["receiver", "processor"] {
        let filter = [("FunctionName", function)];
        assert_eq!(total(&cold, Metric::ColdStart, &filter), 1.0, "{function}");
        assert_eq!(values(&cold, Metric::InitDuration, &filter).len(), 1);
    }
    p.simulator.reset_counters();
    let started_ms = queue::now_ms();

    p.play([
        Action::SetEqualized {
            project_id: 10,
            equalized: true,
        },
        Action::AddToProject {
            project_id: 10,
            data_source_id: 1,
        },
        Action::AddToProject {
            project_id: 10,
            data_source_id: 2,
        },
    ])
    .await;
    // Immuta fails the next two requests, once with 429 and once with 503: both are retried.
    p.simulator.set_faults(Faults {
        fail_next: 2,
        kinds: vec![FaultKind::TooManyRequests, FaultKind::ServerError],
        retry_after_secs: 0,
        ..Faults::default()
    });
    p.play([Action::SetMasking {
        data_source_id: 2,
        masking: Masking::Clear,
    }])
    .await;
    p.simulator.set_faults(Faults::default());
    p.play([Action::RemoveFromProject {
        project_id: 10,
        data_source_id: 1,
    }])
    .await;
    // Requests the receiver refuses: a forged signature, and a GET.
    let http = reqwest::Client::new();
    let forged = http
        .post(&p.function_url)
        .header("x-immuta-webhook-signature-sha256", "00".repeat(32))
        .body(r#"{"notificationType":"dataSourceUpdated"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(
        http.get(&p.function_url).send().await.unwrap().status(),
        405
    );
    p.assert_converged("after the story").await;
    let finished_ms = queue::now_ms();
    // The runtime writes an invocation's documents before it answers; give the emulator's
    // pipe a moment to reach the file.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let output = p.function_output().unwrap();
    let later = &output[at_start.len()..];
    let data: Vec<Datum> = documents(later).iter().flat_map(data).collect();
    assert!(!data.is_empty(), "no EMF documents in:\n{later}");
    for datum in &data {
        assert!(
            (started_ms..=finished_ms + 1_000).contains(&datum.timestamp_ms),
            "{datum:?} outside the test ({started_ms}..{finished_ms})"
        );
    }
    let processor = [("FunctionName", "processor")];
    let receiver = [("FunctionName", "receiver")];
    assert_eq!(total(&data, Metric::ColdStart, &[]), 0.0, "warm functions");

    // Each change in the audit trail is one ViewChanges and one FreshnessLag, within the test.
    let mut trail = p
        .reconciler
        .store()
        .audit(&AuditQuery::default())
        .await
        .unwrap();
    trail.retain(|entry| entry.applied_at >= started_ms as i64 * 1_000);
    let mut by_action: BTreeMap<String, f64> = BTreeMap::new();
    for entry in &trail {
        *by_action.entry(entry.action.clone()).or_default() += 1.0;
    }
    // The two views made, the one whose masking changed, the one removed from the project.
    assert_eq!(
        by_action,
        BTreeMap::from([
            ("created".to_owned(), 2.0),
            ("dropped".to_owned(), 1.0),
            ("replaced".to_owned(), 1.0),
        ])
    );
    // Nothing else: no failed, superseded or restored change.
    assert_eq!(
        total(&data, Metric::ViewChanges, &processor),
        trail.len() as f64
    );
    for (action, count) in &by_action {
        let filter = [processor[0], ("Action", action.as_str())];
        assert_eq!(
            total(&data, Metric::ViewChanges, &filter),
            *count,
            "{action}"
        );
    }
    let lags = values(&data, Metric::FreshnessLag, &processor);
    assert_eq!(
        lags.len(),
        trail.len(),
        "one lag per applied change: {lags:?}"
    );
    let longest = (finished_ms - started_ms) as f64;
    assert!(
        lags.iter().all(|lag| (0.0..=longest).contains(lag)),
        "{lags:?} vs {longest} ms"
    );

    // Every request the simulator answered (faults included) is one ImmutaRequests.
    let answered: u64 = p.simulator.counters().values().sum();
    assert_eq!(
        total(&data, Metric::ImmutaRequests, &processor),
        answered as f64
    );
    let failed_then_retried = total(&data, Metric::ImmutaRequests, &[("Outcome", "429")])
        + total(&data, Metric::ImmutaRequests, &[("Outcome", "5xx")]);
    assert_eq!(failed_then_retried, 2.0);
    assert_eq!(total(&data, Metric::ImmutaRetries, &processor), 2.0);
    // Per endpoint: each answered request is one attempt and one latency, and an attempt is
    // retried exactly when it failed.
    let counters = p.simulator.counters();
    for route in counters.keys() {
        assert!(
            ROUTES
                .iter()
                .any(|(_, routes)| routes.contains(&route.as_str())),
            "{route} is no endpoint's route"
        );
    }
    for datum in &data {
        if let Some(endpoint) = datum.dimensions.get("Endpoint") {
            assert!(
                ROUTES.iter().any(|(known, _)| known == endpoint),
                "{datum:?}: an endpoint the story does not call"
            );
        }
    }
    for (endpoint, routes) in ROUTES {
        let answered: u64 = routes.iter().filter_map(|route| counters.get(*route)).sum();
        let filter = [processor[0], ("Endpoint", endpoint)];
        assert_eq!(
            total(&data, Metric::ImmutaRequests, &filter),
            answered as f64,
            "{endpoint}"
        );
        let latencies = values(&data, Metric::ImmutaLatency, &filter);
        assert_eq!(
            latencies.len() as u64,
            answered,
            "{endpoint}: {latencies:?}"
        );
        assert!(
            latencies.iter().all(|ms| (0.0..=longest).contains(ms)),
            "{endpoint}: {latencies:?}"
        );
        let failed = |outcome| {
            total(
                &data,
                Metric::ImmutaRequests,
                &[filter[1], ("Outcome", outcome)],
            )
        };
        assert_eq!(
            total(&data, Metric::ImmutaRetries, &filter),
            failed("429") + failed("5xx"),
            "{endpoint}"
        );
    }
    // Each view made (created or replaced) had its SQL fetched; how many more fetches depends
    // on how the webhooks were batched.
    assert!(counters.get(DEFAULT_VIEW_SQL_ROUTE).copied().unwrap_or(0) >= 3);

    // The batches: every record counted, none failed, each batch's figures reported once.
    let delivered = p.simulator.history().len() as f64;
    let batches = values(&data, Metric::BatchRecords, &processor);
    assert_eq!(batches.iter().sum::<f64>(), delivered);
    assert_eq!(
        values(&data, Metric::BatchItemFailures, &processor),
        vec![0.0; batches.len()]
    );
    assert_eq!(
        values(&data, Metric::BatchKeys, &processor).len(),
        batches.len()
    );
    let durations = values(&data, Metric::BatchDuration, &processor);
    assert_eq!(durations.len(), batches.len(), "{durations:?}");
    assert!(
        durations.iter().all(|ms| *ms > 0.0 && *ms <= longest),
        "{durations:?} vs {longest} ms"
    );

    // The receiver: each delivery queued, the two refusals by reason.
    let outcome = |o: &'static str| total(&data, Metric::Webhooks, &[receiver[0], ("Outcome", o)]);
    assert_eq!(outcome("queued"), delivered);
    assert_eq!(outcome("rejected_signature"), 1.0);
    assert_eq!(outcome("rejected_method"), 1.0);
    assert_eq!(
        total(&data, Metric::Webhooks, &receiver),
        delivered + 2.0,
        "no other outcome"
    );
    let sends = values(&data, Metric::QueueSendLatency, &receiver);
    assert_eq!(sends.len() as f64, delivered);
    assert!(
        sends.iter().all(|ms| *ms > 0.0 && *ms <= longest),
        "{sends:?}"
    );

    // The log joins a webhook to its view: the receiver's message id is in the change's line.
    let queued_ids: Vec<String> = later
        .lines()
        .filter(|line| line.contains("\"notification queued\""))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| line["message_id"].as_str().map(str::to_owned))
        .collect();
    let changes: Vec<Value> = later
        .lines()
        .filter(|line| line.contains("\"view changed\""))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    // Each change's line says what its audit entry says, and gives the lag the metric reports.
    let text = |change: &Value, field: &str| {
        change[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {change}"))
            .to_owned()
    };
    let mut logged: Vec<[String; 7]> = changes
        .iter()
        .map(|change| {
            [
                "project_id",
                "data_source_id",
                "view",
                "action",
                "origin",
                "notification_types",
                "message_ids",
            ]
            .map(|field| text(change, field))
        })
        .collect();
    let mut audited: Vec<[String; 7]> = trail
        .iter()
        .map(|entry| {
            [
                entry.view.project_id.to_string(),
                entry.view.data_source_id.to_string(),
                entry.view_name.clone(),
                entry.action.clone(),
                entry.origin.clone(),
                entry.notification_types.join(","),
                entry.message_ids.join(","),
            ]
        })
        .collect();
    logged.sort();
    audited.sort();
    assert_eq!(logged, audited, "{later}");
    let mut logged_lags: Vec<f64> = changes
        .iter()
        .map(|change| {
            change["lag_ms"]
                .as_f64()
                .unwrap_or_else(|| panic!("lag_ms in {change}"))
        })
        .collect();
    let mut lags = lags;
    logged_lags.sort_by(f64::total_cmp);
    lags.sort_by(f64::total_cmp);
    assert_eq!(logged_lags, lags);
    for change in &changes {
        // The key reconciled names the view's project, data source or both.
        let (project, source) = (text(change, "project_id"), text(change, "data_source_id"));
        let key = text(change, "key");
        assert!(
            [
                format!("project:{project}"),
                format!("dataSource:{source}"),
                format!("membership:{project}/{source}"),
            ]
            .contains(&key),
            "{change}"
        );
        // Every message that caused it was queued by the receiver during the story.
        let ids = text(change, "message_ids");
        assert!(
            ids.split(',')
                .all(|id| queued_ids.iter().any(|queued| queued == id)),
            "{change} names a message not among {queued_ids:?}"
        );
    }
    p.finish().await;
}
