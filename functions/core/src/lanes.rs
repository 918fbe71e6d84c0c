//! Which of a batch's applies may run at once. Two applies touch each other only through a name:
//! the one a view has (a rename or a drop frees it) and those it may take (its name, or its
//! alternate when another view of ours holds that one, [`crate::plan::named_target`]). Applies
//! that share no name and are not of one view commute: run in any interleaving, they give every
//! view the name the batch's order gives it, which is the name `view-sync plan` predicts. So the
//! batch is cut into lanes, each run in the batch's order, and the lanes run side by side.
//!
//! Names are compared without regard to case: some databases fold them (MariaDB with
//! `lower_case_table_names`), and two names kept apart for nothing only cost concurrency.

use std::collections::BTreeMap;

use crate::plan::{Target, ViewKey};

/// The lanes of `targets`: each a list of indices into `targets`, in increasing order; the lanes
/// ordered by their first index. `name_of(view)` is the name the ledger shows the view under, if
/// it has one.
pub fn lanes<'t, 'a>(
    targets: impl ExactSizeIterator<Item = &'t Target>,
    name_of: impl Fn(&ViewKey) -> Option<&'a str>,
) -> Vec<Vec<usize>> {
    let len = targets.len();
    let mut joined = Joined::new(len);
    let mut first_with_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_of_view: BTreeMap<&ViewKey, usize> = BTreeMap::new();
    for (index, target) in targets.enumerate() {
        let view = target.view();
        if let Some(&first) = first_of_view.get(view) {
            joined.join(first, index);
        } else {
            first_of_view.insert(view, index);
        }
        for name in names(target, name_of(view)) {
            match first_with_name.get(&name) {
                Some(&first) => joined.join(first, index),
                None => {
                    first_with_name.insert(name, index);
                }
            }
        }
    }
    let mut lanes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for index in 0..len {
        lanes.entry(joined.root(index)).or_default().push(index);
    }
    let mut lanes: Vec<Vec<usize>> = lanes.into_values().collect();
    lanes.sort_by_key(|lane| lane[0]);
    lanes
}

/// Every name an apply of `target` may free or take, folded to lower case.
fn names(target: &Target, known_as: Option<&str>) -> Vec<String> {
    known_as
        .into_iter()
        .map(str::to_owned)
        .chain(target.names_it_may_take())
        .filter(|name| !name.is_empty())
        .map(|name| name.to_lowercase())
        .collect()
}

/// Sets of indices, joined (a union-find: each index points towards its set's root).
struct Joined {
    parent: Vec<usize>,
}

impl Joined {
    fn new(len: usize) -> Self {
        Self {
            parent: (0..len).collect(),
        }
    }

    fn root(&mut self, mut index: usize) -> usize {
        while self.parent[index] != index {
            self.parent[index] = self.parent[self.parent[index]];
            index = self.parent[index];
        }
        index
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        // The smaller index is the root, so that a lane's root is its first member.
        let (root, other) = (a.min(b), a.max(b));
        self.parent[other] = root;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Id;
    use crate::plan::DesiredView;

    fn key(data_source: &str) -> ViewKey {
        ViewKey {
            project_id: Id::new("p").unwrap(),
            data_source_id: Id::new(data_source).unwrap(),
        }
    }

    fn present(data_source: &str, name: &str, alternate: Option<&str>) -> Target {
        let desired = |name: &str| DesiredView {
            view: key(data_source),
            name: name.to_owned(),
            create: format!("CREATE VIEW {name} AS SELECT 1"),
            create_or_replace: None,
            grants: Vec::new(),
            digest: name.to_owned(),
            alternate: None,
        };
        Target::Present(DesiredView {
            alternate: alternate.map(|a| Box::new(desired(a))),
            ..desired(name)
        })
    }

    fn absent(data_source: &str) -> Target {
        Target::Absent(key(data_source))
    }

    #[test]
    fn views_with_names_of_their_own_each_get_a_lane() {
        let targets = [
            present("1", "a", Some("a_1")),
            present("2", "b", Some("b_2")),
            absent("3"),
        ];
        let known = BTreeMap::from([(key("3"), "c")]);
        let lanes = lanes(targets.iter(), |view| known.get(view).copied());
        assert_eq!(lanes, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn names_that_could_meet_share_a_lane_in_the_batchs_order() {
        let targets = [
            // Two names that come out alike: the second takes its alternate.
            present("1", "orders", Some("orders_1")),
            present("2", "other", None),
            present("3", "Orders", Some("orders_3")),
            // Its alternate is the name another view wants.
            present("4", "x", Some("y")),
            present("5", "y", None),
        ];
        let lanes = lanes(targets.iter(), |_| None);
        assert_eq!(lanes, vec![vec![0, 2], vec![1], vec![3, 4]]);
    }

    #[test]
    fn a_name_freed_by_a_drop_or_a_rename_orders_the_view_that_takes_it() {
        let targets = [
            present("1", "new", None),
            absent("2"),
            present("3", "freed_by_drop", None),
            present("4", "freed_by_rename", None),
        ];
        let known = BTreeMap::from([(key("1"), "freed_by_rename"), (key("2"), "freed_by_drop")]);
        let lanes = lanes(targets.iter(), |view| known.get(view).copied());
        assert_eq!(lanes, vec![vec![0, 3], vec![1, 2]]);
    }

    #[test]
    fn one_view_twice_is_one_lane_and_joined_lanes_keep_their_order() {
        let targets = [
            present("1", "a", None),
            present("2", "b", None),
            present("3", "c", None),
            // Joins the lanes of 1 and 3 through its names.
            present("4", "a", Some("c")),
            absent("2"),
        ];
        let lanes = lanes(targets.iter(), |_| None);
        assert_eq!(lanes, vec![vec![0, 2, 3], vec![1, 4]]);
    }

    #[test]
    fn nothing_to_apply_is_no_lane() {
        assert!(lanes([].iter(), |_| None).is_empty());
    }
}
