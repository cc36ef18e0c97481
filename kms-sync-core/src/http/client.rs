//! The shared HTTP client: retries that respect the service, pacing, timeouts, safe errors.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER,
};
use secrecy::ExposeSecret;
use tokio::time::Instant;
use tracing::{debug, Instrument};
use url::Url;

use super::auth::Auth;
use super::config::{Pacing, RetryConfig, TimeoutConfig};
use super::pacer::{read_advisory, PaceError, Pacer};
use super::request::{Method, Request, Response, Target};
use super::retry::{backoff_ceiling, full_jitter, is_retryable_status, parse_retry_after};
use super::status::{clip, common_error, ErrorTable};
use crate::destination::RateBudget;
use crate::error::{Error, ErrorKind, Result};
use crate::stats::{RequestCounter, RequestStats};

/// The default cap on a response body: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

const MAX_REDIRECTS: usize = 5;

/// Builds an [`HttpClient`].
#[derive(Debug)]
pub struct HttpClientBuilder {
    service: String,
    base_url: String,
    auth: Auth,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
    pacing: Option<Pacing>,
    concurrency: usize,
    max_body_bytes: usize,
    allow_insecure_http: bool,
    headers: Vec<(String, String)>,
    error_table: ErrorTable,
    advisory_headers: bool,
}

impl HttpClientBuilder {
    /// Credentials (default: none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    /// Retry settings.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }
    /// Timeouts.
    pub fn timeouts(mut self, timeouts: TimeoutConfig) -> Self {
        self.timeouts = timeouts;
        self
    }
    /// Paces requests to a documented budget (see [`Pacing::from_budget`]).
    pub fn rate_budget(mut self, budget: RateBudget) -> Self {
        self.pacing = Some(Pacing::from_budget(budget));
        self
    }
    /// Paces requests explicitly (overrides a budget).
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = Some(pacing);
        self
    }
    /// Removes client-side pacing (the service's 429s are still honoured).
    pub fn unpaced(mut self) -> Self {
        self.pacing = None;
        self
    }
    /// Requests in flight at once (default 8).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }
    /// The response body cap (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes.max(1);
        self
    }
    /// Allows an `http://` base URL on a host other than loopback (credentials then travel
    /// in clear text: only for trusted networks).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// A non-secret header sent with every request (e.g. `X-Checkly-Account`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// The destination's error table: status and body to kind and message (default
    /// [`common_error`](super::common_error)).
    pub fn error_table(mut self, table: ErrorTable) -> Self {
        self.error_table = table;
        self
    }
    /// Whether to follow Octopus-style advisory rate headers (`Octopus-RateLimit-Policy`,
    /// `Octopus-RateLimit`); default on.
    pub fn advisory_headers(mut self, follow: bool) -> Self {
        self.advisory_headers = follow;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for a base URL that does not parse, is not http(s),
    /// carries credentials, or is `http://` on a non-loopback host without
    /// [`allow_insecure_http`](Self::allow_insecure_http); for header names or values that are
    /// not valid HTTP.
    pub fn build(self) -> Result<HttpClient> {
        let bad = |why: String| {
            Error::config(format!(
                "{} base URL `{}`: {why}",
                self.service, self.base_url
            ))
        };
        let base = Url::parse(self.base_url.trim()).map_err(|e| bad(e.to_string()))?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::config(format!(
                "{} base URL carries credentials; pass them as Auth instead",
                self.service
            )));
        }
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) || self.allow_insecure_http => {}
            "http" => {
                return Err(bad(
                    "http:// is refused for a host other than loopback, because credentials would travel in clear text; use https:// or allow_insecure_http(true)".to_owned(),
                ))
            }
            other => return Err(bad(format!("unsupported scheme `{other}`"))),
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".to_owned()));
        }

        let mut headers = HeaderMap::new();
        let sensitive = |value: &str, what: &str| -> Result<HeaderValue> {
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("the {what} is not a valid header value")))?;
            v.set_sensitive(true);
            Ok(v)
        };
        match &self.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose_secret());
                let value = format!("Basic {}", encode_base64(raw.as_bytes()));
                headers.insert(AUTHORIZATION, sensitive(&value, "Basic credential")?);
            }
            Auth::Bearer(token) => {
                let value = format!("Bearer {}", token.expose_secret());
                headers.insert(AUTHORIZATION, sensitive(&value, "bearer token")?);
            }
            Auth::Header { name, value } => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| Error::config(format!("`{name}` is not a valid header name")))?;
                headers.insert(name, sensitive(value.expose_secret(), "API key")?);
            }
        }
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("`{name}` is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("the value of header `{name}` is not valid")))?;
            headers.insert(header, value);
        }

        let origin = base.origin();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().origin() == origin {
                attempt.follow()
            } else {
                // Never carry credentials to another origin: stop and report the 3xx.
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!("kms-sync/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(self.timeouts.connect())
            .redirect(policy)
            .build()
            .map_err(|e| {
                Error::config(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;

        Ok(HttpClient {
            inner: Arc::new(Inner {
                service: self.service,
                base,
                client,
                retry: self.retry,
                timeouts: self.timeouts,
                pacer: Pacer::new(self.pacing, self.concurrency),
                max_body_bytes: self.max_body_bytes,
                error_table: self.error_table,
                advisory_headers: self.advisory_headers,
                counter: RequestCounter::default(),
            }),
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Standard base64 with padding (RFC 4648), as HTTP Basic needs. Public so fakes can check
/// the header they receive.
///
/// ```
/// assert_eq!(kms_sync_core::http::encode_base64(b"foobar"), "Zm9vYmFy");
/// ```
pub fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes one path segment (everything but `A–Z a–z 0–9 - . _ ~`), e.g. the braces
/// of a Bitbucket uuid.
///
/// ```
/// use kms_sync_core::http::encode_segment;
/// assert_eq!(encode_segment("{a1b2}"), "%7Ba1b2%7D");
/// assert_eq!(encode_segment("MY KEY/x"), "MY%20KEY%2Fx");
/// ```
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Inner {
    service: String,
    base: Url,
    client: reqwest::Client,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
    pacer: Pacer,
    max_body_bytes: usize,
    error_table: ErrorTable,
    advisory_headers: bool,
    counter: RequestCounter,
}

/// The HTTP client every destination and the KMS source use. Cheap to clone: clones share
/// the connection pool, the pacing and the request counter.
///
/// ```no_run
/// use kms_sync_core::http::{Auth, HttpClient, Request};
/// use kms_sync_core::RateBudget;
/// use std::time::Duration;
/// # async fn run() -> kms_sync_core::Result<()> {
/// let client = HttpClient::builder("bitbucket", "https://api.bitbucket.org")
///     .auth(Auth::basic("me@example.com", "token"))
///     .rate_budget(RateBudget::new(1_000, Duration::from_secs(3_600)))
///     .build()?;
/// let me: serde_json::Value = client.send(Request::get("/2.0/user")).await?.json()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
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

enum AttemptError {
    /// Connecting failed: the request was never sent, so any method may be retried.
    Connect(String),
    /// The exchange broke after sending began.
    Transport(String),
    /// The redirect policy refused (too many redirects).
    Redirect(String),
    /// The body exceeded the cap.
    TooLarge(usize),
    /// The request could not be built (e.g. a token that is not a valid header value).
    Invalid(String),
}

struct Failure {
    error: Error,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl HttpClient {
    /// A builder for `service` (its name in errors and logs) at `base_url`. Defaults: no
    /// auth, [`RetryConfig::default`], [`TimeoutConfig::default`], no pacing, concurrency 8,
    /// 16 MiB body cap, advisory headers followed.
    pub fn builder(service: impl Into<String>, base_url: impl Into<String>) -> HttpClientBuilder {
        HttpClientBuilder {
            service: service.into(),
            base_url: base_url.into(),
            auth: Auth::None,
            retry: RetryConfig::default(),
            timeouts: TimeoutConfig::default(),
            pacing: None,
            concurrency: 8,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_insecure_http: false,
            headers: Vec::new(),
            error_table: common_error,
            advisory_headers: true,
        }
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
    /// or a redirect to another origin.
    pub async fn send(&self, request: Request) -> Result<Response> {
        let label = request.label();
        let span = tracing::debug_span!("http", service = %self.inner.service, request = %label);
        self.send_inner(request, label).instrument(span).await
    }

    async fn send_inner(&self, request: Request, label: String) -> Result<Response> {
        let inner = &*self.inner;
        let url = self.url_for(&request)?;
        let deadline = Instant::now() + inner.timeouts.deadline();
        let mut attempt: u32 = 0;
        let mut last: Option<Error> = None;
        loop {
            attempt += 1;
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
            let now = Instant::now();
            let budget = inner
                .timeouts
                .attempt()
                .min(deadline.saturating_duration_since(now));
            let outcome =
                tokio::time::timeout(budget, self.attempt_once(&request, &url, &label)).await;
            drop(permit);

            let failure = match outcome {
                Ok(Ok(response))
                    if (200..300).contains(&response.status)
                        && request.is_write()
                        && !response.confirms_write() =>
                {
                    return Err(Error::new(
                        ErrorKind::Unconfirmed,
                        format!(
                            "{} answered {} with a body that is not the JSON it declares; the write is not confirmed",
                            inner.service, response.status
                        ),
                    )
                    .with_status(response.status)
                    .with_operation(label.clone())
                    .with_destination(inner.service.clone()));
                }
                Ok(Ok(response)) if (200..300).contains(&response.status) => {
                    debug!(
                        attempt,
                        status = response.status,
                        waited_ms = waited.as_millis() as u64,
                        "ok"
                    );
                    return Ok(response);
                }
                Ok(Ok(response)) => self.status_failure(&response),
                Ok(Err(AttemptError::Connect(why))) => Failure {
                    error: Error::new(
                        ErrorKind::Unavailable,
                        format!("cannot connect to {}: {why}", inner.service),
                    ),
                    retryable: true,
                    retry_after: None,
                },
                Ok(Err(AttemptError::Transport(why))) => Failure {
                    error: Error::new(
                        if request.is_idempotent() || !request.is_write() {
                            ErrorKind::Unavailable
                        } else {
                            ErrorKind::Unconfirmed
                        },
                        format!("the connection to {} failed: {why}", inner.service),
                    ),
                    retryable: request.is_idempotent(),
                    retry_after: None,
                },
                Ok(Err(AttemptError::Redirect(why))) => Failure {
                    error: Error::unexpected(format!("{} redirected badly: {why}", inner.service)),
                    retryable: false,
                    retry_after: None,
                },
                Ok(Err(AttemptError::Invalid(why))) => Failure {
                    error: Error::config(why),
                    retryable: false,
                    retry_after: None,
                },
                Ok(Err(AttemptError::TooLarge(cap))) => Failure {
                    error: Error::unexpected(format!(
                        "{} sent a response body over the {cap}-byte cap",
                        inner.service
                    )),
                    retryable: false,
                    retry_after: None,
                },
                Err(_) => Failure {
                    error: Error::new(
                        if request.is_idempotent() || !request.is_write() {
                            ErrorKind::Timeout
                        } else {
                            ErrorKind::Unconfirmed
                        },
                        if request.is_idempotent() {
                            format!("no response within {} ms", budget.as_millis())
                        } else {
                            format!(
                                "no response within {} ms; not retried because {} is not idempotent (it may have been applied)",
                                budget.as_millis(),
                                request.method
                            )
                        },
                    ),
                    retryable: request.is_idempotent(),
                    retry_after: None,
                },
            };
            let error = failure
                .error
                .with_operation(label.clone())
                .with_destination(inner.service.clone());
            debug!(
                attempt,
                status = error.status().unwrap_or(0),
                kind = %error.kind(),
                retryable = failure.retryable,
                waited_ms = waited.as_millis() as u64,
                "attempt failed"
            );
            if !failure.retryable {
                return Err(error);
            }
            if attempt >= inner.retry.max_attempts() {
                return Err(give_up(error, &format!("gave up after {attempt} attempts")));
            }
            let delay = match failure.retry_after {
                Some(asked) if asked > inner.retry.max_retry_after() => {
                    return Err(give_up(
                        error,
                        &format!(
                            "the service asks to wait {} s, more than the {} s this client waits",
                            asked.as_secs(),
                            inner.retry.max_retry_after().as_secs()
                        ),
                    ));
                }
                Some(asked) => asked,
                None => full_jitter(backoff_ceiling(&inner.retry, attempt)),
            };
            if Instant::now() + delay >= deadline {
                return Err(self.deadline_error(&label, attempt, Some(error), delay));
            }
            tokio::time::sleep(delay).await;
            last = Some(error);
        }
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

    fn status_failure(&self, response: &Response) -> Failure {
        let inner = &*self.inner;
        let status = response.status;
        if (300..400).contains(&status) {
            return Failure {
                error: Error::unexpected(format!(
                    "{} redirected to another origin ({}); not followed, so credentials stay with {}",
                    inner.service,
                    response
                        .header("location")
                        .and_then(|l| Url::parse(l).ok())
                        .and_then(|u| u.host_str().map(str::to_owned))
                        .unwrap_or_else(|| "?".to_owned()),
                    inner.base.host_str().unwrap_or("?")
                ))
                .with_status(status),
                retryable: false,
                retry_after: None,
            };
        }
        let retry_after = response
            .header(RETRY_AFTER.as_str())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        if status == 429 {
            if let Some(wait) = retry_after {
                inner
                    .pacer
                    .pause_until(Instant::now() + wait.min(inner.retry.max_retry_after()));
            }
        }
        let service_error = (inner.error_table)(status, &response.body);
        let mut error =
            Error::new(service_error.kind, clip(service_error.message)).with_status(status);
        if let Some(wait) = retry_after {
            error = error.with_retry_at(SystemTime::now() + wait);
        }
        Failure {
            error,
            retryable: is_retryable_status(status),
            retry_after,
        }
    }

    async fn attempt_once(
        &self,
        request: &Request,
        url: &Url,
        label: &str,
    ) -> std::result::Result<Response, AttemptError> {
        let inner = &*self.inner;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = inner.client.request(method, url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(token) = &request.bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    AttemptError::Invalid("the access token is not a valid header value".to_owned())
                })?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(body) = request.body_bytes() {
            builder = builder.header(CONTENT_TYPE, "application/json").body(body);
        }
        let mut response = builder.send().await.map_err(|e| {
            let why = e.without_url();
            if why.is_redirect() {
                AttemptError::Redirect(why.to_string())
            } else if why.is_connect() {
                AttemptError::Connect(describe(&why))
            } else {
                AttemptError::Transport(describe(&why))
            }
        })?;
        if inner.advisory_headers {
            let header = |n: &str| response.headers().get(n).and_then(|v| v.to_str().ok());
            let (pacing, pause) = read_advisory(
                header("octopus-ratelimit-policy"),
                header("octopus-ratelimit"),
            );
            if let Some(pacing) = pacing {
                inner.pacer.set_pacing(pacing);
            }
            if let Some(pause) = pause {
                inner.pacer.pause_until(Instant::now() + pause);
            }
        }
        if response
            .content_length()
            .is_some_and(|n| n > inner.max_body_bytes as u64)
        {
            return Err(AttemptError::TooLarge(inner.max_body_bytes));
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AttemptError::Transport(describe(&e.without_url())))?
        {
            if body.len() + chunk.len() > inner.max_body_bytes {
                return Err(AttemptError::TooLarge(inner.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            label: label.to_owned(),
            service: inner.service.clone(),
            write: request.is_write(),
        })
    }
}

/// A reqwest error in words, without its URL, and with its cause chain (e.g. "connection
/// refused").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

fn give_up(error: Error, why: &str) -> Error {
    let mut out = Error::new(error.kind(), format!("{} ({why})", error.message()));
    if let Some(status) = error.status() {
        out = out.with_status(status);
    }
    if let Some(at) = error.retry_at() {
        out = out.with_retry_at(at);
    }
    if let Some(op) = error.operation() {
        out = out.with_operation(op.to_owned());
    }
    if let Some(dest) = error.destination() {
        out = out.with_destination(dest.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn base_urls_are_checked() {
        let build = |url: &str| HttpClient::builder("svc", url).build();
        assert!(build("https://api.example.com").is_ok());
        assert!(build("http://127.0.0.1:8080").is_ok());
        assert!(build("http://localhost:8080/octopus").is_ok());
        assert!(build("http://[::1]:9").is_ok());
        let err = build("http://api.example.com").expect_err("clear text to a remote host");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("http:// is refused"), "{err}");
        assert!(HttpClient::builder("svc", "http://10.0.0.1")
            .allow_insecure_http(true)
            .build()
            .is_ok());
        assert!(build("ftp://example.com").is_err());
        assert!(build("not a url").is_err());
        let err = build("https://user:pw@example.com").expect_err("credentials in the URL");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn paths_join_under_the_base_path() -> Result<()> {
        let client = HttpClient::builder("svc", "https://h.example/octopus/").build()?;
        let url = client.url_for(&Request::get("/api/spaces").query("skip", "0"))?;
        assert_eq!(url.as_str(), "https://h.example/octopus/api/spaces?skip=0");
        let url = client.url_for(&Request::get(format!("/x/{}", encode_segment("{u}"))))?;
        assert_eq!(url.as_str(), "https://h.example/octopus/x/%7Bu%7D");
        let err = client
            .url_for(&Request::get_url("https://evil.example/next"))
            .expect_err("foreign link");
        assert!(err.to_string().contains("another origin"), "{err}");
        Ok(())
    }
}
