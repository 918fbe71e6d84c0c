//! Replays failed deliveries: Immuta gives a receiver 10 s and does not retry on its own, so
//! deliveries that failed (receiver down, queue unavailable) stay in its webhook history until
//! someone asks for them again. Only this system's webhook is replayed.

use std::time::Instant;

use immuta::{ImmutaClient, ImmutaError};
use view_sync_core::Id;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Each replayed delivery and the status the receiver answered the retry with.
    pub replayed: Vec<(Id, Option<u16>)>,
    /// Failed deliveries of other webhooks, left alone.
    pub other_webhooks: usize,
}

pub async fn replay(
    client: &ImmutaClient,
    webhook_name: &str,
    dry_run: bool,
    deadline: Instant,
) -> Result<ReplayReport, ImmutaError> {
    let failed = client.failed_deliveries(deadline).await?;
    let mut report = ReplayReport::default();
    for delivery in failed {
        if delivery.webhook_name.as_deref() != Some(webhook_name) {
            report.other_webhooks += 1;
            continue;
        }
        // A replay costs one extra reconcile at most: the processor re-reads Immuta anyway.
        let status = if dry_run {
            None
        } else {
            client
                .retry_delivery(&delivery.id, deadline)
                .await?
                .status_code
        };
        report.replayed.push((delivery.id, status));
    }
    Ok(report)
}
