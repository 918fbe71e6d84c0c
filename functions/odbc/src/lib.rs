//! One connection to a database through ODBC: the system's driver manager (unixODBC) and the
//! database vendor's driver. ODBC's calls block (of the drivers this project tests, none returns
//! control while a statement runs), so each connection has a thread of its own that makes its
//! calls, one at a time, and the async caller waits for each.
//!
//! Everything a driver returns is read as values of three kinds (integers, text, bytes), every
//! result of a statement in order (a statement may carry several, as `SET …; SELECT …` does), so
//! that the layers above decide nothing by driver.
//!
//! `odbc-api` panics where it cannot free a handle or close a cursor (and a Lambda's release
//! build aborts on a panic): this crate never lets one of its cursors drop (each is taken apart
//! once read) and closes a connection it gives up on without the library's drop (see
//! [`session`]).

mod error;
mod session;
pub mod sqlx_driver;
mod value;

pub use error::OdbcError;
pub use odbc_api::DataType;
pub use session::{ConnectionString, Session};
pub use value::{Column, Kind, Outcome, Value};
