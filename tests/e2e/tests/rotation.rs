//! A database password rotated under a running processor: the processor started from an
//! RDS-style secret in (moto's) Secrets Manager; after the password and the secret change and
//! the database ends the processor's sessions, the next batch is refused the old password, reads
//! the secret again and applies, with no restart. MariaDB, when TEST_MYSQL_URL is set (the local
//! PostgreSQL trusts loopback, so it checks no password).

use std::time::Duration;

use e2e::moto::Moto;
use e2e::pipeline::{Database, Options, Pipeline};
use e2e::secretsmanager::{create_secret, put_secret_value};
use e2e::{sqs, unique_name};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use processor::Reconciler;
use sqlx::AssertSqlSafe;

const FIRST_PASSWORD: &str = "first:p@ss/word";
const SECOND_PASSWORD: &str = "second%p@ss?word";

fn rds_secret(user: &str, password: &str, schema: &str) -> String {
    serde_json::json!({
        "engine": "mariadb",
        "host": "127.0.0.1",
        "port": 3306,
        "username": user,
        "password": password,
        "dbname": schema,
    })
    .to_string()
}

/// Ends every session of `user`, as a database does to a rotated user's connections (or as
/// they end by themselves, idle).
async fn end_sessions_of(pipeline: &Pipeline, user: &str) {
    let ids: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE user = '{user}'"
    )))
    .fetch_all(pipeline.reconciler.store().pool())
    .await
    .expect("list the user's sessions");
    assert!(
        !ids.is_empty(),
        "the processor had no session open as {user}"
    );
    for (id,) in ids {
        pipeline.run_sql(format!("KILL CONNECTION {id}")).await;
    }
}

/// The processor as deployed: its database URL comes from the secret at cold start.
async fn processor_from_secret(pipeline: &Pipeline, secret_arn: &str) -> Reconciler {
    let mut env: Vec<(String, String)> = pipeline
        .processor_environment()
        .iter()
        .filter(|(name, _)| name != "DATABASE_URL")
        .cloned()
        .collect();
    env.push(("DATABASE_URL_SECRET_ARN".into(), secret_arn.into()));
    let aws = sqs::sdk_config(&Moto::shared().endpoint);
    processor::cold_start(&aws, |name| {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    })
    .await
    .expect("the processor starts from its secret")
}

#[tokio::test]
async fn a_rotated_rds_secret_is_read_again_when_the_database_refuses_the_old_password() {
    let Ok(url) = std::env::var("TEST_MYSQL_URL") else {
        return;
    };
    let pipeline =
        Pipeline::start(&Database::MariaDb(url), Tenant::demo(), Options::default()).await;
    let schema = pipeline.processor_setting("VIEW_SCHEMA").expect("a schema");
    let user = unique_name("ivs_rot");
    pipeline
        .run_sql(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{FIRST_PASSWORD}'"
        ))
        .await;
    pipeline
        .run_sql(format!(
            "GRANT ALL PRIVILEGES ON `{schema}`.* TO '{user}'@'%'"
        ))
        .await;
    let aws = sqs::sdk_config(&Moto::shared().endpoint);
    let secret_arn = create_secret(
        &aws,
        &unique_name("rotated-database"),
        &rds_secret(&user, FIRST_PASSWORD, &schema),
    )
    .await;
    let processor = processor_from_secret(&pipeline, &secret_arn).await;
    let limit = Duration::from_secs(60);

    pipeline
        .act(Action::BumpProjectPolicy { project_id: 20 })
        .await;
    let before = pipeline.trigger().drain(&processor, limit).await;
    assert_eq!(before.failed, 0, "as the first user: {before:?}");
    pipeline
        .assert_converged("a batch with the first password")
        .await;

    // Rotation: the password changes, then the secret's current version (setSecret, finishSecret).
    pipeline
        .run_sql(format!(
            "ALTER USER '{user}'@'%' IDENTIFIED BY '{SECOND_PASSWORD}'"
        ))
        .await;
    put_secret_value(
        &aws,
        &secret_arn,
        &rds_secret(&user, SECOND_PASSWORD, &schema),
    )
    .await;
    end_sessions_of(&pipeline, &user).await;
    pipeline
        .act(Action::BumpProjectPolicy { project_id: 20 })
        .await;
    let after = pipeline.trigger().drain(&processor, limit).await;
    assert_eq!(after.failed, 0, "after the rotation: {after:?}");
    assert_eq!(after.batches, 1, "no delivery was retried: {after:?}");
    pipeline
        .assert_converged("a batch after the rotation")
        .await;

    // A password changed with no new secret stays refused: the batch item fails, to be retried.
    pipeline
        .run_sql(format!(
            "ALTER USER '{user}'@'%' IDENTIFIED BY 'third-unknown'"
        ))
        .await;
    end_sessions_of(&pipeline, &user).await;
    pipeline
        .act(Action::BumpProjectPolicy { project_id: 20 })
        .await;
    let refused = pipeline
        .trigger()
        .poll_once(&processor, Duration::from_secs(5))
        .await;
    assert_eq!(refused.failed, refused.records, "{refused:?}");
    assert!(refused.records > 0, "{refused:?}");

    pipeline.run_sql(format!("DROP USER '{user}'@'%'")).await;
    pipeline.finish().await;
}
