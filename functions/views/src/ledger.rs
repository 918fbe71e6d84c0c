//! The ledger of managed views: one row per (project, data source) with the view's name, the
//! digest of its create statement, its state, and the `observed_at` of the decision last applied
//! (a drop leaves a tombstone). Read and written inside the view's critical section.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use view_sync_core::Id;
use view_sync_core::apply::RowWrite;
use view_sync_core::plan::{LedgerRow, RowState, Scope, ViewKey};
use view_sync_core::printable::printable;

use crate::ddl;
use crate::dialect::{Dialect, LedgerSql};
use crate::error::{ViewsError, label};
use crate::statement::{Statement, Value};
use view_sync_core::profile::{self, AppliedSql, LEDGER_COLUMNS, StoreIndex};

/// The ledger columns a [`LedgerRow`] is read from.
const ROW_COLUMNS: &str = "project_id, data_source_id, view_name, sql_digest, state, observed_at, \
     catalog_digest, grants_digest, blocked_by";

/// Columns added since the ledger's first version: added, as the profile defines them, to a
/// ledger made earlier when a process first opens it. `catalog_digest`: the catalog's digest of
/// the view (drift); `applied_sql`: the create statement last applied, what `view-sync plan`
/// diffs a replace against; `grants_digest`: who could read the view right after it was applied
/// (see `crate::grants`); `blocked_by`: what keeps a closed view closed (see `crate::closing`).
const ADDED_COLUMNS: [&str; 4] = [
    "catalog_digest",
    "applied_sql",
    "grants_digest",
    "blocked_by",
];

/// What a PostgreSQL section takes as it starts ([`Ledger::reserve_row`]).
pub(crate) struct SectionLocks {
    /// The shared advisory locks of the view's scopes, for a view wanted present (see
    /// [`crate::marks`]).
    pub(crate) scopes: Option<[i64; 2]>,
    /// The advisory locks of the names the view may take, in increasing order.
    pub(crate) names: Vec<[i32; 2]>,
}

/// The ledger table.
pub(crate) struct Ledger {
    /// Quoted and qualified.
    name: String,
    /// The table's name as created, unquoted.
    table: String,
    dialect: Dialect,
    /// The schema the ledger is in, where a view named unqualified by an earlier version is.
    schema: Option<String>,
    /// PostgreSQL with no schema configured: `public` (see
    /// [`crate::StoreConfig::schema_of`]), where an earlier version went by the `search_path`.
    default_schema: bool,
}

impl Ledger {
    pub(crate) fn new(
        dialect: Dialect,
        schema: Option<String>,
        table: &str,
        default_schema: bool,
    ) -> Self {
        Self {
            name: dialect.qualified(schema.as_deref(), table),
            table: table.to_owned(),
            dialect,
            schema,
            default_schema,
        }
    }

    /// The table, as statements refer to it.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// PostgreSQL's start of a view's section, in one statement (each is a round trip of every
    /// apply): takes `locks` (they must come before the row lock) and inserts a placeholder row
    /// (a tombstone observed at 0) unless the view has one, so that there is a row to lock even
    /// for a view the ledger has never seen.
    pub(crate) async fn reserve_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        locks: &SectionLocks,
    ) -> Result<(), ViewsError> {
        let columns =
            "project_id, data_source_id, view_name, sql_digest, state, observed_at, updated_at";
        // Each CTE reads the one before it, so they run in this order; CTEs with volatile
        // functions are evaluated once, before the insert reads its row.
        let mut ctes = Vec::new();
        // The CTE the insert reads from: the last one.
        let mut last = None;
        let mut n = 2;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if locks.scopes.is_some() {
            ctes.push(format!(
                "scope_locks AS (SELECT pg_advisory_xact_lock_shared({}) AS data_source, \
                 pg_advisory_xact_lock_shared({}) AS project)",
                next(),
                next()
            ));
            last = Some("scope_locks");
        }
        if !locks.names.is_empty() {
            let keys: Vec<String> = locks
                .names
                .iter()
                .map(|_| format!("({}::int, {}::int)", next(), next()))
                .collect();
            // The two-integer form: a lock space of its own, apart from the scopes' keys.
            ctes.push(format!(
                "name_locks AS (SELECT count(pg_advisory_xact_lock(k1, k2)) AS locked FROM {}\
                 (VALUES {}) AS keys (k1, k2))",
                if locks.scopes.is_some() {
                    "scope_locks, "
                } else {
                    ""
                },
                keys.join(", ")
            ));
            last = Some("name_locks");
        }
        let values = "$1, $2, '', '', 'dropped', 0, 0";
        let placeholder = match last {
            None => format!(
                "INSERT INTO {} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING",
                self.name
            ),
            Some(last) => format!(
                "WITH {} INSERT INTO {} ({columns}) SELECT {values} FROM {last} \
                 ON CONFLICT DO NOTHING",
                ctes.join(", "),
                self.name,
            ),
        };
        let mut query = sqlx::query(AssertSqlSafe(placeholder))
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned());
        for key in locks.scopes.into_iter().flatten() {
            query = query.bind(key);
        }
        for [high, low] in &locks.names {
            query = query.bind(*high).bind(*low);
        }
        query
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "lock", &label(view)))
    }

    /// `CREATE TABLE` of the ledger, as the database's profile makes it.
    pub(crate) fn create_table(&self) -> String {
        profile::of(self.dialect).create_ledger(&self.name)
    }

    /// PostgreSQL, schema not configured: an earlier version made the ledger wherever the
    /// `search_path` said. If a ledger of this name is on the `search_path` in another schema
    /// and none is in ours, starting a second one would leave its views unmanaged: refused,
    /// naming the schema to configure.
    pub(crate) async fn refuse_a_ledger_elsewhere_on_the_search_path(
        &self,
        pool: &AnyPool,
    ) -> Result<(), ViewsError> {
        if !self.default_schema {
            return Ok(());
        }
        let Some((Some(ours), name)) = self.dialect.unqualified(&self.name) else {
            return Ok(());
        };
        let elsewhere: Option<String> = sqlx::query_scalar(AssertSqlSafe(
            "SELECT CAST(n.nspname AS TEXT) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1) AND n.nspname <> $2 AND to_regclass($3) IS NULL",
        ))
        .bind(self.dialect.quote(&name))
        .bind(ours.clone())
        .bind(self.name.clone())
        .fetch_optional(pool)
        .await
        .map_err(|e| ViewsError::from_sqlx(e, "look for", &self.name))?;
        match elsewhere {
            None => Ok(()),
            Some(schema) => Err(ViewsError::Refused {
                action: "create",
                view: self.name.clone(),
                detail: printable(&format!(
                    "a ledger {name} exists in schema {schema} (found through the search_path) \
                     but not in {ours}, where this version keeps it when no schema is \
                     configured: set VIEW_SCHEMA={schema} (LEDGER_SCHEMA={schema} with a \
                     schema per project), or another LEDGER_TABLE for a new deployment"
                ))
                .into_owned(),
            }),
        }
    }

    /// PostgreSQL, schema not configured: an earlier version named its views unqualified, in
    /// the schema of its ledger, which is ours (see above). Their rows name them qualified from
    /// now on, so that a view is never taken for another one of the same name.
    pub(crate) async fn qualify_names_of_earlier_versions(
        &self,
        pool: &AnyPool,
    ) -> Result<(), ViewsError> {
        if !self.default_schema {
            return Ok(());
        }
        let Some((Some(ours), _)) = self.dialect.unqualified(&self.name) else {
            return Ok(());
        };
        let sql = format!(
            "UPDATE {} SET view_name = $1 || view_name \
             WHERE view_name LIKE '\"%' AND view_name NOT LIKE '%\".\"%'",
            self.name
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(format!("{}.", self.dialect.quote(&ours)))
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, "update", &self.name))
    }

    /// Adds the columns a ledger made by an earlier version lacks. A probe per column, since
    /// SQLite has no `ADD COLUMN IF NOT EXISTS`; two processes racing to add one: the loser's
    /// `ALTER` fails, and its probe then finds the column.
    pub(crate) async fn add_missing_columns(&self, pool: &AnyPool) -> Result<(), ViewsError> {
        let types = profile::of(self.dialect).column_types();
        for name in ADDED_COLUMNS {
            let column = LEDGER_COLUMNS
                .iter()
                .find(|column| column.name == name)
                .expect("a ledger column");
            let definition = types.definition(column);
            let probe = format!("SELECT {name} FROM {} WHERE 1 = 0", self.name);
            if sqlx::query(AssertSqlSafe(probe.clone()))
                .execute(pool)
                .await
                .is_ok()
            {
                continue;
            }
            let alter = format!("ALTER TABLE {} ADD COLUMN {definition}", self.name);
            if let Err(e) = sqlx::query(AssertSqlSafe(alter)).execute(pool).await
                && sqlx::query(AssertSqlSafe(probe))
                    .execute(pool)
                    .await
                    .is_err()
            {
                return Err(ViewsError::from_sqlx(e, "add a column to", &self.name));
            }
        }
        Ok(())
    }

    /// Adds the index on `view_name` that [`Ledger::holders_of`] looks names up by in every
    /// apply (without it each apply read the whole ledger: 1.3 ms on MariaDB at 4,700 rows, and
    /// growing). Made by the first process of this version to open a ledger made earlier;
    /// looked for first where making it would lock the ledger or fail for being there (see
    /// [`ddl::make_index`]); two processes racing to make it: the loser finds it made.
    pub(crate) async fn add_name_index(&self, pool: &AnyPool) -> Result<(), ViewsError> {
        // A view's reference may be 1,024 characters: its first 255 tell views apart where the
        // database keys a column's first characters only (MariaDB).
        let index = profile::of(self.dialect)
            .add_index(&StoreIndex {
                schema: self.schema.as_deref(),
                table: &self.table,
                name: &format!("{}_view_name", self.table),
                column: "view_name",
                prefix: Some(255),
            })
            .map_err(|e| ViewsError::Unavailable(format!("the ledger's index: {e}")))?;
        ddl::make_index(pool, index, &self.name).await
    }

    /// Ledger rows in `scope`.
    pub(crate) async fn rows(
        &self,
        pool: &AnyPool,
        scope: &Scope,
    ) -> Result<Vec<LedgerRow>, ViewsError> {
        let select = format!("SELECT {ROW_COLUMNS} FROM {}", self.name);
        let p = |n| self.dialect.param(n);
        let (sql, binds): (String, Vec<&str>) = match scope {
            Scope::DataSource(id) => (
                format!("{select} WHERE data_source_id = {}", p(1)),
                vec![id.as_str()],
            ),
            Scope::Project(id) => (
                format!("{select} WHERE project_id = {}", p(1)),
                vec![id.as_str()],
            ),
            Scope::View(view) => (
                format!("{select} WHERE {}", self.view_predicate()),
                vec![view.project_id.as_str(), view.data_source_id.as_str()],
            ),
            Scope::Everything => (select, vec![]),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value.to_owned());
        }
        let rows = query
            .fetch_all(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read", &self.name))?;
        Ok(rows
            .iter()
            .filter_map(ledger_row)
            .map(|row| self.qualified_row(row))
            .collect())
    }

    /// A row as this version names its view: one an earlier version wrote unqualified (until
    /// [`Ledger::qualify_names_of_earlier_versions`] ran, or by a process of that version
    /// still running) is in the ledger's schema.
    fn qualified_row(&self, mut row: LedgerRow) -> LedgerRow {
        if self.default_schema
            && let Some((None, name)) = self.dialect.unqualified(&row.view_name)
        {
            row.view_name = self.dialect.qualified(self.schema.as_deref(), &name);
        }
        row
    }

    /// `project_id = ? AND data_source_id = ?`: one view's ledger row, bound as the first two
    /// parameters.
    pub(crate) fn view_predicate(&self) -> String {
        let p = |n| self.dialect.param(n);
        format!("project_id = {} AND data_source_id = {}", p(1), p(2))
    }

    pub(crate) async fn restore_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        previous: Option<&RowWrite>,
    ) -> Result<(), ViewsError> {
        match previous {
            Some(row) => self.write_row(conn, view, row).await,
            None => {
                let sql = format!("DELETE FROM {} WHERE {}", self.name, self.view_predicate());
                sqlx::query(AssertSqlSafe(sql))
                    .bind(view.project_id.as_str().to_owned())
                    .bind(view.data_source_id.as_str().to_owned())
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        ViewsError::from_sqlx(e, "restore the ledger row of", &label(view))
                    })
            }
        }
    }

    /// The view's row, where the section's own lock keeps it (SQLite's writer, MariaDB's named
    /// lock); PostgreSQL's section locks and reads it with [`Ledger::read_row_with_holders`].
    pub(crate) async fn read_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
    ) -> Result<Option<LedgerRow>, ViewsError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM {} WHERE {}",
            self.name,
            self.view_predicate()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger row of", &label(view)))?;
        Ok(row
            .as_ref()
            .and_then(ledger_row)
            .map(|row| self.qualified_row(row)))
    }

    /// Where the other views of ours (rows not dropped) that hold one of the names at
    /// `placeholders` are; the view's own key is at the first two parameters.
    fn holders_from(&self, placeholders: &[String]) -> String {
        let p = |n| self.dialect.param(n);
        format!(
            "FROM {} AS holder WHERE NOT (holder.project_id = {} AND holder.data_source_id = {}) \
             AND holder.state <> 'dropped' AND holder.view_name IN ({})",
            self.name,
            p(1),
            p(2),
            placeholders.join(", ")
        )
    }

    /// PostgreSQL's read at the start of a view's section, in one statement (each is a round
    /// trip of every apply): the view's row, locked until the section ends; the other views of
    /// ours that hold any of `names` (as [`Ledger::holders_of`]); and the one value `scalar`
    /// selects from another table (the newest scope mark), with its binds, numbered from `$3`
    /// (after the view's two). Sound only once the section holds the locks that keep what it reads
    /// from changing: those of `names`, and those of the scopes a mark is written under.
    pub(crate) async fn read_row_with_holders(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        names: &[String],
        scalar: Option<(String, Vec<String>)>,
    ) -> Result<(Option<LedgerRow>, BTreeMap<String, ViewKey>, Option<i64>), ViewsError> {
        let mut binds = vec![
            view.project_id.as_str().to_owned(),
            view.data_source_id.as_str().to_owned(),
        ];
        let (scalar_sql, scalar_binds) =
            scalar.unwrap_or_else(|| ("CAST(NULL AS BIGINT)".to_owned(), Vec::new()));
        binds.extend(scalar_binds);
        let names_from = binds.len() + 1;
        let placeholders: Vec<String> = (names_from..names_from + names.len())
            .map(|n| format!("${n}"))
            .collect();
        binds.extend(names.iter().cloned());
        let holders = match names {
            [] => "CAST(NULL AS TEXT)".to_owned(),
            _ => format!(
                "(SELECT CAST(json_agg(json_build_array(view_name, project_id, data_source_id)) \
                 AS TEXT) {})",
                self.holders_from(&placeholders)
            ),
        };
        let sql = format!(
            "SELECT {ROW_COLUMNS}, {scalar_sql} AS scalar, {holders} AS holders FROM {} WHERE {} FOR UPDATE",
            self.name,
            self.view_predicate()
        );
        let values = binds.into_iter().map(Value::from).collect();
        let read = Statement { sql, values }
            .query()
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger row of", &label(view)))?;
        let Some(read) = read else {
            return Ok((None, BTreeMap::new(), None));
        };
        let scalar: Option<i64> = read
            .try_get("scalar")
            .map_err(|e| ViewsError::from_sqlx(e, "read the scope marks of", &label(view)))?;
        let holders: Option<String> = read
            .try_get("holders")
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger for", &label(view)))?;
        let holders = match holders {
            None => BTreeMap::new(),
            Some(json) => holders_from_json(&json).ok_or_else(|| {
                ViewsError::Unavailable(format!(
                    "the ledger's holders of the names of {} came back in a shape not asked for",
                    label(view)
                ))
            })?,
        };
        let row = ledger_row(&read).map(|row| self.qualified_row(row));
        Ok((row, holders, scalar))
    }

    /// The other views of ours (rows not dropped) that hold any of `names`, by name.
    pub(crate) async fn holders_of(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        names: &[String],
    ) -> Result<BTreeMap<String, ViewKey>, ViewsError> {
        let p = |n| self.dialect.param(n);
        let placeholders: Vec<String> = (3..3 + names.len()).map(p).collect();
        // Parameters in the order they are bound: MariaDB's `?` are positional.
        let sql = format!(
            "SELECT view_name, project_id, data_source_id {}",
            self.holders_from(&placeholders)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned());
        for name in names {
            query = query.bind(name.clone());
        }
        let rows = query
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger for", &label(view)))?;
        let mut holders = BTreeMap::new();
        for row in rows {
            let id = |column: &str| row.try_get::<String, _>(column).ok().and_then(Id::new);
            if let (Ok(name), Some(project_id), Some(data_source_id)) = (
                row.try_get::<String, _>("view_name"),
                id("project_id"),
                id("data_source_id"),
            ) {
                holders.insert(
                    name,
                    ViewKey {
                        project_id,
                        data_source_id,
                    },
                );
            }
        }
        Ok(holders)
    }

    pub(crate) async fn write_row(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        row: &RowWrite,
    ) -> Result<(), ViewsError> {
        self.write_row_statement(view, row)
            .execute(conn, "record in the ledger", &label(view))
            .await
    }

    /// The upsert of `view`'s row, as the database's profile writes it: with the applied SQL
    /// where `row` has one, else keeping the row's own.
    pub(crate) fn write_row_statement(&self, view: &ViewKey, row: &RowWrite) -> Statement {
        let applied_sql = match row.applied_sql {
            Some(_) => AppliedSql::Written,
            None => AppliedSql::Kept,
        };
        let upsert = profile::of(self.dialect).upsert_ledger_row(&self.name, applied_sql);
        let values = upsert
            .binds
            .iter()
            .map(|column| ledger_value(column, view, row))
            .collect();
        Statement {
            sql: upsert.statement,
            values,
        }
    }

    /// The create statement last applied to `view`, if the ledger kept it (rows of an earlier
    /// version did not).
    pub(crate) async fn applied_sql(
        &self,
        pool: &AnyPool,
        view: &ViewKey,
    ) -> Result<Option<String>, ViewsError> {
        let sql = format!(
            "SELECT applied_sql FROM {} WHERE {}",
            self.name,
            self.view_predicate()
        );
        let applied: Option<Option<String>> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(view.project_id.as_str().to_owned())
            .bind(view.data_source_id.as_str().to_owned())
            .fetch_optional(pool)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the ledger row of", &label(view)))?;
        Ok(applied.flatten())
    }
}

/// The value `row` writes to the ledger's `column` for `view`.
fn ledger_value(column: &str, view: &ViewKey, row: &RowWrite) -> Value {
    match column {
        "project_id" => view.project_id.as_str().into(),
        "data_source_id" => view.data_source_id.as_str().into(),
        "view_name" => row.name.clone().into(),
        "sql_digest" => row.digest.clone().into(),
        "state" => row.state.as_str().into(),
        "observed_at" => row.observed_at.into(),
        "updated_at" => now_micros().into(),
        "catalog_digest" => row.catalog_digest.clone().into(),
        "applied_sql" => row.applied_sql.clone().into(),
        "grants_digest" => row.grants_digest.clone().into(),
        "blocked_by" => row.blocked_by.clone().into(),
        other => unreachable!("the ledger has no column {other}"),
    }
}

fn ledger_row(row: &AnyRow) -> Option<LedgerRow> {
    Some(LedgerRow {
        view: ViewKey {
            project_id: Id::new(row.try_get::<String, _>("project_id").ok()?)?,
            data_source_id: Id::new(row.try_get::<String, _>("data_source_id").ok()?)?,
        },
        view_name: row.try_get("view_name").ok()?,
        sql_digest: row.try_get("sql_digest").ok()?,
        state: RowState::parse(&row.try_get::<String, _>("state").ok()?)?,
        observed_at: row.try_get("observed_at").ok()?,
        catalog_digest: row.try_get("catalog_digest").ok()?,
        grants_digest: row.try_get("grants_digest").ok()?,
        blocked_by: row
            .try_get::<Option<String>, _>("blocked_by")
            .ok()?
            .unwrap_or_default(),
    })
}

/// Microseconds since the Unix epoch: the unit of `observed_at`.
pub use view_sync_core::time::now_micros;

/// The holders PostgreSQL aggregated as `[[view_name, project_id, data_source_id], …]`.
fn holders_from_json(json: &str) -> Option<BTreeMap<String, ViewKey>> {
    let rows: Vec<(String, String, String)> = serde_json::from_str(json).ok()?;
    // A row whose ids are not ids is left out, as `Ledger::holders_of` leaves it out.
    Some(
        rows.into_iter()
            .filter_map(|(name, project_id, data_source_id)| {
                Some((
                    name,
                    ViewKey {
                        project_id: Id::new(project_id)?,
                        data_source_id: Id::new(data_source_id)?,
                    },
                ))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column the profiles' upserts bind has a value, in the order they bind them.
    #[test]
    fn a_row_has_a_value_for_every_column_an_upsert_binds() {
        let view = ViewKey {
            project_id: Id::new("7".to_owned()).unwrap(),
            data_source_id: Id::new("42".to_owned()).unwrap(),
        };
        let mut row = RowWrite {
            name: "\"v\"".into(),
            digest: "d".into(),
            state: RowState::Present,
            observed_at: 5,
            catalog_digest: String::new(),
            applied_sql: Some("CREATE VIEW v AS SELECT 1".into()),
            grants_digest: String::new(),
            blocked_by: None,
        };
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let ledger = Ledger::new(dialect, None, "ledger", false);
            let written = ledger.write_row_statement(&view, &row);
            assert_eq!(written.values.len(), 11, "{}", written.sql);
            assert!(written.sql.contains("applied_sql"));
            row.applied_sql = None;
            let kept = ledger.write_row_statement(&view, &row);
            assert_eq!(kept.values.len(), 10, "{}", kept.sql);
            assert!(!kept.sql.contains("applied_sql"), "{}", kept.sql);
            row.applied_sql = Some("CREATE VIEW v AS SELECT 1".into());
        }
    }
}
