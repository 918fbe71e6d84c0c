//! Percent-encoding for the pieces of a URL we assemble (Immuta paths, database URLs).

/// Percent-encodes all but RFC 3986's unreserved characters, so the value can be a path
/// segment, a query value or a URL's user or password.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode("a b/1"), "a%20b%2F1");
        assert_eq!(encode("Az09-._~"), "Az09-._~");
        assert_eq!(encode("p@:%é"), "p%40%3A%25%C3%A9");
    }
}
