//! Text that others wrote (object names a database reader chose, an error a server sent), made
//! safe to print on an operator's terminal or in a log: control characters (ESC, BEL, …) and the
//! characters that reorder or hide text on screen (bidirectional overrides and isolates,
//! zero-width and other invisible format characters) are shown as `\u{…}` escapes instead of
//! acting.
//!
//! Two strengths: [`printable`] for one value (its line breaks escaped too, so that a value cannot
//! fake a line of the output around it), [`for_terminal`] for a whole text about to be printed
//! (its own line breaks and tabs kept). [`refuse_unprintable`] is for names an operator passes:
//! a name holding such a character is refused rather than escaped.

use std::borrow::Cow;

use thiserror::Error;

/// `text` with every character that could act on a terminal escaped, line breaks included.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape_where(text, acts)
}

/// A whole text about to be shown on a terminal: every character that could act on it escaped,
/// except the line breaks and tabs that lay the text out.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| acts(c) && !matches!(c, '\n' | '\t'))
}

/// A name (of a view, a project, a webhook) holding a character [`printable`] would escape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{what} {shown} holds {character}, a control or invisible formatting character: a name may \
     not hold one (it acts on a terminal, or shows the name as something it is not)"
)]
pub struct Unprintable {
    /// What the name is, as the operator knows it (`--view`).
    pub what: String,
    /// The name, escaped.
    pub shown: String,
    /// The first such character, escaped.
    pub character: String,
}

/// `Ok` when `text`, the `what` an operator named, holds nothing [`printable`] would escape.
pub fn refuse_unprintable(what: &str, text: &str) -> Result<(), Unprintable> {
    match text.chars().find(|&c| acts(c)) {
        None => Ok(()),
        Some(c) => Err(Unprintable {
            what: what.to_owned(),
            shown: printable(text).into_owned(),
            character: c.escape_unicode().to_string(),
        }),
    }
}

fn escape_where(text: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` does something on a terminal other than show itself (see
/// [`view_sql::acts_on_a_terminal`], where the view SQL's own names are checked with it too).
fn acts(c: char) -> bool {
    view_sql::acts_on_a_terminal(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "pin\u{1b}]0;owned\u{7}\u{1b}[2J";

    #[test]
    fn control_and_reordering_characters_are_shown_not_obeyed() {
        assert!(matches!(printable("view public.pin"), Cow::Borrowed(_)));
        assert_eq!(printable(HOSTILE), "pin\\u{1b}]0;owned\\u{7}\\u{1b}[2J");
        assert_eq!(printable("a\u{202E}gpj.exe"), "a\\u{202e}gpj.exe");
        assert_eq!(printable("line\nbreak\ttab"), "line\\u{a}break\\u{9}tab");
        assert_eq!(printable("Café 営業"), "Café 営業");
    }

    #[test]
    fn invisible_format_characters_and_c1_controls_are_shown() {
        for (c, shown) in [
            ('\u{061C}', "\\u{61c}"),
            ('\u{200B}', "\\u{200b}"),
            ('\u{200D}', "\\u{200d}"),
            ('\u{200F}', "\\u{200f}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{202A}', "\\u{202a}"),
            ('\u{2060}', "\\u{2060}"),
            ('\u{2064}', "\\u{2064}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{2069}', "\\u{2069}"),
            ('\u{FEFF}', "\\u{feff}"),
            ('\u{AD}', "\\u{ad}"),
            ('\u{3164}', "\\u{3164}"),
            ('\u{FE0F}', "\\u{fe0f}"),
            ('\u{E0041}', "\\u{e0041}"),
            ('\u{85}', "\\u{85}"),
            ('\u{9B}', "\\u{9b}"),
        ] {
            assert_eq!(printable(&format!("a{c}b")), format!("a{shown}b"));
        }
        // Their neighbours are ordinary text.
        assert_eq!(printable("\u{2027}\u{61B}"), "\u{2027}\u{61B}");
    }

    #[test]
    fn a_terminal_text_keeps_its_layout_and_nothing_else() {
        assert!(matches!(
            for_terminal("two\nlines\tand a tab\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            for_terminal(&format!("ok\n{HOSTILE}\r\nnext\u{202E}\n")),
            "ok\npin\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}\nnext\\u{202e}\n"
        );
        // What printable made of a value passes unchanged.
        let shown = printable(HOSTILE);
        assert_eq!(for_terminal(&shown), shown);
    }

    #[test]
    fn names_with_such_characters_are_refused_saying_which() {
        assert_eq!(refuse_unprintable("--view", "public.\"Café 営業\""), Ok(()));
        let refused = refuse_unprintable("--view", "a\u{202E}gpj").unwrap_err();
        assert_eq!(refused.character, "\\u{202e}");
        assert_eq!(
            refused.to_string(),
            "--view a\\u{202e}gpj holds \\u{202e}, a control or invisible formatting character: a \
             name may not hold one (it acts on a terminal, or shows the name as something it is \
             not)"
        );
        let refused = refuse_unprintable("--name", "hook\n").unwrap_err();
        assert_eq!(
            (refused.shown.as_str(), refused.character.as_str()),
            ("hook\\u{a}", "\\u{a}")
        );
        assert!(refuse_unprintable("--project", "a\u{200B}b").is_err());
    }
}
