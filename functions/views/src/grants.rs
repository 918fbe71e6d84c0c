//! Who may read a view: with `VIEW_GRANT_ROLES`, `SELECT` on each view goes to the roles of its
//! project and to no one else. Grants are brought to that set right after the view's DDL, inside
//! its critical section (PostgreSQL: in the same transaction), and the catalog's grants as they
//! are then are recorded (the ledger's `grants_digest`), so that a grant revoked or added by hand
//! is drift ([`plan::Drift::Grants`]) like an edited definition.
//!
//! The catalog says who holds `SELECT`: PostgreSQL's `pg_class.relacl` (the owner left out, since
//! it needs no grant), MariaDB's `mysql.tables_priv`, which the processor's user must be allowed
//! to read (`information_schema` shows a user only its own grants). MariaDB keeps a view's grants
//! when the view is dropped, so a view of ours is stripped of them before it is dropped, and a
//! view made again under an old name finds the old grants and has them brought to the set.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sha2::{Digest, Sha256};
use sqlx::any::AnyExecutor;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use view_sync_core::hex;
use view_sync_core::plan::{self, ViewKey};

use crate::ddl;
use crate::dialect::Dialect;
use crate::error::ViewsError;
use crate::store::{ViewStore, label};

/// Who holds a privilege on a view, as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Grantee {
    /// PostgreSQL's `PUBLIC`: every role.
    Public,
    /// A PostgreSQL role, or a MariaDB role (an account with an empty host).
    Role(String),
    /// A MariaDB user account.
    Account { user: String, host: String },
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public => f.write_str("PUBLIC"),
            Self::Role(role) => f.write_str(role),
            Self::Account { user, host } => write!(f, "{user}@{host}"),
        }
    }
}

impl Grantee {
    /// How a GRANT or REVOKE names it.
    fn in_sql(&self, dialect: Dialect) -> String {
        match self {
            Self::Public => "PUBLIC".to_owned(),
            Self::Role(role) => dialect.quote(role),
            Self::Account { user, host } => {
                format!("{}@{}", dialect.quote(user), dialect.quote(host))
            }
        }
    }
}

/// The digest of who may read a view: what the ledger records and drift is found by.
fn digest(grantees: &BTreeSet<Grantee>) -> String {
    let mut hasher = Sha256::new();
    for grantee in grantees {
        hasher.update(grantee.to_string().as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize())
}

/// What the catalog holds for every view of the store's schema: definitions and, where grants
/// are managed, who may read each.
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
        self.grants.manages
    }

    /// [`CatalogState`] of every view in the store's schema.
    pub async fn catalog_state(&self) -> Result<CatalogState, ViewsError> {
        let definitions = self.catalog_digests().await?;
        let grants = if self.manages_grants() {
            let mut by_view: BTreeMap<String, BTreeSet<Grantee>> = BTreeMap::new();
            for (view, grantee) in self.grantees(&self.pool, None).await? {
                by_view.entry(view).or_default().insert(grantee);
            }
            Some(
                by_view
                    .into_iter()
                    .map(|(view, grantees)| (view, digest(&grantees)))
                    .collect(),
            )
        } else {
            None
        };
        Ok(CatalogState {
            definitions,
            grants,
            no_grants: digest(&BTreeSet::new()),
        })
    }

    /// The digest of who may read the view `reference` names now; `None` unless grants are
    /// managed.
    pub(crate) async fn grants_digest(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<Option<String>, ViewsError> {
        if !self.manages_grants() {
            return Ok(None);
        }
        let grantees = self.grantees_of(conn, reference).await?;
        Ok(Some(digest(&grantees)))
    }

    /// Grants `SELECT` on the view `reference` names to `roles`, and takes it from everyone else.
    /// Returns the digest of who may read it now (empty when grants are not managed).
    pub(crate) async fn apply_grants(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
        roles: &[String],
    ) -> Result<String, ViewsError> {
        if !self.manages_grants() {
            return Ok(String::new());
        }
        self.ensure_roles(conn, view, roles).await?;
        let dialect = self.dialect();
        let wanted: BTreeSet<Grantee> = roles.iter().map(|r| Grantee::Role(r.clone())).collect();
        let held = self.grantees_of(conn, reference).await?;
        for extra in held.difference(&wanted) {
            let revoke = format!(
                "REVOKE SELECT ON {reference} FROM {}",
                extra.in_sql(dialect)
            );
            self.run_grant(conn, view, revoke, extra).await?;
        }
        for missing in wanted.difference(&held) {
            // PostgreSQL: a view is read through its schema. Granted again with each view (a
            // no-op once held), so that it is there whenever a view is; never revoked, since
            // the schema holds other projects' views too.
            if let (Dialect::Postgres, Some(schema)) = (dialect, &self.location().schema) {
                let usage = format!(
                    "GRANT USAGE ON SCHEMA {} TO {}",
                    dialect.quote(schema),
                    missing.in_sql(dialect)
                );
                self.run_grant(conn, view, usage, missing).await?;
            }
            let grant = format!("GRANT SELECT ON {reference} TO {}", missing.in_sql(dialect));
            self.run_grant(conn, view, grant, missing).await?;
        }
        Ok(digest(&wanted))
    }

    /// Takes `SELECT` on the view `reference` names from whoever holds it, before it is dropped:
    /// MariaDB would keep it for the next view of that name. (Other privileges granted by hand
    /// stay: revoking them would need the processor's user to hold them all, and none reads.)
    /// PostgreSQL drops a view's privileges with it.
    pub(crate) async fn revoke_before_drop(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
    ) -> Result<(), ViewsError> {
        if !self.manages_grants() || self.dialect() != Dialect::MySql {
            return Ok(());
        }
        for grantee in self.grantees_of(conn, reference).await? {
            let revoke = format!(
                "REVOKE SELECT ON {reference} FROM {}",
                grantee.in_sql(self.dialect())
            );
            self.run_grant(conn, view, revoke, &grantee).await?;
        }
        Ok(())
    }

    /// Makes sure every role of `roles` exists: created if missing with `VIEW_CREATE_ROLES`,
    /// else the view fails with what to do. Roles seen to exist are not looked for again.
    async fn ensure_roles(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        roles: &[String],
    ) -> Result<(), ViewsError> {
        let unseen: Vec<&String> = {
            let seen = self
                .grants
                .roles_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            roles.iter().filter(|r| !seen.contains(*r)).collect()
        };
        if unseen.is_empty() {
            return Ok(());
        }
        for role in &unseen {
            // Rendered from a template: `[a-z0-9_]`, so it can go inside a quoted block.
            if !role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(refused(view, format!("{role:?} is not a role name")));
            }
        }
        match self.dialect() {
            Dialect::Postgres => {
                let params: Vec<String> = (1..=unseen.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    "SELECT CAST(rolname AS TEXT) AS rolname FROM pg_roles WHERE rolname IN ({})",
                    params.join(", ")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for role in &unseen {
                    query = query.bind((*role).clone());
                }
                let found: BTreeSet<String> = query
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| ViewsError::from_sqlx(e, "look for the roles of", &label(view)))?
                    .iter()
                    .filter_map(|row| row.try_get("rolname").ok())
                    .collect();
                for role in unseen.iter().filter(|r| !found.contains(**r)) {
                    if !self.grants.create_roles {
                        return Err(missing_role(view, role));
                    }
                    // Two processors may create it at once: the loser's error is caught inside
                    // the block, and the transaction goes on.
                    let create = format!(
                        "DO $$ BEGIN CREATE ROLE {}; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
                        Dialect::Postgres.quote(role)
                    );
                    self.run_statement_for(conn, view, create, "create a role for")
                        .await?;
                }
                self.remember_roles(found);
            }
            Dialect::MySql => {
                // Without access to `mysql.user`, a missing role shows as the GRANT's error.
                if self.grants.create_roles {
                    for role in &unseen {
                        let create =
                            format!("CREATE ROLE IF NOT EXISTS {}", Dialect::MySql.quote(role));
                        self.run_statement_for(conn, view, create, "create a role for")
                            .await?;
                    }
                    self.remember_roles(unseen.iter().map(|r| (*r).clone()));
                }
            }
            Dialect::Sqlite => {}
        }
        Ok(())
    }

    fn remember_roles(&self, roles: impl IntoIterator<Item = String>) {
        self.grants
            .roles_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(roles);
    }

    async fn run_statement_for(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        statement: String,
        action: &'static str,
    ) -> Result<(), ViewsError> {
        ddl::one_statement(statement)
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(|e| ViewsError::from_sqlx(e, action, &label(view)))
    }

    /// Runs a GRANT or REVOKE; a grantee that does not exist (a role dropped since it was seen)
    /// is named as such.
    async fn run_grant(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        statement: String,
        grantee: &Grantee,
    ) -> Result<(), ViewsError> {
        match ddl::one_statement(statement).execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if is_missing_role(e.as_ref()) => {
                if let Grantee::Role(role) = grantee {
                    self.grants
                        .roles_seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(role);
                }
                Err(missing_role(view, &grantee.to_string()))
            }
            Err(e) => Err(ViewsError::from_sqlx(e, "grant or revoke on", &label(view))),
        }
    }

    /// Who holds `SELECT` on the view `reference` names.
    async fn grantees_of(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<BTreeSet<Grantee>, ViewsError> {
        let Some((_, name)) = self.dialect().unqualified(reference) else {
            return Ok(BTreeSet::new());
        };
        Ok(self
            .grantees(&mut *conn, Some(name))
            .await?
            .into_iter()
            .map(|(_, grantee)| grantee)
            .collect())
    }

    /// Who holds `SELECT` on the views of the store's schema (or only the one called `name`), by
    /// the reference the ledger uses.
    async fn grantees<'c>(
        &self,
        executor: impl AnyExecutor<'c>,
        name: Option<String>,
    ) -> Result<Vec<(String, Grantee)>, ViewsError> {
        let schema = self.location().schema.clone();
        let query = match self.dialect() {
            Dialect::Sqlite => return Ok(Vec::new()),
            Dialect::Postgres => sqlx::query(AssertSqlSafe(
                "SELECT CAST(c.relname AS TEXT) AS name, \
                 CASE WHEN a.grantee = 0 THEN '' ELSE CAST(pg_get_userbyid(a.grantee) AS TEXT) END AS grantee, \
                 CAST(NULL AS TEXT) AS host \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 CROSS JOIN LATERAL aclexplode(c.relacl) a \
                 WHERE c.relkind = 'v' AND n.nspname = COALESCE($1, current_schema()) \
                 AND ($2::text IS NULL OR c.relname = $2::text) AND a.grantee <> c.relowner \
                 AND a.privilege_type = 'SELECT'",
            ))
            .bind(schema)
            .bind(name),
            Dialect::MySql => sqlx::query(AssertSqlSafe(
                "SELECT DISTINCT CAST(Table_name AS CHAR) AS name, CAST(User AS CHAR) AS grantee, \
                 CAST(Host AS CHAR) AS host FROM mysql.tables_priv \
                 WHERE Db = COALESCE(?, DATABASE()) AND (? IS NULL OR Table_name = ?) \
                 AND FIND_IN_SET('Select', Table_priv) > 0",
            ))
            .bind(schema)
            .bind(name.clone())
            .bind(name),
        };
        let rows = query.fetch_all(executor).await.map_err(|e| {
            let mut error = ViewsError::from_sqlx(e, "read the grants of", "the views");
            if let (ViewsError::Refused { detail, .. }, Dialect::MySql) =
                (&mut error, self.dialect())
            {
                detail.push_str(
                    " (to manage grants, the processor's user must read mysql.tables_priv: \
                     GRANT SELECT ON mysql.tables_priv TO it; see the README)",
                );
            }
            error
        })?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let read = |column| {
                row.try_get::<Option<String>, _>(column)
                    .map_err(|e| ViewsError::from_sqlx(e, "read the grants of", "the views"))
            };
            let (Some(view), Some(grantee)) = (read("name")?, read("grantee")?) else {
                continue;
            };
            let grantee = match read("host")? {
                None if grantee.is_empty() => Grantee::Public,
                None => Grantee::Role(grantee),
                Some(host) if host.is_empty() => Grantee::Role(grantee),
                Some(host) => Grantee::Account {
                    user: grantee,
                    host,
                },
            };
            found.push((self.reference(&view), grantee));
        }
        Ok(found)
    }
}

/// Whether a GRANT failed for want of its grantee: PostgreSQL's undefined_object, MariaDB's
/// ER_PASSWORD_NO_MATCH ("Can't find any matching row in the user table").
fn is_missing_role(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql.number() == 1133;
    }
    error.code().as_deref() == Some("42704")
}

fn missing_role(view: &ViewKey, role: &str) -> ViewsError {
    refused(
        view,
        format!(
            "role {role} of VIEW_GRANT_ROLES does not exist: create it (see the README) or set \
             VIEW_CREATE_ROLES=true"
        ),
    )
}

fn refused(view: &ViewKey, detail: String) -> ViewsError {
    ViewsError::Refused {
        action: "grant SELECT on",
        view: label(view),
        detail,
    }
}
