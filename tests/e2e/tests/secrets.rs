//! Cold-start secret resolution against a real Secrets Manager API (moto's).

use e2e::moto::Moto;
use e2e::secretsmanager::create_secret;
use e2e::{sqs, unique_name};
use secrets::{ResolvedEnvironment, SecretReference, SecretsError};

fn reference(variable: &'static str, secret_id: &str) -> SecretReference {
    SecretReference {
        variable,
        secret_id: secret_id.to_owned(),
    }
}

#[tokio::test]
async fn secrets_resolve_by_arn_and_by_name_without_a_final_newline() {
    let aws = sqs::sdk_config(&Moto::shared().endpoint);
    let name = unique_name("database-url");
    let arn = create_secret(&aws, &name, "postgres://views@db/prod\n").await;
    let key_arn = create_secret(&aws, &unique_name("api-key"), "k3y").await;

    let env = ResolvedEnvironment::fetch(
        &aws,
        vec![
            reference("DATABASE_URL", &arn),
            reference("IMMUTA_API_KEY", &key_arn),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        env.lookup("DATABASE_URL").as_deref(),
        Some("postgres://views@db/prod")
    );
    assert_eq!(env.lookup("IMMUTA_API_KEY").as_deref(), Some("k3y"));

    let by_name = ResolvedEnvironment::fetch(&aws, vec![reference("DATABASE_URL", &name)])
        .await
        .unwrap();
    assert_eq!(
        by_name.lookup("DATABASE_URL").as_deref(),
        Some("postgres://views@db/prod")
    );
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_the_variable_and_the_secret() {
    let aws = sqs::sdk_config(&Moto::shared().endpoint);
    let present = create_secret(&aws, &unique_name("present"), "do-not-print-me").await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf";
    let error = ResolvedEnvironment::fetch(
        &aws,
        vec![
            reference("IMMUTA_API_KEY", &present),
            reference("DATABASE_URL", missing),
        ],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, SecretsError::Fetch { variable: "DATABASE_URL", secret_id, .. } if secret_id == missing),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("DATABASE_URL") && message.contains(missing),
        "{message}"
    );
    assert!(!message.contains("do-not-print-me"), "{message}");
}

#[tokio::test]
async fn a_binary_secret_is_refused_with_a_clear_error() {
    let aws = sqs::sdk_config(&Moto::shared().endpoint);
    let arn = aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(unique_name("binary"))
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            b"\x00\x01".to_vec(),
        ))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let error = ResolvedEnvironment::fetch(&aws, vec![reference("WEBHOOK_SECRETS", &arn)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SecretsError::NotText {
                variable: "WEBHOOK_SECRETS",
                ..
            }
        ),
        "{error:?}"
    );
}
