//! Which notification types the receiver forwards to the queue (`FORWARD_TYPES`).

use std::fmt;

use thiserror::Error;

use crate::catalog::NotificationType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardFilter {
    /// Forward every notification, known or not.
    All,
    /// Forward only these types.
    Only(Vec<NotificationType>),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "'{0}' is not a notification type this build knows; check the spelling (names are \
     case-sensitive, e.g. policyUpdated) or use `all`"
)]
pub struct UnknownForwardType(pub String);

impl Default for ForwardFilter {
    /// The view-affecting types (DESIGN.md's reconcile key table).
    fn default() -> Self {
        Self::Only(NotificationType::VIEW_AFFECTING.to_vec())
    }
}

impl ForwardFilter {
    /// Parses `all` or a comma-separated list of type names. Names must be known: a typo would
    /// otherwise silently drop every notification of the intended type.
    pub fn parse(list: &str) -> Result<Self, UnknownForwardType> {
        if list.trim().eq_ignore_ascii_case("all") {
            return Ok(Self::All);
        }
        let mut types = Vec::new();
        for name in crate::settings::items(list) {
            let kind =
                NotificationType::known(name).ok_or_else(|| UnknownForwardType(name.to_owned()))?;
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
            Self::Only(types) => types.contains(kind),
        }
    }
}

impl fmt::Display for ForwardFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
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
    fn default_forwards_view_affecting_types_only() {
        let filter = ForwardFilter::default();
        assert!(filter.forwards(&NotificationType::PolicyUpdated));
        assert!(!filter.forwards(&NotificationType::UserCreated));
        assert!(!filter.forwards(&NotificationType::Unknown("x".into())));
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
    }
}
