//! A source reading a dotenv file.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Revision, SecretSource};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretSet;

/// Secrets from a dotenv file, parsed by the `dotenvy` crate: `KEY=value`, single and
/// double quotes, escapes in double quotes, values spanning lines inside quotes, `export`
/// prefixes and `#` comments.
///
/// The file is read on every [`load`](SecretSource::load); a missing file or a line that does
/// not parse is an error naming the file (and the line), so a sync stops before writing.
/// `dotenvy` substitutes `$VAR` / `${VAR}` in unquoted and double-quoted values from earlier
/// lines and the process environment; single-quote a value to keep a `$` literally.
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
    /// let set = DotenvSource::parse_str("export A=1\n# note\nB='two words'\n", "dev")?;
    /// assert_eq!(set.get("B").map(|v| v.expose_secret()), Some("two words"));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn parse_str(text: &str, environment: &str) -> Result<SecretSet> {
        parse(text.as_bytes(), environment, "dotenv text")
    }
}

fn parse(bytes: &[u8], environment: &str, origin: &str) -> Result<SecretSet> {
    let mut set = SecretSet::new(environment);
    for item in dotenvy::from_read_iter(bytes) {
        let (key, value) = item.map_err(|e| describe_error(e, bytes, origin))?;
        set.insert(key, value);
    }
    Ok(set)
}

fn describe_error(e: dotenvy::Error, bytes: &[u8], origin: &str) -> Error {
    match e {
        // The parser's message quotes the offending line, which may hold a value: use the
        // line only to find its number, and report where it is.
        dotenvy::Error::LineParse(line, index) => {
            let text = String::from_utf8_lossy(bytes);
            let at = text
                .lines()
                .position(|l| l == line)
                .map(|n| format!("line {}, column {}", n + 1, index + 1))
                .unwrap_or_else(|| format!("a line, column {}", index + 1));
            Error::new(ErrorKind::Source, format!("{origin}: cannot parse {at}"))
        }
        dotenvy::Error::Io(io) => Error::new(ErrorKind::Source, format!("{origin}: {io}")),
        dotenvy::Error::EnvVar(_) => Error::new(
            ErrorKind::Source,
            format!("{origin}: a substituted variable is not valid Unicode"),
        ),
        _ => Error::new(ErrorKind::Source, format!("{origin}: cannot parse")),
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
        parse(&bytes, &self.environment, &self.path.display().to_string())
    }

    async fn revision(&self) -> Result<Option<Revision>> {
        Ok(None)
    }
}
