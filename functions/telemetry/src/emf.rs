//! An invocation's metrics as CloudWatch embedded metric format documents.
//!
//! The format's limits shape the packing: a document holds at most 100 metrics, a metric at
//! most 100 values, and each dimension has one value per document (dimension values are the
//! document's top-level members). So metrics share a document when their dimension values
//! agree; a metric with more than 100 values continues in further documents.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::NAMESPACE;
use crate::metric::{Kind, Metric};

/// The format's limit on metrics per document and on values per metric.
pub const MAX_PER_DOCUMENT: usize = 100;

// A document holds each metric at most once, so the catalog's size bounds its metrics.
const _: () = assert!(Metric::ALL.len() <= MAX_PER_DOCUMENT);

/// Dimension name → value, ordered.
pub type Dimensions = BTreeMap<&'static str, String>;

/// What one invocation recorded: per set of dimensions, per metric, its values (one running
/// total for a [`Kind::Total`] metric).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recorded {
    series: BTreeMap<Dimensions, BTreeMap<Metric, Vec<f64>>>,
}

impl Recorded {
    pub fn record(&mut self, metric: Metric, value: f64, dimensions: &[(&'static str, &str)]) {
        debug_assert!(
            dimensions.len() == metric.dimensions().len()
                && dimensions
                    .iter()
                    .all(|(name, _)| metric.dimensions().contains(name)),
            "{} is recorded with {:?}, not {dimensions:?}",
            metric.name(),
            metric.dimensions()
        );
        let dimensions: Dimensions = dimensions
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        let values = self
            .series
            .entry(dimensions)
            .or_default()
            .entry(metric)
            .or_default();
        match (metric.kind(), values.first_mut()) {
            (Kind::Total, Some(total)) => *total += value,
            _ => values.push(value),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The values of `metric` recorded with exactly these dimensions.
    pub fn values(&self, metric: Metric, dimensions: &[(&'static str, &str)]) -> &[f64] {
        let dimensions: Dimensions = dimensions
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        self.series
            .get(&dimensions)
            .and_then(|metrics| metrics.get(&metric))
            .map_or(&[], Vec::as_slice)
    }

    /// Sum of `metric`'s values over every set of dimensions that includes `filter`.
    pub fn total(&self, metric: Metric, filter: &[(&'static str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(dims, _)| {
                filter
                    .iter()
                    .all(|(name, value)| dims.get(name).is_some_and(|v| v == value))
            })
            .filter_map(|(_, metrics)| metrics.get(&metric))
            .flatten()
            .sum()
    }

    /// The documents that report everything recorded. `defaults` are added to every metric's
    /// dimensions, `properties` to every document (searchable in Logs Insights, not metrics).
    pub fn documents(
        &self,
        timestamp_ms: u64,
        defaults: &[(&'static str, &str)],
        properties: &[(&str, &str)],
    ) -> Vec<Value> {
        let mut documents: Vec<Document> = Vec::new();
        for (dimensions, metrics) in &self.series {
            let mut all = dimensions.clone();
            for (name, value) in defaults {
                all.entry(name).or_insert_with(|| (*value).to_owned());
            }
            for (metric, values) in metrics {
                for chunk in values.chunks(MAX_PER_DOCUMENT) {
                    let index = match documents.iter().position(|d| d.takes(&all, *metric)) {
                        Some(index) => index,
                        None => {
                            documents.push(Document::default());
                            documents.len() - 1
                        }
                    };
                    documents[index].add(&all, *metric, chunk);
                }
            }
        }
        documents
            .into_iter()
            .map(|d| d.into_json(timestamp_ms, properties))
            .collect()
    }
}

#[derive(Default)]
struct Document {
    /// The dimension values this document fixes.
    dimensions: Dimensions,
    /// Per set of dimension names, the metrics reported with it.
    directives: BTreeMap<Vec<&'static str>, Vec<Metric>>,
    values: BTreeMap<Metric, Value>,
}

impl Document {
    fn takes(&self, dimensions: &Dimensions, metric: Metric) -> bool {
        !self.values.contains_key(&metric)
            && dimensions
                .iter()
                .all(|(name, value)| self.dimensions.get(name).is_none_or(|v| v == value))
    }

    fn add(&mut self, dimensions: &Dimensions, metric: Metric, values: &[f64]) {
        self.dimensions.extend(
            dimensions
                .iter()
                .map(|(name, value)| (*name, value.clone())),
        );
        self.directives
            .entry(dimensions.keys().copied().collect())
            .or_default()
            .push(metric);
        let value = match values {
            [one] => json!(one),
            many => json!(many),
        };
        self.values.insert(metric, value);
    }

    fn into_json(self, timestamp_ms: u64, properties: &[(&str, &str)]) -> Value {
        let directives: Vec<Value> = self
            .directives
            .iter()
            .map(|(names, metrics)| {
                let metrics: Vec<Value> = metrics
                    .iter()
                    .map(|m| json!({"Name": m.name(), "Unit": m.unit().as_str()}))
                    .collect();
                json!({"Namespace": NAMESPACE, "Dimensions": [names], "Metrics": metrics})
            })
            .collect();
        let mut root = Map::new();
        for (name, value) in properties {
            root.insert((*name).into(), Value::from(*value));
        }
        root.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        for (name, value) in self.dimensions {
            root.insert(name.into(), Value::from(value));
        }
        for (metric, value) in self.values {
            root.insert(metric.name().into(), value);
        }
        Value::Object(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::dimension::{ACTION, ENDPOINT, FUNCTION_NAME, OUTCOME};

    fn directives(document: &Value) -> Vec<(Vec<String>, Vec<String>)> {
        document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["Namespace"], NAMESPACE);
                let names = d["Dimensions"][0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_owned())
                    .collect();
                let metrics = d["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["Name"].as_str().unwrap().to_owned())
                    .collect();
                (names, metrics)
            })
            .collect()
    }

    #[test]
    fn totals_are_summed_and_distributions_keep_every_value() {
        let mut recorded = Recorded::default();
        for _ in 0..3 {
            recorded.record(Metric::ViewChanges, 1.0, &[(ACTION, "created")]);
        }
        recorded.record(Metric::ViewChanges, 1.0, &[(ACTION, "dropped")]);
        recorded.record(Metric::FreshnessLag, 120.0, &[]);
        recorded.record(Metric::FreshnessLag, 80.0, &[]);
        assert_eq!(
            recorded.values(Metric::ViewChanges, &[(ACTION, "created")]),
            [3.0]
        );
        assert_eq!(recorded.total(Metric::ViewChanges, &[]), 4.0);
        assert_eq!(recorded.values(Metric::FreshnessLag, &[]), [120.0, 80.0]);
    }

    #[test]
    fn metrics_whose_dimension_values_agree_share_a_document() {
        let mut recorded = Recorded::default();
        recorded.record(Metric::ViewChanges, 1.0, &[(ACTION, "created")]);
        recorded.record(Metric::ViewChanges, 1.0, &[(ACTION, "replaced")]);
        recorded.record(Metric::FreshnessLag, 42.0, &[]);
        recorded.record(Metric::BatchRecords, 10.0, &[]);
        recorded.record(
            Metric::ImmutaRequests,
            1.0,
            &[(ENDPOINT, "ViewSql"), (OUTCOME, "ok")],
        );
        let documents = recorded.documents(7, &[(FUNCTION_NAME, "p")], &[("requestId", "r1")]);
        // Two values of Action need two documents; the rest fits beside them.
        assert_eq!(documents.len(), 2, "{documents:#?}");
        let first = &documents[0];
        assert_eq!(first["_aws"]["Timestamp"], 7);
        assert_eq!(first["requestId"], "r1");
        assert_eq!(first["FunctionName"], "p");
        assert_eq!(first["Action"], "created");
        assert_eq!(first["Endpoint"], "ViewSql");
        assert_eq!(first["FreshnessLag"], 42.0);
        assert_eq!(
            directives(first),
            [
                (
                    vec!["Action".to_owned(), "FunctionName".to_owned()],
                    vec!["ViewChanges".to_owned()]
                ),
                (
                    vec![
                        "Endpoint".to_owned(),
                        "FunctionName".to_owned(),
                        "Outcome".to_owned()
                    ],
                    vec!["ImmutaRequests".to_owned()]
                ),
                (
                    vec!["FunctionName".to_owned()],
                    vec!["FreshnessLag".to_owned(), "BatchRecords".to_owned()]
                ),
            ]
        );
        let second = &documents[1];
        assert_eq!(second["Action"], "replaced");
        assert_eq!(second["ViewChanges"], 1.0);
        assert_eq!(directives(second).len(), 1);
        // Every metric a directive names is a member of its document.
        for document in &documents {
            for (names, metrics) in directives(document) {
                for name in names.iter().chain(&metrics) {
                    assert!(
                        document.get(name.as_str()).is_some(),
                        "{name} in {document}"
                    );
                }
            }
        }
    }

    #[test]
    fn more_than_a_hundred_values_continue_in_another_document() {
        let mut recorded = Recorded::default();
        for lag in 0..250 {
            recorded.record(Metric::FreshnessLag, f64::from(lag), &[]);
        }
        recorded.record(Metric::BatchKeys, 3.0, &[]);
        let documents = recorded.documents(0, &[], &[]);
        let counts: Vec<usize> = documents
            .iter()
            .map(|d| d["FreshnessLag"].as_array().map_or(1, Vec::len))
            .collect();
        assert_eq!(counts, [100, 100, 50]);
        let all: Vec<f64> = documents
            .iter()
            .flat_map(|d| d["FreshnessLag"].as_array().unwrap().clone())
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
        // The other metric joins the first document; a document without dimensions says so.
        assert_eq!(documents[0]["BatchKeys"], 3.0);
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
