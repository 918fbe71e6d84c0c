//! Who may read a view, as data: the grants the catalog shows, the set a view's roles want,
//! and what to revoke and grant to get from one to the other. Pure: the store reads the
//! catalog's grants and runs the statements.

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::dialect::Dialect;
use crate::hex;
use crate::profile::{self, CatalogRead, HeldGrant, Privilege};

/// Who holds a privilege on a view, as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grantee {
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
    pub fn in_sql(&self, dialect: Dialect) -> String {
        match self {
            Self::Public => "PUBLIC".to_owned(),
            Self::Role(role) => dialect.quote(role),
            Self::Account { user, host } => {
                format!("{}@{}", dialect.quote(user), dialect.quote(host))
            }
        }
    }
}

/// `SELECT` on a view held by a grantee, on the whole view or on some of its columns, with or
/// without the right to grant it on; or (MariaDB) that right alone, which lets its holder pass
/// on `SELECT` as soon as they hold it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub grantee: Grantee,
    /// On some of its columns, not the whole view.
    pub columns: bool,
    /// With the right to grant it on.
    pub grantable: bool,
    /// `false` for a grant option alone.
    pub selects: bool,
    /// What it grants: `SELECT`, or Oracle's `READ`.
    pub privilege: Privilege,
}

impl Grant {
    fn on_the_view(role: &str) -> Self {
        Self {
            grantee: Grantee::Role(role.to_owned()),
            columns: false,
            grantable: false,
            selects: true,
            privilege: Privilege::Select,
        }
    }
}

/// As the digest reads it: a grant without grant option is written as before grant options
/// were read, and one of `SELECT` as before privileges were, so that the digests the ledger
/// holds stay valid.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.grantee)?;
        if self.columns {
            f.write_str(" (on columns)")?;
        }
        match (self.grantable, self.selects) {
            (true, true) => f.write_str(" (with grant option)")?,
            (true, false) => f.write_str(" (grant option alone)")?,
            _ => {}
        }
        if self.privilege != Privilege::Select {
            write!(f, " ({})", self.privilege.as_str())?;
        }
        Ok(())
    }
}

/// The digest of who may read a view: what the ledger records and drift is found by.
pub fn digest(grants: &BTreeSet<Grant>) -> String {
    let mut hasher = Sha256::new();
    for grant in grants {
        hasher.update(grant.to_string().as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize())
}

/// `SELECT` on the view for each of `roles`: all a view's grants should be.
pub fn wanted(roles: &[String]) -> BTreeSet<Grant> {
    roles.iter().map(|r| Grant::on_the_view(r)).collect()
}

fn listed(grants: &BTreeSet<Grant>) -> String {
    match grants.is_empty() {
        true => "nobody".to_owned(),
        false => grants
            .iter()
            .map(Grant::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// What to take away so that only `wanted` remains, in order: grant options first, since on
/// PostgreSQL their holders' own grants go with them (`CASCADE`), which the owner's REVOKE of
/// those grants would not reach.
pub fn to_revoke<'a>(held: &'a BTreeSet<Grant>, wanted: &BTreeSet<Grant>) -> Vec<&'a Grant> {
    let mut extra: Vec<&Grant> = held
        .iter()
        .filter(|grant| !wanted.contains(grant))
        .collect();
    extra.sort_by_key(|grant| !grant.grantable);
    extra
}

/// What to grant, once the extra grants are gone: what is wanted and not held.
pub fn to_grant<'a>(
    wanted: &'a BTreeSet<Grant>,
    held: &'a BTreeSet<Grant>,
) -> impl Iterator<Item = &'a Grant> {
    wanted.difference(held)
}

/// Whether the catalog, read after granting (`now`), shows exactly the wanted set on the view
/// `reference`; if not, why the view fails. Anything else (a grant by another grantor, which
/// the owner's REVOKE leaves; a role that owns the view) fails the view rather than be restored
/// at every apply: what drift is later found against is the catalog as it is now.
pub fn granted_as_wanted(
    now: &BTreeSet<Grant>,
    wanted: &BTreeSet<Grant>,
    reference: &str,
) -> Result<(), String> {
    if now == wanted {
        return Ok(());
    }
    Err(format!(
        "after granting, SELECT on {reference} is held by {} instead of {}: revoke the rest by \
         hand (as the role that granted it)",
        listed(now),
        listed(wanted)
    ))
}

/// The statements that let `grantee` read the view `reference`, as the database's profile
/// grants (PostgreSQL: `USAGE` on the view's schema first).
pub fn grant_statements(dialect: Dialect, reference: &str, grantee: &Grantee) -> Vec<String> {
    profile::of(dialect).grant_select(reference, &grantee.in_sql(dialect))
}

/// The read of the columns `grant` on the view `reference` is held on, where the database's
/// profile revokes a grant on columns column by column (MariaDB; its `PUBLIC` is kept as a role
/// of that name); `None` where the view's revoke takes the grant whole.
pub fn columns_read(dialect: Dialect, reference: &str, grant: &Grant) -> Option<CatalogRead> {
    if !grant.columns {
        return None;
    }
    let (schema, name) = dialect.unqualified(reference)?;
    let (user, host) = match &grant.grantee {
        Grantee::Public => ("PUBLIC", ""),
        Grantee::Role(role) => (role.as_str(), ""),
        Grantee::Account { user, host } => (user.as_str(), host.as_str()),
    };
    profile::of(dialect).granted_columns(schema.as_deref(), &name, user, host)
}

/// The statement that takes `grant` on the view `reference` away, with its grant option, as
/// the database's profile revokes it, given the `columns` it is held on where [`columns_read`]
/// read them; `None` when nothing is left to take, or the profile has no revoke of it
/// (SQLite). PostgreSQL's REVOKE on the view takes its columns' grants too, and with `CASCADE`
/// the grants its holder made with the option (privileges only: no object is dropped).
pub fn revoke_statement(
    dialect: Dialect,
    reference: &str,
    grant: &Grant,
    columns: Option<&[String]>,
) -> Option<String> {
    profile::of(dialect).revoke(
        reference,
        &grant.grantee.in_sql(dialect),
        &HeldGrant {
            privilege: grant.privilege,
            columns,
            grantable: grant.grantable,
            selects: grant.selects,
        },
    )
}

/// Whether grants that should not be there, found after granting, must be revoked again before
/// the view fails: where there is no transaction to roll them back (MariaDB).
pub fn revokes_before_failing(dialect: Dialect) -> bool {
    !profile::of(dialect).ddl_is_transactional()
}

/// What the catalog says of the roles a view's grants go to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RolesFound {
    pub roles: BTreeSet<String>,
    /// MariaDB user accounts named like a wanted role, which is not a role.
    pub accounts: BTreeSet<String>,
    /// The processor's own user: the owner of the views.
    pub owner: String,
}

/// Why `SELECT` cannot go to a role of `VIEW_GRANT_ROLES`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefused {
    #[error("{0:?} is not a role name")]
    NotARoleName(String),
    #[error(
        "role {0} of VIEW_GRANT_ROLES is the views' owner (the processor's own user), which reads \
         every view it owns whatever is granted: name a role for the project's readers instead"
    )]
    TheOwner(String),
    #[error(
        "role {role} of VIEW_GRANT_ROLES does not exist{}: create it (see the README) or set \
         VIEW_CREATE_ROLES=true",
        if *.an_account { format!(" (a user account named {role} exists, but grants go to roles only: it is never granted)") } else { String::new() }
    )]
    Missing { role: String, an_account: bool },
}

/// Whether each role of `roles` (rendered from a template) is a name that can go inside a
/// quoted block: `[A-Za-z0-9_]`.
pub fn check_role_names<'a>(
    roles: impl IntoIterator<Item = &'a String>,
) -> Result<(), RoleRefused> {
    match roles
        .into_iter()
        .find(|role| !role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        Some(role) => Err(RoleRefused::NotARoleName(role.clone())),
        None => Ok(()),
    }
}

/// The roles of `unseen` to create, given what the catalog `found`: none may be the views'
/// owner (it reads them regardless), and a missing one is created only when `may_create`
/// (`VIEW_CREATE_ROLES`).
pub fn roles_to_create<'a>(
    unseen: &[&'a String],
    found: &RolesFound,
    may_create: bool,
) -> Result<Vec<&'a String>, RoleRefused> {
    if let Some(owner) = unseen.iter().find(|role| found.owner == ***role) {
        return Err(RoleRefused::TheOwner((*owner).clone()));
    }
    let missing: Vec<&String> = unseen
        .iter()
        .copied()
        .filter(|role| !found.roles.contains(*role))
        .collect();
    match missing.first() {
        Some(role) if !may_create => Err(RoleRefused::Missing {
            role: (*role).clone(),
            an_account: found.accounts.contains(*role),
        }),
        _ => Ok(missing),
    }
}

/// The statement that creates `role`, which another processor may create at the same time.
pub fn create_role(dialect: Dialect, role: &str) -> String {
    let profile = profile::of(dialect);
    profile.tolerating_a_concurrent_create(profile.create_role(&dialect.quote(role)))
}

/// Whether roles seen to exist are remembered, not looked for again: where a grantee can only
/// be a role (PostgreSQL). Elsewhere (MariaDB) they are looked for before every grant, since a
/// `GRANT` to a name that is no role goes to the user account of that name.
pub fn remembers_roles(dialect: Dialect) -> bool {
    profile::of(dialect).grantees_are_roles()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(grantee: Grantee, grantable: bool) -> Grant {
        Grant {
            grantee,
            columns: false,
            grantable,
            selects: true,
            privilege: Privilege::Select,
        }
    }

    fn role(name: &str) -> Grantee {
        Grantee::Role(name.into())
    }

    #[test]
    fn extra_grants_go_grant_options_first_and_the_wanted_ones_are_granted() {
        let wanted = wanted(&["reader".into(), "auditor".into()]);
        let held: BTreeSet<Grant> = [
            grant(role("auditor"), false),
            grant(Grantee::Public, false),
            grant(role("mallory"), true),
        ]
        .into();
        let revoked: Vec<String> = to_revoke(&held, &wanted)
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(revoked, ["mallory (with grant option)", "PUBLIC"]);
        let granted: Vec<String> = to_grant(&wanted, &held).map(|g| g.to_string()).collect();
        assert_eq!(granted, ["reader"]);
    }

    #[test]
    fn anything_but_the_wanted_set_after_granting_fails_the_view_naming_both() {
        let wanted = wanted(&["reader".into()]);
        assert_eq!(granted_as_wanted(&wanted, &wanted, "\"v\""), Ok(()));
        let mut now = wanted.clone();
        now.insert(Grant {
            columns: true,
            ..grant(role("bob"), false)
        });
        assert_eq!(
            granted_as_wanted(&now, &wanted, "\"v\""),
            Err(
                "after granting, SELECT on \"v\" is held by bob (on columns), reader instead of \
                 reader: revoke the rest by hand (as the role that granted it)"
                    .into()
            )
        );
        assert_eq!(
            granted_as_wanted(&BTreeSet::new(), &wanted, "v").unwrap_err(),
            "after granting, SELECT on v is held by nobody instead of reader: revoke the rest by \
             hand (as the role that granted it)"
        );
    }

    #[test]
    fn grantees_are_named_in_sql_as_each_database_quotes_them() {
        assert_eq!(Grantee::Public.in_sql(Dialect::Postgres), "PUBLIC");
        assert_eq!(role("r").in_sql(Dialect::Postgres), "\"r\"");
        let account = Grantee::Account {
            user: "u".into(),
            host: "%".into(),
        };
        assert_eq!(account.in_sql(Dialect::MySql), "`u`@`%`");
        assert_eq!(account.to_string(), "u@%");
    }

    #[test]
    fn grants_and_revokes_are_worded_per_database() {
        assert_eq!(
            grant_statements(Dialect::Postgres, "\"p\".\"v\"", &role("r")),
            [
                "GRANT USAGE ON SCHEMA \"p\" TO \"r\"",
                "GRANT SELECT ON \"p\".\"v\" TO \"r\""
            ]
        );
        assert_eq!(
            grant_statements(Dialect::MySql, "`v`", &role("r")),
            ["GRANT SELECT ON `v` TO `r`"]
        );
        let on_columns = Grant {
            columns: true,
            ..grant(role("bob"), false)
        };
        let read = columns_read(Dialect::MySql, "`db`.`v`", &on_columns).unwrap();
        assert!(read.statement.contains("mysql.columns_priv"));
        assert_eq!(
            read.binds,
            ["db", "v", "bob", ""].map(|bind| Some(bind.to_owned()))
        );
        let public_on_columns = Grant {
            grantee: Grantee::Public,
            ..on_columns.clone()
        };
        assert_eq!(
            columns_read(Dialect::MySql, "`v`", &public_on_columns)
                .unwrap()
                .binds,
            [
                None,
                Some("v".into()),
                Some("PUBLIC".into()),
                Some(String::new())
            ]
        );
        assert_eq!(columns_read(Dialect::Postgres, "\"v\"", &on_columns), None);
        assert_eq!(
            columns_read(Dialect::MySql, "`v`", &grant(role("bob"), false)),
            None
        );
        assert_eq!(
            revoke_statement(
                Dialect::MySql,
                "`v`",
                &on_columns,
                Some(&["a".into(), "b".into()])
            ),
            Some("REVOKE SELECT (`a`, `b`) ON `v` FROM `bob`".into())
        );
        assert_eq!(
            revoke_statement(Dialect::MySql, "`v`", &on_columns, Some(&[])),
            None
        );
        let option_alone = Grant {
            selects: false,
            ..grant(role("bob"), true)
        };
        assert_eq!(
            revoke_statement(Dialect::MySql, "`v`", &option_alone, None),
            Some("REVOKE GRANT OPTION ON `v` FROM `bob`".into())
        );
        assert_eq!(
            revoke_statement(Dialect::MySql, "`v`", &grant(role("bob"), true), None),
            Some("REVOKE SELECT, GRANT OPTION ON `v` FROM `bob`".into())
        );
        assert_eq!(
            revoke_statement(Dialect::MySql, "`v`", &grant(Grantee::Public, false), None),
            Some("REVOKE SELECT ON `v` FROM PUBLIC".into())
        );
        assert_eq!(
            revoke_statement(Dialect::Postgres, "\"v\"", &on_columns, None),
            Some("REVOKE SELECT ON \"v\" FROM \"bob\" CASCADE".into())
        );
        assert_eq!(
            revoke_statement(Dialect::Sqlite, "\"v\"", &on_columns, None),
            None
        );
    }

    #[test]
    fn a_grant_of_select_is_digested_as_before_privileges_were_read() {
        let select = grant(role("bob"), true);
        assert_eq!(select.to_string(), "bob (with grant option)");
        let read = Grant {
            privilege: Privilege::Read,
            ..select.clone()
        };
        assert_eq!(read.to_string(), "bob (with grant option) (READ)");
        assert_ne!(
            digest(&[select].into()),
            digest(&[read].into()),
            "a READ grant is not the SELECT one"
        );
    }

    #[test]
    fn roles_are_created_only_when_allowed_and_never_the_owner() {
        let (reader, auditor, owner) =
            ("reader".to_owned(), "auditor".to_owned(), "app".to_owned());
        let found = RolesFound {
            roles: ["reader".to_owned()].into(),
            accounts: ["auditor".to_owned()].into(),
            owner: "app".into(),
        };
        assert_eq!(
            roles_to_create(&[&reader, &auditor], &found, true),
            Ok(vec![&auditor])
        );
        assert_eq!(roles_to_create(&[&reader], &found, false), Ok(vec![]));
        let missing = roles_to_create(&[&reader, &auditor], &found, false).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "role auditor of VIEW_GRANT_ROLES does not exist (a user account named auditor \
             exists, but grants go to roles only: it is never granted): create it (see the \
             README) or set VIEW_CREATE_ROLES=true"
        );
        assert_eq!(
            roles_to_create(&[&reader, &owner], &found, true),
            Err(RoleRefused::TheOwner("app".into()))
        );
        assert_eq!(
            check_role_names([&reader, &"x\"; DROP".to_owned()]),
            Err(RoleRefused::NotARoleName("x\"; DROP".into()))
        );
        assert_eq!(check_role_names([&reader]), Ok(()));
        assert_eq!(
            create_role(Dialect::MySql, "r"),
            "CREATE ROLE IF NOT EXISTS `r`"
        );
        assert!(create_role(Dialect::Postgres, "r").starts_with("DO $$ BEGIN CREATE ROLE \"r\";"));
    }
}
