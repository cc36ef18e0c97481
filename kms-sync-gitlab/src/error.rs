//! GitLab's error answers → kms-sync errors: one table, one test per row.
//!
//! GitLab's envelope: `{"message": "<text>"}`, or `{"message": {"<attribute>": ["<text>",
//! …]}}` for a validation failure, or (Grape's parameter checks) `{"error": "<text>"}`.

use kms_sync_core::http::{kind_for_status, ServiceError};
use kms_sync_core::ErrorKind;
use serde_json::Value;

/// What a sync's token needs, said when GitLab refuses it.
const NEEDS: &str = "a GitLab sync needs a token with the `api` scope and the Maintainer role on the project (Owner on a group)";

/// The envelope, read: the text message, or the attribute messages (sorted by attribute).
#[derive(Default)]
struct Envelope {
    text: Option<String>,
    attributes: Vec<(String, String)>,
}

impl Envelope {
    fn read(body: &[u8]) -> Envelope {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return Envelope::default();
        };
        let mut envelope = Envelope::default();
        match json.get("message") {
            Some(Value::String(text)) => envelope.text = Some(text.clone()),
            Some(Value::Object(fields)) => {
                envelope.attributes = fields
                    .iter()
                    .filter_map(|(k, v)| texts(v).map(|t| (k.clone(), t)))
                    .collect();
                envelope.attributes.sort();
            }
            _ => {}
        }
        if envelope.text.is_none() {
            envelope.text = json.get("error").and_then(Value::as_str).map(str::to_owned);
        }
        envelope
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn message(&self, status: u16) -> String {
        let mut parts: Vec<String> = self.text.iter().cloned().collect();
        parts.extend(self.attributes.iter().map(|(k, v)| format!("{k}: {v}")));
        if parts.is_empty() {
            format!("HTTP {status}")
        } else {
            parts.join("; ")
        }
    }
}

fn texts(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

/// The table. Status first, then what the envelope says.
///
/// | status | body | kind | message |
/// |---|---|---|---|
/// | 401 | any | Unauthenticated | the service's, plus: check the token and the instance URL |
/// | 403 | any | PermissionDenied | the service's, plus what a token needs |
/// | 404 | any | NotFound | the service's, naming what may be missing |
/// | 400 | `message.key` "has already been taken" | Conflict | the variable exists already (a create race) |
/// | 400 | `message.key` | InvalidKey | the attribute messages |
/// | 400 | other | InvalidValue | the message or attribute messages |
/// | 409 | "multiple variables" | Conflict | one key in several scopes, asked without a filter |
/// | other | any | by status | the message |
pub(crate) fn error_table(status: u16, body: &[u8]) -> ServiceError {
    let envelope = Envelope::read(body);
    let message = envelope.message(status);
    let (kind, message) = match status {
        401 => (
            ErrorKind::Unauthenticated,
            format!("{message}; check the access token (revoked or expired?) and the instance URL"),
        ),
        403 => (ErrorKind::PermissionDenied, format!("{message}; {NEEDS}")),
        404 => (
            ErrorKind::NotFound,
            format!(
                "{message} (does the project, group or variable exist, and can this token see it?)"
            ),
        ),
        400 if envelope
            .attribute("key")
            .is_some_and(|t| t.contains("has already been taken")) =>
        {
            (ErrorKind::Conflict, message)
        }
        400 if envelope.attribute("key").is_some() => (ErrorKind::InvalidKey, message),
        400 => (ErrorKind::InvalidValue, message),
        409 => (ErrorKind::Conflict, message),
        _ => (kind_for_status(status), message),
    };
    ServiceError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_401() {
        let e = error_table(401, br#"{"message":"401 Unauthorized"}"#);
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(
            e.message
                .starts_with("401 Unauthorized; check the access token"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_403() {
        let e = error_table(403, br#"{"message":"403 Forbidden"}"#);
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("`api` scope"), "{}", e.message);
    }

    #[test]
    fn row_404() {
        let e = error_table(404, br#"{"message":"404 Project Not Found"}"#);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.starts_with("404 Project Not Found"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_400_duplicate_key() {
        let e = error_table(
            400,
            br#"{"message":{"key":["(API_KEY) has already been taken"]}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert_eq!(e.message, "key: (API_KEY) has already been taken");
    }

    #[test]
    fn row_400_key() {
        let e = error_table(
            400,
            br#"{"message":{"key":["can contain only letters, digits and '_'."]}}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidKey);
    }

    #[test]
    fn row_400_other() {
        let e = error_table(
            400,
            br#"{"message":{"value":["is invalid"],"masked":["x"]}}"#,
        );
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidValue, "masked: x; value: is invalid")
        );
        let e = error_table(400, br#"{"error":"value is missing"}"#);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidValue, "value is missing")
        );
        let e = error_table(
            400,
            br#"{"message":"400 (Bad request) \"value\" not given"}"#,
        );
        assert!(e.message.contains("not given"));
    }

    #[test]
    fn row_409_ambiguous() {
        let e = error_table(409, br#"{"message":"There are multiple variables with provided parameters. Please use 'filter[environment_scope]'."}"#);
        assert_eq!(e.kind, ErrorKind::Conflict);
    }

    #[test]
    fn row_other_statuses() {
        assert_eq!(error_table(429, b"").kind, ErrorKind::RateLimited);
        let e = error_table(502, b"<html>bad gateway</html>");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Unavailable, "HTTP 502")
        );
    }
}
