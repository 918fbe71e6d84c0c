//! `DATABASE_URL` holding an RDS-style secret's JSON: the store connects as the secret's user,
//! whose password is full of URL delimiters, and a wrong password is refused without being
//! repeated, and a store told the right secret afterwards connects with it. MariaDB checks the password (its test user is created with one); the local
//! PostgreSQL trusts loopback, so there the assembled URL is checked to parse and connect.
//! Each runs when TEST_MYSQL_URL / TEST_POSTGRES_URL is set to a native URL (an RDS secret
//! always makes one: none runs when the variable names the server through ODBC).

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;
use views::{StoreConfig, ViewStore, ViewsError};

use support::{admin_pool, run_as_admin};

const PASSWORD: &str = "p@ss:w/rd%#?&= é";

/// The test server `variable` names, if it names it by a native URL.
fn native_url(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|url| !url.starts_with("odbc+"))
}

fn unique_user() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ivs_rds_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The host and port of a test database's URL (`scheme://user@host:port/db`).
fn host_and_port(url: &str, default_port: u16) -> (String, u16) {
    let authority = url.split_once("://").unwrap().1;
    let authority = authority.split('/').next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.split_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap()),
        None => (host_port.to_owned(), default_port),
    }
}

/// The database a test database's URL names.
fn database_of(url: &str) -> String {
    let path = url
        .split_once("://")
        .unwrap()
        .1
        .split_once('/')
        .map_or("", |(_, p)| p);
    path.split('?').next().unwrap().to_owned()
}

fn secret(engine: &str, user: &str, password: &str, at: &(String, u16), dbname: &str) -> String {
    let (host, port) = at;
    serde_json::json!({
        "engine": engine,
        "host": host,
        "port": port,
        "username": user,
        "password": password,
        "dbname": dbname,
        "dbInstanceIdentifier": "local",
    })
    .to_string()
}

async fn select_one_as(secret_json: &str) -> Result<String, String> {
    let config = StoreConfig::from_lookup(|name| match name {
        "DATABASE_URL" => Some(secret_json.to_owned()),
        _ => None,
    })
    .map_err(|e| e.to_string())?;
    let store = ViewStore::connect_lazy(&config).map_err(|e| e.to_string())?;
    let (answer,): (String,) = sqlx::query_as(AssertSqlSafe("SELECT 'connected'".to_owned()))
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

#[tokio::test]
async fn mariadb_connects_with_the_secrets_user_and_encoded_password() {
    let Some(admin_url) = native_url("TEST_MYSQL_URL") else {
        return;
    };
    let admin = admin_pool(&admin_url).await;
    let user = unique_user();
    let quoted = PASSWORD.replace('\'', "''");
    let database = database_of(&admin_url);
    run_as_admin(
        &admin,
        &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{quoted}'"),
    )
    .await;
    run_as_admin(
        &admin,
        &format!("GRANT SELECT ON `{database}`.* TO '{user}'@'%'"),
    )
    .await;

    let at = host_and_port(&admin_url, 3306);
    let connected = select_one_as(&secret("mariadb", &user, PASSWORD, &at, &database)).await;
    let refused = select_one_as(&secret("mariadb", &user, "hunter2-wrong", &at, &database)).await;

    let renewed = renew_after_refusal(
        &secret("mariadb", &user, "hunter2-wrong", &at, &database),
        &secret("mariadb", &user, PASSWORD, &at, &database),
        "1045",
    )
    .await;

    run_as_admin(&admin, &format!("DROP USER '{user}'@'%'")).await;
    assert_eq!(connected.as_deref(), Ok("connected"));
    let refused = refused.unwrap_err();
    assert!(refused.contains("1045"), "{refused}");
    assert!(!refused.contains("hunter2"), "{refused}");
    renewed.unwrap();
}

/// A store started with `wrong` is refused as unauthenticated, without the password; it
/// connects once told to use `right`, which is then the URL in use.
async fn renew_after_refusal(wrong: &str, right: &str, code: &str) -> Result<(), String> {
    let config =
        StoreConfig::from_lookup(|name| (name == "DATABASE_URL").then(|| wrong.to_owned()))
            .map_err(|e| e.to_string())?;
    let store = ViewStore::connect_lazy(&config).map_err(|e| e.to_string())?;
    match store.views_in_catalog().await {
        Err(ViewsError::Unauthenticated(message))
            if message.contains(code) && !message.contains("hunter2") => {}
        other => return Err(format!("expected a refusal of the credentials: {other:?}")),
    }
    assert!(!ViewsError::Unauthenticated(String::new()).is_retryable());
    let use_url = |url| store.use_database_url(url).map_err(|e| e.to_string());
    assert!(!use_url(wrong)?, "the URL in use is no change");
    assert!(use_url(right)?, "another URL is");
    assert!(!use_url(right)?, "and is then the URL in use");
    store.views_in_catalog().await.map_err(|e| e.to_string())?;
    let (elsewhere, named) = match store.dialect() {
        views::Dialect::Postgres => ("mysql://views@db.example/views", "MariaDB"),
        _ => ("postgres://views@db.example/views", "PostgreSQL"),
    };
    let elsewhere = store
        .use_database_url(elsewhere)
        .expect_err("another kind of database is refused");
    assert!(elsewhere.to_string().contains(named), "{elsewhere}");
    Ok(())
}

#[tokio::test]
async fn postgres_connects_through_the_assembled_url() {
    let Some(admin_url) = native_url("TEST_POSTGRES_URL") else {
        return;
    };
    let admin = admin_pool(&admin_url).await;
    let user = unique_user();
    let quoted = PASSWORD.replace('\'', "''");
    run_as_admin(
        &admin,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{quoted}'"),
    )
    .await;

    let at = host_and_port(&admin_url, 5432);
    let connected = select_one_as(&secret(
        "postgres",
        &user,
        PASSWORD,
        &at,
        &database_of(&admin_url),
    ))
    .await;

    run_as_admin(&admin, &format!("DROP ROLE {user}")).await;
    assert_eq!(connected.as_deref(), Ok("connected"));
}

/// PostgreSQL refuses a role it does not know (SQLSTATE 28000; loopback trusts every role it
/// knows, so a wrong password cannot be tried here): the store says the credentials were
/// refused, and connects once told the secret that holds a known role.
#[tokio::test]
async fn postgres_refuses_an_unknown_role_as_unauthenticated_and_takes_new_credentials() {
    let Some(admin_url) = native_url("TEST_POSTGRES_URL") else {
        return;
    };
    let at = host_and_port(&admin_url, 5432);
    let database = database_of(&admin_url);
    let unknown = secret("postgres", &unique_user(), "hunter2-wrong", &at, &database);
    let known = secret("postgres", "postgres", "any", &at, &database);
    renew_after_refusal(&unknown, &known, "28000")
        .await
        .unwrap();
}
