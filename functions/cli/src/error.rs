//! What stops a `view-sync` command, each said so that the operator knows what to do next.

use immuta::ImmutaError;
use processor::ReconcileError;
use queue::SendError;
use secrets::SecretsError;
use thiserror::Error;
use view_sync_core::Id;
use view_sync_core::forward::UnknownForwardType;
use view_sync_core::printable::Unprintable;
use view_sync_core::settings::ConfigError;

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Immuta(#[from] ImmutaError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(transparent)]
    Queue(#[from] SendError),
    #[error(transparent)]
    Views(#[from] views::ViewsError),
    #[error(transparent)]
    QueueAdmin(#[from] queue::admin::QueueError),
    #[error(transparent)]
    Redrive(#[from] WrongDirection),
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error(transparent)]
    Unprintable(#[from] Unprintable),
    #[error("--since {0}")]
    Time(#[from] view_sync_core::time::BadTime),
    #[error("--types: {0}")]
    Types(#[from] UnknownForwardType),
    #[error(
        "set WEBHOOK_SECRET to the shared secret the receiver verifies (it is read from the \
         environment, or WEBHOOK_SECRET_SECRET_ARN, so that it stays out of shell history)"
    )]
    MissingWebhookSecret,
    #[error("{failed} project(s) failed; run again to retry them")]
    ProjectsFailed { failed: usize },
    #[error("some checks failed (see above)")]
    ChecksFailed,
    #[error("{failed} project(s) could not be planned (see above)")]
    PlanIncomplete { failed: usize },
}

impl CliError {
    /// Whether the command's own output already reported it (a failing check, a project that
    /// failed): a JSON caller then gets that one document, not a second one for the error.
    pub fn is_in_the_output(&self) -> bool {
        matches!(
            self,
            Self::ChecksFailed | Self::PlanIncomplete { .. } | Self::ProjectsFailed { .. }
        )
    }
}

/// Why `view-sync register` stopped.
#[derive(Debug, Error)]
pub enum RegisterError {
    #[error(transparent)]
    Immuta(#[from] ImmutaError),
    #[error(
        "this tenant does not offer {} (GET /webhooks/actions): leave them out of --types",
        .0.join(", ")
    )]
    NotOffered(Vec<String>),
    /// The old webhook's failed deliveries would go with it.
    #[error(
        "the webhook to replace has {undelivered} failed deliveries no later delivery brought \
         through, and deleting it deletes its history: run `view-sync replay` first, or pass \
         --replace to replace it anyway (then `view-sync resync` covers what they announced)"
    )]
    UndeliveredHistory { undelivered: usize },
    /// The new webhook exists; an old one could not be deleted.
    #[error(
        "created webhook {created}, but could not delete the webhook(s) it replaces ({}): {error}. \
         Both deliver until they are deleted (each notification twice, which costs a reconcile, \
         never a view): run `view-sync register` again",
        left.iter().map(Id::as_str).collect::<Vec<_>>().join(", ")
    )]
    OldNotDeleted {
        created: Id,
        left: Vec<Id>,
        error: ImmutaError,
    },
    /// The tenant refused a webhook without `actionType`.
    #[error(
        "Immuta refused a global webhook without an actionType (Immuta's own global webhook has \
         none): {0}. If this tenant requires one, pass --action-type: `triggered` fires only for \
         events the registering user triggers, `received` for events that user receives"
    )]
    WithoutActionType(ImmutaError),
}

/// Why a redrive from `--dlq-url` to `--queue-url` is refused: SQS does not say that the first is
/// the dead-letter queue of the second. Each names the queues' ARNs as SQS gave them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WrongDirection {
    #[error(
        "--dlq-url and --queue-url are swapped: --queue-url ({queue}) is the dead-letter queue of \
         --dlq-url ({dlq}); nothing was moved"
    )]
    Swapped { dlq: String, queue: String },
    #[error(
        "--queue-url ({queue}) has no RedrivePolicy, so --dlq-url ({dlq}) is not its dead-letter \
         queue; nothing was moved"
    )]
    NoRedrivePolicy { dlq: String, queue: String },
    #[error(
        "the RedrivePolicy of --queue-url ({queue}) names no deadLetterTargetArn: {policy}; \
         nothing was moved"
    )]
    UnreadableRedrivePolicy { queue: String, policy: String },
    #[error(
        "the dead-letter queue of --queue-url ({queue}) is {target}, not --dlq-url's {dlq}; were \
         the two swapped? Nothing was moved"
    )]
    OtherDeadLetterQueue {
        dlq: String,
        queue: String,
        target: String,
    },
}
