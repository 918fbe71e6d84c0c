//! An sqlx driver over [`Session`](crate::Session), for sqlx's `Any`: install [`DRIVER`] with
//! sqlx's own drivers (`sqlx::any::install_drivers`), and a URL made by [`database_url`]
//! connects through ODBC with the rest of the code unchanged. The URL's scheme names the SQL
//! dialect the statements are written in (`odbc+postgres:`, `odbc+mariadb:`); what follows is
//! the ODBC connection string.

mod connection;
mod error;
mod placeholders;
mod types;

use sqlx_core::any::driver::AnyDriver;

use placeholders::Rules;
use url::Url;

pub use connection::{OdbcConnectOptions, OdbcConnection, OdbcTransactionManager};
pub use error::OdbcDatabaseError;
pub use types::{
    OdbcArguments, OdbcColumn, OdbcQueryResult, OdbcRow, OdbcStatement, OdbcTypeInfo, OdbcValue,
    OdbcValueRef,
};

/// The database sqlx knows this driver as.
#[derive(Debug)]
pub struct Odbc;

/// The schemes of the URLs this driver connects: `odbc+` and the dialect of the statements.
pub const URL_SCHEMES: &[&str] = &[
    "odbc+postgres",
    "odbc+postgresql",
    "odbc+mariadb",
    "odbc+mysql",
];

/// The driver, for `sqlx::any::install_drivers`.
pub const DRIVER: AnyDriver = AnyDriver::without_migrate::<Odbc>();

/// The URL sqlx's `Any` connects with, for a setting written `odbc+<dialect>:<connection
/// string>`: the connection string percent-encoded, so that none of its characters (`{`, `;`,
/// `?`, `#` in a password) is read as a part of the URL. `None` for any other setting.
pub fn database_url(setting: &str) -> Option<String> {
    let (scheme, connection_string) = setting.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if !URL_SCHEMES.contains(&scheme.as_str()) {
        return None;
    }
    Some(format!(
        "{scheme}:{}",
        percent_encoding::utf8_percent_encode(connection_string, ALL_BUT_UNRESERVED)
    ))
}

/// Every byte but RFC 3986's unreserved characters is percent-encoded.
const ALL_BUT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `connection_string` with what the store's statements need of the driver that `scheme`
/// names, where the string does not set it itself:
/// - MariaDB's Connector/ODBC: option flags `MULTI_STATEMENTS` (67108864: a section sends several
///   statements in one call) and `FOUND_ROWS` (2: an update counts the rows it matched, as
///   MariaDB's native driver does): `OPTION=67108866` (a string that sets `OPTION` must include
///   the first flag);
/// - psqlODBC: `Protocol=7.4-0`, no rollback of its own on an error (by default it wraps each
///   statement of a transaction in a savepoint, a round trip more each, and carries on past a
///   failed one, where the native driver leaves the transaction failed), and
///   `UseServerSidePrepare=1`, so that a statement with values is prepared by the server, which
///   refuses a second command in it (with 0 psqlODBC writes the values into the text).
pub(crate) fn with_required_options(scheme: &str, connection_string: String) -> String {
    let keys: Vec<String> = attributes(&connection_string)
        .map(|(key, _)| key.to_ascii_lowercase())
        .collect();
    let wanted: &[(&str, &str)] = match Rules::of(scheme) {
        Rules::MariaDb => &[("option", "OPTION=67108866")],
        Rules::Postgres => &[
            ("protocol", "Protocol=7.4-0"),
            ("useserversideprepare", "UseServerSidePrepare=1"),
        ],
    };
    let mut out = connection_string.trim_end_matches(';').to_owned();
    for (key, attribute) in wanted {
        if !keys.iter().any(|set| set == key) {
            out.push(';');
            out.push_str(attribute);
        }
    }
    out
}

/// The `key=value` attributes of a connection string: `;` separates them, except inside a value
/// in braces (`Pwd={a;b}`, where `}}` is a brace of the value's own).
fn attributes(connection_string: &str) -> impl Iterator<Item = (&str, &str)> {
    let bytes = connection_string.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut at, mut in_braces) = (0, 0, false);
    while at < bytes.len() {
        match (bytes[at], in_braces) {
            (b'{', false) => in_braces = true,
            (b'}', true) if bytes.get(at + 1) == Some(&b'}') => at += 1,
            (b'}', true) => in_braces = false,
            (b';', false) => {
                parts.push(&connection_string[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    parts.push(&connection_string[start..]);
    parts.into_iter().filter_map(|part| {
        let (key, value) = part.split_once('=')?;
        Some((key.trim(), value))
    })
}

/// The connection string a URL made by [`database_url`] holds.
pub(crate) fn connection_string_of(url: &Url) -> Option<String> {
    if url.query().is_some() || url.fragment().is_some() || url.has_host() {
        return None;
    }
    let path = url.path().as_bytes();
    let mut bytes = Vec::with_capacity(path.len());
    let mut at = 0;
    while at < path.len() {
        match path[at] {
            b'%' => {
                let hex = std::str::from_utf8(path.get(at + 1..at + 3)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                at += 3;
            }
            byte => {
                bytes.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(bytes)
        .ok()
        .filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_string_goes_through_the_url_unchanged() {
        let setting = "odbc+postgres:Driver={PostgreSQL Unicode};Server=db;Pwd=a?b#c%d;é";
        let url = database_url(setting).unwrap();
        assert!(url.starts_with("odbc+postgres:Driver%3D%7BPostgreSQL%20Unicode"));
        let parsed = Url::parse(&url).unwrap();
        assert_eq!(
            connection_string_of(&parsed).unwrap(),
            "Driver={PostgreSQL Unicode};Server=db;Pwd=a?b#c%d;é"
        );
    }

    #[test]
    fn each_driver_is_asked_for_what_the_store_needs_unless_the_string_says_otherwise() {
        assert_eq!(
            with_required_options("odbc+mariadb", "Driver={MariaDB Unicode};Server=h;".into()),
            "Driver={MariaDB Unicode};Server=h;OPTION=67108866"
        );
        let set = "Driver={MariaDB Unicode}; option=67108864";
        assert_eq!(with_required_options("odbc+mysql", set.into()), set);
        assert_eq!(
            with_required_options("odbc+postgres", "Driver={PostgreSQL Unicode}".into()),
            "Driver={PostgreSQL Unicode};Protocol=7.4-0;UseServerSidePrepare=1"
        );
        let set = "Driver={PostgreSQL Unicode};PROTOCOL=7.4-2;useserversideprepare=1";
        assert_eq!(with_required_options("odbc+postgres", set.into()), set);
        // A password in braces may hold what looks like an attribute.
        assert_eq!(
            with_required_options("odbc+postgres", "Pwd={x;Protocol=7.4-2}}}".into()),
            "Pwd={x;Protocol=7.4-2}}};Protocol=7.4-0;UseServerSidePrepare=1"
        );
    }

    #[test]
    fn other_settings_are_not_odbc() {
        assert_eq!(
            database_url("odbc+mariadb:Pwd={a;b}é-._~ %").unwrap(),
            "odbc+mariadb:Pwd%3D%7Ba%3Bb%7D%C3%A9-._~%20%25"
        );
        assert_eq!(database_url("postgres://u@h/db"), None);
        assert_eq!(database_url("odbc+oracle:DSN=x"), None);
        assert_eq!(database_url("no scheme"), None);
    }
}
