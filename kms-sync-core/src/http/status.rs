//! Turning an HTTP status and an error body into an [`Error`](crate::Error).

use serde_json::Value;

use crate::error::ErrorKind;

/// What a service's error answer means: the kind, and the service's own message.
///
/// ```
/// use kms_sync_core::{ErrorKind, http::ServiceError};
/// let e = ServiceError::new(ErrorKind::Conflict, "the set changed since it was read");
/// assert_eq!(e.kind, ErrorKind::Conflict);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The service's message (shortened to 300 characters), never a request body.
    pub message: String,
}

impl ServiceError {
    /// A failure of `kind` with the service's `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            message: message.into(),
        }
    }
}

/// A service's error table: from an error status and body to a [`ServiceError`]. Each
/// service's crate supplies its own (its envelope's fields, its statuses' meanings); the
/// default is [`common_error`]. It must take only the service's message fields, never echo
/// the request. Retrying is decided by status alone, whatever the table says.
pub type ErrorTable = fn(status: u16, body: &[u8]) -> ServiceError;

/// The default table: [`kind_for_status`] and [`common_message`] (or `HTTP <status>`).
///
/// ```
/// use kms_sync_core::{ErrorKind, http::common_error};
/// let e = common_error(404, br#"{"message":"Not found"}"#);
/// assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "Not found"));
/// ```
pub fn common_error(status: u16, body: &[u8]) -> ServiceError {
    ServiceError::new(
        kind_for_status(status),
        common_message(status, body).unwrap_or_else(|| format!("HTTP {status}")),
    )
}

/// The longest service message kept in an error.
pub(crate) const MAX_MESSAGE: usize = 300;

/// The kind for a status no retry fixed.
///
/// ```
/// use kms_sync_core::{ErrorKind, http::kind_for_status};
/// assert_eq!(kind_for_status(401), ErrorKind::Unauthenticated);
/// assert_eq!(kind_for_status(503), ErrorKind::Unavailable);
/// ```
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 422 => ErrorKind::InvalidValue,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Unexpected,
    }
}

/// The default parser: the generic envelopes' message fields — `message`, `error.message`
/// (plus `error.detail` when it is text), `error` as text. Any other envelope is the
/// service's own to read, in its [`ErrorTable`].
///
/// ```
/// use kms_sync_core::http::common_message;
/// let body = br#"{"type":"error","error":{"message":"Bad request","detail":"key is invalid"}}"#;
/// assert_eq!(common_message(400, body).as_deref(), Some("Bad request: key is invalid"));
/// assert_eq!(common_message(500, b"<html>oops</html>"), None);
/// ```
pub fn common_message(_status: u16, body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    if let Some(error) = json.get("error").filter(|e| e.is_object()) {
        let message = text(error.get("message"));
        let detail = text(error.get("detail"));
        return match (message, detail) {
            (Some(m), Some(d)) => Some(format!("{m}: {d}")),
            (m, d) => m.or(d),
        };
    }
    text(json.get("message")).or_else(|| text(json.get("error")))
}

/// Shortens a message to [`MAX_MESSAGE`] characters.
pub(crate) fn clip(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE {
        return message;
    }
    let mut clipped: String = message.chars().take(MAX_MESSAGE).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert_eq!(
            common_message(404, br#"{"message":"Not found"}"#).as_deref(),
            Some("Not found")
        );
        // A service's own field names are its error table's to read, not the default's.
        assert_eq!(
            common_message(400, br#"{"Problem":"There was a problem","Errors":["x"]}"#),
            None
        );
        assert_eq!(
            common_error(400, br#"{"Problem":"There was a problem"}"#).message,
            "HTTP 400"
        );
        assert_eq!(
            common_message(
                403,
                br#"{"error":{"message":"Forbidden","detail":{"required":["x"]}}}"#
            )
            .as_deref(),
            Some("Forbidden")
        );
        assert_eq!(
            common_message(429, br#"{"statusCode":429,"error":"Too Many Requests"}"#).as_deref(),
            Some("Too Many Requests")
        );
        assert_eq!(common_message(500, b"not json"), None);
    }

    #[test]
    fn long_messages_are_clipped() {
        let clipped = clip("x".repeat(1_000));
        assert_eq!(clipped.chars().count(), MAX_MESSAGE + 1);
    }
}
