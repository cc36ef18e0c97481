//! Scope locks: a named lock held from the list to the last write for destinations that
//! rewrite a whole remote list with no version check (a Checkly check group's variables).
//! [`ScopeLocks`] is the provider; [`LocalScopeLocks`] serves one process, and the fleet
//! crate serves many on PostgreSQL advisory locks.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex as AsyncMutex;

use crate::error::{Error, ErrorKind, Result};

/// A held scope lock; dropping it releases the lock.
pub struct ScopeGuard {
    _held: Box<dyn Send + Sync>,
}

impl ScopeGuard {
    /// A guard that releases when `held` is dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        ScopeGuard {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeGuard")
    }
}

/// Hands out named locks. Two holders of one name never overlap; different names never
/// wait for each other.
///
/// ```
/// use std::time::Duration;
/// use kms_sync_core::{LocalScopeLocks, ScopeLocks};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> kms_sync_core::Result<()> {
/// let locks = LocalScopeLocks::new();
/// let guard = locks.lock("https://api.example.com/groups/7", Duration::from_secs(5)).await?;
/// // read, merge and write the list here
/// drop(guard);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait ScopeLocks: Send + Sync + fmt::Debug {
    /// Waits up to `wait` for the lock named `scope`, then holds it until the guard drops.
    ///
    /// # Errors
    ///
    /// [`Timeout`](ErrorKind::Timeout) naming the scope (and the holder, where known) when
    /// the wait runs out; a provider's own failure otherwise.
    async fn lock(&self, scope: &str, wait: Duration) -> Result<ScopeGuard>;
}

/// Scope locks within one process. [`LocalScopeLocks::process`] is the default every
/// [`Syncer`](crate::Syncer) uses, so two syncers in one process share it without
/// configuration; processes on several machines need a shared provider.
#[derive(Debug, Default, Clone)]
pub struct LocalScopeLocks {
    locks: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

impl LocalScopeLocks {
    /// A provider of its own (tests; a process that wants separate lock spaces).
    pub fn new() -> Self {
        LocalScopeLocks::default()
    }

    /// The process-wide provider.
    pub fn process() -> Arc<LocalScopeLocks> {
        static PROCESS: OnceLock<Arc<LocalScopeLocks>> = OnceLock::new();
        PROCESS
            .get_or_init(|| Arc::new(LocalScopeLocks::new()))
            .clone()
    }

    fn mutex(&self, scope: &str) -> Arc<AsyncMutex<()>> {
        // A poisoned map only means another thread panicked while inserting; it is whole.
        let mut locks = match self.locks.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks
            .entry(scope.to_owned())
            .or_insert_with(|| Arc::new(AsyncMutex::new(())))
            .clone()
    }
}

#[async_trait]
impl ScopeLocks for LocalScopeLocks {
    async fn lock(&self, scope: &str, wait: Duration) -> Result<ScopeGuard> {
        let mutex = self.mutex(scope);
        match tokio::time::timeout(wait, mutex.lock_owned()).await {
            Ok(guard) => Ok(ScopeGuard::new(guard)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the scope lock `{scope}` is held by another sync in this process; waited {} s",
                    wait.as_secs()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_scope_takes_turns_and_others_do_not_wait() -> Result<()> {
        let locks = LocalScopeLocks::new();
        let short = Duration::from_millis(50);
        let held = locks.lock("scope-a", short).await?;
        let same = locks.lock("scope-a", short).await;
        assert!(
            matches!(&same, Err(e) if e.kind() == ErrorKind::Timeout && e.to_string().contains("scope-a")),
            "a second holder of the same scope must wait, then time out naming it: {same:?}"
        );
        assert!(
            locks.lock("scope-b", short).await.is_ok(),
            "another scope must not wait"
        );
        drop(held);
        assert!(
            locks.lock("scope-a", short).await.is_ok(),
            "released on drop"
        );
        Ok(())
    }

    #[tokio::test]
    async fn separate_providers_do_not_share_and_the_process_one_is_shared() -> Result<()> {
        let short = Duration::from_millis(50);
        let _held = LocalScopeLocks::new().lock("s", short).await?;
        assert!(LocalScopeLocks::new().lock("s", short).await.is_ok());
        let _p = LocalScopeLocks::process().lock("proc-scope", short).await?;
        assert!(LocalScopeLocks::process()
            .lock("proc-scope", short)
            .await
            .is_err());
        Ok(())
    }
}
