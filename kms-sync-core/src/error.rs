//! The one error type of kms-sync: an [`Error`] struct carrying an [`ErrorKind`] and the
//! context a caller needs (which key, which destination, which operation, HTTP status,
//! when to retry) — never a secret value.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What went wrong, coarsely enough to decide what to do about it.
///
/// Marked `#[non_exhaustive]`: match with a wildcard arm.
///
/// ```
/// use kms_sync_core::ErrorKind;
/// assert_eq!(ErrorKind::RateLimited.to_string(), "rate limited");
/// assert!(ErrorKind::RateLimited.is_retryable());
/// assert!(!ErrorKind::InvalidKey.is_retryable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration (options, schema, definition, connection) is invalid.
    #[error("invalid configuration")]
    Config,
    /// A key does not satisfy the destination's naming rules, or keys collide.
    #[error("invalid key")]
    InvalidKey,
    /// A value does not satisfy the destination's value rules (for example, empty).
    #[error("invalid value")]
    InvalidValue,
    /// The credentials were refused (HTTP 401).
    #[error("unauthenticated")]
    Unauthenticated,
    /// The credentials lack a permission or scope (HTTP 403).
    #[error("permission denied")]
    PermissionDenied,
    /// The target (repository, project, variable…) does not exist (HTTP 404).
    #[error("not found")]
    NotFound,
    /// The destination changed underneath us, or an entry exists that we may not replace.
    #[error("conflict")]
    Conflict,
    /// The service asked us to slow down and retries ran out.
    #[error("rate limited")]
    RateLimited,
    /// The operation ran past its deadline.
    #[error("timed out")]
    Timeout,
    /// The service is unreachable or failing (connection errors, 5xx).
    #[error("service unavailable")]
    Unavailable,
    /// The secret source failed; nothing was written.
    #[error("source failed")]
    Source,
    /// The destination cannot do what was asked (for example, import from write-only values).
    #[error("unsupported")]
    Unsupported,
    /// A safety guard refused the plan (deletion guard).
    #[error("refused by guard")]
    Guard,
    /// The sync is disabled (the KMS's `isEnabled: false`): it plans, but never writes.
    #[error("disabled")]
    Disabled,
    /// A write whose outcome the service did not confirm: a 2xx whose body could not be
    /// read, or a request that may have been applied before its connection was lost or the
    /// deadline passed. Counted as failed; the ledger forgets the value, so the next run
    /// rewrites it.
    #[error("unconfirmed")]
    Unconfirmed,
    /// A read from the destination was incomplete: a list field missing from an answer (even
    /// one the service's document marks optional), an entry without the identity, key or
    /// value a later write must send back, or a list shorter than its reported total. Writing
    /// from such a read could wipe entries that were merely not shown, so the whole operation
    /// is refused before any write; the message names the field and the scope. Not retryable:
    /// the same service answers the same way until someone looks at it.
    ///
    /// ```
    /// use kms_sync_core::ErrorKind;
    /// assert_eq!(ErrorKind::IncompleteRead.to_string(), "incomplete read");
    /// assert!(!ErrorKind::IncompleteRead.is_retryable());
    /// ```
    #[error("incomplete read")]
    IncompleteRead,
    /// The apply stopped before trying this change (the deadline passed, or the service
    /// kept failing).
    #[error("not attempted")]
    NotAttempted,
    /// Anything else: an unexpected response, a broken state file, a bug.
    #[error("unexpected")]
    Unexpected,
}

impl ErrorKind {
    /// Whether trying the same thing again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Timeout | ErrorKind::Unavailable
        )
    }
}

/// The error of every fallible kms-sync operation.
///
/// It carries a [`kind`](Error::kind), a human message, and optional context: the key it
/// concerns, every key involved (for refusals that name many), the destination, the
/// operation, the HTTP status and a retry time. Neither `Display` nor `Debug` ever shows a
/// secret value: messages are written by kms-sync from keys, statuses and the services' own
/// error messages.
///
/// ```
/// use kms_sync_core::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::InvalidKey, "key must not start with a digit")
///     .with_key("1PASSWORD")
///     .with_destination("bitbucket:acme/api");
/// assert_eq!(err.kind(), ErrorKind::InvalidKey);
/// assert_eq!(err.key(), Some("1PASSWORD"));
/// assert!(err.to_string().contains("1PASSWORD"));
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    key: Option<String>,
    keys: Vec<String>,
    destination: Option<String>,
    operation: Option<String>,
    status: Option<u16>,
    retry_at: Option<SystemTime>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Shorthand for `Result<T, kms_sync_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message. The message must not contain secret values.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                key: None,
                keys: Vec::new(),
                destination: None,
                operation: None,
                status: None,
                retry_at: None,
                source: None,
            }),
        }
    }

    /// Shorthand for `Error::new(ErrorKind::Config, message)`.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// Shorthand for `Error::new(ErrorKind::Unexpected, message)`.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unexpected, message)
    }

    /// The key this error concerns.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.inner.key = Some(key.into());
        self
    }

    /// Every key this error concerns (for refusals that name several keys).
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner.keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The destination this error concerns, e.g. `bitbucket:acme/api`.
    pub fn with_destination(mut self, destination: impl Into<String>) -> Self {
        self.inner.destination = Some(destination.into());
        self
    }

    /// The operation that failed, e.g. `list` or `PUT /2.0/repositories/…`.
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.inner.operation = Some(operation.into());
        self
    }

    /// The HTTP status the service answered with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// When the caller may try again (rate limits).
    pub fn with_retry_at(mut self, at: SystemTime) -> Self {
        self.inner.retry_at = Some(at);
        self
    }

    /// The underlying cause. It must not format secret values.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without context.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The key this error concerns, if one.
    pub fn key(&self) -> Option<&str> {
        self.inner.key.as_deref()
    }

    /// Every key this error names (refusals of a whole plan name all of them).
    pub fn keys(&self) -> &[String] {
        &self.inner.keys
    }

    /// The destination this error concerns.
    pub fn destination(&self) -> Option<&str> {
        self.inner.destination.as_deref()
    }

    /// The operation that failed.
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// When to retry, when the service said so.
    pub fn retry_at(&self) -> Option<SystemTime> {
        self.inner.retry_at
    }

    /// How long from now until [`retry_at`](Error::retry_at), zero if it has passed.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_at.map(|at| {
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }
}

impl Error {
    /// This error with every secret `scrubber` knows removed from its message and from its
    /// source chain (kept as the chain's scrubbed text). Kind, key(s), destination,
    /// operation, status and retry time are kept as they are: kms-sync writes those itself.
    ///
    /// ```
    /// use kms_sync_core::{Error, ErrorKind, Scrubber};
    /// let echoed = Error::new(ErrorKind::InvalidValue, r#"bad body {"value":"hunter22"}"#)
    ///     .with_status(400)
    ///     .with_key("DB_PASSWORD");
    /// let clean = echoed.scrubbed(&Scrubber::of(["hunter22"]));
    /// assert_eq!(clean.message(), r#"bad body {"value":"[REDACTED]"}"#);
    /// assert_eq!((clean.kind(), clean.status(), clean.key()), (ErrorKind::InvalidValue, Some(400), Some("DB_PASSWORD")));
    /// ```
    pub fn scrubbed(&self, scrubber: &crate::scrub::Scrubber) -> Error {
        let mut inner = (*self.inner).clone();
        inner.message = scrubber.scrub(&inner.message);
        inner.source = inner.source.map(|source| {
            let text = scrubber.scrub(&chain_text(&*source));
            Arc::new(ScrubbedCause(text)) as Arc<dyn std::error::Error + Send + Sync>
        });
        Error {
            inner: Box::new(inner),
        }
    }
}

/// A source chain as one text: each cause, joined by `: `.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// A cause after scrubbing: its chain's text, secrets removed.
#[derive(Debug)]
struct ScrubbedCause(String);

impl fmt::Display for ScrubbedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScrubbedCause {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.kind, self.inner.message)?;
        let mut context = Vec::new();
        if let Some(key) = &self.inner.key {
            context.push(format!("key `{key}`"));
        }
        if let Some(destination) = &self.inner.destination {
            context.push(format!("destination {destination}"));
        }
        if let Some(operation) = &self.inner.operation {
            context.push(format!("during {operation}"));
        }
        if let Some(status) = self.inner.status {
            context.push(format!("HTTP {status}"));
        }
        if let Some(at) = self.inner.retry_at {
            context.push(format!(
                "retry after {}",
                humantime::format_rfc3339_seconds(at)
            ));
        }
        if !context.is_empty() {
            write!(f, " ({})", context.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(key) = &self.inner.key {
            d.field("key", key);
        }
        if !self.inner.keys.is_empty() {
            d.field("keys", &self.inner.keys);
        }
        if let Some(destination) = &self.inner.destination {
            d.field("destination", destination);
        }
        if let Some(operation) = &self.inner.operation {
            d.field("operation", operation);
        }
        if let Some(status) = self.inner.status {
            d.field("status", &status);
        }
        if let Some(at) = self.inner.retry_at {
            d.field(
                "retry_at",
                &humantime::format_rfc3339_seconds(at).to_string(),
            );
        }
        if let Some(source) = &self.inner.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Error", 7)?;
        s.serialize_field("kind", &self.inner.kind)?;
        s.serialize_field("message", &self.inner.message)?;
        s.serialize_field("key", &self.inner.key)?;
        s.serialize_field("keys", &self.inner.keys)?;
        s.serialize_field("destination", &self.inner.destination)?;
        s.serialize_field("status", &self.inner.status)?;
        s.serialize_field(
            "retryAt",
            &self
                .inner
                .retry_at
                .map(|at| humantime::format_rfc3339_seconds(at).to_string()),
        )?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_context() {
        let err = Error::new(ErrorKind::NotFound, "repository does not exist")
            .with_destination("bitbucket:acme/api")
            .with_operation("list")
            .with_status(404);
        assert_eq!(
            err.to_string(),
            "not found: repository does not exist (destination bitbucket:acme/api, during list, HTTP 404)"
        );
    }

    #[test]
    fn retry_after_is_never_negative() {
        let err = Error::new(ErrorKind::RateLimited, "slow down")
            .with_retry_at(SystemTime::now() - Duration::from_secs(10));
        assert_eq!(err.retry_after(), Some(Duration::ZERO));
    }

    #[test]
    fn source_is_exposed() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Error::config("cannot read").with_source(io);
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("no such file"));
    }
}
