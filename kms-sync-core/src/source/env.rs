//! A source reading the process environment by prefix.

use async_trait::async_trait;

use super::{Revision, SecretSource};
use crate::error::{Error, Result};
use crate::secret::SecretSet;

/// Secrets from the process environment: every variable whose name starts with a prefix,
/// with the prefix stripped (or kept, with [`keep_prefix`](EnvSource::keep_prefix)).
///
/// A variable whose value is not valid Unicode is an error naming the variable (failing
/// closed), not a silently dropped key.
///
/// ```
/// use kms_sync_core::{EnvSource, SecretSource};
/// let source = EnvSource::new("APP_SECRET_", "prod");
/// assert_eq!(source.describe(), "env:APP_SECRET_*");
/// ```
#[derive(Debug, Clone)]
pub struct EnvSource {
    prefix: String,
    environment: String,
    keep_prefix: bool,
}

impl EnvSource {
    /// Variables starting with `prefix`; `environment` is what `{{environment}}` renders to.
    pub fn new(prefix: impl Into<String>, environment: impl Into<String>) -> Self {
        EnvSource {
            prefix: prefix.into(),
            environment: environment.into(),
            keep_prefix: false,
        }
    }

    /// Keeps the prefix in the keys (default: stripped).
    pub fn keep_prefix(mut self, keep: bool) -> Self {
        self.keep_prefix = keep;
        self
    }

    fn read(&self) -> Result<SecretSet> {
        let mut set = SecretSet::new(self.environment.clone());
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(&self.prefix) {
                continue;
            }
            let key = if self.keep_prefix {
                name
            } else {
                &name[self.prefix.len()..]
            };
            if key.is_empty() {
                continue;
            }
            let value = value.into_string().map_err(|_| {
                Error::new(
                    crate::ErrorKind::Source,
                    "environment variable value is not valid UTF-8",
                )
                .with_key(name)
            })?;
            set.insert(key, value);
        }
        Ok(set)
    }
}

#[async_trait]
impl SecretSource for EnvSource {
    fn describe(&self) -> String {
        format!("env:{}*", self.prefix)
    }

    async fn load(&self) -> Result<SecretSet> {
        self.read()
    }

    async fn revision(&self) -> Result<Option<Revision>> {
        Ok(None)
    }
}
