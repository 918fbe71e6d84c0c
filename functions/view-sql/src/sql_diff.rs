//! What a replace changes in a view's SQL, as a reviewer reads it: both statements printed one
//! clause per line, then a line diff of the two.

use crate::dialect::ParserDialect;

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Removed(String),
    Added(String),
}

impl DiffLine {
    /// The line as a unified diff prints it (`  `, `- `, `+ `).
    pub fn to_text(&self) -> String {
        match self {
            Self::Same(line) => format!("  {line}"),
            Self::Removed(line) => format!("- {line}"),
            Self::Added(line) => format!("+ {line}"),
        }
    }
}

/// Beyond this many line pairs the diff is not worth its quadratic table: the old text is shown
/// removed and the new added.
const MAX_CELLS: usize = 4_000_000;

/// The diff of two view statements, each printed one clause per line where `parser` reads it
/// (as written otherwise).
pub fn diff_statements(old: &str, new: &str, parser: ParserDialect) -> Vec<DiffLine> {
    let old = crate::pretty(old, parser);
    let new = crate::pretty(new, parser);
    diff_lines(&old, &new)
}

/// A line diff (longest common subsequence) of two texts.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    if old.len().saturating_mul(new.len()) > MAX_CELLS {
        return old
            .iter()
            .map(|l| DiffLine::Removed((*l).to_owned()))
            .chain(new.iter().map(|l| DiffLine::Added((*l).to_owned())))
            .collect();
    }
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let width = new.len() + 1;
    let mut common = vec![0u32; (old.len() + 1) * width];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i * width + j] = if old[i] == new[j] {
                common[(i + 1) * width + j + 1] + 1
            } else {
                common[(i + 1) * width + j].max(common[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut lines = Vec::with_capacity(old.len().max(new.len()));
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push(DiffLine::Same(old[i].to_owned()));
            (i, j) = (i + 1, j + 1);
        } else if i < old.len()
            && (j == new.len() || common[(i + 1) * width + j] >= common[i * width + j + 1])
        {
            // Removals first, as unified diffs show them.
            lines.push(DiffLine::Removed(old[i].to_owned()));
            i += 1;
        } else {
            lines.push(DiffLine::Added(new[j].to_owned()));
            j += 1;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[DiffLine]) -> Vec<String> {
        lines.iter().map(DiffLine::to_text).collect()
    }

    #[test]
    fn lines_in_both_are_kept_and_the_rest_marked() {
        assert_eq!(
            text(&diff_lines("a\nb\nc", "a\nx\nc\nd")),
            ["  a", "- b", "+ x", "  c", "+ d"]
        );
        assert_eq!(text(&diff_lines("", "a")), ["+ a"]);
        assert_eq!(text(&diff_lines("a", "")), ["- a"]);
        assert!(
            diff_lines("same\ntext", "same\ntext")
                .iter()
                .all(|l| matches!(l, DiffLine::Same(_)))
        );
    }

    #[test]
    fn a_policy_change_shows_as_the_clause_that_changed() {
        let old = "CREATE VIEW \"p1__d2\" AS SELECT id, email FROM orders WHERE region = 'EU'";
        let new =
            "CREATE VIEW \"p1__d2\" AS SELECT id, '***' AS email FROM orders WHERE region = 'EU'";
        let diff = diff_statements(old, new, ParserDialect::PostgreSql);
        let changed: Vec<String> = diff
            .iter()
            .filter(|l| !matches!(l, DiffLine::Same(_)))
            .map(DiffLine::to_text)
            .collect();
        assert!(
            changed
                .iter()
                .any(|l| l.starts_with("- ") && l.contains("email"))
                && changed
                    .iter()
                    .any(|l| l.starts_with("+ ") && l.contains("'***'")),
            "{changed:?}"
        );
        assert!(
            diff.iter()
                .any(|l| matches!(l, DiffLine::Same(s) if s.contains("orders"))),
            "the unchanged FROM clause is shown as context: {diff:?}"
        );
    }
}
