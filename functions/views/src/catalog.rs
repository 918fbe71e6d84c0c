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
use sqlx::{AnyConnection, Row};
use view_sync_core::grants::{self, Grant};
use view_sync_core::hex;
use view_sync_core::plan::{self, LedgerRow, Scope};
use view_sync_core::profile::{CatalogRead, Views};

use crate::dialect::catalog_query;
use crate::error::ViewsError;
use crate::handle::ViewStore;

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
        let read = self
            .profile()
            .view_definitions(schema.as_deref(), Views::Named(&name));
        let found = self.definitions(&mut *conn, read).await?;
        Ok(the_one_named(found, &name))
    }

    /// [`Self::catalog_digest`] of a view that this connection has just created, by the
    /// database's cheaper read of it where it has one (SQLite's last row of its catalog). When
    /// that finds nothing, or elsewhere, the catalog is read as usual.
    pub(crate) async fn created_view_digest(
        &self,
        conn: &mut AnyConnection,
        reference: &str,
    ) -> Result<Option<String>, ViewsError> {
        if let Some((schema, name)) = self.dialect().unqualified(reference)
            && let Some(read) = self
                .profile()
                .just_made_view_definition(schema.as_deref(), &name)
        {
            let found = self.definitions(&mut *conn, read).await?;
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

    /// [`Self::catalog_digests`] of the views in `schemas`. Where the database's profile reads
    /// them a page at a time (PostgreSQL: `pg_get_viewdef` locks every view it reads until the
    /// transaction ends), each page is its own transaction. The pages are not one snapshot: a
    /// view made or dropped while they are read may be missed, as it would be by a read an
    /// instant earlier or later.
    pub(crate) async fn catalog_digests_in(
        &self,
        schemas: BTreeSet<Option<String>>,
    ) -> Result<BTreeMap<String, String>, ViewsError> {
        let profile = self.profile();
        let mut found = BTreeMap::new();
        for schema in schemas {
            let mut after = profile.catalog_page().map(|_| String::new());
            loop {
                let views = match &after {
                    Some(after) => Views::After(after),
                    None => Views::All,
                };
                let read = profile.view_definitions(schema.as_deref(), views);
                let page = self.definitions(&self.pool, read).await?;
                let full = profile.catalog_page() == Some(page.len());
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
                    Some(last) if full => after = Some(last),
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// The views `read` finds, with their catalog digests, by name as the catalog spells it.
    async fn definitions<'c>(
        &self,
        executor: impl AnyExecutor<'c>,
        read: CatalogRead,
    ) -> Result<Vec<(String, String)>, ViewsError> {
        let rows = catalog_query(read)
            .fetch_all(executor)
            .await
            .map_err(|e| ViewsError::from_sqlx(e, "read the catalog for", "the views"))?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row
                .try_get(0)
                .map_err(|e| ViewsError::from_sqlx(e, "read the catalog for", "the views"))?;
            let definition: Option<String> = row
                .try_get(1)
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
