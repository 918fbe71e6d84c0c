//! `view-sync audit`: the audit trail beside the ledger (see `views::audit`), as a person or a
//! script reads it.

use std::fmt::Write;

use serde_json::{Value, json};
use view_sync_core::printable::printable;
use views::AuditEntry;

use view_sync_core::time::format_utc;

pub fn to_text(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("no changes recorded for this query\n");
    }
    // Every column was read from the database, where anyone who can write the table put it.
    for entry in entries {
        let _ = write!(
            out,
            "{} {:<10} {} (project {}, data source {})",
            format_utc(entry.applied_at),
            printable(&entry.action),
            printable(&entry.view_name),
            printable(entry.view.project_id.as_str()),
            printable(entry.view.data_source_id.as_str()),
        );
        if !entry.detail.is_empty() {
            let _ = write!(out, " {}", printable(&entry.detail));
        }
        let _ = write!(out, "; cause: {}", printable(&entry.origin));
        if !entry.notification_types.is_empty() {
            let _ = write!(out, " {}", printable_list(&entry.notification_types));
        }
        if !entry.message_ids.is_empty() {
            let _ = write!(out, " (messages {})", printable_list(&entry.message_ids));
        }
        if !entry.request_id.is_empty() {
            let _ = write!(out, ", request {}", printable(&entry.request_id));
        }
        out.push('\n');
    }
    out
}

fn printable_list(items: &[String]) -> String {
    printable(&items.join(", ")).into_owned()
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

#[cfg(test)]
mod tests {
    use view_sync_core::Id;
    use view_sync_core::plan::ViewKey;

    use super::*;

    const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J";

    fn entry() -> AuditEntry {
        AuditEntry {
            applied_at: 0,
            view: ViewKey {
                project_id: Id::new("10").unwrap(),
                data_source_id: Id::new("2\u{202e}0").unwrap(),
            },
            view_name: format!("\"public\".\"v{HOSTILE}\""),
            action: "created".into(),
            detail: "drift: edited\nno changes recorded for this query".into(),
            old_digest: String::new(),
            new_digest: String::new(),
            observed_at: 0,
            origin: "webhook".into(),
            message_ids: vec!["m\u{7}1".into(), "m2".into()],
            notification_types: vec!["a\u{202e}gpj".into()],
            request_id: "r\u{9b}1".into(),
        }
    }

    #[test]
    fn what_the_database_holds_is_shown_escaped_not_obeyed() {
        let text = to_text(&[entry()]);
        assert_eq!(
            text,
            "1970-01-01T00:00:00.000Z created    \"public\".\"v\\u{1b}]0;owned\\u{7}\\u{1b}[2J\" \
             (project 10, data source 2\\u{202e}0) drift: edited\\u{a}no changes recorded for \
             this query; cause: webhook a\\u{202e}gpj (messages m\\u{7}1, m2), request r\\u{9b}1\n"
        );
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}']));
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn json_keeps_what_the_database_holds_as_it_is() {
        let json = to_json(&[entry()]);
        assert_eq!(
            json["entries"][0]["view"],
            format!("\"public\".\"v{HOSTILE}\"")
        );
        assert_eq!(json["entries"][0]["dataSourceId"], "2\u{202e}0");
        assert_eq!(
            json["entries"][0]["detail"],
            "drift: edited\nno changes recorded for this query"
        );
    }
}
