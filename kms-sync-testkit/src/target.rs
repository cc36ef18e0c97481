//! What the conformance suite needs from a destination under test.

use std::collections::BTreeMap;
use std::sync::Arc;

use kms_sync_core::{async_trait, Destination, ErrorKind, MemoryDestination, RequestStats, Result};

/// A destination under test plus a back door into the service behind it (the fake's state,
/// or the memory map), so cases can seed foreign entries, read true values (hidden ones
/// too) and inject failures without going through the destination.
#[async_trait]
pub trait ConformanceTarget: Send + Sync {
    /// The destination under test. Every call returns the same instance (shared counters).
    fn destination(&self) -> Arc<dyn Destination>;

    /// Puts an entry at the service directly, as another writer would.
    async fn seed(&self, key: &str, value: &str) -> Result<()>;

    /// Every entry at the service in the destination's scope, with its true value.
    async fn contents(&self) -> Result<BTreeMap<String, String>>;

    /// Makes every later write of `key` (or a batch write containing it) fail with a
    /// non-retryable error.
    async fn fail_writes_to(&self, key: &str) -> Result<()>;

    /// How many entries one list page holds (the pagination case uses three pages and more).
    fn page_size(&self) -> usize;

    /// The most entries the destination's scope holds (e.g. a Checkly group: 200);
    /// cases stay below it.
    fn max_entries(&self) -> usize;

    /// Every request the service has received so far, from anyone, by method (the fake's
    /// request log). The suite checks that a report's request counts equal what the service
    /// saw during its run.
    fn requests_received(&self) -> RequestStats;

    /// The credentials the destination authenticates with, in every form they travel in
    /// (a token, and e.g. the Base64 of a Basic `user:token`). The canary case checks that
    /// none appears in any log line or output. Empty for a destination without credentials.
    fn credentials(&self) -> Vec<String>;
}

/// A [`ConformanceTarget`] over a [`MemoryDestination`].
///
/// ```
/// use kms_sync_core::MemoryDestination;
/// use kms_sync_testkit::MemoryTarget;
/// let target = MemoryTarget::new(MemoryDestination::builder().page_size(10).build(), 10);
/// # let _ = target;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryTarget {
    destination: MemoryDestination,
    page_size: usize,
}

impl MemoryTarget {
    /// Wraps a memory destination built with `page_size`.
    pub fn new(destination: MemoryDestination, page_size: usize) -> Self {
        MemoryTarget {
            destination,
            page_size,
        }
    }
}

#[async_trait]
impl ConformanceTarget for MemoryTarget {
    fn destination(&self) -> Arc<dyn Destination> {
        Arc::new(self.destination.clone())
    }

    async fn seed(&self, key: &str, value: &str) -> Result<()> {
        self.destination.insert(key, value)
    }

    async fn contents(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .destination
            .contents()?
            .into_iter()
            .map(|(k, v)| (k, v.expose_secret().to_owned()))
            .collect())
    }

    async fn fail_writes_to(&self, key: &str) -> Result<()> {
        self.destination
            .fail_writes_to(key, ErrorKind::PermissionDenied)
    }

    fn page_size(&self) -> usize {
        self.page_size
    }

    fn max_entries(&self) -> usize {
        usize::MAX
    }

    fn requests_received(&self) -> RequestStats {
        self.destination.requests()
    }

    fn credentials(&self) -> Vec<String> {
        Vec::new()
    }
}
