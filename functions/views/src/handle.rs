//! The database handle: the pool, where views go, and one value per table of the store (the
//! [`Ledger`], the [`Marks`], the [`Audit`] trail, the [`Failures`], the [`Hints`]) and for the
//! views' [`Grants`], each with its statements in its own module. The apply that uses them all
//! is in [`crate::store`]; what the processor and the CLI read and write through them, in
//! [`crate::records`].

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::OnceCell;
use view_sync_core::naming::{self, ProjectTemplate};
use view_sync_core::plan::{LedgerRow, ViewKey};
use view_sync_core::profile::{self, ErrorMeaning, Profile};
use view_sync_core::view_sql::ViewLocation;

use crate::audit::Audit;
use crate::config::StoreConfig;
use crate::ddl;
use crate::dialect::Dialect;
use crate::drivers;
use crate::error::{ViewsError, meaning};
use crate::failures::Failures;
use crate::grants::Grants;
use crate::hints::Hints;
use crate::ledger::Ledger;
use crate::marks::Marks;
use crate::rds_secret;
use crate::steps::{Step, StepHook};

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool's size. SQLite: one connection. Every DDL changes the schema, and a connection that
/// did not make the change re-reads the whole schema at its next statement: with a second
/// connection taking turns, each view created cost a parse of every view (46 ms per view at
/// 5,000 views, against 1 ms on one connection; BENCHMARKS.md). SQLite has one writer anyway.
/// Elsewhere: one per view applied at once, and two for what runs beside the applies (the
/// ledger reads of the units that have read Immuta and wait for their turn).
fn connections(dialect: Dialect, apply_concurrency: usize) -> u32 {
    match dialect {
        Dialect::Sqlite => 1,
        Dialect::Postgres | Dialect::MySql => apply_concurrency as u32 + 2,
    }
}

pub struct ViewStore {
    pub(crate) pool: AnyPool,
    pub(crate) location: ViewLocation,
    pub(crate) ledger: Ledger,
    pub(crate) marks: Marks,
    pub(crate) audit: Audit,
    pub(crate) failures: Failures,
    pub(crate) hints: Hints,
    pub(crate) grants: Grants,
    pub(crate) ledger_ready: OnceCell<()>,
    pub(crate) step_hook: Option<StepHook>,
    /// What the pool connects with (see [`ViewStore::use_database_url`]).
    pub(crate) database_url: Mutex<String>,
    /// A schema per project (`VIEW_SCHEMA` as a template); `None`: every view in `location`'s.
    pub(crate) view_schemas: Option<ProjectTemplate>,
    /// How many views a batch applies at once ([`ViewStore::apply_concurrency`]).
    apply_concurrency: usize,
}

/// The URL the pool connects with: a SQLite file is created if missing; an ODBC connection
/// string is carried as the driver reads it ([`drivers::connect_url`]).
fn pool_url(dialect: Dialect, database_url: &str) -> String {
    let database_url = &drivers::connect_url(database_url);
    match dialect {
        Dialect::Sqlite
            if !database_url.contains("mode=") && !database_url.contains(":memory:") =>
        {
            let separator = if database_url.contains('?') { '&' } else { '?' };
            format!("{database_url}{separator}mode=rwc")
        }
        _ => database_url.to_owned(),
    }
}

/// A MariaDB session whose `sql_mode` (`mode`, as the session's settings left it) still quotes
/// strings otherwise than the view SQL's validation and the ODBC driver's statement reader read
/// them: a combined mode the setting leaves in place (`ANSI`, `ORACLE`, …) turns `ANSI_QUOTES`
/// back on. Refused, rather than run statements whose literals could hide a second one.
fn refuse_quoting_that_hides_statements(mode: &str) -> Result<(), sqlx::Error> {
    match quoting_that_hides_statements(mode) {
        Some(flag) => Err(sqlx::Error::Configuration(
            format!(
                "the server's sql_mode keeps {flag} on in this session ({mode}): remove the \
                 combined mode that sets it (ANSI, ORACLE, MSSQL, DB2, MAXDB, POSTGRESQL) from \
                 the server's default sql_mode"
            )
            .into(),
        )),
        None => Ok(()),
    }
}

/// The flag of `sql_mode` (as the server reports it, combined modes expanded) that changes how
/// literals are quoted, if one is on.
fn quoting_that_hides_statements(sql_mode: &str) -> Option<&'static str> {
    let flags: Vec<&str> = sql_mode.split(',').map(str::trim).collect();
    ["ANSI_QUOTES", "NO_BACKSLASH_ESCAPES"]
        .into_iter()
        .find(|flag| flags.contains(flag))
}

/// The URL may hold a password: sqlx's parse error, which can quote it, is never shown.
fn connect_options(url: &str) -> Result<AnyConnectOptions, ViewsError> {
    url.parse()
        .map_err(|_| ViewsError::Unavailable("DATABASE_URL is not a valid database URL".into()))
}

impl ViewStore {
    /// Builds the pool without connecting: a database that is down at cold start shows up as a
    /// retryable failure of the first batch, not as a function that cannot start.
    pub fn connect_lazy(config: &StoreConfig) -> Result<Self, ViewsError> {
        drivers::install();
        let dialect = Dialect::from_url(&config.database_url)
            .map_err(|e| ViewsError::Unavailable(e.to_string()))?;
        drivers::check_linked(dialect, &config.database_url).map_err(ViewsError::Unavailable)?;
        let url = pool_url(dialect, &config.database_url);
        let pool = AnyPoolOptions::new()
            .max_connections(connections(dialect, config.apply_concurrency))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let setting = match dialect {
                        // WAL: readers never block the writer; NORMAL sync is durable in WAL mode.
                        // A busy timeout of one second per attempt: SQLite has no per-transaction
                        // timeout, so this stays below the default deadline margin, and the
                        // processor stops its attempts at the deadline.
                        // Every DDL statement reads all of `sqlite_master` (a row per view with
                        // its SQL): a page cache of up to 16 MiB (filled only as pages are read)
                        // holds eight times the views the default 2 MiB does before each read
                        // goes to the file (at about 5,000 views of 150 bytes of SQL).
                        Dialect::Sqlite => "PRAGMA busy_timeout = 1000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                            PRAGMA cache_size = -16384",
                        // Literals and identifiers read as the view SQL validation read them,
                        // whatever the server's defaults.
                        Dialect::Postgres => "SET statement_timeout = '30s'; SET standard_conforming_strings = on",
                        // And on MariaDB (the executable comment; MySQL 8 has no such mode and
                        // never creates users so), a GRANT to a role that does not exist fails
                        // rather than create a user of that name with no password.
                        // The mode it leaves is read back in the same round trip (checked below).
                        Dialect::MySql => "SET SESSION innodb_lock_wait_timeout = 10, lock_wait_timeout = 10; \
                            SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(CONCAT(',', @@sql_mode, ','), \
                            ',ANSI_QUOTES,', ','), ',NO_BACKSLASH_ESCAPES,', ',')); \
                            SELECT CAST(@@sql_mode AS CHAR) AS sql_mode; \
                            /*M! SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_CREATE_USER') */",
                    };
                    let rows = sqlx::raw_sql(setting).fetch_all(&mut *conn).await?;
                    if dialect == Dialect::MySql {
                        let mode: String = match rows.first() {
                            Some(row) => row.try_get("sql_mode")?,
                            None => {
                                return Err(sqlx::Error::Protocol(
                                    "the session's sql_mode was not read back".into(),
                                ));
                            }
                        };
                        refuse_quoting_that_hides_statements(&mode)?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(connect_options(&url)?);
        let schema = config.schema_of(dialect);
        let beside_the_ledger = |suffix: &str| {
            dialect.qualified(
                schema.as_deref(),
                &format!("{}_{suffix}", config.ledger_table),
            )
        };
        let location = ViewLocation {
            barrier: config.barrier,
            ..profile::view_location(dialect, schema.clone())
        };
        Ok(Self {
            pool,
            ledger: Ledger::new(
                dialect,
                schema.clone(),
                &config.ledger_table,
                dialect == Dialect::Postgres && config.schema.is_none(),
            ),
            marks: Marks::new(beside_the_ledger("scope_marks"), dialect),
            audit: Audit::new(location.clone(), &config.ledger_table),
            failures: Failures::new(beside_the_ledger("failures"), dialect),
            hints: Hints::new(beside_the_ledger("disabled_hints"), dialect),
            grants: Grants::new(
                dialect,
                !config.grant_roles.is_empty(),
                config.create_roles,
                schema,
            ),
            location,
            ledger_ready: OnceCell::new(),
            step_hook: None,
            database_url: Mutex::new(config.database_url.clone()),
            view_schemas: config.view_schemas.clone(),
            apply_concurrency: match dialect {
                Dialect::Sqlite => 1,
                Dialect::Postgres | Dialect::MySql => config.apply_concurrency.max(1),
            },
        })
    }

    /// How many views a batch may apply at once (`VIEW_APPLY_CONCURRENCY`; always 1 on SQLite,
    /// whose one writer would only make the others wait).
    pub fn apply_concurrency(&self) -> usize {
        self.apply_concurrency
    }

    /// Connects with `database_url` from now on (a secret read again after a rotation; a URL or
    /// an RDS-style secret's JSON). Open connections stay as they are: the database ends them
    /// when it needs to. `false` when it is the URL already in use. A URL for another kind of
    /// database is refused: the views and the ledger are where this store found them.
    pub fn use_database_url(&self, database_url: &str) -> Result<bool, ViewsError> {
        let database_url = rds_secret::database_url(database_url)
            .map_err(|e| ViewsError::Unavailable(e.to_string()))?;
        let dialect =
            Dialect::from_url(&database_url).map_err(|e| ViewsError::Unavailable(e.to_string()))?;
        if dialect != self.dialect() {
            return Err(ViewsError::Unavailable(format!(
                "DATABASE_URL now names a {} database; this store serves {} (restart to move)",
                dialect.name(),
                self.dialect().name()
            )));
        }
        let mut in_use = self
            .database_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *in_use == database_url {
            return Ok(false);
        }
        self.pool
            .set_connect_options(connect_options(&pool_url(dialect, &database_url))?);
        *in_use = database_url;
        Ok(true)
    }

    /// Calls `hook` at each [`Step`] of every apply: for fault-injection tests.
    pub fn with_step_hook(mut self, hook: StepHook) -> Self {
        self.step_hook = Some(hook);
        self
    }

    pub(crate) async fn step(&self, view: &ViewKey, step: Step) -> Result<(), ViewsError> {
        match &self.step_hook {
            Some(hook) => hook(view, step).await,
            None => Ok(()),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.location.dialect
    }

    /// What the store's database needs, as statements (see `view_sync_core::profile`).
    pub(crate) fn profile(&self) -> &'static (dyn Profile + Sync) {
        profile::of(self.dialect())
    }

    /// Where the ledger is, and the views unless each project has a schema of its own (see
    /// [`ViewStore::location_of`]).
    pub fn location(&self) -> &ViewLocation {
        &self.location
    }

    /// Where the views of a project go: what their SQL is validated and named for.
    pub fn location_of(&self, project_id: &str, project_name: &str) -> ViewLocation {
        naming::project_location(
            &self.location,
            self.view_schemas.as_ref(),
            project_id,
            project_name,
        )
    }

    /// [`ViewStore::view_schemas`], given every row of the ledger.
    pub(crate) fn schemas_of(&self, rows: &[LedgerRow]) -> BTreeSet<Option<String>> {
        if self.view_schemas.is_none() {
            return BTreeSet::from([self.location.schema.clone()]);
        }
        rows.iter()
            .filter(|row| row.state.is_owned())
            .filter_map(|row| self.dialect().unqualified(&row.view_name))
            .map(|(schema, _)| schema)
            .collect()
    }

    /// The ledger table, as statements refer to it.
    pub fn ledger_table(&self) -> &str {
        self.ledger.name()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// How the view named `name` (from the template) is referred to in SQL.
    pub fn reference(&self, name: &str) -> String {
        self.location.reference(name)
    }

    /// Whether a table or view answers to `name` (a probe that reads no rows). Only "no such
    /// table" ([`ErrorMeaning::Absent`]) counts as absent: a view we may not read, or one whose tables are
    /// gone, still exists and is someone else's.
    pub(crate) async fn exists(
        &self,
        conn: &mut AnyConnection,
        name: &str,
    ) -> Result<bool, ViewsError> {
        match ddl::one_statement(format!("SELECT 1 FROM {name} WHERE 1 = 0"))
            .execute(&mut *conn)
            .await
        {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if meaning(e.as_ref()) == Some(ErrorMeaning::Absent) => {
                Ok(false)
            }
            Err(e) => Err(ViewsError::from_sqlx(e, "look for", name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quoting_that_hides_statements;

    #[test]
    fn a_mode_that_quotes_otherwise_is_named() {
        // As MariaDB reports `ANSI` after expanding it.
        let ansi = "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI";
        assert_eq!(quoting_that_hides_statements(ansi), Some("ANSI_QUOTES"));
        assert_eq!(
            quoting_that_hides_statements("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES"),
            Some("NO_BACKSLASH_ESCAPES")
        );
        let default = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,\
                       NO_ENGINE_SUBSTITUTION";
        assert_eq!(quoting_that_hides_statements(default), None);
        assert_eq!(quoting_that_hides_statements(""), None);
    }
}
