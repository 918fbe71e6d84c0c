//! The DDL that carries out a decision about one view, and how a statement is run.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};
use view_sync_core::dialect::Dialect;
use view_sync_core::plan::{Decision, DesiredView, Drift, Target};

/// One DDL step of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ddl {
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
    /// view: it is then closed instead (see `crate::closing`), never dropped with `CASCADE`.
    Drop(String),
}

impl Ddl {
    /// What a failure of the step says was being done.
    pub(crate) fn action(&self) -> &'static str {
        match self {
            Self::Drop(_) => "drop",
            Self::Create(_) | Self::ReplaceInPlace { .. } => "create",
        }
    }
}

/// The steps that carry out `decision`. A view is only ever dropped or replaced when the
/// ledger says it is ours; a view under a name new to it is made with a plain `CREATE VIEW`,
/// which fails rather than clobber a view someone else made.
pub(crate) fn statements(decision: &Decision, target: &Target) -> Vec<Ddl> {
    match (decision, target) {
        (Decision::Drop { name }, _) => vec![Ddl::Drop(name.clone())],
        (Decision::Create, Target::Present(desired)) => vec![Ddl::Create(desired.create.clone())],
        (
            Decision::Replace {
                previous_name: Some(previous),
            },
            Target::Present(desired),
        ) => vec![
            Ddl::Drop(previous.clone()),
            Ddl::Create(desired.create.clone()),
        ],
        // Only who may read it changed: the grants are brought back (see `crate::grants`).
        (
            Decision::Restore {
                drift: Drift::Grants,
            },
            _,
        ) => Vec::new(),
        // Dropped by hand: made again (a plain create, which fails if someone took the name).
        (
            Decision::Restore {
                drift: Drift::Missing,
            },
            Target::Present(desired),
        ) => vec![Ddl::Create(desired.create.clone())],
        (
            Decision::Replace {
                previous_name: None,
            }
            | Decision::Restore { .. },
            Target::Present(desired),
        ) => match &desired.create_or_replace {
            Some(create_or_replace) => vec![Ddl::ReplaceInPlace {
                name: desired.name.clone(),
                create_or_replace: create_or_replace.clone(),
                create: desired.create.clone(),
            }],
            // SQLite, inside the transaction: readers never see the view missing.
            None => vec![
                Ddl::Drop(desired.name.clone()),
                Ddl::Create(desired.create.clone()),
            ],
        },
        _ => Vec::new(),
    }
}

/// `DROP VIEW IF EXISTS` of the view `name`.
pub(crate) fn drop_view(name: &str) -> String {
    format!("DROP VIEW IF EXISTS {name}")
}

/// The statements that make `desired` as the ledger keeps them for `view-sync plan`'s diffs:
/// its create statement, then a GRANT per role that may read it.
pub(crate) fn as_applied(dialect: Dialect, desired: &DesiredView) -> String {
    let mut applied = desired.create.clone();
    for role in &desired.grants {
        applied.push_str(&format!(
            "{GRANTS_FOLLOW}{} TO {}",
            desired.name,
            dialect.quote(role)
        ));
    }
    applied
}

/// What separates the statements of [`as_applied`].
const GRANTS_FOLLOW: &str = ";\nGRANT SELECT ON ";

/// The create statement of what [`as_applied`] made, for `view-sync plan` to word a change
/// (a string literal holding the separator would only cut the statement short there).
pub fn create_statement_of(applied: &str) -> &str {
    applied.split(GRANTS_FOLLOW).next().unwrap_or(applied)
}

/// `CREATE SCHEMA` (PostgreSQL) or `CREATE DATABASE` (MariaDB) `IF NOT EXISTS` of `schema`.
pub(crate) fn create_schema(dialect: Dialect, schema: &str) -> String {
    let kind = match dialect {
        Dialect::Postgres => "SCHEMA",
        _ => "DATABASE",
    };
    format!("CREATE {kind} IF NOT EXISTS {}", dialect.quote(schema))
}

/// PostgreSQL: `create` (of a role or a schema named from a template, so `[a-z0-9_]` and safe
/// inside the block) succeeds when a concurrent session created the same object first. Its
/// unique violation would abort the section's transaction; inside a block it is caught there.
pub(crate) fn tolerating_a_concurrent_create(create: &str) -> String {
    format!(
        "DO $$ BEGIN {create}; \
         EXCEPTION WHEN duplicate_object OR duplicate_schema OR unique_violation THEN NULL; END $$"
    )
}

/// A statement run so that the driver accepts one statement only: PostgreSQL's extended protocol
/// and MariaDB's prepared statements refuse a second one, so even a validation bug cannot chain
/// statements there. (sqlx's SQLite driver runs every statement of a string: there the guarantee
/// rests on `view_sql`, which prints what runs from one parsed statement.) Not cached: DDL runs
/// once per change.
pub(crate) fn one_statement(statement: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(statement)).persistent(false)
}

/// Whether `decision` creates a view under a name the ledger did not hold for it.
pub(crate) fn takes_a_new_name(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Create
            | Decision::Replace {
                previous_name: Some(_)
            }
    )
}

#[cfg(test)]
mod tests {
    use view_sync_core::Id;
    use view_sync_core::dialect::Dialect;
    use view_sync_core::plan::{DesiredView, ViewKey};
    use view_sync_core::view_sql::{ViewLocation, ViewSql};

    use super::*;

    fn desired(dialect: Dialect) -> Target {
        let location = ViewLocation::new(dialect, None);
        let sql = ViewSql::parse("SELECT 1 AS a", &location).unwrap();
        let view = ViewKey {
            project_id: Id::new("1").unwrap(),
            data_source_id: Id::new("2").unwrap(),
        };
        Target::Present(DesiredView::new(view, "v", &sql, &location))
    }

    #[test]
    fn a_new_name_is_a_plain_create_and_a_replace_keeps_readers_served() {
        let sqlite = desired(Dialect::Sqlite);
        let create = |sql: &str| Ddl::Create(sql.to_owned());
        assert_eq!(
            statements(&Decision::Create, &sqlite),
            [create("CREATE VIEW \"v\" AS SELECT 1 AS a")]
        );
        let renamed = Decision::Replace {
            previous_name: Some("\"old\"".into()),
        };
        assert_eq!(
            statements(&renamed, &sqlite),
            [
                Ddl::Drop("\"old\"".into()),
                create("CREATE VIEW \"v\" AS SELECT 1 AS a")
            ]
        );
        let same_name = Decision::Replace {
            previous_name: None,
        };
        assert_eq!(
            statements(&same_name, &sqlite),
            [
                Ddl::Drop("\"v\"".into()),
                create("CREATE VIEW \"v\" AS SELECT 1 AS a")
            ]
        );
        // In place where the database can: what readers built on the view follows it.
        assert_eq!(
            statements(&same_name, &desired(Dialect::MySql)),
            [Ddl::ReplaceInPlace {
                name: "`v`".into(),
                create_or_replace: "CREATE OR REPLACE VIEW `v` AS SELECT 1 AS a".into(),
                create: "CREATE VIEW `v` AS SELECT 1 AS a".into(),
            }]
        );
        assert_eq!(
            statements(&same_name, &desired(Dialect::Postgres)),
            [Ddl::ReplaceInPlace {
                name: "\"v\"".into(),
                create_or_replace:
                    "CREATE OR REPLACE VIEW \"v\" WITH (security_barrier = true) AS SELECT 1 AS a"
                        .into(),
                create: "CREATE VIEW \"v\" WITH (security_barrier = true) AS SELECT 1 AS a".into(),
            }]
        );
        let edited = Decision::Restore {
            drift: Drift::Edited,
        };
        assert_eq!(
            statements(&edited, &sqlite),
            statements(&same_name, &sqlite)
        );
        let dropped_by_hand = Decision::Restore {
            drift: Drift::Missing,
        };
        assert_eq!(
            statements(&dropped_by_hand, &sqlite),
            [create("CREATE VIEW \"v\" AS SELECT 1 AS a")]
        );
        assert!(takes_a_new_name(&Decision::Create) && takes_a_new_name(&renamed));
        assert!(!takes_a_new_name(&same_name));
        assert!(statements(&Decision::Unchanged, &sqlite).is_empty());
    }
}
