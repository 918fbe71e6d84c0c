//! Secrets in moto's Secrets Manager, stored as an operator stores them for a deployment.

use aws_config::SdkConfig;

/// Stores `value` as a text secret and returns its full ARN.
pub async fn create_secret(config: &SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret")
        .arn
        .expect("moto answers with the ARN")
}
