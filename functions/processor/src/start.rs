//! The processor's cold start: secrets resolved, configuration read, the reconciler wired to
//! its database secret (read again after a rotation) and to its own queue.

use aws_config::SdkConfig;
use queue::SqsSink;
use secrets::{ResolvedEnvironment, SecretReader};

use crate::config::{ProcessorConfig, SECRET_VARIABLES};
pub use crate::error::StartError;
use crate::reconcile::Reconciler;

/// The reconciler that `env` (the function's environment) configures, with `aws` for Secrets
/// Manager and SQS.
pub async fn cold_start(
    aws: &SdkConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Reconciler, StartError> {
    let references = secrets::references(SECRET_VARIABLES, &env)?;
    let database_secret = references
        .iter()
        .find(|r| r.variable == "DATABASE_URL")
        .cloned();
    let resolved = ResolvedEnvironment::resolve(aws, references).await?;
    let config = ProcessorConfig::from_lookup(|name| resolved.secret(name).or_else(|| env(name)))?;
    let queue_url = config.queue_url.clone();
    let mut reconciler = Reconciler::new(config)?;
    if let Some(reference) = database_secret {
        reconciler = reconciler.with_database_secret(SecretReader::new(aws, reference));
    }
    if let Some(url) = queue_url {
        // The scheduled re-sync's fan-out; an operator command's timeouts, since no webhook
        // waits on it.
        reconciler =
            reconciler.with_fan_out_queue(SqsSink::new(aws, url, queue::command_timeouts()));
    }
    Ok(reconciler)
}
