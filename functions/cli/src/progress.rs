//! Progress of a long command on stderr (stdout keeps the result, JSON included): a bar redrawn
//! in place on a terminal, plain lines otherwise (a log, CI), at most every few seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW_EVERY: Duration = Duration::from_millis(100);
const LINE_EVERY: Duration = Duration::from_secs(5);
const BAR_WIDTH: u64 = 30;

pub struct Progress {
    label: &'static str,
    total: Option<u64>,
    done: u64,
    terminal: bool,
    shown_at: Option<Instant>,
    shown: Option<u64>,
}

impl Progress {
    /// `total`: how many steps there are, if known.
    pub fn new(label: &'static str, total: Option<u64>) -> Self {
        Self {
            label,
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
            shown_at: None,
            shown: None,
        }
    }

    pub fn set(&mut self, done: u64) {
        self.done = done;
        let every = if self.terminal {
            REDRAW_EVERY
        } else {
            LINE_EVERY
        };
        if self.shown_at.is_none_or(|at| at.elapsed() >= every) {
            self.show();
        }
    }

    pub fn add(&mut self, steps: u64) {
        self.set(self.done + steps);
    }

    fn show(&mut self) {
        if self.shown == Some(self.done) {
            return;
        }
        let line = self.line();
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.shown_at = Some(Instant::now());
        self.shown = Some(self.done);
    }

    /// What is shown: `label [#####-----] 5/10` on a terminal, `label: 5/10` otherwise.
    pub fn line(&self) -> String {
        match (self.total, self.terminal) {
            (Some(total), true) => {
                let filled = (self.done.min(total) * BAR_WIDTH)
                    .checked_div(total)
                    .unwrap_or(BAR_WIDTH);
                format!(
                    "{} [{}{}] {}/{total}",
                    self.label,
                    "#".repeat(filled as usize),
                    "-".repeat((BAR_WIDTH - filled) as usize),
                    self.done
                )
            }
            (Some(total), false) => format!("{}: {}/{total}", self.label, self.done),
            (None, _) => format!("{}: {}", self.label, self.done),
        }
    }

    /// Shows the final count (once) and ends the bar's line.
    pub fn finish(mut self) {
        if self.shown.is_none() && self.done == 0 {
            return;
        }
        self.show();
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_on_a_terminal_and_counts_elsewhere() {
        let mut bar = Progress::new("projects", Some(4));
        bar.terminal = true;
        bar.done = 1;
        assert_eq!(
            bar.line(),
            format!("projects [{}{}] 1/4", "#".repeat(7), "-".repeat(23))
        );
        bar.terminal = false;
        assert_eq!(bar.line(), "projects: 1/4");
        let unknown = Progress::new("moved back", None);
        assert_eq!(unknown.line(), "moved back: 0");
        let mut empty = Progress::new("projects", Some(0));
        empty.terminal = true;
        assert!(empty.line().ends_with(&format!("[{}] 0/0", "#".repeat(30))));
    }
}
