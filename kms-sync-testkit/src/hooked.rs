//! A destination wrapper that runs a hook before each `apply`, for races and slow writes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kms_sync_core::{
    async_trait, ApplyContext, Change, Destination, DestinationInfo, Outcome, RequestStats, Result,
    SecretValue, Snapshot, Verdict,
};

type Hook = Box<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Delegates everything to `inner`, running the hook before each `apply` with the call's
/// number (0 for the first). See [`before_apply`].
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

/// Wraps a destination so that `hook(n)` runs before its `n`-th apply: someone else writing
/// between our list and our write (a race), or a write that takes time (on a paused clock).
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

#[async_trait]
impl Destination for BeforeApply {
    fn info(&self) -> DestinationInfo {
        self.inner.info()
    }
    fn validate_key(&self, key: &str) -> Verdict {
        self.inner.validate_key(key)
    }
    fn validate_value(&self, value: &SecretValue) -> Verdict {
        self.inner.validate_value(value)
    }
    async fn list(&self) -> Result<Snapshot> {
        self.inner.list().await
    }
    async fn apply(&self, changes: &[Change], context: &ApplyContext) -> Vec<Outcome> {
        (self.hook)(self.calls.fetch_add(1, Ordering::SeqCst)).await;
        self.inner.apply(changes, context).await
    }
    fn request_stats(&self) -> RequestStats {
        self.inner.request_stats()
    }
}
