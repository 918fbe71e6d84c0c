//! The target database: the ledger of managed views and the DDL that creates, replaces and drops
//! them, one view at a time inside a critical section.
//!
//! | database | critical section per view | DDL and ledger |
//! | --- | --- | --- |
//! | SQLite | `BEGIN IMMEDIATE` (one writer) | one transaction |
//! | PostgreSQL | the ledger row, `SELECT … FOR UPDATE` | one transaction (DDL is transactional) |
//! | MariaDB/MySQL | a named lock (`GET_LOCK`), since DDL commits implicitly and drops row locks | intent row, then DDL, then the row: a re-run finishes the job |

use std::fmt;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, AssertSqlSafe, Row};
use tokio::sync::OnceCell;
use view_sync_core::Id;
use view_sync_core::plan::{self, Decision, LedgerRow, RowState, Scope, Target, ViewKey};
use view_sync_core::settings::{ConfigError, Settings};
use view_sync_core::view_sql::ViewLocation;

use crate::dialect::{Dialect, LedgerSql};
use crate::error::ViewsError;

pub const DEFAULT_LEDGER_TABLE: &str = "immuta_view_sync_ledger";
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds `GET_LOCK` waits for another processor working on the same view.
const LOCK_WAIT_SECONDS: i64 = 10;
/// The ledger columns a [`LedgerRow`] is read from.
const ROW_COLUMNS: &str = "project_id, data_source_id, view_name, sql_digest, state, observed_at";

#[derive(Clone)]
pub struct StoreConfig {
    pub database_url: String,
    /// Schema (PostgreSQL) or database (MariaDB) of views and ledger; SQLite has only `main`.
    pub schema: Option<String>,
    pub ledger_table: String,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        f.debug_struct("StoreConfig")
            .field("database_url", &format_args!("{scheme}://<redacted>"))
            .field("schema", &self.schema)
            .field("ledger_table", &self.ledger_table)
            .finish()
    }
}

impl StoreConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(lookup);
        let database_url = settings.required(
            "DATABASE_URL",
            "set it to sqlite://PATH (created if missing), postgres://… or mysql://…",
        )?;
        let schema = settings.optional("VIEW_SCHEMA");
        if Dialect::from_url(&database_url)? == Dialect::Sqlite
            && schema.as_deref().is_some_and(|s| s != "main")
        {
            return Err(ConfigError::new(
                "VIEW_SCHEMA",
                "is for PostgreSQL (a schema) and MariaDB (a database); with SQLite leave it unset \
                 (views go to the database file)",
            ));
        }
        Ok(Self {
            database_url,
            schema,
            ledger_table: settings
                .optional("LEDGER_TABLE")
                .unwrap_or_else(|| DEFAULT_LEDGER_TABLE.into()),
        })
    }

    /// Where the views go; `None` if `DATABASE_URL` names no database we serve.
    pub fn location(&self) -> Option<ViewLocation> {
        Some(ViewLocation {
            dialect: Dialect::from_url(&self.database_url).ok()?,
            schema: self.schema.clone(),
        })
    }
}

/// What [`ViewStore::apply`] did for one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub decision: Decision,
    pub view_name: String,
}

pub struct ViewStore {
    pool: AnyPool,
    location: ViewLocation,
    ledger: String,
    /// The newest disabled hint per data source (see [`crate::hints`]), named after the ledger.
    hints: String,
    ledger_ready: OnceCell<()>,
}

impl ViewStore {
    /// Builds the pool without connecting: a database that is down at cold start shows up as a
    /// retryable failure of the first batch, not as a function that cannot start.
    pub fn connect_lazy(config: &StoreConfig) -> Result<Self, ViewsError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let dialect = Dialect::from_url(&config.database_url)
            .map_err(|e| ViewsError::Unavailable(e.to_string()))?;
        let url = match dialect {
            Dialect::Sqlite
                if !config.database_url.contains("mode=")
                    && !config.database_url.contains(":memory:") =>
            {
                let separator = if config.database_url.contains('?') {
                    '&'
                } else {
                    '?'
                };
                format!("{}{separator}mode=rwc", config.database_url)
            }
            _ => config.database_url.clone(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 2 } else { 4 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let setting = match dialect {
                        // WAL: readers never block the writer; NORMAL sync is durable in WAL mode.
                        Dialect::Sqlite => "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
                        Dialect::Postgres => "SET statement_timeout = '30s'",
                        Dialect::MySql => "SET SESSION innodb_lock_wait_timeout = 10",
                    };
                    sqlx::raw_sql(setting).execute(conn).await.map(|_| ())
                })
            })
            // The URL may hold a password: never show sqlx's parse error, which can quote it.
            .connect_lazy(&url)
            .map_err(|_| {
                ViewsError::Unavailable("DATABASE_URL is not a valid database URL".into())
            })?;
        let ledger = dialect.qualified(config.schema.as_deref(), &config.ledger_table);
        let hints = dialect.qualified(
            config.schema.as_deref(),
            &format!("{}_disabled_hints", config.ledger_table),
        );
        Ok(Self {
            pool,
            location: ViewLocation {
                dialect,
                schema: config.schema.clone(),
            },
            ledger,
            hints,
            ledger_ready: OnceCell::new(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.location.dialect
    }

    /// Where the views go: what view SQL is validated and named for.
    pub fn location(&self) -> &ViewLocation {
        &self.location
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// How the view named `name` (from the template) is referred to in SQL.
    pub fn reference(&self, name: &str) -> String {
        self.location.reference(name)
    }

    pub(crate) fn hints_table(&self) -> &str {
        &self.hints
    }

    /// Creates the ledger and hints tables (and the schema, if named) once per process.
    pub async fn ensure_ledger(&self) -> Result<(), ViewsError> {
        self.ledger_ready
            .get_or_try_init(|| async {
                let mut statements = Vec::new();
                let dialect = self.dialect();
                if let (Some(schema), Dialect::Postgres | Dialect::MySql) = (&self.location.schema, dialect)
                    && !self.schema_exists(schema).await?
                {
                    let kind = if dialect == Dialect::Postgres { "SCHEMA" } else { "DATABASE" };
                    statements.push(format!("CREATE {kind} IF NOT EXISTS {}", dialect.quote(schema)));
                }
                statements.push(format!(
                    "CREATE TABLE IF NOT EXISTS {} (project_id VARCHAR(255) NOT NULL, data_source_id VARCHAR(255) NOT NULL, \
                     view_name VARCHAR(1024) NOT NULL, sql_digest VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, \
                     observed_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (project_id, data_source_id))",
                    self.ledger
                ));
                statements.push(self.hints_table_ddl());
                for statement in statements {
                    one_statement(statement)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| ViewsError::from_sqlx(e, "create", &self.ledger))?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Whether `schema` exists. PostgreSQL checks the right to create schemas even for
    /// `CREATE SCHEMA IF NOT EXISTS` of one that exists, so a user that only owns its schema
    /// (the README's least-privilege user) must not be asked to create it.
    async fn schema_exists(&self, schema: &str) -> Result<bool, ViewsError> {
        let sql = format!(
            "SELECT 'found' AS found FROM information_schema.schemata WHERE schema_name = {}",
            self.dialect().param(1)
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(schema.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "look for", schema))?;
        Ok(found.is_some())
    }

    /// Ledger rows in `scope`.
    pub async fn rows(&self, scope: &Scope) -> Result<Vec<LedgerRow>, ViewsError> {
        self.ensure_ledger().await?;
        let select = format!("SELECT {ROW_COLUMNS} FROM {}", self.ledger);
        let p = |n| self.dialect().param(n);
        let (sql, binds): (String, Vec<&str>) = match scope {
            Scope::DataSource(id) => (
                format!("{select} WHERE data_source_id = {}", p(1)),
                vec![id.as_str()],
            ),
            Scope::Project(id) => (
                format!("{select} WHERE project_id = {}", p(1)),
                vec![id.as_str()],
            ),
            Scope::View(view) => (
                format!("{select} WHERE {}", self.view_predicate()),
                vec![view.project_id.as_str(), view.data_source_id.as_str()],
            ),
            Scope::Everything => (select, vec![]),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value.to_owned());
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", &self.ledger))?;
        Ok(rows.iter().filter_map(ledger_row).collect())
    }

    /// Brings one view to `target`, unless a decision observed later was already applied.
    pub async fn apply(&self, target: &Target, observed_at: i64) -> Result<Applied, ViewsError> {
        self.ensure_ledger().await?;
        let label = label(target.view());
        let label = label.as_str();
        let sql_error = |action| move |e| ViewsError::from_sqlx(e, action, label);
        match self.dialect() {
            Dialect::Sqlite => {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(sql_error("lock"))?;
                let applied = self
                    .decide_and_apply(&mut tx, target, observed_at, false)
                    .await?;
                tx.commit().await.map_err(sql_error("commit"))?;
                Ok(applied)
            }
            Dialect::Postgres => {
                let mut tx = self.pool.begin().await.map_err(sql_error("lock"))?;
                // A row to lock even for a view the ledger has never seen.
                let p = |n| self.dialect().param(n);
                let placeholder = format!(
                    "INSERT INTO {} (project_id, data_source_id, view_name, sql_digest, state, observed_at, updated_at) \
                     VALUES ({}, {}, '', '', 'dropped', 0, 0) ON CONFLICT DO NOTHING",
                    self.ledger,
                    p(1),
                    p(2)
                );
                sqlx::query(AssertSqlSafe(placeholder))
                    .bind(target.view().project_id.as_str().to_owned())
                    .bind(target.view().data_source_id.as_str().to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err(sql_error("lock"))?;
                let applied = self
                    .decide_and_apply(&mut tx, target, observed_at, true)
                    .await?;
                tx.commit().await.map_err(sql_error("commit"))?;
                Ok(applied)
            }
            Dialect::MySql => {
                let mut conn = self.pool.acquire().await.map_err(sql_error("lock"))?;
                let lock = lock_name(&self.ledger, target.view());
                let locked: Option<i64> =
                    sqlx::query_scalar(AssertSqlSafe("SELECT GET_LOCK(?, ?)"))
                        .bind(lock.clone())
                        .bind(LOCK_WAIT_SECONDS)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(sql_error("lock"))?;
                if locked != Some(1) {
                    return Err(ViewsError::LockTimeout {
                        view: label.to_owned(),
                    });
                }
                let applied = self
                    .decide_and_apply(&mut conn, target, observed_at, false)
                    .await;
                let released = sqlx::query(AssertSqlSafe("SELECT RELEASE_LOCK(?)"))
                    .bind(lock)
                    .execute(&mut *conn)
                    .await;
                if released.is_err() {
                    // Closing the connection releases the lock for sure.
                    conn.detach();
                }
                applied
            }
        }
    }

    async fn decide_and_apply(
        &self,
        conn: &mut AnyConnection,
        target: &Target,
        observed_at: i64,
        for_update: bool,
    ) -> Result<Applied, ViewsError> {
        let view = target.view();
        let label = label(view);
        let row = self.read_row(conn, view, for_update).await?;
        let decision = plan::decide(row.as_ref(), target, observed_at);
        let (state, view_name, digest) = match (&decision, target) {
            (Decision::Superseded { .. }, _) => {
                let view_name = row.map(|r| r.view_name).unwrap_or_default();
                return Ok(Applied {
                    decision,
                    view_name,
                });
            }
            (
                Decision::Create | Decision::Replace { .. } | Decision::Unchanged,
                Target::Present(desired),
            ) => (
                RowState::Present,
                desired.name.clone(),
                desired.digest.clone(),
            ),
            (Decision::Drop { name }, _) => (RowState::Dropped, name.clone(), String::new()),
            _ => (
                RowState::Dropped,
                row.as_ref()
                    .map(|r| r.view_name.clone())
                    .unwrap_or_default(),
                String::new(),
            ),
        };
        let mut intent_recorded = false;
        if let (Decision::Create | Decision::Replace { .. }, Target::Present(desired)) =
            (&decision, target)
        {
            self.check_name_is_free(conn, view, &desired.name).await?;
            if self.dialect() == Dialect::MySql {
                // DDL commits on its own here, so the intent is recorded first; it must never
                // claim a view that someone else made (under the lock, none of ours is in flight).
                if takes_a_new_name(&decision) && self.exists(conn, &desired.name).await {
                    return Err(ViewsError::Refused {
                        action: "create",
                        view: label,
                        detail: format!(
                            "{} exists and is not in the ledger, so it is left alone",
                            desired.name
                        ),
                    });
                }
                self.write_row(
                    conn,
                    view,
                    &desired.name,
                    &desired.digest,
                    RowState::Pending,
                    observed_at,
                )
                .await?;
                intent_recorded = true;
            }
        }
        for statement in self.ddl(&decision, target) {
            let action = if statement.starts_with("DROP") {
                "drop"
            } else {
                "create"
            };
            if let Err(e) = one_statement(statement).execute(&mut *conn).await {
                if intent_recorded {
                    // The statement changed nothing: put the ledger back as it was.
                    self.restore_row(conn, view, row.as_ref()).await?;
                }
                return Err(ViewsError::from_sqlx(e, action, &label));
            }
        }
        self.write_row(conn, view, &view_name, &digest, state, observed_at)
            .await?;
        Ok(Applied {
            decision,
            view_name,
        })
    }

    /// The statements that carry out `decision`. A view is only ever dropped or replaced when
    /// the ledger says it is ours; a view under a name new to it is made with a plain `CREATE
    /// VIEW`, which fails rather than clobber a view someone else made.
    fn ddl(&self, decision: &Decision, target: &Target) -> Vec<String> {
        let drop = |name: &str| format!("DROP VIEW IF EXISTS {name}");
        match (decision, target) {
            (Decision::Drop { name }, _) => vec![drop(name)],
            (Decision::Create, Target::Present(desired)) => vec![desired.create.clone()],
            (
                Decision::Replace {
                    previous_name: Some(previous),
                },
                Target::Present(desired),
            ) => vec![drop(previous), desired.create.clone()],
            (
                Decision::Replace {
                    previous_name: None,
                },
                Target::Present(desired),
            ) => match &desired.create_or_replace {
                // Atomic for readers, and MariaDB lets the columns change.
                Some(create_or_replace) => vec![create_or_replace.clone()],
                // Inside the transaction: readers never see the view missing; the columns may change.
                None => vec![drop(&desired.name), desired.create.clone()],
            },
            _ => Vec::new(),
        }
    }

    /// `project_id = ? AND data_source_id = ?`: one view's ledger row, bound as the first two
    /// parameters.
    fn view_predicate(&self) -> String {
        let p = |n| self.dialect().param(n);
        format!("project_id = {} AND data_source_id = {}", p(1), p(2))
    }

    /// Whether a table or view answers to `name` (a probe that reads no rows).
    async fn exists(&self, conn: &mut AnyConnection, name: &str) -> bool {
        one_statement(format!("SELECT 1 FROM {name} WHERE 1 = 0"))
            .execute(&mut *conn)
            .await
            .is_ok()
    }

    async fn restore_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        previous: Option<&LedgerRow>,
    ) -> Result<(), ViewsError> {
        match previous {
            Some(row) => {
                self.write_row(
                    conn,
                    view,
                    &row.view_name,
                    &row.sql_digest,
                    row.state,
                    row.observed_at,
                )
                .await
            }
            None => {
                let sql = format!(
                    "DELETE FROM {} WHERE {}",
                    self.ledger,
                    self.view_predicate()
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(view.project_id.as_str().to_owned())
                    .bind(view.data_source_id.as_str().to_owned())
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        ViewsError::from_sqlx(e, "restore the ledger row of", &label(view))
                    })
            }
        }
    }

    async fn read_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        for_update: bool,
    ) -> Result<Option<LedgerRow>, ViewsError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM {} WHERE {}{}",
            self.ledger,
            self.view_predicate(),
            if for_update { " FOR UPDATE" } else { "" }
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger row of", &label(view)))?;
        Ok(row.as_ref().and_then(ledger_row))
    }

    async fn check_name_is_free(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<(), ViewsError> {
        let p = |n| self.dialect().param(n);
        let sql = format!(
            "SELECT project_id, data_source_id FROM {} WHERE view_name = {} AND state <> 'dropped' \
             AND NOT (project_id = {} AND data_source_id = {})",
            self.ledger,
            p(1),
            p(2),
            p(3)
        );
        let other = sqlx::query(AssertSqlSafe(sql))
            .bind(name.to_owned())
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger for", &label(view)))?;
        match other {
            None => Ok(()),
            Some(row) => Err(ViewsError::NameConflict {
                name: name.to_owned(),
                project_id: row.try_get("project_id").unwrap_or_default(),
                data_source_id: row.try_get("data_source_id").unwrap_or_default(),
            }),
        }
    }

    async fn write_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
        digest: &str,
        state: RowState,
        observed_at: i64,
    ) -> Result<(), ViewsError> {
        let p = |n| self.dialect().param(n);
        let sql = format!(
            "INSERT INTO {} (project_id, data_source_id, view_name, sql_digest, state, observed_at, updated_at) \
             VALUES ({}, {}, {}, {}, {}, {}, {}) {}",
            self.ledger,
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7),
            self.dialect().upsert_clause()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned())
            .bind(name.to_owned())
            .bind(digest.to_owned())
            .bind(state.as_str())
            .bind(observed_at)
            .bind(now_micros())
            .execute(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "record in the ledger", &label(view)))?;
        Ok(())
    }
}

/// A statement run so that the driver accepts one statement only: PostgreSQL's extended protocol
/// and MariaDB's prepared statements refuse a second one, so even a validation bug cannot chain
/// statements there. (sqlx's SQLite driver runs every statement of a string: there the guarantee
/// rests on `view_sql`, which prints what runs from one parsed statement.) Not cached: DDL runs
/// once per change.
pub(crate) fn one_statement(statement: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(statement)).persistent(false)
}

/// Whether `decision` creates a view under a name the ledger did not hold for it.
fn takes_a_new_name(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Create
            | Decision::Replace {
                previous_name: Some(_)
            }
    )
}

fn ledger_row(row: &AnyRow) -> Option<LedgerRow> {
    Some(LedgerRow {
        view: ViewKey {
            project_id: Id::new(row.try_get::<String, _>("project_id").ok()?)?,
            data_source_id: Id::new(row.try_get::<String, _>("data_source_id").ok()?)?,
        },
        view_name: row.try_get("view_name").ok()?,
        sql_digest: row.try_get("sql_digest").ok()?,
        state: RowState::parse(&row.try_get::<String, _>("state").ok()?)?,
        observed_at: row.try_get("observed_at").ok()?,
    })
}

fn label(view: &ViewKey) -> String {
    format!(
        "view of data source {} in project {}",
        view.data_source_id, view.project_id
    )
}

/// MariaDB lock names are limited to 64 characters: a digest of ledger and view keeps them unique.
fn lock_name(ledger: &str, view: &ViewKey) -> String {
    let mut hasher = Sha256::new();
    for part in [
        ledger,
        view.project_id.as_str(),
        view.data_source_id.as_str(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("immuta_view_sync_{hex}")
}

/// Microseconds since the Unix epoch: the unit of `observed_at`.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
