//! How a view's DDL steps run, and what happens when a view cannot take its newest definition.
//!
//! PostgreSQL keeps what others built on a view (a reader's `TEMP VIEW`, an analyst's view over
//! ours): `CREATE OR REPLACE VIEW` keeps them and serves them the new definition, but only when
//! the new columns extend the old ones as they are; a drop is refused while they exist, and
//! `CASCADE` would drop objects we do not manage, which we never do. A reader could otherwise
//! hold a view at an older, less restrictive policy for as long as they like. So where the new
//! definition cannot replace the old one in place, or the view must go, and something depends
//! on it, the view **fails closed**: it is replaced in place by a view of the same columns that
//! shows no rows, so that neither it nor anything built on it shows the older definition any
//! more; its ledger row says `closed` and names what blocks it, and the apply fails with those
//! names (the log, the audit trail, the failures, `plan` and `status` show them). Every later
//! apply tries again; once the blockers are gone, the view reaches the newest policy.
//!
//! MariaDB replaces and drops a view whatever depends on it (what depended on it becomes
//! invalid), and SQLite tracks no dependencies: there every step simply runs.

use sqlx::{AnyConnection, AssertSqlSafe, Row};
use view_sync_core::plan::ViewKey;
use view_sync_core::printable::printable;

use crate::ddl::{self, Ddl};
use crate::dialect::Dialect;
use crate::error::ViewsError;
use crate::handle::{ViewStore, label};

/// How many blockers are named; the rest are counted.
const BLOCKERS_NAMED: usize = 20;

const SAVEPOINT: &str = "immuta_view_sync_step";

/// What a step did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ran {
    Done,
    /// The view `name` was closed instead: `blockers` depend on it.
    Closed {
        name: String,
        blockers: String,
    },
}

/// PostgreSQL's SQLSTATEs for a replace whose columns do not extend the old ones
/// (invalid_table_definition) and a drop that others depend on (dependent_objects_still_exist).
const COLUMNS_DIFFER: &str = "42P16";
const OTHERS_DEPEND: &str = "2BP01";

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(database) => database.code().map(|code| code.into_owned()),
        _ => None,
    }
}

impl ViewStore {
    /// Runs one step of `view`'s DDL inside its critical section.
    pub(crate) async fn run_step(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        step: Ddl,
    ) -> Result<Ran, ViewsError> {
        let action = step.action();
        match (self.dialect(), step) {
            (Dialect::Postgres, Ddl::Drop(name)) => {
                self.lock_view(conn, view, &name).await?;
                self.drop_or_close(conn, view, name).await
            }
            (
                Dialect::Postgres,
                Ddl::ReplaceInPlace {
                    name,
                    create_or_replace,
                    create,
                },
            ) => {
                self.lock_view(conn, view, &name).await?;
                self.savepoint(conn, view).await?;
                match ddl::one_statement(create_or_replace)
                    .execute(&mut *conn)
                    .await
                {
                    Ok(_) => Ok(Ran::Done),
                    Err(e) if sqlstate(&e).as_deref() == Some(COLUMNS_DIFFER) => {
                        self.roll_back_to_savepoint(conn, view).await?;
                        match self.drop_or_close(conn, view, name).await? {
                            Ran::Done => {
                                self.run_ddl(conn, view, create, action).await?;
                                Ok(Ran::Done)
                            }
                            closed => Ok(closed),
                        }
                    }
                    Err(e) => Err(ViewsError::from_sqlx(e, action, &label(view))),
                }
            }
            (_, Ddl::Drop(name)) => {
                self.run_ddl(conn, view, ddl::drop_view(&name), action)
                    .await?;
                Ok(Ran::Done)
            }
            (_, Ddl::Create(create)) => {
                self.run_ddl(conn, view, create, action).await?;
                Ok(Ran::Done)
            }
            (
                _,
                Ddl::ReplaceInPlace {
                    create_or_replace, ..
                },
            ) => {
                self.run_ddl(conn, view, create_or_replace, action).await?;
                Ok(Ran::Done)
            }
        }
    }

    /// PostgreSQL: drops the view `name`, whose lock the section holds (see
    /// [`ViewStore::lock_view`]), or closes it if others depend on it.
    async fn drop_or_close(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: String,
    ) -> Result<Ran, ViewsError> {
        self.savepoint(conn, view).await?;
        match ddl::one_statement(ddl::drop_view(&name))
            .execute(&mut *conn)
            .await
        {
            Ok(_) => Ok(Ran::Done),
            Err(e) if sqlstate(&e).as_deref() == Some(OTHERS_DEPEND) => {
                self.roll_back_to_savepoint(conn, view).await?;
                let blockers = self.dependents(conn, view, &name).await?;
                self.close(conn, view, &name).await?;
                Ok(Ran::Closed { name, blockers })
            }
            Err(e) => Err(ViewsError::from_sqlx(e, "drop", &label(view))),
        }
    }

    /// PostgreSQL: takes the view `name`'s exclusive lock for the rest of the section, before any
    /// savepoint (rolling back to one would release a lock taken after it, and let a reader in
    /// between the attempts), by setting the option it has anyway. A session that holds the view
    /// (a reader's open transaction) makes this wait; past the section's lock timeout the view
    /// fails, retryably, naming the sessions.
    async fn lock_view(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<(), ViewsError> {
        let lock = format!("ALTER VIEW IF EXISTS {name} SET (security_barrier = true)");
        match ddl::one_statement(lock).execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => match ViewsError::from_sqlx(e, "lock", &label(view)) {
                ViewsError::LockTimeout { view, .. } => Err(ViewsError::LockTimeout {
                    view,
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
    /// view itself, and is no blocker.)
    async fn dependents(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<String, ViewsError> {
        let found: Vec<String> = sqlx::query(AssertSqlSafe(
            "WITH target AS (SELECT c.oid, c.reltype FROM pg_class c WHERE c.oid = to_regclass($1)) \
             SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass THEN ( \
                 SELECT CASE WHEN dc.relpersistence = 't' THEN 'temporary ' ELSE '' END || \
                   CASE dc.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'relation' END || \
                   ' ' || quote_ident(dn.nspname) || '.' || quote_ident(dc.relname) || \
                   ' (owner ' || quote_ident(pg_get_userbyid(dc.relowner)) || ')' \
                 FROM pg_rewrite r JOIN pg_class dc ON dc.oid = r.ev_class \
                 JOIN pg_namespace dn ON dn.oid = dc.relnamespace WHERE r.oid = d.objid) \
               ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END AS blocker \
             FROM pg_depend d CROSS JOIN target t WHERE d.deptype = 'n' AND ( \
               (d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid) OR \
               (d.refclassid = 'pg_type'::regclass AND d.refobjid IN \
                 (SELECT oid FROM pg_type WHERE oid = t.reltype OR typelem = t.reltype))) \
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

    /// Replaces the view `name` in place by one of the same columns that shows no rows.
    async fn close(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        name: &str,
    ) -> Result<(), ViewsError> {
        let columns = sqlx::query(AssertSqlSafe(
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
        let mut select = Vec::with_capacity(columns.len());
        for column in &columns {
            let read = |field| {
                column
                    .try_get::<Option<String>, _>(field)
                    .map_err(|e| ViewsError::from_sqlx(e, "read the columns of", &label(view)))
            };
            let (Some(column), Some(type_name)) = (read("name")?, read("type")?) else {
                continue;
            };
            let collate = read("collation")?
                .map(|collation| format!(" COLLATE {collation}"))
                .unwrap_or_default();
            select.push(format!(
                "CAST(NULL AS {type_name}){collate} AS {}",
                Dialect::Postgres.quote(&column)
            ));
        }
        let closed = format!(
            "CREATE OR REPLACE VIEW {name} WITH (security_barrier = true) AS SELECT {} WHERE false",
            select.join(", ")
        );
        self.run_ddl(conn, view, closed, "close").await
    }

    async fn savepoint(&self, conn: &mut AnyConnection, view: &ViewKey) -> Result<(), ViewsError> {
        self.run_ddl(conn, view, format!("SAVEPOINT {SAVEPOINT}"), "replace")
            .await
    }

    async fn roll_back_to_savepoint(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
    ) -> Result<(), ViewsError> {
        self.run_ddl(
            conn,
            view,
            format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"),
            "replace",
        )
        .await
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
