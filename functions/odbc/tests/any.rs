//! The driver as sqlx's `Any` drives it, through the PostgreSQL and MariaDB ODBC drivers (where
//! TEST_POSTGRES_URL / TEST_MYSQL_URL name the servers): a begin that fails half-way or is
//! stopped leaves no transaction open, and a refused login names no secret.

use std::time::Duration;

use sqlx_core::any::{AnyPool, AnyPoolOptions};
use sqlx_core::executor::Executor;
use sqlx_core::sql_str::AssertSqlSafe;

use odbc_session::sqlx_driver::{DRIVER, database_url};

mod support;

use support::parts;

/// `(dialect, odbc+… setting)` for each configured server.
fn servers() -> Vec<(&'static str, String)> {
    let mut servers = Vec::new();
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        let (user, host, port, database) = parts(&url);
        servers.push((
            "postgres",
            format!(
                "odbc+postgres:Driver={{PostgreSQL Unicode}};Server={host};Port={port};\
                 Database={database};Uid={user}"
            ),
        ));
    }
    if let Ok(url) = std::env::var("TEST_MYSQL_URL") {
        let (user, host, port, database) = parts(&url);
        servers.push((
            "mariadb",
            format!(
                "odbc+mariadb:Driver={{MariaDB Unicode}};Server={host};Port={port};\
                 Database={database};Uid={user};CHARSET=utf8mb4"
            ),
        ));
    }
    servers
}

async fn pool(setting: &str) -> AnyPool {
    let _ = sqlx_core::any::driver::install_drivers(&[DRIVER]);
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(&database_url(setting).unwrap())
        .await
        .unwrap()
}

/// Whether the pool's one connection is inside a transaction, as its server says.
async fn in_a_transaction(pool: &AnyPool, dialect: &str) -> bool {
    let sql = match dialect {
        "postgres" => "SELECT CAST(now() <> statement_timestamp() AS INTEGER)",
        _ => "SELECT @@in_transaction",
    };
    let row = pool.fetch_one(AssertSqlSafe(sql.to_owned())).await.unwrap();
    sqlx_core::row::Row::get::<i64, _>(&row, 0) != 0
}

#[tokio::test]
async fn a_begin_that_fails_half_way_leaves_no_transaction_open() {
    for (dialect, setting) in servers() {
        let pool = pool(&setting).await;
        let begun = pool
            .begin_with(AssertSqlSafe(
                "BEGIN; SELECT odbc_no_such_column FROM odbc_no_such_table".to_owned(),
            ))
            .await;
        assert!(begun.is_err(), "{dialect}");
        assert!(!in_a_transaction(&pool, dialect).await, "{dialect}");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_begin_stopped_before_it_returns_leaves_no_transaction_open() {
    for (dialect, setting) in servers() {
        let pool = pool(&setting).await;
        let sleep = match dialect {
            "postgres" => "BEGIN; SELECT pg_sleep(0.3)",
            _ => "BEGIN; SELECT SLEEP(0.3)",
        };
        let stopped = tokio::time::timeout(
            Duration::from_millis(50),
            pool.begin_with(AssertSqlSafe(sleep.to_owned())),
        )
        .await;
        assert!(
            stopped.is_err(),
            "{dialect}: the begin returned within 50 ms"
        );
        assert!(!in_a_transaction(&pool, dialect).await, "{dialect}");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_refused_login_says_so_and_names_no_secret() {
    for (dialect, setting) in servers() {
        let admin = pool(&setting).await;
        let user = format!("odbc_login_{}", std::process::id());
        if dialect == "mariadb" {
            admin
                .execute(AssertSqlSafe(format!(
                    "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'the-right-one'"
                )))
                .await
                .unwrap();
        }
        // PostgreSQL here trusts loopback: a role it does not know is refused instead.
        let wrong = setting.replace("Uid=", &format!("Pwd=s3cr3t-wrong;Uid={user};Was="));
        let refused = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&database_url(&wrong).unwrap())
            .await
            .unwrap_err();
        let said = format!("{refused} {refused:?}");
        assert!(!said.contains("s3cr3t"), "{dialect}: {said}");
        let code = refused
            .as_database_error()
            .and_then(|e| e.code().map(|c| c.into_owned()));
        assert_eq!(code.as_deref(), Some("28000"), "{dialect}: {said}");
        if dialect == "mariadb" {
            admin
                .execute(AssertSqlSafe(format!("DROP USER '{user}'@'%'")))
                .await
                .unwrap();
        }
        admin.close().await;
    }
}
