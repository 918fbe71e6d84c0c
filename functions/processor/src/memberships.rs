//! Which equalized projects hold a batch's data sources: a project search per source, or one
//! listing of the equalized projects and their data sources for the whole batch when that costs
//! fewer calls (the rule is `view_sync_core::memberships`'s).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use futures_util::future::try_join_all;
use immuta::{ImmutaClient, ImmutaError};
use tokio::sync::OnceCell;
use tracing::{info, warn};
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::memberships::{ProjectsBySource, listing_calls, try_listing};
use view_sync_core::reads::Project;
use view_sync_core::want;

/// How many equalized projects the last listing saw (at least), for the process's life: a warm
/// processor does not pay again for a listing page that cannot pay off.
#[derive(Debug, Default)]
pub(crate) struct ProjectsSeen(Mutex<Option<usize>>);

impl ProjectsSeen {
    fn get(&self) -> Option<usize> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self, at_least: usize) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(at_least);
    }
}

/// How one batch learns which projects hold its data sources.
#[derive(Debug)]
pub(crate) struct BatchMemberships {
    /// The searches the batch would make, one per distinct data source.
    searches: usize,
    /// The most equalized projects a listing may find and still cost fewer calls than the
    /// searches; `None`: search.
    worth_listing: Option<usize>,
    /// The listing, made by the first key that needs it; `None` inside when it did not pay
    /// (more projects than `worth_listing`) or failed, and every key searches instead.
    listed: OnceCell<Option<ProjectsBySource>>,
}

impl BatchMemberships {
    pub(crate) fn for_keys(keys: &[ReconcileKey], page_size: u32, seen: &ProjectsSeen) -> Self {
        let sources: BTreeSet<&Id> = keys
            .iter()
            .filter_map(|key| match key {
                ReconcileKey::DataSource { data_source_id }
                | ReconcileKey::Membership { data_source_id, .. } => Some(data_source_id),
                ReconcileKey::Project { .. } => None,
            })
            .collect();
        Self {
            searches: sources.len(),
            worth_listing: try_listing(sources.len(), page_size, seen.get()),
            listed: OnceCell::new(),
        }
    }
}

impl BatchMemberships {
    /// The equalized projects holding `data_source`, from the batch's listing if it has one.
    pub(crate) async fn equalized_projects_holding(
        &self,
        immuta: &ImmutaClient,
        seen: &ProjectsSeen,
        data_source: &Id,
        deadline: Instant,
    ) -> Result<Vec<Project>, ImmutaError> {
        if let Some(at_most) = self.worth_listing {
            let listed = self
                .listed
                .get_or_init(|| list_memberships(immuta, seen, self.searches, at_most, deadline))
                .await;
            if let Some(listing) = listed {
                return Ok(listing.projects_with(data_source).to_vec());
            }
        }
        immuta.equalized_projects_with(data_source, deadline).await
    }
}

/// Every live equalized project and its data sources, or `None` when there are more than
/// `at_most` of them, or the listing failed (the searches are the way that always works).
async fn list_memberships(
    immuta: &ImmutaClient,
    seen: &ProjectsSeen,
    searches: usize,
    at_most: usize,
    deadline: Instant,
) -> Option<ProjectsBySource> {
    let listing = async {
        let Some(projects) = immuta.equalized_projects_up_to(at_most, deadline).await? else {
            seen.set(at_most + 1);
            return Ok(None);
        };
        seen.set(projects.len());
        let live: Vec<Project> = projects
            .into_iter()
            .filter(want::hit_is_live_and_equalized)
            .collect();
        let members = try_join_all(live.iter().map(|project| async {
            match immuta.project_data_sources(&project.id, deadline).await {
                // Gone since the listing: it holds nothing now.
                Err(ImmutaError::NotFound { .. }) => Ok(Vec::new()),
                read => read,
            }
        }))
        .await?;
        Ok::<_, ImmutaError>(Some(live.into_iter().zip(members).collect::<Vec<_>>()))
    };
    match listing.await {
        Ok(Some(listing)) => {
            info!(
                projects = listing.len(),
                searches,
                calls_at_least = listing_calls(listing.len(), immuta.config().page_size),
                "the batch's data sources: one listing of the equalized projects instead of a search per source"
            );
            Some(ProjectsBySource::new(listing))
        }
        Ok(None) => {
            info!(
                searches,
                at_most, "more equalized projects than a listing pays for: a search per source"
            );
            None
        }
        Err(error) => {
            warn!(error = %error, searches, "listing the equalized projects failed: a search per source instead");
            None
        }
    }
}
