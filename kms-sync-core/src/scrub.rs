//! The [`Scrubber`]: removes secret values and credentials from text built out of what a
//! service answered (an error message, a body excerpt) before it reaches an error, a log
//! line, a report or a status record.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};

use crate::secret::REDACTED;

/// Values shorter than this many characters are removed only as whole tokens.
///
/// ```
/// use kms_sync_core::{Scrubber, MIN_FREE_MATCH_CHARS};
/// assert_eq!(MIN_FREE_MATCH_CHARS, 6);
/// let short = Scrubber::of(["12345"]);
/// assert_eq!(short.scrub("pin 12345, id 9123456"), "pin [REDACTED], id 9123456");
/// ```
pub const MIN_FREE_MATCH_CHARS: usize = 6;

/// The shortest base64 fragment looked for inside a longer base64 text (shorter ones would
/// match by chance).
const MIN_FRAGMENT_CHARS: usize = 8;

/// RFC 3986 unreserved characters stay as they are.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// What JavaScript's `encodeURIComponent` leaves alone.
const URI_COMPONENT: &AsciiSet = &RFC3986
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// One text to look for, and whether it must stand as a whole token.
#[derive(Clone)]
struct Needle {
    text: SecretString,
    whole_token: bool,
}

/// Removes secrets (values and credentials) from text, in every form they may travel in:
/// raw; JSON-escaped (as inside a JSON string, once or twice, with non-ASCII as `\u` escapes
/// or not, with `/` as `\/` or not); URL-encoded (percent-encoding with upper- or lower-case
/// hex, and form encoding with `+` for a space); base64 (standard and URL-safe, padded and
/// not, and the value's stretch inside a longer base64 text). Each is replaced by
/// [`REDACTED`].
///
/// **Short values.** A value shorter than [`MIN_FREE_MATCH_CHARS`] characters is removed only
/// as a whole token: where it is bounded on both sides by a character that is not
/// alphanumeric, or by the text's ends. So a one-letter value `a` removes `a` in `key = a`
/// but leaves `value` and `data` alone. Longer values are removed wherever they occur.
/// Empty values are ignored.
///
/// Overlapping matches (a value inside another, two values that share a stretch) are
/// merged into one [`REDACTED`], so no piece of either survives.
///
/// It is built only on error paths; `Debug` shows only how many secrets it holds.
///
/// ```
/// use kms_sync_core::Scrubber;
/// let scrubber = Scrubber::new().with_secret("s3cret-value").with_secret("x");
/// let echoed = r#"invalid: {"value":"s3cret-value","flag":"x"} in czNjcmV0LXZhbHVl"#;
/// assert_eq!(
///     scrubber.scrub(echoed),
///     r#"invalid: {"value":"[REDACTED]","flag":"[REDACTED]"} in [REDACTED]"#
/// );
/// // `x` is short: only a whole token goes.
/// assert_eq!(scrubber.scrub("x-ray index"), "[REDACTED]-ray index");
/// assert_eq!(format!("{scrubber:?}"), "Scrubber { secrets: 2 }");
/// ```
#[derive(Clone)]
pub struct Scrubber {
    needles: Vec<Needle>,
    /// For each first byte, the needles that start with it: one pass over a text finds
    /// every candidate, however many secrets there are.
    by_first_byte: Vec<Vec<usize>>,
    secrets: usize,
}

impl Default for Scrubber {
    fn default() -> Self {
        Scrubber {
            needles: Vec::new(),
            by_first_byte: vec![Vec::new(); 256],
            secrets: 0,
        }
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl Scrubber {
    /// A scrubber that removes nothing yet.
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// assert_eq!(Scrubber::new().scrub("left alone"), "left alone");
    /// ```
    pub fn new() -> Self {
        Scrubber::default()
    }

    /// A scrubber for each of `secrets`.
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// let s = Scrubber::of(["token-123456", "pw-abcdef"]);
    /// assert_eq!(s.scrub("token-123456 / pw-abcdef"), "[REDACTED] / [REDACTED]");
    /// ```
    pub fn of<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut scrubber = Scrubber::new();
        for secret in secrets {
            scrubber.add(secret.as_ref());
        }
        scrubber
    }

    /// Adds a secret, builder style (see [`add`](Self::add)).
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// let s = Scrubber::new().with_secret("api-key-0042");
    /// assert_eq!(s.scrub("key=api-key-0042"), "key=[REDACTED]");
    /// ```
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.add(secret);
        self
    }

    /// Adds a secret: every form of it is removed from now on. An empty one is ignored.
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// let mut s = Scrubber::new();
    /// s.add("p@ss word/1");
    /// assert_eq!(s.scrub("q=p%40ss+word%2F1"), "q=[REDACTED]");
    /// ```
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        self.secrets += 1;
        let whole_token = secret.chars().count() < MIN_FREE_MATCH_CHARS;
        let mut forms = encoded_forms(secret);
        if !whole_token {
            // Inside a base64 text, the value may be raw or JSON-escaped (a body echoed).
            forms.extend(base64_fragments(secret.as_bytes()));
            forms.extend(base64_fragments(json_escaped(secret).as_bytes()));
            forms.sort();
            forms.dedup();
        }
        for form in forms {
            self.push(Needle {
                text: SecretString::from(form),
                whole_token,
            });
        }
    }

    fn push(&mut self, needle: Needle) {
        let Some(&first) = needle.text.expose_secret().as_bytes().first() else {
            return;
        };
        self.by_first_byte[usize::from(first)].push(self.needles.len());
        self.needles.push(needle);
    }

    /// Adds every secret another scrubber holds.
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// let mut run = Scrubber::of(["value-one-1"]);
    /// run.extend(&Scrubber::of(["credential-2"]));
    /// assert_eq!(run.len(), 2);
    /// assert_eq!(run.scrub("value-one-1 credential-2"), "[REDACTED] [REDACTED]");
    /// ```
    pub fn extend(&mut self, other: &Scrubber) {
        for needle in &other.needles {
            self.push(needle.clone());
        }
        self.secrets += other.secrets;
    }

    /// How many secrets it removes.
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// let s = Scrubber::of(["one-secret", ""]);
    /// assert_eq!((s.len(), s.is_empty()), (1, false));
    /// ```
    pub fn len(&self) -> usize {
        self.secrets
    }

    /// Whether it removes nothing.
    pub fn is_empty(&self) -> bool {
        self.secrets == 0
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    ///
    /// ```
    /// use kms_sync_core::Scrubber;
    /// let s = Scrubber::of(["s3cr3t value"]);
    /// assert_eq!(s.scrub("got s3cr3t%20value"), "got [REDACTED]");
    /// ```
    pub fn scrub(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (at, &byte) in bytes.iter().enumerate() {
            for &i in &self.by_first_byte[usize::from(byte)] {
                let needle = &self.needles[i];
                let form = needle.text.expose_secret().as_bytes();
                let end = at + form.len();
                // A needle is whole UTF-8, so a match starts and ends on char boundaries.
                if bytes[at..].starts_with(form) && (!needle.whole_token || is_token(text, at, end))
                {
                    spans.push((at, end));
                }
            }
        }
        if spans.is_empty() {
            return text.to_owned();
        }
        replace_spans(text, spans)
    }
}

/// Whether `text[start..end]` is bounded by non-alphanumeric characters or the text's ends.
fn is_token(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

/// Replaces the (possibly overlapping) byte spans by one marker each merged run.
fn replace_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in spans {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                out.push_str(&text[copied..s]);
                out.push_str(REDACTED);
                copied = e;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((s, e)) = current {
        out.push_str(&text[copied..s]);
        out.push_str(REDACTED);
        copied = e;
    }
    out.push_str(&text[copied..]);
    out
}

/// Every whole form of `secret`: raw, JSON-escaped, URL-encoded and base64.
fn encoded_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let json = json_escaped(secret);
    forms.push(json_escaped(&json));
    for upper in [false, true] {
        let ascii = ascii_escaped(&json, upper);
        forms.push(ascii.replace('/', "\\/"));
        forms.push(ascii);
    }
    forms.push(json.replace('/', "\\/"));
    // URL-encoded, raw or JSON-escaped first (a JSON body echoed inside a URL-encoded text).
    for text in [secret, json.as_str()] {
        for set in [NON_ALPHANUMERIC, RFC3986, URI_COMPONENT] {
            let encoded = utf8_percent_encode(text, set).to_string();
            forms.push(lower_hex(&encoded));
            forms.push(encoded);
        }
        let form: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        forms.push(lower_hex(&form));
        forms.push(form);
    }
    forms.push(json);
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(secret.as_bytes()));
    }
    forms.sort();
    forms.dedup();
    forms
}

/// The text as inside a JSON string, without the quotes.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_owned()
}

/// A JSON-escaped text with every non-ASCII character as `\uXXXX` (surrogate pairs beyond
/// the basic plane), as encoders that keep their output ASCII write it.
fn ascii_escaped(json: &str, upper_hex: bool) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            if upper_hex {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A percent-encoded text with its hex digits in lower case.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// The stretches of base64 that encode `bytes` wherever they start inside a longer text
/// (at each of the three byte alignments), in both alphabets: a value inside a base64 blob
/// (a request body echoed as base64) is found too.
fn base64_fragments(bytes: &[u8]) -> Vec<String> {
    let mut fragments = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        let encoded = STANDARD_NO_PAD.encode(&padded);
        let first = (8 * offset).div_ceil(6);
        let last = (8 * padded.len()) / 6;
        if last <= first || last - first < MIN_FRAGMENT_CHARS {
            continue;
        }
        let stretch = &encoded[first..last];
        fragments.push(stretch.replace('+', "-").replace('/', "_"));
        fragments.push(stretch.to_owned());
    }
    fragments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge() {
        assert_eq!(
            replace_spans("abcdefgh", vec![(1, 3), (2, 5), (6, 7)]),
            "a[REDACTED]f[REDACTED]h"
        );
    }

    #[test]
    fn lower_hex_keeps_the_rest() {
        assert_eq!(lower_hex("a%2Fb%C3%A9c"), "a%2fb%c3%a9c");
        assert_eq!(lower_hex("trailing%A"), "trailing%a");
    }
}
