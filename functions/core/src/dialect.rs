//! The target databases' SQL dialects: which one a URL names, and how identifiers are quoted.
//! What only the ledger needs (placeholders, upserts) is in the `views` crate.

use crate::settings::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::MySql),
            _ => Err(ConfigError::new(
                "DATABASE_URL",
                "must start with sqlite://, postgres:// (postgresql://) or mysql:// (mariadb://)",
            )),
        }
    }

    /// The database's name, as people write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MariaDB/MySQL",
        }
    }

    /// Quotes an identifier, doubling the quote character inside it.
    pub fn quote(self, identifier: &str) -> String {
        let quote = match self {
            Self::MySql => '`',
            Self::Sqlite | Self::Postgres => '"',
        };
        let mut out = String::with_capacity(identifier.len() + 2);
        out.push(quote);
        for c in identifier.chars() {
            out.push(c);
            if c == quote {
                out.push(quote);
            }
        }
        out.push(quote);
        out
    }

    /// `schema.name`, each part quoted; just `name` without a schema.
    pub fn qualified(self, schema: Option<&str>, name: &str) -> String {
        match schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(name)),
            None => self.quote(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_the_quote_character() {
        assert_eq!(Dialect::Postgres.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(Dialect::MySql.quote("a`b"), "`a``b`");
        assert_eq!(
            Dialect::Sqlite.qualified(Some("main"), "v"),
            "\"main\".\"v\""
        );
        assert_eq!(Dialect::MySql.qualified(None, "v"), "`v`");
    }

    #[test]
    fn urls_choose_the_dialect() {
        assert_eq!(
            Dialect::from_url("sqlite:///tmp/x.db").unwrap(),
            Dialect::Sqlite
        );
        assert_eq!(
            Dialect::from_url("postgresql://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(
            Dialect::from_url("mariadb://root@h/test").unwrap(),
            Dialect::MySql
        );
        let err = Dialect::from_url("oracle://secret@h").unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(!err.to_string().contains("secret"));
    }
}
