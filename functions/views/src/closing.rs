//! How a view's DDL runs: the store executes [`view_sync_core::ddl::runs`], where a refusal by
//! the database and what it leads to are decided (see [`view_sync_core::ddl`] for why a
//! PostgreSQL view fails closed rather than drop what others built on it). What a close needs
//! (the view's columns, what depends on it) and who holds a view's lock are read here.

use std::collections::VecDeque;

use sqlx::{AnyConnection, AssertSqlSafe, Row};
use view_sync_core::ddl::{Column, Ddl, Run, closed_view, runs};
use view_sync_core::plan::ViewKey;
use view_sync_core::printable::printable;

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
                    let blockers = self.dependents(conn, view, &name).await?;
                    let columns = self.columns(conn, view, &name).await?;
                    ddl::run(conn, view, closed_view(&name, &columns), "close").await?;
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
        let holders = sqlx::query_scalar::<_, String>(AssertSqlSafe(
            "SELECT DISTINCT 'session ' || a.pid || ' of ' || COALESCE(quote_ident(a.usename), 'the server') || \
             ' (' || COALESCE(a.state, 'unknown') || COALESCE(', in a transaction since ' || \
             to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') || ')' \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'relation' AND l.relation = to_regclass($1) AND l.granted",
        ))
        .bind(name.to_owned())
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        listed(&holders, "")
    }

    /// What depends on the view `name`, for a person to read: each object with its kind, its
    /// schema (a temporary one is `pg_temp_N`) and its owner. (The view's own rule refers to the
    /// view itself, and is no blocker.) What may be depended on (the view, its row type, that
    /// type's array type) is listed first, so that `pg_depend` is read by its index on what is
    /// referenced: as an `OR` with a subquery on `pg_type` it was a scan of `pg_depend` that read
    /// `pg_type` once per row, past 30 s when the catalog held 100,000 views' worth of rows.
    async fn dependents(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<String, ViewsError> {
        let found: Vec<String> = sqlx::query(AssertSqlSafe(
            "WITH target AS (SELECT c.oid, c.reltype FROM pg_class c WHERE c.oid = to_regclass($1)), \
             referenced (refclassid, refobjid) AS ( \
               SELECT 'pg_class'::regclass::oid, t.oid FROM target t \
               UNION ALL SELECT 'pg_type'::regclass::oid, t.reltype FROM target t \
               UNION ALL SELECT 'pg_type'::regclass::oid, ty.typarray FROM target t \
                 JOIN pg_type ty ON ty.oid = t.reltype WHERE ty.typarray <> 0) \
             SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass THEN ( \
                 SELECT CASE WHEN dc.relpersistence = 't' THEN 'temporary ' ELSE '' END || \
                   CASE dc.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'relation' END || \
                   ' ' || quote_ident(dn.nspname) || '.' || quote_ident(dc.relname) || \
                   ' (owner ' || quote_ident(pg_get_userbyid(dc.relowner)) || ')' \
                 FROM pg_rewrite r JOIN pg_class dc ON dc.oid = r.ev_class \
                 JOIN pg_namespace dn ON dn.oid = dc.relnamespace WHERE r.oid = d.objid) \
               ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END AS blocker \
             FROM referenced ref JOIN pg_depend d \
               ON d.refclassid = ref.refclassid AND d.refobjid = ref.refobjid \
             CROSS JOIN target t WHERE d.deptype = 'n' \
             AND NOT EXISTS (SELECT FROM pg_rewrite own WHERE d.classid = 'pg_rewrite'::regclass \
               AND own.oid = d.objid AND own.ev_class = t.oid) \
             ORDER BY blocker",
        ))
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

    /// The columns of the view `name`, as [`view_sync_core::ddl::closed_view`] repeats them.
    async fn columns(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<Vec<Column>, ViewsError> {
        let rows = sqlx::query(AssertSqlSafe(
            "SELECT CAST(a.attname AS TEXT) AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, \
             CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
               THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        ))
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
                columns.push(Column {
                    name,
                    type_name,
                    collation: read("collation")?,
                });
            }
        }
        Ok(columns)
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
