//! What stops a `view-sync` command, each said so that the operator knows what to do next.

use immuta::ImmutaError;
use processor::ReconcileError;
use queue::SendError;
use secrets::SecretsError;
use thiserror::Error;
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
    Redrive(#[from] crate::dlq::WrongDirection),
    #[error(transparent)]
    Register(#[from] crate::register::RegisterError),
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
