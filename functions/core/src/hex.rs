//! Lower-case hex encoding and case-insensitive decoding into a fixed-size array: the only hex we
//! need (signature headers), too small to justify a dependency.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Decodes exactly `N` bytes from `2 * N` hex digits (either case); `None` for any other input.
pub fn decode_array<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_accepts_either_case() {
        let bytes = [0x00, 0x7f, 0xab, 0xff];
        assert_eq!(encode(&bytes), "007fabff");
        assert_eq!(decode_array::<4>(b"007fabff"), Some(bytes));
        assert_eq!(decode_array::<4>(b"007FABFF"), Some(bytes));
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        assert_eq!(decode_array::<2>(b"abc"), None);
        assert_eq!(decode_array::<2>(b"abcdef"), None);
        assert_eq!(decode_array::<2>(b"abcg"), None);
        assert_eq!(decode_array::<2>(b"ab c"), None);
    }
}
