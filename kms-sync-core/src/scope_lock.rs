//! Process-wide locks for read-modify-write destinations whose service offers no version
//! check (a Checkly check group's variables are replaced whole by one PUT, with no ETag).
//! Two syncs in one process that write the same scope take turns, so neither writes a list
//! read before the other's write and undoes it. Writers in other processes are not covered:
//! against those, the service's own guarantees are all there is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Registry = Mutex<HashMap<String, Arc<AsyncMutex<()>>>>;

fn registry() -> &'static Registry {
    static LOCKS: OnceLock<Registry> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Waits for, then holds, the process-wide lock named `scope` until the guard is dropped.
/// Name the scope so that two destinations writing the same remote list get the same name,
/// e.g. the service's base URL plus the list's id.
///
/// ```
/// # futures::executor::block_on(async {
/// use kms_sync_core::lock_scope;
/// let guard = lock_scope("https://api.example.com/groups/7").await;
/// // read, merge and write the list here
/// drop(guard);
/// # });
/// ```
pub async fn lock_scope(scope: &str) -> OwnedMutexGuard<()> {
    let lock = {
        // A poisoned registry only means another thread panicked while inserting; the map
        // itself is still whole.
        let mut locks = match registry().lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks
            .entry(scope.to_owned())
            .or_insert_with(|| Arc::new(AsyncMutex::new(())))
            .clone()
    };
    lock.lock_owned().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_same_scope_takes_turns_and_others_do_not_wait() {
        let held = lock_scope("scope-a").await;
        let same = tokio::time::timeout(Duration::from_millis(50), lock_scope("scope-a")).await;
        assert!(same.is_err(), "a second holder of the same scope must wait");
        let other = tokio::time::timeout(Duration::from_millis(50), lock_scope("scope-b")).await;
        assert!(other.is_ok(), "another scope must not wait");
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(50), lock_scope("scope-a")).await;
        assert!(again.is_ok(), "released on drop");
    }
}
