//! Why a secret setting could not be resolved. No variant ever holds a secret's value.

use thiserror::Error;
use view_sync_core::settings::ConfigError;

#[derive(Debug, Error)]
pub enum SecretsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The SDK's message names the cause (access denied, not found, timeout); never the value.
    #[error("cannot read {variable} from Secrets Manager secret {secret_id}: {cause}")]
    Fetch {
        variable: &'static str,
        secret_id: String,
        cause: String,
    },
    #[error(
        "Secrets Manager secret {secret_id} for {variable} has no SecretString \
         (binary secrets are not supported; store the value as text)"
    )]
    NotText {
        variable: &'static str,
        secret_id: String,
    },
}
