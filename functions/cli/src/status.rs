//! `view-sync status`: the views managed per project and their last change, the views closed
//! because objects we do not manage depend on them (and those objects), the notifications still
//! failing (the oldest one's age), and the depth of the queue and the dead-letter queue.

use std::collections::BTreeMap;
use std::fmt::Write;

use queue::admin::Depth;
use serde_json::{Value, json};
use view_sync_core::plan::{LedgerRow, RowState};
use views::MessageFailure;

use view_sync_core::printable::printable;
use view_sync_core::time::format_utc;

#[derive(Debug, Clone, Default)]
pub struct ProjectStatus {
    pub views: usize,
    /// Microseconds since the Unix epoch.
    pub last_change: Option<i64>,
}

/// A view that shows no rows until what depends on it is dropped (see `views::closing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedView {
    pub project_id: String,
    pub data_source_id: String,
    pub view_name: String,
    pub blocked_by: String,
}

#[derive(Debug, Clone, Default)]
pub struct Status {
    pub projects: BTreeMap<String, ProjectStatus>,
    pub closed: Vec<ClosedView>,
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
        let closed = rows
            .iter()
            .filter(|r| r.state == RowState::Closed)
            .map(|r| ClosedView {
                project_id: r.view.project_id.as_str().to_owned(),
                data_source_id: r.view.data_source_id.as_str().to_owned(),
                view_name: r.view_name.clone(),
                blocked_by: r.blocked_by.clone(),
            })
            .collect();
        let oldest_failing = failures
            .iter()
            .min_by_key(|f| f.received_at_ms)
            .map(|f| (f.received_at_ms, f.error.clone()));
        Self {
            projects,
            closed,
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
                "  project {}: {} view(s), last change {last}",
                printable(project),
                status.views
            );
        }
        if !self.closed.is_empty() {
            let _ = writeln!(
                out,
                "{} view(s) closed (they show no rows) until what depends on them is dropped:",
                self.closed.len()
            );
            for closed in &self.closed {
                let _ = writeln!(
                    out,
                    "  {} (project {}, data source {}): blocked by {}",
                    printable(&closed.view_name),
                    printable(&closed.project_id),
                    printable(&closed.data_source_id),
                    printable(&closed.blocked_by)
                );
            }
        }
        match &self.oldest_failing {
            None => out.push_str("no notification is failing\n"),
            Some((received_at_ms, error)) => {
                let _ = writeln!(
                    out,
                    "{} notification(s) failing; the oldest was received {} ago: {}",
                    self.failing,
                    self.age(*received_at_ms),
                    printable(error)
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
        let closed: Vec<Value> = self
            .closed
            .iter()
            .map(|c| {
                json!({"view": c.view_name, "projectId": c.project_id, "dataSourceId": c.data_source_id, "blockedBy": c.blocked_by})
            })
            .collect();
        json!({
            "projects": projects,
            "closed": closed,
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

#[cfg(test)]
mod tests {
    use view_sync_core::Id;
    use view_sync_core::plan::ViewKey;

    use super::*;

    fn row(data_source: &str, state: RowState, blocked_by: &str) -> LedgerRow {
        LedgerRow {
            view: ViewKey {
                project_id: Id::new("10").unwrap(),
                data_source_id: Id::new(data_source).unwrap(),
            },
            view_name: format!("\"public\".\"v{data_source}\""),
            sql_digest: String::new(),
            state,
            observed_at: 1,
            catalog_digest: String::new(),
            grants_digest: String::new(),
            blocked_by: blocked_by.to_owned(),
        }
    }

    #[test]
    fn closed_views_are_listed_with_what_blocks_them() {
        let rows = [
            row("1", RowState::Present, ""),
            row(
                "2",
                RowState::Closed,
                "view analytics.mine (owner bob), temporary view pg_temp_3.\"x\u{1b}[2J\" (owner eve)",
            ),
        ];
        let status = Status::new(&rows, BTreeMap::new(), &[], 0);
        let text = status.to_text();
        assert!(
            text.starts_with("2 view(s) managed in 1 project(s)"),
            "{text}"
        );
        assert!(
            text.contains(
                "1 view(s) closed (they show no rows) until what depends on them is dropped:\n  \
                 \"public\".\"v2\" (project 10, data source 2): blocked by view analytics.mine (owner bob), \
                 temporary view pg_temp_3.\"x\\u{1b}[2J\" (owner eve)"
            ),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
        let json = status.to_json();
        assert_eq!(json["closed"][0]["dataSourceId"], "2");
        assert!(
            json["closed"][0]["blockedBy"]
                .as_str()
                .unwrap()
                .contains("analytics.mine")
        );
        let open = Status::new(&rows[..1], BTreeMap::new(), &[], 0);
        assert!(!open.to_text().contains("closed"));
    }

    #[test]
    fn what_the_database_holds_is_shown_escaped_not_obeyed() {
        let mut closed = row("2", RowState::Closed, "view x.\"y\u{7}\" (owner z)");
        closed.view.project_id = Id::new("1\u{202e}0").unwrap();
        closed.view_name = "\"public\".\"v\u{1b}]0;owned\u{7}\u{1b}[2J\"".into();
        let failure = MessageFailure {
            message_id: "m1".into(),
            asked: String::new(),
            error: "Immuta answered 500: \u{1b}[2J\nno notification is failing".into(),
            received_at_ms: 0,
            receive_count: 1,
            failed_at: 0,
        };
        let status = Status::new(
            &[closed],
            BTreeMap::from([("1\u{202e}0".to_owned(), 0)]),
            &[failure],
            0,
        );
        let text = status.to_text();
        assert_eq!(
            text,
            "1 view(s) managed in 1 project(s)\n  \
             project 1\\u{202e}0: 1 view(s), last change 1970-01-01T00:00:00.000Z\n\
             1 view(s) closed (they show no rows) until what depends on them is dropped:\n  \
             \"public\".\"v\\u{1b}]0;owned\\u{7}\\u{1b}[2J\" (project 1\\u{202e}0, data source 2): \
             blocked by view x.\"y\\u{7}\" (owner z)\n\
             1 notification(s) failing; the oldest was received 0 s ago: Immuta answered 500: \
             \\u{1b}[2J\\u{a}no notification is failing\n"
        );
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']));
        let json = status.to_json();
        assert_eq!(json["projects"][0]["projectId"], "1\u{202e}0");
        assert_eq!(json["closed"][0]["projectId"], "1\u{202e}0");
    }
}
