//! Retry, timeout and pacing settings.

use std::time::Duration;

use crate::destination::RateBudget;

/// How requests are retried.
///
/// Retried: 408, 429, 5xx, connection failures, and timeouts of idempotent requests.
/// Never retried: every other status (400, 401, 403, 404, 409, 422 among them).
///
/// ```
/// use kms_sync_core::http::RetryConfig;
/// use std::time::Duration;
/// let retry = RetryConfig::default().with_max_attempts(3).with_max_retry_after(Duration::from_secs(60));
/// assert_eq!(retry.max_attempts(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryConfig {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
}

impl Default for RetryConfig {
    /// 6 attempts, backoff from 200 ms doubling up to 20 s (full jitter), `Retry-After`
    /// honoured up to 120 s.
    fn default() -> Self {
        RetryConfig {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryConfig {
    /// No retries: one attempt per request.
    pub fn none() -> Self {
        RetryConfig::default().with_max_attempts(1)
    }
    /// Attempts per request, including the first (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// The first backoff ceiling; each retry doubles it.
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }
    /// The largest backoff ceiling.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }
    /// The longest `Retry-After` honoured; a longer one ends the retries with
    /// [`RateLimited`](crate::ErrorKind::RateLimited) carrying the service's retry time.
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }
    /// Attempts per request.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    /// The first backoff ceiling.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }
    /// The largest backoff ceiling.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }
    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }
}

/// Timeouts: connecting, one attempt, and the whole operation (all attempts and waits).
///
/// ```
/// use kms_sync_core::http::TimeoutConfig;
/// use std::time::Duration;
/// let t = TimeoutConfig::default().with_deadline(Duration::from_secs(30));
/// assert_eq!(t.deadline(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutConfig {
    connect: Duration,
    attempt: Duration,
    deadline: Duration,
}

impl Default for TimeoutConfig {
    /// Connect 10 s, attempt 30 s, deadline 5 min.
    fn default() -> Self {
        TimeoutConfig {
            connect: Duration::from_secs(10),
            attempt: Duration::from_secs(30),
            deadline: Duration::from_secs(300),
        }
    }
}

impl TimeoutConfig {
    /// Time to establish a connection.
    pub fn with_connect(mut self, timeout: Duration) -> Self {
        self.connect = timeout;
        self
    }
    /// Time for one attempt, from sending to the whole body read.
    pub fn with_attempt(mut self, timeout: Duration) -> Self {
        self.attempt = timeout;
        self
    }
    /// Time for the whole operation, retries and waits included.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
    /// Connect timeout.
    pub fn connect(&self) -> Duration {
        self.connect
    }
    /// Per-attempt timeout.
    pub fn attempt(&self) -> Duration {
        self.attempt
    }
    /// Operation deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

/// Client-side pacing: a token bucket (burst, refill rate) shared by every request of one
/// client, so a large sync stays under the service's budget instead of collecting 429s.
///
/// ```
/// use kms_sync_core::{RateBudget, http::Pacing};
/// use std::time::Duration;
/// // A service that allows 1,000 requests per rolling hour.
/// let pacing = Pacing::from_budget(RateBudget::new(1_000, Duration::from_secs(3_600)));
/// // Any window of an hour sees at most 90% of the budget.
/// assert!(pacing.burst() + pacing.rate_per_second() * 3_600.0 <= 900.0 + 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Pacing {
    burst: f64,
    rate_per_second: f64,
}

/// The share of a documented budget the pacer aims for, leaving room for clock skew and for
/// other clients of the same account.
pub const BUDGET_SHARE: f64 = 0.9;

impl Pacing {
    /// `burst` requests at once, then `rate_per_second` (both clamped to positive values).
    pub fn new(burst: f64, rate_per_second: f64) -> Self {
        Pacing {
            burst: burst.max(1.0),
            rate_per_second: rate_per_second.max(1e-6),
        }
    }

    /// Pacing for a documented budget of `N` requests per window `W`: a burst of `N/10` and a
    /// refill such that burst + refill over any window stays at [`BUDGET_SHARE`] of `N`. (A
    /// bucket as deep as the budget would allow twice the budget in a rolling window.)
    pub fn from_budget(budget: RateBudget) -> Self {
        let n = f64::from(budget.requests());
        let burst = (n / 10.0).floor().max(1.0);
        let rate = ((n * BUDGET_SHARE - burst) / budget.per().as_secs_f64()).max(1e-6);
        Pacing::new(burst, rate)
    }

    /// Requests allowed at once.
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Sustained requests per second.
    pub fn rate_per_second(&self) -> f64 {
        self.rate_per_second
    }
}
