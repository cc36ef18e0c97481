//! The [`HttpClientBuilder`]: base URL checks, auth and default headers, whether reads
//! follow redirects.

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use secrecy::ExposeSecret;
use url::Url;

use super::auth::Auth;
use super::client::{HttpClient, Inner, DEFAULT_MAX_BODY_BYTES};
use super::config::{Pacing, RetryConfig, TimeoutConfig};
use super::encode::encode_base64;
use super::pacer::Pacer;
use super::rate_limit::RateLimitHeaders;
use super::status::{common_error, ErrorTable};
use crate::destination::RateBudget;
use crate::error::{Error, Result};
use crate::net::{is_loopback_url, UrlGuard};
use crate::scrub::Scrubber;
use crate::stats::RequestCounter;

/// Builds an [`HttpClient`] (see [`HttpClient::builder`]).
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
    rate_limit_headers: Option<RateLimitHeaders>,
    url_guard: Option<UrlGuard>,
    follow_read_redirects: bool,
}

impl HttpClientBuilder {
    pub(super) fn new(service: String, base_url: String) -> Self {
        HttpClientBuilder {
            service,
            base_url,
            auth: Auth::None,
            retry: RetryConfig::default(),
            timeouts: TimeoutConfig::default(),
            pacing: None,
            concurrency: 8,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_insecure_http: false,
            headers: Vec::new(),
            error_table: common_error,
            rate_limit_headers: None,
            url_guard: None,
            follow_read_redirects: false,
        }
    }

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
    /// A non-secret header sent with every request (e.g. an account id the service wants).
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
    /// The service's rate-limit header dialect (default: none, such headers are ignored).
    /// It reads every response's headers; the pacer adopts the limit it announces and pauses
    /// every request when it says the budget is spent. See [`RateLimitHeaders`].
    ///
    /// ```
    /// use kms_sync_core::http::{Advisory, HttpClient, ResponseHeaders};
    /// use std::time::Duration;
    /// // A service that sends `X-Svc-Wait: <seconds>` once its budget is spent.
    /// fn svc_dialect(headers: &ResponseHeaders) -> Advisory {
    ///     let wait = headers.get("x-svc-wait").and_then(|v| v.trim().parse::<u64>().ok());
    ///     Advisory::new(None, wait.map(Duration::from_secs))
    /// }
    /// let client = HttpClient::builder("svc", "https://api.example.com")
    ///     .rate_limit_headers(svc_dialect)
    ///     .build()?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn rate_limit_headers(mut self, dialect: RateLimitHeaders) -> Self {
        self.rate_limit_headers = Some(dialect);
        self
    }

    /// Checks the base URL, every request's URL and every address connected to against a
    /// [`UrlPolicy`](crate::net::UrlPolicy) (HTTPS, no userinfo, public addresses unless
    /// allowed): for URLs a tenant names. The addresses the policy checked are the ones
    /// connected to, so a name cannot be re-pointed between check and use. With a guard,
    /// the policy alone decides whether `http://` is allowed.
    ///
    /// ```
    /// use kms_sync_core::http::HttpClient;
    /// use kms_sync_core::net::{UrlGuard, UrlPolicy};
    /// let guard = UrlGuard::new(UrlPolicy::public_only());
    /// let refused = HttpClient::builder("octopus", "https://169.254.169.254")
    ///     .url_guard(guard.clone())
    ///     .build();
    /// assert!(refused.is_err());
    /// assert!(HttpClient::builder("octopus", "https://octopus.example.com").url_guard(guard).build().is_ok());
    /// ```
    pub fn url_guard(mut self, guard: UrlGuard) -> Self {
        self.url_guard = Some(guard);
        self
    }

    /// Lets reads (GET, or a request marked [`reads_only`](super::Request::reads_only))
    /// follow a redirect (default: no; a 3xx answer is then an error). Only to the base
    /// URL's origin (scheme, host and port), at most 5 hops; a redirect to another origin
    /// is never followed, so credentials stay home. A write is never followed, whatever
    /// this says: its 3xx is [`Unconfirmed`](crate::ErrorKind::Unconfirmed).
    ///
    /// ```
    /// use kms_sync_core::http::HttpClient;
    /// let client = HttpClient::builder("svc", "https://api.example.com")
    ///     .follow_read_redirects(true)
    ///     .build()?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn follow_read_redirects(mut self, follow: bool) -> Self {
        self.follow_read_redirects = follow;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) for a base URL that does not parse, is not http(s),
    /// carries credentials, or is `http://` on a non-loopback host without
    /// [`allow_insecure_http`](Self::allow_insecure_http); for header names or values that are
    /// not valid HTTP.
    pub fn build(self) -> Result<HttpClient> {
        let base = self.base()?;
        let headers = self.default_headers()?;
        let client = self.reqwest_client(headers)?;
        let credentials = self.credentials();
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
                rate_limit_headers: self.rate_limit_headers,
                url_guard: self.url_guard,
                counter: RequestCounter::default(),
                follow_read_redirects: self.follow_read_redirects,
                credentials,
            }),
        })
    }

    /// The base URL, checked: http(s), a host, no credentials, `http://` only on loopback
    /// unless allowed.
    fn base(&self) -> Result<Url> {
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
        if let Some(guard) = &self.url_guard {
            guard.policy().check_url(&base).map_err(|e| {
                Error::config(format!("{} base URL: {}", self.service, e.message()))
            })?;
            return Ok(base);
        }
        match base.scheme() {
            "https" => {}
            "http" if is_loopback_url(&base) || self.allow_insecure_http => {}
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
        Ok(base)
    }

    /// The auth header (marked sensitive) and the non-secret headers sent with every request.
    fn default_headers(&self) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        if let Some((name, value)) = self.auth_header()? {
            headers.insert(name, value);
        }
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("`{name}` is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("the value of header `{name}` is not valid")))?;
            headers.insert(header, value);
        }
        Ok(headers)
    }

    fn auth_header(&self) -> Result<Option<(HeaderName, HeaderValue)>> {
        let sensitive = |value: &str, what: &str| -> Result<HeaderValue> {
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("the {what} is not a valid header value")))?;
            v.set_sensitive(true);
            Ok(v)
        };
        Ok(Some(match &self.auth {
            Auth::None => return Ok(None),
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose_secret());
                let value = format!("Basic {}", encode_base64(raw.as_bytes()));
                (AUTHORIZATION, sensitive(&value, "Basic credential")?)
            }
            Auth::Bearer(token) => {
                let value = format!("Bearer {}", token.expose_secret());
                (AUTHORIZATION, sensitive(&value, "bearer token")?)
            }
            Auth::Header { name, value } => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| Error::config(format!("`{name}` is not a valid header name")))?;
                (name, sensitive(value.expose_secret(), "API key")?)
            }
        }))
    }

    /// What the client's errors must never show: the token, the password and the
    /// `user:password` pair (whose base64 is the Basic header), the API key.
    fn credentials(&self) -> Scrubber {
        match &self.auth {
            Auth::None => Scrubber::new(),
            Auth::Basic { username, password } => {
                let password = password.expose_secret();
                Scrubber::new()
                    .with_secret(password)
                    .with_secret(&format!("{username}:{password}"))
            }
            Auth::Bearer(token) => Scrubber::new().with_secret(token.expose_secret()),
            Auth::Header { value, .. } => Scrubber::new().with_secret(value.expose_secret()),
        }
    }

    /// The reqwest client: user agent, default headers, connect timeout, and no redirects
    /// of its own (the client follows a read's redirect itself, see `client.rs`).
    fn reqwest_client(&self, headers: HeaderMap) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder();
        if let Some(guard) = &self.url_guard {
            // A proxy from the environment would resolve the target itself, past the guard.
            builder = builder.dns_resolver(guard.resolver()).no_proxy();
        }
        builder
            .user_agent(concat!("kms-sync/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(self.timeouts.connect())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::config(format!("cannot build the HTTP client: {}", e.without_url()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn base_urls_are_checked() {
        let build = |url: &str| HttpClient::builder("svc", url).build();
        assert!(build("https://api.example.com").is_ok());
        assert!(build("http://127.0.0.1:8080").is_ok());
        assert!(build("http://localhost:8080/svc").is_ok());
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
}
