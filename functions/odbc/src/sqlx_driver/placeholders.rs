//! Reading a statement's text as its database reads it, for two things: whether it holds more
//! than one statement (native drivers prepare one statement, and refuse a second; an ODBC
//! driver may run them all), and, on PostgreSQL, its numbered placeholders (`$1`, `$2`, a number
//! used twice binds one value twice) made positional `?`s as ODBC binds them.
//!
//! Literals, quoted identifiers and comments follow each dialect's rules: MariaDB's backslash
//! escapes (its sessions keep them on), `#` comments, `-- ` only before a blank, `"…"` as a
//! string; PostgreSQL's `E'…'` escapes, nested comments, dollar quotes at a token's start. What
//! cannot be read for sure (an unterminated literal or comment, MariaDB's executable comments)
//! counts as more than one statement: refused rather than guessed at.

/// The dialect whose rules the text is read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    Postgres,
    MariaDb,
}

impl Rules {
    /// The dialect a URL scheme of [`super::URL_SCHEMES`] names (the only schemes the driver
    /// opens: a connection's scheme is one of them).
    pub(crate) fn of(scheme: &str) -> Self {
        Self::named_by(scheme).unwrap_or(Self::MariaDb)
    }

    /// A scheme added to URL_SCHEMES without its rules fails a test here, rather than be read
    /// by MariaDB's rules unnoticed.
    fn named_by(scheme: &str) -> Option<Self> {
        match scheme {
            "odbc+postgres" | "odbc+postgresql" => Some(Self::Postgres),
            "odbc+mariadb" | "odbc+mysql" => Some(Self::MariaDb),
            _ => None,
        }
    }
}

/// What [`scan`] makes of a statement's text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// The text, each PostgreSQL `$n` outside literals, quoted identifiers and comments made `?`
    /// where numbers were asked to be rewritten; else the text as it was.
    pub sql: String,
    /// For each `?` so made, the number it had (1-based, as written: `$0` stays 0).
    pub numbers: Vec<usize>,
    /// Whether anything but blanks and comments follows a `;` outside literals and comments, or
    /// the text could not be read for sure.
    pub several_statements: bool,
}

pub(crate) fn scan(sql: &str, rules: Rules, rewrite_numbers: bool) -> Scanned {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut numbers = Vec::new();
    let mut copied = 0;
    let mut at = 0;
    let mut after_a_semicolon = false;
    let mut several_statements = false;
    while at < bytes.len() {
        let byte = bytes[at];
        let comment = comment_at(bytes, at, rules);
        if after_a_semicolon && !byte.is_ascii_whitespace() && comment.is_none() {
            several_statements = true;
        }
        let previous_is_word = at > 0 && is_word(bytes[at - 1]);
        let next = match (byte, comment) {
            (_, Some(Comment::Unsure)) => None,
            (_, Some(Comment::Line)) => Some(line_comment_end(bytes, at, rules)),
            (_, Some(Comment::Block)) => block_comment_end(bytes, at, rules),
            (b';', None) => {
                after_a_semicolon = true;
                Some(at + 1)
            }
            (b'\'', None) => {
                let escapes = match rules {
                    Rules::MariaDb => true,
                    // E'…' (or e'…'), the E a token of its own.
                    Rules::Postgres => {
                        at > 0
                            && matches!(bytes[at - 1], b'E' | b'e')
                            && !(at > 1 && is_word(bytes[at - 2]))
                    }
                };
                quoted_end(bytes, at, b'\'', escapes)
            }
            (b'"', None) => quoted_end(bytes, at, b'"', rules == Rules::MariaDb),
            (b'`', None) if rules == Rules::MariaDb => quoted_end(bytes, at, b'`', false),
            (b'$', None) if rules == Rules::Postgres && !previous_is_word => {
                let digits = bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    if rewrite_numbers {
                        let number = sql[at + 1..at + 1 + digits].parse().unwrap_or(usize::MAX);
                        out.push_str(&sql[copied..at]);
                        out.push('?');
                        numbers.push(number);
                        copied = at + 1 + digits;
                    }
                    Some(at + 1 + digits)
                } else {
                    match dollar_tag(bytes, at) {
                        Some(tag) => find(bytes, at + tag.len(), tag).map(|end| end + tag.len()),
                        None => Some(at + 1),
                    }
                }
            }
            // After a number PostgreSQL opens a dollar quote where this reader sees a word:
            // not read for sure.
            (b'$', None)
                if rules == Rules::Postgres
                    && token_starts_with_a_digit(bytes, at)
                    && dollar_tag(bytes, at).is_some() =>
            {
                None
            }
            _ => Some(at + 1),
        };
        match next {
            Some(next) => at = next,
            // Unterminated, or not to be read: fail closed.
            None => {
                several_statements = true;
                break;
            }
        }
    }
    let sql = match numbers.is_empty() {
        true => sql.to_owned(),
        false => {
            out.push_str(&sql[copied..]);
            out
        }
    };
    Scanned {
        sql,
        numbers,
        several_statements,
    }
}

enum Comment {
    /// To the end of the line.
    Line,
    Block,
    /// Not to be read for sure: MariaDB's `/*! … */` and `/*M! … */` (code to the server), and
    /// `--` before a byte beyond ASCII (a blank in some character sets).
    Unsure,
}

fn comment_at(bytes: &[u8], at: usize, rules: Rules) -> Option<Comment> {
    let rest = &bytes[at..];
    match rules {
        Rules::Postgres if rest.starts_with(b"--") => Some(Comment::Line),
        // `--` begins a comment only before a blank or a control character (or the end).
        Rules::MariaDb if rest.starts_with(b"--") => match rest.get(2) {
            None => Some(Comment::Line),
            Some(&b) if b <= b' ' || b == 0x7F => Some(Comment::Line),
            Some(&b) if b >= 0x80 => Some(Comment::Unsure),
            Some(_) => None,
        },
        Rules::MariaDb if rest.starts_with(b"#") => Some(Comment::Line),
        Rules::MariaDb if rest.starts_with(b"/*!") || rest.starts_with(b"/*M!") => {
            Some(Comment::Unsure)
        }
        _ if rest.starts_with(b"/*") => Some(Comment::Block),
        _ => None,
    }
}

/// Past the line comment at `at`: PostgreSQL ends it at a line feed or a carriage return,
/// MariaDB at a line feed.
fn line_comment_end(bytes: &[u8], at: usize, rules: Rules) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| b == b'\n' || (b == b'\r' && rules == Rules::Postgres))
        .map_or(bytes.len(), |end| at + end + 1)
}

/// Past the block comment that opens at `at` (PostgreSQL's nest); `None` if it never ends.
fn block_comment_end(bytes: &[u8], at: usize, rules: Rules) -> Option<usize> {
    let mut depth = 0;
    let mut i = at;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') if depth == 0 || rules == Rules::Postgres => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Past the literal or quoted identifier that opens at `at`: a doubled quote stays inside, and
/// with `escapes` a backslash escapes the byte after it. `None` if it never closes.
fn quoted_end(bytes: &[u8], at: usize, quote: u8, escapes: bool) -> Option<usize> {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if escapes => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The dollar quote's tag (`$$`, `$tag$`) that opens at `at`, if one does.
fn dollar_tag(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let name = bytes[at + 1..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b >= 0x80)
        .count();
    let first_is_a_digit = bytes.get(at + 1).is_some_and(u8::is_ascii_digit);
    (bytes.get(at + 1 + name) == Some(&b'$') && !first_is_a_digit)
        .then(|| &bytes[at..at + name + 2])
}

/// Whether the word that `at` ends (the bytes before it) begins with a digit: a number.
fn token_starts_with_a_digit(bytes: &[u8], at: usize) -> bool {
    let start = bytes[..at]
        .iter()
        .rposition(|b| !is_word(*b))
        .map_or(0, |i| i + 1);
    start < at && bytes[start].is_ascii_digit()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| from + i)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::{Rules, scan};

    #[test]
    fn every_scheme_the_driver_opens_names_its_rules() {
        for scheme in super::super::URL_SCHEMES {
            assert!(Rules::named_by(scheme).is_some(), "{scheme}");
        }
    }

    #[test]
    fn numbered_values_become_question_marks_in_their_order() {
        let made = scan(
            "SELECT a FROM t WHERE b = $2 AND c = $1 OR d = $2",
            Rules::Postgres,
            true,
        );
        assert_eq!(made.sql, "SELECT a FROM t WHERE b = ? AND c = ? OR d = ?");
        assert_eq!(made.numbers, vec![2, 1, 2]);
        assert!(!made.several_statements);
        let kept = scan("SELECT $1", Rules::Postgres, false);
        assert_eq!((kept.sql.as_str(), kept.numbers), ("SELECT $1", vec![]));
    }

    #[test]
    fn literals_identifiers_comments_and_words_keep_their_dollars() {
        let sql = "SELECT '$1', \"$2\", $$ $3 $$, $tag$ it's $4 $tag$, a$5, E'\\'$6', \
                   'it''s $7' -- $8\n /* /* $9 */ */ FROM t WHERE x = $10";
        let made = scan(sql, Rules::Postgres, true);
        assert_eq!(made.numbers, vec![10]);
        assert_eq!(made.sql, sql.replace("x = $10", "x = ?"));
        assert!(!made.several_statements, "{sql}");
    }

    #[test]
    fn one_statement_is_one_whatever_its_literals_hold() {
        for (one, rules) in [
            ("SELECT 1", Rules::Postgres),
            ("SELECT 1;", Rules::MariaDb),
            ("SELECT 1; -- done\n", Rules::Postgres),
            ("SELECT 1; /* done */ ", Rules::MariaDb),
            (
                "SELECT ';', \"b;c\", $$;$$, $t$;$t$ -- ; DROP\n",
                Rules::Postgres,
            ),
            ("SELECT E'\\';', 'it''s;'", Rules::Postgres),
            ("SELECT /* /* ; */ */ 1", Rules::Postgres),
            (
                "SELECT 'it\\'s;', \"a\\\";\", `d;e` # ; DROP\n",
                Rules::MariaDb,
            ),
            ("SELECT 1 -- ; DROP", Rules::MariaDb),
            ("SELECT 1 -- x\r; still a comment", Rules::MariaDb),
            ("SELECT a1$b$, 2--1", Rules::Postgres),
        ] {
            assert!(!scan(one, rules, false).several_statements, "{one}");
        }
    }

    #[test]
    fn a_second_statement_is_seen_however_it_hides() {
        for (several, rules) in [
            ("SELECT 1; DROP TABLE t", Rules::Postgres),
            ("SELECT 1;DROP TABLE t", Rules::MariaDb),
            ("SELECT ';'; SELECT 2", Rules::Postgres),
            ("SELECT 1; /* x */ SELECT 2", Rules::MariaDb),
            // Read with the other dialect's rules, each of these hides its DROP.
            ("SELECT 'a\\'' ; DROP TABLE t; -- '", Rules::MariaDb),
            ("SELECT 1 #'\n; DROP TABLE t; -- '", Rules::MariaDb),
            ("SELECT 2--1; DROP TABLE t", Rules::MariaDb),
            ("SELECT \"a\\\"\" ; DROP TABLE t; -- \"", Rules::MariaDb),
            ("SELECT E'\\''; DROP TABLE t; --'", Rules::Postgres),
            ("SELECT e'\\''; DROP TABLE t; --'", Rules::Postgres),
            ("/* /* */ ' */; DROP TABLE t; -- '", Rules::Postgres),
            ("SELECT 1 AS a$b$; DROP TABLE t", Rules::Postgres),
            ("SELECT 1 AS a$b$; DROP TABLE t", Rules::MariaDb),
            // PostgreSQL ends a line comment at a carriage return too; MariaDB's `--` is a
            // comment before DEL.
            ("SELECT 1 -- x\r; DROP TABLE t", Rules::Postgres),
            ("SELECT 1 --\x7f '\n; DROP TABLE t; -- '", Rules::MariaDb),
        ] {
            assert!(scan(several, rules, false).several_statements, "{several}");
        }
    }

    #[test]
    fn what_cannot_be_read_for_sure_counts_as_several() {
        for (unsure, rules) in [
            ("SELECT 'open", Rules::Postgres),
            ("SELECT \"open", Rules::MariaDb),
            ("SELECT /* open", Rules::Postgres),
            ("SELECT /* /* */ open", Rules::Postgres),
            ("SELECT $tag$ open", Rules::Postgres),
            ("SELECT 1 /*! ; DROP TABLE t */", Rules::MariaDb),
            ("SELECT 1 /*M! ; DROP TABLE t */", Rules::MariaDb),
            ("SELECT 1 --\u{a0}'\n; DROP TABLE t; -- '", Rules::MariaDb),
            ("SELECT 1$a$ ; $a$", Rules::Postgres),
        ] {
            assert!(scan(unsure, rules, false).several_statements, "{unsure}");
        }
    }

    #[test]
    fn text_beyond_ascii_is_read_through() {
        let made = scan(
            "SELECT 'é;', \"視圖\" FROM t WHERE x = $1",
            Rules::Postgres,
            true,
        );
        assert_eq!(made.sql, "SELECT 'é;', \"視圖\" FROM t WHERE x = ?");
        assert!(!made.several_statements);
    }
}
