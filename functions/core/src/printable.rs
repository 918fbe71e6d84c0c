//! Text that others wrote (object names a database reader chose, an error a server sent), made
//! safe to print on an operator's terminal or in a log: control characters (ESC, BEL, …) and the
//! characters that reorder text on screen (bidirectional overrides and isolates) are shown as
//! `\u{…}` escapes instead of acting.

use std::borrow::Cow;

/// `text` with every character that could act on a terminal escaped.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` does something on a terminal other than show itself.
fn acts(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_reordering_characters_are_shown_not_obeyed() {
        assert!(matches!(printable("view public.pin"), Cow::Borrowed(_)));
        assert_eq!(
            printable("pin\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "pin\\u{1b}]0;owned\\u{7}\\u{1b}[2J"
        );
        assert_eq!(printable("a\u{202E}gpj.exe"), "a\\u{202e}gpj.exe");
        assert_eq!(printable("line\nbreak\ttab"), "line\\u{a}break\\u{9}tab");
        assert_eq!(printable("Café 営業"), "Café 営業");
    }
}
