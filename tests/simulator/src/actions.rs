//! State changes made through the control API, and the notification Immuta sends for each.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::tenant::{DataSourceState, ProjectState, Tenant};
use crate::view_sql::{Masking, next_region};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Action {
    SetDisabled {
        data_source_id: u64,
        disabled: bool,
    },
    RenameDataSource {
        data_source_id: u64,
        name: String,
    },
    DeleteDataSource {
        data_source_id: u64,
    },
    /// A data policy of the source changes: its masking moves to the next in the cycle.
    BumpDataSourcePolicy {
        data_source_id: u64,
    },
    /// A policy of the project changes: its row filter moves to the next region in the cycle.
    BumpProjectPolicy {
        project_id: u64,
    },
    /// The masking policy on the source's `email` column becomes `masking`.
    SetMasking {
        data_source_id: u64,
        masking: Masking,
    },
    /// The project's row filter becomes `region` (`None`: every row).
    SetRowFilter {
        project_id: u64,
        region: Option<String>,
    },
    /// The view SQL endpoint starts answering `answer` for the source's views (`{sql}` stands
    /// for the policy engine's SQL), or, with `None`, the policy engine's SQL again. Immuta sends
    /// a data policy change, so that the views are read anew.
    ServeViewSql {
        data_source_id: u64,
        answer: Option<String>,
    },
    AddToProject {
        project_id: u64,
        data_source_id: u64,
    },
    RemoveFromProject {
        project_id: u64,
        data_source_id: u64,
    },
    SetEqualized {
        project_id: u64,
        equalized: bool,
    },
    CloseProject {
        project_id: u64,
    },
    DeleteProject {
        project_id: u64,
    },
    MarketplaceDataSourcesUpdated {
        data_product_id: String,
    },
    /// Changes nothing: sends the notification of `notification_type` that Immuta would send for
    /// a change made silently through [`crate::Simulator::tenant`]. For the types whose payloads
    /// Immuta does not document: the flat shape of those it does, naming the project (as its
    /// model, with `dataSourceId` beside it) or else the data source given, or neither.
    Announce {
        notification_type: String,
        #[serde(default)]
        data_source_id: Option<u64>,
        #[serde(default)]
        project_id: Option<u64>,
    },
    /// Changes nothing: sends a body of no shape a notification has, `{text, attachments}` as
    /// a 2020.4 documentation page begins one, signed like any other.
    SendUnclassifiable {
        text: String,
    },
}

/// An action named a data source or project the tenant does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownObject(pub String);

impl std::fmt::Display for UnknownObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no such {}", self.0)
    }
}

fn actor() -> Value {
    json!({"actionBy": 1, "targetUser": 1, "targetGroup": null, "actionByName": "Simulated Admin", "targetUserName": "Simulated Admin"})
}

fn with_actor(mut body: Value) -> Value {
    if let (Value::Object(map), Value::Object(actor)) = (&mut body, actor()) {
        map.extend(actor);
    }
    body
}

impl Action {
    /// Applies the change and returns the webhook body (flat v1, or Marketplace) Immuta would send.
    pub fn apply(&self, tenant: &mut Tenant) -> Result<Value, UnknownObject> {
        let body = match self {
            Action::SetDisabled {
                data_source_id,
                disabled,
            } => {
                let d = source(tenant, *data_source_id)?;
                d.disabled = *disabled;
                json!({"dataSourceName": d.name, "fields": {"disabled": disabled, "handler": d.handler},
                       "notificationType": "dataSourceUpdated", "modelType": "datasource", "modelId": d.id})
            }
            Action::RenameDataSource {
                data_source_id,
                name,
            } => {
                let d = source(tenant, *data_source_id)?;
                d.name = name.clone();
                json!({"dataSourceName": d.name, "fields": {"name": name, "handler": d.handler},
                       "notificationType": "dataSourceUpdated", "modelType": "datasource", "modelId": d.id})
            }
            Action::DeleteDataSource { data_source_id } => {
                let d = source(tenant, *data_source_id)?;
                d.deleted = true;
                json!({"dataSourceName": d.name, "notificationType": "modelDeleted", "modelType": "datasource", "modelId": d.id})
            }
            Action::BumpDataSourcePolicy { data_source_id } => {
                let d = source(tenant, *data_source_id)?;
                d.masking = d.masking.next();
                data_policy_changed(d)
            }
            Action::SetMasking {
                data_source_id,
                masking,
            } => {
                let d = source(tenant, *data_source_id)?;
                d.masking = *masking;
                data_policy_changed(d)
            }
            Action::ServeViewSql {
                data_source_id,
                answer,
            } => {
                let d = source(tenant, *data_source_id)?;
                d.view_sql_override = answer.clone();
                data_policy_changed(d)
            }
            Action::BumpProjectPolicy { project_id } => {
                let p = project(tenant, *project_id)?;
                p.region = next_region(p.region.as_deref());
                project_policy_changed(p)
            }
            Action::SetRowFilter { project_id, region } => {
                let p = project(tenant, *project_id)?;
                p.region = region.clone();
                project_policy_changed(p)
            }
            Action::AddToProject {
                project_id,
                data_source_id,
            }
            | Action::RemoveFromProject {
                project_id,
                data_source_id,
            } => {
                let name = source(tenant, *data_source_id)?.name.clone();
                let p = project(tenant, *project_id)?;
                let added = matches!(self, Action::AddToProject { .. });
                if added {
                    p.members.insert(*data_source_id);
                } else {
                    p.members.remove(data_source_id);
                }
                json!({"dataSourceName": name, "dataSourceId": data_source_id, "projectName": p.name,
                       "notificationType": if added { "addedToProject" } else { "removedFromProject" },
                       "modelType": "project", "modelId": p.id})
            }
            Action::SetEqualized {
                project_id,
                equalized,
            } => {
                let p = project(tenant, *project_id)?;
                p.equalized = *equalized;
                p.equalization_configured |= *equalized;
                json!({"projectName": p.name, "equalized": equalized, "notificationType": "projectEqualizationToggled",
                       "modelType": "project", "modelId": p.id})
            }
            Action::CloseProject { project_id } => {
                let p = project(tenant, *project_id)?;
                p.closed = true;
                json!({"projectName": p.name, "notificationType": "projectDisabled", "modelType": "project", "modelId": p.id})
            }
            Action::DeleteProject { project_id } => {
                let p = project(tenant, *project_id)?;
                p.deleted = true;
                json!({"projectName": p.name, "notificationType": "modelDeleted", "modelType": "project", "modelId": p.id})
            }
            Action::Announce {
                notification_type,
                data_source_id,
                project_id,
            } => announce(tenant, notification_type, *data_source_id, *project_id)?,
            Action::SendUnclassifiable { text } => {
                return Ok(
                    json!({"text": text, "attachments": [{"text": text, "color": "#d9534f"}]}),
                );
            }
            Action::MarketplaceDataSourcesUpdated { data_product_id } => {
                return Ok(json!({
                    "timestamp": "2026-11-23T00:00:00.000000000Z",
                    "data": {"actionLink": format!("https://sim.example/marketplace/data-product/{data_product_id}/data-sources"),
                             "dataProductId": data_product_id, "dataProductName": "Simulated product"},
                    "type": "marketplace.data_product.data_sources.updated",
                }));
            }
        };
        Ok(with_actor(body))
    }
}

fn announce(
    tenant: &mut Tenant,
    notification_type: &str,
    data_source_id: Option<u64>,
    project_id: Option<u64>,
) -> Result<Value, UnknownObject> {
    let mut body = json!({"notificationType": notification_type});
    if let Some(id) = data_source_id {
        let d = source(tenant, id)?;
        body["dataSourceName"] = d.name.clone().into();
        body["dataSourceId"] = id.into();
        body["modelType"] = "datasource".into();
        body["modelId"] = id.into();
    }
    if let Some(id) = project_id {
        let p = project(tenant, id)?;
        body["projectName"] = p.name.clone().into();
        body["modelType"] = "project".into();
        body["modelId"] = id.into();
    }
    Ok(body)
}

fn data_policy_changed(d: &mut DataSourceState) -> Value {
    d.policy_version += 1;
    json!({"dataSourceName": d.name, "triggeredByGlobal": false, "conflictCount": 0, "policyType": "data",
           "handlerId": d.policy_version, "previousHandlerId": d.policy_version - 1, "dataSourceType": "queryable",
           "notificationType": "policyUpdated", "modelType": "datasource", "modelId": d.id, "notifyInitiator": false})
}

fn project_policy_changed(p: &mut ProjectState) -> Value {
    p.policy_version += 1;
    json!({"projectName": p.name, "policyType": "subscription", "hasWorkspace": false,
           "notificationType": "policyUpdated", "modelType": "project", "modelId": p.id})
}

fn source(tenant: &mut Tenant, id: u64) -> Result<&mut DataSourceState, UnknownObject> {
    tenant
        .data_sources
        .get_mut(&id)
        .ok_or_else(|| UnknownObject(format!("data source {id}")))
}

fn project(tenant: &mut Tenant, id: u64) -> Result<&mut ProjectState, UnknownObject> {
    tenant
        .projects
        .get_mut(&id)
        .ok_or_else(|| UnknownObject(format!("project {id}")))
}
