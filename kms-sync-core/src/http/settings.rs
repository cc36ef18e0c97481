//! The transport settings every destination builder accepts, in one place.

use super::builder::HttpClientBuilder;
use super::config::{RetryConfig, TimeoutConfig};
use super::HttpClient;
use crate::destination::RateBudget;
use crate::net::UrlGuard;

/// Base URL, pacing budget, concurrency, retries, timeouts and the `http://` switch — what a
/// destination's builder passes to its [`HttpClient`]. Unset fields take the destination's
/// defaults (its public base URL, its documented budget, its concurrency).
///
/// ```
/// use kms_sync_core::http::{ClientSettings, RetryConfig};
/// let settings = ClientSettings::new()
///     .with_base_url("https://svc-proxy.internal")
///     .with_concurrency(4)
///     .with_retry(RetryConfig::default().with_max_attempts(3));
/// assert_eq!(settings.concurrency_or(8), 4);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientSettings {
    base_url: Option<String>,
    budget: Option<RateBudget>,
    concurrency: Option<usize>,
    retry: Option<RetryConfig>,
    timeouts: Option<TimeoutConfig>,
    allow_insecure_http: bool,
    url_guard: Option<UrlGuard>,
}

impl ClientSettings {
    /// Every field at the destination's default.
    pub fn new() -> Self {
        ClientSettings::default()
    }
    /// Another base URL: a self-hosted instance, a proxy, a fake in tests.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }
    /// Overrides the pacing budget.
    pub fn with_rate_budget(mut self, budget: RateBudget) -> Self {
        self.budget = Some(budget);
        self
    }
    /// Requests in flight at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency.max(1));
        self
    }
    /// Retry settings.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }
    /// Timeouts.
    pub fn with_timeouts(mut self, timeouts: TimeoutConfig) -> Self {
        self.timeouts = Some(timeouts);
        self
    }
    /// Allows `http://` to a non-loopback host (credentials then travel in clear text).
    pub fn with_allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// Checks every URL and address the client reaches against a
    /// [`UrlPolicy`](crate::net::UrlPolicy) (see
    /// [`HttpClientBuilder::url_guard`]): for connections whose URLs a tenant names.
    ///
    /// ```
    /// use kms_sync_core::http::ClientSettings;
    /// use kms_sync_core::net::{UrlGuard, UrlPolicy};
    /// let settings = ClientSettings::new().with_url_guard(UrlGuard::new(UrlPolicy::public_only()));
    /// assert!(settings.url_guard().is_some());
    /// ```
    pub fn with_url_guard(mut self, guard: UrlGuard) -> Self {
        self.url_guard = Some(guard);
        self
    }
    /// The URL guard, if one is set.
    pub fn url_guard(&self) -> Option<&UrlGuard> {
        self.url_guard.as_ref()
    }
    /// The concurrency, or `default`.
    pub fn concurrency_or(&self, default: usize) -> usize {
        self.concurrency.unwrap_or(default)
    }
    /// The budget, or `default`.
    pub fn budget_or(&self, default: RateBudget) -> RateBudget {
        self.budget.unwrap_or(default)
    }

    /// A client builder for `service` with these settings over the destination's defaults;
    /// the destination adds its auth and error table.
    pub fn client_builder(
        &self,
        service: &str,
        default_base_url: &str,
        default_budget: RateBudget,
        default_concurrency: usize,
    ) -> HttpClientBuilder {
        let builder = HttpClient::builder(
            service,
            self.base_url
                .clone()
                .unwrap_or_else(|| default_base_url.to_owned()),
        )
        .rate_budget(self.budget_or(default_budget))
        .concurrency(self.concurrency_or(default_concurrency))
        .retry(self.retry.unwrap_or_default())
        .timeouts(self.timeouts.unwrap_or_default())
        .allow_insecure_http(self.allow_insecure_http);
        match &self.url_guard {
            Some(guard) => builder.url_guard(guard.clone()),
            None => builder,
        }
    }
}
