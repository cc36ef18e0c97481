//! Request accounting shared by destinations, the HTTP client, reports and benches.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Requests made, by method.
///
/// ```
/// use kms_sync_core::{RequestCounter, RequestStats};
/// let counter = RequestCounter::default();
/// counter.record("GET");
/// counter.record("put");
/// let stats: RequestStats = counter.snapshot();
/// assert_eq!((stats.get, stats.put, stats.total()), (1, 1, 2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// GET requests.
    pub get: u64,
    /// POST requests.
    pub post: u64,
    /// PUT requests.
    pub put: u64,
    /// PATCH requests.
    pub patch: u64,
    /// DELETE requests.
    pub delete: u64,
    /// Any other method.
    pub other: u64,
}

impl RequestStats {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.get + self.post + self.put + self.patch + self.delete + self.other
    }

    /// Requests that change something (everything but GET).
    pub fn writes(&self) -> u64 {
        self.total() - self.get
    }

    /// `self - earlier`, saturating: what happened between two snapshots.
    pub fn since(&self, earlier: &RequestStats) -> RequestStats {
        RequestStats {
            get: self.get.saturating_sub(earlier.get),
            post: self.post.saturating_sub(earlier.post),
            put: self.put.saturating_sub(earlier.put),
            patch: self.patch.saturating_sub(earlier.patch),
            delete: self.delete.saturating_sub(earlier.delete),
            other: self.other.saturating_sub(earlier.other),
        }
    }
}

/// A thread-safe request counter.
#[derive(Debug, Default)]
pub struct RequestCounter {
    get: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
}

impl RequestCounter {
    /// Counts one request of `method` (case-insensitive).
    pub fn record(&self, method: &str) {
        let slot = match method.to_ascii_uppercase().as_str() {
            "GET" => &self.get,
            "POST" => &self.post,
            "PUT" => &self.put,
            "PATCH" => &self.patch,
            "DELETE" => &self.delete,
            _ => &self.other,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> RequestStats {
        RequestStats {
            get: self.get.load(Ordering::Relaxed),
            post: self.post.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            patch: self.patch.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}
