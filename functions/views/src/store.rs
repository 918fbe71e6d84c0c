//! The target database: the views this system manages, applied one at a time. Inside the view's
//! critical section ([`crate::section`]) the store reads what the apply's plan needs (the ledger
//! row, the holders of its names, the catalog), has it made ([`view_sync_core::apply::plan`], the
//! plan `view-sync plan` prints too) and executes its steps.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicI64;
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyExecutor, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use tokio::sync::OnceCell;
use view_sync_core::apply::{self, ApplyPlan, Change, Step as ApplyStep};
use view_sync_core::naming::ProjectTemplate;
use view_sync_core::plan::{
    self, Decision, DesiredView, InCatalog, LedgerRow, Scope, Target, ViewKey,
};
use view_sync_core::view_sql::ViewLocation;

use crate::audit::Cause;
use crate::closing::Ran;
use crate::config::StoreConfig;
use crate::ddl;
use crate::dialect::Dialect;
use crate::error::ViewsError;
use crate::ledger::now_micros;
use crate::rds_secret;
use crate::section::Section;
use crate::steps::{Step, StepHook};

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool's size. SQLite: one connection. Every DDL changes the schema, and a connection that
/// did not make the change re-reads the whole schema at its next statement: with a second
/// connection taking turns, each view created cost a parse of every view (46 ms per view at
/// 5,000 views, against 1 ms on one connection; BENCHMARKS.md). SQLite has one writer anyway.
fn connections(dialect: Dialect) -> u32 {
    match dialect {
        Dialect::Sqlite => 1,
        Dialect::Postgres | Dialect::MySql => 4,
    }
}

/// How long [`ViewStore::apply`] lets a view wait for its locks.
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// What [`ViewStore::apply`] did for one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub decision: Decision,
    pub view_name: String,
    /// Set when the view was closed instead (see [`crate::closing`]): only within an apply,
    /// which then fails with [`ViewsError::Blocked`].
    blocked_by: Option<String>,
}

pub struct ViewStore {
    pub(crate) pool: AnyPool,
    location: ViewLocation,
    /// The ledger table, quoted and qualified.
    pub(crate) ledger: String,
    /// The newest disabled hint per data source (see [`crate::hints`]), named after the ledger.
    hints: String,
    /// The "decided as of" marks per scope (see [`crate::marks`]), named after the ledger.
    marks: String,
    /// The audit trail (see [`crate::audit`]), named after the ledger, and its index.
    audit: String,
    audit_index: String,
    /// The last failure of queue messages (see [`crate::failures`]), named after the ledger.
    failures: String,
    pub(crate) marks_pruned_at: AtomicI64,
    ledger_ready: OnceCell<()>,
    step_hook: Option<StepHook>,
    /// What the pool connects with (see [`ViewStore::use_database_url`]).
    database_url: Mutex<String>,
    pub(crate) grants: GrantSettings,
    /// A schema per project (`VIEW_SCHEMA` as a template); `None`: every view in `location`'s.
    view_schemas: Option<ProjectTemplate>,
    /// PostgreSQL with no schema configured for the ledger: `public` (see
    /// [`StoreConfig::schema_of`]), where an earlier version went by the `search_path`.
    pub(crate) default_schema: bool,
}

/// How grants are managed (see [`crate::grants`]).
pub(crate) struct GrantSettings {
    /// Whether `VIEW_GRANT_ROLES` is set.
    pub manages: bool,
    pub create_roles: bool,
    /// Roles seen to exist: not looked for again.
    pub roles_seen: Mutex<BTreeSet<String>>,
}

/// The URL the pool connects with: a SQLite file is created if missing.
fn pool_url(dialect: Dialect, database_url: &str) -> String {
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

/// The URL may hold a password: sqlx's parse error, which can quote it, is never shown.
fn connect_options(url: &str) -> Result<AnyConnectOptions, ViewsError> {
    url.parse()
        .map_err(|_| ViewsError::Unavailable("DATABASE_URL is not a valid database URL".into()))
}

impl ViewStore {
    /// Builds the pool without connecting: a database that is down at cold start shows up as a
    /// retryable failure of the first batch, not as a function that cannot start.
    pub fn connect_lazy(config: &StoreConfig) -> Result<Self, ViewsError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let dialect = Dialect::from_url(&config.database_url)
            .map_err(|e| ViewsError::Unavailable(e.to_string()))?;
        let url = pool_url(dialect, &config.database_url);
        let pool = AnyPoolOptions::new()
            .max_connections(connections(dialect))
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
                        Dialect::MySql => "SET SESSION innodb_lock_wait_timeout = 10, lock_wait_timeout = 10; \
                            SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(CONCAT(',', @@sql_mode, ','), \
                            ',ANSI_QUOTES,', ','), ',NO_BACKSLASH_ESCAPES,', ',')); \
                            /*M! SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_CREATE_USER') */",
                    };
                    sqlx::raw_sql(setting).execute(conn).await.map(|_| ())
                })
            })
            .connect_lazy_with(connect_options(&url)?);
        let schema = config.schema_of(dialect);
        let ledger = dialect.qualified(schema.as_deref(), &config.ledger_table);
        let beside_the_ledger = |suffix: &str| {
            dialect.qualified(
                schema.as_deref(),
                &format!("{}_{suffix}", config.ledger_table),
            )
        };
        let audit_bare = format!("{}_audit", config.ledger_table);
        let index_name = dialect.quote(&format!("{audit_bare}_applied_at"));
        let audit_index = match dialect {
            // SQLite puts the schema on the index, PostgreSQL makes it in the table's schema.
            Dialect::Sqlite => format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (applied_at)",
                schema
                    .as_deref()
                    .map(|s| format!("{}.{index_name}", dialect.quote(s)))
                    .unwrap_or_else(|| index_name.clone()),
                dialect.quote(&audit_bare)
            ),
            Dialect::Postgres | Dialect::MySql => format!(
                "CREATE INDEX IF NOT EXISTS {index_name} ON {} (applied_at)",
                beside_the_ledger("audit")
            ),
        };
        Ok(Self {
            pool,
            ledger,
            hints: beside_the_ledger("disabled_hints"),
            marks: beside_the_ledger("scope_marks"),
            audit: beside_the_ledger("audit"),
            audit_index,
            failures: beside_the_ledger("failures"),
            location: ViewLocation {
                dialect,
                schema,
                barrier: config.barrier,
            },
            marks_pruned_at: AtomicI64::new(0),
            ledger_ready: OnceCell::new(),
            step_hook: None,
            database_url: Mutex::new(config.database_url.clone()),
            grants: GrantSettings {
                manages: !config.grant_roles.is_empty(),
                create_roles: config.create_roles,
                roles_seen: Mutex::new(BTreeSet::new()),
            },
            view_schemas: config.view_schemas.clone(),
            default_schema: dialect == Dialect::Postgres && config.schema.is_none(),
        })
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

    async fn step(&self, view: &ViewKey, step: Step) -> Result<(), ViewsError> {
        match &self.step_hook {
            Some(hook) => hook(view, step).await,
            None => Ok(()),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.location.dialect
    }

    /// Where the ledger is, and the views unless each project has a schema of its own (see
    /// [`ViewStore::location_of`]).
    pub fn location(&self) -> &ViewLocation {
        &self.location
    }

    /// Where the views of a project go: what their SQL is validated and named for.
    pub fn location_of(&self, project_id: &str, project_name: &str) -> ViewLocation {
        match &self.view_schemas {
            Some(template) => ViewLocation {
                schema: Some(template.render(project_id, project_name)),
                ..self.location.clone()
            },
            None => self.location.clone(),
        }
    }

    /// The schemas the views are in: the one of [`ViewStore::location`], or with a schema per
    /// project, those of the views the ledger holds.
    pub(crate) async fn view_schemas(&self) -> Result<BTreeSet<Option<String>>, ViewsError> {
        if self.view_schemas.is_none() {
            return Ok(self.schemas_of(&[]));
        }
        Ok(self.schemas_of(&self.rows(&Scope::Everything).await?))
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

    /// Creates the schema that `reference` names its view in, if it is a project's own and
    /// missing. Looked for at each create or replace, not remembered: a schema dropped by hand
    /// (or one PostgreSQL rolled back) is made again.
    async fn ensure_view_schema(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
    ) -> Result<(), ViewsError> {
        let Some((Some(schema), _)) = self
            .view_schemas
            .as_ref()
            .and_then(|_| self.dialect().unqualified(reference))
        else {
            return Ok(());
        };
        if self.dialect() == Dialect::Sqlite || self.schema_exists(&mut *conn, &schema).await? {
            return Ok(());
        }
        let create = ddl::create_schema(self.dialect(), &schema);
        let create = match self.dialect() {
            Dialect::Postgres => ddl::tolerating_a_concurrent_create(&create),
            _ => create,
        };
        self.run_ddl(conn, view, create, "create the schema of")
            .await
    }

    /// The ledger table, as statements refer to it.
    pub fn ledger_table(&self) -> &str {
        &self.ledger
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The statements that make `desired` as the ledger keeps them for `view-sync plan`: its
    /// create statement and, with `VIEW_GRANT_ROLES`, a GRANT per role.
    pub fn statements_of(&self, desired: &DesiredView) -> String {
        apply::as_applied(self.dialect(), desired)
    }

    /// How the view named `name` (from the template) is referred to in SQL.
    pub fn reference(&self, name: &str) -> String {
        self.location.reference(name)
    }

    pub(crate) fn hints_table(&self) -> &str {
        &self.hints
    }

    pub(crate) fn marks_table(&self) -> &str {
        &self.marks
    }

    pub(crate) fn audit_table(&self) -> &str {
        &self.audit
    }

    pub(crate) fn failures_table(&self) -> &str {
        &self.failures
    }

    pub(crate) fn audit_index_ddl(&self) -> String {
        self.audit_index.clone()
    }

    /// Creates the ledger, hints, marks, audit and failures tables (and the schema, if named), and adds
    /// the ledger columns an earlier version did not have, once per process.
    pub async fn ensure_ledger(&self) -> Result<(), ViewsError> {
        self.ledger_ready
            .get_or_try_init(|| async {
                let mut statements = Vec::new();
                let dialect = self.dialect();
                if let (Some(schema), Dialect::Postgres | Dialect::MySql) =
                    (&self.location.schema, dialect)
                    && !self.schema_exists(&self.pool, schema).await?
                {
                    statements.push(ddl::create_schema(dialect, schema));
                }
                if self.default_schema {
                    self.refuse_a_ledger_elsewhere_on_the_search_path().await?;
                }
                statements.push(self.ledger_table_ddl());
                statements.push(self.hints_table_ddl());
                statements.push(self.marks_table_ddl());
                statements.extend(self.audit_table_ddl());
                statements.push(self.failures_table_ddl());
                for statement in statements {
                    ddl::one_statement(statement)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| ViewsError::from_sqlx(e, "create", &self.ledger))?;
                }
                self.add_missing_columns().await?;
                if self.default_schema {
                    self.qualify_names_of_earlier_versions().await?;
                }
                Ok::<_, ViewsError>(())
            })
            .await
            .map(|_| ())
    }

    /// Whether `schema` exists. PostgreSQL checks the right to create schemas even for
    /// `CREATE SCHEMA IF NOT EXISTS` of one that exists, so a user that only owns its schema
    /// (the README's least-privilege user) must not be asked to create it.
    /// (`pg_namespace` lists every schema; PostgreSQL's `information_schema` only those the user
    /// may use.)
    async fn schema_exists<'c>(
        &self,
        executor: impl AnyExecutor<'c>,
        schema: &str,
    ) -> Result<bool, ViewsError> {
        let sql = match self.dialect() {
            Dialect::Postgres => "SELECT 'found' AS found FROM pg_namespace WHERE nspname = $1",
            _ => "SELECT 'found' AS found FROM information_schema.schemata WHERE schema_name = ?",
        };
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(schema.to_owned())
            .fetch_optional(executor)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "look for", schema))?;
        Ok(found.is_some())
    }

    /// Brings one view to `target`, unless a decision observed later was already applied,
    /// waiting for its locks at most 30 s. The audit trail names no cause.
    pub async fn apply(&self, target: &Target, observed_at: i64) -> Result<Applied, ViewsError> {
        self.apply_until(
            target,
            observed_at,
            Instant::now() + DEFAULT_LOCK_WAIT,
            &Cause::default(),
        )
        .await
    }

    /// [`ViewStore::apply`] for `cause`, giving up on locks not granted by `deadline` (a
    /// retryable [`ViewsError::LockTimeout`]): PostgreSQL's lock and statement timeouts for the
    /// section's transaction, MariaDB's lock waits and `GET_LOCK`'s own timeout (whole seconds,
    /// at least one), SQLite's busy timeout (one second per attempt).
    pub async fn apply_until(
        &self,
        target: &Target,
        observed_at: i64,
        deadline: Instant,
        cause: &Cause,
    ) -> Result<Applied, ViewsError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(ViewsError::OutOfTime {
                view: label(target.view()),
            });
        }
        self.ensure_ledger().await?;
        let label = label(target.view());
        let mut section = Section::enter(self, target, wait).await?;
        let applied = self
            .decide_and_apply(&mut section, target, observed_at, cause)
            .await;
        let applied = section.leave(applied, &label).await?;
        match applied.blocked_by {
            // Closed and committed: nobody reads the older definition, but the view is not
            // what was decided, so its notification must come back.
            Some(blockers) => Err(ViewsError::Blocked {
                view: label,
                name: applied.view_name,
                blockers,
            }),
            None => Ok(applied),
        }
    }

    async fn decide_and_apply(
        &self,
        section: &mut Section,
        target: &Target,
        observed_at: i64,
        cause: &Cause,
    ) -> Result<Applied, ViewsError> {
        let view = target.view();
        let row_lock = section.row_lock();
        let conn = section.connection();
        let row = self.read_row(conn, view, row_lock).await?;
        self.step(view, Step::RowRead).await?;
        let row = row.as_ref();
        let (target, decision) = self.named_target(conn, row, target, observed_at).await?;
        let in_catalog = match apply::catalog_to_read(&decision, row) {
            Some(row) => self.in_catalog(conn, &row.view_name).await?,
            None => None,
        };
        let decision = apply::against_catalog(
            decision,
            row,
            in_catalog.as_ref().map(|(definition, grants)| InCatalog {
                definition,
                grants: grants.as_deref(),
            }),
        );
        let change = Change {
            view,
            row,
            observed_at,
            cause,
            applied_at: now_micros(),
        };
        let plan = apply::plan(self.dialect(), &change, target, decision);
        self.execute(conn, &change, plan).await
    }

    /// What the catalog holds for the view `name`: its definition's digest and, where grants are
    /// managed, its grants' digest; `None` if no view answers to the name.
    async fn in_catalog(
        &self,
        conn: &mut AnyConnection,
        name: &str,
    ) -> Result<Option<(String, Option<String>)>, ViewsError> {
        let Some(definition) = self.catalog_digest(conn, name).await? else {
            return Ok(None);
        };
        let grants = self.grants_digest(conn, name).await?;
        Ok(Some((definition, grants)))
    }

    /// Runs `plan`'s steps in order. Two outcomes end it early, each as the plan's module
    /// words it: a newer scope mark ([`apply::superseded`]) and a view closed rather than
    /// dropped ([`apply::closed`]).
    async fn execute(
        &self,
        conn: &mut AnyConnection,
        change: &Change<'_>,
        planned: ApplyPlan,
    ) -> Result<Applied, ViewsError> {
        let view = change.view;
        let ApplyPlan {
            decision,
            steps,
            intent,
            restore_to,
            row,
            audit,
            ..
        } = planned;
        let mut row = row;
        let mut statements_run = 0;
        let mut intent_recorded = false;
        for step in steps {
            match step {
                ApplyStep::EnsureSchema(name) => self.ensure_view_schema(conn, view, &name).await?,
                ApplyStep::RefuseIfTaken(name) => {
                    if self.exists(conn, &name).await? {
                        return Err(ViewsError::Refused {
                            action: "create",
                            view: label(view),
                            detail: format!(
                                "{name} exists and is not in the ledger, so it is left alone"
                            ),
                        });
                    }
                }
                ApplyStep::RevokeBeforeDrop(name) => {
                    self.revoke_before_drop(conn, view, &name).await?
                }
                ApplyStep::Run(ddl) => match self.run_step(conn, view, ddl).await {
                    Ok(Ran::Done) => {
                        self.step(view, Step::StatementRun(statements_run)).await?;
                        statements_run += 1;
                    }
                    Ok(Ran::Closed { name, blockers }) => {
                        return self.closed(conn, change, decision, name, blockers).await;
                    }
                    Err(error) => {
                        if intent_recorded {
                            // The statement changed nothing: put the ledger back as it was.
                            self.restore_row(conn, view, restore_to.as_ref()).await?;
                        }
                        return Err(error);
                    }
                },
                ApplyStep::RecordIntent => {
                    if let Some(intent) = &intent {
                        self.write_row(conn, view, intent).await?;
                    }
                    intent_recorded = true;
                    self.step(view, Step::IntentRecorded).await?;
                }
                ApplyStep::CheckScopeMarks => {
                    let newest_mark = self.newest_mark(conn, view).await?;
                    self.step(view, Step::MarksRead).await?;
                    let checked =
                        plan::check_scope_marks(decision.clone(), newest_mark, change.observed_at);
                    if !checked.writes_ledger() {
                        if intent_recorded {
                            self.restore_row(conn, view, restore_to.as_ref()).await?;
                        }
                        let entry = apply::superseded(change, &checked);
                        self.record_change(conn, &entry).await?;
                        return Ok(Applied {
                            decision: checked,
                            view_name: entry.view_name,
                            blocked_by: None,
                        });
                    }
                }
                ApplyStep::RevokeExtraGrants { view_name, roles } => {
                    self.revoke_extra_grants(conn, view, &view_name, &roles)
                        .await?;
                }
                ApplyStep::Grant { view_name, roles } => {
                    let digest = self.apply_grants(conn, view, &view_name, &roles).await?;
                    if let Some(row) = row.as_mut() {
                        row.grants_digest = digest;
                    }
                }
                ApplyStep::ReadCatalogDigest(name) => {
                    let digest = self.created_view_digest(conn, &name).await?;
                    if let Some(row) = row.as_mut() {
                        row.catalog_digest = digest.unwrap_or_default();
                    }
                }
                ApplyStep::WriteRow => {
                    if let Some(row) = &row {
                        self.write_row(conn, view, row).await?;
                    }
                }
                ApplyStep::RecordAudit => {
                    if let Some(entry) = &audit {
                        self.record_change(conn, entry).await?;
                    }
                }
            }
        }
        let view_name = match (&row, &audit) {
            (Some(row), _) => {
                self.step(view, Step::RowWritten).await?;
                row.name.clone()
            }
            (None, Some(entry)) => entry.view_name.clone(),
            (None, None) => String::new(),
        };
        Ok(Applied {
            decision,
            view_name,
            blocked_by: None,
        })
    }

    /// A view that `decision` could not bring to its target, closed instead since `blockers`
    /// depend on it (see [`crate::closing`]): its row and the audit trail say so, and
    /// [`ViewStore::apply_until`] fails with the blockers once the section is committed.
    async fn closed(
        &self,
        conn: &mut AnyConnection,
        change: &Change<'_>,
        decision: Decision,
        name: String,
        blockers: String,
    ) -> Result<Applied, ViewsError> {
        let (row, entry) = apply::closed(change, &decision, &name, &blockers);
        self.write_row(conn, change.view, &row).await?;
        if let Some(entry) = entry {
            self.record_change(conn, &entry).await?;
        }
        Ok(Applied {
            decision,
            view_name: name,
            blocked_by: Some(blockers),
        })
    }

    /// The target an apply works to, and its decision ([`plan::named_target`], which `plan`
    /// uses too), with the holders of its names read from the ledger in its critical section.
    async fn named_target(
        &self,
        conn: &mut AnyConnection,
        row: Option<&LedgerRow>,
        target: &Target,
        observed_at: i64,
    ) -> Result<(Target, Decision), ViewsError> {
        let names = plan::names_to_check(row, target, observed_at);
        let holders = match names.as_slice() {
            [] => std::collections::BTreeMap::new(),
            names => self.holders_of(conn, target.view(), names).await?,
        };
        Ok(plan::named_target(row, target, observed_at, |name| {
            holders.get(name).cloned()
        })?)
    }

    /// Runs one statement of `view`'s section; a failure says it was `action` that failed.
    pub(crate) async fn run_ddl(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        statement: String,
        action: &'static str,
    ) -> Result<(), ViewsError> {
        ddl::one_statement(statement)
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, action, &label(view)))
    }

    /// Whether a table or view answers to `name` (a probe that reads no rows). Only "no such
    /// table" (SQLSTATE 42S02) counts as absent: a view we may not read, or one whose tables are
    /// gone, still exists and is someone else's.
    async fn exists(&self, conn: &mut AnyConnection, name: &str) -> Result<bool, ViewsError> {
        match ddl::one_statement(format!("SELECT 1 FROM {name} WHERE 1 = 0"))
            .execute(&mut *conn)
            .await
        {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42S02") => Ok(false),
            Err(e) => Err(ViewsError::from_sqlx(e, "look for", name)),
        }
    }
}

pub(crate) fn label(view: &ViewKey) -> String {
    format!(
        "view of data source {} in project {}",
        view.data_source_id, view.project_id
    )
}
