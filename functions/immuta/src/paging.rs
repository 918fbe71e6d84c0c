//! The paging rules of Immuta's lists, pure: when to fetch another page, and what makes a list
//! unusable. A list we page is the basis of drops (a data source missing from its project's list
//! loses its view), so a list is only "complete" when its pages are consistent: no page repeats
//! items already read (a server or proxy that ignores `offset`), no item comes twice, there are
//! never more items than the announced count and, when pages run out, never fewer.

use std::collections::HashMap;

/// An item of a paged list, by the id that makes it unique in the list.
pub trait ListItem {
    fn list_id(&self) -> &str;
}

impl ListItem for view_sync_core::reads::Project {
    fn list_id(&self) -> &str {
        self.id.as_str()
    }
}

impl ListItem for view_sync_core::reads::DataSource {
    fn list_id(&self) -> &str {
        self.id.as_str()
    }
}

/// What to do after a page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextPage {
    Fetch,
    Done,
    /// A list without a count, of more than one page, ended: fetch its last two items alone
    /// (`offset=total-2`, two items) and hand them to [`PagesRead::check_end`] before trusting
    /// it. A server or proxy that reads `offset` otherwise (a page number, say) ends the list
    /// early, and only this tells that apart from the end (with two items, since at a page size
    /// of one a page number and an offset are the same).
    ProbeEnd {
        offset: u64,
        size: u64,
    },
    /// The list ended before its announced count.
    Truncated,
}

/// Why the pages read so far cannot make a complete list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inconsistent(pub String);

/// The pages of one list read so far.
#[derive(Debug, Default)]
pub(crate) struct PagesRead {
    /// Each id read, with the offset of the page that brought it.
    offsets: HashMap<String, u64>,
    /// The count the first page announced.
    count: Option<Option<u64>>,
    /// Items in the pages before the last one read.
    previous_page: Option<u64>,
    /// The last two ids read (fewer if the list has fewer).
    last: Vec<String>,
    /// Items read so far.
    read: u64,
    /// Pages read so far.
    pages: u32,
}

impl PagesRead {
    /// Takes the page read at `offset` (the items read before it), with the count it announced,
    /// and says what to do next.
    pub fn take(
        &mut self,
        offset: u64,
        count: Option<u64>,
        ids: &[&str],
        requested: u64,
    ) -> Result<NextPage, Inconsistent> {
        match self.count {
            None => self.count = Some(count),
            Some(first) if first != count => {
                return Err(Inconsistent(format!(
                    "the count changed from {} to {} between pages: the list changed while it was \
                     paged",
                    shown(first),
                    shown(count)
                )));
            }
            Some(_) => {}
        }
        let repeated = ids
            .iter()
            .filter(|id| self.offsets.contains_key(**id))
            .count();
        if !ids.is_empty() && repeated == ids.len() {
            return Err(Inconsistent(format!(
                "the page at offset {offset} repeats {} item(s) already read (does the server or \
                 a proxy ignore `offset`?)",
                ids.len()
            )));
        }
        for id in ids {
            if let Some(first) = self.offsets.insert((*id).to_owned(), offset) {
                return Err(Inconsistent(format!(
                    "item {} came twice (in the pages at offsets {first} and {offset}): the list \
                     changed while it was paged, or the server pages wrongly",
                    view_sync_core::printable::printable(id)
                )));
            }
        }
        let received = ids.len() as u64;
        let total = offset + received;
        if let Some(count) = count
            && total > count
        {
            return Err(Inconsistent(format!(
                "{total} items were read, more than the announced count of {count}"
            )));
        }
        let next = next_page(count, total, received, requested, self.previous_page);
        self.previous_page = Some(received);
        for id in ids {
            if self.last.len() == END_PROBE_SIZE {
                self.last.remove(0);
            }
            self.last.push((*id).to_owned());
        }
        self.read = total;
        self.pages += 1;
        // A list without a count of more than one page is trusted only once its end is probed:
        // a server that reads `offset` as a page number ends it early, on an empty page or on a
        // short one.
        Ok(match (next, count) {
            (NextPage::Done, None) if total > 0 && self.pages > 1 => {
                let size = self.last.len() as u64;
                NextPage::ProbeEnd {
                    offset: total - size,
                    size,
                }
            }
            (next, _) => next,
        })
    }

    /// The answer to [`NextPage::ProbeEnd`]: it must hold exactly the last items read.
    pub fn check_end(&self, ids: &[&str]) -> Result<(), Inconsistent> {
        if ids.iter().copied().eq(self.last.iter().map(String::as_str)) {
            return Ok(());
        }
        Err(Inconsistent(format!(
            "the list ended after {} items, but asked for its last {} the server answered {} \
             other item(s) (does the server or a proxy read `offset` otherwise?)",
            self.read,
            self.last.len(),
            ids.len()
        )))
    }
}

/// Items a [`NextPage::ProbeEnd`] asks for.
const END_PROBE_SIZE: usize = 2;

fn shown(count: Option<u64>) -> String {
    count.map_or_else(|| "none".into(), |count| count.to_string())
}

/// With a `count`, page until the offset reaches it (an empty page before that means the list
/// may be truncated). Without one (the seed's project search has none), keep paging while pages
/// come back full: a page shorter than both the size asked for and the previous page is the
/// last; so is an empty one. A first page shorter than asked proves nothing (the server may cap
/// the page size), so one more page is fetched.
fn next_page(
    count: Option<u64>,
    offset: u64,
    received: u64,
    requested: u64,
    previous: Option<u64>,
) -> NextPage {
    match count {
        Some(count) if offset >= count => NextPage::Done,
        Some(_) if received == 0 => NextPage::Truncated,
        Some(_) => NextPage::Fetch,
        None if received == 0 => NextPage::Done,
        None if received < requested && previous.is_some_and(|p| received < p) => NextPage::Done,
        None => NextPage::Fetch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_a_count_pages_run_to_it_and_an_early_end_is_a_truncation() {
        assert_eq!(next_page(Some(40), 15, 15, 15, None), NextPage::Fetch);
        assert_eq!(next_page(Some(40), 40, 10, 15, Some(15)), NextPage::Done);
        assert_eq!(next_page(Some(0), 0, 0, 15, None), NextPage::Done);
        assert_eq!(
            next_page(Some(40), 30, 0, 15, Some(15)),
            NextPage::Truncated
        );
        // A server that pages by fewer than asked is still followed to the count.
        assert_eq!(next_page(Some(40), 10, 10, 100, None), NextPage::Fetch);
    }

    #[test]
    fn without_a_count_pages_are_followed_while_full() {
        // Full pages: go on; an empty page ends the list.
        assert_eq!(next_page(None, 100, 100, 100, None), NextPage::Fetch);
        assert_eq!(next_page(None, 100, 0, 100, Some(100)), NextPage::Done);
        // Shorter than asked and than the page before: the last page.
        assert_eq!(next_page(None, 137, 37, 100, Some(100)), NextPage::Done);
        // A first short page may be a server's own page size: one more page tells.
        assert_eq!(next_page(None, 10, 10, 100, None), NextPage::Fetch);
        assert_eq!(next_page(None, 20, 10, 100, Some(10)), NextPage::Fetch);
        assert_eq!(next_page(None, 25, 5, 100, Some(10)), NextPage::Done);
    }

    fn ids(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| i.to_string()).collect()
    }

    fn take(
        pages: &mut PagesRead,
        offset: u64,
        count: Option<u64>,
        ids: &[String],
    ) -> Result<NextPage, String> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        pages.take(offset, count, &ids, 2).map_err(|e| e.0)
    }

    #[test]
    fn consistent_pages_make_a_complete_list() {
        let mut pages = PagesRead::default();
        assert_eq!(
            take(&mut pages, 0, Some(5), &ids(0..2)),
            Ok(NextPage::Fetch)
        );
        assert_eq!(
            take(&mut pages, 2, Some(5), &ids(2..4)),
            Ok(NextPage::Fetch)
        );
        assert_eq!(take(&mut pages, 4, Some(5), &ids(4..5)), Ok(NextPage::Done));
    }

    #[test]
    fn a_server_that_ignores_the_offset_is_caught_with_or_without_a_count() {
        for count in [Some(5), None] {
            let mut pages = PagesRead::default();
            assert_eq!(take(&mut pages, 0, count, &ids(0..2)), Ok(NextPage::Fetch));
            let error = take(&mut pages, 2, count, &ids(0..2)).unwrap_err();
            assert_eq!(
                error,
                "the page at offset 2 repeats 2 item(s) already read (does the server or a proxy \
                 ignore `offset`?)"
            );
        }
    }

    #[test]
    fn an_item_read_twice_more_items_than_the_count_or_a_moving_count_are_refused() {
        let mut pages = PagesRead::default();
        take(&mut pages, 0, Some(5), &ids(0..2)).unwrap();
        let error = take(&mut pages, 2, Some(5), &["1".to_owned(), "7".to_owned()]).unwrap_err();
        assert!(
            error.starts_with("item 1 came twice (in the pages at offsets 0 and 2)"),
            "{error}"
        );

        let mut pages = PagesRead::default();
        let error = take(&mut pages, 0, Some(1), &ids(0..2)).unwrap_err();
        assert_eq!(
            error,
            "2 items were read, more than the announced count of 1"
        );

        let mut pages = PagesRead::default();
        take(&mut pages, 0, Some(5), &ids(0..2)).unwrap();
        let error = take(&mut pages, 2, Some(6), &ids(2..4)).unwrap_err();
        assert!(
            error.starts_with("the count changed from 5 to 6"),
            "{error}"
        );

        // Within one page too, and an id is shown escaped.
        let mut pages = PagesRead::default();
        let error = take(
            &mut pages,
            0,
            None,
            &["a\u{1b}".to_owned(), "a\u{1b}".to_owned()],
        )
        .unwrap_err();
        assert!(error.starts_with("item a\\u{1b} came twice"), "{error}");
    }

    #[test]
    fn a_list_without_a_count_that_ends_on_an_empty_page_is_probed_at_its_end() {
        let mut pages = PagesRead::default();
        assert_eq!(take(&mut pages, 0, None, &ids(0..2)), Ok(NextPage::Fetch));
        assert_eq!(take(&mut pages, 2, None, &ids(2..4)), Ok(NextPage::Fetch));
        assert_eq!(
            take(&mut pages, 4, None, &[]),
            Ok(NextPage::ProbeEnd { offset: 2, size: 2 })
        );
        assert_eq!(pages.check_end(&["2", "3"]), Ok(()));
        // A proxy that read `offset` as a page number: nothing, or other items, there.
        let error = pages.check_end(&[]).unwrap_err().0;
        assert_eq!(
            error,
            "the list ended after 4 items, but asked for its last 2 the server answered 0 other \
             item(s) (does the server or a proxy read `offset` otherwise?)"
        );
        assert!(pages.check_end(&["4", "5"]).is_err());
        assert!(pages.check_end(&["3"]).is_err());
        // One item: probed alone.
        let mut pages = PagesRead::default();
        take(&mut pages, 0, None, &ids(0..1)).unwrap();
        assert_eq!(
            take(&mut pages, 1, None, &[]),
            Ok(NextPage::ProbeEnd { offset: 0, size: 1 })
        );
        // A short last page after a full one is probed too (a page-number server can end there).
        let mut pages = PagesRead::default();
        take(&mut pages, 0, None, &ids(0..2)).unwrap();
        assert_eq!(
            take(&mut pages, 2, None, &ids(2..3)),
            Ok(NextPage::ProbeEnd { offset: 1, size: 2 })
        );
        // One page, or an empty list, needs none: there is no offset to misread.
        let mut pages = PagesRead::default();
        take(&mut pages, 0, None, &ids(0..2)).unwrap();
        assert_eq!(
            take(&mut pages, 2, None, &[]),
            Ok(NextPage::ProbeEnd { offset: 0, size: 2 })
        );
        assert_eq!(
            take(&mut PagesRead::default(), 0, None, &[]),
            Ok(NextPage::Done)
        );
    }

    #[test]
    fn fewer_items_than_the_count_when_pages_run_out_is_a_truncation() {
        let mut pages = PagesRead::default();
        take(&mut pages, 0, Some(5), &ids(0..2)).unwrap();
        assert_eq!(take(&mut pages, 2, Some(5), &[]), Ok(NextPage::Truncated));
    }
}
