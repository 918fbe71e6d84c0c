//! Who may read a view: with `VIEW_GRANT_ROLES`, `SELECT` on each view goes to the roles of its
//! project and to no one else. Grants are brought to that set right after the view's DDL, inside
//! its critical section (PostgreSQL: in the same transaction), and the catalog's grants as they
//! are then are recorded (the ledger's `grants_digest`), so that a grant revoked or added by hand
//! is drift ([`view_sync_core::plan::Drift::Grants`]) like an edited definition.
//!
//! The catalog says who holds `SELECT`, and whether they may pass it on (a grant option):
//! PostgreSQL's `pg_class.relacl` (the owner left out, since it needs no grant), MariaDB's
//! `mysql.tables_priv`, which the processor's user must be allowed to read (`information_schema`
//! shows a user only its own grants). A grant option is never wanted: added by hand, it is drift,
//! and it is taken back with what it let its holder grant (PostgreSQL: `REVOKE … CASCADE`, which
//! only reaches privileges; MariaDB records no such chain, so those grants are others' and go
//! like any other). MariaDB keeps a view's grants when the view is dropped, so a view of ours is
//! stripped of them before it is dropped, and a view made again under an old name finds the old
//! grants and has them brought to the set.
//!
//! Grants go to roles only. A MariaDB `GRANT … TO name` goes to a user account `name@'%'` when no
//! role of that name exists, so each role is looked up as a role (`mysql.user.is_role`) before
//! every grant; a role that is the views' own owner is refused, since it reads them regardless.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sqlx::any::AnyExecutor;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use view_sync_core::grants::{self, Grant, Grantee, RoleRefused, RolesFound};
use view_sync_core::plan::ViewKey;
use view_sync_core::profile::ErrorMeaning;

use crate::ddl::{self, one_statement};
use crate::dialect::{Dialect, LedgerSql};
use crate::error::{ViewsError, label, meaning};

/// Who may read the views: how grants are managed, and the roles seen to exist.
pub(crate) struct Grants {
    dialect: Dialect,
    /// Whether `VIEW_GRANT_ROLES` is set: otherwise grants are left as they are.
    manages: bool,
    /// `VIEW_CREATE_ROLES`.
    create_roles: bool,
    /// Roles seen to exist: not looked for again (see [`grants::remembers_roles`]).
    roles_seen: Mutex<BTreeSet<String>>,
    /// The schema a view named unqualified is in.
    views_schema: Option<String>,
}

impl Grants {
    pub(crate) fn new(
        dialect: Dialect,
        manages: bool,
        create_roles: bool,
        views_schema: Option<String>,
    ) -> Self {
        Self {
            dialect,
            manages,
            create_roles,
            roles_seen: Mutex::new(BTreeSet::new()),
            views_schema,
        }
    }

    /// Whether `VIEW_GRANT_ROLES` is set: otherwise grants are left as they are.
    pub(crate) fn manages(&self) -> bool {
        self.manages
    }

    /// MariaDB: whether the processor's user can read the privilege tables that tell roles from
    /// accounts and show column grants (`view-sync doctor`'s check, beside a read of the grants).
    pub(crate) async fn check_privilege_tables(&self, pool: &AnyPool) -> Result<(), ViewsError> {
        if self.dialect != Dialect::MySql {
            return Ok(());
        }
        for probe in [
            "SELECT Column_name FROM mysql.columns_priv WHERE 1 = 0",
            "SELECT User, Host, is_role FROM mysql.user WHERE 1 = 0",
        ] {
            sqlx::query(AssertSqlSafe(probe))
                .execute(pool)
                .await
                .map_err(|e| catalog_error(e, Dialect::MySql))?;
        }
        Ok(())
    }

    /// The digest of who may read the view `reference` names now; `None` unless grants are
    /// managed.
    pub(crate) async fn digest(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<Option<String>, ViewsError> {
        if !self.manages {
            return Ok(None);
        }
        Ok(Some(grants::digest(
            &self.grants_on(conn, reference).await?,
        )))
    }

    /// Grants `SELECT` on the view `reference` names to `roles`, and takes it from everyone else:
    /// first taken, so that a failure on the way (MariaDB has no transaction to roll back)
    /// leaves the view readable by fewer, never by more. Returns the digest of who may read it
    /// as the catalog shows it then (empty when grants are not managed).
    pub(crate) async fn apply(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
        roles: &[String],
    ) -> Result<String, ViewsError> {
        if !self.manages {
            return Ok(String::new());
        }
        let dialect = self.dialect;
        let wanted = grants::wanted(roles);
        let held = self
            .revoke_extra_grants(conn, view, reference, roles)
            .await?;
        self.ensure_roles(conn, view, roles).await?;
        for grant in grants::to_grant(&wanted, &held) {
            for statement in grants::grant_statements(dialect, reference, &grant.grantee) {
                self.run_grant(conn, view, statement, &grant.grantee)
                    .await?;
            }
        }
        let now = self.grants_on(conn, reference).await?;
        if let Err(unwanted) = grants::granted_as_wanted(&now, &wanted, reference) {
            if grants::revokes_before_failing(dialect) {
                self.revoke_extra_grants(conn, view, reference, roles)
                    .await?;
            }
            return Err(refused(view, unwanted));
        }
        Ok(grants::digest(&now))
    }

    /// Takes `SELECT` on the view `reference` names from anyone but `roles`; returns who holds
    /// it then. Also run before MariaDB replaces a view in place, since `CREATE OR REPLACE`
    /// keeps its grants: a project's view never carries someone else's reader into new SQL.
    pub(crate) async fn revoke_extra_grants(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
        roles: &[String],
    ) -> Result<BTreeSet<Grant>, ViewsError> {
        if !self.manages {
            return Ok(BTreeSet::new());
        }
        let held = self.grants_on(conn, reference).await?;
        let extra = grants::to_revoke(&held, &grants::wanted(roles));
        if extra.is_empty() {
            return Ok(held);
        }
        for grant in extra {
            self.revoke(conn, view, reference, grant).await?;
        }
        self.grants_on(conn, reference).await
    }

    /// Takes `SELECT` on the view `reference` names from whoever holds it, before it is dropped
    /// (MariaDB, which would keep it for the next view of that name: see
    /// [`view_sync_core::apply::Step::RevokeBeforeDrop`]). Other privileges granted by hand stay:
    /// revoking them would need the processor's user to hold them all, and none reads.
    pub(crate) async fn revoke_before_drop(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
    ) -> Result<(), ViewsError> {
        if !self.manages {
            return Ok(());
        }
        for grant in self.grants_on(conn, reference).await? {
            self.revoke(conn, view, reference, &grant).await?;
        }
        Ok(())
    }

    /// Takes `grant` away, with its grant option ([`grants::revoke_statement`]).
    async fn revoke(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        reference: &str,
        grant: &Grant,
    ) -> Result<(), ViewsError> {
        let dialect = self.dialect;
        let columns = match grants::revoked_by_column(dialect, grant) {
            true => {
                self.granted_columns(conn, reference, &grant.grantee)
                    .await?
            }
            false => Vec::new(),
        };
        match grants::revoke_statement(dialect, reference, grant, &columns) {
            Some(statement) => self.run_grant(conn, view, statement, &grant.grantee).await,
            None => Ok(()),
        }
    }

    /// MariaDB: the columns of the view `reference` names on which `grantee` holds `SELECT`.
    async fn granted_columns(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
        grantee: &Grantee,
    ) -> Result<Vec<String>, ViewsError> {
        let Some((schema, name)) = self.dialect.unqualified(reference) else {
            return Ok(Vec::new());
        };
        let (user, host) = match grantee {
            Grantee::Role(role) => (role.clone(), String::new()),
            Grantee::Account { user, host } => (user.clone(), host.clone()),
            Grantee::Public => return Ok(Vec::new()),
        };
        sqlx::query_scalar(AssertSqlSafe(
            "SELECT CAST(Column_name AS CHAR) FROM mysql.columns_priv \
             WHERE Db = COALESCE(?, DATABASE()) AND Table_name = ? AND User = ? AND Host = ? \
             AND FIND_IN_SET('Select', Column_priv) > 0",
        ))
        .bind(schema)
        .bind(name)
        .bind(user)
        .bind(host)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| catalog_error(e, self.dialect))
    }

    /// Makes sure every role of `roles` exists as a role and is not the views' owner
    /// ([`grants::roles_to_create`]); roles seen to exist are remembered where
    /// [`grants::remembers_roles`].
    async fn ensure_roles(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        roles: &[String],
    ) -> Result<(), ViewsError> {
        let unseen: Vec<&String> = {
            let seen = self.roles_seen();
            roles.iter().filter(|r| !seen.contains(*r)).collect()
        };
        if unseen.is_empty() {
            return Ok(());
        }
        grants::check_role_names(unseen.iter().copied()).map_err(|e| refused(view, e))?;
        let found = self.roles_found(conn, view, &unseen).await?;
        let to_create = grants::roles_to_create(&unseen, &found, self.create_roles)
            .map_err(|e| refused(view, e))?;
        for role in to_create {
            let create = grants::create_role(self.dialect, role);
            ddl::run(conn, view, create, "create a role for").await?;
        }
        // Only roles seen to exist: one created here is gone again if the section rolls back.
        if grants::remembers_roles(self.dialect) {
            self.remember_roles(found.roles);
        }
        Ok(())
    }

    /// Which of `roles` exist as roles, which only as user accounts (MariaDB), and the name of
    /// the processor's own user.
    async fn roles_found(
        &self,
        conn: &mut AnyConnection,
        view: &ViewKey,
        roles: &[&String],
    ) -> Result<RolesFound, ViewsError> {
        let dialect = self.dialect;
        let params: Vec<String> = (1..=roles.len()).map(|n| dialect.param(n)).collect();
        let sql = match dialect {
            Dialect::Postgres => format!(
                "SELECT CAST(rolname AS TEXT) AS name, 'role' AS kind FROM pg_roles WHERE rolname IN ({}) \
                 UNION ALL SELECT CAST(current_user AS TEXT), 'self'",
                params.join(", ")
            ),
            // Roles have an empty host; `mysql.user` shows this user only the columns it needs
            // (see the README).
            Dialect::MySql | Dialect::Sqlite => format!(
                "SELECT CAST(User AS CHAR) AS name, \
                 CASE WHEN is_role = 'Y' AND Host = '' THEN 'role' ELSE 'account' END AS kind \
                 FROM mysql.user WHERE User IN ({}) \
                 UNION ALL SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), 'self'",
                params.join(", ")
            ),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for role in roles {
            query = query.bind((*role).clone());
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(|e| {
            with_mariadb_rights(
                ViewsError::from_sqlx(e, "look for the roles of", &label(view)),
                dialect,
                "to tell roles from user accounts, the processor's user must read mysql.user's \
                 User, Host and is_role columns",
            )
        })?;
        let mut found = RolesFound::default();
        for row in &rows {
            let (Ok(name), Ok(kind)) = (
                row.try_get::<String, _>("name"),
                row.try_get::<String, _>("kind"),
            ) else {
                continue;
            };
            match kind.as_str() {
                "role" => found.roles.insert(name),
                "account" => found.accounts.insert(name),
                _ => {
                    found.owner = name;
                    true
                }
            };
        }
        Ok(found)
    }

    fn roles_seen(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.roles_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn remember_roles(&self, roles: impl IntoIterator<Item = String>) {
        self.roles_seen().extend(roles);
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
        match one_statement(statement).execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if is_missing_role(e.as_ref()) => {
                if let Grantee::Role(role) = grantee {
                    self.roles_seen().remove(role);
                }
                Err(refused(
                    view,
                    RoleRefused::Missing {
                        role: grantee.to_string(),
                        an_account: false,
                    },
                ))
            }
            Err(e) => Err(ViewsError::from_sqlx(e, "grant or revoke on", &label(view))),
        }
    }

    /// Who holds `SELECT` on the view `reference` names.
    async fn grants_on(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<BTreeSet<Grant>, ViewsError> {
        let Some((schema, name)) = self.dialect.unqualified(reference) else {
            return Ok(BTreeSet::new());
        };
        Ok(self
            .held(&mut *conn, schema, Some(name))
            .await?
            .into_iter()
            .map(|(_, grant)| grant)
            .collect())
    }

    /// Who holds `SELECT` on the views of `schema` (the connection's own when `None`), or only
    /// the one called `name`, on the view or on its columns, by the reference the ledger uses.
    /// (Grants on a whole schema or database, and roles that read everything, such as
    /// PostgreSQL's superusers and `pg_read_all_data`, are not on any view: the README says so.)
    pub(crate) async fn held<'c>(
        &self,
        executor: impl AnyExecutor<'c>,
        schema: Option<String>,
        name: Option<String>,
    ) -> Result<Vec<(String, Grant)>, ViewsError> {
        let qualify = schema.clone().or_else(|| self.views_schema.clone());
        let query = match self.dialect {
            Dialect::Sqlite => return Ok(Vec::new()),
            // One view by its name alone, never `(name IS NULL OR …)`, which no index serves
            // (see `catalog.rs`).
            Dialect::Postgres => sqlx::query(AssertSqlSafe(format!(
                "SELECT CAST(c.relname AS TEXT) AS name, \
                 CASE WHEN a.grantee = 0 THEN '' ELSE CAST(pg_get_userbyid(a.grantee) AS TEXT) END AS grantee, \
                 CAST(NULL AS TEXT) AS host, a.level, CASE WHEN a.is_grantable THEN 'yes' ELSE 'no' END AS grantable, \
                 'yes' AS selects \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 CROSS JOIN LATERAL ( \
                   SELECT t.grantee, t.privilege_type, t.is_grantable, 'view' AS level FROM aclexplode(c.relacl) t \
                   UNION ALL \
                   SELECT t.grantee, t.privilege_type, t.is_grantable, 'columns' FROM pg_attribute col \
                   CROSS JOIN LATERAL aclexplode(col.attacl) t \
                   WHERE col.attrelid = c.oid AND col.attnum > 0 AND NOT col.attisdropped \
                 ) a \
                 WHERE c.relkind = 'v' AND n.nspname = COALESCE($1, current_schema()){} \
                 AND a.grantee <> c.relowner AND a.privilege_type = 'SELECT'",
                if name.is_some() { " AND c.relname = $2" } else { "" }
            )))
            .bind(schema),
            Dialect::MySql => {
                // A column grant has no grant option of its own (`columns_priv` has none); a
                // grant option alone is held on the view.
                let one_view = if name.is_some() { " AND Table_name = ?" } else { "" };
                let select = |level: &str, privileges: &str, grantable: &str| {
                    format!(
                        "SELECT CAST(Table_name AS CHAR) AS name, CAST(User AS CHAR) AS grantee, \
                         CAST(Host AS CHAR) AS host, '{level}' AS level, {grantable} AS grantable, \
                         CASE WHEN FIND_IN_SET('Select', {privileges}) > 0 THEN 'yes' ELSE 'no' END AS selects \
                         FROM mysql.tables_priv \
                         WHERE Db = COALESCE(?, DATABASE()){one_view} \
                         AND (FIND_IN_SET('Select', {privileges}) > 0 OR {grantable} = 'yes')"
                    )
                };
                let sql = format!(
                    "{} UNION ALL {}",
                    select(
                        "view",
                        "Table_priv",
                        "CASE WHEN FIND_IN_SET('Grant', Table_priv) > 0 THEN 'yes' ELSE 'no' END"
                    ),
                    select("columns", "Column_priv", "'no'")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for _ in 0..2 {
                    query = query.bind(schema.clone());
                    if let Some(name) = &name {
                        query = query.bind(name.clone());
                    }
                }
                query
            }
        };
        let query = match (self.dialect, name) {
            (Dialect::Postgres, Some(name)) => query.bind(name),
            _ => query,
        };
        let rows = query
            .fetch_all(executor)
            .await
            .map_err(|e| catalog_error(e, self.dialect))?;
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
                // MariaDB 10.11's PUBLIC is kept as a role with that name.
                Some(host) if host.is_empty() && grantee == "PUBLIC" => Grantee::Public,
                Some(host) if host.is_empty() => Grantee::Role(grantee),
                Some(host) => Grantee::Account {
                    user: grantee,
                    host,
                },
            };
            let grant = Grant {
                grantee,
                columns: read("level")?.as_deref() == Some("columns"),
                grantable: read("grantable")?.as_deref() == Some("yes"),
                selects: read("selects")?.as_deref() == Some("yes"),
            };
            found.push((self.dialect.qualified(qualify.as_deref(), &view), grant));
        }
        Ok(found)
    }
}

/// A failed read of the grants; on MariaDB, with the rights it takes.
fn catalog_error(error: sqlx::Error, dialect: Dialect) -> ViewsError {
    with_mariadb_rights(
        ViewsError::from_sqlx(error, "read the grants of", "the views"),
        dialect,
        "to manage grants, the processor's user must read mysql.tables_priv, \
         mysql.columns_priv and mysql.user's User, Host and is_role",
    )
}

/// A refused read of MariaDB's privilege tables, with the rights it takes (`rights`) and where
/// the README grants them; other errors and other databases as they are.
fn with_mariadb_rights(mut error: ViewsError, dialect: Dialect, rights: &str) -> ViewsError {
    if let (ViewsError::Refused { detail, .. }, Dialect::MySql) = (&mut error, dialect) {
        detail.push_str(&format!(" ({rights}: see the README)"));
    }
    error
}

/// Whether a GRANT failed for want of its grantee.
fn is_missing_role(error: &dyn sqlx::error::DatabaseError) -> bool {
    meaning(error) == Some(ErrorMeaning::GranteeMissing)
}

fn refused(view: &ViewKey, detail: impl ToString) -> ViewsError {
    ViewsError::Refused {
        action: "grant SELECT on",
        view: label(view),
        detail: detail.to_string(),
    }
}
