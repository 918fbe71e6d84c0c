//! The target database of immuta-view-sync: SQLite (the embedded default), PostgreSQL or
//! MariaDB/MySQL, chosen by `DATABASE_URL`. Holds the ledger of the views this system manages and
//! applies the planner's decisions one view at a time (see [`store`] for the locking per database).
#![forbid(unsafe_code)]

pub mod dialect;
mod error;
mod hints;
pub mod probe;
pub mod store;

pub use dialect::{Dialect, LedgerSql};
pub use error::ViewsError;
pub use store::{Applied, StoreConfig, ViewStore, now_micros};
