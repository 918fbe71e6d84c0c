//! The catalog of notification types Immuta sends: every v1 notification type of the webhooks API
//! and every Marketplace (Request app) webhook type, plus a fallback for types we do not know yet.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which family of Immuta webhooks a type belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// The governance webhooks of `POST /webhooks` (`notificationType` in the body).
    V1,
    /// Marketplace / Request app webhooks (`type` in the body).
    Marketplace,
    /// Types of our own, which Immuta never sends (the probe `view-sync doctor` signs).
    Own,
    /// A type this build does not know.
    Unknown,
}

macro_rules! catalog {
    (
        v1 { $($v1:ident = $v1_name:literal: $v1_doc:literal,)* }
        marketplace { $($mp:ident = $mp_name:literal: $mp_doc:literal,)* }
        own { $($own:ident = $own_name:literal: $own_doc:literal,)* }
    ) => {
        /// A notification type. Parsing never fails: a type this build does not know is kept,
        /// verbatim, as [`NotificationType::Unknown`] and serialises back to the same string.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum NotificationType {
            $(#[doc = $v1_doc] $v1,)*
            $(#[doc = $mp_doc] $mp,)*
            $(#[doc = $own_doc] $own,)*
            /// A type this build does not know, kept as sent.
            Unknown(String),
        }

        impl NotificationType {
            /// Every known type: v1 and Marketplace in the order of Immuta's documentation, then
            /// our own.
            pub const ALL: &'static [NotificationType] = &[$(Self::$v1,)* $(Self::$mp,)* $(Self::$own,)*];

            /// The type's name exactly as Immuta writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$v1 => $v1_name,)*
                    $(Self::$mp => $mp_name,)*
                    $(Self::$own => $own_name,)*
                    Self::Unknown(name) => name,
                }
            }

            /// What Immuta's documentation says the type means (empty for unknown types). Where
            /// Immuta publishes the name but no description, the description is ours and says so.
            pub fn description(&self) -> &'static str {
                match self {
                    $(Self::$v1 => $v1_doc,)*
                    $(Self::$mp => $mp_doc,)*
                    $(Self::$own => $own_doc,)*
                    Self::Unknown(_) => "",
                }
            }

            pub fn family(&self) -> Family {
                match self {
                    $(Self::$v1 => Family::V1,)*
                    $(Self::$mp => Family::Marketplace,)*
                    $(Self::$own => Family::Own,)*
                    Self::Unknown(_) => Family::Unknown,
                }
            }

            /// The known type with this exact (case-sensitive) name, if any.
            pub fn known(name: &str) -> Option<Self> {
                match name {
                    $($v1_name => Some(Self::$v1),)*
                    $($mp_name => Some(Self::$mp),)*
                    $($own_name => Some(Self::$own),)*
                    _ => None,
                }
            }
        }
    };
}

catalog! {
    v1 {
        AcknowledgedAccess = "acknowledgedAccess": "A project member acknowledges the purposes on a project.",
        AddedToProject = "addedToProject": "A data source is added to a project.",
        ApiKeyRevoked = "apiKeyRevoked": "A user's API key is revoked.",
        AttributeAdded = "attributeAdded": "An attribute is added to a group or user.",
        AttributeRemoved = "attributeRemoved": "An attribute is removed from a group or user.",
        AttributeUpdated = "attributeUpdated": "Attributes for a group or user are updated.",
        AutomaticDomainAssignmentFailure = "automaticDomainAssignmentFailure": "Automatically assigning a data source to a domain using a tag has failed.",
        BulkCreateDatasource = "bulkCreateDatasource": "(ours) Data sources are created in bulk.",
        BulkJobStatus = "bulkJobStatus": "A bulk action is completed (whether success/failure).",
        CertificationRequired = "certificationRequired": "A Global Policy that requires certification by the data source owner is applied to a data source.",
        CollectionCreated = "collectionCreated": "A domain is created.",
        CollectionDataSourceAdded = "collectionDataSourceAdded": "A data source is added to a domain.",
        CollectionDataSourceRemoved = "collectionDataSourceRemoved": "A data source is removed from a domain.",
        CollectionDeleted = "collectionDeleted": "A domain is deleted.",
        CollectionPermissionGranted = "collectionPermissionGranted": "A domain permission has been assigned to a user.",
        CollectionPermissionRevoked = "collectionPermissionRevoked": "A domain permission has been removed from a user.",
        CollectionUpdated = "collectionUpdated": "A domain was updated.",
        ConflictingGlobalPolicies = "conflictingGlobalPolicies": "Global Policies are applied to the same column on a data source.",
        DataSourceExpired = "dataSourceExpired": "A data source that was configured to expire has expired.",
        DataSourceExpiring = "dataSourceExpiring": "A data source that was configured to expire expires tomorrow.",
        DataSourceUpdated = "dataSourceUpdated": "A data source is updated (enabled, disabled, renamed, connection, columns or metadata changed).",
        DeletedDatasourceRemovedFromProject = "deletedDatasourceRemovedFromProject": "A data source has been deleted and then removed from a project.",
        ExpiredDatasourceRemovedFromProject = "expiredDatasourceRemovedFromProject": "A data source that has expired and been deleted is removed from a project.",
        FirstQuery = "firstQuery": "A data source is queried for the first time through Immuta.",
        FrameworkCreated = "frameworkCreated": "A classification framework was created.",
        FrameworkDeleted = "frameworkDeleted": "A classification framework was deleted.",
        FrameworkUpdated = "frameworkUpdated": "A classification framework was updated.",
        GlobalPolicyApprovalRescinded = "globalPolicyApprovalRescinded": "A governor has removed their approval of a global policy.",
        GlobalPolicyApproved = "globalPolicyApproved": "A governor has approved a global policy.",
        GlobalPolicyChangeRequested = "globalPolicyChangeRequested": "A governor has requested changes to a global policy.",
        GlobalPolicyCreated = "globalPolicyCreated": "A global policy is created.",
        GlobalPolicyDeleted = "globalPolicyDeleted": "A global policy is deleted.",
        GlobalPolicyDisabled = "globalPolicyDisabled": "A global policy is disabled.",
        GlobalPolicyUpdated = "globalPolicyUpdated": "A global policy is updated.",
        GovernanceSettingsUpdated = "governanceSettingsUpdated": "(ours) The tenant's governance settings are updated.",
        GroupUserAdded = "groupUserAdded": "A user is added to a group.",
        GroupUserDeleted = "groupUserDeleted": "A user is removed from a group.",
        HealthCheckFailed = "healthCheckFailed": "A health check runs and returns not healthy.",
        HealthCheckResolved = "healthCheckResolved": "A health check runs and returns healthy.",
        ModelAccessApproved = "modelAccessApproved": "A user's access request is approved for a data source or project.",
        ModelAccessDenied = "modelAccessDenied": "A user's access request is denied for a data source or project.",
        ModelAccessRequested = "modelAccessRequested": "A user requests access to a data source or project.",
        ModelAccessRevoked = "modelAccessRevoked": "A user's access request is revoked for a data source or project.",
        ModelAccessUpdated = "modelAccessUpdated": "A user's access level is updated for a data source or project.",
        ModelCommentCreated = "modelCommentCreated": "(ours) A comment is posted on a data source or project.",
        ModelCommentReply = "modelCommentReply": "(ours) A reply is posted to a comment on a data source or project.",
        ModelCommentResolved = "modelCommentResolved": "(ours) A comment on a data source or project is resolved.",
        ModelCopied = "modelCopied": "A data source or project is copied.",
        ModelCreated = "modelCreated": "A data source or project is created.",
        ModelDeleted = "modelDeleted": "A data source or project is deleted.",
        ModelTagAdded = "modelTagAdded": "A tag is added to a data source or a data source column.",
        ModelTagRemoved = "modelTagRemoved": "A tag is removed from a data source or a data source column.",
        ModelUserAdded = "modelUserAdded": "A user is added to a data source.",
        ModelUserDeleted = "modelUserDeleted": "A user is removed from a data source.",
        ModelUserJoined = "modelUserJoined": "A user joins a data source that they are already allowed to join.",
        NativeIntegrationValidationFailed = "nativeIntegrationValidationFailed": "A validation test for an enabled integration has failed.",
        NativeViewUpdated = "nativeViewUpdated": "(ours) A native view that Immuta manages for a data source is updated.",
        NativeWorkspaceStateChanged = "nativeWorkspaceStateChanged": "(ours) The state of a project's native workspace changes.",
        PermissionsUpdated = "permissionsUpdated": "A user's permissions are updated.",
        PolicyAdjustmentCreated = "policyAdjustmentCreated": "(ours) A policy adjustment is made in a project: how a data source's policies apply within it changes.",
        PolicyAdjustmentExpired = "policyAdjustmentExpired": "(ours) A policy adjustment in a project expires.",
        PolicyCertificationExpired = "policyCertificationExpired": "A policy certification on a data source has expired.",
        PolicyUpdated = "policyUpdated": "A data source's or project's policies have been updated by a user or Global Policy.",
        ProjectDisabled = "projectDisabled": "A project is disabled.",
        ProjectEqualizationMemberNotInCompliance = "projectEqualizationMemberNotInCompliance": "A member of an equalized project is out of compliance.",
        ProjectEqualizationToggled = "projectEqualizationToggled": "Project equalization is toggled on or off.",
        ProjectUpdated = "projectUpdated": "A project is updated.",
        PurposeCreated = "purposeCreated": "A purpose is created.",
        PurposeDeleted = "purposeDeleted": "A purpose is deleted.",
        PurposeUpdated = "purposeUpdated": "A purpose is updated.",
        QueryCanceled = "queryCanceled": "A running query is canceled due to a change on a data source.",
        QueryCreated = "queryCreated": "(ours) A query is created on a data source.",
        QueryUpdated = "queryUpdated": "(ours) A query on a data source is updated.",
        RemovedFromProject = "removedFromProject": "A data source is removed from a project.",
        SwitchedCurrentProject = "switchedCurrentProject": "A user switches their current project.",
        TagCreated = "tagCreated": "A tag is created.",
        TagDeleted = "tagDeleted": "A tag is deleted.",
        TagUpdated = "tagUpdated": "A tag is updated.",
        TaskDeleted = "taskDeleted": "An outstanding data source task is deleted without validation.",
        TaskValidated = "taskValidated": "An outstanding data source task is validated.",
        UpdatedModelInProject = "updatedModelInProject": "(ours) A data source of a project is updated within that project.",
        UserCloned = "userCloned": "A user is cloned.",
        UserCreated = "userCreated": "A user or group is created.",
        UserDeleted = "userDeleted": "A user or group is deleted.",
        UserDisabled = "userDisabled": "A user is disabled.",
        UserEnabled = "userEnabled": "A user is enabled.",
        UserMigrated = "userMigrated": "A user is migrated from an old IAM to a new IAM.",
        UsernameUpdated = "usernameUpdated": "A user's name is updated.",
        UserUpdated = "userUpdated": "A group is updated.",
    }
    marketplace {
        MarketplaceAccessRequestConsumerUpdated = "marketplace.data_product.access_requests.consumer.updated": "A determination is made on an access request.",
        MarketplaceAccessRequestCreated = "marketplace.data_product.access_requests.created": "A consumer requests access to a data product.",
        MarketplaceAccessRequestDeleted = "marketplace.data_product.access_requests.deleted": "The data product a consumer has an access request to is deleted.",
        MarketplaceAccessRequestExpired = "marketplace.data_product.access_requests.expired": "A consumer's access to a data product expires.",
        MarketplaceAccessRequestExpiring = "marketplace.data_product.access_requests.expiring": "A consumer's access to a data product will expire soon.",
        MarketplaceAccessRequestRevoked = "marketplace.data_product.access_requests.revoked": "A consumer's access to a data product is revoked.",
        MarketplaceAccessRequestCanceled = "marketplace.data_product.access_requests.canceled": "An access request to a data product is canceled.",
        MarketplaceDataProductCreated = "marketplace.data_product.state.created": "A data product is published.",
        MarketplaceDataProductDeleted = "marketplace.data_product.state.deleted": "A data product is deleted.",
        MarketplaceDataSourcesUpdated = "marketplace.data_product.data_sources.updated": "A data product's data sources are updated.",
        MarketplaceDataStewardsUpdated = "marketplace.data_product.access_requests.data_steward.updated": "A data product's data stewards are updated.",
        MarketplaceAccessRequestPending = "marketplace.data_product.access_requests.pending": "A reminder for pending access requests.",
    }
    own {
        ViewSyncDoctorProbe = "viewSyncDoctorProbe": "Ours, not Immuta's: the signed probe `view-sync doctor` sends the receiver; it changes nothing.",
    }
}

impl NotificationType {
    /// The types that can change which native views must exist or what they contain: those
    /// `keys::reach` gives a reach (the README's table of what each reconciles). The receiver
    /// forwards these by default, and types this build does not know.
    pub const VIEW_AFFECTING: &'static [NotificationType] = &[
        Self::DataSourceUpdated,
        Self::PolicyUpdated,
        Self::DataSourceExpired,
        Self::ModelDeleted,
        Self::ProjectEqualizationToggled,
        Self::ProjectDisabled,
        Self::ProjectUpdated,
        Self::AddedToProject,
        Self::RemovedFromProject,
        Self::DeletedDatasourceRemovedFromProject,
        Self::ExpiredDatasourceRemovedFromProject,
        Self::UpdatedModelInProject,
        Self::PolicyAdjustmentCreated,
        Self::PolicyAdjustmentExpired,
        Self::NativeViewUpdated,
        Self::NativeWorkspaceStateChanged,
        Self::ConflictingGlobalPolicies,
        Self::CertificationRequired,
        Self::ModelTagAdded,
        Self::ModelTagRemoved,
        Self::TaskValidated,
        Self::CollectionDataSourceAdded,
        Self::CollectionDataSourceRemoved,
        Self::ModelCopied,
        Self::GovernanceSettingsUpdated,
        Self::PurposeUpdated,
        Self::PurposeDeleted,
        Self::GlobalPolicyCreated,
        Self::GlobalPolicyUpdated,
        Self::GlobalPolicyDeleted,
        Self::GlobalPolicyDisabled,
        Self::GlobalPolicyApproved,
        Self::GlobalPolicyApprovalRescinded,
        Self::TagUpdated,
        Self::TagDeleted,
        Self::FrameworkCreated,
        Self::FrameworkUpdated,
        Self::FrameworkDeleted,
        Self::CollectionDeleted,
        Self::BulkJobStatus,
    ];

    /// Parses a type name; never fails (see [`NotificationType::Unknown`]).
    pub fn parse(name: &str) -> Self {
        Self::known(name).unwrap_or_else(|| Self::Unknown(name.to_owned()))
    }

    pub fn is_view_affecting(&self) -> bool {
        Self::VIEW_AFFECTING.contains(self)
    }
}

impl fmt::Display for NotificationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for NotificationType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NotificationType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::parse(&name))
    }
}

/// Which kind of Immuta object a notification is about (`modelType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelType {
    DataSource,
    Project,
    /// A Marketplace data product (Marketplace bodies carry no `modelType`; we name it).
    DataProduct,
    /// Any other model type, kept as sent.
    Other(String),
}

impl ModelType {
    /// Immuta writes `datasource` in bodies and `dataSource` in its documentation; both match.
    pub fn parse(name: &str) -> Self {
        if name.eq_ignore_ascii_case("datasource") || name.eq_ignore_ascii_case("data_source") {
            Self::DataSource
        } else if name.eq_ignore_ascii_case("project") {
            Self::Project
        } else if name.eq_ignore_ascii_case("dataProduct") {
            Self::DataProduct
        } else {
            Self::Other(name.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::DataSource => "datasource",
            Self::Project => "project",
            Self::DataProduct => "dataProduct",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for ModelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ModelType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ModelType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_known_type_round_trips_through_its_name() {
        for kind in NotificationType::ALL {
            assert_eq!(&NotificationType::parse(kind.as_str()), kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(
                &serde_json::from_str::<NotificationType>(&json).unwrap(),
                kind
            );
            assert!(!kind.description().is_empty(), "{kind} has no description");
        }
    }

    #[test]
    fn names_are_unique_and_families_are_counted() {
        let names: HashSet<&str> = NotificationType::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), NotificationType::ALL.len());
        let marketplace = NotificationType::ALL
            .iter()
            .filter(|k| k.family() == Family::Marketplace)
            .count();
        assert_eq!(
            marketplace, 12,
            "seeds 000/001 list twelve Marketplace webhook types"
        );
        let count = |family| {
            NotificationType::ALL
                .iter()
                .filter(|k| k.family() == family)
                .count()
        };
        // Immuta's published Swagger enumerates 80; its documentation's table adds 9 newer ones
        // (domains, and an integration's validation).
        assert_eq!(count(Family::V1), 89);
        assert_eq!(count(Family::Own), 1);
    }

    #[test]
    fn unknown_types_are_kept_verbatim_and_round_trip() {
        let kind = NotificationType::parse("somethingNew");
        assert_eq!(kind, NotificationType::Unknown("somethingNew".into()));
        assert_eq!(kind.family(), Family::Unknown);
        assert_eq!(serde_json::to_string(&kind).unwrap(), r#""somethingNew""#);
        // Matching is exact: a different case is a different (unknown) type.
        assert!(matches!(
            NotificationType::parse("PolicyUpdated"),
            NotificationType::Unknown(_)
        ));
    }

    #[test]
    fn view_affecting_types_are_the_reconcile_table() {
        assert!(NotificationType::PolicyUpdated.is_view_affecting());
        assert!(NotificationType::RemovedFromProject.is_view_affecting());
        assert!(!NotificationType::UserCreated.is_view_affecting());
        assert!(!NotificationType::MarketplaceDataSourcesUpdated.is_view_affecting());
        assert!(!NotificationType::ViewSyncDoctorProbe.is_view_affecting());
        assert!(!NotificationType::Unknown("x".into()).is_view_affecting());
    }

    #[test]
    fn model_types_accept_immuta_spellings() {
        assert_eq!(ModelType::parse("datasource"), ModelType::DataSource);
        assert_eq!(ModelType::parse("dataSource"), ModelType::DataSource);
        assert_eq!(ModelType::parse("project"), ModelType::Project);
        assert_eq!(
            ModelType::parse("purpose"),
            ModelType::Other("purpose".into())
        );
    }
}
