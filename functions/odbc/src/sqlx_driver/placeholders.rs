//! ODBC binds values to `?`s, in order; PostgreSQL's statements number theirs (`$1`, `$2`, a
//! number used twice binds one value twice). This turns one into the other, leaving literals,
//! quoted identifiers and comments alone, and says whether the text holds more than one
//! statement (native drivers prepare one statement only; an ODBC driver may run them all).

/// What [`positional`] makes of a statement's text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Positional {
    /// The text with each `$n` outside literals, quoted identifiers and comments replaced by `?`.
    pub sql: String,
    /// For each `?` so made, which value (0-based) it takes; empty where the text numbered none
    /// (the values bind as they come).
    pub order: Vec<usize>,
    /// Whether anything but blanks and comments follows a `;` outside literals and comments.
    pub several_statements: bool,
}

pub(crate) fn positional(sql: &str) -> Positional {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut copied = 0;
    let mut at = 0;
    let mut after_a_semicolon = false;
    let mut several_statements = false;
    while at < bytes.len() {
        let byte = bytes[at];
        let blank_or_comment = byte.is_ascii_whitespace()
            || (byte == b'-' && bytes.get(at + 1) == Some(&b'-'))
            || (byte == b'/' && bytes.get(at + 1) == Some(&b'*'));
        if after_a_semicolon && !blank_or_comment {
            several_statements = true;
        }
        match byte {
            b';' => {
                after_a_semicolon = true;
                at += 1;
            }
            quote @ (b'\'' | b'"' | b'`') => at = after_quoted(bytes, at, quote),
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |end| at + end + 1);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = sql[at + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| at + 2 + end + 2);
            }
            b'$' => {
                let digits = bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let in_a_word = at > 0 && is_word(bytes[at - 1]);
                if digits > 0 && !in_a_word {
                    let number: usize = sql[at + 1..at + 1 + digits].parse().unwrap_or(0);
                    out.push_str(&sql[copied..at]);
                    out.push('?');
                    order.push(number.saturating_sub(1));
                    at += 1 + digits;
                    copied = at;
                } else if let Some(end) = dollar_quote_end(sql, at) {
                    at = end;
                } else {
                    at += 1;
                }
            }
            _ => at += 1,
        }
    }
    let sql = match order.is_empty() {
        true => sql.to_owned(),
        false => {
            out.push_str(&sql[copied..]);
            out
        }
    };
    Positional {
        sql,
        order,
        several_statements,
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Past a literal or quoted identifier that opens at `at` (a doubled quote stays inside).
fn after_quoted(bytes: &[u8], at: usize, quote: u8) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Past a dollar-quoted literal (`$tag$ … $tag$`, PostgreSQL) that opens at `at`, if one does.
fn dollar_quote_end(sql: &str, at: usize) -> Option<usize> {
    let tag_length = sql[at + 1..].find('$')?;
    let tag = &sql[at..at + 1 + tag_length + 1];
    if !tag[1..tag.len() - 1]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let body = at + tag.len();
    Some(
        sql[body..]
            .find(tag)
            .map_or(sql.len(), |end| body + end + tag.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::positional;

    #[test]
    fn numbered_values_become_question_marks_in_their_order() {
        let made = positional("SELECT a FROM t WHERE b = $2 AND c = $1 OR d = $2");
        assert_eq!(made.sql, "SELECT a FROM t WHERE b = ? AND c = ? OR d = ?");
        assert_eq!(made.order, vec![1, 0, 1]);
        assert!(!made.several_statements);
    }

    #[test]
    fn literals_identifiers_comments_and_words_keep_their_dollars() {
        let sql = "SELECT '$1', \"$2\", `$3`, $$ $4 $$, $tag$ it's $5 $tag$, a$6 \
                   -- $7\n /* $8 */ FROM t WHERE x = $9";
        let made = positional(sql);
        assert_eq!(made.order, vec![8]);
        assert_eq!(made.sql, sql.replace("x = $9", "x = ?"));
    }

    #[test]
    fn question_marks_pass_as_they_are() {
        let sql = "INSERT INTO t (a, b) VALUES (?, ?)";
        let made = positional(sql);
        assert_eq!((made.sql.as_str(), made.order), (sql, vec![]));
    }

    #[test]
    fn a_doubled_quote_stays_inside_its_literal() {
        let made = positional("SELECT 'it''s $1', $1");
        assert_eq!(
            (made.sql.as_str(), made.order),
            ("SELECT 'it''s $1', ?", vec![0])
        );
    }

    #[test]
    fn a_second_statement_is_seen_past_literals_and_comments() {
        for one in [
            "SELECT 1",
            "SELECT 1;",
            "SELECT 1; -- done\n",
            "SELECT 1; /* done */ ",
            "SELECT ';' AS a, \"b;c\", `d;e`, $$;$$ -- ; DROP\n",
        ] {
            assert!(!positional(one).several_statements, "{one}");
        }
        for several in [
            "SELECT 1; DROP TABLE t",
            "SELECT 1;DROP TABLE t",
            "SELECT ';'; SELECT 2",
            "SELECT 1; /* x */ SELECT 2",
        ] {
            assert!(positional(several).several_statements, "{several}");
        }
    }
}
