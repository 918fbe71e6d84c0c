//! The store's configuration: `DATABASE_URL` (a URL, or an RDS-style secret's JSON),
//! `VIEW_SCHEMA` (one, or one per project with `LEDGER_SCHEMA`), `LEDGER_TABLE`,
//! `VIEW_GRANT_ROLES`, `VIEW_CREATE_ROLES` and `VIEW_BARRIER`, read once.

use std::fmt;

use view_sync_core::naming::ProjectTemplate;
use view_sync_core::profile;
use view_sync_core::settings::{ConfigError, Settings};
use view_sync_core::view_sql::ViewLocation;

use crate::dialect::Dialect;
use crate::rds_secret;

pub const DEFAULT_LEDGER_TABLE: &str = "immuta_view_sync_ledger";
const DEFAULT_APPLY_CONCURRENCY: usize = 4;
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
    /// How many views a batch applies at once (`VIEW_APPLY_CONCURRENCY`): 4 by default on
    /// PostgreSQL and MariaDB, each on a connection of its own; 1 on SQLite, which has one
    /// writer.
    pub apply_concurrency: usize,
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
            .field("apply_concurrency", &self.apply_concurrency)
            .finish()
    }
}

impl StoreConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(lookup);
        let database_url = rds_secret::database_url(&settings.required(
            "DATABASE_URL",
            "set it to sqlite://PATH (created if missing), postgres://…, mysql://… or \
             odbc+postgres:/odbc+mariadb: and an ODBC connection string",
        )?)?;
        let view_schema = settings.optional("VIEW_SCHEMA");
        let dialect = Dialect::from_url(&database_url).map_err(|unknown| {
            match view_sync_core::profile::database_named_in_url(&database_url) {
                Some(database) => ConfigError::new(
                    "DATABASE_URL",
                    format!(
                        "names {database} through ODBC, whose dialect profile is written but not \
                         yet run by the store (README, Target databases)"
                    ),
                ),
                None => unknown.into(),
            }
        })?;
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
        let apply_concurrency = match sqlite {
            false => {
                settings.number_or("VIEW_APPLY_CONCURRENCY", DEFAULT_APPLY_CONCURRENCY, 1..=32)?
            }
            true if settings
                .optional("VIEW_APPLY_CONCURRENCY")
                .is_some_and(|n| n.trim() != "1") =>
            {
                return Err(ConfigError::new(
                    "VIEW_APPLY_CONCURRENCY",
                    "is for PostgreSQL and MariaDB: SQLite has one writer, so its views are \
                     applied one at a time; leave it unset",
                ));
            }
            true => 1,
        };
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
            apply_concurrency,
        })
    }

    /// Where the views go (see [`StoreConfig::schema_of`]); `None` if `DATABASE_URL` names no
    /// database we serve.
    pub fn location(&self) -> Option<ViewLocation> {
        let dialect = Dialect::from_url(&self.database_url).ok()?;
        Some(ViewLocation {
            barrier: self.barrier,
            ..profile::view_location(dialect, self.schema_of(dialect))
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

    #[test]
    fn a_database_with_a_profile_only_is_named_in_the_refusal() {
        let error = config(&[(
            "DATABASE_URL",
            "odbc+sqlserver:Driver={ODBC Driver 18 for SQL Server};Server=h;Pwd=secret",
        )])
        .unwrap_err()
        .to_string();
        assert!(
            error.ends_with(
                "names SQL Server through ODBC, whose dialect profile is written but not yet run \
                 by the store (README, Target databases)"
            ),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
        let error = config(&[("DATABASE_URL", "db2://u:secret@h")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("must start with sqlite://"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    fn config(pairs: &[(&str, &str)]) -> Result<StoreConfig, ConfigError> {
        StoreConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// A configuration as it is compared here: its templates rendered for project 10, "Sales".
    #[derive(Debug, PartialEq)]
    struct Read {
        database_url: String,
        schema: Option<String>,
        view_schema_of_10: Option<String>,
        ledger_table: String,
        grant_roles_of_10: Vec<String>,
        create_roles: bool,
        barrier: bool,
        location: Option<ViewLocation>,
    }

    fn read(pairs: &[(&str, &str)]) -> Read {
        let config = config(pairs).unwrap_or_else(|e| panic!("{pairs:?}: {e}"));
        Read {
            view_schema_of_10: config
                .view_schemas
                .as_ref()
                .map(|t| t.render("10", "Sales")),
            grant_roles_of_10: config
                .grant_roles
                .iter()
                .map(|t| t.render("10", "Sales"))
                .collect(),
            location: config.location(),
            database_url: config.database_url,
            schema: config.schema,
            ledger_table: config.ledger_table,
            create_roles: config.create_roles,
            barrier: config.barrier,
        }
    }

    /// What `DATABASE_URL` alone configures: the default ledger table, no grants, the barrier on.
    fn only_the_database(url: &str, location: ViewLocation) -> Read {
        Read {
            database_url: url.to_owned(),
            schema: None,
            view_schema_of_10: None,
            ledger_table: "immuta_view_sync_ledger".to_owned(),
            grant_roles_of_10: Vec::new(),
            create_roles: false,
            barrier: true,
            location: Some(location),
        }
    }

    fn location(dialect: Dialect, schema: Option<&str>, barrier: bool) -> ViewLocation {
        ViewLocation {
            barrier,
            ..profile::view_location(dialect, schema.map(str::to_owned))
        }
    }

    fn refused(pairs: &[(&str, &str)]) -> ConfigError {
        config(pairs).unwrap_err()
    }

    #[test]
    fn the_database_url_alone_gives_the_defaults() {
        for (url, dialect, schema) in [
            ("postgres://db/views", Dialect::Postgres, Some("public")),
            ("mysql://db/views", Dialect::MySql, None),
            ("sqlite://views.db", Dialect::Sqlite, None),
        ] {
            assert_eq!(
                read(&[("DATABASE_URL", url)]),
                only_the_database(url, location(dialect, schema, true))
            );
        }
        assert_eq!(
            refused(&[]),
            ConfigError::new(
                "DATABASE_URL",
                "is not set; set it to sqlite://PATH (created if missing), postgres://…, mysql://… or \
                 odbc+postgres:/odbc+mariadb: and an ODBC connection string"
            )
        );
    }

    #[test]
    fn grant_roles_are_for_databases_with_roles() {
        let url = "postgres://db/views";
        assert_eq!(
            read(&[
                ("DATABASE_URL", url),
                ("VIEW_GRANT_ROLES", "readers_{project_id}, auditors"),
                ("VIEW_CREATE_ROLES", "true"),
                ("LEDGER_TABLE", "view_ledger"),
            ]),
            Read {
                ledger_table: "view_ledger".to_owned(),
                grant_roles_of_10: vec!["readers_10".to_owned(), "auditors".to_owned()],
                create_roles: true,
                ..only_the_database(url, location(Dialect::Postgres, Some("public"), true))
            }
        );

        assert_eq!(
            refused(&[
                ("DATABASE_URL", "sqlite://views.db"),
                ("VIEW_GRANT_ROLES", "readers_{project_id}"),
            ]),
            ConfigError::new(
                "VIEW_GRANT_ROLES",
                "is for PostgreSQL and MariaDB: SQLite has no roles (whoever can open the file \
                 reads every view); leave it unset"
            )
        );
        assert_eq!(
            refused(&[
                ("DATABASE_URL", url),
                ("VIEW_GRANT_ROLES", "r_{data_source_id}")
            ]),
            ConfigError::new(
                "VIEW_GRANT_ROLES",
                "this name is per project: its template may use {project_id} and {project_name}, \
                 not a data source's"
            )
        );
        assert_eq!(
            refused(&[("DATABASE_URL", url), ("VIEW_CREATE_ROLES", "true")]),
            ConfigError::new(
                "VIEW_CREATE_ROLES",
                "creates the roles of VIEW_GRANT_ROLES, which is not set"
            )
        );
    }

    #[test]
    fn views_are_applied_side_by_side_where_the_database_has_writers_to_spare() {
        let concurrency = |pairs: &[(&str, &str)]| config(pairs).unwrap().apply_concurrency;
        assert_eq!(concurrency(&[("DATABASE_URL", "postgres://db/views")]), 4);
        assert_eq!(concurrency(&[("DATABASE_URL", "mysql://db/views")]), 4);
        assert_eq!(concurrency(&[("DATABASE_URL", "sqlite://views.db")]), 1);
        assert_eq!(
            concurrency(&[
                ("DATABASE_URL", "postgres://db/views"),
                ("VIEW_APPLY_CONCURRENCY", "8")
            ]),
            8
        );
        assert_eq!(
            concurrency(&[
                ("DATABASE_URL", "sqlite://views.db"),
                ("VIEW_APPLY_CONCURRENCY", "1")
            ]),
            1
        );
        assert_eq!(
            refused(&[
                ("DATABASE_URL", "sqlite://views.db"),
                ("VIEW_APPLY_CONCURRENCY", "2"),
            ]),
            ConfigError::new(
                "VIEW_APPLY_CONCURRENCY",
                "is for PostgreSQL and MariaDB: SQLite has one writer, so its views are applied \
                 one at a time; leave it unset"
            )
        );
        assert_eq!(
            refused(&[
                ("DATABASE_URL", "mysql://db/views"),
                ("VIEW_APPLY_CONCURRENCY", "0")
            ])
            .variable,
            "VIEW_APPLY_CONCURRENCY"
        );
    }

    #[test]
    fn the_barrier_is_for_databases_with_readers() {
        for (url, dialect, schema) in [
            ("mysql://db/views", Dialect::MySql, None),
            ("postgres://db/views", Dialect::Postgres, Some("public")),
        ] {
            assert_eq!(
                read(&[("DATABASE_URL", url), ("VIEW_BARRIER", "FALSE")]),
                Read {
                    barrier: false,
                    ..only_the_database(url, location(dialect, schema, false))
                }
            );
        }
        assert_eq!(
            refused(&[
                ("DATABASE_URL", "sqlite://views.db"),
                ("VIEW_BARRIER", "false"),
            ]),
            ConfigError::new(
                "VIEW_BARRIER",
                "is for PostgreSQL and MariaDB: SQLite has no readers of its own"
            )
        );
        assert_eq!(
            refused(&[
                ("DATABASE_URL", "mysql://db/views"),
                ("VIEW_BARRIER", "off")
            ]),
            ConfigError::new("VIEW_BARRIER", "must be true or false")
        );
    }

    #[test]
    fn postgresql_views_are_in_a_fixed_schema_whatever_the_search_path() {
        let url = "postgres://db/v";
        assert_eq!(
            read(&[("DATABASE_URL", url), ("VIEW_SCHEMA", "views")]),
            Read {
                schema: Some("views".to_owned()),
                ..only_the_database(url, location(Dialect::Postgres, Some("views"), true))
            }
        );
        // A schema per project: the ledger (and `location`'s schema) is PostgreSQL's default.
        assert_eq!(
            read(&[("DATABASE_URL", url), ("VIEW_SCHEMA", "views_{project_id}")]),
            Read {
                view_schema_of_10: Some("views_10".to_owned()),
                ..only_the_database(url, location(Dialect::Postgres, Some("public"), true))
            }
        );
        assert_eq!(
            read(&[
                ("DATABASE_URL", "sqlite://views.db"),
                ("VIEW_SCHEMA", "main")
            ]),
            Read {
                schema: Some("main".to_owned()),
                ..only_the_database(
                    "sqlite://views.db",
                    location(Dialect::Sqlite, Some("main"), true)
                )
            }
        );
    }

    #[test]
    fn a_schema_per_project_puts_the_ledger_in_ledger_schema() {
        let url = "postgres://db/views";
        assert_eq!(
            read(&[
                ("DATABASE_URL", url),
                ("VIEW_SCHEMA", "views_{project_id}"),
                ("LEDGER_SCHEMA", "view_sync"),
            ]),
            Read {
                schema: Some("view_sync".to_owned()),
                view_schema_of_10: Some("views_10".to_owned()),
                ..only_the_database(url, location(Dialect::Postgres, Some("view_sync"), true))
            }
        );
        let url = "mysql://db/views";
        assert_eq!(
            read(&[
                ("DATABASE_URL", url),
                ("VIEW_SCHEMA", "{project_name}_views")
            ]),
            Read {
                view_schema_of_10: Some("sales_views".to_owned()),
                ..only_the_database(url, location(Dialect::MySql, None, true))
            }
        );

        assert_eq!(
            refused(&[("DATABASE_URL", url), ("VIEW_SCHEMA", "{project_name}")]),
            ConfigError::new(
                "VIEW_SCHEMA",
                "needs text of its own beside the placeholders (e.g. views_{project_id}), so \
                 that no project's name can name an existing schema"
            )
        );
        assert_eq!(
            refused(&[("DATABASE_URL", "postgres://db/v"), ("LEDGER_SCHEMA", "x")]),
            ConfigError::new(
                "LEDGER_SCHEMA",
                "is for a VIEW_SCHEMA per project ({project_id} or {project_name}); otherwise \
                 the ledger is in VIEW_SCHEMA"
            )
        );
        assert_eq!(
            refused(&[
                ("DATABASE_URL", "postgres://db/v"),
                ("VIEW_SCHEMA", "v_{data_source_id}"),
            ]),
            ConfigError::new(
                "VIEW_SCHEMA",
                "this name is per project: its template may use {project_id} and {project_name}, \
                 not a data source's"
            )
        );
        assert_eq!(
            refused(&[
                ("DATABASE_URL", "sqlite://v.db"),
                ("VIEW_SCHEMA", "v_{project_id}")
            ]),
            ConfigError::new(
                "VIEW_SCHEMA",
                "is for PostgreSQL (a schema) and MariaDB (a database); with SQLite leave it \
                 unset (views go to the database file)"
            )
        );
    }
}
