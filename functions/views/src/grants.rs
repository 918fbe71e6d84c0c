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
use view_sync_core::printable::printable;
use view_sync_core::profile::{self, ErrorMeaning, Privilege};

use crate::ddl::{self, one_statement};
use crate::dialect::{Dialect, catalog_query, catalog_scalar};
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

    /// Whether the processor's user can read what the database's grants are read from beyond
    /// its views' catalog (MariaDB's privilege tables: `view-sync doctor`'s check, beside a
    /// read of the grants).
    pub(crate) async fn check_privilege_tables(&self, pool: &AnyPool) -> Result<(), ViewsError> {
        let Some(rights) = profile::of(self.dialect).grant_read_rights() else {
            return Ok(());
        };
        for check in rights.checks {
            sqlx::query(AssertSqlSafe(*check))
                .execute(pool)
                .await
                .map_err(|e| catalog_error(e, self.dialect))?;
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
        let columns = match grants::columns_read(dialect, reference, grant) {
            Some(read) => Some(
                catalog_scalar::<String>(read)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| catalog_error(e, dialect))?,
            ),
            None => None,
        };
        match grants::revoke_statement(dialect, reference, grant, columns.as_deref()) {
            Some(statement) => self.run_grant(conn, view, statement, &grant.grantee).await,
            None => Ok(()),
        }
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
        let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        let Some(read) = profile::of(dialect).roles_found(&names) else {
            return Ok(RolesFound::default());
        };
        let rows = catalog_query(read)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| {
                with_rights(
                    ViewsError::from_sqlx(e, "look for the roles of", &label(view)),
                    dialect,
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
        let Some(read) = profile::of(self.dialect).view_grants(schema.as_deref(), name.as_deref())
        else {
            return Ok(Vec::new());
        };
        let rows = catalog_query(read)
            .fetch_all(executor)
            .await
            .map_err(|e| catalog_error(e, self.dialect))?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let read = |column| {
                row.try_get::<Option<String>, _>(column)
                    .map_err(|e| ViewsError::from_sqlx(e, "read the grants of", "the views"))
            };
            let Some(view) = read("name")? else {
                continue;
            };
            let grantee = match (read("grantee")?.unwrap_or_default(), read("host")?) {
                (grantee, None) if grantee.is_empty() => Grantee::Public,
                (grantee, None) => Grantee::Role(grantee),
                (grantee, Some(host)) if host.is_empty() => Grantee::Role(grantee),
                (user, Some(host)) => Grantee::Account { user, host },
            };
            let privilege = read("privilege")?;
            let Some(privilege) = privilege.as_deref().and_then(Privilege::named) else {
                return Err(ViewsError::Refused {
                    action: "read the grants of",
                    view: "the views".to_owned(),
                    detail: format!(
                        "the catalog answered a privilege the store does not read: {}",
                        printable(privilege.as_deref().unwrap_or("NULL"))
                    ),
                });
            };
            let grant = Grant {
                grantee,
                columns: read("level")?.as_deref() == Some("columns"),
                grantable: read("grantable")?.as_deref() == Some("yes"),
                selects: read("selects")?.as_deref() == Some("yes"),
                privilege,
            };
            found.push((self.dialect.qualified(qualify.as_deref(), &view), grant));
        }
        Ok(found)
    }
}

/// A failed read of the grants, with the rights it takes where the database's profile names
/// them.
fn catalog_error(error: sqlx::Error, dialect: Dialect) -> ViewsError {
    with_rights(
        ViewsError::from_sqlx(error, "read the grants of", "the views"),
        dialect,
    )
}

/// A refused read of what the grants are read from, with the rights it takes
/// ([`view_sync_core::profile::Profile::grant_read_rights`]) and where the README grants them;
/// other errors and other databases as they are.
fn with_rights(mut error: ViewsError, dialect: Dialect) -> ViewsError {
    if let (ViewsError::Refused { detail, .. }, Some(rights)) =
        (&mut error, profile::of(dialect).grant_read_rights())
    {
        detail.push_str(&format!(
            " (to manage grants, the processor's user must read {}: see the README)",
            rights.to_read
        ));
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
