//! Where secrets come from. A source fails closed: a secret it cannot read or a reference it
//! cannot resolve is an error, never a silently missing key (which the destination would
//! then delete).

mod dotenv;
mod env;
mod memory;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;
use crate::secret::{SecretSet, SecretValue};

pub use dotenv::DotenvSource;
pub use env::EnvSource;
pub use memory::StaticSource;

/// A cheap fingerprint of a source's contents: equal revisions mean nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Revision(pub String);

/// A source of secrets: a KMS environment and folder, a dotenv file, the process environment.
///
/// ```
/// use kms_sync_core::{SecretSource, StaticSource, SecretSet};
/// # futures::executor::block_on(async {
/// let source = StaticSource::new(SecretSet::new("dev").with("A", "1"));
/// assert_eq!(source.load().await?.len(), 1);
/// # Ok::<(), kms_sync_core::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// A short description for plans and logs, e.g. `hanzo:dev:/my-secrets`.
    fn describe(&self) -> String;

    /// Every secret, complete, or an error. Never a partial set.
    async fn load(&self) -> Result<SecretSet>;

    /// A cheap fingerprint of the contents, if the source can give one without loading
    /// everything; `Ok(None)` if it cannot (callers then compare loads).
    async fn revision(&self) -> Result<Option<Revision>>;
}

/// A source that can also be written to: the target of an import from the destination.
#[async_trait]
pub trait SecretSink: Send + Sync {
    /// Writes (creates or replaces) secrets.
    async fn write(&self, secrets: Vec<(String, SecretValue)>) -> Result<()>;
}
