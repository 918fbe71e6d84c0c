//! The target databases' SQL dialects: which one a URL names, and how identifiers are quoted.
//! Placeholders and the ledger's statements are each database's profile's
//! (`view_sync_core::profile`).

use sqlparser::dialect::{
    MsSqlDialect, MySqlDialect, OracleDialect, PostgreSqlDialect, SQLiteDialect, TeradataDialect,
};

pub use crate::error::UnknownDatabase;

/// The `sqlparser` dialect that reads a database's SQL: which one a database takes is its
/// profile's word (`view_sync_core::profile`). Where it does not know a construct of the
/// database's own, the view SQL fails validation and never runs (fail safe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParserDialect {
    MsSql,
    MySql,
    Oracle,
    PostgreSql,
    Sqlite,
    Teradata,
}

impl ParserDialect {
    pub fn sqlparser(self) -> &'static dyn sqlparser::dialect::Dialect {
        match self {
            Self::MsSql => &MsSqlDialect {},
            Self::MySql => &MySqlDialect {},
            Self::Oracle => &OracleDialect {},
            Self::PostgreSql => &PostgreSqlDialect {},
            Self::Sqlite => &SQLiteDialect {},
            Self::Teradata => &TeradataDialect {},
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self, UnknownDatabase> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // `odbc+…`: the database reached through ODBC, its statements in the dialect named.
        match scheme.strip_prefix("odbc+").unwrap_or(&scheme) {
            "sqlite" if !scheme.starts_with("odbc+") => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::MySql),
            _ => Err(UnknownDatabase),
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

    /// The parts of a reference that [`Dialect::qualified`] printed: `(schema, name)`; `None`
    /// for anything else.
    pub fn unqualified(self, reference: &str) -> Option<(Option<String>, String)> {
        let quote = match self {
            Self::MySql => '`',
            Self::Sqlite | Self::Postgres => '"',
        };
        let mut parts = Vec::new();
        let mut chars = reference.chars().peekable();
        loop {
            if chars.next()? != quote {
                return None;
            }
            let mut part = String::new();
            loop {
                match chars.next()? {
                    c if c == quote && chars.peek() == Some(&quote) => {
                        chars.next();
                        part.push(quote);
                    }
                    c if c == quote => break,
                    c => part.push(c),
                }
            }
            parts.push(part);
            match chars.next() {
                None => break,
                Some('.') if parts.len() == 1 => {}
                Some(_) => return None,
            }
        }
        let name = parts.pop()?;
        Some((parts.pop(), name))
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
    fn a_qualified_reference_reads_back_into_its_parts() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            for (schema, name) in [(None, "v"), (Some("s.x"), "a\"b`c"), (Some(""), "")] {
                let reference = dialect.qualified(schema, name);
                assert_eq!(
                    dialect.unqualified(&reference),
                    Some((schema.map(str::to_owned), name.to_owned())),
                    "{reference}"
                );
            }
        }
        for not_ours in ["v", "\"v", "\"a\".\"b\".\"c\"", "\"a\"x", "\"a\"."] {
            assert_eq!(Dialect::Postgres.unqualified(not_ours), None, "{not_ours}");
        }
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
        assert_eq!(
            Dialect::from_url("odbc+postgres:Driver={PostgreSQL Unicode};Server=h").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(
            Dialect::from_url("ODBC+MariaDB:Driver={MariaDB Unicode}").unwrap(),
            Dialect::MySql
        );
        assert!(Dialect::from_url("odbc+sqlite:Driver={SQLite3}").is_err());
        let err = Dialect::from_url("oracle://secret@h").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("DATABASE_URL must start with sqlite://")
        );
        assert!(!err.to_string().contains("secret"));
    }
}
