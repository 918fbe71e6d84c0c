//! No file of a crate imports, through others, a file that imports it: each crate's modules form
//! layers, so that one can be read (and changed) knowing only those below it.

use std::path::{Path, PathBuf};

use architecture::{Graph, SourceFile, cycles, graph, read_crate};

fn file(module: &str, text: &str) -> SourceFile {
    SourceFile {
        module: (module != "lib").then(|| module.to_owned()),
        top_level: true,
        text: text.to_owned(),
    }
}

fn edges(graph: &Graph, module: &str) -> Vec<String> {
    graph[module].iter().cloned().collect()
}

#[test]
fn a_cycle_through_any_kind_of_path_is_found() {
    let files = [
        file(
            "lib",
            "mod ledger;\nmod marks;\nmod store;\nmod audit;\npub use store::{Applied, ViewStore as Store};\n",
        ),
        // A re-export: `crate::Store` is `store`'s.
        file("ledger", "use crate::Store;\nfn f(s: &Store) {}\n"),
        // A group, a nested path, and `super`.
        file(
            "store",
            "use crate::{audit::Entry, marks};\nfn g() { super::ledger::read(); }\n",
        ),
        // Comments and test modules are not read.
        file(
            "marks",
            "// crate::ledger in a comment\n/// [`crate::store`]\nfn h() {}\n\
             #[cfg(test)]\nmod tests {\n    use crate::store;\n    fn t() { if true { } }\n}\n",
        ),
        file("audit", "use view_sync_core::plan;\nfn a() {}\n"),
    ];
    let graph = graph(&files);
    assert_eq!(edges(&graph, "ledger"), ["store"]);
    assert_eq!(edges(&graph, "store"), ["audit", "ledger", "marks"]);
    assert!(edges(&graph, "marks").is_empty(), "{graph:?}");
    assert!(edges(&graph, "audit").is_empty(), "{graph:?}");
    assert_eq!(cycles(&graph), [["ledger", "store"]]);
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn no_crate_of_the_workspace_has_an_import_cycle() {
    let mut crates = Vec::new();
    for group in ["functions", "tests"] {
        for entry in std::fs::read_dir(workspace().join(group)).unwrap() {
            let src = entry.unwrap().path().join("src");
            if src.is_dir() {
                crates.push(src);
            }
        }
    }
    assert!(crates.len() >= 15, "found only {crates:?}");
    let mut found = Vec::new();
    for src in &crates {
        let graph = graph(&read_crate(src).unwrap());
        for cycle in cycles(&graph) {
            let edges: Vec<String> = cycle
                .iter()
                .map(|m| {
                    let within: Vec<&str> = graph[m]
                        .iter()
                        .filter(|u| cycle.contains(u))
                        .map(String::as_str)
                        .collect();
                    format!("{m} -> {}", within.join(", "))
                })
                .collect();
            found.push(format!("{}: {}", src.display(), edges.join("; ")));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other (move what both need below them):\n{}",
        found.join("\n")
    );
}
