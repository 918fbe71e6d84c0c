//! The target database of immuta-view-sync: SQLite (the embedded default), PostgreSQL or
//! MariaDB/MySQL, chosen by `DATABASE_URL`. Holds the ledger of the views this system manages and
//! applies the planner's decisions, each view in its own critical section (see `section.rs` for the
//! locking per database).
#![forbid(unsafe_code)]

pub mod audit;
mod catalog;
mod closing;
pub mod config;
mod ddl;
pub mod dialect;
mod drivers;
mod error;
pub mod failures;
mod grants;
mod group;
mod handle;
mod hints;
mod ledger;
mod marks;
pub mod probe;
mod rds_secret;
mod records;
mod section;
mod statement;
pub mod steps;
pub mod store;

pub use audit::{AuditEntry, AuditQuery, Cause, Origin};
pub use catalog::CatalogState;
pub use config::{DEFAULT_LEDGER_TABLE, DEFAULT_POSTGRES_SCHEMA, StoreConfig};
pub use dialect::{Dialect, LedgerSql};
pub use drivers::install as install_drivers;
pub use error::{ViewsError, error_meaning};
pub use failures::MessageFailure;
pub use handle::ViewStore;
pub use ledger::now_micros;
pub use store::Applied;
pub use view_sync_core::apply::create_statement_of;
