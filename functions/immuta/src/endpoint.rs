//! The Immuta endpoints this project calls, named as errors, logs and `view-sync doctor` show them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Authenticate,
    DataSource,
    Project,
    EqualizationState,
    ProjectSearch,
    ProjectDataSources,
    ViewSql,
    WebhookList,
    WebhookActions,
    WebhookCreate,
    WebhookDelete,
    WebhookHistory,
    WebhookRetry,
}

impl Endpoint {
    pub const ALL: [Self; 13] = [
        Self::Authenticate,
        Self::DataSource,
        Self::Project,
        Self::EqualizationState,
        Self::ProjectSearch,
        Self::ProjectDataSources,
        Self::ViewSql,
        Self::WebhookList,
        Self::WebhookActions,
        Self::WebhookCreate,
        Self::WebhookDelete,
        Self::WebhookHistory,
        Self::WebhookRetry,
    ];

    /// The most an answer of this endpoint may hold, in bytes: it is read as a stream and
    /// refused at this size (or before, from its `Content-Length`), so that memory stays bounded
    /// whatever a server sends. A list's limit is per page. The view SQL's leaves room for a
    /// JSON wrapping (`VIEW_SQL_JSON_POINTER`) around the 1 MiB the view SQL may be.
    pub fn answer_limit(self) -> u64 {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        match self {
            Self::Authenticate => 64 * KIB,
            Self::DataSource | Self::Project | Self::EqualizationState => 2 * MIB,
            Self::WebhookActions
            | Self::WebhookCreate
            | Self::WebhookDelete
            | Self::WebhookRetry => 2 * MIB,
            Self::ViewSql => 4 * MIB,
            Self::ProjectSearch
            | Self::ProjectDataSources
            | Self::WebhookList
            | Self::WebhookHistory => 8 * MIB,
        }
    }

    /// The endpoint as a metric dimension value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authenticate => "Authenticate",
            Self::DataSource => "DataSource",
            Self::Project => "Project",
            Self::EqualizationState => "EqualizationState",
            Self::ProjectSearch => "ProjectSearch",
            Self::ProjectDataSources => "ProjectDataSources",
            Self::ViewSql => "ViewSql",
            Self::WebhookList => "WebhookList",
            Self::WebhookActions => "WebhookActions",
            Self::WebhookCreate => "WebhookCreate",
            Self::WebhookDelete => "WebhookDelete",
            Self::WebhookHistory => "WebhookHistory",
            Self::WebhookRetry => "WebhookRetry",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Authenticate => "POST /bim/apikey/authenticate",
            Self::DataSource => "GET /dataSource/{id}",
            Self::Project => "GET /project/{id}",
            Self::EqualizationState => "GET /project/{id}/checkEqualizationState",
            Self::ProjectSearch => "GET /project (search)",
            Self::ProjectDataSources => "GET /project/{id}/dataSources",
            Self::ViewSql => "GET VIEW_SQL_PATH (the view SQL endpoint)",
            Self::WebhookList => "GET /webhooks",
            Self::WebhookActions => "GET /webhooks/actions",
            Self::WebhookCreate => "POST /webhooks",
            Self::WebhookDelete => "DELETE /webhooks/{id}",
            Self::WebhookHistory => "GET /webhooks/history",
            Self::WebhookRetry => "POST /webhooks/history/retry/{id}",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
