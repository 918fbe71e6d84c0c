//! What the view SQL endpoint returned: a query to wrap as a view under our name, or a complete
//! `CREATE VIEW` statement to run as given under its own name.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewSql {
    /// A `SELECT` / `WITH` / `VALUES` query, without a trailing `;`.
    Query(String),
    /// A `CREATE [OR REPLACE] VIEW name …` statement; `name` is the identifier as written
    /// (quoted or not, maybe schema-qualified), `sql` the statement without a trailing `;`.
    Statement { name: String, sql: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewSqlError {
    #[error("the view SQL is empty")]
    Empty,
    #[error(
        "the view SQL starts with '{0}': expected a SELECT/WITH query or a CREATE VIEW statement \
         (check VIEW_SQL_PATH and VIEW_SQL_JSON_POINTER)"
    )]
    Unsupported(String),
    #[error("the CREATE VIEW statement has no view name")]
    MissingName,
}

impl ViewSql {
    pub fn classify(sql: &str) -> Result<Self, ViewSqlError> {
        let sql = sql.trim().trim_end_matches(';').trim_end();
        let body = skip_comments(sql);
        if body.is_empty() {
            return Err(ViewSqlError::Empty);
        }
        let mut words = Words(body);
        let first = words.next_word().unwrap_or_default();
        if ["select", "with", "values"]
            .iter()
            .any(|k| first.eq_ignore_ascii_case(k))
            || body.starts_with('(')
        {
            return Ok(Self::Query(sql.to_owned()));
        }
        if !first.eq_ignore_ascii_case("create") {
            return Err(ViewSqlError::Unsupported(first.chars().take(20).collect()));
        }
        let mut word = words.next_word().unwrap_or_default();
        if word.eq_ignore_ascii_case("or") {
            if !words
                .next_word()
                .is_some_and(|w| w.eq_ignore_ascii_case("replace"))
            {
                return Err(ViewSqlError::Unsupported("CREATE OR".into()));
            }
            word = words.next_word().unwrap_or_default();
        }
        if !word.eq_ignore_ascii_case("view") {
            return Err(ViewSqlError::Unsupported(format!("CREATE {word}")));
        }
        let name = words
            .identifier()
            .filter(|n| !n.eq_ignore_ascii_case("as"))
            .ok_or(ViewSqlError::MissingName)?;
        Ok(Self::Statement {
            name,
            sql: sql.to_owned(),
        })
    }

    /// The text that defines the view, for digests: an unchanged text means an unchanged view.
    pub fn text(&self) -> &str {
        match self {
            Self::Query(sql) | Self::Statement { sql, .. } => sql,
        }
    }
}

fn skip_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.find('\n').map_or("", |i| &rest[i + 1..]);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.find("*/").map_or("", |i| &rest[i + 2..]);
        } else {
            return sql;
        }
    }
}

struct Words<'a>(&'a str);

impl<'a> Words<'a> {
    fn next_word(&mut self) -> Option<&'a str> {
        let text = skip_comments(self.0);
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        self.0 = &text[end..];
        (end > 0).then(|| &text[..end])
    }

    /// A possibly qualified identifier: parts joined by `.`, each bare or quoted with `"`, `` ` ``
    /// or `[]`. `IF NOT EXISTS` before it is skipped.
    fn identifier(&mut self) -> Option<String> {
        let mut text = skip_comments(self.0);
        if text.len() >= 3 && text[..3].eq_ignore_ascii_case("if ") {
            let mut words = Words(text);
            let (_, not, exists) = (words.next_word(), words.next_word(), words.next_word());
            if !(not?.eq_ignore_ascii_case("not") && exists?.eq_ignore_ascii_case("exists")) {
                return None;
            }
            text = skip_comments(words.0);
        }
        let start = text;
        let mut rest = text;
        loop {
            rest = match rest.chars().next()? {
                quote @ ('"' | '`' | '[') => {
                    let close = if quote == '[' { ']' } else { quote };
                    let mut end = None;
                    let mut chars = rest.char_indices().skip(1).peekable();
                    while let Some((i, c)) = chars.next() {
                        if c == close {
                            // A doubled quote is an escaped quote inside the identifier.
                            if close != ']' && chars.peek().is_some_and(|(_, n)| *n == close) {
                                chars.next();
                                continue;
                            }
                            end = Some(i + c.len_utf8());
                            break;
                        }
                    }
                    &rest[end?..]
                }
                c if c.is_alphanumeric() || c == '_' || c == '$' => {
                    let end = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                        .unwrap_or(rest.len());
                    &rest[end..]
                }
                _ => return None,
            };
            match rest.strip_prefix('.') {
                Some(after_dot) => rest = after_dot,
                None => break,
            }
        }
        self.0 = rest;
        Some(start[..start.len() - rest.len()].to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_wrapped() {
        for sql in [
            "SELECT 1",
            "  select a from t;",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "-- masked\nSELECT 1",
            "/* v3 */ (SELECT 1)",
        ] {
            assert!(
                matches!(ViewSql::classify(sql), Ok(ViewSql::Query(_))),
                "{sql}"
            );
        }
        assert_eq!(
            ViewSql::classify("SELECT 1 ;\n").unwrap().text(),
            "SELECT 1"
        );
    }

    #[test]
    fn create_statements_keep_their_name() {
        let name = |sql: &str| match ViewSql::classify(sql).unwrap() {
            ViewSql::Statement { name, .. } => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name("CREATE VIEW v1 AS SELECT 1"), "v1");
        assert_eq!(
            name("create or replace view \"Ana\"\"lytics\".\"v 1\" as select 1"),
            "\"Ana\"\"lytics\".\"v 1\""
        );
        assert_eq!(name("CREATE VIEW `db`.`v` (a) AS SELECT 1"), "`db`.`v`");
        assert_eq!(
            name("CREATE VIEW IF NOT EXISTS main.v AS SELECT 1"),
            "main.v"
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_hint() {
        assert_eq!(ViewSql::classify("  ;"), Err(ViewSqlError::Empty));
        assert!(matches!(
            ViewSql::classify("DROP TABLE users"),
            Err(ViewSqlError::Unsupported(_))
        ));
        assert!(matches!(
            ViewSql::classify("CREATE TABLE t (a int)"),
            Err(ViewSqlError::Unsupported(_))
        ));
        assert_eq!(
            ViewSql::classify("CREATE VIEW AS SELECT 1").unwrap_err(),
            ViewSqlError::MissingName
        );
        assert!(
            ViewSql::classify("{\"sql\":\"SELECT 1\"}")
                .unwrap_err()
                .to_string()
                .contains("VIEW_SQL_JSON_POINTER")
        );
    }
}
