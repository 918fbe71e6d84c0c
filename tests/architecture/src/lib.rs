//! The module graph of a crate as its `use` lines and paths draw it, and the cycles in it.
//!
//! A node is a top-level module of the crate (`src/ledger.rs`, or `src/doctor/` with its files);
//! an edge is a path from one to another: `crate::ledger::…`, `use crate::{ledger, marks::…}`,
//! `super::ledger` in a top-level module, or a name the crate root re-exports from a module
//! (`pub use ledger::LedgerRow;` makes `crate::LedgerRow` an edge to `ledger`). Comments and
//! `#[cfg(test)]` modules are not read: a test may use what it tests from anywhere.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The source of one file, and the top-level module it belongs to (`None`: the crate root).
pub struct SourceFile {
    pub module: Option<String>,
    /// Whether the file is the module's own (`src/x.rs`, `src/x/mod.rs`), where `super` is
    /// the crate root; in a file below it, `super` is the module itself.
    pub top_level: bool,
    pub text: String,
}

/// Module → the modules it uses.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads a crate's `src` (its library or binary root and their modules; `src/bin` holds other
/// crates and is left out).
pub fn read_crate(src: &Path) -> std::io::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(src)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name == "bin" {
                continue;
            }
            for inner in fs::read_dir(&path)? {
                let inner = inner?.path();
                if inner.extension().is_some_and(|e| e == "rs") {
                    files.push(SourceFile {
                        module: Some(name.to_owned()),
                        top_level: inner.file_name().is_some_and(|n| n == "mod.rs"),
                        text: fs::read_to_string(&inner)?,
                    });
                }
            }
        } else if let Some(stem) = name.strip_suffix(".rs") {
            files.push(SourceFile {
                module: (stem != "lib" && stem != "main").then(|| stem.to_owned()),
                top_level: true,
                text: fs::read_to_string(&path)?,
            });
        }
    }
    Ok(files)
}

/// The crate's module graph.
pub fn graph(files: &[SourceFile]) -> Graph {
    let modules: BTreeSet<&str> = files.iter().filter_map(|f| f.module.as_deref()).collect();
    let reexports: BTreeMap<String, String> = files
        .iter()
        .filter(|f| f.module.is_none())
        .flat_map(|f| reexports(&code(&f.text), &modules))
        .collect();
    let resolve = |name: &str| -> Option<String> {
        if modules.contains(name) {
            Some(name.to_owned())
        } else {
            reexports.get(name).cloned()
        }
    };
    let mut graph = Graph::new();
    for file in files {
        let Some(module) = &file.module else {
            continue;
        };
        let uses = graph.entry(module.clone()).or_default();
        let code = code(&file.text);
        let mut names = paths_after(&code, "crate::");
        if file.top_level {
            names.extend(paths_after(&code, "super::"));
        }
        for name in names {
            if let Some(used) = resolve(&name).filter(|used| used != module) {
                uses.insert(used);
            }
        }
    }
    graph
}

/// The cycles of `graph` (its strongly connected components of more than one module), each
/// sorted.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !tarjan.index.contains_key(node.as_str()) {
            tarjan.visit(node);
        }
    }
    tarjan.found.sort();
    tarjan.found
}

/// The text without comments and without `#[cfg(test)]` items.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
            continue;
        }
        let line = line.split(" //").next().unwrap_or(line);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Skips the item that follows a `#[cfg(test)]`: up to its `;`, or to the `}` that closes it.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0usize;
    let mut opened = false;
    for line in lines {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if (opened && depth == 0) || (!opened && line.trim_end().ends_with(';')) {
            return;
        }
    }
}

/// The first segment of every path that follows `prefix`: `crate::a::b` gives `a`;
/// `crate::{a::b, c}` gives `a` and `c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[at + prefix.len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            names.extend(group_heads(group));
        } else {
            names.push(identifier(rest).to_owned());
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// The first identifier of each item of a `{…}` group (from just after its `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if c.is_whitespace() => {}
            _ if at_item_start && depth == 0 => {
                heads.push(identifier(&group[i..]).to_owned());
                at_item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Names the crate root re-exports from its modules: `pub use ledger::{LedgerRow, now}` maps
/// `LedgerRow` and `now` to `ledger` (`x as y` maps `y`).
fn reexports(root: &str, modules: &BTreeSet<&str>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for statement in root.split(';') {
        let statement = statement.trim();
        let Some(path) = ["pub use ", "pub(crate) use "]
            .iter()
            .find_map(|p| statement.strip_prefix(p))
        else {
            continue;
        };
        let path = path.strip_prefix("crate::").unwrap_or(path);
        let module = identifier(path);
        if !modules.contains(module) {
            continue;
        }
        let items = match path.find('{') {
            Some(open) => path[open + 1..].trim_end_matches('}').to_owned(),
            None => path.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        for item in items.split(',') {
            let name = item.rsplit(" as ").next().unwrap_or(item);
            let name = name.rsplit("::").next().unwrap_or(name).trim();
            if !name.is_empty() && name != "self" {
                found.push((name.to_owned(), module.to_owned()));
            }
        }
    }
    found
}
