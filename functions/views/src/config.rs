//! The store's configuration: `DATABASE_URL` (a URL, or an RDS-style secret's JSON),
//! `VIEW_SCHEMA` (one, or one per project with `LEDGER_SCHEMA`), `LEDGER_TABLE`,
//! `VIEW_GRANT_ROLES`, `VIEW_CREATE_ROLES` and `VIEW_BARRIER`, read once.

use std::fmt;

use view_sync_core::naming::ProjectTemplate;
use view_sync_core::settings::{ConfigError, Settings};
use view_sync_core::view_sql::ViewLocation;

use crate::dialect::Dialect;
use crate::rds_secret;

pub const DEFAULT_LEDGER_TABLE: &str = "immuta_view_sync_ledger";
/// PostgreSQL's schema when `VIEW_SCHEMA` (or `LEDGER_SCHEMA`) is unset.
pub const DEFAULT_POSTGRES_SCHEMA: &str = "public";

#[derive(Clone)]
pub struct StoreConfig {
    pub database_url: String,
    /// Schema (PostgreSQL) or database (MariaDB) of the ledger, and of the views unless
    /// `view_schemas` gives each project its own; SQLite has only `main`.
    pub schema: Option<String>,
    /// A schema per project (`VIEW_SCHEMA` with `{project_id}` / `{project_name}`); the ledger
    /// is then in `LEDGER_SCHEMA` (`schema`).
    pub view_schemas: Option<ProjectTemplate>,
    pub ledger_table: String,
    /// Who may read a project's views (`VIEW_GRANT_ROLES`); empty: grants are left alone.
    pub grant_roles: Vec<ProjectTemplate>,
    /// Whether a role of `grant_roles` that does not exist is created (`VIEW_CREATE_ROLES`).
    pub create_roles: bool,
    /// Whether a view that can exclude rows is worked out in full before a reader's conditions
    /// touch it (`VIEW_BARRIER`, see `view_sync_core::view_sql`); PostgreSQL's views are security
    /// barriers either way.
    pub barrier: bool,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        f.debug_struct("StoreConfig")
            .field("database_url", &format_args!("{scheme}://<redacted>"))
            .field("schema", &self.schema)
            .field("view_schemas", &self.view_schemas)
            .field("ledger_table", &self.ledger_table)
            .field("grant_roles", &self.grant_roles)
            .field("create_roles", &self.create_roles)
            .field("barrier", &self.barrier)
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
        let view_schema = settings.optional("VIEW_SCHEMA");
        let dialect = Dialect::from_url(&database_url)?;
        let sqlite = dialect == Dialect::Sqlite;
        if sqlite && view_schema.as_deref().is_some_and(|s| s != "main") {
            return Err(ConfigError::new(
                "VIEW_SCHEMA",
                "is for PostgreSQL (a schema) and MariaDB (a database); with SQLite leave it unset \
                 (views go to the database file)",
            ));
        }
        let view_schemas = match &view_schema {
            Some(template) if template.contains('{') => {
                let template = ProjectTemplate::parse(template)
                    .map_err(|e| ConfigError::new("VIEW_SCHEMA", e.to_string()))?;
                if !template.has_literal() {
                    return Err(ConfigError::new(
                        "VIEW_SCHEMA",
                        "needs text of its own beside the placeholders (e.g. views_{project_id}), \
                         so that no project's name can name an existing schema",
                    ));
                }
                Some(template)
            }
            _ => None,
        };
        let ledger_schema = settings.optional("LEDGER_SCHEMA");
        let schema = match (&view_schemas, ledger_schema) {
            (Some(_), ledger_schema) => ledger_schema,
            (None, None) => view_schema,
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "LEDGER_SCHEMA",
                    "is for a VIEW_SCHEMA per project ({project_id} or {project_name}); \
                     otherwise the ledger is in VIEW_SCHEMA",
                ));
            }
        };
        let grant_roles =
            settings.parse_or("VIEW_GRANT_ROLES", Vec::new(), ProjectTemplate::parse_roles)?;
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
        let barrier = settings.flag_or("VIEW_BARRIER", true)?;
        if !barrier && sqlite {
            return Err(ConfigError::new(
                "VIEW_BARRIER",
                "is for PostgreSQL and MariaDB: SQLite has no readers of its own",
            ));
        }
        Ok(Self {
            database_url,
            schema,
            view_schemas,
            ledger_table: settings
                .optional("LEDGER_TABLE")
                .unwrap_or_else(|| DEFAULT_LEDGER_TABLE.into()),
            grant_roles,
            create_roles,
            barrier,
        })
    }

    /// Where the views go (see [`StoreConfig::schema_of`]); `None` if `DATABASE_URL` names no
    /// database we serve.
    pub fn location(&self) -> Option<ViewLocation> {
        let dialect = Dialect::from_url(&self.database_url).ok()?;
        Some(ViewLocation {
            dialect,
            schema: self.schema_of(dialect),
            barrier: self.barrier,
        })
    }

    /// The schema of the ledger, and of the views unless each project has its own. PostgreSQL's
    /// default is `public`, never whatever a session's `search_path` resolves: a `search_path`
    /// changed later (`ALTER DATABASE … SET search_path`) would otherwise start a second ledger
    /// and leave the views readers have unmanaged. MariaDB has no `search_path`: the database of
    /// `DATABASE_URL` is configuration, and no session of ours changes it.
    pub fn schema_of(&self, dialect: Dialect) -> Option<String> {
        match (&self.schema, dialect) {
            (None, Dialect::Postgres) => Some(DEFAULT_POSTGRES_SCHEMA.to_owned()),
            (schema, _) => schema.clone(),
        }
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

    #[test]
    fn the_barrier_is_for_databases_with_readers() {
        for url in ["mysql://db/views", "postgres://db/views"] {
            let on = config(&[("DATABASE_URL", url)]).unwrap();
            assert!(on.barrier && on.location().unwrap().barrier);
            let off = config(&[("DATABASE_URL", url), ("VIEW_BARRIER", "false")]).unwrap();
            assert!(!off.location().unwrap().barrier);
        }
        let refused = config(&[
            ("DATABASE_URL", "sqlite://views.db"),
            ("VIEW_BARRIER", "false"),
        ])
        .unwrap_err();
        assert_eq!(refused.variable, "VIEW_BARRIER");
        assert!(
            refused.to_string().contains("no readers of its own"),
            "{refused}"
        );
    }

    #[test]
    fn postgresql_views_are_in_a_fixed_schema_whatever_the_search_path() {
        let unset = config(&[("DATABASE_URL", "postgres://db/views")]).unwrap();
        assert_eq!(unset.schema, None);
        assert_eq!(unset.location().unwrap().schema.as_deref(), Some("public"));
        let set = config(&[
            ("DATABASE_URL", "postgres://db/v"),
            ("VIEW_SCHEMA", "views"),
        ])
        .unwrap();
        assert_eq!(set.location().unwrap().schema.as_deref(), Some("views"));
        let per_project = config(&[
            ("DATABASE_URL", "postgres://db/v"),
            ("VIEW_SCHEMA", "views_{project_id}"),
        ])
        .unwrap();
        assert_eq!(
            per_project.schema_of(Dialect::Postgres).as_deref(),
            Some("public")
        );
        for url in ["mysql://db/views", "sqlite://views.db"] {
            assert_eq!(
                config(&[("DATABASE_URL", url)])
                    .unwrap()
                    .location()
                    .unwrap()
                    .schema,
                None
            );
        }
    }

    #[test]
    fn a_schema_per_project_puts_the_ledger_in_ledger_schema() {
        let per_project = config(&[
            ("DATABASE_URL", "postgres://db/views"),
            ("VIEW_SCHEMA", "views_{project_id}"),
            ("LEDGER_SCHEMA", "view_sync"),
        ])
        .unwrap();
        let template = per_project.view_schemas.as_ref().unwrap();
        assert_eq!(template.render("10", "x"), "views_10");
        assert_eq!(per_project.schema.as_deref(), Some("view_sync"));
        let default_ledger = config(&[
            ("DATABASE_URL", "mysql://db/views"),
            ("VIEW_SCHEMA", "{project_name}_views"),
        ])
        .unwrap();
        assert_eq!(default_ledger.schema, None);
        let bare = config(&[
            ("DATABASE_URL", "mysql://db/views"),
            ("VIEW_SCHEMA", "{project_name}"),
        ])
        .unwrap_err();
        assert!(bare.to_string().contains("text of its own"), "{bare}");
        let one = config(&[
            ("DATABASE_URL", "postgres://db/v"),
            ("VIEW_SCHEMA", "views"),
        ])
        .unwrap();
        assert!(one.view_schemas.is_none());
        assert_eq!(one.schema.as_deref(), Some("views"));

        let stray =
            config(&[("DATABASE_URL", "postgres://db/v"), ("LEDGER_SCHEMA", "x")]).unwrap_err();
        assert_eq!(stray.variable, "LEDGER_SCHEMA");
        let bad = config(&[
            ("DATABASE_URL", "postgres://db/v"),
            ("VIEW_SCHEMA", "v_{data_source_id}"),
        ])
        .unwrap_err();
        assert_eq!(bad.variable, "VIEW_SCHEMA");
        let sqlite = config(&[
            ("DATABASE_URL", "sqlite://v.db"),
            ("VIEW_SCHEMA", "v_{project_id}"),
        ])
        .unwrap_err();
        assert_eq!(sqlite.variable, "VIEW_SCHEMA");
    }
}
