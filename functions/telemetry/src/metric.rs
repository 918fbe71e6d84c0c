//! Every metric this project emits, with its unit and how an invocation's values are kept.
//! The template's alarms and dashboard name only these (`scripts/check_template.py` checks).

/// A CloudWatch unit, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// How an invocation's recordings of one metric (with one set of dimensions) are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Occurrences: summed into one value per invocation (the `Sum` statistic is the total).
    Total,
    /// A distribution: every value is reported (percentiles are meaningful).
    Values,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// From the receiver's acceptance of a notification (`receivedAtMs`) to its view change
    /// applied; for a re-sync's changes, from the re-sync's start. One value per applied change.
    FreshnessLag,
    /// View changes by `Action`: created, replaced, dropped, restored, superseded, failed.
    ViewChanges,
    BatchRecords,
    BatchKeys,
    BatchItemFailures,
    /// Records the batch had no time for, sent to the processor's queue again to go on in a
    /// later invocation (a re-sync larger than one invocation), rather than failed.
    BatchRecordsHandedOn,
    BatchDuration,
    /// A reconcile unit's reads of Immuta: its keys resolved and their views' SQL fetched. A
    /// batch's project keys are a unit each, its other keys one (`keys::reconcile_units`).
    BatchReadDuration,
    /// A reconcile unit's work in the target database after its reads: scope marks, ledger
    /// rows, DDL. Units overlap: one applies while the next reads.
    BatchApplyDuration,
    /// Immuta HTTP attempts by `Endpoint` and `Outcome` (ok, 429, 5xx, timeout, network,
    /// unauthorized (an expired token, renewed once), client_error). A token exchange is an
    /// attempt of `Authenticate`, not of the request that needed the token.
    ImmutaRequests,
    /// Attempts that were retried, by `Endpoint`.
    ImmutaRetries,
    /// Time on the wire of each attempt, by `Endpoint`.
    ImmutaLatency,
    /// Target-database operations retried after a transient error.
    DatabaseRetries,
    /// Receiver requests by `Outcome`: queued, unclassified (an authentic body of a shape or
    /// type we do not know: queued as a re-sync of every project), ignored, queue_failed,
    /// rejected_signature, rejected_size, rejected_base64, rejected_method.
    Webhooks,
    /// The receiver's SendMessage, from call to answer.
    QueueSendLatency,
    /// The first invocation of a process.
    ColdStart,
    /// From the process's start to its first invocation (configuration, secrets, clients).
    InitDuration,
}

// `ALL` lists every variant: the last one's discriminant is its length less one.
const _: () = assert!(Metric::ALL.len() == Metric::InitDuration as usize + 1);

impl Metric {
    pub const ALL: [Self; 17] = [
        Self::FreshnessLag,
        Self::ViewChanges,
        Self::BatchRecords,
        Self::BatchKeys,
        Self::BatchItemFailures,
        Self::BatchRecordsHandedOn,
        Self::BatchDuration,
        Self::BatchReadDuration,
        Self::BatchApplyDuration,
        Self::ImmutaRequests,
        Self::ImmutaRetries,
        Self::ImmutaLatency,
        Self::DatabaseRetries,
        Self::Webhooks,
        Self::QueueSendLatency,
        Self::ColdStart,
        Self::InitDuration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::FreshnessLag => "FreshnessLag",
            Self::ViewChanges => "ViewChanges",
            Self::BatchRecords => "BatchRecords",
            Self::BatchKeys => "BatchKeys",
            Self::BatchItemFailures => "BatchItemFailures",
            Self::BatchRecordsHandedOn => "BatchRecordsHandedOn",
            Self::BatchDuration => "BatchDuration",
            Self::BatchReadDuration => "BatchReadDuration",
            Self::BatchApplyDuration => "BatchApplyDuration",
            Self::ImmutaRequests => "ImmutaRequests",
            Self::ImmutaRetries => "ImmutaRetries",
            Self::ImmutaLatency => "ImmutaLatency",
            Self::DatabaseRetries => "DatabaseRetries",
            Self::Webhooks => "Webhooks",
            Self::QueueSendLatency => "QueueSendLatency",
            Self::ColdStart => "ColdStart",
            Self::InitDuration => "InitDuration",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Self::FreshnessLag
            | Self::BatchDuration
            | Self::BatchReadDuration
            | Self::BatchApplyDuration
            | Self::ImmutaLatency
            | Self::QueueSendLatency
            | Self::InitDuration => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }

    /// The dimensions it is recorded with, besides [`dimension::FUNCTION_NAME`], which every
    /// metric has.
    pub fn dimensions(self) -> &'static [&'static str] {
        use dimension::{ACTION, ENDPOINT, OUTCOME};
        match self {
            Self::ViewChanges => &[ACTION],
            Self::ImmutaRequests => &[ENDPOINT, OUTCOME],
            Self::ImmutaRetries | Self::ImmutaLatency => &[ENDPOINT],
            Self::Webhooks => &[OUTCOME],
            _ => &[],
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Self::ViewChanges
            | Self::BatchItemFailures
            | Self::BatchRecordsHandedOn
            | Self::ImmutaRequests
            | Self::ImmutaRetries
            | Self::DatabaseRetries
            | Self::Webhooks
            | Self::ColdStart => Kind::Total,
            _ => Kind::Values,
        }
    }
}

/// Dimension names (each metric's documentation says which it has). Every metric also has
/// [`FUNCTION_NAME`], so that two stacks in one account stay apart.
pub mod dimension {
    pub const FUNCTION_NAME: &str = "FunctionName";
    pub const ACTION: &str = "Action";
    pub const ENDPOINT: &str = "Endpoint";
    pub const OUTCOME: &str = "Outcome";
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../template.yaml");

    /// Each `"ImmutaViewSync", "Name", "Dim", value, ...` metric of the template's dashboard, and
    /// each `SEARCH('{ImmutaViewSync,Dim,...} MetricName="Name"` of its expressions, as (name,
    /// sorted dimension names).
    fn metrics_in_template() -> Vec<(String, Vec<String>)> {
        let mut found = Vec::new();
        for line in TEMPLATE.lines() {
            if let Some(rest) = line.split(r#"["ImmutaViewSync", ""#).nth(1) {
                let fields: Vec<&str> = rest.split(", ").collect();
                let name = fields[0].trim_end_matches('"').to_owned();
                // Dimension name, value, name, value, ... up to the options object.
                let mut dimensions: Vec<String> = fields[1..]
                    .iter()
                    .take_while(|f| !f.starts_with('{'))
                    .step_by(2)
                    .map(|f| f.trim_matches('"').to_owned())
                    .collect();
                dimensions.sort();
                found.push((name, dimensions));
            }
            if let Some(rest) = line.split("SEARCH('{ImmutaViewSync,").nth(1) {
                let (schema, rest) = rest.split_once('}').unwrap();
                let name = rest
                    .split(r#"MetricName=\""#)
                    .nth(1)
                    .and_then(|r| r.split('\\').next())
                    .unwrap()
                    .to_owned();
                let mut dimensions: Vec<String> = schema.split(',').map(str::to_owned).collect();
                dimensions.sort();
                found.push((name, dimensions));
            }
        }
        found
    }

    #[test]
    fn the_dashboard_names_our_metrics_with_their_dimensions() {
        let found = metrics_in_template();
        for (name, dimensions) in &found {
            let metric = Metric::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("template.yaml: {name} is not a metric we emit"));
            let mut expected: Vec<String> = metric
                .dimensions()
                .iter()
                .chain(&[dimension::FUNCTION_NAME])
                .map(|d| (*d).to_owned())
                .collect();
            expected.sort();
            assert_eq!(dimensions, &expected, "template.yaml: {name}'s dimensions");
        }
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        for shown in ["FreshnessLag", "ViewChanges", "Webhooks", "ImmutaRequests"] {
            assert!(
                names.contains(&shown),
                "the dashboard shows {shown}: {names:?}"
            );
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
    }
}
