//! GitHub's error answers → kms-sync errors: one table, one test per row.
//!
//! The envelopes (`github.subset.json`): `basic-error` `{message, documentation_url}` and,
//! for 422, `validation-error` `{message, errors: [{resource, field, code, message} | text]}`.

use kms_sync_core::http::{kind_for_status, ServiceError};
use kms_sync_core::ErrorKind;
use serde_json::Value;

/// What a sync needs of a token, named when GitHub refuses one.
pub(crate) const PERMISSIONS: &str = "a GitHub sync needs the Secrets read and write permission \
     (repository permission for repository and environment secrets, organization permission \
     for organization secrets; Environments read and write for environment secrets)";

struct Envelope {
    message: Option<String>,
    details: Vec<String>,
}

fn read_envelope(body: &[u8]) -> Option<Envelope> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let details = json
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| match e {
                    Value::String(s) => Some(s.clone()),
                    other => text(other, "message").or_else(|| {
                        let field = text(other, "field")?;
                        let code = text(other, "code").unwrap_or_default();
                        Some(format!("{field}: {code}"))
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Envelope {
        message: text(&json, "message"),
        details,
    })
}

fn names_the_key(envelope: Option<&Envelope>) -> bool {
    envelope.is_some_and(|e| {
        e.message.iter().chain(&e.details).any(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("secret name") || t.contains("name:") || t.contains("secret_name")
        })
    })
}

/// The table. Status first, then what the envelope says.
///
/// | status | body | kind | message |
/// |---|---|---|---|
/// | 401 | any | Unauthenticated | the service's, plus: check the token or the App installation |
/// | 403 | message mentions a rate limit | RateLimited | the service's (primary or secondary limit) |
/// | 403 | other | PermissionDenied | the service's, plus the permissions a sync needs |
/// | 404 | any | NotFound | the service's, naming what may be missing or hidden |
/// | 409 | any | Conflict | the service's |
/// | 422 | about the secret's name | InvalidKey | the message and the errors |
/// | 422 | other | InvalidValue | the message and the errors |
/// | other | any | by status | the message |
pub(crate) fn error_table(status: u16, body: &[u8]) -> ServiceError {
    let envelope = read_envelope(body);
    let message = envelope
        .as_ref()
        .and_then(|e| {
            let mut parts: Vec<String> = e.message.iter().cloned().collect();
            if !e.details.is_empty() {
                parts.push(e.details.join("; "));
            }
            (!parts.is_empty()).then(|| parts.join(" — "))
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    let rate_limited = message.to_ascii_lowercase().contains("rate limit");
    let (kind, message) = match status {
        401 => (
            ErrorKind::Unauthenticated,
            format!("{message}; check the token (or the GitHub App's id, installation and key)"),
        ),
        403 if rate_limited => (ErrorKind::RateLimited, message),
        403 => (ErrorKind::PermissionDenied, format!("{message}; {PERMISSIONS}")),
        404 => (
            ErrorKind::NotFound,
            format!("{message} (does the repository, environment, organization or secret exist, and can this token see it? GitHub answers 404 for what it hides)"),
        ),
        422 if names_the_key(envelope.as_ref()) => (ErrorKind::InvalidKey, message),
        _ => (kind_for_status(status), message),
    };
    ServiceError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_401() {
        let e = error_table(
            401,
            br#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(
            e.message.starts_with("Bad credentials; check the token"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_403_rate_limits() {
        for message in [
            "API rate limit exceeded for installation ID 1.",
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        ] {
            let body = serde_json::json!({"message": message}).to_string();
            let e = error_table(403, body.as_bytes());
            assert_eq!(e.kind, ErrorKind::RateLimited, "{message}");
        }
    }

    #[test]
    fn row_403_other() {
        let e = error_table(
            403,
            br#"{"message":"Resource not accessible by personal access token"}"#,
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message.contains("Secrets read and write"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_404() {
        let e = error_table(404, br#"{"message":"Not Found"}"#);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.starts_with("Not Found (does the repository"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_409() {
        let e = error_table(409, br#"{"message":"Visibility is not selected"}"#);
        assert_eq!(e.kind, ErrorKind::Conflict);
    }

    #[test]
    fn row_422_name() {
        let e = error_table(
            422,
            br#"{"message":"Validation Failed","errors":[{"resource":"Secret","field":"name","code":"invalid","message":"Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_)."}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidKey);
        assert!(
            e.message.contains("Validation Failed — Secret names"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_422_other() {
        let e = error_table(
            422,
            br#"{"message":"Validation Failed","errors":[{"resource":"Secret","field":"encrypted_value","code":"invalid"}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert_eq!(e.message, "Validation Failed — encrypted_value: invalid");
    }

    #[test]
    fn row_other_statuses() {
        assert_eq!(error_table(429, b"").kind, ErrorKind::RateLimited);
        let e = error_table(502, b"<html>unicorn</html>");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Unavailable, "HTTP 502")
        );
    }
}
