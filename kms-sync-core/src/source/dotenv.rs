//! A source reading a dotenv file, with a small parser of its own that takes every value
//! literally.
//!
//! Why not `dotenvy`: it substitutes `$NAME` and `${NAME}` in unquoted and double-quoted
//! values from earlier lines and from the process environment, with no switch to turn that
//! off — so `pa$word` became `pa`, and `X=${KMS_SYNC_STATE_KEY}` copied the tool's own secret
//! into the destination. It also reports no line numbers for the pairs it yields, so a
//! duplicate key could not be named with both of its lines. The syntax is small enough to
//! parse here: no value ever comes from anywhere but the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Revision, SecretSource};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretSet;

/// Secrets from a dotenv file: `KEY=value`, single and double quotes, escapes in double
/// quotes, values spanning lines inside quotes, `export` prefixes and `#` comments.
///
/// **Values are taken literally.** `$NAME` and `${NAME}` are never expanded — not from
/// earlier lines, not from the process environment — so `pa$word` stays `pa$word`. No value
/// can come from anywhere but the file.
///
/// | form | value |
/// |---|---|
/// | `KEY=value` | `value`, surrounding spaces trimmed; ` #…` after a space is a comment |
/// | `KEY='value'` | exactly what is between the quotes (may span lines) |
/// | `KEY="value"` | between the quotes, with `\n`, `\r`, `\t`, `\"`, `\\`, `\'`, `\$` unescaped; any other `\x` is kept as written (may span lines) |
/// | `export KEY=…` | as without `export` |
/// | `KEY=` | the empty string |
///
/// Keys are letters, digits, `_` and `.`, not starting with a digit. A key set twice is an
/// error naming both lines (which one should win is not the parser's to guess). A UTF-8 byte
/// order mark at the start is skipped; Windows line endings are accepted.
///
/// The file is read on every [`load`](SecretSource::load); a missing file or a line that does
/// not parse is a [`Source`](ErrorKind::Source) error naming the file, the line and the
/// column — never the line's text, which may hold a value — so a sync stops before writing.
///
/// ```no_run
/// use kms_sync_core::{DotenvSource, SecretSource};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let source = DotenvSource::new(".env.production", "prod");
/// let secrets = source.load().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DotenvSource {
    path: PathBuf,
    environment: String,
}

impl DotenvSource {
    /// The file at `path`; `environment` is what `{{environment}}` renders to.
    pub fn new(path: impl Into<PathBuf>, environment: impl Into<String>) -> Self {
        DotenvSource {
            path: path.into(),
            environment: environment.into(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses dotenv text (what [`load`](SecretSource::load) does with the file's contents).
    ///
    /// ```
    /// use kms_sync_core::DotenvSource;
    /// let set = DotenvSource::parse_str("export A=1\n# note\nB='two words'\nC=pa$word\n", "dev")?;
    /// assert_eq!(set.get("B").map(|v| v.expose_secret()), Some("two words"));
    /// assert_eq!(set.get("C").map(|v| v.expose_secret()), Some("pa$word"));
    /// let twice = DotenvSource::parse_str("A=1\nA=2\n", "dev").unwrap_err();
    /// assert!(twice.to_string().contains("lines 1 and 2"), "{twice}");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Source`](ErrorKind::Source): a line that does not parse (with its line and column),
    /// or a key set twice (naming both lines).
    pub fn parse_str(text: &str, environment: &str) -> Result<SecretSet> {
        parse_text(text, environment, "dotenv text")
    }
}

fn parse_bytes(bytes: &[u8], environment: &str, origin: &str) -> Result<SecretSet> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        Error::new(
            ErrorKind::Source,
            format!("{origin}: line {line} is not valid UTF-8"),
        )
    })?;
    parse_text(text, environment, origin)
}

fn parse_text(text: &str, environment: &str, origin: &str) -> Result<SecretSet> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let pairs = Parser::new(text)
        .pairs()
        .map_err(|e| e.into_error(origin))?;
    let mut first_line: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
    for pair in &pairs {
        if let Some(first) = first_line.insert(pair.key, pair.line) {
            return Err(Error::new(
                ErrorKind::Source,
                format!(
                    "{origin}: key `{}` is set twice, on lines {first} and {}; keep one",
                    pair.key, pair.line
                ),
            )
            .with_key(pair.key));
        }
    }
    let mut set = SecretSet::new(environment);
    for pair in pairs {
        set.insert(pair.key, pair.value);
    }
    Ok(set)
}

/// One `KEY=value` and the line it starts on.
struct Pair<'a> {
    key: &'a str,
    value: String,
    line: usize,
}

/// Where and why a line does not parse. Never carries the line's text.
struct ParseError {
    line: usize,
    column: usize,
    why: &'static str,
}

impl ParseError {
    fn into_error(self, origin: &str) -> Error {
        Error::new(
            ErrorKind::Source,
            format!(
                "{origin}: cannot parse line {}, column {}: {}",
                self.line, self.column, self.why
            ),
        )
    }
}

/// A cursor over the text, counting lines and columns (in characters, from 1).
struct Parser<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    column: usize,
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            at: 0,
            line: 1,
            column: 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    fn error(&self, why: &'static str) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            why,
        }
    }

    /// At the end of a line or of the text: consumes the line break.
    fn end_of_line(&mut self) -> bool {
        match self.peek() {
            None => true,
            Some('\n') => {
                self.bump();
                true
            }
            Some('\r') if self.text[self.at..].starts_with("\r\n") => {
                self.bump();
                self.bump();
                true
            }
            _ => false,
        }
    }

    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn pairs(mut self) -> Result<Vec<Pair<'a>>, ParseError> {
        let mut pairs = Vec::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Ok(pairs),
                Some('#') => self.skip_comment(),
                Some('\n' | '\r') => {}
                Some(_) => pairs.push(self.assignment()?),
            }
            if !self.end_of_line() {
                return Err(self.error("unexpected text after the value"));
            }
        }
    }

    fn key(&mut self) -> Result<&'a str, ParseError> {
        let start = self.at;
        if !self
            .peek()
            .is_some_and(|c| is_key_char(c) && !c.is_ascii_digit())
        {
            return Err(self.error(
                "a line must start with a key (letters, digits, `_` and `.`, not a digit first)",
            ));
        }
        while self.peek().is_some_and(is_key_char) {
            self.bump();
        }
        Ok(&self.text[start..self.at])
    }

    fn assignment(&mut self) -> Result<Pair<'a>, ParseError> {
        let line = self.line;
        let mut key = self.key()?;
        if key == "export" && self.peek().is_some_and(is_blank) {
            self.skip_blanks();
            if self.peek() != Some('=') {
                key = self.key()?;
            }
        }
        self.skip_blanks();
        if self.bump_if('=').is_none() {
            return Err(self.error("expected `=` after the key"));
        }
        self.skip_blanks();
        let value = match self.peek() {
            Some('\'') => self.single_quoted()?,
            Some('"') => self.double_quoted()?,
            _ => self.unquoted(),
        };
        Ok(Pair { key, value, line })
    }

    fn bump_if(&mut self, wanted: char) -> Option<char> {
        (self.peek() == Some(wanted)).then(|| self.bump()).flatten()
    }

    /// Up to the end of the line or a ` #` comment, trimmed.
    fn unquoted(&mut self) -> String {
        let start = self.at;
        let mut previous_blank = true;
        while let Some(c) = self.peek() {
            if c == '\n' || (c == '#' && previous_blank) {
                break;
            }
            previous_blank = is_blank(c);
            self.bump();
        }
        let value = self.text[start..self.at]
            .trim_end_matches('\r')
            .trim_end_matches(is_blank);
        if self.peek() == Some('#') {
            self.skip_comment();
        }
        value.to_owned()
    }

    /// After the closing quote: blanks, then an optional comment.
    fn after_quote(&mut self) -> Result<(), ParseError> {
        self.skip_blanks();
        match self.peek() {
            Some('#') => {
                self.skip_comment();
                Ok(())
            }
            None | Some('\n') => Ok(()),
            Some('\r') if self.text[self.at..].starts_with("\r\n") => Ok(()),
            Some(_) => Err(self.error("unexpected text after the closing quote")),
        }
    }

    fn single_quoted(&mut self) -> Result<String, ParseError> {
        let opened = self.error("this single quote is never closed");
        self.bump();
        let start = self.at;
        loop {
            match self.peek() {
                None => return Err(opened),
                Some('\'') => break,
                Some(_) => {
                    self.bump();
                }
            }
        }
        let value = self.text[start..self.at].replace("\r\n", "\n");
        self.bump();
        self.after_quote()?;
        Ok(value)
    }

    fn double_quoted(&mut self) -> Result<String, ParseError> {
        let opened = self.error("this double quote is never closed");
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => return Err(opened),
                Some('"') => break,
                Some('\\') => match self.bump() {
                    None => return Err(opened),
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('t') => value.push('\t'),
                    Some(c @ ('"' | '\\' | '\'' | '$')) => value.push(c),
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                },
                Some('\r') if self.peek() == Some('\n') => {}
                Some(c) => value.push(c),
            }
        }
        self.after_quote()?;
        Ok(value)
    }
}

#[async_trait]
impl SecretSource for DotenvSource {
    fn describe(&self) -> String {
        format!("dotenv:{}", self.path.display())
    }

    async fn load(&self) -> Result<SecretSet> {
        let bytes = tokio::fs::read(&self.path).await.map_err(|e| {
            Error::new(
                ErrorKind::Source,
                format!("cannot read dotenv file {}: {e}", self.path.display()),
            )
        })?;
        parse_bytes(&bytes, &self.environment, &self.path.display().to_string())
    }

    async fn revision(&self) -> Result<Option<Revision>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        let set = DotenvSource::parse_str(text, "dev").unwrap_or_else(|e| panic!("{text}: {e}"));
        set.get("K")
            .map(|v| v.expose_secret().to_owned())
            .unwrap_or_else(|| panic!("{text}: no K"))
    }

    #[test]
    fn values_are_literal() {
        assert_eq!(one("K=pa$word"), "pa$word");
        assert_eq!(one("K=${HOME}"), "${HOME}");
        assert_eq!(one("K=\"$HOME and ${PATH}\""), "$HOME and ${PATH}");
        assert_eq!(one("K='$HOME'"), "$HOME");
        assert_eq!(one("K=\"a\\$b\""), "a$b");
        assert_eq!(one("K=\"C:\\dir\""), "C:\\dir");
        assert_eq!(one("K=a#b"), "a#b");
        assert_eq!(one("K=a #b"), "a");
        assert_eq!(one("K  =  spaced  "), "spaced");
        assert_eq!(one("K=\"x\"  # note"), "x");
        assert_eq!(one("K=\"one\r\ntwo\"\r\n"), "one\ntwo");
        assert_eq!(one("K=v\r\n"), "v");
        assert_eq!(one("export K=e"), "e");
        assert_eq!(one("export=1\nK=x"), "x");
    }

    #[test]
    fn errors_name_line_and_column_only() {
        for (text, at) in [
            ("A=1\nBAD LINE=secret", "line 2, column 5"),
            ("=secret", "line 1, column 1"),
            ("A=\"open secret", "line 1, column 3"),
            ("A='x'secret", "line 1, column 6"),
            ("9A=secret", "line 1, column 1"),
            ("export A", "line 1, column 9"),
        ] {
            let err = DotenvSource::parse_str(text, "dev").expect_err(text);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(at), "{text}: {shown}");
            assert!(!shown.contains("secret"), "{text}: {shown}");
        }
    }
}
