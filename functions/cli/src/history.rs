//! `view-sync history`: this webhook's deliveries, from Immuta's webhook history.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::Instant;

use immuta::webhooks::{Delivery, HistoryFilter};
use immuta::{ImmutaClient, ImmutaError};
use serde_json::{Value, json};
use view_sync_core::Id;
use view_sync_core::printable::printable;

use crate::replay::{before, delivered_activities, ours};

/// One delivery, and whether a later one brought its notification through.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub delivery: Delivery,
    pub delivered_later: bool,
}

pub async fn history(
    client: &ImmutaClient,
    webhook_name: &str,
    failed_only: bool,
    since: Option<i64>,
    deadline: Instant,
) -> Result<Vec<HistoryEntry>, ImmutaError> {
    let history = client.deliveries(HistoryFilter::All, deadline).await?;
    let delivered: BTreeSet<Id> = delivered_activities(&history, webhook_name);
    Ok(ours(&history, webhook_name)
        .filter(|d| !before(d, since))
        .filter(|d| !failed_only || !d.succeeded())
        .map(|d| HistoryEntry {
            delivered_later: !d.succeeded()
                && d.activity_id
                    .as_ref()
                    .is_some_and(|a| delivered.contains(a)),
            delivery: d.clone(),
        })
        .collect())
}

fn status(delivery: &Delivery) -> String {
    delivery
        .status_code
        .map_or_else(|| "no answer".into(), |s| s.to_string())
}

pub fn to_text(entries: &[HistoryEntry], webhook_name: &str) -> String {
    let failed = entries.iter().filter(|e| !e.delivery.succeeded()).count();
    let mut out = format!(
        "{} deliveries of {webhook_name}, {failed} failed\n",
        entries.len()
    );
    for entry in entries {
        let d = &entry.delivery;
        let _ = write!(
            out,
            "{}  delivery {}  {}  {}",
            d.created_at
                .as_deref()
                .map_or("(no time)".into(), printable),
            printable(d.id.as_str()),
            d.notification_type
                .as_deref()
                .map_or("(no type)".into(), printable),
            status(d)
        );
        if !d.succeeded() {
            out.push_str(if entry.delivered_later {
                "  failed; delivered later"
            } else {
                "  failed; `view-sync replay` resends it"
            });
        }
        out.push('\n');
    }
    out
}

pub fn to_json(entries: &[HistoryEntry]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            let d = &e.delivery;
            json!({
                "deliveryId": d.id.as_str(),
                "activityId": d.activity_id.as_ref().map(Id::as_str),
                "createdAt": d.created_at,
                "notificationType": d.notification_type,
                "statusCode": d.status_code,
                "succeeded": d.succeeded(),
                "deliveredLater": e.delivered_later,
            })
        })
        .collect();
    json!({ "deliveries": entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: &str, notification_type: &str, created_at: &str) -> Delivery {
        Delivery {
            id: Id::new(id).unwrap(),
            notification_type: Some(notification_type.into()),
            status_code: Some(500),
            request: Value::Null,
            webhook_name: Some("immuta-view-sync".into()),
            created_at: Some(created_at.into()),
            activity_id: None,
        }
    }

    #[test]
    fn what_immuta_says_of_a_delivery_is_shown_escaped_not_obeyed() {
        let entries = [HistoryEntry {
            delivery: delivery(
                "7\u{202e}1",
                "\u{1b}]0;owned\u{7}\u{1b}[2J",
                "2026-01-01T00:00:00Z\n0 deliveries",
            ),
            delivered_later: false,
        }];
        let text = to_text(&entries, "immuta-view-sync");
        assert_eq!(
            text,
            "1 deliveries of immuta-view-sync, 1 failed\n\
             2026-01-01T00:00:00Z\\u{a}0 deliveries  delivery 7\\u{202e}1  \
             \\u{1b}]0;owned\\u{7}\\u{1b}[2J  500  failed; `view-sync replay` resends it\n"
        );
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']));
        let json = to_json(&entries);
        assert_eq!(
            json["deliveries"][0]["notificationType"],
            "\u{1b}]0;owned\u{7}\u{1b}[2J"
        );
        assert_eq!(json["deliveries"][0]["deliveryId"], "7\u{202e}1");
    }
}
