//! Which equalized projects hold a batch's data sources, and the cheaper way to read it.
//!
//! A data-source key needs the equalized projects holding its source. One project search per
//! source answers that (one call each, for a source in at most a page of projects). For a batch
//! with many sources, listing every equalized project and the data sources of each answers it
//! for all of them at once: one call per page of projects, plus at least one per project. The
//! processor asks [`try_listing`] how many equalized projects the listing may find and still
//! cost fewer calls, lists them if there are no more than that, and falls back to the searches
//! otherwise. Both ways give the same projects: a project holds a source when the
//! source is one of its data sources, deleted or not (the source's own read judges that).

use std::collections::BTreeMap;

use crate::notification::Id;
use crate::reads::{DataSource, Project};

/// The calls a listing of `projects` equalized projects costs at least: the pages of the project
/// listing (one even when it is empty) and one page of data sources per project. A project with
/// more than a page of data sources costs more; that is not known before its first page.
pub fn listing_calls(projects: usize, page_size: u32) -> usize {
    let page_size = page_size.max(1) as usize;
    projects.max(1).div_ceil(page_size) + projects
}

/// The most equalized projects for which listing them costs fewer calls than `searches`
/// project searches; `None` when no listing can (fewer than two searches).
pub fn projects_worth_listing(searches: usize, page_size: u32) -> Option<usize> {
    if listing_calls(0, page_size) >= searches {
        return None;
    }
    // listing_calls grows with `projects`: walk down from the first count it cannot beat.
    let mut projects = searches;
    while listing_calls(projects, page_size) >= searches {
        projects -= 1;
    }
    Some(projects)
}

/// Whether a batch making `searches` project searches should try the listing instead, and if so
/// the most equalized projects it may find (see [`projects_worth_listing`]). Finding out costs a
/// listing page that is wasted when there are more, so the listing is tried only when it can
/// save a call for at least one project (three searches or more), and not when the tenant was
/// last seen with more equalized projects than that (`seen_at_least`, from an earlier listing).
pub fn try_listing(searches: usize, page_size: u32, seen_at_least: Option<usize>) -> Option<usize> {
    let at_most = projects_worth_listing(searches, page_size).filter(|&n| n >= 1)?;
    match seen_at_least {
        Some(seen) if seen > at_most => None,
        _ => Some(at_most),
    }
}

/// The equalized projects holding each data source, from a listing of projects and their members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectsBySource {
    by_source: BTreeMap<Id, Vec<Project>>,
}

impl ProjectsBySource {
    pub fn new(listing: impl IntoIterator<Item = (Project, Vec<DataSource>)>) -> Self {
        let mut by_source: BTreeMap<Id, Vec<Project>> = BTreeMap::new();
        for (project, members) in listing {
            for member in members {
                let projects = by_source.entry(member.id).or_default();
                // A project lists a source once; a repeated row must not make a second view.
                if !projects.iter().any(|p| p.id == project.id) {
                    projects.push(project.clone());
                }
            }
        }
        Self { by_source }
    }

    /// The projects holding `data_source`, as a project search for it would list them.
    pub fn projects_with(&self, data_source: &Id) -> &[Project] {
        self.by_source
            .get(data_source)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: &str) -> Id {
        Id::new(n).unwrap()
    }

    fn hit(n: &str) -> Project {
        Project {
            id: id(n),
            name: format!("Project {n}"),
            status: Some("open".into()),
            deleted: false,
            is_equalized: Some(true),
        }
    }

    fn member(n: &str, deleted: bool) -> DataSource {
        DataSource {
            id: id(n),
            name: format!("Source {n}"),
            blob_handler_type: Some("PostgreSQL".into()),
            deleted,
            explicit_disabled: None,
        }
    }

    #[test]
    fn a_listing_costs_its_pages_and_a_page_of_members_per_project() {
        // (projects, page size, calls)
        for (projects, page_size, calls) in [
            (0, 100, 1),
            (1, 100, 2),
            (20, 100, 21),
            (100, 100, 101),
            (101, 100, 103),
            (20, 10, 22),
            (3, 1, 6),
            (3, 0, 6),
        ] {
            assert_eq!(
                listing_calls(projects, page_size),
                calls,
                "{projects} projects, pages of {page_size}"
            );
        }
    }

    #[test]
    fn listing_is_worth_it_only_while_it_costs_fewer_calls_than_the_searches() {
        // (searches, page size, most projects worth listing)
        for (searches, page_size, worth) in [
            (0, 100, None),
            (1, 100, None),
            (2, 100, Some(0)),
            (3, 100, Some(1)),
            // The storm: 200 sources; 20 projects (21 calls) is far below the break-even.
            (200, 100, Some(197)),
            (102, 100, Some(100)),
            (103, 100, Some(100)),
            (104, 100, Some(101)),
            (10, 1, Some(4)),
        ] {
            assert_eq!(
                projects_worth_listing(searches, page_size),
                worth,
                "{searches} searches, pages of {page_size}"
            );
            if let Some(projects) = worth {
                assert!(listing_calls(projects, page_size) < searches);
                assert!(listing_calls(projects + 1, page_size) >= searches);
            }
        }
    }

    #[test]
    fn the_listing_is_tried_when_it_can_save_a_call_and_the_tenant_was_not_seen_too_big() {
        // (searches, projects seen earlier, most projects the listing may find)
        for (searches, seen, tried) in [
            (2, None, None),
            (3, None, Some(1)),
            (3, Some(1), Some(1)),
            (3, Some(2), None),
            (200, None, Some(197)),
            (200, Some(20), Some(197)),
            (200, Some(197), Some(197)),
            (200, Some(198), None),
        ] {
            assert_eq!(
                try_listing(searches, 100, seen),
                tried,
                "{searches} searches, {seen:?} projects seen"
            );
        }
    }

    #[test]
    fn a_source_is_held_by_every_listed_project_that_has_it_as_a_member_once() {
        let listing = ProjectsBySource::new([
            (hit("1"), vec![member("10", false), member("11", false)]),
            (hit("2"), vec![member("11", false), member("12", true)]),
            (hit("3"), vec![member("11", false), member("11", false)]),
            (hit("4"), vec![]),
        ]);
        let ids = |source: &str| -> Vec<String> {
            listing
                .projects_with(&id(source))
                .iter()
                .map(|p| p.id.as_str().to_owned())
                .collect()
        };
        assert_eq!(ids("10"), ["1"]);
        assert_eq!(ids("11"), ["1", "2", "3"]);
        // A deleted member still belongs to its project, as the search finds it: the source's
        // own read decides whether it is gone.
        assert_eq!(ids("12"), ["2"]);
        assert!(ids("13").is_empty());
    }
}
