//! The store's configuration: `DATABASE_URL` (a URL, or an RDS-style secret's JSON),
//! `VIEW_SCHEMA`, `LEDGER_TABLE`, `VIEW_GRANT_ROLES` and `VIEW_CREATE_ROLES`, read once.

use std::fmt;

use view_sync_core::naming::RoleTemplate;
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
    /// Who may read a project's views (`VIEW_GRANT_ROLES`); empty: grants are left alone.
    pub grant_roles: Vec<RoleTemplate>,
    /// Whether a role of `grant_roles` that does not exist is created (`VIEW_CREATE_ROLES`).
    pub create_roles: bool,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        f.debug_struct("StoreConfig")
            .field("database_url", &format_args!("{scheme}://<redacted>"))
            .field("schema", &self.schema)
            .field("ledger_table", &self.ledger_table)
            .field("grant_roles", &self.grant_roles)
            .field("create_roles", &self.create_roles)
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
        let sqlite = Dialect::from_url(&database_url)? == Dialect::Sqlite;
        if sqlite && schema.as_deref().is_some_and(|s| s != "main") {
            return Err(ConfigError::new(
                "VIEW_SCHEMA",
                "is for PostgreSQL (a schema) and MariaDB (a database); with SQLite leave it unset \
                 (views go to the database file)",
            ));
        }
        let grant_roles =
            settings.parse_or("VIEW_GRANT_ROLES", Vec::new(), RoleTemplate::parse_list)?;
        if sqlite && !grant_roles.is_empty() {
            return Err(ConfigError::new(
                "VIEW_GRANT_ROLES",
                "is for PostgreSQL and MariaDB: SQLite has no roles (whoever can open the file \
                 reads every view); leave it unset",
            ));
        }
        let create_roles = settings.flag_or("VIEW_CREATE_ROLES", false)?;
        if create_roles && grant_roles.is_empty() {
            return Err(ConfigError::new(
                "VIEW_CREATE_ROLES",
                "creates the roles of VIEW_GRANT_ROLES, which is not set",
            ));
        }
        Ok(Self {
            database_url,
            schema,
            ledger_table: settings
                .optional("LEDGER_TABLE")
                .unwrap_or_else(|| DEFAULT_LEDGER_TABLE.into()),
            grant_roles,
            create_roles,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<StoreConfig, ConfigError> {
        StoreConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn grant_roles_are_for_databases_with_roles() {
        let postgres = config(&[
            ("DATABASE_URL", "postgres://db/views"),
            ("VIEW_GRANT_ROLES", "readers_{project_id}, auditors"),
            ("VIEW_CREATE_ROLES", "true"),
        ])
        .unwrap();
        assert_eq!(postgres.grant_roles.len(), 2);
        assert!(postgres.create_roles);
        let unset = config(&[("DATABASE_URL", "mysql://db/views")]).unwrap();
        assert!(unset.grant_roles.is_empty() && !unset.create_roles);

        let sqlite = config(&[
            ("DATABASE_URL", "sqlite://views.db"),
            ("VIEW_GRANT_ROLES", "readers_{project_id}"),
        ])
        .unwrap_err();
        assert_eq!(sqlite.variable, "VIEW_GRANT_ROLES");
        assert!(
            sqlite.to_string().contains("SQLite has no roles"),
            "{sqlite}"
        );
        let per_source = config(&[
            ("DATABASE_URL", "postgres://db/views"),
            ("VIEW_GRANT_ROLES", "r_{data_source_id}"),
        ])
        .unwrap_err();
        assert!(
            per_source.to_string().contains("per project"),
            "{per_source}"
        );
        let alone = config(&[
            ("DATABASE_URL", "postgres://db/views"),
            ("VIEW_CREATE_ROLES", "true"),
        ])
        .unwrap_err();
        assert_eq!(alone.variable, "VIEW_CREATE_ROLES");
    }
}
