//! The shared HTTP client: retries that respect the service, pacing, timeouts, safe errors.
//! The builder is in `builder.rs`, one attempt and its judgement in `attempt.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tracing::{debug, Instrument};
use url::Url;

use super::attempt::{give_up, Failure, Judged};
use super::builder::HttpClientBuilder;
use super::config::{Pacing, RetryConfig, TimeoutConfig};
use super::pacer::{PaceError, Pacer};
use super::rate_limit::RateLimitHeaders;
use super::request::{Request, Response, Target};
use super::retry::{backoff_ceiling, full_jitter};
use super::status::ErrorTable;
use crate::error::{Error, ErrorKind, Result};
use crate::scrub::Scrubber;
use crate::stats::{RequestCounter, RequestStats};

/// The default cap on a response body: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What clones of a client share.
pub(super) struct Inner {
    pub(super) service: String,
    pub(super) base: Url,
    pub(super) client: reqwest::Client,
    pub(super) retry: RetryConfig,
    pub(super) timeouts: TimeoutConfig,
    pub(super) pacer: Pacer,
    pub(super) max_body_bytes: usize,
    pub(super) error_table: ErrorTable,
    pub(super) rate_limit_headers: Option<RateLimitHeaders>,
    pub(super) url_guard: Option<crate::net::UrlGuard>,
    pub(super) counter: RequestCounter,
    /// Whether reads may follow a same-origin redirect.
    pub(super) follow_read_redirects: bool,
    /// The client's own credentials, to scrub from every message built from an answer.
    pub(super) credentials: Scrubber,
}

/// The HTTP client every destination and the KMS source use. Cheap to clone: clones share
/// the connection pool, the pacing and the request counter.
///
/// ```no_run
/// use kms_sync_core::http::{Auth, HttpClient, Request};
/// use kms_sync_core::RateBudget;
/// use std::time::Duration;
/// # async fn run() -> kms_sync_core::Result<()> {
/// let client = HttpClient::builder("svc", "https://api.example.com")
///     .auth(Auth::basic("me@example.com", "token"))
///     .rate_budget(RateBudget::new(1_000, Duration::from_secs(3_600)))
///     .build()?;
/// let me: serde_json::Value = client.send(Request::get("/v1/user")).await?.json()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("service", &self.inner.service)
            .field("base_url", &self.inner.base.as_str())
            .field("retry", &self.inner.retry)
            .field("timeouts", &self.inner.timeouts)
            .field("pacing", &self.inner.pacer.pacing())
            .finish()
    }
}

impl HttpClient {
    /// A builder for `service` (its name in errors and logs) at `base_url`. Defaults: no
    /// auth, [`RetryConfig::default`], [`TimeoutConfig::default`], no pacing, concurrency 8,
    /// 16 MiB body cap, no rate-limit header dialect.
    pub fn builder(service: impl Into<String>, base_url: impl Into<String>) -> HttpClientBuilder {
        HttpClientBuilder::new(service.into(), base_url.into())
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Requests sent so far (every attempt counts), by method.
    pub fn request_stats(&self) -> RequestStats {
        self.inner.counter.snapshot()
    }

    /// The current pacing, if any (it may have been adopted from the service's headers).
    pub fn pacing(&self) -> Option<Pacing> {
        self.inner.pacer.pacing()
    }

    pub(crate) fn url_for(&self, request: &Request) -> Result<Url> {
        let mut url = match &request.target {
            Target::Path(path) => {
                if path.split(['/', '\\']).any(is_dot_segment) {
                    return Err(Error::new(ErrorKind::InvalidKey, format!(
                        "refused a request to {} whose path has a `.` or `..` segment: a name from the service or the source may not reach another path",
                        self.inner.service
                    ))
                    .with_destination(self.inner.service.clone()));
                }
                let mut url = self.inner.base.clone();
                let base_path = url.path().trim_end_matches('/').to_owned();
                let sep = if path.starts_with('/') { "" } else { "/" };
                url.set_path(&format!("{base_path}{sep}{path}"));
                url
            }
            Target::Url(link) => {
                let url = Url::parse(link).map_err(|e| {
                    Error::unexpected(format!(
                        "{} returned a link that does not parse: {e}",
                        self.inner.service
                    ))
                })?;
                if url.origin() != self.inner.base.origin() {
                    return Err(Error::unexpected(format!(
                        "{} returned a link to another origin ({}); not followed, so credentials stay with {}",
                        self.inner.service,
                        url.host_str().unwrap_or("?"),
                        self.inner.base.host_str().unwrap_or("?")
                    ))
                    .with_destination(self.inner.service.clone()));
                }
                url
            }
        };
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query.iter());
        }
        if let Some(guard) = &self.inner.url_guard {
            guard.policy().check_url(&url)?;
        }
        Ok(url)
    }

    /// Sends a request, retrying as [`RetryConfig`] says, within the operation deadline, paced
    /// by the client's budget. Returns a 2xx response with its whole body.
    ///
    /// # Errors
    ///
    /// The status's kind ([`kind_for_status`](super::kind_for_status)) with the service's own message, the method and
    /// path, and the status; [`RateLimited`](ErrorKind::RateLimited) with a retry time when
    /// 429s outlast the retries or the deadline; [`Timeout`](ErrorKind::Timeout) when the
    /// deadline passes or a non-idempotent request timed out; [`Unavailable`](ErrorKind::Unavailable)
    /// for connection failures; [`Unexpected`](ErrorKind::Unexpected) for an oversized body
    /// or a read's redirect that is not followed (to another origin, more than 5 hops, or on
    /// a client without [`follow_read_redirects`](HttpClientBuilder::follow_read_redirects));
    /// [`Unconfirmed`](ErrorKind::Unconfirmed) for a write answered by a redirect, or by a
    /// 2xx whose body is neither empty nor JSON declared as JSON. Every message built from
    /// the service's answer is scrubbed of the request body's values and the client's
    /// credentials ([`Scrubber`](crate::Scrubber)).
    pub async fn send(&self, request: Request) -> Result<Response> {
        let label = request.label();
        let span = tracing::debug_span!("http", service = %self.inner.service, request = %label);
        self.send_inner(request, label).instrument(span).await
    }

    async fn send_inner(&self, request: Request, label: String) -> Result<Response> {
        let inner = &*self.inner;
        let url = self.url_for(&request)?;
        let deadline = Instant::now() + inner.timeouts.deadline();
        let mut last: Option<Error> = None;
        for attempt in 1u32.. {
            let (permit, waited) = match inner.pacer.acquire(deadline).await {
                Ok(slot) => slot,
                Err(PaceError::PastDeadline(wait)) => {
                    return Err(self.deadline_error(&label, attempt - 1, last, wait));
                }
                Err(PaceError::Closed) => {
                    return Err(Error::unexpected("the client's pacer is closed"))
                }
            };
            inner.counter.record(request.method.as_str());
            crate::stats::count_request(request.method.as_str());
            let budget = inner
                .timeouts
                .attempt()
                .min(deadline.saturating_duration_since(Instant::now()));
            let outcome =
                tokio::time::timeout(budget, self.attempt_following(&request, &url, &label)).await;
            drop(permit);
            let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            let failure = match self.judge(&request, outcome, budget) {
                Judged::Done(response) => {
                    debug!(attempt, status = response.status, waited_ms, "ok");
                    return Ok(response);
                }
                Judged::Failed(failure) => failure,
            };
            let error = failure
                .error
                .with_operation(label.clone())
                .with_destination(inner.service.clone());
            debug!(attempt, status = error.status().unwrap_or(0), kind = %error.kind(),
                retryable = failure.retryable, waited_ms, "attempt failed");
            let retry = Failure { error, ..failure };
            let delay = self.retry_delay(&retry, attempt, deadline, &label)?;
            tokio::time::sleep(delay).await;
            last = Some(retry.error);
        }
        Err(Error::unexpected("the attempt counter ran out"))
    }

    /// How long to wait before the next attempt, or the error to give up with: not
    /// retryable, out of attempts, a `Retry-After` longer than this client waits, or a wait
    /// past the operation deadline.
    fn retry_delay(
        &self,
        failure: &Failure,
        attempt: u32,
        deadline: Instant,
        label: &str,
    ) -> Result<Duration> {
        let retry = &self.inner.retry;
        let error = || failure.error.clone();
        if !failure.retryable {
            return Err(error());
        }
        if attempt >= retry.max_attempts() {
            return Err(give_up(
                error(),
                &format!("gave up after {attempt} attempts"),
            ));
        }
        let delay = match failure.retry_after {
            Some(asked) if asked > retry.max_retry_after() => {
                let why = format!(
                    "the service asks to wait {} s, more than the {} s this client waits",
                    asked.as_secs(),
                    retry.max_retry_after().as_secs()
                );
                return Err(give_up(error(), &why));
            }
            Some(asked) => asked,
            None => full_jitter(backoff_ceiling(retry, attempt)),
        };
        if Instant::now() + delay >= deadline {
            return Err(self.deadline_error(label, attempt, Some(error()), delay));
        }
        Ok(delay)
    }

    fn deadline_error(
        &self,
        label: &str,
        attempts: u32,
        last: Option<Error>,
        wait: Duration,
    ) -> Error {
        let deadline = self.inner.timeouts.deadline().as_secs_f64();
        match last {
            Some(last) if last.kind() == ErrorKind::RateLimited => {
                let at = SystemTime::now() + wait;
                give_up(
                    last,
                    &format!("stopped after {attempts} attempt(s) at the {deadline:.1} s operation deadline"),
                )
                .with_retry_at(at)
            }
            Some(last) => Error::new(
                ErrorKind::Timeout,
                format!(
                    "stopped after {attempts} attempt(s) at the {deadline:.1} s operation deadline; last error: {}",
                    last.message()
                ),
            )
            .with_operation(label.to_owned())
            .with_destination(self.inner.service.clone()),
            None => Error::new(
                ErrorKind::Timeout,
                format!("the {deadline:.1} s operation deadline passed while waiting for the pacing budget"),
            )
            .with_operation(label.to_owned())
            .with_destination(self.inner.service.clone()),
        }
    }
}

/// A path segment URL parsing would resolve to this path or its parent: `.`, `..`, either
/// spelled with `%2e`, or with a tab or line break inside (WHATWG resolves `%2e`, drops
/// tabs and line breaks, and splits on `\` as on `/` for http(s)).
fn is_dot_segment(segment: &str) -> bool {
    let plain: String = segment
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .to_ascii_lowercase()
        .replace("%2e", ".");
    plain == "." || plain == ".."
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encode_segment;

    #[test]
    fn a_dot_segment_never_reaches_another_path() -> Result<()> {
        let client = HttpClient::builder("svc", "https://h.example/svc/").build()?;
        // `encode_segment` keeps dots; a crate that forgot it may send `%2e` as it came.
        for name in [
            "..", ".", "%2e%2E", ".%2e", "%2E", ".\n.", "x?/..", "..\\x", "x\\..",
        ] {
            let path = format!("/v1/variables/{name}");
            let err = client
                .url_for(&Request::delete(path.clone()))
                .expect_err(&path);
            assert_eq!(err.kind(), ErrorKind::InvalidKey, "{path}");
            assert!(err.to_string().contains("`..` segment"), "{err}");
        }
        for fine in ["...", "a.b", ".env", "x..y", "a?b/.."] {
            let path = format!("/v1/variables/{}", encode_segment(fine));
            let request = Request::delete(path).query("page", ".");
            assert!(client.url_for(&request).is_ok(), "{fine}");
        }
        Ok(())
    }

    #[test]
    fn paths_join_under_the_base_path() -> Result<()> {
        let client = HttpClient::builder("svc", "https://h.example/svc/").build()?;
        let url = client.url_for(&Request::get("/api/spaces").query("skip", "0"))?;
        assert_eq!(url.as_str(), "https://h.example/svc/api/spaces?skip=0");
        let url = client.url_for(&Request::get(format!("/x/{}", encode_segment("{u}"))))?;
        assert_eq!(url.as_str(), "https://h.example/svc/x/%7Bu%7D");
        let err = client
            .url_for(&Request::get_url("https://evil.example/next"))
            .expect_err("foreign link");
        assert!(err.to_string().contains("another origin"), "{err}");
        Ok(())
    }
}
