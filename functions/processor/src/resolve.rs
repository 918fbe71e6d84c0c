//! What a key's read of Immuta says: the scope the reconcile is authoritative for and the views
//! it wants, named by the template. The rules are `view_sync_core::want`'s; this reads Immuta
//! for them.

use std::time::Instant;

use immuta::{ImmutaClient, ImmutaError};
use view_sync_core::Id;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::naming::{self, NameParts};
use view_sync_core::plan::{Scope, ViewKey};
use view_sync_core::view_sql::ViewLocation;
use view_sync_core::want::{self, DisabledHints, SourceVerdict, WantedView};

use views::ViewStore;

use crate::config::ProcessorConfig;
use crate::error::ReconcileError;
use crate::memberships::{BatchMemberships, ProjectsSeen};

/// A view a key wants, named by the template, where it goes (its project's schema) and the roles
/// that may read it (`VIEW_GRANT_ROLES` rendered for its project).
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub(crate) view: ViewKey,
    pub(crate) name: String,
    pub(crate) location: ViewLocation,
    pub(crate) grants: Vec<String>,
}

/// What one key's read of Immuta says.
#[derive(Debug)]
pub(crate) struct Resolution {
    /// `None`: nothing to do (e.g. a data source of a handler type we do not serve).
    pub(crate) scope: Option<Scope>,
    pub(crate) wanted: Vec<Wanted>,
    /// The object Immuta answered 404 for, whose views are dropped though the 404 may mean
    /// "deleted" or "the key may not read it" (see [`not_found`]).
    pub(crate) not_found: Option<String>,
}

/// What a key's read of Immuta needs: the client, and how views are named, placed and granted.
pub(crate) struct KeyReader<'a> {
    pub(crate) immuta: &'a ImmutaClient,
    pub(crate) config: &'a ProcessorConfig,
    pub(crate) store: &'a ViewStore,
    pub(crate) projects_seen: &'a ProjectsSeen,
}

impl KeyReader<'_> {
    pub(crate) async fn resolve(
        &self,
        key: &ReconcileKey,
        hints: &DisabledHints,
        memberships: &BatchMemberships,
        deadline: Instant,
    ) -> Result<Resolution, ReconcileError> {
        match key {
            ReconcileKey::DataSource { data_source_id } => {
                let scope = Scope::DataSource(data_source_id.clone());
                self.resolve_source(scope, data_source_id, None, hints, memberships, deadline)
                    .await
            }
            ReconcileKey::Membership {
                project_id,
                data_source_id,
            } => {
                let view = ViewKey {
                    project_id: project_id.clone(),
                    data_source_id: data_source_id.clone(),
                };
                self.resolve_source(
                    Scope::View(view),
                    data_source_id,
                    Some(project_id),
                    hints,
                    memberships,
                    deadline,
                )
                .await
            }
            ReconcileKey::Project { project_id } => {
                let scope = Some(Scope::Project(project_id.clone()));
                let project = found(self.immuta.project(project_id, deadline).await)?;
                let project = match project {
                    Some(project) if want::project_is_live(Some(&project)) => project,
                    read => {
                        return Ok(Resolution {
                            scope,
                            wanted: Vec::new(),
                            not_found: read
                                .is_none()
                                .then(|| not_found(&format!("project {project_id}"))),
                        });
                    }
                };
                if !self.immuta.is_equalized(&project, deadline).await? {
                    return Ok(Resolution {
                        scope,
                        wanted: Vec::new(),
                        not_found: None,
                    });
                }
                let members = self
                    .immuta
                    .project_data_sources(project_id, deadline)
                    .await?;
                let wanted =
                    want::views_of_project(&project, &members, hints, &self.config.handlers);
                Ok(Resolution {
                    scope,
                    wanted: self.named(wanted),
                    not_found: None,
                })
            }
        }
    }

    /// A data source's views: in every live, equalized project holding it (or in `only_project`).
    /// One project search answers membership and equalization at once, or the batch's listing.
    async fn resolve_source(
        &self,
        scope: Scope,
        data_source_id: &Id,
        only_project: Option<&Id>,
        hints: &DisabledHints,
        memberships: &BatchMemberships,
        deadline: Instant,
    ) -> Result<Resolution, ReconcileError> {
        let source = found(self.immuta.data_source(data_source_id, deadline).await)?;
        let source = match want::judge_source(source.as_ref(), hints, &self.config.handlers) {
            SourceVerdict::Gone => {
                return Ok(Resolution {
                    scope: Some(scope),
                    wanted: Vec::new(),
                    not_found: source
                        .is_none()
                        .then(|| not_found(&format!("data source {data_source_id}"))),
                });
            }
            SourceVerdict::NotServed => {
                return Ok(Resolution {
                    scope: None,
                    wanted: Vec::new(),
                    not_found: None,
                });
            }
            SourceVerdict::Live => source.expect("a live source was read"),
        };
        let projects = memberships
            .equalized_projects_holding(self.immuta, self.projects_seen, data_source_id, deadline)
            .await?;
        let wanted = want::views_of_source(&source, &projects, only_project);
        Ok(Resolution {
            scope: Some(scope),
            wanted: self.named(wanted),
            not_found: None,
        })
    }

    fn named(&self, wanted: Vec<WantedView>) -> Vec<Wanted> {
        wanted
            .into_iter()
            .map(|w| Wanted {
                name: self.config.naming.render(NameParts {
                    project_id: w.view.project_id.as_str(),
                    project_name: &w.project_name,
                    data_source_id: w.view.data_source_id.as_str(),
                    data_source_name: &w.data_source_name,
                }),
                location: self
                    .store
                    .location_of(w.view.project_id.as_str(), &w.project_name),
                grants: naming::project_roles(
                    &self.config.store.grant_roles,
                    w.view.project_id.as_str(),
                    &w.project_name,
                ),
                view: w.view,
            })
            .collect()
    }
}

/// What the audit trail and the log say of views dropped after a 404: Immuta answers a key that
/// may not read an object (`GET /dataSource/{id}` needs ownership, GOVERNANCE, a subscription or
/// a public source) as it answers for a deleted one, so the drop happens (fail closed) and says
/// both. `view-sync doctor` tells which it is.
fn not_found(object: &str) -> String {
    let note =
        format!("{object} not found: deleted, or the key may not read it (see `view-sync doctor`)");
    tracing::warn!(note = %note, "Immuta answered 404: its views are dropped");
    note
}

/// An object Immuta answered, or `None` when it does not know it (404).
fn found<T>(read: Result<T, ImmutaError>) -> Result<Option<T>, ReconcileError> {
    match read {
        Ok(object) => Ok(Some(object)),
        Err(ImmutaError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
