//! The doctor's report: one line per check with its outcome and, on failure, what to do; as
//! text for a person or JSON for a script.

use serde::Serialize;

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
            out.push_str(&format!("{mark} {}: {}\n", c.check, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("    fix: {fix}\n"));
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
