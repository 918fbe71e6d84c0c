//! One view's apply, decided in full before its critical section runs a statement: the steps
//! it takes in order ([`Step`]), the ledger rows it writes and the audit entry it records.
//! Pure: the store reads what a plan needs (the view's ledger row, the holders of its names,
//! its catalog state), calls [`plan`] and executes the steps; `view-sync plan` builds the same
//! plan from the same reads and prints it.
//!
//! Two outcomes are known only when a step runs, and each has its pure answer here: a newer
//! scope mark read at [`Step::CheckScopeMarks`] supersedes the decision ([`superseded`]), and
//! objects we do not manage that depend on a view make PostgreSQL close it rather than drop it
//! ([`closed`]).

use crate::audit::{AuditEntry, Cause};
pub use crate::ddl::Ddl;
use crate::dialect::Dialect;
use crate::plan::{Decision, DesiredView, Drift, InCatalog, LedgerRow, RowState, Target, ViewKey};
use crate::profile;

/// One step of an apply, in the order of [`ApplyPlan::steps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make the schema (PostgreSQL) or database (MariaDB) the view `name` is qualified with, if
    /// it is.
    EnsureSchema(String),
    /// Fail, having changed nothing, if a table or view answers to `name`: the ledger does not
    /// hold it for this view, so it is someone else's (an intent must never claim it).
    RefuseIfTaken(String),
    /// Take `SELECT` on the view `name` from whoever holds it before it is dropped: MariaDB would
    /// keep the grants for the next view of that name.
    RevokeBeforeDrop(String),
    /// Run a statement. One that fails after [`Step::RecordIntent`] changed nothing: the ledger
    /// row goes back to [`ApplyPlan::restore_to`].
    Run(Ddl),
    /// Write [`ApplyPlan::intent`] before the view's DDL, where DDL commits on its own (MariaDB),
    /// so that the ledger names every view of ours whatever step a run dies at.
    RecordIntent,
    /// Read the newest scope mark covering the view: a newer one supersedes the decision
    /// ([`superseded`]). After the intent, so that where no lock orders this apply and a mark's
    /// writer, one of the two sees the other.
    CheckScopeMarks,
    /// Take `SELECT` on the view `view_name` from anyone but `roles`: MariaDB's `CREATE OR
    /// REPLACE` keeps a view's grants, and no reader may carry over into new SQL.
    RevokeExtraGrants {
        view_name: String,
        roles: Vec<String>,
    },
    /// Grant `SELECT` on `view_name` to `roles` (and take it from anyone else); what the catalog
    /// then shows becomes the row's `grants_digest`.
    Grant {
        view_name: String,
        roles: Vec<String>,
    },
    /// Read back the catalog's definition of `view_name`: the row's `catalog_digest`, what drift
    /// is later found against.
    ReadCatalogDigest(String),
    /// Write [`ApplyPlan::row`], with the digests the steps before read.
    WriteRow,
    /// Record [`ApplyPlan::audit`].
    RecordAudit,
}

/// A ledger row as an apply writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowWrite {
    pub name: String,
    pub digest: String,
    pub state: RowState,
    pub observed_at: i64,
    pub catalog_digest: String,
    pub grants_digest: String,
    /// `None` keeps the statement the row has.
    pub applied_sql: Option<String>,
    /// What keeps a closed view closed; `None` for any other state.
    pub blocked_by: Option<String>,
}

impl RowWrite {
    /// The row as it was read: what an apply that changed nothing puts back.
    pub fn restoring(row: &LedgerRow) -> Self {
        Self {
            name: row.view_name.clone(),
            digest: row.sql_digest.clone(),
            state: row.state,
            observed_at: row.observed_at,
            catalog_digest: row.catalog_digest.clone(),
            grants_digest: row.grants_digest.clone(),
            applied_sql: None,
            blocked_by: (!row.blocked_by.is_empty()).then(|| row.blocked_by.clone()),
        }
    }
}

/// What an apply starts from: the view, its ledger row read in its critical section, and why.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub view: &'a ViewKey,
    /// The view's ledger row before the apply.
    pub row: Option<&'a LedgerRow>,
    /// When the decision's Immuta reads began (see `crate::plan`'s ordering rule).
    pub observed_at: i64,
    pub cause: &'a Cause,
    /// When the apply runs, for the audit trail (microseconds since the Unix epoch).
    pub applied_at: i64,
}

/// Everything one apply does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyPlan {
    pub decision: Decision,
    pub steps: Vec<Step>,
    /// The row [`Step::RecordIntent`] writes.
    pub intent: Option<RowWrite>,
    /// What the ledger must hold again if a statement fails after the intent was recorded
    /// (`None`: no row, as before).
    pub restore_to: Option<RowWrite>,
    /// The row [`Step::WriteRow`] writes; `None` for a superseded decision, which writes none.
    pub row: Option<RowWrite>,
    /// The entry [`Step::RecordAudit`] records: a change to the view, or a superseded decision.
    pub audit: Option<AuditEntry>,
}

impl ApplyPlan {
    /// The statements the plan runs, as they run first.
    pub fn statements(&self) -> impl Iterator<Item = &Ddl> {
        self.steps.iter().filter_map(|step| match step {
            Step::Run(ddl) => Some(ddl),
            _ => None,
        })
    }
}

/// The view whose catalog state turns an unchanged decision into a repair ([`against_catalog`]):
/// only an unchanged view's is read.
pub fn catalog_to_read<'a>(
    decision: &Decision,
    row: Option<&'a LedgerRow>,
) -> Option<&'a LedgerRow> {
    match decision {
        Decision::Unchanged => row,
        _ => None,
    }
}

/// `decision` once the catalog's state of its view was read: a view that Immuta wants as it was
/// applied but that drifted in the database is restored.
pub fn against_catalog(
    decision: Decision,
    row: Option<&LedgerRow>,
    in_catalog: Option<InCatalog<'_>>,
) -> Decision {
    match (decision, row) {
        (Decision::Unchanged, Some(row)) => {
            crate::plan::repair(Decision::Unchanged, crate::plan::drift(row, in_catalog))
        }
        (decision, _) => decision,
    }
}

/// The plan of `decision` about `target` ([`crate::plan::named_target`], then
/// [`against_catalog`]) on a database of `dialect`.
pub fn plan(
    dialect: Dialect,
    change: &Change<'_>,
    target: &Target,
    decision: Decision,
) -> ApplyPlan {
    if !decision.writes_ledger() {
        return ApplyPlan {
            audit: Some(superseded(change, &decision)),
            decision,
            steps: vec![Step::RecordAudit],
            intent: None,
            restore_to: None,
            row: None,
        };
    }
    let row = change.row;
    let present = match target {
        Target::Present(desired) => Some(desired),
        Target::Absent(_) => None,
    };
    let made = present.filter(|_| decision.makes_view());
    let profile = profile::of(dialect);
    // DDL that commits on its own needs the intent recorded before it; elsewhere the section's
    // transaction holds the DDL and the ledger together.
    let records_intent = !profile.ddl_is_transactional();
    // Grants that outlive a drop (MariaDB's) are taken first, or the next view of that name
    // would have them.
    let revokes_before_drop = profile.drop_keeps_grants();
    let written = final_row(dialect, change, &decision, present);
    let mut statements = statements(&decision, target).into_iter();
    let mut steps = Vec::new();
    let mut intent = None;
    let mut restore_to = row.map(RowWrite::restoring);
    if let Some(desired) = made {
        steps.push(Step::EnsureSchema(desired.name.clone()));
        if records_intent {
            if takes_a_new_name(&decision) {
                steps.push(Step::RefuseIfTaken(desired.name.clone()));
            }
            // A rename drops the old view before the intent names the new one, so that the
            // ledger names every view of ours whatever step a run dies at.
            if let Decision::Replace {
                previous_name: Some(previous),
            } = &decision
                && let Some(drop_previous) = statements.next()
            {
                if revokes_before_drop {
                    steps.push(Step::RevokeBeforeDrop(previous.clone()));
                }
                steps.push(Step::Run(drop_previous));
                restore_to = row.map(|row| RowWrite::restoring(&row.dropped()));
            }
            intent = Some(RowWrite {
                name: desired.name.clone(),
                digest: desired.digest.clone(),
                state: RowState::Pending,
                observed_at: change.observed_at,
                catalog_digest: String::new(),
                grants_digest: String::new(),
                applied_sql: None,
                blocked_by: None,
            });
            steps.push(Step::RecordIntent);
        }
        steps.push(Step::CheckScopeMarks);
    }
    match (&decision, made) {
        (Decision::Drop { name }, _) if revokes_before_drop => {
            steps.push(Step::RevokeBeforeDrop(name.clone()));
        }
        (
            Decision::Replace {
                previous_name: None,
            }
            | Decision::Restore {
                drift: Drift::Edited | Drift::Unverified | Drift::Grants,
            },
            Some(desired),
            // Where the DDL commits on its own and keeps the grants it replaces, those who should
            // no longer read the view lose it before its new definition is there.
        ) if records_intent && profile.replace_keeps_grants() => {
            steps.push(Step::RevokeExtraGrants {
                view_name: desired.name.clone(),
                roles: desired.grants.clone(),
            })
        }
        _ => {}
    }
    steps.extend(statements.map(Step::Run));
    if let Some(desired) = made {
        // Who may read it; on MariaDB the view is made by now, so a failure leaves the intent
        // for a re-run to finish. PostgreSQL and SQLite roll the whole section back.
        steps.push(Step::Grant {
            view_name: desired.name.clone(),
            roles: desired.grants.clone(),
        });
        if !keeps_definition(&decision, row) {
            steps.push(Step::ReadCatalogDigest(desired.name.clone()));
        }
    }
    steps.push(Step::WriteRow);
    let audit = decision
        .changes_view()
        .then(|| entry(change, &decision, &written.name, &written.digest));
    if audit.is_some() {
        steps.push(Step::RecordAudit);
    }
    ApplyPlan {
        decision,
        steps,
        intent,
        restore_to,
        row: Some(written),
        audit,
    }
}

/// The row an apply of `decision` leaves, before its steps read the digests: an unchanged
/// view keeps its row's; a dropped or absent one has none.
fn final_row(
    dialect: Dialect,
    change: &Change<'_>,
    decision: &Decision,
    present: Option<&DesiredView>,
) -> RowWrite {
    let kept = |digest: fn(&LedgerRow) -> &String| {
        change
            .row
            .map(|row| digest(row).clone())
            .unwrap_or_default()
    };
    let (state, name, digest, applied_sql, catalog_digest, grants_digest) =
        match (decision, present) {
            // The statement is kept for `plan`'s diffs; an unchanged view's is already there.
            (Decision::Unchanged, Some(desired)) => (
                RowState::Present,
                desired.name.clone(),
                desired.digest.clone(),
                None,
                kept(|row| &row.catalog_digest),
                kept(|row| &row.grants_digest),
            ),
            (decision, Some(desired)) if decision.makes_view() => (
                RowState::Present,
                desired.name.clone(),
                desired.digest.clone(),
                Some(as_applied(dialect, desired)),
                match keeps_definition(decision, change.row) {
                    true => kept(|row| &row.catalog_digest),
                    false => String::new(),
                },
                String::new(),
            ),
            (Decision::Drop { name }, _) => (
                RowState::Dropped,
                name.clone(),
                String::new(),
                None,
                String::new(),
                String::new(),
            ),
            _ => (
                RowState::Dropped,
                kept(|row| &row.view_name),
                String::new(),
                None,
                String::new(),
                String::new(),
            ),
        };
    RowWrite {
        name,
        digest,
        state,
        observed_at: change.observed_at,
        catalog_digest,
        grants_digest,
        applied_sql,
        blocked_by: None,
    }
}

/// The statements that carry out `decision`. A view is only ever dropped or replaced when the
/// ledger says it is ours; a view under a name new to it is made with a plain `CREATE VIEW`,
/// which fails rather than clobber a view someone else made.
fn statements(decision: &Decision, target: &Target) -> Vec<Ddl> {
    match (decision, target) {
        (Decision::Drop { name }, _) => vec![Ddl::Drop(name.clone())],
        (Decision::Create, Target::Present(desired)) => vec![Ddl::Create(desired.create.clone())],
        (
            Decision::Replace {
                previous_name: Some(previous),
            },
            Target::Present(desired),
        ) => vec![
            Ddl::Drop(previous.clone()),
            Ddl::Create(desired.create.clone()),
        ],
        // Only who may read it changed: the grants are brought back.
        (
            Decision::Restore {
                drift: Drift::Grants,
            },
            _,
        ) => Vec::new(),
        // Dropped by hand: made again (a plain create, which fails if someone took the name).
        (
            Decision::Restore {
                drift: Drift::Missing,
            },
            Target::Present(desired),
        ) => vec![Ddl::Create(desired.create.clone())],
        (
            Decision::Replace {
                previous_name: None,
            }
            | Decision::Restore { .. },
            Target::Present(desired),
        ) => match &desired.create_or_replace {
            Some(create_or_replace) => vec![Ddl::ReplaceInPlace {
                name: desired.name.clone(),
                create_or_replace: create_or_replace.clone(),
                create: desired.create.clone(),
            }],
            // SQLite, inside the transaction: readers never see the view missing.
            None => vec![
                Ddl::Drop(desired.name.clone()),
                Ddl::Create(desired.create.clone()),
            ],
        },
        _ => Vec::new(),
    }
}

/// Whether the definition read back at the view's last apply still holds: only who may read
/// it changed.
fn keeps_definition(decision: &Decision, row: Option<&LedgerRow>) -> bool {
    row.is_some()
        && matches!(
            decision,
            Decision::Restore {
                drift: Drift::Grants
            }
        )
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

/// The statements that make `desired` as the ledger keeps them for `view-sync plan`'s diffs:
/// its create statement, then a GRANT per role that may read it.
pub fn as_applied(dialect: Dialect, desired: &DesiredView) -> String {
    let mut applied = desired.create.clone();
    for role in &desired.grants {
        applied.push_str(&format!(
            "{GRANTS_FOLLOW}{} TO {}",
            desired.name,
            dialect.quote(role)
        ));
    }
    applied
}

/// What separates the statements of [`as_applied`].
const GRANTS_FOLLOW: &str = ";\nGRANT SELECT ON ";

/// The create statement of what [`as_applied`] made, for `view-sync plan` to word a change
/// (a string literal holding the separator would only cut the statement short there).
pub fn create_statement_of(applied: &str) -> &str {
    applied.split(GRANTS_FOLLOW).next().unwrap_or(applied)
}

/// The audit entry of a decision a newer one overtook: nothing is changed.
pub fn superseded(change: &Change<'_>, decision: &Decision) -> AuditEntry {
    let view_name = change
        .row
        .map(|row| row.view_name.clone())
        .unwrap_or_default();
    entry(change, decision, &view_name, "")
}

/// A view that `decision` could not bring to its target, closed instead since `blockers`
/// depend on it: the row that says so, and the audit entry, unless the row already said so
/// (audited when it closes, or when what blocks it changes; not at every retry).
pub fn closed(
    change: &Change<'_>,
    decision: &Decision,
    name: &str,
    blockers: &str,
) -> (RowWrite, Option<AuditEntry>) {
    let row = RowWrite {
        name: name.to_owned(),
        digest: String::new(),
        state: RowState::Closed,
        observed_at: change.observed_at,
        catalog_digest: String::new(),
        grants_digest: String::new(),
        applied_sql: None,
        blocked_by: Some(blockers.to_owned()),
    };
    let already = change
        .row
        .is_some_and(|row| row.state == RowState::Closed && row.blocked_by == blockers);
    let entry = (!already).then(|| AuditEntry {
        action: RowState::Closed.as_str().to_owned(),
        detail: format!("{} was wanted; blocked by {blockers}", decision.action()),
        ..entry(change, decision, name, "")
    });
    (row, entry)
}

fn entry(
    change: &Change<'_>,
    decision: &Decision,
    view_name: &str,
    new_digest: &str,
) -> AuditEntry {
    let detail = match decision {
        Decision::Restore { drift } => format!("drift: {}", drift.as_str()),
        Decision::Replace {
            previous_name: Some(previous),
        } => format!("renamed from {previous}"),
        Decision::Superseded {
            applied_observed_at,
        } => format!("a decision observed at {applied_observed_at} was applied first"),
        Decision::Drop { .. } => change.cause.drop_note.clone().unwrap_or_default(),
        _ => String::new(),
    };
    AuditEntry {
        applied_at: change.applied_at,
        view: change.view.clone(),
        view_name: view_name.to_owned(),
        action: decision.action().to_owned(),
        detail,
        old_digest: change
            .row
            .filter(|row| row.state.is_owned())
            .map(|row| row.sql_digest.clone())
            .unwrap_or_default(),
        new_digest: new_digest.to_owned(),
        observed_at: change.observed_at,
        origin: change.cause.origin.as_str().to_owned(),
        message_ids: change.cause.message_ids.clone(),
        notification_types: change.cause.notification_types.clone(),
        request_id: change.cause.request_id.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Origin;
    use crate::notification::Id;
    use crate::view_sql::ViewSql;

    fn key() -> ViewKey {
        ViewKey {
            project_id: Id::new("1").unwrap(),
            data_source_id: Id::new("2").unwrap(),
        }
    }

    fn desired(dialect: Dialect, roles: &[&str]) -> DesiredView {
        let location = crate::profile::view_location(dialect, None);
        let sql = ViewSql::parse("SELECT 1 AS a", &location).unwrap();
        DesiredView::new(key(), "v", &sql, &location)
            .with_grants(roles.iter().map(|r| r.to_string()).collect())
    }

    fn row(name: &str, state: RowState) -> LedgerRow {
        LedgerRow {
            view: key(),
            view_name: name.into(),
            sql_digest: "d0".into(),
            state,
            observed_at: 5,
            catalog_digest: "c0".into(),
            grants_digest: "g0".into(),
            blocked_by: String::new(),
        }
    }

    fn cause() -> Cause {
        Cause {
            origin: Origin::Webhook,
            message_ids: vec!["m1".into()],
            notification_types: vec!["modelDeleted".into()],
            request_id: Some("r1".into()),
            received_at_ms: None,
            drop_note: Some("data source 2 not found".into()),
        }
    }

    fn planned(
        dialect: Dialect,
        row: Option<&LedgerRow>,
        target: Target,
        decision: Decision,
    ) -> ApplyPlan {
        let cause = cause();
        let view = key();
        let change = Change {
            view: &view,
            row,
            observed_at: 10,
            cause: &cause,
            applied_at: 11,
        };
        plan(dialect, &change, &target, decision)
    }

    fn grant(desired: &DesiredView) -> Step {
        Step::Grant {
            view_name: desired.name.clone(),
            roles: desired.grants.clone(),
        }
    }

    #[test]
    fn a_create_on_mariadb_records_its_intent_before_its_ddl_and_refuses_a_name_it_does_not_hold() {
        let v = desired(Dialect::MySql, &["reader"]);
        let plan = planned(
            Dialect::MySql,
            None,
            Target::Present(v.clone()),
            Decision::Create,
        );
        assert_eq!(
            plan.steps,
            [
                Step::EnsureSchema("`v`".into()),
                Step::RefuseIfTaken("`v`".into()),
                Step::RecordIntent,
                Step::CheckScopeMarks,
                Step::Run(Ddl::Create("CREATE VIEW `v` AS SELECT 1 AS a".into())),
                grant(&v),
                Step::ReadCatalogDigest("`v`".into()),
                Step::WriteRow,
                Step::RecordAudit,
            ]
        );
        let intent = plan.intent.unwrap();
        assert_eq!(
            (intent.state, intent.name.as_str(), intent.digest.as_str()),
            (RowState::Pending, "`v`", v.digest.as_str())
        );
        assert_eq!(plan.restore_to, None, "a failed create leaves no row");
        let written = plan.row.unwrap();
        assert_eq!(written.state, RowState::Present);
        assert_eq!(
            written.applied_sql.as_deref(),
            Some("CREATE VIEW `v` AS SELECT 1 AS a;\nGRANT SELECT ON `v` TO `reader`")
        );
        let audit = plan.audit.unwrap();
        assert_eq!(
            (audit.action.as_str(), audit.view_name.as_str()),
            ("created", "`v`")
        );
        assert_eq!(
            (audit.old_digest.as_str(), audit.new_digest.as_str()),
            ("", v.digest.as_str())
        );
        assert_eq!((audit.applied_at, audit.observed_at), (11, 10));
        assert_eq!(
            (audit.origin.as_str(), audit.request_id.as_str()),
            ("webhook", "r1")
        );
    }

    #[test]
    fn a_rename_on_mariadb_drops_the_old_view_before_the_intent_names_the_new_one() {
        let v = desired(Dialect::MySql, &[]);
        let old = row("`old`", RowState::Present);
        let renamed = Decision::Replace {
            previous_name: Some("`old`".into()),
        };
        let plan = planned(Dialect::MySql, Some(&old), Target::Present(v), renamed);
        assert_eq!(
            plan.steps[..6],
            [
                Step::EnsureSchema("`v`".into()),
                Step::RefuseIfTaken("`v`".into()),
                Step::RevokeBeforeDrop("`old`".into()),
                Step::Run(Ddl::Drop("`old`".into())),
                Step::RecordIntent,
                Step::CheckScopeMarks,
            ]
        );
        assert_eq!(
            plan.statements().collect::<Vec<_>>(),
            [
                &Ddl::Drop("`old`".into()),
                &Ddl::Create("CREATE VIEW `v` AS SELECT 1 AS a".into())
            ]
        );
        // A create that fails after the intent leaves the old view's tombstone, not its row:
        // that view is gone.
        let restore_to = plan.restore_to.unwrap();
        assert_eq!(
            (
                restore_to.state,
                restore_to.name.as_str(),
                restore_to.observed_at
            ),
            (RowState::Dropped, "`old`", 5)
        );
        let audit = plan.audit.unwrap();
        assert_eq!(
            (audit.detail.as_str(), audit.old_digest.as_str()),
            ("renamed from `old`", "d0")
        );
    }

    #[test]
    fn a_replace_runs_in_the_transaction_where_ddl_is_transactional() {
        let sqlite = desired(Dialect::Sqlite, &[]);
        let current = row("\"v\"", RowState::Present);
        let same_name = || Decision::Replace {
            previous_name: None,
        };
        let plan = planned(
            Dialect::Sqlite,
            Some(&current),
            Target::Present(sqlite.clone()),
            same_name(),
        );
        assert_eq!(
            plan.steps,
            [
                Step::EnsureSchema("\"v\"".into()),
                Step::CheckScopeMarks,
                Step::Run(Ddl::Drop("\"v\"".into())),
                Step::Run(Ddl::Create("CREATE VIEW \"v\" AS SELECT 1 AS a".into())),
                grant(&sqlite),
                Step::ReadCatalogDigest("\"v\"".into()),
                Step::WriteRow,
                Step::RecordAudit,
            ]
        );
        assert_eq!(plan.intent, None);
        // PostgreSQL replaces in place, so that what readers built on the view follows it.
        let postgres = desired(Dialect::Postgres, &[]);
        let plan = planned(
            Dialect::Postgres,
            Some(&current),
            Target::Present(postgres.clone()),
            same_name(),
        );
        assert_eq!(
            plan.statements().collect::<Vec<_>>(),
            [&Ddl::ReplaceInPlace {
                name: "\"v\"".into(),
                create_or_replace:
                    "CREATE OR REPLACE VIEW \"v\" WITH (security_barrier = true) AS SELECT 1 AS a"
                        .into(),
                create: "CREATE VIEW \"v\" WITH (security_barrier = true) AS SELECT 1 AS a".into(),
            }]
        );
        // MariaDB's in-place replace keeps the view's grants: extra readers go first.
        let mariadb = desired(Dialect::MySql, &["reader"]);
        let plan = planned(
            Dialect::MySql,
            Some(&current),
            Target::Present(mariadb.clone()),
            same_name(),
        );
        let revoke = plan
            .steps
            .iter()
            .position(|s| matches!(s, Step::RevokeExtraGrants { .. }));
        let run = plan.steps.iter().position(|s| matches!(s, Step::Run(_)));
        assert!(revoke.is_some() && revoke < run, "{:?}", plan.steps);
        assert!(!plan.steps.contains(&Step::RefuseIfTaken("`v`".into())));
        assert_eq!(plan.restore_to, Some(RowWrite::restoring(&current)));
    }

    #[test]
    fn an_unchanged_view_writes_its_row_and_keeps_what_was_read_back() {
        let v = desired(Dialect::Postgres, &[]);
        let current = row("\"v\"", RowState::Present);
        let plan = planned(
            Dialect::Postgres,
            Some(&current),
            Target::Present(v),
            Decision::Unchanged,
        );
        assert_eq!(plan.steps, [Step::WriteRow]);
        let written = plan.row.unwrap();
        assert_eq!(
            (
                written.catalog_digest.as_str(),
                written.grants_digest.as_str(),
                written.observed_at
            ),
            ("c0", "g0", 10)
        );
        assert_eq!(written.applied_sql, None, "the row keeps its statement");
        assert_eq!(plan.audit, None);
    }

    #[test]
    fn grants_restored_keep_the_definition_read_back_at_the_last_apply() {
        let v = desired(Dialect::Postgres, &["reader"]);
        let current = row("\"v\"", RowState::Present);
        let grants = Decision::Restore {
            drift: Drift::Grants,
        };
        let plan = planned(
            Dialect::Postgres,
            Some(&current),
            Target::Present(v.clone()),
            grants,
        );
        assert_eq!(
            plan.steps,
            [
                Step::EnsureSchema("\"v\"".into()),
                Step::CheckScopeMarks,
                grant(&v),
                Step::WriteRow,
                Step::RecordAudit,
            ]
        );
        assert_eq!(plan.row.unwrap().catalog_digest, "c0");
        assert_eq!(plan.audit.unwrap().detail, "drift: grants");
    }

    #[test]
    fn a_drop_takes_mariadbs_grants_first_and_says_why_the_view_went() {
        let current = row("`v`", RowState::Present);
        let gone = Target::Absent(key());
        let drop = || Decision::Drop { name: "`v`".into() };
        let plan = planned(Dialect::MySql, Some(&current), gone.clone(), drop());
        assert_eq!(
            plan.steps,
            [
                Step::RevokeBeforeDrop("`v`".into()),
                Step::Run(Ddl::Drop("`v`".into())),
                Step::WriteRow,
                Step::RecordAudit,
            ]
        );
        let written = plan.row.unwrap();
        assert_eq!(
            (
                written.state,
                written.name.as_str(),
                written.digest.as_str()
            ),
            (RowState::Dropped, "`v`", "")
        );
        let audit = plan.audit.unwrap();
        assert_eq!(
            (audit.action.as_str(), audit.detail.as_str()),
            ("dropped", "data source 2 not found")
        );
        // PostgreSQL drops a view's privileges with it.
        let plan = planned(Dialect::Postgres, Some(&current), gone, drop());
        assert_eq!(
            plan.steps,
            [
                Step::Run(Ddl::Drop("`v`".into())),
                Step::WriteRow,
                Step::RecordAudit
            ]
        );
        assert_eq!(
            Ddl::Drop("`v`".into()).statement(),
            "DROP VIEW IF EXISTS `v`"
        );
    }

    #[test]
    fn a_superseded_decision_changes_nothing_and_is_audited() {
        let current = row("\"v\"", RowState::Present);
        let overtaken = Decision::Superseded {
            applied_observed_at: 20,
        };
        let v = desired(Dialect::Sqlite, &[]);
        let plan = planned(
            Dialect::Sqlite,
            Some(&current),
            Target::Present(v),
            overtaken,
        );
        assert_eq!(plan.steps, [Step::RecordAudit]);
        assert_eq!((plan.row, plan.intent), (None, None));
        let audit = plan.audit.unwrap();
        assert_eq!(
            (audit.action.as_str(), audit.view_name.as_str()),
            ("superseded", "\"v\"")
        );
        assert_eq!(audit.detail, "a decision observed at 20 was applied first");
        assert_eq!(audit.new_digest, "");
    }

    #[test]
    fn an_absent_view_leaves_a_tombstone_and_no_audit() {
        let plan = planned(
            Dialect::Postgres,
            None,
            Target::Absent(key()),
            Decision::RecordAbsent,
        );
        assert_eq!(plan.steps, [Step::WriteRow]);
        assert_eq!(plan.row.unwrap().state, RowState::Dropped);
        assert_eq!(plan.audit, None);
    }

    #[test]
    fn a_view_closed_is_audited_when_it_closes_or_its_blockers_change() {
        let cause = cause();
        let view = key();
        let open = row("\"v\"", RowState::Present);
        let change = |row| Change {
            view: &view,
            row,
            observed_at: 10,
            cause: &cause,
            applied_at: 11,
        };
        let replace = Decision::Replace {
            previous_name: None,
        };
        let (written, entry) = closed(&change(Some(&open)), &replace, "\"v\"", "reader_view");
        assert_eq!(
            (
                written.state,
                written.blocked_by.as_deref(),
                written.digest.as_str()
            ),
            (RowState::Closed, Some("reader_view"), "")
        );
        let entry = entry.unwrap();
        assert_eq!(
            (entry.action.as_str(), entry.detail.as_str()),
            ("closed", "replaced was wanted; blocked by reader_view")
        );
        let mut already = open.clone();
        already.state = RowState::Closed;
        already.blocked_by = "reader_view".into();
        let (_, entry) = closed(&change(Some(&already)), &replace, "\"v\"", "reader_view");
        assert_eq!(entry, None, "not audited at every retry");
        let (_, entry) = closed(&change(Some(&already)), &replace, "\"v\"", "other_view");
        assert!(entry.is_some(), "audited when what blocks it changes");
    }

    #[test]
    fn only_an_unchanged_view_is_held_against_the_catalog() {
        let current = row("\"v\"", RowState::Present);
        assert_eq!(
            catalog_to_read(&Decision::Unchanged, Some(&current)),
            Some(&current)
        );
        assert_eq!(catalog_to_read(&Decision::Create, Some(&current)), None);
        assert_eq!(
            against_catalog(Decision::Unchanged, Some(&current), None),
            Decision::Restore {
                drift: Drift::Missing
            }
        );
        let same = InCatalog {
            definition: "c0",
            grants: Some("g0"),
        };
        assert_eq!(
            against_catalog(Decision::Unchanged, Some(&current), Some(same)),
            Decision::Unchanged
        );
        assert_eq!(
            against_catalog(Decision::Create, None, None),
            Decision::Create
        );
    }

    #[test]
    fn the_create_statement_is_found_in_what_was_applied() {
        let v = desired(Dialect::Postgres, &["a", "b"]);
        let applied = as_applied(Dialect::Postgres, &v);
        assert_eq!(
            applied,
            format!(
                "{};\nGRANT SELECT ON \"v\" TO \"a\";\nGRANT SELECT ON \"v\" TO \"b\"",
                v.create
            )
        );
        assert_eq!(create_statement_of(&applied), v.create);
        assert_eq!(create_statement_of("SELECT 1"), "SELECT 1");
    }
}
