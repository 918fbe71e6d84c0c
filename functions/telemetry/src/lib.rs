//! Logs and metrics as CloudWatch wants them: one JSON object a line.
#![forbid(unsafe_code)]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// CloudWatch namespace of every metric this project emits.
pub const NAMESPACE: &str = "ImmutaViewSync";

/// Installs a JSON `tracing` subscriber: one object a line, with the fields of the enclosing
/// spans (the Lambda runtime's span carries the request id). `RUST_LOG` filters (default `info`).
/// Calling it twice is harmless (tests do).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// One metric in CloudWatch embedded metric format: `dimensions` become both the metric's
/// dimensions and top-level members, `properties` are searchable in Logs Insights only.
pub fn emf_line(
    metric: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    properties: &[(&str, &str)],
) -> String {
    let timestamp_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": [{"Name": metric, "Unit": unit}],
            }],
        }),
    );
    for (name, value) in dimensions.iter().chain(properties) {
        doc.insert((*name).into(), Value::from(*value));
    }
    doc.insert(metric.into(), Value::from(value));
    Value::Object(doc).to_string()
}

/// Writes a metric to stdout, where the Lambda log agent picks up EMF documents. Outside Lambda
/// (no `AWS_LAMBDA_FUNCTION_NAME`: tests, the demo, the CLI) nothing would read them, so nothing
/// is written. (`println!` rather than a raw stdout handle so that test harnesses capture it.)
pub fn record(
    metric: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    properties: &[(&str, &str)],
) {
    static IN_LAMBDA: OnceLock<bool> = OnceLock::new();
    if *IN_LAMBDA.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()) {
        println!("{}", emf_line(metric, value, unit, dimensions, properties));
    }
}

/// One occurrence of `metric`.
pub fn count(metric: &str, dimensions: &[(&str, &str)], properties: &[(&str, &str)]) {
    record(metric, 1.0, "Count", dimensions, properties);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_names_its_dimensions_and_value() {
        let line = emf_line(
            "Webhooks",
            1.0,
            "Count",
            &[("Outcome", "ignored")],
            &[("notificationType", "userCreated")],
        );
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Outcome"]])
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "Webhooks"
        );
        assert_eq!(doc["Outcome"], "ignored");
        assert_eq!(doc["notificationType"], "userCreated");
        assert_eq!(doc["Webhooks"], 1.0);
    }
}
