//! Notifications → reconcile keys, and the merging of a batch's keys.
//!
//! A notification is only a hint of what changed: the processor re-reads the current state for
//! its key and converges the views to it. So a batch needs one reconcile per distinct key, however
//! many notifications name it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::catalog::{ModelType, NotificationType};
use crate::notification::{Id, Notification};

/// What one reconcile re-reads and converges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ReconcileKey {
    /// Every view of one data source, in every equalized project.
    #[serde(rename_all = "camelCase")]
    DataSource { data_source_id: Id },
    /// Every view of one project.
    #[serde(rename_all = "camelCase")]
    Project { project_id: Id },
    /// The one view of a data source in a project.
    #[serde(rename_all = "camelCase")]
    Membership { project_id: Id, data_source_id: Id },
}

impl fmt::Display for ReconcileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataSource { data_source_id } => write!(f, "dataSource:{data_source_id}"),
            Self::Project { project_id } => write!(f, "project:{project_id}"),
            Self::Membership {
                project_id,
                data_source_id,
            } => {
                write!(f, "membership:{project_id}/{data_source_id}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a {notification_type} notification must name {field}, and this one does not")]
pub struct MissingId {
    pub notification_type: String,
    pub field: &'static str,
}

/// The key a notification asks to reconcile; `Ok(None)` when it cannot affect views.
pub fn key_for(notification: &Notification) -> Result<Option<ReconcileKey>, MissingId> {
    use NotificationType as T;
    let data_source = || {
        required(
            notification,
            notification.data_source_id.as_ref(),
            "a data source id",
        )
    };
    let project = || {
        required(
            notification,
            notification.project_id.as_ref(),
            "a project id",
        )
    };
    let by_model_type = || match notification.model_type {
        Some(ModelType::DataSource) => Ok(Some(ReconcileKey::DataSource {
            data_source_id: data_source()?,
        })),
        Some(ModelType::Project) => Ok(Some(ReconcileKey::Project {
            project_id: project()?,
        })),
        _ => Ok(None),
    };
    match notification.notification_type {
        T::DataSourceUpdated | T::DataSourceExpired => Ok(Some(ReconcileKey::DataSource {
            data_source_id: data_source()?,
        })),
        T::PolicyUpdated | T::ModelDeleted => by_model_type(),
        T::ProjectEqualizationToggled | T::ProjectDisabled | T::ProjectUpdated => {
            Ok(Some(ReconcileKey::Project {
                project_id: project()?,
            }))
        }
        T::AddedToProject
        | T::RemovedFromProject
        | T::DeletedDatasourceRemovedFromProject
        | T::ExpiredDatasourceRemovedFromProject => Ok(Some(ReconcileKey::Membership {
            project_id: project()?,
            data_source_id: data_source()?,
        })),
        _ => Ok(None),
    }
}

fn required(
    notification: &Notification,
    id: Option<&Id>,
    field: &'static str,
) -> Result<Id, MissingId> {
    id.cloned().ok_or_else(|| MissingId {
        notification_type: notification.notification_type.to_string(),
        field,
    })
}

/// Merges a batch's keys, keeping for each the items (e.g. SQS message ids) that asked for it, so
/// a failed reconcile can fail exactly those items. A membership key is folded into a data-source
/// or project key of the same batch that covers its view: that reconcile already converges it.
pub fn merge<T>(
    items: impl IntoIterator<Item = (ReconcileKey, T)>,
) -> BTreeMap<ReconcileKey, Vec<T>> {
    let mut merged: BTreeMap<ReconcileKey, Vec<T>> = BTreeMap::new();
    for (key, item) in items {
        merged.entry(key).or_default().push(item);
    }
    let memberships: Vec<ReconcileKey> = merged
        .keys()
        .filter(|k| matches!(k, ReconcileKey::Membership { .. }))
        .cloned()
        .collect();
    for membership in memberships {
        let ReconcileKey::Membership {
            project_id,
            data_source_id,
        } = &membership
        else {
            continue;
        };
        let by_source = ReconcileKey::DataSource {
            data_source_id: data_source_id.clone(),
        };
        let by_project = ReconcileKey::Project {
            project_id: project_id.clone(),
        };
        let cover = [by_source, by_project]
            .into_iter()
            .find(|k| merged.contains_key(k));
        if let Some(cover) = cover {
            let items = merged.remove(&membership).unwrap_or_default();
            merged.entry(cover).or_default().extend(items);
        }
    }
    merged
}

/// How a batch's keys are reconciled: in units, each read from Immuta as of its own moment and
/// then applied, so that one unit's work in the database overlaps the next one's reads. A
/// project key (a re-sync's, typically hundreds of views) is a unit of its own; the other keys
/// share one, so that they share one listing of the projects and one fetch of each view's SQL.
/// Each unit is as a batch of its own would be: the newer read wins between them as between two
/// processors (DESIGN.md). Units hold indices into `keys`; the shared unit comes first.
pub fn reconcile_units(keys: &[ReconcileKey]) -> Vec<Vec<usize>> {
    let (projects, others): (Vec<usize>, Vec<usize>) =
        (0..keys.len()).partition(|&i| matches!(keys[i], ReconcileKey::Project { .. }));
    let shared = Some(others).filter(|others| !others.is_empty());
    shared
        .into_iter()
        .chain(projects.into_iter().map(|i| vec![i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(body: &str) -> Result<Option<ReconcileKey>, MissingId> {
        key_for(&Notification::parse_json(body).unwrap())
    }

    fn id(s: &str) -> Id {
        Id::new(s).unwrap()
    }

    #[test]
    fn the_view_affecting_types_are_exactly_those_with_a_key() {
        // The receiver forwards VIEW_AFFECTING by default; the processor keys by `key_for`. A type
        // in one list and not the other would be queued for nothing, or never queued.
        for kind in NotificationType::ALL {
            let keyed = ["datasource", "project"].iter().any(|model_type| {
                let body = format!(
                    r#"{{"notificationType":"{kind}","modelType":"{model_type}","modelId":1,"dataSourceId":2,"projectId":3}}"#
                );
                matches!(key(&body), Ok(Some(_)))
            });
            assert_eq!(keyed, kind.is_view_affecting(), "{kind}");
        }
    }

    #[test]
    fn a_project_key_is_a_unit_of_its_own_and_the_other_keys_share_one() {
        let ds = |n: &str| ReconcileKey::DataSource {
            data_source_id: id(n),
        };
        let project = |n: &str| ReconcileKey::Project { project_id: id(n) };
        let membership = |p: &str, d: &str| ReconcileKey::Membership {
            project_id: id(p),
            data_source_id: id(d),
        };
        assert!(reconcile_units(&[]).is_empty());
        assert_eq!(reconcile_units(&[ds("1"), ds("2")]), vec![vec![0, 1]]);
        assert_eq!(
            reconcile_units(&[project("1"), project("2")]),
            vec![vec![0], vec![1]]
        );
        assert_eq!(
            reconcile_units(&[project("9"), ds("1"), membership("8", "2"), project("7")]),
            vec![vec![1, 2], vec![0], vec![3]]
        );
    }

    #[test]
    fn the_design_table() {
        let ds = |n: &str| {
            Some(ReconcileKey::DataSource {
                data_source_id: id(n),
            })
        };
        let project = |n: &str| Some(ReconcileKey::Project { project_id: id(n) });
        assert_eq!(
            key(r#"{"notificationType":"dataSourceUpdated","modelType":"datasource","modelId":3}"#),
            Ok(ds("3"))
        );
        assert_eq!(
            key(r#"{"notificationType":"dataSourceExpired","modelType":"datasource","modelId":4}"#),
            Ok(ds("4"))
        );
        assert_eq!(
            key(r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":2}"#),
            Ok(ds("2"))
        );
        assert_eq!(
            key(r#"{"notificationType":"policyUpdated","modelType":"project","modelId":1}"#),
            Ok(project("1"))
        );
        assert_eq!(
            key(r#"{"notificationType":"modelDeleted","modelType":"datasource","modelId":5}"#),
            Ok(ds("5"))
        );
        assert_eq!(
            key(r#"{"notificationType":"modelDeleted","modelType":"project","modelId":6}"#),
            Ok(project("6"))
        );
        for kind in [
            "projectEqualizationToggled",
            "projectDisabled",
            "projectUpdated",
        ] {
            let body =
                format!(r#"{{"notificationType":"{kind}","modelType":"project","modelId":7}}"#);
            assert_eq!(key(&body), Ok(project("7")), "{kind}");
        }
        for kind in [
            "addedToProject",
            "removedFromProject",
            "deletedDatasourceRemovedFromProject",
            "expiredDatasourceRemovedFromProject",
        ] {
            let body = format!(
                r#"{{"notificationType":"{kind}","modelType":"project","modelId":1,"dataSourceId":9}}"#
            );
            let expected = ReconcileKey::Membership {
                project_id: id("1"),
                data_source_id: id("9"),
            };
            assert_eq!(key(&body), Ok(Some(expected)), "{kind}");
        }
    }

    #[test]
    fn other_types_have_no_key() {
        assert_eq!(
            key(r#"{"notificationType":"userCreated","modelType":"user","modelId":1}"#),
            Ok(None)
        );
        assert_eq!(
            key(r#"{"notificationType":"policyUpdated","modelType":"purpose","modelId":1}"#),
            Ok(None)
        );
        assert_eq!(
            key(r#"{"timestamp":"t","type":"marketplace.data_product.state.created","data":{}}"#),
            Ok(None)
        );
    }

    #[test]
    fn a_view_affecting_notification_without_its_ids_is_an_error() {
        let err = key(r#"{"notificationType":"addedToProject","modelType":"project","modelId":1}"#)
            .unwrap_err();
        assert_eq!(err.field, "a data source id");
        assert!(key(r#"{"notificationType":"dataSourceUpdated"}"#).is_err());
    }

    #[test]
    fn duplicates_merge_and_covered_memberships_fold_into_their_cover() {
        let ds = |n: &str| ReconcileKey::DataSource {
            data_source_id: id(n),
        };
        let project = |n: &str| ReconcileKey::Project { project_id: id(n) };
        let member = |p: &str, d: &str| ReconcileKey::Membership {
            project_id: id(p),
            data_source_id: id(d),
        };
        let mut items: Vec<(ReconcileKey, u32)> = (0..500).map(|i| (ds("2"), i)).collect();
        items.push((member("1", "2"), 500)); // covered by dataSource:2
        items.push((member("7", "3"), 501)); // covered by project:7
        items.push((project("7"), 502));
        items.push((member("8", "4"), 503)); // not covered: stays
        let merged = merge(items);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[&ds("2")].len(), 501);
        assert!(merged[&ds("2")].contains(&500));
        assert_eq!(merged[&project("7")], vec![502, 501]);
        assert_eq!(merged[&member("8", "4")], vec![503]);
    }

    #[test]
    fn keys_display_readably() {
        let k = ReconcileKey::Membership {
            project_id: id("1"),
            data_source_id: id("9"),
        };
        assert_eq!(k.to_string(), "membership:1/9");
    }
}
