//! `view-sync status`: the views managed per project and their last change, the notifications
//! still failing (the oldest one's age), and the depth of the queue and the dead-letter queue.

use std::collections::BTreeMap;
use std::fmt::Write;

use queue::admin::Depth;
use serde_json::{Value, json};
use view_sync_core::plan::{LedgerRow, RowState};
use views::MessageFailure;

use view_sync_core::time::format_utc;

#[derive(Debug, Clone, Default)]
pub struct ProjectStatus {
    pub views: usize,
    /// Microseconds since the Unix epoch.
    pub last_change: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Status {
    pub projects: BTreeMap<String, ProjectStatus>,
    /// Messages the processor failed on and has not since applied.
    pub failing: usize,
    /// The oldest of them: when the receiver accepted it (milliseconds), and its error.
    pub oldest_failing: Option<(i64, String)>,
    pub queue: Option<Depth>,
    pub dead_letters: Option<Depth>,
    pub now_micros: i64,
}

impl Status {
    pub fn new(
        rows: &[LedgerRow],
        last_changes: BTreeMap<String, i64>,
        failures: &[MessageFailure],
        now_micros: i64,
    ) -> Self {
        let mut projects: BTreeMap<String, ProjectStatus> = BTreeMap::new();
        for row in rows.iter().filter(|r| r.state != RowState::Dropped) {
            projects
                .entry(row.view.project_id.as_str().to_owned())
                .or_default()
                .views += 1;
        }
        for (project, last_change) in last_changes {
            projects.entry(project).or_default().last_change = Some(last_change);
        }
        let oldest_failing = failures
            .iter()
            .min_by_key(|f| f.received_at_ms)
            .map(|f| (f.received_at_ms, f.error.clone()));
        Self {
            projects,
            failing: failures.len(),
            oldest_failing,
            now_micros,
            ..Self::default()
        }
    }

    fn age(&self, at_ms: i64) -> String {
        let seconds = (self.now_micros / 1_000 - at_ms).max(0) / 1_000;
        match seconds {
            s if s < 120 => format!("{s} s"),
            s if s < 7_200 => format!("{} min", s / 60),
            s if s < 172_800 => format!("{} h", s / 3_600),
            s => format!("{} days", s / 86_400),
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let views: usize = self.projects.values().map(|p| p.views).sum();
        let _ = writeln!(
            out,
            "{views} view(s) managed in {} project(s)",
            self.projects.len()
        );
        for (project, status) in &self.projects {
            let last = status
                .last_change
                .map(format_utc)
                .unwrap_or_else(|| "none recorded".into());
            let _ = writeln!(
                out,
                "  project {project}: {} view(s), last change {last}",
                status.views
            );
        }
        match &self.oldest_failing {
            None => out.push_str("no notification is failing\n"),
            Some((received_at_ms, error)) => {
                let _ = writeln!(
                    out,
                    "{} notification(s) failing; the oldest was received {} ago: {error}",
                    self.failing,
                    self.age(*received_at_ms)
                );
            }
        }
        if let Some(depth) = &self.queue {
            let _ = writeln!(
                out,
                "queue: {} waiting, {} being processed, {} delayed",
                depth.visible, depth.in_flight, depth.delayed
            );
        }
        if let Some(depth) = &self.dead_letters {
            let _ = writeln!(out, "dead-letter queue: {} message(s)", depth.total());
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let depth = |d: &Option<Depth>| {
            d.map(|d| json!({"visible": d.visible, "inFlight": d.in_flight, "delayed": d.delayed}))
        };
        let projects: Vec<Value> = self
            .projects
            .iter()
            .map(|(project, s)| {
                json!({"projectId": project, "views": s.views, "lastChange": s.last_change.map(format_utc)})
            })
            .collect();
        json!({
            "projects": projects,
            "failing": self.failing,
            "oldestFailing": self.oldest_failing.as_ref().map(|(ms, error)| json!({
                "receivedAt": format_utc(ms * 1_000),
                "ageSeconds": (self.now_micros / 1_000 - ms).max(0) / 1_000,
                "error": error,
            })),
            "queue": depth(&self.queue),
            "deadLetterQueue": depth(&self.dead_letters),
        })
    }
}
