//! What the processor and the CLI read and write beside the views, through the store: each call
//! makes sure the store's tables exist ([`ViewStore::ensure_ledger`]), then asks the table's own
//! type on the pool.

use std::collections::{BTreeMap, BTreeSet};

use view_sync_core::Id;
use view_sync_core::plan::{LedgerRow, Scope, ViewKey};
use view_sync_core::reads::DisabledHint;
use view_sync_core::want::DisabledHints;

use crate::audit::{AuditEntry, AuditQuery};
use crate::error::ViewsError;
use crate::failures::MessageFailure;
use crate::handle::ViewStore;

impl ViewStore {
    /// Ledger rows in `scope`.
    pub async fn rows(&self, scope: &Scope) -> Result<Vec<LedgerRow>, ViewsError> {
        self.ensure_ledger().await?;
        self.ledger.rows(&self.pool, scope).await
    }

    /// The create statement last applied to `view`, if the ledger kept it (rows of an earlier
    /// version did not).
    pub async fn applied_sql(&self, view: &ViewKey) -> Result<Option<String>, ViewsError> {
        self.ensure_ledger().await?;
        self.ledger.applied_sql(&self.pool, view).await
    }

    /// The views the ledger says may exist (present or pending), as it refers to them.
    pub async fn views_in_ledger(&self) -> Result<BTreeSet<String>, ViewsError> {
        Ok(self
            .rows(&Scope::Everything)
            .await?
            .into_iter()
            .filter(|r| r.state.is_owned())
            .map(|r| r.view_name)
            .collect())
    }

    /// Marks each of `scopes` decided as of `observed_at` (see [`crate::marks`]).
    pub async fn mark_decided(&self, scopes: &[Scope], observed_at: i64) -> Result<(), ViewsError> {
        if scopes.iter().all(|scope| scope.mark().is_none()) {
            return Ok(());
        }
        self.ensure_ledger().await?;
        self.marks
            .mark_decided(&self.pool, scopes, observed_at)
            .await
    }

    /// When the last fan-out of every project started (milliseconds since the Unix epoch).
    pub async fn last_fan_out_started_ms(&self) -> Result<Option<u64>, ViewsError> {
        self.ensure_ledger().await?;
        self.marks.last_fan_out_started_ms(&self.pool).await
    }

    /// Records that a fan-out started at `started_ms`; a later one already recorded is kept.
    /// Call it once the fan-out's keys are queued: a fan-out that failed covers nothing.
    pub async fn record_fan_out_started(&self, started_ms: u64) -> Result<(), ViewsError> {
        self.ensure_ledger().await?;
        self.marks
            .record_fan_out_started(&self.pool, started_ms)
            .await
    }

    /// The audit trail's entries that `query` asks for, oldest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, ViewsError> {
        self.ensure_ledger().await?;
        self.audit.entries(&self.pool, query).await
    }

    /// Removes the audit trail's entries older than `retention_days`; returns how many.
    pub async fn prune_audit(&self, retention_days: u32) -> Result<u64, ViewsError> {
        self.ensure_ledger().await?;
        self.audit.prune(&self.pool, retention_days).await
    }

    /// When each project's views last changed (the audit trail, superseded decisions left out).
    pub async fn last_change_per_project(&self) -> Result<BTreeMap<String, i64>, ViewsError> {
        self.ensure_ledger().await?;
        self.audit.last_change_per_project(&self.pool).await
    }

    /// Keeps each message's failure, replacing an earlier one.
    pub async fn record_failures(&self, failures: &[MessageFailure]) -> Result<(), ViewsError> {
        self.ensure_ledger().await?;
        self.failures.record(&self.pool, failures).await
    }

    /// Forgets the failures of messages that have now succeeded, and those older than any
    /// message can be.
    pub async fn clear_failures(&self, message_ids: &[String]) -> Result<(), ViewsError> {
        self.ensure_ledger().await?;
        self.failures.clear(&self.pool, message_ids).await
    }

    /// Forgets the failures older than any message can be (the scheduled re-sync calls it).
    pub async fn prune_failures(&self) -> Result<u64, ViewsError> {
        self.ensure_ledger().await?;
        self.failures.prune(&self.pool).await
    }

    /// Every failure kept, oldest message first.
    pub async fn failures(&self) -> Result<Vec<MessageFailure>, ViewsError> {
        self.ensure_ledger().await?;
        self.failures.all(&self.pool).await
    }

    /// Keeps each hint unless a newer one for its data source is already kept (see
    /// [`crate::hints`]).
    pub async fn record_disabled_hints(
        &self,
        hints: &[(Id, DisabledHint)],
    ) -> Result<(), ViewsError> {
        if hints.is_empty() {
            return Ok(());
        }
        self.ensure_ledger().await?;
        self.hints.record(&self.pool, hints).await
    }

    /// The data sources whose newest hint says disabled.
    pub async fn disabled_hints(&self) -> Result<DisabledHints, ViewsError> {
        self.ensure_ledger().await?;
        self.hints.disabled(&self.pool).await
    }
}
