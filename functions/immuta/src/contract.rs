//! Each endpoint's answer read with the model the client uses: the contract check that the
//! corpus test, the simulator's test and `view-sync doctor` run against documented or live
//! answers.

use serde_json::Value;

use crate::answer::{Fields, ShapeError};
use crate::endpoint::Endpoint;
use crate::{model, webhooks};

impl Endpoint {
    /// Reads an answer of this endpoint with the model the client uses, for a contract check
    /// (the corpus test, the simulator test, `view-sync doctor`). The view SQL endpoint has no
    /// documented shape, so any answer passes here.
    pub fn check_answer(self, answer: &Value) -> Result<(), ShapeError> {
        match self {
            Self::Authenticate => Fields::of(self, answer)?.text("token").map(drop),
            Self::DataSource => model::data_source(answer).map(drop),
            Self::Project => model::project(answer).map(drop),
            Self::EqualizationState => model::equalization_state(answer).map(drop),
            Self::ProjectSearch => model::project_search_page(answer).map(drop),
            Self::ProjectDataSources => model::project_members_page(answer).map(drop),
            Self::ViewSql => Ok(()),
            Self::WebhookList => webhooks::webhook_list(answer).map(drop),
            Self::WebhookActions => webhooks::actions(answer).map(drop),
            Self::WebhookCreate => webhooks::created(answer).map(drop),
            Self::WebhookDelete => webhooks::deleted(answer).map(drop),
            Self::WebhookHistory => webhooks::history_page(answer).map(drop),
            Self::WebhookRetry => webhooks::delivery(Fields::of(self, answer)?).map(drop),
        }
    }
}
