//! The DDL of an apply, and how each statement runs on each database: what a refusal by the
//! database leads to is decided here, as data ([`runs`]), and the store only executes it.
//!
//! PostgreSQL keeps what others built on a view (a reader's `TEMP VIEW`, an analyst's view over
//! ours): `CREATE OR REPLACE VIEW` keeps them and serves them the new definition, but only when
//! the new columns extend the old ones as they are; a drop is refused while they exist, and
//! `CASCADE` would drop objects we do not manage, which we never do. A reader could otherwise
//! hold a view at an older, less restrictive policy for as long as they like. So where the new
//! definition cannot replace the old one in place, or the view must go, and something depends
//! on it, the view **fails closed**: it is replaced in place by a view of the same columns that
//! shows no rows ([`Profile::closed_view`]), so that neither it nor anything built on it shows the older
//! definition any more (see [`crate::apply::closed`] for its ledger row and audit entry).
//!
//! MariaDB replaces and drops a view whatever depends on it (what depended on it becomes
//! invalid), and SQLite tracks no dependencies: there every statement simply runs. Which
//! database refuses, the view's lock, the reads a close needs and the closed view are its
//! profile's ([`Profile::refusals`]).

use crate::dialect::Dialect;
#[cfg(doc)]
use crate::profile::Profile;
use crate::profile::{ErrorMeaning, Replace};
use crate::view_sql::{Clauses, Parts, ViewLocation, ViewSql};

/// The statements that make a view, as its database's profile writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewStatements {
    /// `CREATE VIEW`, which fails where the name is taken.
    pub create: String,
    /// The statement that replaces the view in place (and makes it where it is absent); `None`
    /// where the database has none (SQLite: a drop and a create in one transaction).
    pub replace: Option<String>,
}

/// The statements that make the view `name` (unquoted) of `sql` at `location` (the one `sql`
/// was validated for): a query is wrapped as the view, its reader protection's clauses placed
/// by the profile; a `CREATE VIEW` answer runs as printed, under its own name. The one place
/// the statements are put together, for `plan` and the apply alike.
pub fn view_statements(sql: &ViewSql, location: &ViewLocation, name: &str) -> ViewStatements {
    let profile = crate::profile::of(location.dialect);
    let view = location.reference(name);
    match sql.parts() {
        Parts::Query { query, clauses } => ViewStatements {
            create: profile.create_view(&view, clauses, query),
            replace: match profile.replace_view(&view, clauses, query) {
                Replace::InPlace(replace) => Some(replace),
                Replace::DropAndCreate => None,
            },
        },
        // Printed by sqlparser, whose `OR REPLACE` is these databases' own (where the profile
        // replaces in place at all).
        Parts::Statement {
            create,
            create_or_replace,
        } => ViewStatements {
            create: create.to_owned(),
            replace: matches!(
                profile.replace_view(&view, Clauses::NONE, ""),
                Replace::InPlace(_)
            )
            .then(|| create_or_replace.to_owned()),
        },
    }
}

/// One DDL statement of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ddl {
    /// A plain `CREATE VIEW`, which fails rather than take a name someone else holds.
    Create(String),
    /// `CREATE OR REPLACE VIEW` of the view `name`, which keeps what is built on it. PostgreSQL
    /// refuses it where the new columns do not extend the old ones as they are: the view is then
    /// dropped as [`Ddl::Drop`] drops it, and made with `create`.
    ReplaceInPlace {
        name: String,
        create_or_replace: String,
        create: String,
    },
    /// `DROP VIEW IF EXISTS name`. On PostgreSQL something we do not manage may depend on the
    /// view: it is then closed instead ([`crate::apply::closed`]), never dropped with `CASCADE`.
    Drop(String),
}

impl Ddl {
    /// What a failure of the statement says was being done.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Drop(_) => "drop",
            Self::Create(_) | Self::ReplaceInPlace { .. } => "create",
        }
    }

    /// The statement as it runs first (a replace in place falls back to a drop and `create`).
    pub fn statement(&self) -> String {
        match self {
            Self::Create(create) => create.clone(),
            Self::ReplaceInPlace {
                create_or_replace, ..
            } => create_or_replace.clone(),
            Self::Drop(name) => drop_view(name),
        }
    }
}

/// `DROP VIEW IF EXISTS` of the view `name`.
pub fn drop_view(name: &str) -> String {
    crate::profile::drop_view_if_exists(name).statement
}

/// A refusal of a statement that an apply answers rather than fail on: PostgreSQL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The new columns do not extend the old ones as they are (SQLSTATE 42P16,
    /// invalid_table_definition).
    ColumnsDiffer,
    /// Objects depend on the view (SQLSTATE 2BP01, dependent_objects_still_exist).
    OthersDepend,
}

impl Refusal {
    /// What the database's error means when it refuses so (its profile reads its codes).
    pub fn meaning(self) -> ErrorMeaning {
        match self {
            Self::ColumnsDiffer => ErrorMeaning::ColumnsDiffer,
            Self::OthersDepend => ErrorMeaning::OthersDepend,
        }
    }
}

/// One statement of a [`Ddl`] as it runs, in the order of [`runs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Take the view `name`'s exclusive lock for the rest of the critical section with
    /// `statement`, before any savepoint: a rollback to a savepoint releases a lock taken after
    /// it, and would let a reader in between two attempts.
    Lock { name: String, statement: String },
    /// Run `statement`; `action` is what its failure says was being done.
    Statement {
        statement: String,
        action: &'static str,
    },
    /// Run `statement` in a savepoint. If the database refuses it with `refused`, roll back to
    /// the savepoint and run `instead` in place of every run left; any other failure fails.
    Attempt {
        statement: String,
        action: &'static str,
        refused: Refusal,
        instead: Vec<Run>,
    },
    /// Replace the view `name` in place by one of its columns that shows no rows
    /// ([`Profile::closed_view`]), naming what depends on it, and end the apply as closed.
    Close(String),
}

/// How `ddl` runs on `dialect`. Where its profile has refusals (PostgreSQL): a drop that others
/// depend on closes the view instead; a replace in place whose columns differ drops the view
/// (or closes it, as a drop does) and creates it anew; both after the view's lock. Elsewhere
/// the statement runs as it is.
pub fn runs(dialect: Dialect, ddl: Ddl) -> Vec<Run> {
    let profile = crate::profile::of(dialect);
    let action = ddl.action();
    let drop_or_close = |name: &str| Run::Attempt {
        statement: drop_view(name),
        action: "drop",
        refused: Refusal::OthersDepend,
        instead: vec![Run::Close(name.to_owned())],
    };
    if profile.refusals().is_none() {
        return vec![Run::Statement {
            statement: ddl.statement(),
            action,
        }];
    }
    let lock = |name: &str| {
        profile.lock_view(name).map(|statement| Run::Lock {
            name: name.to_owned(),
            statement,
        })
    };
    match ddl {
        Ddl::Drop(name) => lock(&name)
            .into_iter()
            .chain([drop_or_close(&name)])
            .collect(),
        Ddl::ReplaceInPlace {
            name,
            create_or_replace,
            create,
        } => lock(&name)
            .into_iter()
            .chain([Run::Attempt {
                statement: create_or_replace,
                action,
                refused: Refusal::ColumnsDiffer,
                instead: vec![
                    drop_or_close(&name),
                    Run::Statement {
                        statement: create,
                        action,
                    },
                ],
            }])
            .collect(),
        ddl @ Ddl::Create(_) => vec![Run::Statement {
            statement: ddl.statement(),
            action,
        }],
    }
}

/// The schema (PostgreSQL) or database (MariaDB) to make before the view `reference` is made,
/// where each project has a schema of its own (`per_project`): the one `reference` is qualified
/// with. SQLite's schemas are attached databases, never made.
pub fn schema_to_ensure(dialect: Dialect, per_project: bool, reference: &str) -> Option<String> {
    match (per_project, dialect) {
        (false, _) | (_, Dialect::Sqlite) => None,
        _ => dialect.unqualified(reference)?.0,
    }
}

/// The database's profile's statement that makes `schema` where it is absent (PostgreSQL's
/// `CREATE SCHEMA`, MariaDB's `CREATE DATABASE`, `IF NOT EXISTS`); `None` where the store makes
/// no schemas (SQLite's are attached databases).
pub fn create_schema(dialect: Dialect, schema: &str) -> Option<String> {
    crate::profile::of(dialect).create_schema(&dialect.quote(schema))
}

/// `create` of an object named from a template (a role, a project's schema) inside a view's
/// critical section, where another processor may create the same object at once, as the
/// database's profile runs it (PostgreSQL: in a block that tolerates it).
pub fn tolerating_a_concurrent_create(dialect: Dialect, create: String) -> String {
    crate::profile::of(dialect).tolerating_a_concurrent_create(create)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ViewColumn;

    fn statement(statement: &str, action: &'static str) -> Run {
        Run::Statement {
            statement: statement.to_owned(),
            action,
        }
    }

    /// The statements of a query and of a `CREATE VIEW` answer on each database the store runs,
    /// as its profile writes them around view-sql's parts.
    #[test]
    fn a_views_statements_carry_its_databases_protection() {
        let filtered = "SELECT id FROM people WHERE region = 'EU'";
        let answer = "CREATE VIEW v AS SELECT id FROM people WHERE region = 'EU'";
        let statements = |dialect, sql: &str| {
            let location = crate::profile::view_location(dialect, None);
            let sql = ViewSql::parse(sql, &location).unwrap();
            view_statements(&sql, &location, "v")
        };
        for (dialect, create, replace) in [
            (
                Dialect::Postgres,
                "CREATE VIEW \"v\" WITH (security_barrier = true) AS SELECT id FROM people \
                 WHERE region = 'EU' OFFSET 0",
                Some(
                    "CREATE OR REPLACE VIEW \"v\" WITH (security_barrier = true) AS SELECT id \
                     FROM people WHERE region = 'EU' OFFSET 0",
                ),
            ),
            (
                Dialect::MySql,
                "CREATE ALGORITHM = TEMPTABLE VIEW `v` AS SELECT id FROM people WHERE region = \
                 'EU' LIMIT 18446744073709551615",
                Some(
                    "CREATE OR REPLACE ALGORITHM = TEMPTABLE VIEW `v` AS SELECT id FROM people \
                     WHERE region = 'EU' LIMIT 18446744073709551615",
                ),
            ),
            (
                Dialect::Sqlite,
                "CREATE VIEW \"v\" AS SELECT id FROM people WHERE region = 'EU'",
                None,
            ),
        ] {
            let expected = ViewStatements {
                create: create.to_owned(),
                replace: replace.map(str::to_owned),
            };
            // A query wrapped as the view, and the same view asked for by its own statement.
            assert_eq!(statements(dialect, filtered), expected, "{dialect:?}");
            assert_eq!(statements(dialect, answer), expected, "{dialect:?}");
        }
        // In a schema, and with VIEW_BARRIER=false: PostgreSQL keeps the barrier alone, MariaDB
        // leaves the view to the server.
        for (dialect, create, replace) in [
            (
                Dialect::Postgres,
                "CREATE VIEW \"s\".\"v\" WITH (security_barrier = true) AS SELECT id FROM \
                 people WHERE region = 'EU'",
                "CREATE OR REPLACE VIEW \"s\".\"v\" WITH (security_barrier = true) AS SELECT id \
                 FROM people WHERE region = 'EU'",
            ),
            (
                Dialect::MySql,
                "CREATE VIEW `s`.`v` AS SELECT id FROM people WHERE region = 'EU'",
                "CREATE OR REPLACE VIEW `s`.`v` AS SELECT id FROM people WHERE region = 'EU'",
            ),
        ] {
            let location = ViewLocation {
                barrier: false,
                ..crate::profile::view_location(dialect, Some("s".to_owned()))
            };
            let sql = ViewSql::parse(filtered, &location).unwrap();
            assert_eq!(
                view_statements(&sql, &location, "v"),
                ViewStatements {
                    create: create.to_owned(),
                    replace: Some(replace.to_owned()),
                },
                "{dialect:?}"
            );
        }
    }

    #[test]
    fn a_postgres_drop_locks_the_view_and_closes_it_when_others_depend_on_it() {
        assert_eq!(
            runs(Dialect::Postgres, Ddl::Drop("s.v".into())),
            vec![
                Run::Lock {
                    name: "s.v".into(),
                    statement: "ALTER VIEW IF EXISTS s.v SET (security_barrier = true)".into(),
                },
                Run::Attempt {
                    statement: "DROP VIEW IF EXISTS s.v".into(),
                    action: "drop",
                    refused: Refusal::OthersDepend,
                    instead: vec![Run::Close("s.v".into())],
                },
            ]
        );
    }

    #[test]
    fn a_postgres_replace_whose_columns_differ_drops_or_closes_then_creates() {
        let runs = runs(
            Dialect::Postgres,
            Ddl::ReplaceInPlace {
                name: "s.v".into(),
                create_or_replace: "CREATE OR REPLACE VIEW s.v AS SELECT 2".into(),
                create: "CREATE VIEW s.v AS SELECT 2".into(),
            },
        );
        assert_eq!(
            runs[1],
            Run::Attempt {
                statement: "CREATE OR REPLACE VIEW s.v AS SELECT 2".into(),
                action: "create",
                refused: Refusal::ColumnsDiffer,
                instead: vec![
                    Run::Attempt {
                        statement: "DROP VIEW IF EXISTS s.v".into(),
                        action: "drop",
                        refused: Refusal::OthersDepend,
                        instead: vec![Run::Close("s.v".into())],
                    },
                    statement("CREATE VIEW s.v AS SELECT 2", "create"),
                ],
            }
        );
        assert!(matches!(&runs[0], Run::Lock { name, .. } if name == "s.v"));
        assert_eq!(runs.len(), 2);
    }

    #[test]
    fn elsewhere_each_statement_simply_runs() {
        for dialect in [Dialect::Sqlite, Dialect::MySql] {
            assert_eq!(
                runs(dialect, Ddl::Drop("v".into())),
                vec![statement("DROP VIEW IF EXISTS v", "drop")]
            );
            assert_eq!(
                runs(
                    dialect,
                    Ddl::ReplaceInPlace {
                        name: "v".into(),
                        create_or_replace: "CREATE OR REPLACE VIEW v AS SELECT 1".into(),
                        create: "CREATE VIEW v AS SELECT 1".into(),
                    }
                ),
                vec![statement("CREATE OR REPLACE VIEW v AS SELECT 1", "create")]
            );
        }
        assert_eq!(
            runs(
                Dialect::Postgres,
                Ddl::Create("CREATE VIEW v AS SELECT 1".into())
            ),
            vec![statement("CREATE VIEW v AS SELECT 1", "create")]
        );
    }

    #[test]
    fn only_postgres_refusals_are_answered() {
        let refused = |dialect, sqlstate, native| {
            let meaning = crate::profile::of(dialect).error_meaning(crate::profile::ErrorCode {
                sqlstate: Some(sqlstate),
                native,
            });
            [Refusal::ColumnsDiffer, Refusal::OthersDepend]
                .into_iter()
                .find(|refusal| meaning == Some(refusal.meaning()))
        };
        assert_eq!(
            refused(Dialect::Postgres, "42P16", None),
            Some(Refusal::ColumnsDiffer)
        );
        assert_eq!(
            refused(Dialect::Postgres, "2BP01", None),
            Some(Refusal::OthersDepend)
        );
        assert_eq!(refused(Dialect::Postgres, "42P07", None), None);
        // MariaDB's codes, SQLSTATEs included, never name them.
        for sqlstate in ["42P16", "2BP01", "HY000"] {
            assert_eq!(refused(Dialect::MySql, sqlstate, Some(1050)), None);
        }
    }

    #[test]
    fn a_closed_view_keeps_names_types_and_collations_and_shows_no_rows() {
        let columns = [
            ViewColumn {
                name: "id".into(),
                type_name: "integer".into(),
                collation: None,
            },
            ViewColumn {
                name: "Na\"me".into(),
                type_name: "character varying(20)".into(),
                collation: Some("pg_catalog.\"C\"".into()),
            },
        ];
        let profile = crate::profile::of(Dialect::Postgres);
        assert_eq!(
            profile.closed_view("\"s\".\"v\"", &columns).unwrap(),
            "CREATE OR REPLACE VIEW \"s\".\"v\" WITH (security_barrier = true) AS SELECT \
             CAST(NULL AS integer) AS \"id\", CAST(NULL AS character varying(20)) COLLATE \
             pg_catalog.\"C\" AS \"Na\"\"me\" WHERE false"
        );
        // Only where the database refuses: elsewhere every statement simply runs.
        for dialect in [Dialect::MySql, Dialect::Sqlite] {
            let profile = crate::profile::of(dialect);
            assert_eq!(profile.refusals(), None);
            assert_eq!(profile.closed_view("v", &columns), None);
            assert_eq!(profile.lock_view("v"), None);
        }
    }

    #[test]
    fn a_concurrent_create_is_tolerated_in_a_block_on_postgres_only() {
        assert_eq!(
            tolerating_a_concurrent_create(
                Dialect::Postgres,
                create_schema(Dialect::Postgres, "p_1").unwrap()
            ),
            "DO $$ BEGIN CREATE SCHEMA IF NOT EXISTS \"p_1\"; EXCEPTION WHEN duplicate_object OR \
             duplicate_schema OR unique_violation THEN NULL; END $$"
        );
        assert_eq!(
            tolerating_a_concurrent_create(
                Dialect::MySql,
                create_schema(Dialect::MySql, "p_1").unwrap()
            ),
            "CREATE DATABASE IF NOT EXISTS `p_1`"
        );
        assert_eq!(create_schema(Dialect::Sqlite, "main"), None);
    }
    #[test]
    fn a_projects_schema_is_made_only_where_projects_have_their_own() {
        assert_eq!(
            schema_to_ensure(Dialect::Postgres, true, "\"p_1\".\"v\""),
            Some("p_1".into())
        );
        assert_eq!(
            schema_to_ensure(Dialect::MySql, true, "`p_1`.`v`"),
            Some("p_1".into())
        );
        assert_eq!(
            schema_to_ensure(Dialect::Postgres, false, "\"p_1\".\"v\""),
            None
        );
        assert_eq!(
            schema_to_ensure(Dialect::Sqlite, true, "\"main\".\"v\""),
            None
        );
        assert_eq!(schema_to_ensure(Dialect::MySql, true, "`v`"), None);
    }
}
