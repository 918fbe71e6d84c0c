//! `DATABASE_URL` as RDS and Secrets Manager's rotation functions keep a database secret: JSON
//! with `engine`, `host`, `port`, `username`, `password` and `dbname`. The URL is assembled from
//! it, the user, password and database percent-encoded, so a rotated password with `@`, `:` or
//! `/` in it still makes a valid URL. Nothing of the secret's text appears in an error.

use serde_json::{Map, Value};
use view_sync_core::percent::encode;
use view_sync_core::settings::ConfigError;

const VARIABLE: &str = "DATABASE_URL";
const SHAPE: &str =
    r#"an RDS-style secret is {"engine", "host", "port", "username", "password", "dbname"}"#;

/// The database URL that `value` (a `DATABASE_URL` setting, or the secret behind
/// `DATABASE_URL_SECRET_ARN`) stands for: a URL as it is, JSON assembled into one.
pub fn database_url(value: &str) -> Result<String, ConfigError> {
    if !value.trim_start().starts_with('{') {
        return Ok(value.to_owned());
    }
    let secret: Map<String, Value> = serde_json::from_str(value)
        .map_err(|_| problem(format!("holds JSON that is not an object; {SHAPE}")))?;
    let engine = text(&secret, "engine")?;
    let (scheme, default_port) = match engine.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" | "aurora-postgresql" => ("postgres", 5432),
        "mysql" | "mariadb" | "aurora-mysql" | "aurora" => ("mysql", 3306),
        _ => {
            return Err(problem(
                "holds a secret whose `engine` is none we serve: postgres, aurora-postgresql, \
                 mysql, mariadb or aurora-mysql"
                    .to_owned(),
            ));
        }
    };
    let host = host(text(&secret, "host")?)?;
    let port = port(&secret)?.unwrap_or(default_port);
    let user = encode(text(&secret, "username")?);
    let password = encode(text(&secret, "password")?);
    let database = match secret.get("dbname") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) if name.is_empty() => String::new(),
        Some(Value::String(name)) => format!("/{}", encode(name)),
        Some(_) => return Err(problem(format!("has a `dbname` that is not text; {SHAPE}"))),
    };
    Ok(format!(
        "{scheme}://{user}:{password}@{host}:{port}{database}"
    ))
}

fn problem(message: String) -> ConfigError {
    ConfigError::new(VARIABLE, message)
}

fn text<'a>(secret: &'a Map<String, Value>, field: &str) -> Result<&'a str, ConfigError> {
    match secret.get(field) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value),
        _ => Err(problem(format!(
            "holds JSON without a `{field}` (text); {SHAPE}"
        ))),
    }
}

/// RDS writes the port as a number; some secrets hold it as text.
fn port(secret: &Map<String, Value>) -> Result<Option<u16>, ConfigError> {
    let invalid = || problem(format!("has a `port` that is not a TCP port; {SHAPE}"));
    match secret.get("port") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&n| n != 0)
            .map(Some)
            .ok_or_else(invalid),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|&n| n != 0)
            .map(Some)
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// A host name or an IPv4 address: nothing that could change the URL's structure. An IPv6
/// address is refused: sqlx hands a URL's bracketed host to the resolver as it is.
fn host(host: &str) -> Result<&str, ConfigError> {
    if host.contains(':') {
        return Err(problem(format!(
            "has a `host` that is an IPv6 address or holds a port; give a host name (the port \
             goes in `port`); {SHAPE}"
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !host.chars().all(allowed) {
        return Err(problem(format!(
            "has a `host` that is not a host name or an IPv4 address; {SHAPE}"
        )));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_taken_as_it_is() {
        for url in [
            "postgres://u:p@h/db",
            "sqlite:///tmp/v.db",
            "  mysql://root@h/test",
        ] {
            assert_eq!(database_url(url).unwrap(), url);
        }
    }

    #[test]
    fn an_rds_secret_becomes_a_url_with_its_credentials_encoded() {
        let secret = r#"{"engine":"postgres","host":"db.cluster-x.eu-west-1.rds.amazonaws.com",
            "port":5432,"username":"immuta_view_sync","password":"p@ss:w/rd%#?& é",
            "dbname":"ware house","dbInstanceIdentifier":"db-1"}"#;
        assert_eq!(
            database_url(secret).unwrap(),
            "postgres://immuta_view_sync:p%40ss%3Aw%2Frd%25%23%3F%26%20%C3%A9@\
             db.cluster-x.eu-west-1.rds.amazonaws.com:5432/ware%20house"
        );
    }

    #[test]
    fn engines_choose_the_scheme_and_the_default_port() {
        for (engine, url) in [
            ("aurora-postgresql", "postgres://u:p@h:5432"),
            ("mariadb", "mysql://u:p@h:3306"),
            ("aurora-mysql", "mysql://u:p@h:3306"),
        ] {
            let secret =
                format!(r#"{{"engine":"{engine}","host":"h","username":"u","password":"p"}}"#);
            assert_eq!(database_url(&secret).unwrap(), url, "{engine}");
        }
        let text_port = r#"{"engine":"mysql","host":"10.0.0.7","port":"3307","username":"u","password":"p","dbname":null}"#;
        assert_eq!(
            database_url(text_port).unwrap(),
            "mysql://u:p@10.0.0.7:3307"
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_repeating_it() {
        for (secret, expected) in [
            (r#"{"engine":"postgres","#, "not an object"),
            (
                r#"{"engine":"hunter2","host":"h","username":"u","password":"hunter2"}"#,
                "`engine` is none we serve",
            ),
            (
                r#"{"engine":"postgres","host":"h","username":"u"}"#,
                "without a `password`",
            ),
            (
                r#"{"engine":"postgres","host":"h/evil","username":"u","password":"hunter2"}"#,
                "`host`",
            ),
            (
                r#"{"engine":"postgres","host":"::1","username":"u","password":"hunter2"}"#,
                "IPv6",
            ),
            (
                r#"{"engine":"postgres","host":"[h]","username":"u","password":"hunter2"}"#,
                "`host`",
            ),
            (
                r#"{"engine":"postgres","host":"h","port":70000,"username":"u","password":"hunter2"}"#,
                "`port`",
            ),
            (
                r#"{"engine":"postgres","host":"h","username":"u","password":"hunter2","dbname":7}"#,
                "`dbname`",
            ),
        ] {
            let error = database_url(secret).unwrap_err();
            assert_eq!(error.variable, "DATABASE_URL");
            let message = error.to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
