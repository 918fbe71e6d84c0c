//! What we read from Immuta. Lenient by design: every field we do not strictly need is optional,
//! unknown fields are ignored, ids may be numbers or strings.

use serde::{Deserialize, Deserializer};
use view_sync_core::Id;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub id: Id,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub blob_handler_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub disabled: bool,
}

impl DataSource {
    /// Deleted or disabled: its views must go. (Immuta documents no `disabled` field; the
    /// notification carries `fields.disabled`, so we honour either form in the response.)
    pub fn is_unavailable(&self) -> bool {
        self.deleted
            || self.disabled
            || self
                .status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("disabled"))
    }
}

/// A hit of the project search (`GET /project?isEqualized=true&dataSourceId=…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    pub id: Id,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    #[serde(default)]
    pub is_equalized: Option<bool>,
}

impl ProjectSummary {
    /// Open, not deleted, and (when the hit says) equalized.
    pub fn is_live_and_equalized(&self) -> bool {
        !self.deleted && !is_closed(self.status.as_deref()) && self.is_equalized != Some(false)
    }
}

/// `GET /project/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: Id,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    #[serde(default)]
    pub is_equalized: Option<bool>,
    #[serde(default)]
    pub equalization: Option<bool>,
}

impl Project {
    pub fn is_live(&self) -> bool {
        !self.deleted && !is_closed(self.status.as_deref())
    }

    /// `isEqualized`, else `equalization`; `None` when the answer names neither (then ask
    /// `checkEqualizationState`).
    pub fn equalized(&self) -> Option<bool> {
        self.is_equalized.or(self.equalization)
    }
}

/// A row of `GET /project/{id}/dataSources`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDataSource {
    pub data_source_id: Id,
    #[serde(default)]
    pub data_source_name: String,
    #[serde(default)]
    pub blob_handler_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub disabled: bool,
}

/// `GET /project/{id}/checkEqualizationState`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EqualizationState {
    pub equalization_state: String,
}

impl EqualizationState {
    /// `active`, `upgrade` and `nonCompliantMembers` are states of an equalized project; `off`
    /// and `recommended` are not.
    pub fn is_equalized(&self) -> bool {
        ["active", "upgrade", "nonCompliantMembers"]
            .iter()
            .any(|s| self.equalization_state.eq_ignore_ascii_case(s))
    }
}

/// One page of a list endpoint: `{count, <items>}`. `count` may be a number or a string, or absent.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default, deserialize_with = "lenient_count")]
    pub count: Option<u64>,
    #[serde(default = "Vec::new", alias = "hits", alias = "dataSources")]
    pub items: Vec<T>,
}

fn is_closed(status: Option<&str>) -> bool {
    status.is_some_and(|s| s.eq_ignore_ascii_case("closed"))
}

fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s.eq_ignore_ascii_case("true"),
        serde_json::Value::Number(n) => n.as_u64().is_some_and(|n| n != 0),
        _ => false,
    })
}

fn lenient_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_003_project_search_parses() {
        let page: Page<ProjectSummary> = serde_json::from_str(include_str!(
            "../../../events/immuta-api/project-search.json"
        ))
        .unwrap();
        assert_eq!(page.count, None, "the seed's example has no count");
        let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["9", "3"]);
        assert!(page.items.iter().all(ProjectSummary::is_live_and_equalized));
        assert_eq!(page.items[0].name, "Regulated Clients");
    }

    #[test]
    fn seed_003_project_data_sources_parse() {
        let page: Page<ProjectDataSource> = serde_json::from_str(include_str!(
            "../../../events/immuta-api/project-datasources.json"
        ))
        .unwrap();
        assert_eq!(page.count, Some(2));
        assert_eq!(page.items[1].data_source_id.as_str(), "19");
        assert_eq!(
            page.items[1].blob_handler_type.as_deref(),
            Some("Apache Impala")
        );
    }

    #[test]
    fn data_source_availability() {
        let parse = |json: &str| serde_json::from_str::<DataSource>(json).unwrap();
        assert!(
            !parse(r#"{"id":1,"name":"a","blobHandlerType":"PostgreSQL","extra":{"x":1}}"#)
                .is_unavailable()
        );
        assert!(parse(r#"{"id":"1","deleted":true}"#).is_unavailable());
        assert!(parse(r#"{"id":1,"disabled":"true"}"#).is_unavailable());
        assert!(parse(r#"{"id":1,"status":"Disabled"}"#).is_unavailable());
    }

    #[test]
    fn equalization_states() {
        let state = |s: &str| {
            EqualizationState {
                equalization_state: s.into(),
            }
            .is_equalized()
        };
        assert!(state("active") && state("nonCompliantMembers") && state("upgrade"));
        assert!(!state("off") && !state("recommended"));
    }
}
