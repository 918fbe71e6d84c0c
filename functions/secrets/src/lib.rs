//! Secret settings, resolved once at cold start.
//!
//! A function names the variables it treats as secret (say `DATABASE_URL`). Each may be given
//! directly, as local runs and tests do, or as `<NAME>_SECRET_ARN`: the ARN (or name) of an AWS
//! Secrets Manager secret whose `SecretString` is the value. Deployed functions get only ARNs in
//! their environment, so the values never appear in the Lambda console, in CloudFormation or in
//! logs. Rotation takes effect at the next cold start, with two exceptions: the receiver accepts
//! several webhook secrets at once so a rotation never rejects a delivery, and the processor reads
//! the database's secret again when the database refuses its credentials ([`SecretReader`]).

mod error;

use std::collections::HashMap;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use futures_util::future::try_join_all;
use view_sync_core::settings::{ConfigError, Settings};

pub use error::SecretsError;

/// Suffix of the variable that holds a secret's ARN instead of its value.
pub const ARN_SUFFIX: &str = "_SECRET_ARN";

/// A secret setting that is to be read from Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    pub variable: &'static str,
    pub secret_id: String,
}

/// The variables among `secret_variables` that name a Secrets Manager secret. Giving both a value
/// and an ARN is an error: silently preferring one would hide a stale setting.
pub fn references(
    secret_variables: &[&'static str],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<SecretReference>, ConfigError> {
    let settings = Settings::new(|name: &str| lookup(name));
    let mut references = Vec::new();
    for &variable in secret_variables {
        let arn_variable = format!("{variable}{ARN_SUFFIX}");
        let Some(secret_id) = lookup(&arn_variable).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if settings.optional(variable).is_some() {
            return Err(ConfigError::new(
                variable,
                format!("is set together with {arn_variable}; give one of them"),
            ));
        }
        references.push(SecretReference {
            variable,
            secret_id: secret_id.trim().to_owned(),
        });
    }
    Ok(references)
}

/// The process environment with secret values layered over it.
#[derive(Default)]
pub struct ResolvedEnvironment {
    secrets: HashMap<&'static str, String>,
}

impl std::fmt::Debug for ResolvedEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedEnvironment")
            .field("resolved", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ResolvedEnvironment {
    /// The value of `name`: a resolved secret, else the environment variable.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.secret(name).or_else(|| std::env::var(name).ok())
    }

    /// The value of `name` if it came from Secrets Manager.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }

    /// The variables whose values came from Secrets Manager.
    pub fn resolved(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.secrets.keys().copied()
    }

    /// Resolves `secret_variables` from the process environment. AWS configuration is loaded only
    /// when at least one of them names a secret, so local runs need no AWS settings.
    pub async fn from_environment(
        secret_variables: &[&'static str],
    ) -> Result<ResolvedEnvironment, SecretsError> {
        let references = references(secret_variables, |name| std::env::var(name).ok())?;
        if references.is_empty() {
            return Ok(ResolvedEnvironment::default());
        }
        Self::fetch(&aws_https::load().await, references).await
    }

    /// As [`Self::from_environment`], with the AWS configuration a function has anyway (see
    /// [`aws_https::from_lambda_environment`]): one HTTP client and credentials at cold start.
    pub async fn from_environment_with(
        config: &aws_config::SdkConfig,
        secret_variables: &[&'static str],
    ) -> Result<ResolvedEnvironment, SecretsError> {
        let references = references(secret_variables, |name| std::env::var(name).ok())?;
        Self::resolve(config, references).await
    }

    /// Reads the referenced secrets; none (a local run) calls nothing.
    pub async fn resolve(
        config: &aws_config::SdkConfig,
        references: Vec<SecretReference>,
    ) -> Result<ResolvedEnvironment, SecretsError> {
        if references.is_empty() {
            return Ok(ResolvedEnvironment::default());
        }
        Self::fetch(config, references).await
    }

    /// Reads every referenced secret, concurrently: a cold start waits for the slowest one only.
    pub async fn fetch(
        config: &aws_config::SdkConfig,
        references: Vec<SecretReference>,
    ) -> Result<ResolvedEnvironment, SecretsError> {
        let client = client(config);
        let values = try_join_all(references.iter().map(|r| read(&client, r))).await?;
        let secrets: HashMap<_, _> = references.iter().map(|r| r.variable).zip(values).collect();
        tracing::info!(
            variables = ?secrets.keys().collect::<Vec<_>>(),
            "read secret settings from Secrets Manager"
        );
        Ok(ResolvedEnvironment { secrets })
    }
}

/// One secret setting, read again whenever its user asks (a database password that was rotated),
/// with the client built once.
#[derive(Debug, Clone)]
pub struct SecretReader {
    client: aws_sdk_secretsmanager::Client,
    reference: SecretReference,
}

impl SecretReader {
    pub fn new(config: &aws_config::SdkConfig, reference: SecretReference) -> Self {
        Self {
            client: client(config),
            reference,
        }
    }

    pub fn reference(&self) -> &SecretReference {
        &self.reference
    }

    /// The secret's current value (`AWSCURRENT`).
    pub async fn read(&self) -> Result<String, SecretsError> {
        read(&self.client, &self.reference).await
    }
}

/// Lambda's init phase has 10 s in all; a stalled Secrets Manager call must fail well inside it,
/// with a message, rather than time the init out.
fn client(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(6))
        .build();
    let config = aws_sdk_secretsmanager::config::Builder::from(config)
        .timeout_config(timeouts)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

async fn read(
    client: &aws_sdk_secretsmanager::Client,
    reference: &SecretReference,
) -> Result<String, SecretsError> {
    let output = client
        .get_secret_value()
        .secret_id(&reference.secret_id)
        .send()
        .await
        .map_err(|e| SecretsError::Fetch {
            variable: reference.variable,
            secret_id: reference.secret_id.clone(),
            cause: DisplayErrorContext(e).to_string(),
        })?;
    let value = output.secret_string.ok_or_else(|| SecretsError::NotText {
        variable: reference.variable,
        secret_id: reference.secret_id.clone(),
    })?;
    // `create-secret --secret-string file://…` keeps the file's final newline, which would
    // silently break an HMAC key or a URL.
    Ok(value.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const VARIABLES: &[&str] = &["DATABASE_URL", "IMMUTA_API_KEY"];

    #[test]
    fn plain_values_need_no_secrets_manager() {
        let env = [("DATABASE_URL", "sqlite://x.db"), ("IMMUTA_API_KEY", "k")];
        assert_eq!(references(VARIABLES, lookup(&env)).unwrap(), vec![]);
    }

    #[test]
    fn arn_variables_become_references() {
        let env = [
            (
                "DATABASE_URL_SECRET_ARN",
                " arn:aws:secretsmanager:eu-west-1:1:secret:db ",
            ),
            ("IMMUTA_API_KEY", "k"),
        ];
        assert_eq!(
            references(VARIABLES, lookup(&env)).unwrap(),
            vec![SecretReference {
                variable: "DATABASE_URL",
                secret_id: "arn:aws:secretsmanager:eu-west-1:1:secret:db".into(),
            }]
        );
    }

    #[test]
    fn blank_arn_counts_as_unset() {
        let env = [("DATABASE_URL_SECRET_ARN", "  "), ("DATABASE_URL", "x")];
        assert_eq!(references(VARIABLES, lookup(&env)).unwrap(), vec![]);
    }

    #[test]
    fn value_and_arn_together_is_an_error_that_names_both() {
        let env = [
            ("IMMUTA_API_KEY", "do-not-print-me"),
            ("IMMUTA_API_KEY_SECRET_ARN", "arn:x"),
        ];
        let error = references(VARIABLES, lookup(&env)).unwrap_err();
        assert_eq!(error.variable, "IMMUTA_API_KEY");
        let message = error.to_string();
        assert!(message.contains("IMMUTA_API_KEY_SECRET_ARN"), "{message}");
        assert!(!message.contains("do-not-print-me"), "{message}");
    }

    #[test]
    fn resolved_values_win_over_the_environment_and_are_not_debug_printed() {
        let env = ResolvedEnvironment {
            secrets: HashMap::from([("PATH", "from-secret".to_owned())]),
        };
        assert_eq!(env.lookup("PATH").as_deref(), Some("from-secret"));
        assert!(!format!("{env:?}").contains("from-secret"));
    }
}
