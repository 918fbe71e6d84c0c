//! What the simulator answers, in the shapes Immuta documents (`IMMUTA_API.md`, and the examples
//! in `events/immuta-api/`, which a test holds these answers to). Written from the documentation,
//! never from the client's models: a project's detail has `equalization` (an object or null) and
//! no `isEqualized`; a data source carries no disabled state unless the tenant asks for one;
//! `status` of a data source is its health.

use serde_json::{Value, json};

use crate::tenant::{DataSourceState, ProjectState, Tenant};

const CREATED_AT: &str = "2021-01-11T09:30:12.843Z";
const UPDATED_AT: &str = "2021-01-15T11:10:23.349Z";

/// `GET /dataSource/{id}`.
pub fn data_source(tenant: &Tenant, d: &DataSourceState) -> Value {
    let mut answer = json!({
        "id": d.id,
        "name": d.name,
        "blobHandlerType": d.handler,
        "blobHandler": {"scheme": "https", "url": format!("https://sim.example/dataSource/{}/blobHandler", d.id)},
        "type": "queryable",
        "status": "passed",
        "statusInfo": null,
        "deleted": d.deleted,
        "policyHandlerType": "Builder",
        "policyHandler": {"id": d.id, "version": d.policy_version},
        "sqlSchemaName": "public",
        "sqlTableName": d.table_name(),
        "remoteSchema": tenant.table_schema.as_deref().unwrap_or("public"),
        "remoteTable": d.table_name(),
        "connectionString": "read_only@db.example.com:5432/data",
        "subscriptionType": "manual",
        "subscriptionPolicy": null,
        "globalPolicies": [],
        "tags": [],
        "createdAt": CREATED_AT,
        "updatedAt": UPDATED_AT,
        "createdBy": 1,
    });
    if tenant.disabled_in_answers {
        answer["disabled"] = json!(d.disabled);
    }
    answer
}

fn project_fields(p: &ProjectState) -> Value {
    let equalization = if p.equalization_configured {
        json!({"recommended": true, "authsForPolicyHandler": {"groups": [], "attributes": {}},
               "validationFrequency": 86400, "setNone": false, "createdAt": CREATED_AT})
    } else {
        Value::Null
    };
    json!({
        "id": p.id,
        "projectKey": p.name.to_lowercase().replace(' ', "_"),
        "name": p.name,
        "status": if p.closed { "closed" } else { "open" },
        "description": format!("Simulated project {}", p.name),
        "documentation": null,
        "tags": [],
        "purposes": [],
        "stagedPurposes": [],
        "deleted": p.deleted,
        "snowflake": null,
        "allowMaskedJoins": false,
        "subscriptionType": "manual",
        "subscriptionPolicy": null,
        "equalization": equalization,
        "workspace": null,
        "type": "project",
        "createdAt": CREATED_AT,
        "updatedAt": UPDATED_AT,
        "acknowledgeRequired": false,
        "subscriptionId": null,
        "subscribedAsUser": true,
        "subscriptionStatus": "owner",
        "filterId": p.id,
    })
}

/// `GET /project/{id}`: no `isEqualized` here (`checkEqualizationState` says).
pub fn project(p: &ProjectState) -> Value {
    project_fields(p)
}

/// `GET /project/{id}/checkEqualizationState`.
pub fn equalization_state(p: &ProjectState) -> Value {
    json!({"equalizationState": if p.equalized { "active" } else { "off" }})
}

/// A hit of the project search: the project's fields and `isEqualized` (Swagger); searched by
/// data source, also what seed 003's hits show (purposes, when the source was added).
pub fn project_hit(p: &ProjectState, data_source: Option<u64>) -> Value {
    let mut hit = project_fields(p);
    hit["isEqualized"] = json!(p.equalized);
    if data_source.is_some() {
        hit["purposeCount"] = json!(0);
        hit["hasDeletedPurposes"] = json!(false);
        hit["dataSourceReason"] = Value::Null;
        hit["dataSourceAddedAt"] = json!(UPDATED_AT);
        hit["datasourceAddedBy"] = json!("Simulated Admin");
    }
    hit
}

/// Project search hits (deleted projects are not found).
pub fn search_projects(
    tenant: &Tenant,
    equalized_only: bool,
    data_source: Option<u64>,
) -> Vec<Value> {
    tenant
        .projects
        .values()
        .filter(|p| !p.deleted && (!equalized_only || p.equalized))
        .filter(|p| data_source.is_none_or(|d| p.members.contains(&d)))
        .map(|p| project_hit(p, data_source))
        .collect()
}

/// The rows of `GET /project/{id}/dataSources` (no disabled state is documented on rows).
pub fn project_data_sources(tenant: &Tenant, p: &ProjectState) -> Vec<Value> {
    p.members
        .iter()
        .filter_map(|id| tenant.data_sources.get(id))
        .map(|d| {
            let mut row = json!({
                "dataSourceId": d.id,
                "dataSourceName": d.name,
                "addedBy": "Simulated Admin",
                "addedOn": UPDATED_AT,
                "addedByProfile": 1,
                "comment": null,
                "subscriptionStatus": "owner",
                "subscriptionType": "manual",
                "subscriptionPolicy": null,
                "deleted": d.deleted,
                "derivedInThisProject": false,
                "policyHandlerType": "Builder",
                "blobHandlerType": d.handler,
                "connectionString": "read_only@db.example.com:5432/data",
            });
            if tenant.disabled_in_answers {
                row["disabled"] = json!(d.disabled);
            }
            row
        })
        .collect()
}
