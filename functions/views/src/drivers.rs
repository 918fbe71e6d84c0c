//! The database drivers this build links (the crate's features `sqlite`, `postgres`, `mysql`),
//! and what only one driver can say about an error. Everything else in the crate speaks to
//! every database through sqlx's `Any` driver.

use sqlx::error::DatabaseError;

use crate::dialect::Dialect;

/// Installs the drivers this build links in sqlx's `Any`, once: sqlx's own and, with the
/// feature `odbc`, the ODBC driver. Every pool of `Any` in a process that links this crate must
/// be made after it (tests and benches call it rather than sqlx's `install_default_drivers`).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The first call in the process: nothing is installed before it.
        let _ = sqlx::any::install_drivers(&[
            #[cfg(feature = "mysql")]
            sqlx::mysql::any::DRIVER,
            #[cfg(feature = "postgres")]
            sqlx::postgres::any::DRIVER,
            #[cfg(feature = "sqlite")]
            sqlx::sqlite::any::DRIVER,
            #[cfg(feature = "odbc")]
            odbc_session::sqlx_driver::DRIVER,
        ]);
    });
}

/// Whether `url` reaches its database through ODBC (`odbc+postgres:…`).
pub(crate) fn is_odbc(url: &str) -> bool {
    url.get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("odbc+"))
}

/// The URL sqlx connects with for the setting `url`: an ODBC connection string made safe to
/// carry in a URL (see `odbc_session::sqlx_driver::database_url`); any other URL as it is.
pub(crate) fn connect_url(url: &str) -> String {
    #[cfg(feature = "odbc")]
    if let Some(odbc) = odbc_session::sqlx_driver::database_url(url) {
        return odbc;
    }
    url.to_owned()
}

/// The Cargo feature that links `dialect`'s driver.
fn feature(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
        Dialect::MySql => "mysql",
    }
}

/// Whether this build links `dialect`'s driver.
fn linked(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Sqlite => cfg!(feature = "sqlite"),
        Dialect::Postgres => cfg!(feature = "postgres"),
        Dialect::MySql => cfg!(feature = "mysql"),
    }
}

/// Refuses a database whose driver this build does not link, saying how to build one that does
/// (rather than sqlx's "no driver found" at the first connection).
pub(crate) fn check_linked(dialect: Dialect, url: &str) -> Result<(), String> {
    if is_odbc(url) {
        return match cfg!(feature = "odbc") {
            true => Ok(()),
            false => Err(format!(
                "DATABASE_URL names a {} database reached through ODBC, and this build links no \
                 ODBC driver manager: build it with the Cargo feature `odbc` (see the README, \
                 Target databases)",
                dialect.name()
            )),
        };
    }
    let all = [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql];
    let built_in: Vec<Dialect> = all.into_iter().filter(|d| linked(*d)).collect();
    match built_in.contains(&dialect) {
        true => Ok(()),
        false => Err(not_linked(dialect, &built_in)),
    }
}

fn not_linked(dialect: Dialect, linked: &[Dialect]) -> String {
    let linked: Vec<&str> = linked.iter().map(|d| d.name()).collect();
    format!(
        "DATABASE_URL names a {} database, and this build links no driver for it (it links {}): \
         build it with the Cargo feature `{}` (see the README, Target databases)",
        dialect.name(),
        match linked.is_empty() {
            true => "none".to_owned(),
            false => linked.join(", "),
        },
        feature(dialect)
    )
}

/// Which database gave `error`, and its native number where the database speaks in numbers
/// (MariaDB's error number, SQLite's extended result code; through ODBC the driver's native
/// error: Connector/ODBC's is the server's number, psqlODBC's its own, which the PostgreSQL
/// profile does not read). `None` for a driver this build does not link.
#[cfg_attr(
    not(any(
        feature = "mysql",
        feature = "postgres",
        feature = "sqlite",
        feature = "odbc"
    )),
    allow(unused_variables)
)]
pub(crate) fn origin(error: &dyn DatabaseError) -> Option<(Dialect, Option<i64>)> {
    #[cfg(feature = "mysql")]
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some((Dialect::MySql, Some(i64::from(mysql.number()))));
    }
    #[cfg(feature = "postgres")]
    if error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return Some((Dialect::Postgres, None));
    }
    #[cfg(feature = "sqlite")]
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        let code = error.code().and_then(|code| code.parse().ok());
        return Some((Dialect::Sqlite, code));
    }
    #[cfg(feature = "odbc")]
    if let Some(odbc) = error.try_downcast_ref::<odbc_session::sqlx_driver::OdbcDatabaseError>() {
        let dialect = Dialect::from_url(odbc.scheme()).ok()?;
        return Some((dialect, Some(i64::from(odbc.native()))));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_without_its_driver_is_refused_naming_the_feature() {
        assert_eq!(
            not_linked(Dialect::Sqlite, &[Dialect::Postgres, Dialect::MySql]),
            "DATABASE_URL names a SQLite database, and this \
             build links no driver for it (it links PostgreSQL, MariaDB/MySQL): build it with the \
             Cargo feature `sqlite` (see the README, Target databases)"
        );
        assert!(not_linked(Dialect::MySql, &[]).contains("(it links none)"));
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            assert_eq!(
                check_linked(dialect, "sqlite://x").is_ok(),
                linked(dialect),
                "{dialect:?}"
            );
        }
    }
}
