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

/// Stores `value` as the secret's new current version, as rotation's finishSecret step leaves it.
pub async fn put_secret_value(config: &SdkConfig, secret_id: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(config)
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .expect("put the secret's new value");
}
