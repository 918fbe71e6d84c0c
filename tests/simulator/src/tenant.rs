//! The tenant's state: data sources, projects and their policies, and the views they call for.
//! What Immuta answers about them is in [`crate::answers`]; their view SQL in [`crate::view_sql`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::view_sql::{self, Masking, SqlDialect};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceState {
    pub id: u64,
    pub name: String,
    pub handler: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default = "one")]
    pub policy_version: u32,
    /// The data policy on the `email` column.
    #[serde(default)]
    pub masking: Masking,
    /// The base table in the target database (fixed when the source is added; renaming the data
    /// source in Immuta does not move its table).
    #[serde(default)]
    pub table: String,
    /// What the view SQL endpoint answers for this source's views instead of the policy engine's
    /// SQL, `{sql}` standing for that SQL: a misconfigured endpoint, a proxy in the middle or a
    /// bug upstream (e.g. `{sql}; DROP TABLE customers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_sql_override: Option<String>,
    /// The API key may not read it (not its owner, no GOVERNANCE, no subscription): `GET
    /// /dataSource/{id}` answers 404, as for a deleted source, while its projects still list it.
    #[serde(default)]
    pub unreadable_by_key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectState {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub equalized: bool,
    /// Whether equalization was ever switched on: Immuta's `equalization` object then stays in
    /// the project's answer, even after equalization is switched off.
    #[serde(default)]
    pub equalization_configured: bool,
    #[serde(default)]
    pub closed: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub members: BTreeSet<u64>,
    #[serde(default = "one")]
    pub policy_version: u32,
    /// The project's row filter: only rows of this region are visible (a purpose restriction).
    #[serde(default)]
    pub region: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub data_sources: BTreeMap<u64, DataSourceState>,
    pub projects: BTreeMap<u64, ProjectState>,
    /// The dialect the view SQL is written in: the target database's.
    #[serde(default)]
    pub sql_dialect: SqlDialect,
    /// The schema (PostgreSQL) or database (MariaDB) of the base tables; `None`: the default.
    #[serde(default)]
    pub table_schema: Option<String>,
    /// Whether data source answers carry an explicit `disabled` field. Immuta documents none, so
    /// this is off unless a test asks for a release that has one.
    #[serde(default)]
    pub disabled_in_answers: bool,
}

/// A view that must exist according to the tenant's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedView {
    pub project_id: u64,
    pub project_name: String,
    pub data_source_id: u64,
    pub data_source_name: String,
    /// The `policy` column of the view: `ds<data source policy version>-p<project policy version>`.
    pub policy: String,
    pub sql: String,
}

impl DataSourceState {
    /// The base table's name: the one fixed at creation, or one derived from the name.
    pub fn table_name(&self) -> String {
        if !self.table.is_empty() {
            return self.table.clone();
        }
        let derived: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        // A table name every database takes (MariaDB's limit is 64 characters).
        let derived: String = derived.chars().take(40).collect();
        let derived = derived.trim_matches('_');
        if derived.is_empty() {
            format!("source_{}", self.id)
        } else {
            derived.to_owned()
        }
    }
}

impl Tenant {
    pub fn add_data_source(&mut self, id: u64, name: &str, handler: &str) -> &mut Self {
        let mut source = DataSourceState {
            id,
            name: name.into(),
            handler: handler.into(),
            disabled: false,
            deleted: false,
            policy_version: 1,
            masking: Masking::default(),
            table: String::new(),
            view_sql_override: None,
            unreadable_by_key: false,
        };
        let mut table = source.table_name();
        if self.data_sources.values().any(|d| d.table_name() == table) {
            table = format!("{table}_{id}");
        }
        source.table = table;
        self.data_sources.insert(id, source);
        self
    }

    pub fn add_project(
        &mut self,
        id: u64,
        name: &str,
        equalized: bool,
        members: &[u64],
    ) -> &mut Self {
        self.projects.insert(
            id,
            ProjectState {
                id,
                name: name.into(),
                equalized,
                equalization_configured: equalized,
                closed: false,
                deleted: false,
                members: members.iter().copied().collect(),
                policy_version: 1,
                region: None,
            },
        );
        self
    }

    /// The SQL of the view of `data_source` in `project`, as a policy engine would write it for
    /// the target database: the source's masking and the project's row filter, plus columns that
    /// name the view and both policy versions, so tests can tell which policies a view carries.
    pub fn view_sql(&self, project: u64, data_source: u64) -> Option<String> {
        let p = self.projects.get(&project).filter(|p| !p.deleted)?;
        // A key that may not read the source gets none of its SQL either.
        let d = self
            .data_sources
            .get(&data_source)
            .filter(|d| !d.deleted && !d.unreadable_by_key)?;
        let table = d.table_name();
        let policy = policy(d, p);
        let view = view_sql::ViewOf {
            data_source_id: d.id,
            data_source_name: &d.name,
            table: &table,
            masking: d.masking,
            project_id: p.id,
            project_name: &p.name,
            region: p.region.as_deref(),
            policy: &policy,
        };
        let sql = view_sql::view_sql(self.sql_dialect, self.table_schema.as_deref(), view);
        Some(match &d.view_sql_override {
            Some(answer) => answer.replace("{sql}", &sql),
            None => sql,
        })
    }

    /// The statements that create every data source's base table with its rows in the target
    /// database (idempotent: a table that exists gets its rows back).
    pub fn base_tables(&self) -> Vec<String> {
        self.data_sources
            .values()
            .flat_map(|d| {
                view_sql::base_table(
                    self.sql_dialect,
                    self.table_schema.as_deref(),
                    &d.table_name(),
                )
            })
            .collect()
    }

    /// Every view that must exist: open, undeleted, equalized projects × their available sources
    /// whose handler is in `handlers` (all when `None`).
    pub fn expected_views(&self, handlers: Option<&[&str]>) -> Vec<ExpectedView> {
        let mut views = Vec::new();
        for p in self
            .projects
            .values()
            .filter(|p| p.equalized && !p.closed && !p.deleted)
        {
            for d in p.members.iter().filter_map(|id| self.data_sources.get(id)) {
                if d.disabled
                    || d.deleted
                    || handlers.is_some_and(|h| !h.contains(&d.handler.as_str()))
                {
                    continue;
                }
                views.push(ExpectedView {
                    project_id: p.id,
                    project_name: p.name.clone(),
                    data_source_id: d.id,
                    data_source_name: d.name.clone(),
                    policy: policy(d, p),
                    sql: self.view_sql(p.id, d.id).unwrap_or_default(),
                });
            }
        }
        views
    }

    /// A small tenant for the demo and tests: three PostgreSQL sources, one Snowflake source,
    /// a project not yet equalized and an equalized one holding one source.
    pub fn demo() -> Self {
        let mut t = Tenant::default();
        t.add_data_source(1, "Case", "PostgreSQL")
            .add_data_source(2, "Customer", "PostgreSQL")
            .add_data_source(3, "Date Dim", "PostgreSQL")
            .add_data_source(4, "Web Events", "Snowflake")
            .add_project(10, "Demo Project", false, &[])
            .add_project(20, "Regulated Clients", true, &[3]);
        t
    }
}

fn policy(d: &DataSourceState, p: &ProjectState) -> String {
    format!("ds{}-p{}", d.policy_version, p.policy_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_views_follow_equalization_membership_and_availability() {
        let mut t = Tenant::default();
        t.add_data_source(1, "Case", "PostgreSQL")
            .add_data_source(2, "O'Brien", "Snowflake")
            .add_project(9, "P", true, &[1, 2]);
        assert_eq!(t.expected_views(None).len(), 2);
        assert_eq!(t.expected_views(Some(&["PostgreSQL"])).len(), 1);
        t.data_sources.get_mut(&1).unwrap().disabled = true;
        assert_eq!(t.expected_views(None).len(), 1);
        assert!(t.view_sql(9, 2).unwrap().contains("'O''Brien'"));
        t.projects.get_mut(&9).unwrap().equalized = false;
        assert!(t.expected_views(None).is_empty());
    }

    #[test]
    fn base_tables_keep_their_name_and_never_share_one() {
        let mut t = Tenant::default();
        t.add_data_source(1, "Web Events", "PostgreSQL")
            .add_data_source(2, "web-events", "PostgreSQL")
            .add_data_source(3, "注文", "PostgreSQL");
        let tables: Vec<String> = t.data_sources.values().map(|d| d.table_name()).collect();
        assert_eq!(tables, ["web_events", "web_events_2", "source_3"]);
        t.data_sources.get_mut(&1).unwrap().name = "Renamed".into();
        assert_eq!(t.data_sources[&1].table_name(), "web_events");
    }
}
