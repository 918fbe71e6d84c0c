//! What the view SQL's checks refuse, and a `DATABASE_URL` that names no database we write to.

use thiserror::Error;

use crate::{MAX_VIEW_SQL_BYTES, MAX_VIEW_SQL_TOKENS};

/// A `DATABASE_URL` whose scheme names no database we write to. Its text is never repeated: it
/// may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("DATABASE_URL {}", Self::PROBLEM)]
pub struct UnknownDatabase;

impl UnknownDatabase {
    pub const PROBLEM: &'static str = "must start with sqlite://, postgres:// (postgresql://) or mysql:// (mariadb://), or \
         name an ODBC connection string after odbc+postgres: or odbc+mariadb:";
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewSqlError {
    #[error("the view SQL is empty (check VIEW_SQL_PATH and VIEW_SQL_JSON_POINTER)")]
    Empty,
    #[error("the view SQL is {bytes} bytes, over the {MAX_VIEW_SQL_BYTES}-byte limit")]
    TooLong { bytes: usize },
    #[error("the view SQL has {tokens} tokens, over the limit of {MAX_VIEW_SQL_TOKENS}")]
    TooComplex { tokens: usize },
    #[error("the view SQL could not be checked ({0}); it is refused")]
    Unchecked(String),
    #[error(
        "the view SQL is not {dialect} SQL that can be checked ({detail}); it is refused rather \
         than run unchecked (check VIEW_SQL_PATH and VIEW_SQL_JSON_POINTER)"
    )]
    Unparsable {
        dialect: &'static str,
        detail: String,
    },
    #[error(
        "the view SQL uses {dialect} syntax that the parser does not print back as it reads it; \
         it is refused rather than run as something else than what was checked"
    )]
    NotReproducible { dialect: &'static str },
    #[error(
        "the view SQL holds {count} statements ({found}): only one query or one CREATE VIEW is \
         accepted, so none of them runs"
    )]
    Statements { count: usize, found: String },
    #[error(
        "the view SQL is a {found} statement: expected a SELECT/WITH/VALUES query or one CREATE VIEW"
    )]
    Unsupported { found: String },
    #[error("the view's query contains {found}, which has no place in a view; it is refused")]
    SideEffect { found: String },
    #[error("the CREATE VIEW statement {found}: only a plain view is managed")]
    NotPlainView { found: &'static str },
    #[error("the CREATE VIEW statement names its view {name}, {why}")]
    ForeignName { name: String, why: String },
    #[error(
        "the view SQL holds `{word}`, a name this system reserves for its own statements; it is refused"
    )]
    Reserved { word: &'static str },
}
