//! Immuta's answers read into the plain models of `view_sync_core::reads`, with the tolerant
//! reader of [`crate::answer`]. What each reads, and why, follows `IMMUTA_API.md`.

use serde_json::Value;
use view_sync_core::reads::{DataSource, EqualizationState, Project};

use crate::answer::{Fields, ShapeError};
use crate::endpoint::Endpoint;

pub use view_sync_core::reads;

/// `GET /dataSource/{id}`. Immuta documents no disabled state here; a `disabled` field or a
/// `status` of `disabled` is honoured if a release carries one. `status` is otherwise a health
/// state (`passed`, `failed`), which says nothing about views and is not read further.
pub fn data_source(answer: &Value) -> Result<DataSource, ShapeError> {
    let f = Fields::of(Endpoint::DataSource, answer)?;
    let status_disabled = f
        .raw("status")
        .and_then(Value::as_str)
        .filter(|s| s.eq_ignore_ascii_case("disabled"))
        .map(|_| true);
    Ok(DataSource {
        id: f.id("id")?,
        name: f.text("name")?,
        blob_handler_type: f.optional_text("blobHandlerType")?,
        deleted: f.flag("deleted")?.unwrap_or(false),
        explicit_disabled: f.flag("disabled")?.or(status_disabled),
    })
}

/// `GET /project/{id}`. `equalization` (an object or null) is deliberately not read: whether a
/// non-null object means "equalized now" is not documented; `checkEqualizationState` says.
pub fn project(answer: &Value) -> Result<Project, ShapeError> {
    let f = Fields::of(Endpoint::Project, answer)?;
    Ok(Project {
        id: f.id("id")?,
        name: f.text("name")?,
        status: f.optional_text("status")?,
        deleted: f.flag("deleted")?.unwrap_or(false),
        is_equalized: f.flag("isEqualized")?,
    })
}

/// `GET /project/{id}/checkEqualizationState`. An unknown state is an error rather than a guess:
/// guessing "not equalized" would drop views.
pub fn equalization_state(answer: &Value) -> Result<EqualizationState, ShapeError> {
    let f = Fields::of(Endpoint::EqualizationState, answer)?;
    let state = f.text("equalizationState")?;
    EqualizationState::parse(&state).ok_or_else(|| ShapeError {
        endpoint: Endpoint::EqualizationState,
        field: "equalizationState".into(),
        problem: format!(
            "is {state:?}, not one of the documented states (off, recommended, active, upgrade, \
             nonCompliantMembers)"
        ),
    })
}

/// A hit of the project search.
pub(crate) fn project_hit(f: Fields<'_>) -> Result<Project, ShapeError> {
    Ok(Project {
        id: f.id("id")?,
        name: f.text("name")?,
        status: f.optional_text("status")?,
        deleted: f.flag("deleted")?.unwrap_or(false),
        is_equalized: f.flag("isEqualized")?,
    })
}

/// A row of `GET /project/{id}/dataSources`.
pub(crate) fn project_member(f: Fields<'_>) -> Result<DataSource, ShapeError> {
    Ok(DataSource {
        id: f.id("dataSourceId")?,
        name: f.text("dataSourceName")?,
        blob_handler_type: f.optional_text("blobHandlerType")?,
        deleted: f.flag("deleted")?.unwrap_or(false),
        explicit_disabled: f.flag("disabled")?,
    })
}

/// One page of a list: `{count?, <member>: [...]}`. The list itself is required: an answer
/// without it is not an empty page, and an empty page would drop views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub count: Option<u64>,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    pub(crate) fn read(
        endpoint: Endpoint,
        member: &str,
        answer: &Value,
        read_item: impl Fn(Fields<'_>) -> Result<T, ShapeError>,
    ) -> Result<Self, ShapeError> {
        let f = Fields::of(endpoint, answer)?;
        Ok(Self {
            count: f.count("count")?,
            items: f.list(member, read_item)?,
        })
    }
}

/// A page of the project search.
pub fn project_search_page(answer: &Value) -> Result<Page<Project>, ShapeError> {
    Page::read(Endpoint::ProjectSearch, "hits", answer, project_hit)
}

/// A page of a project's data sources.
pub fn project_members_page(answer: &Value) -> Result<Page<DataSource>, ShapeError> {
    Page::read(
        Endpoint::ProjectDataSources,
        "dataSources",
        answer,
        project_member,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_project_with_an_equalization_object_reads() {
        // The shape that broke every project reconcile: `equalization` is an object.
        let p = project(&json!({
            "id": 5, "name": "Sales", "status": "open", "deleted": false,
            "equalization": {"recommended": true, "authsForPolicyHandler": {}, "setNone": false}
        }))
        .unwrap();
        assert_eq!((p.id.as_str(), p.is_equalized), ("5", None));
        let p = project(&json!({"id": "5", "name": "Sales", "equalization": null})).unwrap();
        assert_eq!(p.status, None);
    }

    #[test]
    fn unused_fields_of_any_type_are_ignored_and_used_ones_are_checked() {
        let ds = data_source(&json!({
            "id": 3, "name": "Customer", "blobHandlerType": "PostgreSQL",
            "status": {"health": "weird"}, "tags": "not a list", "policyHandler": 7
        }))
        .unwrap();
        assert_eq!(ds.explicit_disabled, None);
        let err =
            data_source(&json!({"id": 3, "name": "Customer", "deleted": {"x": 1}})).unwrap_err();
        assert_eq!(
            (err.endpoint, err.field.as_str()),
            (Endpoint::DataSource, "deleted")
        );
        let err = data_source(&json!({"id": 3})).unwrap_err();
        assert_eq!(err.field, "name");
    }

    #[test]
    fn an_explicit_disabled_state_is_honoured_when_present() {
        let read = |extra: Value| {
            let mut answer = json!({"id": 1, "name": "a"});
            answer
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            data_source(&answer).unwrap().explicit_disabled
        };
        assert_eq!(read(json!({"status": "passed"})), None);
        assert_eq!(read(json!({"status": "Disabled"})), Some(true));
        assert_eq!(read(json!({"disabled": false})), Some(false));
        assert_eq!(read(json!({"disabled": "true"})), Some(true));
    }

    #[test]
    fn equalization_states_are_read_and_unknown_ones_refused() {
        let state = |s: &str| equalization_state(&json!({"equalizationState": s}));
        assert!(state("active").unwrap().is_equalized());
        assert!(!state("recommended").unwrap().is_equalized());
        assert!(state("nonCompliantMembers").unwrap().is_equalized());
        assert!(state("maybe").unwrap_err().problem.contains("\"maybe\""));
    }

    #[test]
    fn a_page_needs_its_list() {
        let err = project_search_page(&json!({"count": 3})).unwrap_err();
        assert_eq!(err.field, "hits");
        let page =
            project_search_page(&json!({"count": "1", "hits": [{"id": 1, "name": "x"}]})).unwrap();
        assert_eq!(page.count, Some(1));
        let err = project_members_page(&json!({"dataSources": [{"dataSourceId": 1}]})).unwrap_err();
        assert_eq!(err.field, "dataSources[0].dataSourceName");
    }
}
