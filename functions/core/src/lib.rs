//! The pure core of immuta-view-sync: no I/O, no clocks, no environment.
//!
//! - [`catalog`]: every notification type Immuta sends, typed.
//! - [`notification`]: the three body shapes parsed into one [`Notification`].
//! - [`signature`]: HMAC verification; a body is unverified until a [`Verifier`] says otherwise.
//! - [`message`]: the versioned SQS message between receiver and processor.
//! - [`forward`]: which types the receiver forwards.
//! - [`keys`]: notifications → reconcile keys (or a re-sync of every project), merged per batch;
//!   [`fan_out`]: whether a re-sync is still owed to what asked for it.
//! - [`reads`], [`want`]: what was read from Immuta, and which views it wants (the want-rules).
//! - [`memberships`]: which equalized projects hold a batch's sources, searched or listed.
//! - [`plan`]: which views must exist and what to do about each (create, replace, drop, nothing);
//!   [`apply`]: the steps one view's apply takes, which the store executes and `plan` prints;
//!   [`lanes`]: which of a batch's applies may run at once;
//!   [`ddl`]: its statements, and what a refusal by the database leads to;
//!   [`audit`]: what the audit trail records of a change; [`grants`]: who may read a view, and
//!   what to revoke and grant to get there.
//! - [`naming`], [`dialect`]: view names from the template; the target databases' dialects;
//!   [`profile`]: what each database needs, as statements (the store's ledger, catalog reads
//!   of definitions, grants of a view, schemas, roles and error meanings come from it; SQL
//!   Server, Oracle and Teradata are profiled, not yet run).
//! - [`percent`]: percent-encoding for the URLs we assemble.
//! - [`printable`]: text others wrote, made safe for a terminal or a log; [`outline`]: a body's
//!   shape (keys and JSON types, never values) for the log of one we could not classify.
//! - [`view_sql`] (the view-sql crate): the view SQL endpoint's answer, untrusted: parsed,
//!   exactly one statement; with it [`dialect`] and [`sql_diff`].
//! - [`settings`]: configuration read through an injected lookup, with errors naming the variable.
//!
//! Unlike the other crates, the core has no `error.rs`: each error type stays in the module whose
//! functions return it, since most carry that module's own types or constants (a
//! [`VerifyError`] its [`Algorithm`], a `DecodeError` the message version), and an `error.rs`
//! holding them would import those modules as they import it (the cycle `tests/architecture`
//! refuses).
#![forbid(unsafe_code)]

pub mod apply;
pub mod audit;
pub mod catalog;
pub mod ddl;
pub mod fan_out;
pub mod forward;
pub mod grants;
pub mod hex;
pub mod keys;
pub mod lanes;
pub mod memberships;
pub mod message;
pub mod naming;
pub mod notification;
pub mod outline;
pub mod percent;
pub mod plan;
pub mod printable;
pub mod profile;
pub mod reads;
pub mod settings;
pub mod signature;
pub mod time;
pub mod want;

// View SQL validation lives in its own crate (its own build settings); these paths stay.
pub use ::view_sql::{self, dialect, sql_diff};
pub use catalog::{Family, ModelType, NotificationType};
pub use forward::ForwardFilter;
pub use message::{Asks, QueueMessage, QueuedBy, Request};
pub use notification::{BodyShape, Hints, Id, JsonText, Notification, ParseError, ParsedBody};
pub use signature::{
    AcceptedAlgorithms, Algorithm, Secret, SignatureHeaders, UnverifiedBody, VerifiedBody,
    Verifier, VerifyError,
};
