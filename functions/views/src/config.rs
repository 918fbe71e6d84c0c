//! The store's configuration: `DATABASE_URL` (a URL, or an RDS-style secret's JSON),
//! `VIEW_SCHEMA` and `LEDGER_TABLE`, read once.

use std::fmt;

use view_sync_core::settings::{ConfigError, Settings};
use view_sync_core::view_sql::ViewLocation;

use crate::dialect::Dialect;
use crate::rds_secret;

pub const DEFAULT_LEDGER_TABLE: &str = "immuta_view_sync_ledger";

#[derive(Clone)]
pub struct StoreConfig {
    pub database_url: String,
    /// Schema (PostgreSQL) or database (MariaDB) of views and ledger; SQLite has only `main`.
    pub schema: Option<String>,
    pub ledger_table: String,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        f.debug_struct("StoreConfig")
            .field("database_url", &format_args!("{scheme}://<redacted>"))
            .field("schema", &self.schema)
            .field("ledger_table", &self.ledger_table)
            .finish()
    }
}

impl StoreConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(lookup);
        let database_url = rds_secret::database_url(&settings.required(
            "DATABASE_URL",
            "set it to sqlite://PATH (created if missing), postgres://… or mysql://…",
        )?)?;
        let schema = settings.optional("VIEW_SCHEMA");
        if Dialect::from_url(&database_url)? == Dialect::Sqlite
            && schema.as_deref().is_some_and(|s| s != "main")
        {
            return Err(ConfigError::new(
                "VIEW_SCHEMA",
                "is for PostgreSQL (a schema) and MariaDB (a database); with SQLite leave it unset \
                 (views go to the database file)",
            ));
        }
        Ok(Self {
            database_url,
            schema,
            ledger_table: settings
                .optional("LEDGER_TABLE")
                .unwrap_or_else(|| DEFAULT_LEDGER_TABLE.into()),
        })
    }

    /// Where the views go; `None` if `DATABASE_URL` names no database we serve.
    pub fn location(&self) -> Option<ViewLocation> {
        Some(ViewLocation {
            dialect: Dialect::from_url(&self.database_url).ok()?,
            schema: self.schema.clone(),
        })
    }
}
