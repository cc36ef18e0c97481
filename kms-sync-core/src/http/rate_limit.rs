//! Rate-limit header dialects: how a service announces its limits in response headers, read
//! by a hook the service's crate supplies (see [`HttpClientBuilder::rate_limit_headers`]).
//!
//! [`HttpClientBuilder::rate_limit_headers`]: super::HttpClientBuilder::rate_limit_headers

use std::time::Duration;

use super::config::Pacing;

/// The headers of one response, as a [`RateLimitHeaders`] dialect (and
/// [`Response::header`](super::Response::header)) reads them. Names are case-insensitive;
/// a header whose value is not visible ASCII is left out.
///
/// ```
/// use kms_sync_core::http::ResponseHeaders;
/// let headers = ResponseHeaders::new().with("X-Limit", "100");
/// assert_eq!(headers.get("x-limit"), Some("100"));
/// assert_eq!(headers.get("x-other"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHeaders {
    pairs: Vec<(String, String)>,
}

impl ResponseHeaders {
    /// No headers (add some with [`with`](Self::with), e.g. to test a dialect).
    pub fn new() -> Self {
        ResponseHeaders::default()
    }

    /// Adds a header.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((name.into(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        ResponseHeaders { pairs }
    }
}

/// What a service's rate-limit headers advise the client to do. The default advises
/// nothing.
///
/// ```
/// use kms_sync_core::http::{Advisory, Pacing};
/// use std::time::Duration;
/// let advice = Advisory::new(Some(Pacing::new(10.0, 2.0)), Some(Duration::from_secs(3)));
/// assert_eq!(advice.pause, Some(Duration::from_secs(3)));
/// assert_eq!(Advisory::default(), Advisory::new(None, None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Advisory {
    /// A pacing to adopt in place of the client's current one: the limit the service
    /// announces, already reduced to the share the client aims for (see
    /// [`Pacing::from_budget`] and [`BUDGET_SHARE`](super::BUDGET_SHARE)).
    pub pacing: Option<Pacing>,
    /// How long every request of the client waits before the next one is sent (the
    /// service says its budget is spent). Capped at the client's
    /// [`max_retry_after`](super::RetryConfig::max_retry_after).
    pub pause: Option<Duration>,
}

impl Advisory {
    /// Adopt `pacing` (if any) and pause for `pause` (if any).
    pub fn new(pacing: Option<Pacing>, pause: Option<Duration>) -> Self {
        Advisory { pacing, pause }
    }
}

/// A service's rate-limit header dialect: reads one response's headers (every response,
/// successful or not) and says what the client's pacer should do. Each service crate
/// supplies its own through
/// [`HttpClientBuilder::rate_limit_headers`](super::HttpClientBuilder::rate_limit_headers);
/// a client without one ignores such headers (a 429's `Retry-After` is honoured either way).
///
/// ```
/// use kms_sync_core::http::{Advisory, Pacing, ResponseHeaders, BUDGET_SHARE};
/// // A service that announces `X-Svc-Limit: <requests per minute>`.
/// fn svc_dialect(headers: &ResponseHeaders) -> Advisory {
///     let per_minute = headers.get("x-svc-limit").and_then(|v| v.trim().parse::<f64>().ok());
///     let pacing = per_minute
///         .filter(|n| *n >= 1.0)
///         .map(|n| Pacing::new(1.0, n / 60.0 * BUDGET_SHARE));
///     Advisory::new(pacing, None)
/// }
/// let advice = svc_dialect(&ResponseHeaders::new().with("X-Svc-Limit", "600"));
/// assert!((advice.pacing.map(|p| p.rate_per_second()).unwrap_or(0.0) - 9.0).abs() < 1e-9);
/// ```
pub type RateLimitHeaders = fn(&ResponseHeaders) -> Advisory;
