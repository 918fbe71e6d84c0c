//! What the audit trail records about a change to a view: why it was made ([`Cause`]) and what
//! was done ([`AuditEntry`]). The database adapter stores and reads the entries; [`crate::apply`]
//! decides them.

use crate::plan::ViewKey;

/// What started the reconcile that made a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// Notifications from Immuta, through the queue.
    Webhook,
    /// An operator's `view-sync resync`.
    Resync,
    /// The stack's scheduled re-sync.
    Schedule,
    /// A caller that named no cause (a library call).
    #[default]
    Direct,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Resync => "resync",
            Self::Schedule => "schedule",
            Self::Direct => "direct",
        }
    }
}

/// Why a view was changed: recorded with the change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    pub origin: Origin,
    /// The SQS message ids behind the change (every message that named its key).
    pub message_ids: Vec<String>,
    /// Their notification types, each once.
    pub notification_types: Vec<String>,
    /// The Lambda request that applied it.
    pub request_id: Option<String>,
    /// When the oldest of those messages reached the queue (the receiver's `receivedAtMs`; a
    /// re-sync's start), in milliseconds since the Unix epoch: where the change's freshness lag
    /// starts. Not kept in the audit trail.
    pub received_at_ms: Option<u64>,
    /// Why the views this key drops are gone, when the read cannot be sure (a 404 that may mean
    /// "deleted" or "not allowed"): kept as the drop's detail.
    pub drop_note: Option<String>,
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Microseconds since the Unix epoch.
    pub applied_at: i64,
    pub view: ViewKey,
    pub view_name: String,
    /// `created`, `replaced`, `restored`, `dropped`, `closed` or `superseded`
    /// ([`crate::plan::Decision::action`]).
    pub action: String,
    /// What else there is to say: the drift restored, the name a rename left, the newer decision.
    pub detail: String,
    pub old_digest: String,
    pub new_digest: String,
    pub observed_at: i64,
    pub origin: String,
    pub message_ids: Vec<String>,
    pub notification_types: Vec<String>,
    pub request_id: String,
}
