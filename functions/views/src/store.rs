//! The target database: the views this system manages, each applied in its own critical section
//! (several at once where the batch's lanes allow, see `view_sync_core::lanes`). Inside the view's
//! critical section ([`crate::section`]) the store reads what the apply's plan needs (the ledger
//! row, the holders of its names, the catalog), has it made ([`view_sync_core::apply::plan`], the
//! plan `view-sync plan` prints too) and executes its steps.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sqlx::any::AnyExecutor;
use sqlx::{AnyConnection, AssertSqlSafe};
use view_sync_core::apply::{self, ApplyPlan, Change, RowWrite, Step as ApplyStep};
use view_sync_core::ddl;
use view_sync_core::plan::{self, Decision, InCatalog, LedgerRow, Scope, Target, ViewKey};
use view_sync_core::printable::printable;

use crate::audit::{AuditEntry, Cause};
use crate::closing::Ran;
use crate::ddl::one_statement;
use crate::dialect::Dialect;
use crate::error::{ViewsError, label};
use crate::handle::ViewStore;
use crate::ledger::now_micros;
use crate::section::{Section, Transaction};
use crate::statement::Statement;
use crate::steps::Step;

/// How often [`ViewStore::ensure_ledger`] tries to make its tables: more than the objects
/// it makes (a schema, five tables, their indexes).
const MAKE_TABLES_ATTEMPTS: usize = 10;

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

impl ViewStore {
    /// The schemas the views are in: the one of [`ViewStore::location`], or with a schema per
    /// project, those of the views the ledger holds.
    pub(crate) async fn view_schemas(&self) -> Result<BTreeSet<Option<String>>, ViewsError> {
        if self.view_schemas.is_none() {
            return Ok(self.schemas_of(&[]));
        }
        Ok(self.schemas_of(&self.rows(&Scope::Everything).await?))
    }

    /// Creates the schema that `reference` names its view in, if [`ddl::schema_to_ensure`] says
    /// so and it is missing. Looked for at each create or replace, not remembered: a schema
    /// dropped by hand (or one PostgreSQL rolled back) is made again.
    async fn ensure_view_schema(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
    ) -> Result<(), ViewsError> {
        let dialect = self.dialect();
        let Some(schema) = ddl::schema_to_ensure(dialect, self.view_schemas.is_some(), reference)
        else {
            return Ok(());
        };
        if self.schema_exists(&mut *conn, &schema).await? {
            return Ok(());
        }
        let Some(create) = ddl::create_schema(dialect, &schema) else {
            return Err(ViewsError::Refused {
                action: "create",
                view: label(view),
                detail: printable(&format!(
                    "its schema {schema} does not exist, and the store makes no schemas on {}: \
                     make it first",
                    dialect.name()
                ))
                .into_owned(),
            });
        };
        let create = ddl::tolerating_a_concurrent_create(dialect, create);
        crate::ddl::run(conn, view, create, "create the schema of").await
    }

    /// Creates the ledger, hints, marks, audit and failures tables (and the schema, if named), and adds
    /// the ledger columns an earlier version did not have, once per process.
    pub async fn ensure_ledger(&self) -> Result<(), ViewsError> {
        self.ledger_ready
            .get_or_try_init(|| async {
                // Processes that make the tables at the same moment (processors starting on a
                // new database) can collide in PostgreSQL's catalog, whose `IF NOT EXISTS` is
                // checked before its insert: one fails on an object another has just made. The
                // objects are made in one order and each collision is on a later one than the
                // last (the earlier ones exist by then), so there are fewer collisions than
                // objects. Only a refused statement is tried again: a database that cannot be
                // reached fails at once.
                let mut made = self.make_tables().await;
                for _ in 1..MAKE_TABLES_ATTEMPTS {
                    match made {
                        Err(ViewsError::Refused { .. }) => made = self.make_tables().await,
                        _ => break,
                    }
                }
                made
            })
            .await
            .map(|_| ())
    }

    async fn make_tables(&self) -> Result<(), ViewsError> {
        let mut statements = Vec::new();
        let dialect = self.dialect();
        if let Some(schema) = &self.location.schema
            && let Some(create) = ddl::create_schema(dialect, schema)
            && !self.schema_exists(&self.pool, schema).await?
        {
            statements.push(create);
        }
        self.ledger
            .refuse_a_ledger_elsewhere_on_the_search_path(&self.pool)
            .await?;
        statements.push(self.ledger.create_table());
        statements.push(self.hints.create_table());
        statements.push(self.marks.create_table());
        statements.push(self.audit.create_table());
        statements.push(self.failures.create_table());
        for statement in statements {
            one_statement(statement)
                .execute(&self.pool)
                .await
                .map_err(|e| ViewsError::from_sqlx(e, "create", self.ledger.name()))?;
        }
        self.ledger.add_missing_columns(&self.pool).await?;
        self.ledger.add_name_index(&self.pool).await?;
        self.audit.add_index(&self.pool).await?;
        self.ledger
            .qualify_names_of_earlier_versions(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether `schema` exists, as the profile looks for it. PostgreSQL checks the right to
    /// create schemas even for `CREATE SCHEMA IF NOT EXISTS` of one that exists, so a user that
    /// only owns its schema (the README's least-privilege user) must not be asked to create it.
    async fn schema_exists<'c>(
        &self,
        executor: impl AnyExecutor<'c>,
        schema: &str,
    ) -> Result<bool, ViewsError> {
        let found = sqlx::query(AssertSqlSafe(self.profile().find_schema()))
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
    /// at least one), SQLite's busy timeout (one second per attempt). The view's work is
    /// committed on its own (several views share commits in [`ViewStore::apply_in_order`]).
    pub async fn apply_until(
        &self,
        target: &Target,
        observed_at: i64,
        deadline: Instant,
        cause: &Cause,
    ) -> Result<Applied, ViewsError> {
        let mut transaction = Transaction::default();
        let applied = self
            .apply_in(&mut transaction, target, observed_at, deadline, cause)
            .await;
        match transaction.commit(&label(target.view())).await {
            Err(error) => Err(error),
            Ok(()) => applied,
        }
    }

    /// Applies one view in `transaction` (see [`ViewStore::apply_until`]). A view closed rather
    /// than brought to its target fails with [`ViewsError::Blocked`], its closing left in the
    /// transaction for its commit; any other failure leaves nothing of the view's in it.
    pub(crate) async fn apply_in(
        &self,
        transaction: &mut Transaction,
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
        let mut section = Section::enter(self, transaction, target, wait).await?;
        let applied = self
            .decide_and_apply(&mut section, target, observed_at, cause)
            .await;
        let applied = section.leave(applied, &label).await?;
        match applied.blocked_by {
            // Closed: nobody reads the older definition once it is committed, but the view is
            // not what was decided, so its notification must come back.
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
        section: &mut Section<'_>,
        target: &Target,
        observed_at: i64,
        cause: &Cause,
    ) -> Result<Applied, ViewsError> {
        let view = target.view();
        let (row, mut read_ahead) = self.read_row(section, target).await?;
        self.step(view, Step::RowRead).await?;
        let row = row.as_ref();
        let names = plan::names_to_check(row, target, observed_at);
        let holders = match (&mut read_ahead, names.as_slice()) {
            (_, []) => BTreeMap::new(),
            (Some(read_ahead), _) => std::mem::take(&mut read_ahead.holders),
            (None, names) => {
                section.lock_names(self.ledger.name(), view, names).await?;
                self.ledger
                    .holders_of(section.connection(), view, names)
                    .await?
            }
        };
        let (target, decision) =
            plan::named_target(row, target, observed_at, |name| holders.get(name).cloned())?;
        let conn = section.connection();
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
        let plan = apply::plan(self.dialect(), &change, &target, decision);
        let newest_mark = read_ahead.and_then(|read| read.newest_mark);
        self.execute(conn, &change, plan, newest_mark).await
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
        let grants = self.grants.digest(conn, name).await?;
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
        newest_mark: Option<Option<i64>>,
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
        let mut steps = steps.into_iter().peekable();
        while let Some(step) = steps.next() {
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
                    self.grants.revoke_before_drop(conn, view, &name).await?
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
                            self.ledger
                                .restore_row(conn, view, restore_to.as_ref())
                                .await?;
                        }
                        return Err(error);
                    }
                },
                ApplyStep::RecordIntent => {
                    if let Some(intent) = &intent {
                        self.ledger.write_row(conn, view, intent).await?;
                    }
                    intent_recorded = true;
                    self.step(view, Step::IntentRecorded).await?;
                }
                ApplyStep::CheckScopeMarks => {
                    let newest_mark = match newest_mark {
                        Some(read_ahead) => read_ahead,
                        None => self.marks.newest(conn, view).await?,
                    };
                    self.step(view, Step::MarksRead).await?;
                    let checked =
                        plan::check_scope_marks(decision.clone(), newest_mark, change.observed_at);
                    if !checked.writes_ledger() {
                        if intent_recorded {
                            self.ledger
                                .restore_row(conn, view, restore_to.as_ref())
                                .await?;
                        }
                        let entry = apply::superseded(change, &checked);
                        self.audit.record(conn, &entry).await?;
                        return Ok(Applied {
                            decision: checked,
                            view_name: entry.view_name,
                            blocked_by: None,
                        });
                    }
                }
                ApplyStep::RevokeExtraGrants { view_name, roles } => {
                    self.grants
                        .revoke_extra_grants(conn, view, &view_name, &roles)
                        .await?;
                }
                ApplyStep::Grant { view_name, roles } => {
                    let digest = self.grants.apply(conn, view, &view_name, &roles).await?;
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
                        // The audit entry goes with the row when it is the plan's next step.
                        let entry = match steps.next_if_eq(&ApplyStep::RecordAudit) {
                            Some(_) => audit.as_ref(),
                            None => None,
                        };
                        self.write_row_then_record(conn, view, row, entry).await?;
                    }
                }
                ApplyStep::RecordAudit => {
                    if let Some(entry) = &audit {
                        self.audit.record(conn, entry).await?;
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

    /// Writes `view`'s ledger row, then records `entry` in the audit trail: on PostgreSQL in one
    /// statement (one round trip), the row's upsert a data-modifying CTE of the audit's insert,
    /// which runs whether or not it is read.
    async fn write_row_then_record(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        row: &RowWrite,
        entry: Option<&AuditEntry>,
    ) -> Result<(), ViewsError> {
        match entry {
            Some(entry) if self.dialect() == Dialect::Postgres => {
                let row_write = self.ledger.write_row_statement(view, row);
                let mut record = self
                    .audit
                    .record_statement(entry, row_write.values.len() + 1);
                let mut values = row_write.values;
                values.append(&mut record.values);
                Statement {
                    sql: format!("WITH ledger_written AS ({}) {}", row_write.sql, record.sql),
                    values,
                }
                .execute(
                    conn,
                    "record the change in the ledger and the audit trail of",
                    &label(view),
                )
                .await
            }
            entry => {
                self.ledger.write_row(conn, view, row).await?;
                match entry {
                    Some(entry) => self.audit.record(conn, entry).await,
                    None => Ok(()),
                }
            }
        }
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
        self.write_row_then_record(conn, change.view, &row, entry.as_ref())
            .await?;
        Ok(Applied {
            decision,
            view_name: name,
            blocked_by: Some(blockers),
        })
    }

    /// The view's ledger row, read in its section. On PostgreSQL, whose section already holds
    /// the locks of its names and scopes, the same statement reads ahead what the apply asks
    /// next: who holds the names its target may take, and the newest mark of its scopes.
    async fn read_row(
        &self,
        section: &mut Section<'_>,
        target: &Target,
    ) -> Result<(Option<LedgerRow>, Option<ReadAhead>), ViewsError> {
        let view = target.view();
        if !section.holds_its_locks_from_the_start() {
            let row = self.ledger.read_row(section.connection(), view).await?;
            return Ok((row, None));
        }
        let present = matches!(target, Target::Present(_));
        let marks = present.then(|| self.marks.newest_select(view, 3));
        let (row, holders, newest_mark) = self
            .ledger
            .read_row_with_holders(
                section.connection(),
                view,
                &target.names_it_may_take(),
                marks,
            )
            .await?;
        // No row, though the section reserved one (deleted by hand meanwhile): what was read
        // ahead went with it, so the apply reads each in its turn.
        let read_ahead = row.is_some().then_some(ReadAhead {
            holders,
            newest_mark: present.then_some(newest_mark),
        });
        Ok((row, read_ahead))
    }
}

/// What [`ViewStore::read_row`] read ahead on PostgreSQL.
struct ReadAhead {
    /// The other views of ours holding a name the target may take.
    holders: BTreeMap<String, ViewKey>,
    /// The newest mark of the view's scopes, for a view wanted present.
    newest_mark: Option<Option<i64>>,
}
