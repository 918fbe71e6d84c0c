//! What the database's own catalog says, beside what the ledger says: the views in the store's
//! schema, and each view's definition as the database keeps it, which drift is found by.
//!
//! A view's *catalog digest* is the SHA-256 of what the catalog holds for it: the definition as
//! the database normalised it, and what else decides what the view shows — PostgreSQL's owner and
//! options (`security_barrier`, `security_invoker`), MariaDB's definer, security type and check
//! option. It is recorded right after each apply and compared with the catalog's later; the
//! statement we ran is never compared with the catalog's text, which each database rewrites.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use sqlx::any::AnyExecutor;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use view_sync_core::grants::{self, Grant};
use view_sync_core::hex;
use view_sync_core::plan::{self, LedgerRow, Scope};

use crate::dialect::Dialect;
use crate::error::ViewsError;
use crate::handle::ViewStore;

/// Which of the catalog's rows [`ViewStore::definitions`] reads.
enum Rows {
    All,
    /// Only `sqlite_master`'s last row, the one a CREATE VIEW has just written (SQLite).
    LastOnly,
    /// A page of [`CATALOG_PAGE`] views named after this one, in the catalog's order
    /// (PostgreSQL).
    After(String),
}

/// Views per read of PostgreSQL's catalog: each is locked until its page's transaction ends, in
/// the lock table all sessions share (`max_locks_per_transaction` × `max_connections` entries,
/// 6,400 by default), beside the locks of the applies running at once.
const CATALOG_PAGE: usize = 500;

/// What the catalog holds for every view in the schemas of the views: definitions and, where
/// grants are managed, who may read each.
pub struct CatalogState {
    definitions: BTreeMap<String, String>,
    grants: Option<BTreeMap<String, String>>,
    no_grants: String,
}

impl CatalogState {
    /// The view that `reference` names (as the ledger names it), `None` if the catalog has none.
    pub fn get(&self, reference: &str) -> Option<plan::InCatalog<'_>> {
        let definition = self.definitions.get(reference)?;
        let grants = self.grants.as_ref().map(|grants| {
            grants
                .get(reference)
                .map_or(self.no_grants.as_str(), String::as_str)
        });
        Some(plan::InCatalog { definition, grants })
    }
}

impl ViewStore {
    /// Whether `VIEW_GRANT_ROLES` is set: otherwise grants are left as they are.
    pub fn manages_grants(&self) -> bool {
        self.grants.manages()
    }

    /// Whether the processor's user can read who holds `SELECT` on the views (on MariaDB,
    /// `mysql.tables_priv` and `mysql.columns_priv`): `view-sync doctor`'s check.
    pub async fn check_grants_readable(&self) -> Result<(), ViewsError> {
        self.catalog_state().await?;
        self.grants.check_privilege_tables(&self.pool).await
    }

    /// [`CatalogState`] of every view in the schemas of the views.
    pub async fn catalog_state(&self) -> Result<CatalogState, ViewsError> {
        self.catalog_state_of(&self.rows(&Scope::Everything).await?)
            .await
    }

    /// [`Self::catalog_state`], given every row of the ledger (they name the schemas).
    pub async fn catalog_state_of(&self, rows: &[LedgerRow]) -> Result<CatalogState, ViewsError> {
        let schemas = self.schemas_of(rows);
        let definitions = self.catalog_digests_in(schemas.clone()).await?;
        let grants = if self.manages_grants() {
            let mut by_view: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
            for schema in schemas {
                for (view, grant) in self.grants.held(&self.pool, schema, None).await? {
                    by_view.entry(view).or_default().insert(grant);
                }
            }
            Some(
                by_view
                    .into_iter()
                    .map(|(view, grantees)| (view, grants::digest(&grantees)))
                    .collect(),
            )
        } else {
            None
        };
        Ok(CatalogState {
            definitions,
            grants,
            no_grants: grants::digest(&BTreeSet::new()),
        })
    }

    /// Every view in the schemas of the views (SQLite: the database), as the ledger refers to them.
    pub async fn views_in_catalog(&self) -> Result<BTreeSet<String>, ViewsError> {
        Ok(self.catalog_digests().await?.into_keys().collect())
    }

    /// The catalog digest of the view that `reference` names (as the ledger names it), `None`
    /// when the catalog has no view of that name.
    pub(crate) async fn catalog_digest(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<Option<String>, ViewsError> {
        let Some((schema, name)) = self.dialect().unqualified(reference) else {
            return Ok(None);
        };
        let found = self
            .definitions(&mut *conn, schema, Some(name.clone()), Rows::All)
            .await?;
        Ok(the_one_named(found, &name))
    }

    /// [`Self::catalog_digest`] of a view that this connection has just created. SQLite finds a
    /// view by name only by reading all of `sqlite_master` (it has no index on it), which at
    /// thousands of views costs as much as the CREATE VIEW itself; but the row a CREATE VIEW has
    /// just written is the table's last (a new rowid is one past the largest), found by a seek.
    /// When that row is not the view, or on the other databases, the catalog is read as usual.
    pub(crate) async fn created_view_digest(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<Option<String>, ViewsError> {
        if self.dialect() == Dialect::Sqlite
            && let Some((schema, name)) = self.dialect().unqualified(reference)
        {
            let found = self
                .definitions(&mut *conn, schema, Some(name.clone()), Rows::LastOnly)
                .await?;
            if let Some(digest) = the_one_named(found, &name) {
                return Ok(Some(digest));
            }
        }
        self.catalog_digest(conn, reference).await
    }

    /// The catalog digest of every view in the schemas of the views (see
    /// [`ViewStore::view_schemas`]), by the reference the ledger uses.
    pub async fn catalog_digests(&self) -> Result<BTreeMap<String, String>, ViewsError> {
        self.catalog_digests_in(self.view_schemas().await?).await
    }

    /// [`Self::catalog_digests`] of the views in `schemas`. PostgreSQL's are read a page at a
    /// time, each page in its own transaction: `pg_get_viewdef` locks every view it reads until
    /// the transaction ends, and one statement over 100,000 views runs out of the server's lock
    /// slots ("out of shared memory"). The pages are not one snapshot: a view made or dropped
    /// while they are read may be missed, as it would be by a read an instant earlier or later.
    pub(crate) async fn catalog_digests_in(
        &self,
        schemas: BTreeSet<Option<String>>,
    ) -> Result<BTreeMap<String, String>, ViewsError> {
        let mut found = BTreeMap::new();
        for schema in schemas {
            let mut rows = match self.dialect() {
                Dialect::Postgres => Rows::After(String::new()),
                Dialect::Sqlite | Dialect::MySql => Rows::All,
            };
            loop {
                let page = self
                    .definitions(&self.pool, schema.clone(), None, rows)
                    .await?;
                let full = page.len() == CATALOG_PAGE;
                let last = page.last().map(|(name, _)| name.clone());
                found.extend(page.into_iter().map(|(name, digest)| {
                    (
                        self.dialect().qualified(
                            schema.as_deref().or(self.location().schema.as_deref()),
                            &name,
                        ),
                        digest,
                    )
                }));
                match last {
                    Some(last) if full && self.dialect() == Dialect::Postgres => {
                        rows = Rows::After(last);
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// The views of `schema` (the connection's own when `None`), or only the one called `name`,
    /// with their catalog digests, by name as the catalog spells it.
    async fn definitions<'c>(
        &self,
        executor: impl AnyExecutor<'c>,
        schema: Option<String>,
        name: Option<String>,
        rows: Rows,
    ) -> Result<Vec<(String, String)>, ViewsError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                let master = format!(
                    "{}sqlite_master",
                    schema
                        .as_deref()
                        .map(|s| format!("{}.", self.dialect().quote(s)))
                        .unwrap_or_default()
                );
                let last_only = match rows {
                    Rows::All | Rows::After(_) => String::new(),
                    Rows::LastOnly => format!(" AND rowid = (SELECT max(rowid) FROM {master})"),
                };
                format!(
                    "SELECT name, sql AS definition FROM {master} \
                     WHERE type = 'view' AND (?1 IS NULL OR name = ?1){last_only}"
                )
            }
            // One view is asked for by its name alone, never as `(name IS NULL OR …)`: a
            // prepared statement's generic plan cannot use the catalog's name index for that, and
            // PostgreSQL then scans every relation, MariaDB opens every view of the schema, at
            // each apply (10 ms a view at 100,000 views).
            // The views are chosen in a subquery, so that a page's LIMIT applies before
            // `pg_get_viewdef` runs (and locks), not after it ran for every view to sort them.
            Dialect::Postgres => format!(
                "SELECT CAST(v.relname AS TEXT) AS name, \
                 pg_get_viewdef(v.oid) || '|' || pg_get_userbyid(v.relowner) || '|' || \
                 COALESCE(array_to_string(v.reloptions, ','), '') AS definition \
                 FROM (SELECT c.oid, c.relname, c.relowner, c.reloptions \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'v' AND n.nspname = COALESCE($1, current_schema()){}",
                match (&name, &rows) {
                    (Some(_), _) => " AND c.relname = $2) AS v".to_owned(),
                    // Compared and ordered as `name`s (in the C collation, bytes), so that the
                    // next page starts right after this one's last view.
                    (None, Rows::After(_)) => format!(
                        " AND c.relname > CAST($2 AS name) ORDER BY c.relname LIMIT {CATALOG_PAGE}) \
                         AS v ORDER BY v.relname"
                    ),
                    (None, _) => ") AS v".to_owned(),
                }
            ),
            Dialect::MySql => format!(
                "SELECT CAST(TABLE_NAME AS CHAR) AS name, \
                 CAST(CONCAT_WS('|', VIEW_DEFINITION, DEFINER, SECURITY_TYPE, CHECK_OPTION) AS CHAR) AS definition \
                 FROM information_schema.VIEWS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()){}",
                if name.is_some() {
                    " AND TABLE_NAME = ?"
                } else {
                    ""
                }
            ),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        query = match self.dialect() {
            Dialect::Sqlite => query.bind(name),
            Dialect::Postgres | Dialect::MySql => match (name, rows) {
                (Some(name), _) => query.bind(schema).bind(name),
                (None, Rows::After(after)) => query.bind(schema).bind(after),
                (None, _) => query.bind(schema),
            },
        };
        let rows = query
            .fetch_all(executor)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the catalog for", "the views"))?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row
                .try_get("name")
                .map_err(|e| ViewsError::from_sqlx(e, "read the catalog for", "the views"))?;
            let definition: Option<String> = row
                .try_get("definition")
                .map_err(|e| ViewsError::from_sqlx(e, "read the catalog for", &name))?;
            let digest = hex::encode(&Sha256::digest(definition.unwrap_or_default().as_bytes()));
            found.push((name, digest));
        }
        Ok(found)
    }
}

/// The digest of the view called `name`: spelled exactly so if the catalog has it, else as the
/// catalog spells it (MariaDB compares names without regard to case, and with
/// `lower_case_table_names` keeps them in lower case).
fn the_one_named(found: Vec<(String, String)>, name: &str) -> Option<String> {
    let exact = found.iter().position(|(found, _)| found == name);
    found
        .into_iter()
        .nth(exact.unwrap_or(0))
        .map(|(_, digest)| digest)
}
