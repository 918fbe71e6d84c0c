//! The tenant's state: data sources, projects and their policies, and what Immuta would answer.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectState {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub equalized: bool,
    #[serde(default)]
    pub closed: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub members: BTreeSet<u64>,
    #[serde(default = "one")]
    pub policy_version: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub data_sources: BTreeMap<u64, DataSourceState>,
    pub projects: BTreeMap<u64, ProjectState>,
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

impl Tenant {
    pub fn add_data_source(&mut self, id: u64, name: &str, handler: &str) -> &mut Self {
        self.data_sources.insert(
            id,
            DataSourceState {
                id,
                name: name.into(),
                handler: handler.into(),
                disabled: false,
                deleted: false,
                policy_version: 1,
            },
        );
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
                closed: false,
                deleted: false,
                members: members.iter().copied().collect(),
                policy_version: 1,
            },
        );
        self
    }

    /// The SQL of the view of `data_source` in `project`: it names both policy versions, so a
    /// policy change really changes the view. Plain SQL that SQLite, PostgreSQL and MariaDB accept.
    pub fn view_sql(&self, project: u64, data_source: u64) -> Option<String> {
        let p = self.projects.get(&project).filter(|p| !p.deleted)?;
        let d = self.data_sources.get(&data_source).filter(|d| !d.deleted)?;
        Some(format!(
            "SELECT '{}' AS data_source_id, '{}' AS data_source_name, '{}' AS project_id, '{}' AS project_name, '{}' AS policy",
            d.id,
            quote(&d.name),
            p.id,
            quote(&p.name),
            policy(d, p)
        ))
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

    pub fn data_source_json(&self, id: u64) -> Option<Value> {
        let d = self.data_sources.get(&id)?;
        Some(json!({
            "id": d.id,
            "name": d.name,
            "blobHandlerType": d.handler,
            "deleted": d.deleted,
            "status": if d.disabled { "disabled" } else { "enabled" },
            "type": "queryable",
            "sqlSchemaName": "public",
            "sqlTableName": d.name.to_lowercase().replace(' ', "_"),
            "connectionString": "read_only@db.example.com:5432/data",
            "createdAt": "2021-01-11T09:30:12.843Z",
        }))
    }

    pub fn project_json(&self, p: &ProjectState) -> Value {
        json!({
            "id": p.id,
            "name": p.name,
            "status": if p.closed { "closed" } else { "open" },
            "deleted": p.deleted,
            "isEqualized": p.equalized,
            "subscriptionType": "manual",
            "description": format!("Simulated project {}", p.name),
        })
    }

    /// Project search hits: equalized projects holding `data_source` (with `isEqualized=true`).
    pub fn search_projects(&self, equalized_only: bool, data_source: Option<u64>) -> Vec<Value> {
        self.projects
            .values()
            .filter(|p| !p.deleted && (!equalized_only || p.equalized))
            .filter(|p| data_source.is_none_or(|d| p.members.contains(&d)))
            .map(|p| self.project_json(p))
            .collect()
    }

    pub fn project_data_sources(&self, project: u64) -> Option<Vec<Value>> {
        let p = self.projects.get(&project)?;
        Some(
            p.members
                .iter()
                .filter_map(|id| self.data_sources.get(id))
                .map(|d| {
                    json!({
                        "dataSourceId": d.id,
                        "dataSourceName": d.name,
                        "blobHandlerType": d.handler,
                        "deleted": d.deleted,
                        "disabled": d.disabled,
                        "policyHandlerType": "Builder",
                        "subscriptionType": "manual",
                        "connectionString": "read_only@db.example.com:5432/data",
                        "addedOn": "2021-01-15T11:10:23.349Z",
                    })
                })
                .collect(),
        )
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

fn quote(text: &str) -> String {
    text.replace('\'', "''")
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
}
