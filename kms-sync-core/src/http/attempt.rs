//! One attempt of a request, and what its outcome means: done, or a failure that may be
//! retried (the service's status and message, a transport error, a timeout).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use secrecy::ExposeSecret;
use tokio::time::Instant;
use url::Url;

use super::client::HttpClient;
use super::rate_limit::ResponseHeaders;
use super::request::{Method, Request, Response};
use super::retry::{is_retryable_status, parse_retry_after};
use super::status::clip;
use crate::error::{Error, ErrorKind};
use crate::scrub::Scrubber;

/// Why one attempt produced no response.
pub(super) enum AttemptError {
    /// Connecting failed: the request was never sent, so any method may be retried.
    Connect(String),
    /// The exchange broke after sending began.
    Transport(String),
    /// The body exceeded the cap.
    TooLarge(usize),
    /// The request could not be built (e.g. a token that is not a valid header value).
    Invalid(String),
}

/// A failed attempt: its error, whether it may be retried, and when the service asked.
pub(super) struct Failure {
    pub error: Error,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

/// What an attempt came to.
pub(super) enum Judged {
    /// A 2xx answer with its body.
    Done(Response),
    /// A failure, retryable or not.
    Failed(Failure),
}

type Outcome = Result<Result<Response, AttemptError>, tokio::time::error::Elapsed>;

impl HttpClient {
    /// Judges an attempt's outcome. A 2xx answer to a write confirms it only when its body
    /// is empty or JSON declared as JSON (see [`Response::confirms_write`]); anything else is
    /// unconfirmed, and never retried. So is a 3xx answer to a write.
    pub(super) fn judge(&self, request: &Request, outcome: Outcome, budget: Duration) -> Judged {
        let service = &self.inner.service;
        let failure = |error: Error, retryable: bool| Failure {
            error,
            retryable,
            retry_after: None,
        };
        Judged::Failed(match outcome {
            Ok(Ok(response)) if (200..300).contains(&response.status) => {
                if request.is_write() && !response.confirms_write() {
                    failure(self.unconfirmed_answer(request, &response), false)
                } else {
                    return Judged::Done(response);
                }
            }
            Ok(Ok(response)) => self.status_failure(request, &response),
            Ok(Err(AttemptError::Connect(why))) => {
                let message = format!("cannot connect to {service}: {why}");
                failure(Error::new(ErrorKind::Unavailable, message), true)
            }
            Ok(Err(AttemptError::Transport(why))) => {
                let kind = unsure_kind(request, ErrorKind::Unavailable);
                let message = format!("the connection to {service} failed: {why}");
                failure(Error::new(kind, message), request.is_idempotent())
            }
            Ok(Err(AttemptError::Invalid(why))) => failure(Error::config(why), false),
            Ok(Err(AttemptError::TooLarge(cap))) => failure(
                Error::unexpected(format!(
                    "{service} sent a response body over the {cap}-byte cap"
                )),
                false,
            ),
            Err(_) => failure(timed_out(request, budget), request.is_idempotent()),
        })
    }

    /// The error of a 2xx answer that does not confirm a write: it names the request, the
    /// status and the content type (scrubbed: it came from the service), never the body.
    fn unconfirmed_answer(&self, request: &Request, response: &Response) -> Error {
        let media_type = response.media_type().unwrap_or_else(|| "none".to_owned());
        let message = format!(
            "{} answered {} with HTTP {} and a body that is not JSON declared as JSON (content type `{}`); the write is not confirmed",
            self.inner.service,
            response.label,
            response.status,
            self.answer_secrets(request).scrub(&media_type)
        );
        Error::new(ErrorKind::Unconfirmed, message).with_status(response.status)
    }

    /// What a message built from the answer to `request` must not show: the request body's
    /// values and every credential.
    fn answer_secrets(&self, request: &Request) -> Scrubber {
        let mut secrets = self.inner.credentials.clone();
        secrets.extend(&request.secrets());
        secrets
    }

    /// A non-2xx answer: a 3xx that was not followed, or the service's error by its
    /// table, its message scrubbed of the request's values and the client's credentials.
    fn status_failure(&self, request: &Request, response: &Response) -> Failure {
        let inner = &*self.inner;
        let status = response.status;
        if (300..400).contains(&status) {
            return Failure {
                error: self.redirect_error(request, response),
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
        let message = clip(self.answer_secrets(request).scrub(&service_error.message));
        let mut error = Error::new(service_error.kind, message).with_status(status);
        if let Some(wait) = retry_after {
            error = error.with_retry_at(SystemTime::now() + wait);
        }
        Failure {
            error,
            retryable: is_retryable_status(status),
            retry_after,
        }
    }

    /// Sends the request once (as a bodiless GET when `as_get`, for a redirect that asks
    /// so) and reads the whole answer (within the body cap), feeding the service's
    /// rate-limit headers to the pacer.
    pub(super) async fn attempt_once(
        &self,
        request: &Request,
        url: &Url,
        label: &str,
        as_get: bool,
    ) -> std::result::Result<Response, AttemptError> {
        let inner = &*self.inner;
        let response = self
            .prepare(request, url, as_get)?
            .send()
            .await
            .map_err(|e| {
                let why = e.without_url();
                if let Some(refusal) = policy_refusal(&why) {
                    AttemptError::Invalid(refusal)
                } else if why.is_connect() {
                    AttemptError::Connect(describe(&why))
                } else {
                    AttemptError::Transport(describe(&why))
                }
            })?;
        let headers = ResponseHeaders::from_pairs(
            response
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (k.as_str().to_owned(), v.to_owned()))
                })
                .collect(),
        );
        if let Some(dialect) = inner.rate_limit_headers {
            inner
                .pacer
                .advise(dialect(&headers), inner.retry.max_retry_after());
        }
        let status = response.status().as_u16();
        let body = self.read_body(response).await?;
        Ok(Response {
            status,
            headers,
            body,
            label: label.to_owned(),
            service: inner.service.clone(),
            write: request.is_write(),
        })
    }

    /// The reqwest request: method, URL, the request's own headers, a per-request bearer
    /// token (sensitive), and the JSON body (none when `as_get`).
    fn prepare(
        &self,
        request: &Request,
        url: &Url,
        as_get: bool,
    ) -> std::result::Result<reqwest::RequestBuilder, AttemptError> {
        let method = match request.method {
            _ if as_get => reqwest::Method::GET,
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.inner.client.request(method, url.clone());
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
        if let Some(body) = request.body_bytes().filter(|_| !as_get) {
            builder = builder.header(CONTENT_TYPE, "application/json").body(body);
        }
        Ok(builder)
    }

    /// The whole body, refused past the cap (announced or as it arrives).
    async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> std::result::Result<Vec<u8>, AttemptError> {
        let cap = self.inner.max_body_bytes;
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(AttemptError::TooLarge(cap));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AttemptError::Transport(describe(&e.without_url())))?
        {
            if body.len() + chunk.len() > cap {
                return Err(AttemptError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The kind of a failure after the request may have reached the service: `fallback` when
/// repeating it is harmless or it changes nothing, otherwise unconfirmed (it may have been
/// applied).
fn unsure_kind(request: &Request, fallback: ErrorKind) -> ErrorKind {
    if request.is_idempotent() || !request.is_write() {
        fallback
    } else {
        ErrorKind::Unconfirmed
    }
}

fn timed_out(request: &Request, budget: Duration) -> Error {
    let message = if request.is_idempotent() {
        format!("no response within {} ms", budget.as_millis())
    } else {
        format!(
            "no response within {} ms; not retried because {} is not idempotent (it may have been applied)",
            budget.as_millis(),
            request.method
        )
    };
    Error::new(unsure_kind(request, ErrorKind::Timeout), message)
}

/// A reqwest error in words, without its URL, and with its cause chain (e.g. "connection
/// refused").
pub(super) fn describe(error: &reqwest::Error) -> String {
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

/// The URL policy's refusal inside a connect error (the resolver refused the name's
/// addresses): a configuration error, never retried.
fn policy_refusal(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Error>() {
            return (refusal.kind() == ErrorKind::Config).then(|| refusal.message().to_owned());
        }
        source = cause.source();
    }
    None
}

/// `error` with `why` added to its message, keeping its context.
pub(super) fn give_up(error: Error, why: &str) -> Error {
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
