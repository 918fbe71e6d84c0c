//! Who may read a view, as data: the grants the catalog shows, the set a view's roles want,
//! and what to revoke and grant to get from one to the other. Pure: the store reads the
//! catalog's grants and runs the statements.

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::dialect::Dialect;
use crate::hex;

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
}

impl Grant {
    fn on_the_view(role: &str) -> Self {
        Self {
            grantee: Grantee::Role(role.to_owned()),
            columns: false,
            grantable: false,
            selects: true,
        }
    }
}

/// As the digest reads it: a grant without grant option is written as before grant options
/// were read, so that the digests the ledger holds stay valid.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(grantee: Grantee, grantable: bool) -> Grant {
        Grant {
            grantee,
            columns: false,
            grantable,
            selects: true,
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
}
