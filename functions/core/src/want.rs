//! Which views Immuta wants, decided from what was read ([`crate::reads`]) and the disabled
//! hints kept beside the ledger. Pure: the processor reads, calls these, and applies.
//!
//! - A data source is gone when Immuta does not know it (404), it is deleted, or it is disabled.
//!   Disabled: an explicit state in the read wins; when the read is silent (Immuta documents no
//!   such field), the newest `fields.disabled` hint for the source decides.
//! - A data source whose `blobHandlerType` this deployment does not serve is none of our business.
//! - A project wants views when it exists, is not deleted or closed, and is equalized.
//! - The views of a live source: one per live, equalized project holding it. The views of a live,
//!   equalized project: one per member that is not deleted, not disabled and of a served type.

use std::collections::BTreeMap;

use crate::catalog::NotificationType;
use crate::notification::{Id, Notification};
use crate::plan::ViewKey;
use crate::reads::{DataSource, DisabledHint, Project};

/// The `blobHandlerType`s this deployment serves (`HANDLER_TYPES`); all when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandlerFilter(Option<Vec<String>>);

impl HandlerFilter {
    pub fn all() -> Self {
        Self(None)
    }

    pub fn only(types: Vec<String>) -> Self {
        Self(Some(types))
    }

    /// Case-insensitive; an answer without a handler type is served only when all are.
    pub fn serves(&self, handler: Option<&str>) -> bool {
        match (&self.0, handler) {
            (None, _) => true,
            (Some(types), Some(handler)) => types.iter().any(|t| t.eq_ignore_ascii_case(handler)),
            (Some(_), None) => false,
        }
    }
}

/// The newest disabled hint of every data source that has one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisabledHints(BTreeMap<Id, DisabledHint>);

impl DisabledHints {
    pub fn new(hints: impl IntoIterator<Item = (Id, DisabledHint)>) -> Self {
        let mut newest: BTreeMap<Id, DisabledHint> = BTreeMap::new();
        for (id, hint) in hints {
            let slot = newest.entry(id).or_insert(hint);
            // On a tie, disabled wins: it is the state that exposes no data.
            if (hint.received_at_ms, hint.disabled) > (slot.received_at_ms, slot.disabled) {
                *slot = hint;
            }
        }
        Self(newest)
    }

    pub fn get(&self, data_source: &Id) -> Option<DisabledHint> {
        self.0.get(data_source).copied()
    }

    /// An explicit state in the read wins; otherwise the newest hint; otherwise enabled.
    pub fn is_disabled(&self, data_source: &Id, explicit: Option<bool>) -> bool {
        explicit
            .or_else(|| self.get(data_source).map(|h| h.disabled))
            .unwrap_or(false)
    }
}

/// The disabled hint a notification carries: `fields.disabled` of a `dataSourceUpdated`, timed by
/// when the receiver accepted it. A delivery resent from Immuta's history is accepted anew, so it
/// counts as new.
pub fn disabled_hint(
    notification: &Notification,
    received_at_ms: u64,
) -> Option<(Id, DisabledHint)> {
    if notification.notification_type != NotificationType::DataSourceUpdated {
        return None;
    }
    let disabled = notification.hints.disabled?;
    let data_source = notification.data_source_id.clone()?;
    Some((
        data_source,
        DisabledHint {
            disabled,
            received_at_ms: i64::try_from(received_at_ms).unwrap_or(i64::MAX),
        },
    ))
}

/// What a data source's read means for its views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVerdict {
    /// Unknown to Immuta, deleted or disabled: every view of it must go.
    Gone,
    /// A handler type this deployment does not serve: nothing to do.
    NotServed,
    /// Its views are those of the equalized projects holding it.
    Live,
}

pub fn judge_source(
    source: Option<&DataSource>,
    hints: &DisabledHints,
    handlers: &HandlerFilter,
) -> SourceVerdict {
    match source {
        None => SourceVerdict::Gone,
        Some(s) if s.deleted || hints.is_disabled(&s.id, s.explicit_disabled) => {
            SourceVerdict::Gone
        }
        Some(s) if !handlers.serves(s.blob_handler_type.as_deref()) => SourceVerdict::NotServed,
        Some(_) => SourceVerdict::Live,
    }
}

/// A view Immuta wants, with the names it is named after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedView {
    pub view: ViewKey,
    pub project_name: String,
    pub data_source_name: String,
}

/// The views of a live data source: one per live, equalized project of the search (restricted to
/// `only_project` for a membership).
pub fn views_of_source(
    source: &DataSource,
    projects: &[Project],
    only_project: Option<&Id>,
) -> Vec<WantedView> {
    projects
        .iter()
        .filter(|p| hit_is_live_and_equalized(p) && only_project.is_none_or(|id| &p.id == id))
        .map(|p| WantedView {
            view: ViewKey {
                project_id: p.id.clone(),
                data_source_id: source.id.clone(),
            },
            project_name: p.name.clone(),
            data_source_name: source.name.clone(),
        })
        .collect()
}

/// Open and not deleted: whether its equalization is worth asking about.
pub fn project_is_live(project: Option<&Project>) -> bool {
    project.is_some_and(|p| !p.deleted && !is_closed(p.status.as_deref()))
}

/// The views of a live, equalized project: one per member that [`judge_source`] finds live.
pub fn views_of_project(
    project: &Project,
    members: &[DataSource],
    hints: &DisabledHints,
    handlers: &HandlerFilter,
) -> Vec<WantedView> {
    members
        .iter()
        .filter(|m| judge_source(Some(m), hints, handlers) == SourceVerdict::Live)
        .map(|m| WantedView {
            view: ViewKey {
                project_id: project.id.clone(),
                data_source_id: m.id.clone(),
            },
            project_name: project.name.clone(),
            data_source_name: m.name.clone(),
        })
        .collect()
}

/// A search hit that can want views: live ([`project_is_live`]) and not said to be unequalized.
/// The search asked for equalized projects only, so a hit that does not say is taken as
/// equalized.
pub fn hit_is_live_and_equalized(hit: &Project) -> bool {
    project_is_live(Some(hit)) && hit.is_equalized != Some(false)
}

fn is_closed(status: Option<&str>) -> bool {
    status.is_some_and(|s| s.eq_ignore_ascii_case("closed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: &str) -> Id {
        Id::new(n).unwrap()
    }

    fn source(deleted: bool, explicit_disabled: Option<bool>, handler: &str) -> DataSource {
        DataSource {
            id: id("7"),
            name: "Orders".into(),
            blob_handler_type: Some(handler.into()),
            deleted,
            explicit_disabled,
        }
    }

    fn hint(disabled: bool, at: i64) -> DisabledHint {
        DisabledHint {
            disabled,
            received_at_ms: at,
        }
    }

    #[test]
    fn a_source_is_judged_by_existence_deletion_disabled_state_and_handler() {
        let no_hints = DisabledHints::default();
        let disabled_hint = DisabledHints::new([(id("7"), hint(true, 10))]);
        let enabled_hint = DisabledHints::new([(id("7"), hint(false, 10))]);
        let pg = HandlerFilter::only(vec!["PostgreSQL".into()]);
        let all = HandlerFilter::all();
        use SourceVerdict::*;
        // (source, hints, handlers, verdict)
        let table: Vec<(
            Option<DataSource>,
            &DisabledHints,
            &HandlerFilter,
            SourceVerdict,
        )> = vec![
            (None, &no_hints, &all, Gone),
            (
                Some(source(true, None, "PostgreSQL")),
                &no_hints,
                &all,
                Gone,
            ),
            (
                Some(source(false, None, "PostgreSQL")),
                &no_hints,
                &all,
                Live,
            ),
            (
                Some(source(false, Some(true), "PostgreSQL")),
                &no_hints,
                &all,
                Gone,
            ),
            // The read is silent: the hint decides.
            (
                Some(source(false, None, "PostgreSQL")),
                &disabled_hint,
                &all,
                Gone,
            ),
            (
                Some(source(false, None, "PostgreSQL")),
                &enabled_hint,
                &all,
                Live,
            ),
            // An explicit state in the read wins over any hint.
            (
                Some(source(false, Some(false), "PostgreSQL")),
                &disabled_hint,
                &all,
                Live,
            ),
            (
                Some(source(false, Some(true), "PostgreSQL")),
                &enabled_hint,
                &all,
                Gone,
            ),
            (
                Some(source(false, None, "Snowflake")),
                &no_hints,
                &pg,
                NotServed,
            ),
            (
                Some(source(false, None, "postgresql")),
                &no_hints,
                &pg,
                Live,
            ),
            // Gone wins over not served: no view of it may stay.
            (Some(source(true, None, "Snowflake")), &no_hints, &pg, Gone),
        ];
        for (row, (source, hints, handlers, verdict)) in table.into_iter().enumerate() {
            assert_eq!(
                judge_source(source.as_ref(), hints, handlers),
                verdict,
                "row {row}"
            );
        }
    }

    #[test]
    fn the_newest_hint_wins_whatever_the_order_it_came_in() {
        let hints = DisabledHints::new([
            (id("1"), hint(false, 300)),
            (id("1"), hint(true, 200)),
            (id("2"), hint(true, 100)),
            (id("2"), hint(false, 50)),
        ]);
        assert_eq!(hints.get(&id("1")), Some(hint(false, 300)));
        assert!(!hints.is_disabled(&id("1"), None));
        assert!(hints.is_disabled(&id("2"), None));
        assert!(!hints.is_disabled(&id("3"), None));
        let tie = DisabledHints::new([(id("4"), hint(false, 9)), (id("4"), hint(true, 9))]);
        assert!(tie.is_disabled(&id("4"), None));
    }

    fn hit(n: &str, status: &str, deleted: bool, equalized: Option<bool>) -> Project {
        Project {
            id: id(n),
            name: format!("Project {n}"),
            status: Some(status.into()),
            deleted,
            is_equalized: equalized,
        }
    }

    #[test]
    fn a_source_is_wanted_in_live_equalized_projects_of_the_search() {
        let hits = [
            hit("1", "open", false, Some(true)),
            hit("2", "closed", false, Some(true)),
            hit("3", "open", true, Some(true)),
            hit("4", "open", false, Some(false)),
            hit("5", "open", false, None),
        ];
        let wanted = |only: Option<&Id>| -> Vec<String> {
            views_of_source(&source(false, None, "PostgreSQL"), &hits, only)
                .into_iter()
                .map(|w| format!("{}/{}", w.view.project_id, w.view.data_source_id))
                .collect()
        };
        assert_eq!(wanted(None), ["1/7", "5/7"]);
        assert_eq!(wanted(Some(&id("5"))), ["5/7"]);
        assert!(wanted(Some(&id("2"))).is_empty());
        let named = views_of_source(&source(false, None, "PostgreSQL"), &hits[..1], None);
        assert_eq!(
            (
                named[0].project_name.as_str(),
                named[0].data_source_name.as_str()
            ),
            ("Project 1", "Orders")
        );
    }

    fn project(status: &str, deleted: bool) -> Project {
        Project {
            id: id("5"),
            name: "Sales".into(),
            status: Some(status.into()),
            deleted,
            is_equalized: None,
        }
    }

    #[test]
    fn a_project_is_live_unless_missing_deleted_or_closed() {
        let table = [
            (None, false),
            (Some(project("open", false)), true),
            (Some(project("OPEN", false)), true),
            (Some(project("closed", false)), false),
            (Some(project("Closed", false)), false),
            (Some(project("open", true)), false),
        ];
        for (row, (p, live)) in table.into_iter().enumerate() {
            assert_eq!(project_is_live(p.as_ref()), live, "row {row}");
        }
    }

    #[test]
    fn a_project_wants_its_available_served_members() {
        let member = |n: &str, handler: &str, deleted: bool, explicit: Option<bool>| DataSource {
            id: id(n),
            name: format!("Source {n}"),
            blob_handler_type: Some(handler.into()),
            deleted,
            explicit_disabled: explicit,
        };
        let members = [
            member("1", "PostgreSQL", false, None),
            member("2", "PostgreSQL", true, None),
            member("3", "Snowflake", false, None),
            member("4", "PostgreSQL", false, Some(true)),
            member("5", "PostgreSQL", false, None),
            member("6", "PostgreSQL", false, Some(false)),
        ];
        let hints = DisabledHints::new([(id("5"), hint(true, 1)), (id("6"), hint(true, 1))]);
        let wanted = |handlers: &HandlerFilter| -> Vec<String> {
            views_of_project(&project("open", false), &members, &hints, handlers)
                .into_iter()
                .map(|w| w.view.data_source_id.to_string())
                .collect()
        };
        assert_eq!(wanted(&HandlerFilter::all()), ["1", "3", "6"]);
        assert_eq!(
            wanted(&HandlerFilter::only(vec!["PostgreSQL".into()])),
            ["1", "6"]
        );
    }

    #[test]
    fn only_a_data_source_update_carries_a_disabled_hint() {
        let parse = |body: &str| Notification::parse_json(body).unwrap();
        let updated = parse(
            r#"{"notificationType":"dataSourceUpdated","modelType":"datasource","modelId":3,"fields":{"disabled":true}}"#,
        );
        assert_eq!(disabled_hint(&updated, 42), Some((id("3"), hint(true, 42))));
        let renamed = parse(
            r#"{"notificationType":"dataSourceUpdated","modelType":"datasource","modelId":3,"fields":{"name":"x"}}"#,
        );
        assert_eq!(disabled_hint(&renamed, 42), None);
        let other = parse(
            r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":3,"fields":{"disabled":true}}"#,
        );
        assert_eq!(disabled_hint(&other, 42), None);
    }

    #[test]
    fn handler_types_filter_case_insensitively() {
        let filter = HandlerFilter::only(vec!["PostgreSQL".into(), "Apache Impala".into()]);
        assert!(filter.serves(Some("postgresql")) && filter.serves(Some("Apache Impala")));
        assert!(!filter.serves(Some("Snowflake")) && !filter.serves(None));
        assert!(HandlerFilter::all().serves(None));
    }
}
