//! Which notification types the receiver forwards to the queue (`FORWARD_TYPES`).

use std::fmt;

use thiserror::Error;

use crate::catalog::{Family, NotificationType};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ForwardFilter {
    /// Forward every notification, known or not.
    All,
    /// The default: the types that can change views ([`NotificationType::VIEW_AFFECTING`]) and
    /// the types this build does not know, which may.
    #[default]
    ViewAffecting,
    /// Forward only these types.
    Only(Vec<NotificationType>),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "'{0}' is not a notification type this build knows; check the spelling (names are \
     case-sensitive, e.g. policyUpdated) or use `all`"
)]
pub struct UnknownForwardType(pub String);

/// What Immuta's webhook registration takes for "every type" (`POST /webhooks`, and the first
/// entry of `GET /webhooks/actions`).
pub const ALL_NOTIFICATIONS: &str = "ALL_NOTIFICATIONS";

impl ForwardFilter {
    /// Parses `all` (or Immuta's own name for it, `ALL_NOTIFICATIONS`) or a comma-separated
    /// list of type names. Names must be known: a typo would otherwise silently drop every
    /// notification of the intended type.
    pub fn parse(list: &str) -> Result<Self, UnknownForwardType> {
        let list_trimmed = list.trim();
        if list_trimmed.eq_ignore_ascii_case("all") || list_trimmed == ALL_NOTIFICATIONS {
            return Ok(Self::All);
        }
        let mut types = Vec::new();
        for name in crate::settings::items(list) {
            // Our own types are no type Immuta sends, nor one a webhook subscribes to.
            let kind = NotificationType::known(name)
                .filter(|kind| kind.family() != Family::Own)
                .ok_or_else(|| UnknownForwardType(name.to_owned()))?;
            if !types.contains(&kind) {
                types.push(kind);
            }
        }
        if types.is_empty() {
            return Err(UnknownForwardType(list.trim().to_owned()));
        }
        Ok(Self::Only(types))
    }

    pub fn forwards(&self, kind: &NotificationType) -> bool {
        match self {
            Self::All => true,
            Self::ViewAffecting => {
                kind.is_view_affecting() || matches!(kind, NotificationType::Unknown(_))
            }
            Self::Only(types) => types.contains(kind),
        }
    }
}

impl fmt::Display for ForwardFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::ViewAffecting => f.write_str("the view-affecting types and unknown types"),
            Self::Only(types) => {
                let names: Vec<&str> = types.iter().map(NotificationType::as_str).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_forwards_view_affecting_and_unknown_types() {
        let filter = ForwardFilter::default();
        assert!(filter.forwards(&NotificationType::PolicyUpdated));
        assert!(filter.forwards(&NotificationType::GovernanceSettingsUpdated));
        assert!(!filter.forwards(&NotificationType::UserCreated));
        assert!(!filter.forwards(&NotificationType::ViewSyncDoctorProbe));
        // An unknown type may change views: the processor re-syncs for it.
        assert!(filter.forwards(&NotificationType::Unknown("x".into())));
        // A list names known types only, so it leaves unknown ones out.
        let listed = ForwardFilter::parse("policyUpdated").unwrap();
        assert!(!listed.forwards(&NotificationType::Unknown("x".into())));
    }

    #[test]
    fn all_forwards_unknown_types_too() {
        let filter = ForwardFilter::parse(" ALL ").unwrap();
        assert!(filter.forwards(&NotificationType::Unknown("x".into())));
    }

    #[test]
    fn lists_are_validated() {
        let filter = ForwardFilter::parse("policyUpdated, addedToProject,policyUpdated").unwrap();
        assert_eq!(filter.to_string(), "policyUpdated,addedToProject");
        assert_eq!(
            ForwardFilter::parse("policyUpdate").unwrap_err(),
            UnknownForwardType("policyUpdate".into())
        );
        assert!(ForwardFilter::parse(" , ").is_err());
        assert!(ForwardFilter::parse("viewSyncDoctorProbe").is_err());
    }
}
