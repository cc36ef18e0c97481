//! Limits per caller: the KMS's read and write limits (requests per minute, per token),
//! answered 429 with `Retry-After` in the KMS's envelope. `governor`'s keyed GCRA limiter
//! counts them.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kms_sync_core::{Error, Result};

use crate::auth::Caller;
use crate::error::ApiError;

/// The KMS's default read limit: `GET` requests per minute and caller.
///
/// ```
/// assert_eq!(kms_sync_api::DEFAULT_READ_LIMIT, 60);
/// ```
pub const DEFAULT_READ_LIMIT: u32 = 60;
/// The KMS's default write limit: `POST`, `PATCH`, `DELETE` requests per minute and caller.
///
/// ```
/// assert_eq!(kms_sync_api::DEFAULT_WRITE_LIMIT, 200);
/// ```
pub const DEFAULT_WRITE_LIMIT: u32 = 200;

/// At most `requests` in any `window` per caller (a burst of `requests`, refilled evenly
/// over the window).
///
/// ```
/// use std::time::Duration;
/// let limit = kms_sync_api::RateLimit::new(100, Duration::from_secs(60))?;
/// assert_eq!(limit.requests(), 100);
/// assert!(kms_sync_api::RateLimit::new(0, Duration::from_secs(60)).is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    requests: NonZeroU32,
    window: Duration,
}

impl RateLimit {
    /// `requests` per `window`.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for 0 requests or a window shorter
    /// than a millisecond per request.
    pub fn new(requests: u32, window: Duration) -> Result<RateLimit> {
        let requests = NonZeroU32::new(requests)
            .ok_or_else(|| Error::config("API rate limit: allow at least 1 request"))?;
        if window / requests.get() < Duration::from_millis(1) {
            return Err(Error::config(
                "API rate limit: the window must give each request at least a millisecond",
            ));
        }
        Ok(RateLimit { requests, window })
    }

    /// `requests` per minute (as the KMS configures its limits).
    ///
    /// ```
    /// let limit = kms_sync_api::RateLimit::per_minute(60)?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn per_minute(requests: u32) -> Result<RateLimit> {
        RateLimit::new(requests, Duration::from_secs(60))
    }

    /// `requests` (at least 1) per minute, for the defaults.
    pub(crate) fn minute_of(requests: u32) -> RateLimit {
        RateLimit {
            requests: NonZeroU32::new(requests).unwrap_or(NonZeroU32::MIN),
            window: Duration::from_secs(60),
        }
    }

    /// The requests allowed per window.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    fn quota(&self) -> Quota {
        let every = self.window / self.requests.get();
        Quota::with_period(every)
            .unwrap_or_else(|| Quota::per_second(self.requests))
            .allow_burst(self.requests)
    }
}

/// How many checks pass between two sweeps of callers whose limits are full again.
const SWEEP_EVERY: u64 = 4096;

/// The read and the write limiter, keyed by the caller's token digest.
pub(crate) struct Limits {
    read: DefaultKeyedRateLimiter<[u8; 32]>,
    write: DefaultKeyedRateLimiter<[u8; 32]>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl Limits {
    pub fn new(read: RateLimit, write: RateLimit) -> Arc<Limits> {
        Arc::new(Limits {
            read: RateLimiter::keyed(read.quota()),
            write: RateLimiter::keyed(write.quota()),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        })
    }

    /// `None` when the caller may go on, else how long it must wait.
    fn check(&self, method: &Method, key: &[u8; 32]) -> Option<Duration> {
        // Callers back at a full allowance are forgotten now and then, so the state kept
        // follows the callers of the last window, not every token ever seen.
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.read.retain_recent();
            self.write.retain_recent();
        }
        let limiter = match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => &self.read,
            _ => &self.write,
        };
        limiter
            .check_key(key)
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Answers 429 (with `Retry-After`, whole seconds rounded up) to a caller over its limit.
pub(crate) async fn limit(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return next.run(request).await;
    };
    let Some(wait) = limits.check(request.method(), &caller.key) else {
        return next.run(request).await;
    };
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = ApiError::rate_limited(seconds).into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
