//! Reconciliation: for each key, read the current state from Immuta, work out which views must
//! exist, fetch their SQL, and bring the database to that state.
//!
//! A batch costs one resolution per distinct key and one SQL fetch per distinct wanted view,
//! however many notifications named them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use immuta::ImmutaClient;
use queue::SqsSink;
use secrets::SecretReader;
use telemetry::{Metric, dimension};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use view_sync_core::Id;
use view_sync_core::apply::{self, Change, Ddl};
use view_sync_core::keys::{ReconcileKey, reconcile_units};
use view_sync_core::lanes;
use view_sync_core::plan::{
    self, Decision, DesiredView, KeyDecision, LedgerRow, RowState, Scope, Target, ViewKey,
};
use view_sync_core::reads::DisabledHint;
use view_sync_core::view_sql::ViewSql;
use views::{Cause, ViewStore, ViewsError, now_micros};

use crate::config::ProcessorConfig;
use crate::credentials::CredentialRenewal;
use crate::error::ReconcileError;
use crate::memberships::{BatchMemberships, ProjectsSeen};
use crate::resolve::{KeyReader, Resolution, Wanted};

/// What happened to one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOutcome {
    pub view: ViewKey,
    pub view_name: String,
    pub decision: Decision,
}

/// What one key asks of the database (`None`: nothing, e.g. a source of a handler type we do not
/// serve), and the first of its wanted views whose SQL failed.
struct KeyTargets {
    decided: Option<KeyDecision>,
    failure: Option<ReconcileError>,
    /// The names the ledger shows the scope's views under (see [`Settled::known_names`]).
    known_names: BTreeMap<ViewKey, String>,
}

/// A unit's targets, settled ([`plan::settle`]), and what its keys' results are so far.
struct Settled {
    results: Vec<KeyResult>,
    /// Each target with the index of the key it belongs to, in the batch's order.
    work: Vec<(usize, Target)>,
    /// The names the ledger showed the targets' views under when their scopes were read: what
    /// a drop or a rename frees, for [`lanes::lanes`].
    known_names: BTreeMap<ViewKey, String>,
}

pub type KeyResult = Result<Vec<ViewOutcome>, ReconcileError>;

/// What one batch read of Immuta found.
struct BatchRead {
    observed_at: i64,
    resolutions: Vec<Result<Resolution, ReconcileError>>,
    sql: BTreeMap<ViewKey, Result<DesiredView, ReconcileError>>,
}

/// A change a reconcile would make (see [`Reconciler::preview`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub view: ViewKey,
    pub view_name: String,
    /// Create, replace, restore or drop; or superseded, where a decision observed later than
    /// this read was already applied.
    pub decision: Decision,
    /// The statement last applied, for a replace or a restore (if the ledger kept it).
    pub old_sql: Option<String>,
    /// The statements that would make the view, as the ledger keeps them (its create statement
    /// and its grants), unless it is dropped.
    pub new_sql: Option<String>,
    /// The DDL the apply runs, in order, each as it runs first (a replace in place that
    /// PostgreSQL refuses falls back to a drop and a create).
    pub statements: Vec<String>,
    /// The objects that keep the view closed (it shows no rows) since an apply could neither
    /// replace it in place nor drop it; `None` unless its ledger row says `closed`.
    pub blocked_by: Option<String>,
}

impl PlannedChange {
    /// Whether the view's create statement is as applied, so that only who may read it changes.
    pub fn same_sql(&self) -> bool {
        match (&self.old_sql, &self.new_sql) {
            (Some(old), Some(new)) => {
                views::create_statement_of(old) == views::create_statement_of(new)
            }
            _ => false,
        }
    }
}

/// What [`Reconciler::preview`] found.
#[derive(Debug, Default)]
pub struct Preview {
    pub changes: Vec<PlannedChange>,
    pub failures: Vec<(ReconcileKey, ReconcileError)>,
}

impl Preview {
    /// How many of the planned changes change a view (a superseded decision, planned as it will
    /// be audited, changes none).
    pub fn views_changing(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.decision.changes_view())
            .count()
    }
}

/// Units of a batch reading Immuta at once (see [`Reconciler::reconcile`]): two keep Immuta busy
/// while one unit turns from its few sequential reads (a project, its pages) to its view SQL.
const UNITS_READING: usize = 2;

/// Keys a preview reads from Immuta at a time, between reports of its progress.
const KEYS_PER_PREVIEW_STEP: usize = 25;

/// How long a view's first attempt may wait for its locks (a reader holding the view, another
/// processor on it), so that one blocked view leaves time for the rest of the batch.
const FIRST_ATTEMPT_LOCK_WAIT: Duration = Duration::from_secs(3);

pub struct Reconciler {
    immuta: ImmutaClient,
    store: ViewStore,
    config: ProcessorConfig,
    /// Where a scheduled re-sync queues its project keys (see [`crate::resync::scheduled`]).
    fan_out: Option<SqsSink>,
    projects_seen: ProjectsSeen,
    /// Reads the database's secret again when the database refuses its credentials.
    credentials: Option<CredentialRenewal>,
}

impl Reconciler {
    pub fn new(config: ProcessorConfig) -> Result<Self, ReconcileError> {
        Ok(Self {
            immuta: ImmutaClient::new(config.immuta.clone())?,
            store: ViewStore::connect_lazy(&config.store)?,
            config,
            fan_out: None,
            projects_seen: ProjectsSeen::default(),
            credentials: None,
        })
    }

    /// Reads `DATABASE_URL` again from `secret` when the database refuses the credentials in use
    /// (a rotated password), and retries with what it holds now.
    pub fn with_database_secret(mut self, secret: SecretReader) -> Self {
        self.credentials = Some(CredentialRenewal::new(secret));
        self
    }

    /// Queues the scheduled re-sync's project keys on `sink` (the processor's own queue).
    pub fn with_fan_out_queue(mut self, sink: SqsSink) -> Self {
        self.fan_out = Some(sink);
        self
    }

    pub fn fan_out_queue(&self) -> Option<&SqsSink> {
        self.fan_out.as_ref()
    }

    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    pub fn store(&self) -> &ViewStore {
        &self.store
    }

    pub fn immuta(&self) -> &ImmutaClient {
        &self.immuta
    }

    /// What a key's read of Immuta needs from the reconciler.
    fn key_reader(&self) -> KeyReader<'_> {
        KeyReader {
            immuta: &self.immuta,
            config: &self.config,
            store: &self.store,
            projects_seen: &self.projects_seen,
        }
    }

    /// Retries a database operation while its error is transient and time remains, and once
    /// after credentials the database refused were renewed.
    pub(crate) async fn retry_while_transient<T, F, Fut>(
        &self,
        deadline: Instant,
        mut operation: F,
    ) -> Result<T, ViewsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ViewsError>>,
    {
        let mut wait = Duration::from_millis(200);
        let mut renewed = false;
        loop {
            let result = operation().await;
            if let (Err(ViewsError::Unauthenticated(_)), false) = (&result, renewed) {
                renewed = true;
                if self.renew_credentials().await {
                    telemetry::count(Metric::DatabaseRetries, &[]);
                    continue;
                }
            }
            match result {
                Err(error) if error.is_retryable() && Instant::now() + wait < deadline => {
                    telemetry::count(Metric::DatabaseRetries, &[]);
                    warn!(error = %error, wait_ms = wait.as_millis() as u64, "the target database failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                result => return result,
            }
        }
    }

    async fn renew_credentials(&self) -> bool {
        match &self.credentials {
            Some(credentials) => credentials.renew(&self.store).await,
            None => false,
        }
    }

    /// Keeps the disabled hints of a batch's notifications (see `views::hints`).
    pub async fn record_disabled_hints(
        &self,
        hints: &[(Id, DisabledHint)],
        deadline: Instant,
    ) -> Result<(), ReconcileError> {
        Ok(self
            .retry_while_transient(deadline, || self.store.record_disabled_hints(hints))
            .await?)
    }

    /// Reconciles every key for its cause, finishing before `deadline`. Each key gets its own
    /// result, so that only the notifications behind a failed key are retried.
    ///
    /// The keys are reconciled in units (see [`reconcile_units`]) as a pipeline: up to
    /// `UNITS_READING` units read Immuta at once, one applies at a time, and a unit that has
    /// read keeps its place among the readers until it may apply, which bounds what is held in
    /// memory when the database is slower than Immuta.
    pub async fn reconcile(
        &self,
        keys: &[(ReconcileKey, Cause)],
        deadline: Instant,
    ) -> Vec<KeyResult> {
        let only_keys: Vec<ReconcileKey> = keys.iter().map(|(key, _)| key.clone()).collect();
        let units = reconcile_units(&only_keys);
        let reading = Semaphore::new(UNITS_READING);
        let applying = Semaphore::new(1);
        let longest_unit = LongestUnit::default();
        let unit_results = join_all(units.iter().map(|unit| async {
            let unit_keys: Vec<&(ReconcileKey, Cause)> =
                unit.iter().map(|&index| &keys[index]).collect();
            let unit_only_keys: Vec<ReconcileKey> =
                unit.iter().map(|&index| only_keys[index].clone()).collect();
            let not_started = || {
                unit_keys
                    .iter()
                    .map(|_| Err(ReconcileError::NotStarted))
                    .collect()
            };
            let reader = tokio::time::timeout_at(deadline.into(), reading.acquire()).await;
            // A unit that would not finish in the time left is not started: its keys go on in
            // a later invocation (see `batch::hand_on`) rather than run out of time half-way.
            if reader.is_err() || !longest_unit.fits_before(deadline) {
                return not_started();
            }
            let started = Instant::now();
            let read = self.read_unit(&unit_only_keys, deadline).await;
            let applier = tokio::time::timeout_at(deadline.into(), applying.acquire()).await;
            drop(reader);
            let results = match read {
                Err(error) => unit_keys.iter().map(|_| Err(error.clone())).collect(),
                Ok(read) if applier.is_err() || Instant::now() >= deadline => unapplied(&read),
                Ok(read) => self.apply_unit(&unit_keys, read, deadline).await,
            };
            longest_unit.took(started.elapsed());
            results
        }))
        .await;
        let mut results: Vec<Option<KeyResult>> = keys.iter().map(|_| None).collect();
        for (unit, unit_results) in units.iter().zip(unit_results) {
            for (&index, result) in unit.iter().zip(unit_results) {
                results[index] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|result| result.expect("every key is in one unit"))
            .collect()
    }

    async fn read_unit(
        &self,
        keys: &[ReconcileKey],
        deadline: Instant,
    ) -> Result<BatchRead, ReconcileError> {
        let reading = Instant::now();
        let read = self.read(keys, deadline).await;
        telemetry::record(
            Metric::BatchReadDuration,
            telemetry::elapsed_ms(reading),
            &[],
        );
        read
    }

    /// Marks the unit's scopes decided, settles its targets and applies them.
    async fn apply_unit(
        &self,
        keys: &[&(ReconcileKey, Cause)],
        read: BatchRead,
        deadline: Instant,
    ) -> Vec<KeyResult> {
        let applying = Instant::now();
        let observed_at = read.observed_at;
        // Views whose change failed, each counted once a unit however many keys want it: its
        // SQL could not be read or was refused, or its apply failed.
        let mut failed_views: BTreeSet<ViewKey> = read
            .sql
            .iter()
            .filter(|(_, sql)| sql.is_err())
            .map(|(view, _)| view.clone())
            .collect();
        // Every scope read is marked decided before any key reads the ledger's rows (see
        // DESIGN.md, "the newer read must win"), in one statement for the unit.
        let scopes: Vec<Scope> = read
            .resolutions
            .iter()
            .filter_map(|r| r.as_ref().ok()?.scope.clone())
            .collect();
        let marked = self
            .retry_while_transient(deadline, || self.store.mark_decided(&scopes, observed_at))
            .await;
        // Each key's cause, with what its read could not be sure of (a 404) for its drops.
        let causes: Vec<Cause> = keys
            .iter()
            .zip(&read.resolutions)
            .map(|(key, resolution)| Cause {
                drop_note: resolution.as_ref().ok().and_then(|r| r.not_found.clone()),
                ..key.1.clone()
            })
            .collect();
        let Settled {
            mut results,
            work,
            known_names,
        } = self.settled(read, marked.err(), deadline).await;
        // A view blocked by a lock must not use up the time of the views after it: each gets
        // one attempt with a bounded wait first, then what failed transiently is retried while
        // time remains.
        let first_attempts = self
            .first_attempts(&work, &known_names, &causes, observed_at, deadline)
            .await;
        let mut retry_later = Vec::new();
        for ((index, target), first_attempt) in work.into_iter().zip(first_attempts) {
            match first_attempt {
                // Never started: the time is up, and trying again would not change that.
                Err(error @ ViewsError::OutOfTime { .. }) => failed_views.extend(record(
                    keys[index],
                    &mut results,
                    index,
                    &target,
                    Err(error),
                )),
                Err(error)
                    if error.is_retryable() || matches!(error, ViewsError::Unauthenticated(_)) =>
                {
                    telemetry::count(Metric::DatabaseRetries, &[]);
                    retry_later.push((index, target, error));
                }
                applied => {
                    failed_views.extend(record(keys[index], &mut results, index, &target, applied))
                }
            }
        }
        for (index, target, first_error) in retry_later {
            let cause = &causes[index];
            let applied = self
                .retry_while_transient(deadline, || {
                    self.store
                        .apply_until(&target, observed_at, deadline, cause)
                })
                .await;
            // No time left to try again: what stopped the first attempt is the cause.
            let applied = match applied {
                Err(ViewsError::OutOfTime { .. }) => Err(first_error),
                applied => applied,
            };
            failed_views.extend(record(keys[index], &mut results, index, &target, applied));
        }
        if !failed_views.is_empty() {
            telemetry::record(
                Metric::ViewChanges,
                failed_views.len() as f64,
                &[(dimension::ACTION, "failed")],
            );
        }
        telemetry::record(
            Metric::BatchApplyDuration,
            telemetry::elapsed_ms(applying),
            &[],
        );
        results
    }

    /// The first attempt at each of `work`'s applies, in `work`'s order, with a bounded wait
    /// for locks. Up to [`ViewStore::apply_concurrency`] at once: the work is cut into
    /// [`lanes::lanes`], each applied in the batch's order, so that every view gets the name it
    /// would get one view at a time (the name `view-sync plan` predicts); a lane's views share
    /// their commits where the database allows ([`ViewStore::apply_in_order`]).
    async fn first_attempts(
        &self,
        work: &[(usize, Target)],
        known_names: &BTreeMap<ViewKey, String>,
        causes: &[Cause],
        observed_at: i64,
        deadline: Instant,
    ) -> Vec<Result<views::Applied, ViewsError>> {
        let concurrency = self.store.apply_concurrency();
        let lanes = match concurrency {
            1 => vec![(0..work.len()).collect()],
            _ => lanes::lanes(work.iter().map(|(_, target)| target), |view| {
                known_names.get(view).map(String::as_str)
            }),
        };
        let mut attempts: Vec<(usize, Result<views::Applied, ViewsError>)> = stream::iter(lanes)
            .map(|lane: Vec<usize>| async move {
                let views: Vec<(&Target, &Cause)> = lane
                    .iter()
                    .map(|&position| {
                        let (index, target) = &work[position];
                        (target, &causes[*index])
                    })
                    .collect();
                let attempts = self
                    .store
                    .apply_in_order(&views, observed_at, FIRST_ATTEMPT_LOCK_WAIT, deadline)
                    .await;
                lane.into_iter().zip(attempts).collect::<Vec<_>>()
            })
            .buffer_unordered(concurrency)
            .flat_map(stream::iter)
            .collect()
            .await;
        attempts.sort_by_key(|(position, _)| *position);
        attempts.into_iter().map(|(_, attempt)| attempt).collect()
    }

    /// What reconciling `keys` would do now, applying nothing (no marks, no views, no ledger
    /// rows): each view that would be created, replaced, restored from drift or dropped, and
    /// the keys whose reads failed. Reads Immuta `KEYS_PER_PREVIEW_STEP` keys at a time and
    /// tells `progress` how many keys are read.
    pub async fn preview(
        &self,
        keys: &[ReconcileKey],
        deadline: Instant,
        mut progress: impl FnMut(usize),
    ) -> Preview {
        let mut preview = Preview::default();
        let mut work = Vec::new();
        for (step, chunk) in keys.chunks(KEYS_PER_PREVIEW_STEP).enumerate() {
            let read = match self.read(chunk, deadline).await {
                Ok(read) => read,
                Err(error) => {
                    preview
                        .failures
                        .extend(chunk.iter().map(|k| (k.clone(), error.clone())));
                    continue;
                }
            };
            let observed_at = read.observed_at;
            let settled = self.settled(read, None, deadline).await;
            for (key, result) in chunk.iter().zip(settled.results) {
                if let Err(error) = result {
                    preview.failures.push((key.clone(), error));
                }
            }
            work.extend(
                settled
                    .work
                    .into_iter()
                    .map(|(index, target)| (chunk[index].clone(), observed_at, target)),
            );
            progress(step * KEYS_PER_PREVIEW_STEP + chunk.len());
        }
        let found = async {
            let rows = self
                .retry_while_transient(deadline, || self.store.rows(&Scope::Everything))
                .await?;
            let catalog = self
                .retry_while_transient(deadline, || self.store.catalog_state_of(&rows))
                .await?;
            Ok::<_, ViewsError>((rows, catalog))
        };
        let (rows, catalog) = match found.await {
            Ok(found) => found,
            Err(error) => {
                preview.failures = keys
                    .iter()
                    .map(|k| (k.clone(), error.clone().into()))
                    .collect();
                return preview;
            }
        };
        let rows: BTreeMap<ViewKey, LedgerRow> = rows
            .into_iter()
            .map(|row| (row.view.clone(), row))
            .collect();
        // Who holds which name, as the changes planned so far leave it: the apply that follows
        // takes the same names in the same order, so the plan names what it will name.
        let mut holders: BTreeMap<String, ViewKey> = rows
            .values()
            .filter(|row| row.state != RowState::Dropped)
            .map(|row| (row.view_name.clone(), row.view.clone()))
            .collect();
        let mut seen = BTreeSet::new();
        let cause = Cause::default();
        for (key, observed_at, target) in work {
            if !seen.insert(target.view().clone()) {
                continue;
            }
            let view = target.view().clone();
            let row = rows.get(&view);
            let holder_of = |name: &str| holders.get(name).filter(|h| **h != view).cloned();
            let (target, decision) = match plan::named_target(row, &target, observed_at, holder_of)
            {
                Ok(named) => named,
                Err(taken) => {
                    preview.failures.push((key, ViewsError::from(taken).into()));
                    continue;
                }
            };
            let in_catalog =
                apply::catalog_to_read(&decision, row).and_then(|row| catalog.get(&row.view_name));
            let decision = apply::against_catalog(decision, row, in_catalog);
            let change = Change {
                view: &view,
                row,
                observed_at,
                cause: &cause,
                applied_at: observed_at,
            };
            // The plan the apply would execute, from what it would read in its section.
            let planned = apply::plan(self.store.dialect(), &change, &target, decision);
            if let Some(written) = &planned.row {
                holders.retain(|_, holder| *holder != view);
                if written.state != RowState::Dropped {
                    holders.insert(written.name.clone(), view.clone());
                }
            }
            let Some(audit) = &planned.audit else {
                continue;
            };
            let old_sql = match (&planned.decision, row) {
                (Decision::Replace { .. } | Decision::Restore { .. }, Some(row)) => {
                    self.store.applied_sql(&row.view).await.ok().flatten()
                }
                _ => None,
            };
            preview.changes.push(PlannedChange {
                view: view.clone(),
                view_name: audit.view_name.clone(),
                statements: planned.statements().map(Ddl::statement).collect(),
                new_sql: planned.row.and_then(|row| row.applied_sql),
                decision: planned.decision,
                old_sql,
                blocked_by: row
                    .filter(|row| row.state == RowState::Closed)
                    .map(|row| row.blocked_by.clone()),
            });
        }
        preview
    }

    /// The batch's reads of Immuta, all as of one `observed_at`.
    async fn read(
        &self,
        keys: &[ReconcileKey],
        deadline: Instant,
    ) -> Result<BatchRead, ReconcileError> {
        // Noted before the first read: see "the newer read must win" in DESIGN.md. The disabled
        // hints are read after it, so a hint kept by a newer reconcile is never missed by a
        // reconcile that counts as newer.
        let observed_at = now_micros();
        let hints = self.retry_while_transient(deadline, || self.store.disabled_hints())
            .await
            .inspect_err(|error| {
                warn!(error = %error, "could not read the disabled hints; every key of the batch fails")
            })?;
        let memberships =
            BatchMemberships::for_keys(keys, self.immuta.config().page_size, &self.projects_seen);
        let reader = self.key_reader();
        let resolutions = join_all(
            keys.iter()
                .map(|key| reader.resolve(key, &hints, &memberships, deadline)),
        )
        .await;
        let wanted: BTreeMap<ViewKey, &Wanted> = resolutions
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .flat_map(|r| r.wanted.iter().map(|w| (w.view.clone(), w)))
            .collect();
        let fetched = join_all(wanted.values().map(|w| self.desired(w, deadline))).await;
        let sql = wanted.into_keys().zip(fetched).collect();
        Ok(BatchRead {
            observed_at,
            resolutions,
            sql,
        })
    }

    /// Each key's result so far and the targets of the batch, settled (see [`plan::settle`]),
    /// with the index of the key each belongs to. A key whose scope could not be marked
    /// (`unmarked`) fails with that error.
    async fn settled(
        &self,
        read: BatchRead,
        unmarked: Option<ViewsError>,
        deadline: Instant,
    ) -> Settled {
        let mut results: Vec<KeyResult> = Vec::with_capacity(read.resolutions.len());
        let mut known_names = BTreeMap::new();
        // (index of the key, what it decided)
        let mut decided: Vec<(usize, KeyDecision)> = Vec::new();
        for (key, resolution) in read.resolutions.into_iter().enumerate() {
            let resolution = match (resolution, &unmarked) {
                (Ok(resolution), Some(error)) if resolution.scope.is_some() => {
                    Err(error.clone().into())
                }
                (resolution, _) => resolution,
            };
            match self.targets_of(resolution, &read.sql, deadline).await {
                Ok(KeyTargets {
                    decided: key_decided,
                    failure,
                    known_names: names,
                }) => {
                    decided.extend(key_decided.map(|d| (key, d)));
                    known_names.extend(names);
                    results.push(failure.map_or(Ok(Vec::new()), Err));
                }
                Err(error) => results.push(Err(error)),
            }
        }
        let (indices, mut decisions): (Vec<usize>, Vec<KeyDecision>) = decided.into_iter().unzip();
        plan::settle(&mut decisions);
        let work = indices
            .into_iter()
            .zip(decisions)
            .flat_map(|(index, decision)| {
                decision
                    .targets
                    .into_iter()
                    .map(move |target| (index, target))
            })
            .collect();
        Settled {
            results,
            work,
            known_names,
        }
    }

    /// What a resolved key decides, with the first failure among its wanted views' SQL (those
    /// views are left as they are: failing to read a view's SQL is no reason to drop it).
    async fn targets_of(
        &self,
        resolution: Result<Resolution, ReconcileError>,
        sql: &BTreeMap<ViewKey, Result<DesiredView, ReconcileError>>,
        deadline: Instant,
    ) -> Result<KeyTargets, ReconcileError> {
        let resolution = resolution?;
        let Some(scope) = resolution.scope else {
            return Ok(KeyTargets {
                decided: None,
                failure: None,
                known_names: BTreeMap::new(),
            });
        };
        let rows = self
            .retry_while_transient(deadline, || self.store.rows(&scope))
            .await?;
        let mut desired = Vec::new();
        let mut unreadable = BTreeSet::new();
        let mut failure = None;
        for wanted in &resolution.wanted {
            match sql.get(&wanted.view) {
                Some(Ok(view)) => desired.push(view.clone()),
                Some(Err(error)) => {
                    unreadable.insert(wanted.view.clone());
                    failure.get_or_insert_with(|| error.clone());
                }
                None => {}
            }
        }
        let targets = plan::targets(&scope, desired, &rows, &unreadable);
        let known_names = rows
            .iter()
            .filter(|row| row.state != RowState::Dropped)
            .map(|row| (row.view.clone(), row.view_name.clone()))
            .collect();
        Ok(KeyTargets {
            known_names,
            decided: Some(KeyDecision {
                wanted: resolution.wanted.into_iter().map(|w| w.view).collect(),
                scope,
                targets,
            }),
            failure,
        })
    }

    async fn desired(
        &self,
        wanted: &Wanted,
        deadline: Instant,
    ) -> Result<DesiredView, ReconcileError> {
        let view = &wanted.view;
        let text = self
            .immuta
            .view_sql(
                &self.config.view_sql,
                &view.project_id,
                &view.data_source_id,
                deadline,
            )
            .await?;
        let location = &wanted.location;
        let sql = ViewSql::parse(&text, location).map_err(|error| ReconcileError::ViewSql {
            view: view.clone(),
            error,
        })?;
        Ok(DesiredView::new(view.clone(), &wanted.name, &sql, location)
            .with_grants(wanted.grants.clone()))
    }
}

/// The longest a unit of this batch took so far, from its reads' start to its apply's end
/// (waits for its turn included): what the next unit is expected to need.
#[derive(Default)]
struct LongestUnit(AtomicU64);

impl LongestUnit {
    fn took(&self, elapsed: Duration) {
        self.0
            .fetch_max(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Whether a unit started now is expected to finish before `deadline`. The batch's first
    /// units have nothing to go by, and start.
    fn fits_before(&self, deadline: Instant) -> bool {
        let expected = Duration::from_micros(self.0.load(Ordering::Relaxed));
        Instant::now() + expected < deadline
    }
}

/// Each key's result when the deadline came between its read and its apply: what its read found
/// wrong, if anything (that is the cause to keep), else that it had no time to apply.
fn unapplied(read: &BatchRead) -> Vec<KeyResult> {
    read.resolutions
        .iter()
        .map(|resolution| {
            let resolution = resolution.as_ref().map_err(Clone::clone)?;
            let failed_sql = resolution
                .wanted
                .iter()
                .find_map(|w| read.sql.get(&w.view)?.as_ref().err());
            Err(failed_sql.cloned().unwrap_or(ReconcileError::NotApplied))
        })
        .collect()
}

/// Logs and counts what was done to one view, and adds it to the result of the key at `index`.
/// Returns the view if its apply failed.
fn record(
    (key, cause): &(ReconcileKey, Cause),
    results: &mut [KeyResult],
    index: usize,
    target: &Target,
    applied: Result<views::Applied, ViewsError>,
) -> Option<ViewKey> {
    match applied {
        Ok(applied) => {
            let outcome = ViewOutcome {
                view: target.view().clone(),
                view_name: applied.view_name,
                decision: applied.decision,
            };
            report(key, cause, &outcome);
            if let Ok(outcomes) = &mut results[index] {
                outcomes.push(outcome);
            }
            None
        }
        Err(error) => {
            warn!(
                key = %key,
                project_id = %target.view().project_id,
                data_source_id = %target.view().data_source_id,
                action = "failed",
                error = %error,
                "could not apply a view"
            );
            if results[index].is_ok() {
                results[index] = Err(error.into());
            }
            Some(target.view().clone())
        }
    }
}

/// One view's outcome in the logs and the metrics: a change is a JSON line that follows it from
/// the notifications (message ids, types) to the view, with its freshness lag.
fn report(key: &ReconcileKey, cause: &Cause, outcome: &ViewOutcome) {
    let action = outcome.decision.action();
    let decision = &outcome.decision;
    if !decision.changes_view() && !matches!(decision, Decision::Superseded { .. }) {
        debug!(key = %key, view = %outcome.view_name, action, "view unchanged");
        return;
    }
    telemetry::count(Metric::ViewChanges, &[(dimension::ACTION, action)]);
    let lag_ms = cause
        .received_at_ms
        .filter(|_| decision.changes_view())
        .map(|received| queue::now_ms().saturating_sub(received));
    if let Some(lag) = lag_ms {
        telemetry::record(Metric::FreshnessLag, lag as f64, &[]);
    }
    info!(
        key = %key,
        project_id = %outcome.view.project_id,
        data_source_id = %outcome.view.data_source_id,
        view = %outcome.view_name,
        action,
        lag_ms,
        origin = cause.origin.as_str(),
        notification_types = %cause.notification_types.join(","),
        message_ids = %cause.message_ids.join(","),
        "view changed"
    );
}
