//! The planner: which views a reconcile wants ([`targets`]) and, per view, what to do about the
//! ledger row found under the view's lock ([`decide`]). Pure: the database adapter reads the row,
//! calls [`decide`] and carries out the decision.
//!
//! Ordering rule (DESIGN.md, "the newer read must win"): every reconcile notes `observed_at`
//! before its first Immuta read; a ledger row remembers the `observed_at` of the decision last
//! applied to it (drops leave a tombstone); a decision older than the row's is superseded. The
//! same holds per scope, for views that have no row yet: a reconcile of a data source or a
//! project marks its scope "decided as of" its `observed_at` ([`Scope::mark`]), and a create or
//! replace older than the newest mark covering its view is superseded ([`check_scope_marks`]).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::ddl::{self, ViewStatements};
use crate::hex;
use crate::naming;
use crate::notification::Id;
use crate::view_sql::{ViewLocation, ViewSql};

/// One view's identity: a data source in a project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ViewKey {
    pub project_id: Id,
    pub data_source_id: Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Present,
    /// A tombstone: the view was dropped (or decided absent) at `observed_at`.
    Dropped,
    /// A create or replace was recorded before its DDL ran (databases whose DDL commits on its
    /// own, i.e. MariaDB): the view may or may not exist, but if it does, it is ours.
    Pending,
    /// The view could not take its newest definition (or be dropped) because objects we do not
    /// manage depend on it (PostgreSQL): it was replaced in place by a view of the same columns
    /// that shows no rows, so that nobody reads the older definition through it or through
    /// what is built on it ([`LedgerRow::blocked_by`] names them). Every later apply tries
    /// again.
    Closed,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Dropped => "dropped",
            Self::Pending => "pending",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Present, Self::Dropped, Self::Pending, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether the view may exist under the row's name and is ours to replace or drop.
    pub fn is_owned(self) -> bool {
        matches!(self, Self::Present | Self::Pending | Self::Closed)
    }

    /// Whether the view is not as its row says it was applied, so that an apply must run its
    /// DDL even when the SQL is unchanged.
    pub fn needs_apply(self) -> bool {
        matches!(self, Self::Pending | Self::Closed)
    }
}

/// A row of the ledger of managed views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub view: ViewKey,
    pub view_name: String,
    pub sql_digest: String,
    pub state: RowState,
    /// Microseconds since the Unix epoch.
    pub observed_at: i64,
    /// Digest of the view as the database's catalog showed it right after it was applied (see
    /// [`drift`]); empty when not recorded (a tombstone, or a row of an earlier version).
    pub catalog_digest: String,
    /// Digest of who may read the view, as the catalog showed it right after it was applied;
    /// empty unless grants are managed (`VIEW_GRANT_ROLES`).
    pub grants_digest: String,
    /// What keeps a [`RowState::Closed`] view closed: the objects that depend on it, as the
    /// database named them; empty otherwise.
    pub blocked_by: String,
}

impl LedgerRow {
    /// The row once its view is dropped: a tombstone that keeps the decision's `observed_at`.
    pub fn dropped(&self) -> Self {
        Self {
            sql_digest: String::new(),
            catalog_digest: String::new(),
            grants_digest: String::new(),
            blocked_by: String::new(),
            state: RowState::Dropped,
            ..self.clone()
        }
    }
}

/// How a managed view differs from what was applied to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Drift {
    /// Its definition (or owner, or options) in the catalog is not the one applied: edited by hand.
    Edited,
    /// The catalog has no view under its name: dropped by hand.
    Missing,
    /// Applied before the ledger recorded catalog digests, so nothing can vouch for it.
    Unverified,
    /// Its definition is as applied, but who may read it is not: a grant revoked, or one added,
    /// by hand.
    Grants,
}

impl Drift {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edited => "edited",
            Self::Missing => "missing",
            Self::Unverified => "unverified",
            Self::Grants => "grants",
        }
    }
}

/// What the catalog holds for a view now (see [`drift`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InCatalog<'a> {
    /// Digest of its definition.
    pub definition: &'a str,
    /// Digest of who may read it; `None` unless grants are managed.
    pub grants: Option<&'a str>,
}

/// Whether the view of `row` drifted, given what the catalog holds for it now (`None`: no view
/// of that name). Each database normalises a view's text its own way, so the catalog's text is
/// compared with the catalog's text as it was right after the apply, never with the statement
/// we ran; grants likewise. A row that is not `present` has nothing to vouch for.
pub fn drift(row: &LedgerRow, in_catalog: Option<InCatalog<'_>>) -> Option<Drift> {
    if row.state != RowState::Present {
        return None;
    }
    let now = match in_catalog {
        None => return Some(Drift::Missing),
        Some(_) if row.catalog_digest.is_empty() => return Some(Drift::Unverified),
        Some(now) => now,
    };
    if now.definition != row.catalog_digest {
        return Some(Drift::Edited);
    }
    match now.grants {
        Some(grants) if grants != row.grants_digest => Some(Drift::Grants),
        _ => None,
    }
}

/// A decision that leaves the view as it is becomes a restore when the view drifted: a view
/// that Immuta wants as it was applied, but that is no longer so in the database.
pub fn repair(decision: Decision, drift: Option<Drift>) -> Decision {
    match (decision, drift) {
        (Decision::Unchanged, Some(drift)) => Decision::Restore { drift },
        (decision, _) => decision,
    }
}

/// A view that must exist: its name and the statements that create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredView {
    pub view: ViewKey,
    /// How the view is referred to in SQL (quoted, schema-qualified): the template's name, or
    /// the name a `CREATE VIEW` statement gives its view.
    pub name: String,
    /// `CREATE VIEW <name> …`: fails if the name is taken, so a create never overwrites a view
    /// someone else made.
    pub create: String,
    /// `CREATE OR REPLACE VIEW <name> …` where the database replaces a view in place, so that
    /// objects built on it (a reader's view) see the new definition and cannot hold the old
    /// one: MariaDB/MySQL (the columns may change) and PostgreSQL (the old columns must come
    /// first, as they were: otherwise the store falls back to a drop and a create, and fails
    /// closed where something else depends on the view). SQLite: a drop and a create in one
    /// transaction.
    pub create_or_replace: Option<String>,
    /// The roles granted `SELECT` on the view (`VIEW_GRANT_ROLES`, rendered for its project),
    /// sorted; empty when grants are not managed.
    pub grants: Vec<String>,
    /// Digest of the create statement and the grants: unchanged, the view is unchanged.
    pub digest: String,
    /// The view under its alternate name ([`naming::alternate`]), taken when another view of
    /// ours holds this one's name; `None` when the SQL names its own view.
    pub alternate: Option<Box<DesiredView>>,
}

impl DesiredView {
    /// `template_name` (unquoted) is used unless the SQL is a statement naming its own view.
    pub fn new(view: ViewKey, template_name: &str, sql: &ViewSql, location: &ViewLocation) -> Self {
        let alternate = sql.own_name().is_none().then(|| {
            let name = naming::alternate(
                template_name,
                view.project_id.as_str(),
                view.data_source_id.as_str(),
            );
            Box::new(Self::named(view.clone(), &name, sql, location))
        });
        Self {
            alternate,
            ..Self::named(view, sql.own_name().unwrap_or(template_name), sql, location)
        }
    }

    fn named(view: ViewKey, bare: &str, sql: &ViewSql, location: &ViewLocation) -> Self {
        let ViewStatements {
            create,
            replace: create_or_replace,
        } = ddl::view_statements(sql, location, bare);
        let digest = statement_digest(&create, &[]);
        Self {
            view,
            name: location.reference(bare),
            create,
            create_or_replace,
            grants: Vec::new(),
            digest,
            alternate: None,
        }
    }

    /// The view, readable by `roles` (sorted, without repeats; see [`naming::project_roles`]).
    pub fn with_grants(mut self, roles: Vec<String>) -> Self {
        self.alternate = self
            .alternate
            .map(|a| Box::new(a.with_grants(roles.clone())));
        self.digest = statement_digest(&self.create, &roles);
        self.grants = roles;
        self
    }
}

/// A view without grants keeps the digest of its statement alone: turning grants on changes
/// every digest (each view is then replaced once, and granted), leaving them off changes none.
fn statement_digest(create: &str, grants: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(create.as_bytes());
    for role in grants {
        hasher.update(b"\n-- GRANT SELECT TO ");
        hasher.update(role.as_bytes());
    }
    hex::encode(&hasher.finalize())
}

impl ViewKey {
    /// The marked scopes that cover the view: its data source and its project.
    pub fn covering_marks(&self) -> [(ScopeKind, &Id); 2] {
        [
            (ScopeKind::DataSource, &self.data_source_id),
            (ScopeKind::Project, &self.project_id),
        ]
    }

    /// Every scope that covers the view.
    fn covering_scopes(&self) -> [Scope; 4] {
        [
            Scope::DataSource(self.data_source_id.clone()),
            Scope::Project(self.project_id.clone()),
            Scope::View(self.clone()),
            Scope::Everything,
        ]
    }
}

/// The kinds of scope whose reconciles leave a "decided as of" mark beside the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeKind {
    DataSource,
    Project,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataSource => "dataSource",
            Self::Project => "project",
        }
    }
}

/// What a reconcile is authoritative for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    DataSource(Id),
    Project(Id),
    View(ViewKey),
    /// A full re-sync: every view.
    Everything,
}

impl Scope {
    pub fn contains(&self, view: &ViewKey) -> bool {
        match self {
            Self::DataSource(id) => &view.data_source_id == id,
            Self::Project(id) => &view.project_id == id,
            Self::View(key) => key == view,
            Self::Everything => true,
        }
    }

    /// The mark a reconcile of this scope leaves beside the ledger, after it has read Immuta and
    /// before it reads the ledger's rows. A single view needs none: its reconcile always writes
    /// the view's own ledger row (a tombstone when absent), which orders decisions about it. A
    /// full re-sync runs as data source and project keys, which leave theirs.
    pub fn mark(&self) -> Option<(ScopeKind, &Id)> {
        match self {
            Self::DataSource(id) => Some((ScopeKind::DataSource, id)),
            Self::Project(id) => Some((ScopeKind::Project, id)),
            Self::View(_) | Self::Everything => None,
        }
    }
}

/// The state a reconcile wants for one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Present(DesiredView),
    Absent(ViewKey),
}

impl Target {
    pub fn view(&self) -> &ViewKey {
        match self {
            Self::Present(desired) => &desired.view,
            Self::Absent(view) => view,
        }
    }

    /// The target as the view's ledger row knows it: a view that lives under its alternate name
    /// (its name was taken when it was made) keeps it, so its name is the same at every apply.
    pub fn as_known_by(&self, row: Option<&LedgerRow>) -> Option<Target> {
        let (Self::Present(desired), Some(row)) = (self, row) else {
            return None;
        };
        let alternate = desired.alternate.as_deref()?;
        (row.state.is_owned() && row.view_name == alternate.name)
            .then(|| Self::Present(alternate.clone()))
    }

    /// Every name an apply of the target may take: its name and its alternate (none for a view
    /// wanted absent). [`names_to_check`] is never more, whatever the view's row.
    pub fn names_it_may_take(&self) -> Vec<String> {
        match self {
            Self::Present(desired) => std::iter::once(desired.name.clone())
                .chain(desired.alternate.as_deref().map(|a| a.name.clone()))
                .collect(),
            Self::Absent(_) => Vec::new(),
        }
    }

    /// The target under its alternate name, if it has one.
    pub fn alternate(&self) -> Option<Target> {
        match self {
            Self::Present(desired) => desired
                .alternate
                .as_deref()
                .map(|alternate| Self::Present(alternate.clone())),
            Self::Absent(_) => None,
        }
    }
}

/// The targets of a reconcile: every desired view present; every other view in scope that the
/// ledger shows present or pending (a create in flight, or one that died half-way), absent,
/// except those in `kept`: views Immuta wants whose SQL could not be
/// read, which are left as they are (failing to read a view's SQL is no reason to drop it). A
/// single-view scope always yields a target (unless kept), so that even a view the ledger never
/// saw gets a tombstone that supersedes older in-flight decisions.
pub fn targets(
    scope: &Scope,
    desired: Vec<DesiredView>,
    ledger: &[LedgerRow],
    kept: &BTreeSet<ViewKey>,
) -> Vec<Target> {
    let mut by_view: BTreeMap<ViewKey, Target> = BTreeMap::new();
    for view in desired.into_iter().filter(|d| scope.contains(&d.view)) {
        by_view.insert(view.view.clone(), Target::Present(view));
    }
    let wanted: BTreeSet<ViewKey> = by_view.keys().cloned().collect();
    for row in ledger {
        if row.state.is_owned() && scope.contains(&row.view) && !wanted.contains(&row.view) {
            by_view.insert(row.view.clone(), Target::Absent(row.view.clone()));
        }
    }
    if let Scope::View(view) = scope {
        by_view
            .entry(view.clone())
            .or_insert_with(|| Target::Absent(view.clone()));
    }
    by_view
        .into_values()
        .filter(|t| !matches!(t, Target::Absent(view) if kept.contains(view)))
        .collect()
}

/// What one key of a batch decided: the scope it read, the views it wants there (those whose SQL
/// could not be read included) and its targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDecision {
    pub scope: Scope,
    pub wanted: BTreeSet<ViewKey>,
    pub targets: Vec<Target>,
}

/// Settles what the keys of one batch disagree about. They all read Immuta as of one
/// `observed_at`, so neither can supersede the other; they disagree about a view only when Immuta
/// changed between their reads. A view then stays present only if every key whose scope covers it
/// wants it, and is absent otherwise: the outcome that exposes no data (the next notification or
/// re-sync settles it). Without this, a key that found a source deleted would lose to another key
/// of the batch that still saw it, whenever the view did not exist yet.
pub fn settle(keys: &mut [KeyDecision]) {
    let denied: BTreeSet<ViewKey> = {
        let mut wanted_by_scope: BTreeMap<&Scope, Vec<&BTreeSet<ViewKey>>> = BTreeMap::new();
        for key in keys.iter() {
            wanted_by_scope
                .entry(&key.scope)
                .or_default()
                .push(&key.wanted);
        }
        keys.iter()
            .flat_map(|key| &key.targets)
            .filter_map(|target| match target {
                Target::Present(desired) => Some(&desired.view),
                Target::Absent(_) => None,
            })
            .filter(|view| {
                view.covering_scopes().iter().any(|scope| {
                    wanted_by_scope
                        .get(scope)
                        .is_some_and(|all| all.iter().any(|wanted| !wanted.contains(view)))
                })
            })
            .cloned()
            .collect()
    };
    for target in keys.iter_mut().flat_map(|key| &mut key.targets) {
        if let Target::Present(desired) = target
            && denied.contains(&desired.view)
        {
            *target = Target::Absent(desired.view.clone());
        }
    }
}

/// What to do for one view, given its ledger row read under the view's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Create,
    /// Replace the view; if it was known under another name, drop that one.
    Replace {
        previous_name: Option<String>,
    },
    Drop {
        name: String,
    },
    /// Same name and SQL: no DDL; the row's `observed_at` still advances.
    Unchanged,
    /// Same name and SQL as applied, but the database's view drifted ([`repair`]): apply it again.
    Restore {
        drift: Drift,
    },
    /// Absent and already known absent (or never known): record a tombstone, no DDL.
    RecordAbsent,
    /// A newer decision was already applied; nothing is done.
    Superseded {
        applied_observed_at: i64,
    },
}

impl Decision {
    pub fn writes_ledger(&self) -> bool {
        !matches!(self, Self::Superseded { .. })
    }

    /// Whether the decision makes the view exist, or gives it new SQL: what a newer mark of a
    /// scope covering the view supersedes. (A drop needs no such check: the view's own row
    /// orders it, and marks are never a reason to drop.)
    pub fn makes_view(&self) -> bool {
        matches!(
            self,
            Self::Create | Self::Replace { .. } | Self::Restore { .. }
        )
    }

    /// Whether the decision changes the database (runs DDL).
    pub fn changes_view(&self) -> bool {
        self.makes_view() || matches!(self, Self::Drop { .. })
    }

    /// How the audit trail, the logs and the metrics name it.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Create => "created",
            Self::Replace { .. } => "replaced",
            Self::Restore { .. } => "restored",
            Self::Drop { .. } => "dropped",
            Self::Unchanged => "unchanged",
            Self::RecordAbsent => "absent",
            Self::Superseded { .. } => "superseded",
        }
    }
}

/// Another view of ours holds a name a view would take: its own, and its alternate too (or it
/// has none, naming its own view in its SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTaken {
    pub name: String,
    pub holder: ViewKey,
}

/// The names whose holders [`named_target`] may ask about: none when the view is not made
/// (unchanged, dropped, superseded), else its name and its alternate.
pub fn names_to_check(row: Option<&LedgerRow>, target: &Target, observed_at: i64) -> Vec<String> {
    let target = target.as_known_by(row).unwrap_or_else(|| target.clone());
    match decide(row, &target, observed_at).makes_view() {
        true => target.names_it_may_take(),
        false => Vec::new(),
    }
}

/// The target an apply works to, and its decision: the view as its row knows it
/// ([`Target::as_known_by`]), and under its alternate name when another view of ours holds its
/// name (two names that come out alike), so that a collision is never a lasting failure.
/// `holder_of(name)` is the other view of ours that holds `name`, if any (the ledger's rows not
/// dropped). The apply asks the ledger inside the view's critical section; `plan` asks the rows it
/// read, as the changes it plans before this one leave them: both decide here.
pub fn named_target(
    row: Option<&LedgerRow>,
    target: &Target,
    observed_at: i64,
    holder_of: impl Fn(&str) -> Option<ViewKey>,
) -> Result<(Target, Decision), NameTaken> {
    let target = target.as_known_by(row).unwrap_or_else(|| target.clone());
    let decision = decide(row, &target, observed_at);
    let Target::Present(desired) = &target else {
        return Ok((target, decision));
    };
    if !decision.makes_view() {
        return Ok((target, decision));
    }
    let taken = |name: &str| {
        holder_of(name).map(|holder| NameTaken {
            name: name.to_owned(),
            holder,
        })
    };
    let Some(conflict) = taken(&desired.name) else {
        return Ok((target, decision));
    };
    let Some(alternate) = target.alternate() else {
        return Err(conflict);
    };
    let decision = decide(row, &alternate, observed_at);
    if let Target::Present(desired) = &alternate
        && decision.makes_view()
        && let Some(conflict) = taken(&desired.name)
    {
        return Err(conflict);
    }
    Ok((alternate, decision))
}

pub fn decide(row: Option<&LedgerRow>, target: &Target, observed_at: i64) -> Decision {
    if let Some(row) = row
        && row.observed_at > observed_at
    {
        return Decision::Superseded {
            applied_observed_at: row.observed_at,
        };
    }
    let owned = row.filter(|r| r.state.is_owned());
    match (target, owned) {
        (Target::Present(_), None) => Decision::Create,
        (Target::Present(desired), Some(row)) if row.view_name != desired.name => {
            Decision::Replace {
                previous_name: Some(row.view_name.clone()),
            }
        }
        (Target::Present(desired), Some(row))
            if row.sql_digest != desired.digest || row.state.needs_apply() =>
        {
            Decision::Replace {
                previous_name: None,
            }
        }
        (Target::Present(_), Some(_)) => Decision::Unchanged,
        (Target::Absent(_), Some(row)) => Decision::Drop {
            name: row.view_name.clone(),
        },
        (Target::Absent(_), None) => Decision::RecordAbsent,
    }
}

/// A create or replace decided at `observed_at` is superseded when a scope covering the view was
/// decided later (`newest_mark`, the newest mark of the view's [`ViewKey::covering_marks`]): that
/// read ruled on every view of its scope, this one included, and applies its own decision if it
/// wants the view.
pub fn check_scope_marks(
    decision: Decision,
    newest_mark: Option<i64>,
    observed_at: i64,
) -> Decision {
    match newest_mark {
        Some(mark) if decision.makes_view() && mark > observed_at => Decision::Superseded {
            applied_observed_at: mark,
        },
        _ => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;

    fn key(p: &str, d: &str) -> ViewKey {
        ViewKey {
            project_id: Id::new(p).unwrap(),
            data_source_id: Id::new(d).unwrap(),
        }
    }

    const SQLITE: ViewLocation = ViewLocation {
        dialect: Dialect::Sqlite,
        schema: None,
        parser: crate::dialect::ParserDialect::Sqlite,
        rewrite: None,
        barrier: true,
    };

    fn desired(p: &str, d: &str, sql: &str) -> DesiredView {
        let sql = ViewSql::parse(sql, &SQLITE).unwrap();
        DesiredView::new(key(p, d), &format!("p{p}__d{d}"), &sql, &SQLITE)
    }

    fn row(view: &DesiredView, state: RowState, observed_at: i64) -> LedgerRow {
        LedgerRow {
            view: view.view.clone(),
            view_name: view.name.clone(),
            sql_digest: view.digest.clone(),
            state,
            observed_at,
            catalog_digest: "c1".into(),
            grants_digest: "g1".into(),
            blocked_by: String::new(),
        }
    }

    fn catalog<'a>(definition: &'a str, grants: Option<&'a str>) -> Option<InCatalog<'a>> {
        Some(InCatalog { definition, grants })
    }

    #[test]
    fn a_taken_name_makes_the_view_take_its_alternate_and_only_when_it_is_made() {
        let v = desired("1", "2", "SELECT 1");
        let alternate = v.alternate.as_deref().unwrap().name.clone();
        let other = key("1", "9");
        let target = Target::Present(v.clone());
        // Its name is free: its own name.
        assert_eq!(
            names_to_check(None, &target, 10),
            [v.name.clone(), alternate.clone()]
        );
        let (named, decision) = named_target(None, &target, 10, |_| None).unwrap();
        assert_eq!((named, decision), (target.clone(), Decision::Create));
        // Another view holds it: the alternate.
        let holds_name = |name: &str| (name == v.name).then(|| other.clone());
        let (named, decision) = named_target(None, &target, 10, holds_name).unwrap();
        assert_eq!(
            (named, decision),
            (target.alternate().unwrap(), Decision::Create)
        );
        // Both taken: a conflict naming the holder.
        let holds_both = |_: &str| Some(other.clone());
        assert_eq!(
            named_target(None, &target, 10, holds_both),
            Err(NameTaken {
                name: alternate.clone(),
                holder: other.clone()
            })
        );
        // A view already made under its alternate keeps it, and an unchanged view asks nothing.
        let mut known = row(v.alternate.as_deref().unwrap(), RowState::Present, 5);
        known.view = v.view.clone();
        assert!(names_to_check(Some(&known), &target, 10).is_empty());
        let (named, decision) = named_target(Some(&known), &target, 10, holds_both).unwrap();
        assert_eq!(
            (named, decision),
            (target.alternate().unwrap(), Decision::Unchanged)
        );
    }

    #[test]
    fn decisions_follow_the_row() {
        let v1 = desired("1", "2", "SELECT 1");
        let v2 = desired("1", "2", "SELECT 2");
        let present = Target::Present(v2.clone());
        assert_eq!(decide(None, &present, 10), Decision::Create);
        assert_eq!(
            decide(Some(&row(&v1, RowState::Dropped, 5)), &present, 10),
            Decision::Create
        );
        assert_eq!(
            decide(Some(&row(&v1, RowState::Present, 5)), &present, 10),
            Decision::Replace {
                previous_name: None
            }
        );
        assert_eq!(
            decide(Some(&row(&v2, RowState::Present, 5)), &present, 10),
            Decision::Unchanged
        );
        let mut renamed = row(&v2, RowState::Present, 5);
        renamed.view_name = "old_name".into();
        assert_eq!(
            decide(Some(&renamed), &present, 10),
            Decision::Replace {
                previous_name: Some("old_name".into())
            }
        );

        let absent = Target::Absent(key("1", "2"));
        assert_eq!(
            decide(Some(&row(&v1, RowState::Present, 5)), &absent, 10),
            Decision::Drop {
                name: "\"p1__d2\"".into()
            }
        );
        assert_eq!(
            decide(Some(&row(&v1, RowState::Dropped, 5)), &absent, 10),
            Decision::RecordAbsent
        );
        assert_eq!(decide(None, &absent, 10), Decision::RecordAbsent);

        // A pending row's DDL may not have run: replace even with the same digest; drop if absent.
        assert_eq!(
            decide(Some(&row(&v2, RowState::Pending, 5)), &present, 10),
            Decision::Replace {
                previous_name: None
            }
        );
        assert_eq!(
            decide(Some(&row(&v1, RowState::Pending, 5)), &absent, 10),
            Decision::Drop {
                name: "\"p1__d2\"".into()
            }
        );
        assert_eq!(RowState::parse("pending"), Some(RowState::Pending));

        // A closed view is tried again at every apply, as it is: it shows no rows.
        assert_eq!(
            decide(Some(&row(&v2, RowState::Closed, 5)), &present, 10),
            Decision::Replace {
                previous_name: None
            }
        );
        assert_eq!(
            decide(Some(&row(&v1, RowState::Closed, 5)), &absent, 10),
            Decision::Drop {
                name: "\"p1__d2\"".into()
            }
        );
        assert_eq!(drift(&row(&v2, RowState::Closed, 5), None), None);
        assert_eq!(RowState::parse("closed"), Some(RowState::Closed));
    }

    #[test]
    fn grants_are_part_of_what_a_view_is_and_none_change_nothing() {
        // The ledger keeps these digests: a changed recipe would replace every view at the next
        // re-sync. Computed apart, e.g. `printf 'CREATE VIEW "p1__d2" AS SELECT 1' | sha256sum`.
        let plain = desired("1", "2", "SELECT 1");
        assert_eq!(plain.create, "CREATE VIEW \"p1__d2\" AS SELECT 1");
        assert_eq!(
            plain.digest,
            "08d2be1a1699346f8bd0b9d16ac9337b8342650b4848e1f95eee119be9323503"
        );
        let readers = plain.clone().with_grants(vec!["readers_1".into()]);
        // printf 'CREATE VIEW "p1__d2" AS SELECT 1\n-- GRANT SELECT TO readers_1' | sha256sum
        assert_eq!(
            readers.digest,
            "f077a5c2d07dc84eb8824257b1a96730946c58b99c446e218e99031553c88f93"
        );
        assert_eq!(readers.grants, ["readers_1"]);
        let alternate = readers.alternate.as_ref().unwrap();
        assert_eq!(alternate.grants, ["readers_1"]);
        let both = plain
            .clone()
            .with_grants(vec!["a".into(), "readers_1".into()]);
        // printf '…SELECT 1\n-- GRANT SELECT TO a\n-- GRANT SELECT TO readers_1' | sha256sum
        assert_eq!(
            both.digest,
            "42ef0a90c402bf0012b46fd764d6d8d2c9cb4111ea34c3b8803c2385e5ac51d6"
        );
        assert_eq!(plain.clone().with_grants(Vec::new()).digest, plain.digest);
        assert_eq!(
            decide(
                Some(&row(&plain, RowState::Present, 1)),
                &Target::Present(readers),
                2
            ),
            Decision::Replace {
                previous_name: None
            }
        );
    }

    #[test]
    fn drift_is_the_catalog_against_the_catalog_as_applied() {
        let v = desired("1", "2", "SELECT 1");
        let present = row(&v, RowState::Present, 5);
        assert_eq!(drift(&present, catalog("c1", None)), None);
        assert_eq!(drift(&present, catalog("c2", None)), Some(Drift::Edited));
        assert_eq!(drift(&present, None), Some(Drift::Missing));
        let earlier_version = LedgerRow {
            catalog_digest: String::new(),
            ..present.clone()
        };
        assert_eq!(
            drift(&earlier_version, catalog("c1", None)),
            Some(Drift::Unverified)
        );
        // Grants count where they are managed, after the definition.
        assert_eq!(drift(&present, catalog("c1", Some("g1"))), None);
        assert_eq!(
            drift(&present, catalog("c1", Some("g2"))),
            Some(Drift::Grants)
        );
        assert_eq!(
            drift(&present, catalog("c2", Some("g2"))),
            Some(Drift::Edited)
        );
        // Nothing to vouch for: a tombstone's view is not ours; a pending one is replaced anyway.
        assert_eq!(drift(&row(&v, RowState::Dropped, 5), None), None);
        assert_eq!(drift(&row(&v, RowState::Pending, 5), None), None);

        let restore = repair(Decision::Unchanged, Some(Drift::Missing));
        assert_eq!(
            restore,
            Decision::Restore {
                drift: Drift::Missing
            }
        );
        assert!(restore.makes_view() && restore.changes_view());
        assert_eq!(restore.action(), "restored");
        // Only a view left as it is becomes a restore: the rest already apply the view anew.
        assert_eq!(
            repair(Decision::Create, Some(Drift::Edited)),
            Decision::Create
        );
        assert_eq!(repair(Decision::Unchanged, None), Decision::Unchanged);
        assert!(!Decision::Unchanged.changes_view() && !Decision::RecordAbsent.changes_view());
        // A newer mark supersedes a restore as it does a create.
        assert!(matches!(
            check_scope_marks(restore, Some(20), 10),
            Decision::Superseded { .. }
        ));
    }

    #[test]
    fn the_newer_read_wins() {
        let v1 = desired("1", "2", "SELECT 'policy v1'");
        let v2 = desired("1", "2", "SELECT 'policy v2'");
        // v2 observed at t2 applied; then v1 observed at t1 < t2 arrives: superseded.
        let after_v2 = row(&v2, RowState::Present, 200);
        assert_eq!(
            decide(Some(&after_v2), &Target::Present(v1.clone()), 100),
            Decision::Superseded {
                applied_observed_at: 200
            }
        );
        // drop at t2, then a create observed at t1: superseded, no view.
        let tombstone = row(&v1, RowState::Dropped, 200);
        assert_eq!(
            decide(Some(&tombstone), &Target::Present(v1), 100),
            Decision::Superseded {
                applied_observed_at: 200
            }
        );
        assert!(
            !Decision::Superseded {
                applied_observed_at: 0
            }
            .writes_ledger()
        );
    }

    #[test]
    fn targets_cover_the_scope_only() {
        let keep = desired("1", "2", "SELECT 1");
        let gone = desired("1", "3", "SELECT 1");
        let elsewhere = desired("9", "2", "SELECT 1");
        let dropped_before = desired("1", "4", "SELECT 1");
        let ledger = vec![
            row(&keep, RowState::Present, 1),
            row(&gone, RowState::Present, 1),
            row(&elsewhere, RowState::Present, 1),
            row(&dropped_before, RowState::Dropped, 1),
        ];
        let project = Scope::Project(Id::new("1").unwrap());
        let none = BTreeSet::new();
        let t = targets(&project, vec![keep.clone()], &ledger, &none);
        assert_eq!(
            t,
            vec![Target::Present(keep.clone()), Target::Absent(key("1", "3"))]
        );

        let source = Scope::DataSource(Id::new("2").unwrap());
        let t = targets(&source, vec![], &ledger, &none);
        assert_eq!(
            t,
            vec![Target::Absent(key("1", "2")), Target::Absent(key("9", "2"))]
        );

        // A single view always gets a target, even unknown to the ledger.
        let t = targets(&Scope::View(key("5", "5")), vec![], &ledger, &none);
        assert_eq!(t, vec![Target::Absent(key("5", "5"))]);
    }

    #[test]
    fn a_view_whose_sql_could_not_be_read_is_kept_not_dropped() {
        let readable = desired("1", "2", "SELECT 1");
        let unreadable = desired("1", "3", "SELECT 1");
        let ledger = vec![
            row(&readable, RowState::Present, 1),
            row(&unreadable, RowState::Present, 1),
        ];
        let kept = BTreeSet::from([key("1", "3")]);
        let project = Scope::Project(Id::new("1").unwrap());
        assert_eq!(
            targets(&project, vec![readable.clone()], &ledger, &kept),
            vec![Target::Present(readable)]
        );
        assert!(targets(&Scope::View(key("1", "3")), vec![], &ledger, &kept).is_empty());
    }

    #[test]
    fn a_newer_mark_of_a_covering_scope_supersedes_a_create_or_replace_only() {
        let replace = Decision::Replace {
            previous_name: None,
        };
        for decision in [Decision::Create, replace.clone()] {
            assert_eq!(
                check_scope_marks(decision.clone(), Some(200), 100),
                Decision::Superseded {
                    applied_observed_at: 200
                }
            );
            // A mark as old as the decision (the same batch) or older, or none: it stands.
            for mark in [Some(100), Some(50), None] {
                assert_eq!(check_scope_marks(decision.clone(), mark, 100), decision);
            }
        }
        for decision in [
            Decision::Unchanged,
            Decision::RecordAbsent,
            Decision::Drop { name: "v".into() },
        ] {
            assert_eq!(
                check_scope_marks(decision.clone(), Some(200), 100),
                decision
            );
        }
    }

    #[test]
    fn data_sources_and_projects_are_marked_single_views_have_their_row() {
        let id = Id::new("7").unwrap();
        assert_eq!(
            Scope::DataSource(id.clone()).mark(),
            Some((ScopeKind::DataSource, &id))
        );
        assert_eq!(
            Scope::Project(id.clone()).mark(),
            Some((ScopeKind::Project, &id))
        );
        assert_eq!(Scope::View(key("1", "7")).mark(), None);
        let view = key("1", "7");
        let marks = view.covering_marks();
        assert_eq!(marks[0], (ScopeKind::DataSource, &view.data_source_id));
        assert_eq!(marks[1], (ScopeKind::Project, &view.project_id));
    }

    #[test]
    fn a_pending_row_out_of_the_wanted_set_is_dropped() {
        let pending = desired("1", "2", "SELECT 1");
        let ledger = vec![row(&pending, RowState::Pending, 1)];
        let project = Scope::Project(Id::new("1").unwrap());
        assert_eq!(
            targets(&project, vec![], &ledger, &BTreeSet::new()),
            vec![Target::Absent(key("1", "2"))]
        );
    }

    fn decided(scope: Scope, wanted: &[&DesiredView]) -> KeyDecision {
        KeyDecision {
            scope,
            wanted: wanted.iter().map(|d| d.view.clone()).collect(),
            targets: wanted
                .iter()
                .map(|d| Target::Present((*d).clone()))
                .collect(),
        }
    }

    #[test]
    fn in_one_batch_a_view_is_present_only_if_every_key_covering_it_wants_it() {
        let orders = desired("5", "7", "SELECT 1");
        let elsewhere = desired("6", "8", "SELECT 1");
        // The project's key still saw source 7; the source's key found it deleted (no row: no
        // target of its own).
        let mut batch = [
            decided(Scope::Project(Id::new("5").unwrap()), &[&orders]),
            decided(Scope::DataSource(Id::new("7").unwrap()), &[]),
            decided(Scope::Project(Id::new("6").unwrap()), &[&elsewhere]),
        ];
        settle(&mut batch);
        assert_eq!(batch[0].targets, vec![Target::Absent(key("5", "7"))]);
        assert!(batch[1].targets.is_empty());
        assert_eq!(batch[2].targets, vec![Target::Present(elsewhere.clone())]);

        // A membership removed, seen by its own key: the same.
        let mut batch = [
            decided(Scope::DataSource(Id::new("7").unwrap()), &[&orders]),
            decided(Scope::View(key("5", "7")), &[]),
        ];
        settle(&mut batch);
        assert_eq!(batch[0].targets, vec![Target::Absent(key("5", "7"))]);

        // Keys that agree, or whose scopes do not cover the view, change nothing.
        let mut batch = [
            decided(Scope::DataSource(Id::new("7").unwrap()), &[&orders]),
            decided(Scope::Project(Id::new("5").unwrap()), &[&orders]),
            decided(Scope::DataSource(Id::new("9").unwrap()), &[]),
        ];
        settle(&mut batch);
        assert_eq!(batch[0].targets, vec![Target::Present(orders.clone())]);
        assert_eq!(batch[1].targets, vec![Target::Present(orders)]);
    }

    #[test]
    fn digests_change_with_name_or_sql_only() {
        let a = desired("1", "2", "SELECT 1");
        assert_eq!(a.digest, desired("1", "2", "SELECT 1").digest);
        assert_ne!(a.digest, desired("1", "2", "SELECT 2").digest);
        assert_ne!(a.digest, desired("1", "3", "SELECT 1").digest);
        let sql = ViewSql::parse("CREATE VIEW own AS SELECT 1", &SQLITE).unwrap();
        let statement = DesiredView::new(key("1", "2"), "ignored", &sql, &SQLITE);
        assert_eq!(statement.name, "\"own\"");
        assert_eq!(statement.create, "CREATE VIEW \"own\" AS SELECT 1");
        assert_eq!(statement.create_or_replace, None);
    }
}
