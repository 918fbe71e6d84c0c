//! How a view's DDL runs: the store executes [`view_sync_core::ddl::runs`], where a refusal by
//! the database and what it leads to are decided (see [`view_sync_core::ddl`] for why a
//! PostgreSQL view fails closed rather than drop what others built on it). What a close needs
//! (the view's columns, what depends on it) and who holds a view's lock are read here, with the
//! reads of the database's profile ([`Refusals`]).

use std::collections::VecDeque;

use sqlx::{AnyConnection, AssertSqlSafe, Row};
use view_sync_core::ddl::{Ddl, Run, runs};
use view_sync_core::plan::ViewKey;
use view_sync_core::printable::printable;
#[cfg(doc)]
use view_sync_core::profile::Refusals;
use view_sync_core::profile::ViewColumn;

use crate::ddl::{self, one_statement};
use crate::error::{ViewsError, error_meaning, label};
use crate::handle::ViewStore;

/// How many blockers are named; the rest are counted.
const BLOCKERS_NAMED: usize = 20;

const SAVEPOINT: &str = "immuta_view_sync_step";

/// What a DDL statement of a plan did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ran {
    Done,
    /// The view `name` was closed instead: `blockers` depend on it.
    Closed {
        name: String,
        blockers: String,
    },
}

impl ViewStore {
    /// Runs one DDL statement of `view`'s plan inside its critical section, as
    /// [`view_sync_core::ddl::runs`] says it runs on this database.
    pub(crate) async fn run_step(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        step: Ddl,
    ) -> Result<Ran, ViewsError> {
        let mut runs: VecDeque<Run> = runs(self.dialect(), step).into();
        while let Some(run) = runs.pop_front() {
            match run {
                Run::Lock { name, statement } => {
                    self.lock_view(conn, view, &name, statement).await?
                }
                Run::Statement { statement, action } => {
                    ddl::run(conn, view, statement, action).await?
                }
                Run::Attempt {
                    statement,
                    action,
                    refused,
                    instead,
                } => {
                    ddl::run(conn, view, format!("SAVEPOINT {SAVEPOINT}"), action).await?;
                    match one_statement(statement).execute(&mut *conn).await {
                        Ok(_) => {}
                        Err(e) if error_meaning(&e) == Some(refused.meaning()) => {
                            ddl::run(
                                conn,
                                view,
                                format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"),
                                action,
                            )
                            .await?;
                            runs = instead.into();
                        }
                        Err(e) => return Err(ViewsError::from_sqlx(e, action, &label(view))),
                    }
                }
                Run::Close(name) => {
                    let profile = self.profile();
                    let blockers = self.dependents(conn, view, &name).await?;
                    let columns = self.columns(conn, view, &name).await?;
                    let Some(closed) = profile.closed_view(&name, &columns) else {
                        return Err(no_refusals(view, profile.name()));
                    };
                    ddl::run(conn, view, closed, "close").await?;
                    return Ok(Ran::Closed { name, blockers });
                }
            }
        }
        Ok(Ran::Done)
    }

    /// Runs [`Run::Lock`]'s `statement`. Past the section's lock timeout the view fails,
    /// retryably, naming the sessions that hold it.
    async fn lock_view(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
        statement: String,
    ) -> Result<(), ViewsError> {
        match one_statement(statement).execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => match ViewsError::from_sqlx(e, "lock", &label(view)) {
                ViewsError::LockTimeout { view: label, .. } => Err(ViewsError::LockTimeout {
                    view: label,
                    held_by: self.lock_holders(name).await,
                }),
                other => Err(other),
            },
        }
    }

    /// The sessions that hold a lock on the view `name`, for a person to read (asked on another
    /// connection: the section's transaction has failed). Empty when they cannot be read.
    async fn lock_holders(&self, name: &str) -> String {
        let Some(refusals) = self.profile().refusals() else {
            return String::new();
        };
        let holders = sqlx::query_scalar::<_, String>(AssertSqlSafe(refusals.lock_holders))
            .bind(name.to_owned())
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        listed(&holders, "")
    }

    /// What depends on the view `name`, for a person to read ([`Refusals::dependents`]).
    async fn dependents(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<String, ViewsError> {
        let Some(refusals) = self.profile().refusals() else {
            return Err(no_refusals(view, self.profile().name()));
        };
        let found: Vec<String> = sqlx::query(AssertSqlSafe(refusals.dependents))
            .bind(name.to_owned())
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "find what depends on", &label(view)))?
            .iter()
            .filter_map(|row| row.try_get::<Option<String>, _>("blocker").ok().flatten())
            .collect();
        // The drop was refused for dependents that are gone by now: the next apply drops it.
        Ok(listed(
            &found,
            "objects that were gone when they were looked for",
        ))
    }

    /// The columns of the view `name`, as the profile's closed view repeats them.
    async fn columns(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<Vec<ViewColumn>, ViewsError> {
        let Some(refusals) = self.profile().refusals() else {
            return Err(no_refusals(view, self.profile().name()));
        };
        let rows = sqlx::query(AssertSqlSafe(refusals.columns))
            .bind(name.to_owned())
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the columns of", &label(view)))?;
        let mut columns = Vec::with_capacity(rows.len());
        for row in &rows {
            let read = |field| {
                row.try_get::<Option<String>, _>(field)
                    .map_err(|e| ViewsError::from_sqlx(e, "read the columns of", &label(view)))
            };
            if let (Some(name), Some(type_name)) = (read("name")?, read("type")?) {
                columns.push(ViewColumn {
                    name,
                    type_name,
                    collation: read("collation")?,
                });
            }
        }
        Ok(columns)
    }
}

/// A close asked of a database whose profile has no refusals: [`view_sync_core::ddl::runs`]
/// asks for none there, so this is a defect, reported rather than run.
fn no_refusals(view: &ViewKey, database: &str) -> ViewsError {
    ViewsError::Refused {
        action: "close",
        view: label(view),
        detail: format!("{database} closes no views: its profile has no refusals"),
    }
}

/// `found`, printable, the first [`BLOCKERS_NAMED`] named and the rest counted; `none` when
/// there are none.
fn listed(found: &[String], none: &str) -> String {
    if found.is_empty() {
        return none.to_owned();
    }
    let mut list: Vec<String> = found
        .iter()
        .take(BLOCKERS_NAMED)
        .map(|blocker| printable(blocker).into_owned())
        .collect();
    if found.len() > BLOCKERS_NAMED {
        list.push(format!("and {} more", found.len() - BLOCKERS_NAMED));
    }
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockers_are_printable_and_bounded() {
        let many: Vec<String> = (0..25).map(|n| format!("view s.v{n} (owner a)")).collect();
        let text = listed(&many, "");
        assert!(text.starts_with("view s.v0 (owner a), view s.v1 (owner a)"));
        assert!(text.ends_with(", and 5 more"), "{text}");
        assert_eq!(listed(&[], "none"), "none");
        assert_eq!(
            listed(
                &["temporary view pg_temp_3.\"x\u{1b}[2J\" (owner alice)".into()],
                ""
            ),
            "temporary view pg_temp_3.\"x\\u{1b}[2J\" (owner alice)"
        );
    }
}
