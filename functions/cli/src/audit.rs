//! `view-sync audit`: the audit trail beside the ledger (see `views::audit`), as a person or a
//! script reads it.

use std::fmt::Write;

use serde_json::{Value, json};
use views::AuditEntry;

use view_sync_core::time::format_utc;

pub fn to_text(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("no changes recorded for this query\n");
    }
    for entry in entries {
        let _ = write!(
            out,
            "{} {:<10} {} (project {}, data source {})",
            format_utc(entry.applied_at),
            entry.action,
            entry.view_name,
            entry.view.project_id,
            entry.view.data_source_id,
        );
        if !entry.detail.is_empty() {
            let _ = write!(out, " {}", entry.detail);
        }
        let _ = write!(out, "; cause: {}", entry.origin);
        if !entry.notification_types.is_empty() {
            let _ = write!(out, " {}", entry.notification_types.join(", "));
        }
        if !entry.message_ids.is_empty() {
            let _ = write!(out, " (messages {})", entry.message_ids.join(", "));
        }
        if !entry.request_id.is_empty() {
            let _ = write!(out, ", request {}", entry.request_id);
        }
        out.push('\n');
    }
    out
}

pub fn to_json(entries: &[AuditEntry]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| {
            json!({
                "appliedAt": format_utc(entry.applied_at),
                "action": entry.action,
                "view": entry.view_name,
                "projectId": entry.view.project_id.as_str(),
                "dataSourceId": entry.view.data_source_id.as_str(),
                "detail": entry.detail,
                "oldDigest": entry.old_digest,
                "newDigest": entry.new_digest,
                "observedAt": format_utc(entry.observed_at),
                "cause": entry.origin,
                "messageIds": entry.message_ids,
                "notificationTypes": entry.notification_types,
                "requestId": entry.request_id,
            })
        })
        .collect();
    json!({ "entries": entries })
}
