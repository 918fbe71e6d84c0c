//! What the processor read about Immuta's objects, as plain data: the Immuta client fills these
//! from the answers it reads (tolerantly, see `IMMUTA_API.md`), and [`crate::want`] decides from
//! them which views must exist. Only the fields a decision uses are here.

use crate::notification::Id;

/// `GET /dataSource/{id}`, or a row of `GET /project/{id}/dataSources` (whose fields
/// `dataSourceId` and `dataSourceName` are its `id` and `name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    pub id: Id,
    pub name: String,
    pub blob_handler_type: Option<String>,
    pub deleted: bool,
    /// An explicit disabled state in the answer (a `disabled` field, or `status: "disabled"`).
    /// Immuta documents none, so this is usually `None` and the newest hint decides.
    pub explicit_disabled: Option<bool>,
}

/// `GET /project/{id}`, or a hit of the project search (`GET /project?isEqualized=true&…`). Its
/// `equalization` object says nothing certain about whether the project is equalized now, so it
/// is not read: [`EqualizationState`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: Id,
    pub name: String,
    pub status: Option<String>,
    pub deleted: bool,
    /// `isEqualized`: search hits carry it; `GET /project/{id}` does not, as documented.
    pub is_equalized: Option<bool>,
}

/// `GET /project/{id}/checkEqualizationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EqualizationState {
    Off,
    Recommended,
    Active,
    Upgrade,
    NonCompliantMembers,
}

impl EqualizationState {
    pub const ALL: [Self; 5] = [
        Self::Off,
        Self::Recommended,
        Self::Active,
        Self::Upgrade,
        Self::NonCompliantMembers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Recommended => "recommended",
            Self::Active => "active",
            Self::Upgrade => "upgrade",
            Self::NonCompliantMembers => "nonCompliantMembers",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// `active`, `upgrade` and `nonCompliantMembers` are states of an equalized project; `off`
    /// and `recommended` are not.
    pub fn is_equalized(self) -> bool {
        matches!(
            self,
            Self::Active | Self::Upgrade | Self::NonCompliantMembers
        )
    }
}

/// The newest `fields.disabled` of a `dataSourceUpdated` notification for one data source,
/// ordered by when the receiver accepted it (`receivedAtMs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisabledHint {
    pub disabled: bool,
    pub received_at_ms: i64,
}
