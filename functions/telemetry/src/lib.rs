//! Logs and metrics as CloudWatch wants them: one JSON object a line.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub mod emf;
pub mod metric;

pub use emf::Recorded;
pub use metric::{Metric, Unit, dimension};

/// CloudWatch namespace of every metric this project emits.
pub const NAMESPACE: &str = "ImmutaViewSync";

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Installs a JSON `tracing` subscriber: one object a line, with the fields of the enclosing
/// spans (the Lambda runtime's span carries the request id). `RUST_LOG` filters by target and
/// level (`warn`, `info,sqlx=warn`; default `info`); a value that does not parse falls back to
/// `info` and says so in the log. Calling it twice is harmless (tests do). Call it first in
/// `main`: it also notes the process's start, from which the first invocation's `InitDuration`
/// is measured.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let _ = PROCESS_START.set(Instant::now());
    let (filter, unparsed) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .finish()
        .with(filter)
        .try_init();
    if let (Ok(()), Some(error)) = (installed, unparsed) {
        tracing::warn!(%error, "RUST_LOG does not parse; logging at info");
    }
}

/// The filter `RUST_LOG` asks for: `target=level` directives as `tracing_subscriber`'s
/// `Targets` reads them (not `EnvFilter`'s span and field directives: that filter's regex engine
/// would be the largest part of the log code in both packages).
fn log_filter(rust_log: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    let default = || {
        tracing_subscriber::filter::Targets::new()
            .with_default(tracing_subscriber::filter::LevelFilter::INFO)
    };
    match rust_log.map(str::trim).filter(|value| !value.is_empty()) {
        None => (default(), None),
        Some(value) => match value.parse() {
            Ok(filter) => (filter, None),
            Err(error) => (default(), Some(error.to_string())),
        },
    }
}

/// Records a value of `metric` in the current invocation's metrics (see [`invocation`]). Outside
/// an invocation (the CLI, tests that drive a handler directly) it does nothing.
pub fn record(metric: Metric, value: f64, dimensions: &[(&'static str, &str)]) {
    let _ = CURRENT.try_with(|recorded| {
        recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(metric, value, dimensions);
    });
}

/// One occurrence of `metric`.
pub fn count(metric: Metric, dimensions: &[(&'static str, &str)]) {
    record(metric, 1.0, dimensions);
}

/// Milliseconds since `start`, as a metric value.
pub fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1_000.0
}

tokio::task_local! {
    // Task-local rather than global: each invocation reports exactly what it recorded, even when
    // a test runs several handlers at once in one process, and the Immuta and database code
    // records without a handle passed down to it. Nothing on that path spawns tasks.
    static CURRENT: Arc<Mutex<Recorded>>;
}

/// Runs `work` with metrics of its own: returns its output and what it recorded.
pub async fn collect<F: Future>(work: F) -> (F::Output, Recorded) {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let output = CURRENT.scope(Arc::clone(&recorded), work).await;
    let recorded = std::mem::take(&mut *recorded.lock().unwrap_or_else(PoisonError::into_inner));
    (output, recorded)
}

/// Runs one Lambda invocation: collects its metrics (on the process's first invocation also
/// `ColdStart` and `InitDuration`) and writes them to stdout as EMF documents, one a line, where
/// Lambda's log agent extracts them. Outside Lambda (no `AWS_LAMBDA_FUNCTION_NAME`) nothing
/// would read them, so nothing is written.
pub async fn invocation<F: Future>(request_id: &str, work: F) -> F::Output {
    static WARM: AtomicBool = AtomicBool::new(false);
    let started = Instant::now();
    let (output, mut recorded) = collect(work).await;
    if !WARM.swap(true, Ordering::Relaxed) {
        recorded.record(Metric::ColdStart, 1.0, &[]);
        if let Some(process_start) = PROCESS_START.get() {
            let init = started.saturating_duration_since(*process_start);
            recorded.record(Metric::InitDuration, init.as_secs_f64() * 1_000.0, &[]);
        }
    }
    if let Some(function_name) = lambda_function_name() {
        write_documents(&recorded, function_name, request_id);
    }
    output
}

fn lambda_function_name() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok())
        .as_deref()
}

fn write_documents(recorded: &Recorded, function_name: &str, request_id: &str) {
    let timestamp_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let documents = recorded.documents(
        timestamp_ms,
        &[(dimension::FUNCTION_NAME, function_name)],
        &[("requestId", request_id)],
    );
    let mut lines = String::new();
    for document in documents {
        lines.push_str(&document.to_string());
        lines.push('\n');
    }
    // `print!` rather than a raw stdout handle so that test harnesses capture it.
    print!("{lines}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invocation_collects_what_its_own_work_records() {
        let work = |action: &'static str| async move {
            count(Metric::ViewChanges, &[(dimension::ACTION, action)]);
            tokio::task::yield_now().await;
            count(Metric::ViewChanges, &[(dimension::ACTION, action)]);
        };
        // Two invocations at once in one process keep their metrics apart.
        let ((_, a), (_, b)) = tokio::join!(collect(work("created")), collect(work("dropped")));
        assert_eq!(
            a.values(Metric::ViewChanges, &[(dimension::ACTION, "created")]),
            [2.0]
        );
        assert_eq!(a.total(Metric::ViewChanges, &[]), 2.0);
        assert_eq!(
            b.values(Metric::ViewChanges, &[(dimension::ACTION, "dropped")]),
            [2.0]
        );
        // Outside an invocation a recording goes nowhere (and does not panic).
        count(Metric::ViewChanges, &[]);
    }

    #[test]
    fn rust_log_filters_by_target_and_level() {
        use tracing_subscriber::filter::LevelFilter;

        let (filter, unparsed) = log_filter(Some("warn,processor::reconcile=debug"));
        assert_eq!(unparsed, None);
        assert!(filter.would_enable("processor::reconcile", &tracing::Level::DEBUG));
        assert!(!filter.would_enable("sqlx::query", &tracing::Level::INFO));
        assert!(filter.would_enable("sqlx::query", &tracing::Level::WARN));

        for unset in [None, Some(""), Some("  ")] {
            let (filter, unparsed) = log_filter(unset);
            assert_eq!(
                (filter.default_level(), unparsed),
                (Some(LevelFilter::INFO), None)
            );
        }

        let (filter, unparsed) = log_filter(Some("processor=loud"));
        assert_eq!(filter.default_level(), Some(LevelFilter::INFO));
        assert!(unparsed.is_some_and(|error| !error.is_empty()));
    }
}
