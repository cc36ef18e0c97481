//! Encodings requests need: Basic credentials (base64) and path segments (percent-encoding).

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Standard base64 with padding (RFC 4648), as HTTP Basic needs. Public so fakes can check
/// the header they receive.
///
/// ```
/// assert_eq!(kms_sync_core::http::encode_base64(b"foobar"), "Zm9vYmFy");
/// ```
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What [`encode_segment`] escapes: everything but the unreserved characters of RFC 3986
/// (`A–Z a–z 0–9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (everything but `A–Z a–z 0–9 - . _ ~`), e.g. the braces
/// of a braced uuid.
///
/// ```
/// use kms_sync_core::http::encode_segment;
/// assert_eq!(encode_segment("{a1b2}"), "%7Ba1b2%7D");
/// assert_eq!(encode_segment("MY KEY/x"), "MY%20KEY%2Fx");
/// ```
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn segments_escape_everything_but_the_unreserved_characters() {
        // The rule percent-encoding applies, written out byte by byte.
        let by_hand = |segment: &str| -> String {
            segment
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let every: String = (0u8..128).map(char::from).chain(['é', '€', '😀']).collect();
        assert_eq!(encode_segment(&every), by_hand(&every));
        assert_eq!(encode_segment("a-b.c_d~e"), "a-b.c_d~e");
    }
}
