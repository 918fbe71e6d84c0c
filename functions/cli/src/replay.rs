//! Replays failed deliveries: Immuta gives a receiver 10 s and does not retry on its own, so
//! deliveries that failed (receiver down, queue unavailable) stay in its webhook history until
//! someone asks for them again. Only this system's webhook is replayed, each notification once,
//! and none that a later delivery (an earlier replay) already brought through.

use std::collections::BTreeSet;
use std::time::Instant;

use immuta::webhooks::{Delivery, HistoryFilter};
use immuta::{ImmutaClient, ImmutaError};
use serde_json::{Value, json};
use view_sync_core::Id;
use view_sync_core::printable::printable;
use view_sync_core::time::parse_rfc3339_utc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Each replayed delivery and the status the receiver answered the retry with.
    pub replayed: Vec<(Id, Option<u16>)>,
    /// Failed deliveries whose notification a later delivery brought through: left alone.
    pub already_delivered: usize,
    /// Failed deliveries from before `--since`: left alone.
    pub older: usize,
    /// Failed deliveries of other webhooks, left alone.
    pub other_webhooks: usize,
}

impl ReplayReport {
    pub fn to_text(&self, webhook_name: &str, dry_run: bool) -> String {
        let mut text = String::new();
        for (id, status) in &self.replayed {
            let id = printable(id.as_str());
            text.push_str(&match status {
                Some(status) => format!("delivery {id}: resent, the receiver answered {status}\n"),
                None => format!("delivery {id}: would be resent\n"),
            });
        }
        text.push_str(&format!(
            "{} failed deliveries of {webhook_name}{}; {} delivered later and {} older left alone; \
             {} of other webhooks left alone\n",
            self.replayed.len(),
            if dry_run { " (dry run)" } else { " resent" },
            self.already_delivered,
            self.older,
            self.other_webhooks
        ));
        text
    }

    pub fn to_json(&self, webhook_name: &str, dry_run: bool) -> Value {
        let replayed: Vec<Value> = self
            .replayed
            .iter()
            .map(|(id, status)| json!({"deliveryId": id.as_str(), "receiverStatus": status}))
            .collect();
        json!({
            "webhook": webhook_name,
            "dryRun": dry_run,
            "replayed": replayed,
            "alreadyDelivered": self.already_delivered,
            "older": self.older,
            "otherWebhooks": self.other_webhooks,
        })
    }
}

/// This webhook's deliveries, in the history's order.
pub fn ours<'a>(
    history: &'a [Delivery],
    webhook_name: &'a str,
) -> impl Iterator<Item = &'a Delivery> + 'a {
    history
        .iter()
        .filter(move |d| d.webhook_name.as_deref() == Some(webhook_name))
}

/// Whether `delivery` was made before `since` (a delivery without a readable time is not).
pub fn before(delivery: &Delivery, since: Option<i64>) -> bool {
    match (
        since,
        delivery.created_at.as_deref().and_then(parse_rfc3339_utc),
    ) {
        (Some(since), Some(at)) => at < since,
        _ => false,
    }
}

/// The notifications (activities) of `webhook_name` that some delivery brought through.
pub fn delivered_activities(history: &[Delivery], webhook_name: &str) -> BTreeSet<Id> {
    ours(history, webhook_name)
        .filter(|d| d.succeeded())
        .filter_map(|d| d.activity_id.clone())
        .collect()
}

pub async fn replay(
    client: &ImmutaClient,
    webhook_name: &str,
    dry_run: bool,
    since: Option<i64>,
    deadline: Instant,
    mut progress: impl FnMut(usize, usize),
) -> Result<ReplayReport, ImmutaError> {
    let history = client.deliveries(HistoryFilter::All, deadline).await?;
    let delivered = delivered_activities(&history, webhook_name);
    let mut report = ReplayReport::default();
    let mut to_replay: Vec<&Delivery> = Vec::new();
    let mut chosen: BTreeSet<Id> = BTreeSet::new();
    for delivery in history.iter().filter(|d| !d.succeeded()) {
        if delivery.webhook_name.as_deref() != Some(webhook_name) {
            report.other_webhooks += 1;
        } else if before(delivery, since) {
            report.older += 1;
        } else if delivery.activity_id.as_ref().is_some_and(|activity| {
            delivered.contains(activity) || !chosen.insert(activity.clone())
        }) {
            report.already_delivered += 1;
        } else {
            to_replay.push(delivery);
        }
    }
    for (done, delivery) in to_replay.iter().enumerate() {
        // A replay costs one extra reconcile at most: the processor re-reads Immuta anyway.
        let status = if dry_run {
            None
        } else {
            client
                .retry_delivery(&delivery.id, deadline)
                .await?
                .status_code
        };
        report.replayed.push((delivery.id.clone(), status));
        progress(done + 1, to_replay.len());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_from_immuta_are_shown_escaped_not_obeyed() {
        let report = ReplayReport {
            replayed: vec![
                (Id::new("1\u{1b}[2J").unwrap(), Some(200)),
                (Id::new("a\u{202e}gpj\nnext").unwrap(), None),
            ],
            ..ReplayReport::default()
        };
        let text = report.to_text("immuta-view-sync", false);
        assert_eq!(
            text,
            "delivery 1\\u{1b}[2J: resent, the receiver answered 200\n\
             delivery a\\u{202e}gpj\\u{a}next: would be resent\n\
             2 failed deliveries of immuta-view-sync resent; 0 delivered later and 0 older left \
             alone; 0 of other webhooks left alone\n"
        );
        assert!(!text.contains(['\u{1b}', '\u{202e}']));
        let json = report.to_json("immuta-view-sync", false);
        assert_eq!(json["replayed"][1]["deliveryId"], "a\u{202e}gpj\nnext");
    }
}
