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
use view_sync_core::printable::printable;
use view_sync_core::profile::{self, ErrorMeaning, Profile, RefusedFlags};
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

/// The pool's size. One connection where the database has one writer (SQLite): every DDL
/// changes the schema, and a connection that did not make the change re-reads the whole schema
/// at its next statement: with a second connection taking turns, each view created cost a parse
/// of every view (46 ms per view at 5,000 views, against 1 ms on one connection;
/// BENCHMARKS.md). Elsewhere: one per view applied at once, and two for what runs beside the
/// applies (the ledger reads of the units that have read Immuta and wait for their turn).
fn connections(profile: &dyn Profile, apply_concurrency: usize) -> u32 {
    match one_writer(profile) {
        true => 1,
        false => apply_concurrency as u32 + 2,
    }
}

/// Whether the database has one writer at a time (SQLite's sections).
fn one_writer(profile: &dyn Profile) -> bool {
    profile.section() == profile::Section::OneWriter
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

/// A session whose settings, read back (`setting`, `None` where the settings returned no row),
/// still hold a flag its database's profile refuses (MariaDB: a combined `sql_mode` that turns
/// `ANSI_QUOTES` back on, so that strings would be quoted otherwise than the view SQL's
/// validation and the ODBC driver's statement reader read them). Refused, rather than run
/// statements whose literals could hide a second one.
fn refuse_flags(refused: &RefusedFlags, setting: Option<&str>) -> Result<(), sqlx::Error> {
    let Some(setting) = setting else {
        return Err(sqlx::Error::Protocol(format!(
            "the session's {} was not read back",
            refused.column
        )));
    };
    match refused.found(setting) {
        Some(flag) => Err(sqlx::Error::Configuration(
            format!(
                "the server's {} keeps {flag} on in this session ({}): {}",
                refused.column,
                printable(setting),
                refused.remedy
            )
            .into(),
        )),
        None => Ok(()),
    }
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
        let profile = profile::of(dialect);
        let pool = AnyPoolOptions::new()
            .max_connections(connections(profile, config.apply_concurrency))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let Some(settings) = profile.session_settings() else {
                        return Ok(());
                    };
                    let rows = sqlx::raw_sql(settings.statements)
                        .fetch_all(&mut *conn)
                        .await?;
                    let Some(refused) = &settings.refused_flags else {
                        return Ok(());
                    };
                    let setting: Option<String> = match rows.first() {
                        Some(row) => Some(row.try_get(refused.column)?),
                        None => None,
                    };
                    refuse_flags(refused, setting.as_deref())
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
            apply_concurrency: match one_writer(profile) {
                true => 1,
                false => config.apply_concurrency.max(1),
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
    use view_sync_core::profile::{MariaDb, Profile};

    use super::refuse_flags;

    #[test]
    fn a_session_that_keeps_a_refused_flag_or_reads_nothing_back_is_refused() {
        let refused = MariaDb.session_settings().unwrap().refused_flags.unwrap();
        let ansi = "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI";
        let error = refuse_flags(&refused, Some(ansi)).unwrap_err().to_string();
        assert!(
            error.contains("keeps ANSI_QUOTES on in this session")
                && error.contains("ANSI, ORACLE"),
            "{error}"
        );
        let error = refuse_flags(&refused, None).unwrap_err().to_string();
        assert!(error.contains("sql_mode was not read back"), "{error}");
        let hidden = "ANSI_QUOTES\u{1b}[2J";
        let error = refuse_flags(&refused, Some(&format!("{hidden},ANSI_QUOTES")))
            .unwrap_err()
            .to_string();
        assert!(!error.contains('\u{1b}'), "printed as text: {error}");
        assert!(refuse_flags(&refused, Some("STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION")).is_ok());
    }
}
