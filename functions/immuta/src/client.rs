//! The endpoints we call, and paging. Requests go through [`Transport`]; answers are read into
//! the plain models of `view_sync_core::reads` by [`crate::model`].

use std::time::Instant;

use reqwest::Method;
use serde_json::Value;
use view_sync_core::Id;
use view_sync_core::reads::{DataSource, EqualizationState, Project};

use crate::answer::{Fields, ShapeError};
use crate::config::{ImmutaConfig, ViewSqlEndpoint};
use crate::endpoint::Endpoint;
use crate::error::ImmutaError;
use crate::model::{self, Page};
use crate::paging::{Inconsistent, ListItem, NextPage, PagesRead};
use crate::transport::{Transport, decode_error};

pub struct ImmutaClient {
    transport: Transport,
}

impl std::fmt::Debug for ImmutaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImmutaClient")
            .field("config", self.transport.config())
            .finish_non_exhaustive()
    }
}

/// How a list endpoint pages: the member holding the items and the name of its page-size query
/// parameter (`size`, or `pageSize` for the webhook history).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub member: &'static str,
    pub size_parameter: &'static str,
}

const PROJECT_SEARCH: Paging = Paging {
    member: "hits",
    size_parameter: "size",
};

impl ImmutaClient {
    pub fn new(config: ImmutaConfig) -> Result<Self, ImmutaError> {
        Ok(Self {
            transport: Transport::new(config)?,
        })
    }

    pub fn config(&self) -> &ImmutaConfig {
        self.transport.config()
    }

    /// `GET /dataSource/{id}`.
    pub async fn data_source(&self, id: &Id, deadline: Instant) -> Result<DataSource, ImmutaError> {
        let path = format!("/dataSource/{}", encode(id.as_str()));
        Ok(model::data_source(
            &self.get_json(Endpoint::DataSource, &path, deadline).await?,
        )?)
    }

    /// `GET /project/{id}`.
    pub async fn project(&self, id: &Id, deadline: Instant) -> Result<Project, ImmutaError> {
        let path = format!("/project/{}", encode(id.as_str()));
        Ok(model::project(
            &self.get_json(Endpoint::Project, &path, deadline).await?,
        )?)
    }

    /// `GET /project/{id}/checkEqualizationState`.
    pub async fn equalization_state(
        &self,
        id: &Id,
        deadline: Instant,
    ) -> Result<EqualizationState, ImmutaError> {
        let path = format!("/project/{}/checkEqualizationState", encode(id.as_str()));
        Ok(model::equalization_state(
            &self
                .get_json(Endpoint::EqualizationState, &path, deadline)
                .await?,
        )?)
    }

    /// Whether the project is equalized: its `isEqualized` if the answer carried one, otherwise
    /// `checkEqualizationState` (never the `equalization` object).
    pub async fn is_equalized(
        &self,
        project: &Project,
        deadline: Instant,
    ) -> Result<bool, ImmutaError> {
        match project.is_equalized {
            Some(equalized) => Ok(equalized),
            None => Ok(self
                .equalization_state(&project.id, deadline)
                .await?
                .is_equalized()),
        }
    }

    /// Every equalized project containing the data source (project search, all pages).
    pub async fn equalized_projects_with(
        &self,
        data_source: &Id,
        deadline: Instant,
    ) -> Result<Vec<Project>, ImmutaError> {
        let path = format!(
            "{}?isEqualized=true&dataSourceId={}",
            self.config().project_search_path,
            encode(data_source.as_str())
        );
        self.search_projects(&path, deadline).await
    }

    /// Every equalized project (project search without a data source, all pages).
    pub async fn equalized_projects(&self, deadline: Instant) -> Result<Vec<Project>, ImmutaError> {
        let path = format!("{}?isEqualized=true", self.config().project_search_path);
        self.search_projects(&path, deadline).await
    }

    /// Every equalized project, or `None` as soon as the listing shows more than `at_most`
    /// (from the first page's `count`, or from the hits received when the answer has none).
    pub async fn equalized_projects_up_to(
        &self,
        at_most: usize,
        deadline: Instant,
    ) -> Result<Option<Vec<Project>>, ImmutaError> {
        let path = format!("{}?isEqualized=true", self.config().project_search_path);
        self.pages_up_to(
            Endpoint::ProjectSearch,
            &path,
            PROJECT_SEARCH,
            model::project_hit,
            Some(at_most),
            deadline,
        )
        .await
    }

    async fn search_projects(
        &self,
        path: &str,
        deadline: Instant,
    ) -> Result<Vec<Project>, ImmutaError> {
        self.all_pages(
            Endpoint::ProjectSearch,
            path,
            PROJECT_SEARCH,
            model::project_hit,
            deadline,
        )
        .await
    }

    /// Every data source of the project (all pages; Immuta's own page size here is 15).
    pub async fn project_data_sources(
        &self,
        project: &Id,
        deadline: Instant,
    ) -> Result<Vec<DataSource>, ImmutaError> {
        let path = format!("/project/{}/dataSources", encode(project.as_str()));
        let paging = Paging {
            member: "dataSources",
            size_parameter: "size",
        };
        self.all_pages(
            Endpoint::ProjectDataSources,
            &path,
            paging,
            model::project_member,
            deadline,
        )
        .await
    }

    /// The SQL of the native view of `data_source` in `project`, from the configured endpoint.
    pub async fn view_sql(
        &self,
        endpoint: &ViewSqlEndpoint,
        project: &Id,
        data_source: &Id,
        deadline: Instant,
    ) -> Result<String, ImmutaError> {
        let path = endpoint
            .path
            .replace("{projectId}", &encode(project.as_str()))
            .replace("{dataSourceId}", &encode(data_source.as_str()));
        let body = self
            .transport
            .request(Endpoint::ViewSql, Method::GET, &path, None, deadline)
            .await?;
        let text =
            String::from_utf8(body).map_err(|_| decode_error(&path, "the answer is not UTF-8"))?;
        if looks_like_html(&text) {
            return Err(decode_error(
                &path,
                "the answer is an HTML page, not SQL (a login page or a proxy's error page?); \
                 check IMMUTA_URL and VIEW_SQL_PATH",
            ));
        }
        let Some(pointer) = &endpoint.json_pointer else {
            return Ok(text);
        };
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            decode_error(
                &path,
                format!("VIEW_SQL_JSON_POINTER is set but the answer is not JSON ({e})"),
            )
        })?;
        match json.pointer(pointer) {
            Some(Value::String(sql)) => Ok(sql.clone()),
            Some(_) => Err(decode_error(
                &path,
                format!("VIEW_SQL_JSON_POINTER {pointer} does not point at a string"),
            )),
            None => Err(decode_error(
                &path,
                format!("VIEW_SQL_JSON_POINTER {pointer} matches nothing in the answer"),
            )),
        }
    }

    /// Every item of a list endpoint, paged with `IMMUTA_PAGE_SIZE` and checked as
    /// [`PagesRead`] says.
    pub(crate) async fn all_pages<T: ListItem>(
        &self,
        endpoint: Endpoint,
        path: &str,
        paging: Paging,
        read_item: impl Fn(Fields<'_>) -> Result<T, ShapeError> + Copy,
        deadline: Instant,
    ) -> Result<Vec<T>, ImmutaError> {
        let items = self
            .pages_up_to(endpoint, path, paging, read_item, None, deadline)
            .await?;
        Ok(items.expect("a list without a limit is never cut short"))
    }

    /// [`Self::all_pages`], or `None` once the list shows more than `at_most` items.
    async fn pages_up_to<T: ListItem>(
        &self,
        endpoint: Endpoint,
        path: &str,
        paging: Paging,
        read_item: impl Fn(Fields<'_>) -> Result<T, ShapeError> + Copy,
        at_most: Option<usize>,
        deadline: Instant,
    ) -> Result<Option<Vec<T>>, ImmutaError> {
        let size = u64::from(self.config().page_size);
        let exceeds = |n: u64| at_most.is_some_and(|at_most| n > at_most as u64);
        let inconsistent = |e: Inconsistent| ImmutaError::Inconsistent {
            path: path.to_owned(),
            detail: e.0,
        };
        let page_at = async |offset: u64, size: u64| {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = format!(
                "{path}{separator}offset={offset}&{}={size}",
                paging.size_parameter
            );
            let answer = self.get_json(endpoint, &page_path, deadline).await?;
            Ok::<_, ImmutaError>(Page::read(endpoint, paging.member, &answer, read_item)?)
        };
        let mut items: Vec<T> = Vec::new();
        let mut pages = PagesRead::default();
        loop {
            let offset = items.len() as u64;
            let page = page_at(offset, size).await?;
            let next = pages
                .take(offset, page.count, &ids_of(&page.items), size)
                .map_err(inconsistent)?;
            items.extend(page.items);
            if page.count.is_some_and(exceeds) || exceeds(items.len() as u64) {
                return Ok(None);
            }
            match next {
                NextPage::Fetch => {}
                NextPage::Done => return Ok(Some(items)),
                NextPage::ProbeEnd { offset, size } => {
                    let probe = page_at(offset, size).await?;
                    pages
                        .check_end(&ids_of(&probe.items))
                        .map_err(inconsistent)?;
                    return Ok(Some(items));
                }
                NextPage::Truncated => {
                    return Err(ImmutaError::Truncated {
                        path: path.to_owned(),
                        count: page.count.unwrap_or_default(),
                        received: items.len() as u64,
                    });
                }
            }
        }
    }

    /// A `GET` whose answer must be JSON, as it came (for checks such as `view-sync doctor`;
    /// the typed calls above read answers into models).
    pub async fn get_json(
        &self,
        endpoint: Endpoint,
        path: &str,
        deadline: Instant,
    ) -> Result<Value, ImmutaError> {
        self.send(endpoint, Method::GET, path, None, deadline).await
    }

    /// A request whose answer must be JSON.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<&Value>,
        deadline: Instant,
    ) -> Result<Value, ImmutaError> {
        let bytes = self
            .transport
            .request(endpoint, method, path, body, deadline)
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| decode_error(path, format!("the answer is not JSON ({e})")))
    }
}

fn ids_of<T: ListItem>(items: &[T]) -> Vec<&str> {
    items.iter().map(ListItem::list_id).collect()
}

fn looks_like_html(text: &str) -> bool {
    let start: String = text
        .trim_start()
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// Ids in paths and query values are percent-encoded.
pub(crate) use view_sync_core::percent::encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded_and_html_is_recognised() {
        assert_eq!(encode("a b/1"), "a%20b%2F1");
        assert!(looks_like_html("\n<!DOCTYPE html><html>"));
        assert!(looks_like_html("<HTML><body>Sign in"));
        assert!(!looks_like_html("SELECT '<html>' AS x"));
    }
}
