//! Progress of an apply, readable from another task (a progress bar, a status endpoint).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the changes of the current apply: the syncer sets the total when an apply starts,
/// and the engine advances it as each change finishes (a batch write finishes all of its
/// changes at once). Share it with [`SyncerBuilder::progress`](crate::SyncerBuilder::progress).
///
/// ```
/// use kms_sync_core::Progress;
/// let progress = Progress::default();
/// progress.advance(1);
/// assert_eq!(progress.done(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    /// A new counter at 0 of 0.
    pub fn new() -> Self {
        Progress::default()
    }

    /// Changes finished in the current apply.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Changes in the current apply.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts `n` more finished changes.
    pub fn advance(&self, n: usize) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn start(&self, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn finish(&self) {
        self.done.store(self.total(), Ordering::Relaxed);
    }
}
