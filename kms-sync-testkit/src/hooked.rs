//! A destination wrapper that runs a hook before each write call, for races and slow writes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kms_sync_core::{
    async_trait, Applied, BatchWriter, Change, Destination, DestinationInfo, KeyRules,
    PerKeyWriter, Result, Snapshot, Version, Writer,
};

type Hook = Box<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Delegates everything to `inner`, running the hook before each write call (each per-key
/// `write`, each batch `write_all`) with the call's number (0 for the first). See
/// [`before_apply`].
pub struct BeforeApply {
    inner: Arc<dyn Destination>,
    hook: Hook,
    calls: AtomicUsize,
}

impl std::fmt::Debug for BeforeApply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeforeApply")
            .field("inner", &self.inner.info().to_string())
            .finish()
    }
}

/// Wraps a destination so that `hook(n)` runs before its `n`-th write call: someone else
/// writing between our list and our write (a race), or a write that takes time (on a paused
/// clock).
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::{Destination, MemoryDestination};
/// use kms_sync_testkit::before_apply;
/// let memory = MemoryDestination::builder().build();
/// let other_writer = memory.clone();
/// let racing = before_apply(Arc::new(memory), move |n| {
///     if n == 0 {
///         let _ = other_writer.insert("SOMEONE_ELSE", "x");
///     }
///     async {}
/// });
/// assert_eq!(racing.info().kind, "memory");
/// ```
pub fn before_apply<H, F>(inner: Arc<dyn Destination>, hook: H) -> BeforeApply
where
    H: Fn(usize) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    BeforeApply {
        inner,
        hook: Box::new(move |n| Box::pin(hook(n))),
        calls: AtomicUsize::new(0),
    }
}

impl BeforeApply {
    async fn hook(&self) {
        (self.hook)(self.calls.fetch_add(1, Ordering::SeqCst)).await;
    }
}

#[async_trait]
impl Destination for BeforeApply {
    fn info(&self) -> &DestinationInfo {
        self.inner.info()
    }
    fn rules(&self) -> &dyn KeyRules {
        self.inner.rules()
    }
    async fn list(&self) -> Result<Snapshot> {
        self.inner.list().await
    }
    fn writer(&self) -> Writer<'_> {
        match self.inner.writer() {
            Writer::PerKey(_) => Writer::PerKey(self),
            Writer::Batch(_) => Writer::Batch(self),
        }
    }
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        self.inner.exclusive_scope().await
    }
}

#[async_trait]
impl PerKeyWriter for BeforeApply {
    async fn write(&self, change: &Change) -> Result<Applied> {
        self.hook().await;
        match self.inner.writer() {
            Writer::PerKey(writer) => writer.write(change).await,
            Writer::Batch(writer) => {
                let mut applied = writer.write_all(std::slice::from_ref(change), None).await?;
                applied
                    .pop()
                    .ok_or_else(|| kms_sync_core::Error::unexpected("no result for the change"))
            }
        }
    }
}

#[async_trait]
impl BatchWriter for BeforeApply {
    async fn write_all(
        &self,
        changes: &[Change],
        expect: Option<&Version>,
    ) -> Result<Vec<Applied>> {
        self.hook().await;
        match self.inner.writer() {
            Writer::Batch(writer) => writer.write_all(changes, expect).await,
            Writer::PerKey(_) => Err(kms_sync_core::Error::unexpected(
                "the wrapped destination writes per key",
            )),
        }
    }
}
