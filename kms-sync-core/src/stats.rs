//! Request accounting: counters by method, and the counter of the run in progress, so a
//! report states the requests its own run made even when several runs share a destination.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

tokio::task_local! {
    static RUN_REQUESTS: Arc<RequestCounter>;
}

/// Counts one request of `method` against the run in progress (the sync, plan, remove or
/// import whose task makes it); outside a run it does nothing.
/// [`HttpClient`](crate::http::HttpClient) calls it for every attempt it sends; a
/// destination that reaches its service another way calls it once per request. A
/// destination that spawns tasks of its own must run them inside [`RunRequests::scope`]
/// of [`RunRequests::current`] for their requests to count.
///
/// ```
/// use kms_sync_core::{count_request, RunRequests};
/// # futures::executor::block_on(async {
/// let run = RunRequests::new();
/// run.scope(async { count_request("PUT") }).await;
/// count_request("PUT"); // outside the run: not counted
/// assert_eq!(run.stats().put, 1);
/// # });
/// ```
pub fn count_request(method: &str) {
    let _ = RUN_REQUESTS.try_with(|counter| counter.record(method));
}

/// The request counter of one run.
#[derive(Debug, Clone, Default)]
pub struct RunRequests {
    counter: Arc<RequestCounter>,
}

impl RunRequests {
    /// A run's counter, at zero.
    pub fn new() -> Self {
        RunRequests::default()
    }

    /// The counter of the run this task belongs to, if any.
    pub fn current() -> Option<RunRequests> {
        RUN_REQUESTS
            .try_with(|counter| RunRequests {
                counter: counter.clone(),
            })
            .ok()
    }

    /// Runs `future` with every [`count_request`] it makes counted here.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        RUN_REQUESTS.scope(self.counter.clone(), future).await
    }

    /// The counts so far.
    pub fn stats(&self) -> RequestStats {
        self.counter.snapshot()
    }
}
