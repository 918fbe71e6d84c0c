//! Points in a view's apply where a test can pause it, or stop it as a crash would (fault
//! injection): how the ordering and crash-safety rules are shown to hold on real databases.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use view_sync_core::plan::ViewKey;

use crate::error::ViewsError;

/// The steps of an apply inside the view's critical section, in order; a test can stop after
/// any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The view's ledger row was read.
    RowRead,
    /// The intent row was written, where DDL commits on its own (MariaDB/MySQL).
    IntentRecorded,
    /// The scope marks were read, for a create or replace.
    MarksRead,
    /// The `n`th (from 0) DDL statement ran.
    StatementRun(usize),
    /// The ledger row was written; the section ends next.
    RowWritten,
}

pub type StepFuture = Pin<Box<dyn Future<Output = Result<(), ViewsError>> + Send>>;

/// Called at each [`Step`] of an apply. An error stops the apply right there, with no clean-up,
/// as a crash would.
pub type StepHook = Arc<dyn Fn(&ViewKey, Step) -> StepFuture + Send + Sync>;
