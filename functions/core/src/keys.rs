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

/// What a notification asks the processor to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// Reconcile this key.
    Key(ReconcileKey),
    /// Re-sync every equalized project (and every project with managed views): the notification
    /// can change views it does not name. The processor bounds it: one fan-out per batch, and
    /// none for notifications received before the last fan-out started.
    ResyncAll,
    /// No view can depend on it.
    Nothing,
}

/// The keys a reach can ask for, when the payload names their ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    DataSource,
    Project,
    Membership,
}

/// Which views a notification type can change: the README's table, as code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// This key, whose ids the notification must name (the types whose payloads Immuta
    /// documents or shows): a notification without them fails.
    Exactly(KeyKind),
    /// By `modelType`: a data source's views, or a project's; other models change none.
    ByModelType,
    /// The first of these keys whose ids the payload names; when it names none, every
    /// equalized project. Payloads of these types are undocumented, so they are read tolerantly.
    FirstNamed(&'static [KeyKind]),
    /// Every equalized project: the change names no data source or project, or may reach
    /// beyond the one it names.
    AllProjects,
    /// A copied project may arrive equalized, with its data sources, and whether `modelId`
    /// names the original or the copy is undocumented: every equalized project. A copied data
    /// source belongs to no project yet.
    CopiedModel,
}

/// How far a notification of `kind` reaches; `None` when it cannot change any view. Types this
/// build does not know may change views: they reach every equalized project.
pub fn reach(kind: &NotificationType) -> Option<Reach> {
    use KeyKind::{DataSource, Membership, Project};
    use NotificationType as T;
    Some(match kind {
        T::DataSourceUpdated | T::DataSourceExpired => Reach::Exactly(DataSource),
        T::PolicyUpdated | T::ModelDeleted => Reach::ByModelType,
        T::ProjectEqualizationToggled | T::ProjectDisabled | T::ProjectUpdated => {
            Reach::Exactly(Project)
        }
        T::AddedToProject
        | T::RemovedFromProject
        | T::DeletedDatasourceRemovedFromProject
        | T::ExpiredDatasourceRemovedFromProject => Reach::Exactly(Membership),
        T::UpdatedModelInProject => Reach::FirstNamed(&[Membership, Project, DataSource]),
        // An adjustment changes how a data source's policies apply within one project.
        T::PolicyAdjustmentCreated | T::PolicyAdjustmentExpired => {
            Reach::FirstNamed(&[Project, DataSource])
        }
        T::NativeViewUpdated => Reach::FirstNamed(&[DataSource, Project]),
        T::NativeWorkspaceStateChanged => Reach::FirstNamed(&[Project]),
        // What applies to one data source: a global policy, a tag that global policies match,
        // a validated task, a domain that scopes policies.
        T::ConflictingGlobalPolicies
        | T::CertificationRequired
        | T::ModelTagAdded
        | T::ModelTagRemoved
        | T::TaskValidated
        | T::CollectionDataSourceAdded
        | T::CollectionDataSourceRemoved => Reach::FirstNamed(&[DataSource]),
        T::ModelCopied => Reach::CopiedModel,
        // Settings, purposes, global policies, tags, classification, domains, bulk actions:
        // they apply across data sources and name none of them. Immuta also sends
        // `policyUpdated` for each data source whose policies a global policy changes, but
        // only as its payloads show, not as documented: a re-sync does not depend on it.
        T::GovernanceSettingsUpdated
        | T::PurposeUpdated
        | T::PurposeDeleted
        | T::GlobalPolicyCreated
        | T::GlobalPolicyUpdated
        | T::GlobalPolicyDeleted
        | T::GlobalPolicyDisabled
        | T::GlobalPolicyApproved
        | T::GlobalPolicyApprovalRescinded
        | T::TagUpdated
        | T::TagDeleted
        | T::FrameworkCreated
        | T::FrameworkUpdated
        | T::FrameworkDeleted
        | T::CollectionDeleted
        | T::BulkJobStatus
        | T::Unknown(_) => Reach::AllProjects,
        _ => return None,
    })
}

/// What a notification asks for.
pub fn reaction_to(notification: &Notification) -> Result<Reaction, MissingId> {
    let Some(reach) = reach(&notification.notification_type) else {
        return Ok(Reaction::Nothing);
    };
    match reach {
        Reach::Exactly(kind) => exactly(notification, kind),
        Reach::ByModelType => match notification.model_type {
            Some(ModelType::DataSource) => exactly(notification, KeyKind::DataSource),
            Some(ModelType::Project) => exactly(notification, KeyKind::Project),
            _ => Ok(Reaction::Nothing),
        },
        Reach::FirstNamed(kinds) => Ok(kinds
            .iter()
            .find_map(|&kind| named_key(notification, kind))
            .map_or(Reaction::ResyncAll, Reaction::Key)),
        Reach::AllProjects => Ok(Reaction::ResyncAll),
        Reach::CopiedModel => Ok(match notification.model_type {
            Some(ModelType::DataSource) => Reaction::Nothing,
            _ => Reaction::ResyncAll,
        }),
    }
}

fn exactly(notification: &Notification, kind: KeyKind) -> Result<Reaction, MissingId> {
    named_key(notification, kind)
        .map(Reaction::Key)
        .ok_or_else(|| MissingId {
            notification_type: notification.notification_type.to_string(),
            field: match kind {
                KeyKind::DataSource => "a data source id",
                KeyKind::Project => "a project id",
                KeyKind::Membership if notification.project_id.is_none() => "a project id",
                KeyKind::Membership => "a data source id",
            },
        })
}

/// The key of `kind` if the notification names its ids.
fn named_key(notification: &Notification, kind: KeyKind) -> Option<ReconcileKey> {
    let data_source_id = || notification.data_source_id.clone();
    let project_id = || notification.project_id.clone();
    Some(match kind {
        KeyKind::DataSource => ReconcileKey::DataSource {
            data_source_id: data_source_id()?,
        },
        KeyKind::Project => ReconcileKey::Project {
            project_id: project_id()?,
        },
        KeyKind::Membership => ReconcileKey::Membership {
            project_id: project_id()?,
            data_source_id: data_source_id()?,
        },
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

    fn react(body: &str) -> Result<Reaction, MissingId> {
        reaction_to(&Notification::parse_json(body).unwrap())
    }

    /// The key a notification asks for; `None` for a re-sync or nothing.
    fn key(body: &str) -> Result<Option<ReconcileKey>, MissingId> {
        react(body).map(|reaction| match reaction {
            Reaction::Key(key) => Some(key),
            Reaction::ResyncAll | Reaction::Nothing => None,
        })
    }

    fn id(s: &str) -> Id {
        Id::new(s).unwrap()
    }

    #[test]
    fn the_view_affecting_types_are_exactly_those_with_a_reach() {
        // The receiver forwards VIEW_AFFECTING by default; the processor reacts by `reach`. A
        // type in one list and not the other would be queued for nothing, or never queued.
        for kind in NotificationType::ALL {
            assert_eq!(reach(kind).is_some(), kind.is_view_affecting(), "{kind}");
            for model_type in ["datasource", "project"] {
                let body = format!(
                    r#"{{"notificationType":"{kind}","modelType":"{model_type}","modelId":1,"dataSourceId":2,"projectId":3}}"#
                );
                if !kind.is_view_affecting() {
                    assert_eq!(react(&body), Ok(Reaction::Nothing), "{kind}");
                }
            }
        }
        assert_eq!(
            reach(&NotificationType::Unknown("brandNew".into())),
            Some(Reach::AllProjects)
        );
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
    fn the_new_types_reconcile_what_their_payload_names_else_every_project() {
        let ds = |n: &str| {
            Ok(Reaction::Key(ReconcileKey::DataSource {
                data_source_id: id(n),
            }))
        };
        let project = |n: &str| Ok(Reaction::Key(ReconcileKey::Project { project_id: id(n) }));
        let membership = |p: &str, d: &str| {
            Ok(Reaction::Key(ReconcileKey::Membership {
                project_id: id(p),
                data_source_id: id(d),
            }))
        };
        let all = Ok(Reaction::ResyncAll);
        let body = |kind: &str, ids: &str| format!(r#"{{"notificationType":"{kind}"{ids}}}"#);
        let both = r#","modelType":"project","modelId":4,"dataSourceId":5"#;
        let a_source = r#","modelType":"datasource","modelId":5"#;
        let a_project = r#","projectId":"4""#;

        assert_eq!(
            react(&body("updatedModelInProject", both)),
            membership("4", "5")
        );
        assert_eq!(
            react(&body("updatedModelInProject", a_project)),
            project("4")
        );
        assert_eq!(react(&body("updatedModelInProject", a_source)), ds("5"));
        assert_eq!(react(&body("updatedModelInProject", "")), all);
        for kind in ["policyAdjustmentCreated", "policyAdjustmentExpired"] {
            assert_eq!(react(&body(kind, both)), project("4"), "{kind}");
            assert_eq!(react(&body(kind, a_source)), ds("5"), "{kind}");
            assert_eq!(react(&body(kind, "")), all, "{kind}");
        }
        assert_eq!(react(&body("nativeViewUpdated", both)), ds("5"));
        assert_eq!(react(&body("nativeViewUpdated", a_project)), project("4"));
        assert_eq!(react(&body("nativeViewUpdated", "")), all);
        assert_eq!(
            react(&body("nativeWorkspaceStateChanged", both)),
            project("4")
        );
        assert_eq!(react(&body("nativeWorkspaceStateChanged", a_source)), all);
        for kind in [
            "conflictingGlobalPolicies",
            "certificationRequired",
            "modelTagAdded",
            "modelTagRemoved",
            "taskValidated",
            "collectionDataSourceAdded",
            "collectionDataSourceRemoved",
        ] {
            assert_eq!(react(&body(kind, a_source)), ds("5"), "{kind}");
            assert_eq!(react(&body(kind, a_project)), all, "{kind}");
        }
        for kind in [
            "governanceSettingsUpdated",
            "purposeUpdated",
            "purposeDeleted",
            "globalPolicyCreated",
            "globalPolicyUpdated",
            "globalPolicyDeleted",
            "globalPolicyDisabled",
            "globalPolicyApproved",
            "globalPolicyApprovalRescinded",
            "tagUpdated",
            "tagDeleted",
            "frameworkCreated",
            "frameworkUpdated",
            "frameworkDeleted",
            "collectionDeleted",
            "bulkJobStatus",
            "somethingImmutaAddsLater",
        ] {
            // Even when it names a data source or project: its reach is wider.
            assert_eq!(react(&body(kind, both)), all, "{kind}");
            assert_eq!(react(&body(kind, "")), all, "{kind}");
        }
        assert_eq!(
            react(&body(
                "modelCopied",
                r#","modelType":"project","modelId":4"#
            )),
            all
        );
        assert_eq!(react(&body("modelCopied", a_source)), Ok(Reaction::Nothing));
    }

    #[test]
    fn other_types_have_no_key() {
        for body in [
            r#"{"notificationType":"userCreated","modelType":"user","modelId":1}"#,
            r#"{"notificationType":"policyUpdated","modelType":"purpose","modelId":1}"#,
            r#"{"notificationType":"globalPolicyChangeRequested","modelId":1}"#,
            r#"{"notificationType":"purposeCreated","modelId":1}"#,
            r#"{"notificationType":"viewSyncDoctorProbe","modelType":"none","modelId":"doctor"}"#,
            r#"{"timestamp":"t","type":"marketplace.data_product.state.created","data":{}}"#,
        ] {
            assert_eq!(react(body), Ok(Reaction::Nothing), "{body}");
        }
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
