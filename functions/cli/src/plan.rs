//! `view-sync plan`: what a full re-sync would do now, applying nothing. Every project a re-sync
//! would reconcile is read from Immuta as the processor reads it; each view that would be
//! created, replaced (with a diff of its SQL), restored from drift or dropped is listed.

use std::fmt::Write;
use std::time::Instant;

use processor::{PlannedChange, Preview, ReconcileError, Reconciler};
use serde_json::{Value, json};
use view_sync_core::dialect::Dialect;
use view_sync_core::plan::{Decision, Drift};
use view_sync_core::sql_diff::{self, DiffLine};

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

/// What the plan would do to one view, as an operator reads it.
fn verb(change: &PlannedChange) -> &'static str {
    match change.decision {
        Decision::Create => "create",
        Decision::Replace { .. } => "replace",
        Decision::Restore { .. } => "restore",
        Decision::Drop { .. } => "drop",
        _ => "keep",
    }
}

fn reason(change: &PlannedChange) -> String {
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
        _ => String::new(),
    }
}

fn diff(change: &PlannedChange, dialect: Dialect) -> Vec<DiffLine> {
    match (&change.decision, &change.old_sql, &change.new_sql) {
        (Decision::Replace { .. } | Decision::Restore { .. }, Some(old), Some(new)) => {
            sql_diff::diff_statements(old, new, dialect)
        }
        _ => Vec::new(),
    }
}

pub fn to_text(preview: &Preview, dialect: Dialect) -> String {
    let mut out = String::new();
    if preview.changes.is_empty() && preview.failures.is_empty() {
        out.push_str("nothing to change: every view is as Immuta wants it\n");
    }
    for change in &preview.changes {
        let _ = writeln!(
            out,
            "{} {} (project {}, data source {}): {}",
            verb(change),
            change.view_name,
            change.view.project_id,
            change.view.data_source_id,
            reason(change)
        );
        let lines = diff(change, dialect);
        if lines.iter().any(|l| !matches!(l, DiffLine::Same(_))) {
            for line in &lines {
                let _ = writeln!(out, "    {}", line.to_text());
            }
        } else if let (Decision::Create | Decision::Restore { .. }, Some(sql)) =
            (&change.decision, &change.new_sql)
        {
            let _ = writeln!(out, "    {sql}");
        }
    }
    for (key, error) in &preview.failures {
        let _ = writeln!(out, "could not plan {key}: {error}");
    }
    if !preview.changes.is_empty() {
        let _ = writeln!(
            out,
            "{} view(s) would change; `view-sync resync` applies them",
            preview.changes.len()
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
                "action": verb(change),
                "view": change.view_name,
                "projectId": change.view.project_id.as_str(),
                "dataSourceId": change.view.data_source_id.as_str(),
                "reason": reason(change),
                "drift": drift,
                "sql": change.new_sql,
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
