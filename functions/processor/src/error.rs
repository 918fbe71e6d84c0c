//! The processor's errors: what failed a key (and whether it may succeed if retried), a batch
//! whose failures cannot be reported, a cold start that could not finish.

use immuta::ImmutaError;
use queue::SendError;
use secrets::SecretsError;
use thiserror::Error;
use view_sync_core::plan::ViewKey;
use view_sync_core::settings::ConfigError;
use view_sync_core::view_sql::ViewSqlError;
use views::ViewsError;

#[derive(Debug, Clone, Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Immuta(#[from] ImmutaError),
    #[error(transparent)]
    Views(#[from] ViewsError),
    #[error("the view SQL of data source {} in project {} is unusable: {error}", .view.data_source_id, .view.project_id)]
    ViewSql { view: ViewKey, error: ViewSqlError },
    #[error(transparent)]
    Queue(#[from] SendError),
    /// The batch's deadline came before the key's turn to read Immuta: it changed nothing.
    #[error("not started: the batch's deadline came before this key's turn to read Immuta")]
    NotStarted,
    /// The key read Immuta, but the batch's deadline came before its turn to apply its views.
    #[error("not started: the batch's deadline came before this key's turn to apply its views")]
    NotApplied,
}

impl ReconcileError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Immuta(e) => e.is_retryable(),
            Self::Views(e) => e.is_retryable(),
            Self::ViewSql { .. } => false,
            Self::Queue(_) | Self::NotStarted | Self::NotApplied => true,
        }
    }

    /// Whether the batch's deadline came before the key's turn, so that it changed nothing in
    /// the database: its messages can be handed on to a later invocation (a key that started
    /// and ran out of time may be one that never fits, and fails so that it shows).
    pub fn was_not_started(&self) -> bool {
        matches!(self, Self::NotStarted)
    }

    /// Whether the key failed only because the batch ran out of time before its work started
    /// (its reads, or a view's apply): its messages may come back at once.
    pub fn had_no_time(&self) -> bool {
        matches!(
            self,
            Self::NotStarted | Self::NotApplied | Self::Views(ViewsError::OutOfTime { .. })
        )
    }
}

#[derive(Debug, Error)]
#[error(
    "{0} failed record(s) have no messageId, so they cannot be reported alone; failing the whole batch so SQS retries it"
)]
pub struct UnreportableFailure(pub usize);

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Reconciler(#[from] ReconcileError),
}
