//! The doctor's report: one line per check with its outcome and, on failure, what to do; as
//! text for a person or JSON for a script.

use serde::Serialize;
use view_sync_core::printable::printable;

/// Where the lines of a detail after its first start (a view's SQL): under the check's name, so
/// that no line of what a server said can pass for a check of its own.
const CONTINUATION: &str = "\n      ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    /// What to do about a failure, naming the variable to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome == Outcome::Pass)
    }

    pub fn get(&self, check: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.check == check)
    }

    pub(super) fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            check,
            outcome: Outcome::Pass,
            detail: detail.into(),
            fix: None,
        });
    }

    pub(super) fn fail(
        &mut self,
        check: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.checks.push(Check {
            check,
            outcome: Outcome::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        });
    }

    pub(super) fn skip(&mut self, check: &'static str, because: &str) {
        self.checks.push(Check {
            check,
            outcome: Outcome::Skipped,
            detail: format!("skipped: {because}"),
            fix: None,
        });
    }

    /// `{"checks": [...]}`, for scripts (`--output json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// One line per check (✓, ✗ or ·), the fix under a failure, and a summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = match c.outcome {
                Outcome::Pass => '✓',
                Outcome::Fail => '✗',
                Outcome::Skipped => '·',
            };
            out.push_str(&format!("{mark} {}: {}\n", c.check, shown(&c.detail)));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("    fix: {}\n", shown(fix)));
            }
        }
        let count = |o| self.checks.iter().filter(|c| c.outcome == o).count();
        out.push_str(&format!(
            "\n{} passed, {} failed, {} skipped\n",
            count(Outcome::Pass),
            count(Outcome::Fail),
            count(Outcome::Skipped)
        ));
        out
    }
}

/// A detail as a terminal shows it: what acts on a terminal escaped in each line (details quote
/// Immuta's answers and errors), the lines after the first indented.
fn shown(detail: &str) -> String {
    detail
        .lines()
        .map(printable)
        .collect::<Vec<_>>()
        .join(CONTINUATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_servers_said_is_shown_escaped_and_indented_under_its_check() {
        let mut report = Report::default();
        report.pass(
            "view SQL",
            "the answer is valid SQL:\nSELECT '\u{1b}]0;owned\u{7}\u{1b}[2J' AS a\n✓ all is well\u{202e}",
        );
        report.fail(
            "data source",
            "Immuta answered 500 for /dataSource/1: a\u{202e}gpj",
            "try again",
        );
        let text = report.to_text();
        assert_eq!(
            text,
            "✓ view SQL: the answer is valid SQL:\n      \
             SELECT '\\u{1b}]0;owned\\u{7}\\u{1b}[2J' AS a\n      \
             ✓ all is well\\u{202e}\n\
             ✗ data source: Immuta answered 500 for /dataSource/1: a\\u{202e}gpj\n    \
             fix: try again\n\
             \n1 passed, 1 failed, 0 skipped\n"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            json["checks"][1]["detail"],
            "Immuta answered 500 for /dataSource/1: a\u{202e}gpj"
        );
    }
}
