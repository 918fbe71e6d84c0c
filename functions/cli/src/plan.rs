//! `view-sync plan`: what a full re-sync would do now, applying nothing. Every project a re-sync
//! would reconcile is read from Immuta as the processor reads it; each view that would be
//! created, replaced (with a diff of its SQL), restored from drift or dropped is listed.

use std::fmt::Write;
use std::time::Instant;

use processor::{PlannedChange, Preview, ReconcileError, Reconciler};
use serde_json::{Value, json};
use view_sync_core::dialect::Dialect;
use view_sync_core::plan::{Decision, Drift};
use view_sync_core::printable::printable;
use view_sync_core::profile;
use view_sync_core::sql_diff::{self, DiffLine};
use view_sync_core::time::format_utc;

use crate::progress::Progress;
use crate::resync;

/// What a full re-sync would do now.
pub async fn plan(reconciler: &Reconciler, deadline: Instant) -> Result<Preview, ReconcileError> {
    let projects = resync::projects(reconciler, deadline).await?;
    let keys: Vec<_> = resync::project_keys(&projects).collect();
    let mut progress = Progress::new("projects read", Some(keys.len() as u64));
    let preview = reconciler
        .preview(&keys, deadline, |read| progress.set(read as u64))
        .await;
    progress.finish();
    Ok(preview)
}

/// The action the plan would take on one view, worded as an operator reads a plan: the
/// imperative of [`Decision::action`], which the audit trail records once it is done.
fn planned_action(change: &PlannedChange) -> &'static str {
    match change.decision {
        Decision::Create => "create",
        Decision::Replace { .. } => "replace",
        Decision::Restore { .. } => "restore",
        Decision::Drop { .. } => "drop",
        Decision::Superseded { .. } => "skip",
        _ => "keep",
    }
}

fn reason(change: &PlannedChange) -> String {
    if let Some(blockers) = &change.blocked_by {
        return format!(
            "it is closed (it shows no rows): {} while objects we do not manage depend on it: {}",
            match change.decision {
                Decision::Drop { .. } => "it cannot be dropped",
                _ => "its new definition cannot replace the old one in place",
            },
            printable(blockers)
        );
    }
    match &change.decision {
        Decision::Restore { drift } => match drift {
            Drift::Edited => "its definition was changed by hand".into(),
            Drift::Missing => "it was dropped by hand".into(),
            Drift::Grants => {
                "who may read it was changed by hand (a grant revoked, or one added)".into()
            }
            Drift::Unverified => {
                "it was applied by an earlier version and is re-applied once to be verified".into()
            }
        },
        Decision::Replace {
            previous_name: Some(previous),
        } => format!("renamed from {previous}"),
        Decision::Replace { .. } if change.same_sql() => {
            "the roles that may read it changed (VIEW_GRANT_ROLES, or the project's name)".into()
        }
        Decision::Replace { .. } => "its SQL changed in Immuta".into(),
        Decision::Create => "Immuta wants it and it does not exist".into(),
        Decision::Drop { .. } => "Immuta no longer wants it".into(),
        Decision::Superseded {
            applied_observed_at,
        } => format!(
            "its ledger row holds a decision observed later ({}) than this read: \
             a newer read wins, so nothing is changed",
            format_utc(*applied_observed_at)
        ),
        _ => String::new(),
    }
}

fn diff(change: &PlannedChange, dialect: Dialect) -> Vec<DiffLine> {
    match (&change.decision, &change.old_sql, &change.new_sql) {
        (Decision::Replace { .. } | Decision::Restore { .. }, Some(old), Some(new)) => {
            sql_diff::diff_statements(old, new, profile::of(dialect).parser())
        }
        _ => Vec::new(),
    }
}

pub fn to_text(preview: &Preview, dialect: Dialect) -> String {
    let mut out = String::new();
    let changing = preview.views_changing();
    if changing == 0 && preview.failures.is_empty() {
        out.push_str("nothing to change: every view is as Immuta wants it\n");
    }
    for change in &preview.changes {
        let _ = writeln!(
            out,
            "{} {} (project {}, data source {}): {}",
            planned_action(change),
            printable(&change.view_name),
            printable(change.view.project_id.as_str()),
            printable(change.view.data_source_id.as_str()),
            printable(&reason(change))
        );
        let lines = diff(change, dialect);
        if lines.iter().any(|l| !matches!(l, DiffLine::Same(_))) {
            for line in &lines {
                let _ = writeln!(out, "    {}", printable(&line.to_text()));
            }
        } else if let (Decision::Create | Decision::Restore { .. }, Some(sql)) =
            (&change.decision, &change.new_sql)
        {
            // Each line of the SQL indented under its view: a line of it cannot pass for a line
            // of the plan.
            for line in sql.lines() {
                let _ = writeln!(out, "    {}", printable(line));
            }
        }
    }
    for (key, error) in &preview.failures {
        let _ = writeln!(
            out,
            "could not plan {}: {}",
            printable(&key.to_string()),
            printable(&error.to_string())
        );
    }
    if changing > 0 {
        let _ = writeln!(
            out,
            "{changing} view(s) would change; `view-sync resync` applies them"
        );
    }
    out
}

pub fn to_json(preview: &Preview, dialect: Dialect) -> Value {
    let changes: Vec<Value> = preview
        .changes
        .iter()
        .map(|change| {
            let drift = match &change.decision {
                Decision::Restore { drift } => Some(drift.as_str()),
                _ => None,
            };
            json!({
                "action": planned_action(change),
                "view": change.view_name,
                "projectId": change.view.project_id.as_str(),
                "dataSourceId": change.view.data_source_id.as_str(),
                "reason": reason(change),
                "drift": drift,
                "sql": change.new_sql,
                "statements": change.statements,
                "blockedBy": change.blocked_by,
                "diff": diff(change, dialect).iter().map(DiffLine::to_text).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failures: Vec<Value> = preview
        .failures
        .iter()
        .map(|(key, error)| json!({"key": key.to_string(), "error": error.to_string()}))
        .collect();
    json!({"changes": changes, "failures": failures})
}

#[cfg(test)]
mod tests {
    use view_sync_core::Id;
    use view_sync_core::keys::ReconcileKey;
    use view_sync_core::plan::ViewKey;

    use super::*;

    fn change(decision: Decision, blocked_by: Option<&str>) -> PlannedChange {
        PlannedChange {
            view: ViewKey {
                project_id: Id::new("10").unwrap(),
                data_source_id: Id::new("20").unwrap(),
            },
            view_name: "\"public\".\"sales__orders\"".into(),
            decision,
            old_sql: Some("CREATE VIEW \"public\".\"sales__orders\" AS SELECT 1 AS a".into()),
            new_sql: Some("CREATE VIEW \"public\".\"sales__orders\" AS SELECT 'x' AS a".into()),
            statements: vec![
                "CREATE OR REPLACE VIEW \"public\".\"sales__orders\" AS SELECT 'x' AS a".into(),
            ],
            blocked_by: blocked_by.map(str::to_owned),
        }
    }

    #[test]
    fn a_superseded_decision_is_listed_as_skipped_and_not_counted_as_a_change() {
        let preview = Preview {
            changes: vec![
                change(
                    Decision::Superseded {
                        applied_observed_at: 1_764_000_000_000_000,
                    },
                    None,
                ),
                change(Decision::Create, None),
            ],
            failures: Vec::new(),
        };
        let text = to_text(&preview, Dialect::Postgres);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "skip \"public\".\"sales__orders\" (project 10, data source 20): its ledger row holds \
             a decision observed later (2025-11-24T16:00:00.000Z) than this read: a newer read \
             wins, so nothing is changed"
        );
        assert_eq!(
            lines.last(),
            Some(&"1 view(s) would change; `view-sync resync` applies them")
        );
        let json = to_json(&preview, Dialect::Postgres);
        assert_eq!(json["changes"][0]["action"], "skip");
        // Only a skipped view: nothing changes (and `view-sync plan` exits 0).
        let only_skipped = Preview {
            changes: preview.changes[..1].to_vec(),
            failures: Vec::new(),
        };
        assert_eq!(only_skipped.views_changing(), 0);
        let text = to_text(&only_skipped, Dialect::Postgres);
        assert!(
            text.starts_with("nothing to change: every view is as Immuta wants it\nskip "),
            "{text}"
        );
        assert!(!text.contains("would change"), "{text}");
        assert_eq!(
            json["changes"][1]["statements"],
            json!(["CREATE OR REPLACE VIEW \"public\".\"sales__orders\" AS SELECT 'x' AS a"])
        );
    }

    #[test]
    fn a_closed_view_is_planned_with_what_blocks_it() {
        let preview = Preview {
            changes: vec![change(
                Decision::Replace {
                    previous_name: None,
                },
                Some("view analytics.mine (owner bob)"),
            )],
            failures: Vec::new(),
        };
        let text = to_text(&preview, Dialect::Postgres);
        assert!(
            text.starts_with(
                "replace \"public\".\"sales__orders\" (project 10, data source 20): it is closed \
                 (it shows no rows): its new definition cannot replace the old one in place while \
                 objects we do not manage depend on it: view analytics.mine (owner bob)\n"
            ),
            "{text}"
        );
        let json = to_json(&preview, Dialect::Postgres);
        assert_eq!(
            json["changes"][0]["blockedBy"],
            "view analytics.mine (owner bob)"
        );
        let drop = to_text(
            &Preview {
                changes: vec![change(
                    Decision::Drop {
                        name: "\"public\".\"sales__orders\"".into(),
                    },
                    Some("view a.b (owner c)"),
                )],
                failures: Vec::new(),
            },
            Dialect::Postgres,
        );
        assert!(
            drop.contains("it cannot be dropped while objects"),
            "{drop}"
        );
        let open = to_text(
            &Preview {
                changes: vec![change(Decision::Create, None)],
                failures: Vec::new(),
            },
            Dialect::Postgres,
        );
        assert!(!open.contains("closed"), "{open}");
    }

    const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J";

    fn hostile_change(decision: Decision) -> PlannedChange {
        PlannedChange {
            view: ViewKey {
                project_id: Id::new("1\u{202e}0").unwrap(),
                data_source_id: Id::new("20").unwrap(),
            },
            view_name: format!("\"public\".\"a\u{202e}gpj{HOSTILE}\""),
            decision,
            old_sql: Some("CREATE VIEW \"public\".\"v\" AS SELECT 'x' AS a".into()),
            new_sql: Some(format!(
                "CREATE VIEW \"public\".\"v\" AS SELECT '{HOSTILE}' AS a\nFROM t"
            )),
            statements: Vec::new(),
            blocked_by: None,
        }
    }

    #[test]
    fn names_sql_and_errors_from_outside_are_shown_escaped_not_obeyed() {
        let failure = (
            ReconcileKey::Project {
                project_id: Id::new("3\u{7}").unwrap(),
            },
            ReconcileError::Immuta(immuta::ImmutaError::Status {
                path: "/project/3".into(),
                status: 500,
                body: format!("{HOSTILE}\nnothing to change: every view is as Immuta wants it"),
            }),
        );
        let preview = Preview {
            changes: vec![
                hostile_change(Decision::Create),
                hostile_change(Decision::Replace {
                    previous_name: Some(format!("old{HOSTILE}")),
                }),
            ],
            failures: vec![failure],
        };
        let text = to_text(&preview, Dialect::Postgres);
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "create \"public\".\"a\\u{202e}gpj\\u{1b}]0;owned\\u{7}\\u{1b}[2J\" (project \
                 1\\u{202e}0, data source 20): Immuta wants it and it does not exist",
                "    CREATE VIEW \"public\".\"v\" AS SELECT '\\u{1b}]0;owned\\u{7}\\u{1b}[2J' AS a",
                "    FROM t",
            ],
            "{text}"
        );
        assert!(
            lines[3].starts_with("replace \"public\".\"a\\u{202e}gpj")
                && lines[3].ends_with(": renamed from old\\u{1b}]0;owned\\u{7}\\u{1b}[2J"),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("    + ") && l.contains("'\\u{1b}]0;owned\\u{7}\\u{1b}[2J'")),
            "the diff: {text}"
        );
        assert!(
            text.contains(
                "could not plan project:3\\u{7}: Immuta answered 500 for /project/3: \
                 \\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{a}nothing to change: every view is as Immuta \
                 wants it\n"
            ),
            "{text}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("nothing to change")),
            "{text}"
        );
        let json = to_json(&preview, Dialect::Postgres);
        assert_eq!(
            json["changes"][0]["view"],
            format!("\"public\".\"a\u{202e}gpj{HOSTILE}\"")
        );
        assert!(
            json["failures"][0]["error"]
                .as_str()
                .unwrap()
                .contains(HOSTILE)
        );
    }
}
