//! A source held in memory.

use std::sync::RwLock;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{Revision, SecretSink, SecretSource};
use crate::error::{Error, Result};
use crate::secret::{SecretSet, SecretValue};

/// Secrets held in memory: for tests, for embedding services that fetch secrets themselves,
/// and as the writable target of an import. Changes through [`set`](StaticSource::set),
/// [`remove`](StaticSource::remove), [`replace`](StaticSource::replace) or an import change
/// the [`revision`](SecretSource::revision).
///
/// ```
/// use kms_sync_core::{SecretSet, SecretSource, StaticSource};
/// # futures::executor::block_on(async {
/// let source = StaticSource::new(SecretSet::new("prod").with("A", "1"));
/// let before = source.revision().await?;
/// source.set("A", "2")?;
/// assert_ne!(before, source.revision().await?);
/// # Ok::<(), kms_sync_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct StaticSource {
    name: Option<String>,
    state: RwLock<(SecretSet, u64)>,
}

impl StaticSource {
    /// A source holding `secrets`.
    pub fn new(secrets: SecretSet) -> Self {
        StaticSource {
            name: None,
            state: RwLock::new((secrets, 0)),
        }
    }

    /// Names the source in plans and logs (default `static:<environment>`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut (SecretSet, u64)) -> R) -> Result<R> {
        let mut state = self
            .state
            .write()
            .map_err(|_| Error::unexpected("static source lock poisoned"))?;
        let r = f(&mut state);
        state.1 += 1;
        Ok(r)
    }

    /// Sets one secret.
    pub fn set(&self, key: impl Into<String>, value: impl Into<SecretValue>) -> Result<()> {
        let (key, value) = (key.into(), value.into());
        self.with_state(|s| {
            s.0.insert(key, value);
        })
    }

    /// Removes one secret.
    pub fn remove(&self, key: &str) -> Result<()> {
        self.with_state(|s| {
            s.0.remove(key);
        })
    }

    /// Replaces every secret.
    pub fn replace(&self, secrets: SecretSet) -> Result<()> {
        self.with_state(|s| s.0 = secrets)
    }
}

#[async_trait]
impl SecretSource for StaticSource {
    fn describe(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let env = self
            .state
            .read()
            .map(|s| s.0.environment().to_owned())
            .unwrap_or_default();
        format!("static:{env}")
    }

    async fn load(&self) -> Result<SecretSet> {
        let state = self
            .state
            .read()
            .map_err(|_| Error::unexpected("static source lock poisoned"))?;
        Ok(state.0.clone())
    }

    async fn revision(&self) -> Result<Option<Revision>> {
        let state = self
            .state
            .read()
            .map_err(|_| Error::unexpected("static source lock poisoned"))?;
        // A generation counter is enough in-process; hash it so the text carries no
        // meaning a caller might start to rely on.
        let digest = Sha256::digest(state.1.to_be_bytes());
        Ok(Some(Revision(hex::encode(&digest[..8]))))
    }
}

#[async_trait]
impl SecretSink for StaticSource {
    async fn write(&self, secrets: Vec<(String, SecretValue)>) -> Result<()> {
        self.with_state(|s| s.0.extend(secrets))
    }
}
