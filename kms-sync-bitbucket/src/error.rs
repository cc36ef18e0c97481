//! Bitbucket's error answers → kms-sync errors: one table, one test per row.
//!
//! The envelope: `{"type": "error", "error": {"message", "detail"?: text or object,
//! "fields"?: {field: text or [text]}, "data"?: {"key", …}}}`.

use kms_sync_core::http::{kind_for_status, ServiceError};
use kms_sync_core::ErrorKind;
use serde_json::Value;

use crate::config::REQUIRED_SCOPES;

fn text_list(v: &Value) -> Option<String> {
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

struct Envelope {
    message: Option<String>,
    detail_text: Option<String>,
    required_scopes: Option<String>,
    granted_scopes: Option<String>,
    fields: Vec<(String, String)>,
    data_key: Option<String>,
}

fn read_envelope(body: &[u8]) -> Option<Envelope> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let error = json.get("error").filter(|e| e.is_object());
    // A bare `{"message", "detail"}` appears for URLs with no API behind them.
    let node = error.unwrap_or(&json);
    let detail = node.get("detail");
    let mut fields: Vec<(String, String)> = node
        .get("fields")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| text_list(v).map(|t| (k.clone(), t)))
                .collect()
        })
        .unwrap_or_default();
    fields.sort();
    Some(Envelope {
        message: node
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned),
        detail_text: detail.and_then(Value::as_str).map(str::to_owned),
        required_scopes: detail.and_then(|d| d.get("required")).and_then(text_list),
        granted_scopes: detail.and_then(|d| d.get("granted")).and_then(text_list),
        fields,
        data_key: node
            .get("data")
            .and_then(|d| d.get("key"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The table. Status first, then what the envelope says.
///
/// | status | body | kind | message |
/// |---|---|---|---|
/// | 401 | any | Unauthenticated | the service's, plus: check the account email and API token |
/// | 403 | `detail.required` scopes | PermissionDenied | required and granted scopes, and the scopes a sync needs |
/// | 403 | other | PermissionDenied | the service's, plus the scopes a sync needs |
/// | 404 | "There is no API hosted at this URL" | Config | the base URL is wrong |
/// | 404 | other | NotFound | the service's, naming what may be missing |
/// | 409 | `data.key` duplicate | Conflict | the variable exists already |
/// | 400 | `fields.key` | InvalidKey | the field messages |
/// | 400 | other | InvalidValue | the message and field messages |
/// | other | any | by status | the message and detail |
pub(crate) fn error_table(status: u16, body: &[u8]) -> ServiceError {
    let envelope = read_envelope(body);
    let message = envelope
        .as_ref()
        .and_then(|e| {
            let mut parts: Vec<String> = Vec::new();
            parts.extend(e.message.clone());
            parts.extend(e.detail_text.clone());
            if !e.fields.is_empty() {
                parts.push(
                    e.fields
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            if let Some(key) = &e.data_key {
                parts.push(format!("[{key}]"));
            }
            (!parts.is_empty()).then(|| parts.join(" — "))
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    let needs = format!(
        "a Bitbucket sync needs the API-token scopes {}",
        REQUIRED_SCOPES.join(", ")
    );
    let (kind, message) = match status {
        401 => (
            ErrorKind::Unauthenticated,
            format!("{message}; check the Atlassian account email and the API token"),
        ),
        403 => match envelope.as_ref().and_then(|e| e.required_scopes.clone()) {
            Some(required) => (
                ErrorKind::PermissionDenied,
                format!(
                    "the API token lacks a scope: required {required}; granted {}; {needs}",
                    envelope
                        .as_ref()
                        .and_then(|e| e.granted_scopes.clone())
                        .unwrap_or_else(|| "none listed".to_owned())
                ),
            ),
            None => (ErrorKind::PermissionDenied, format!("{message}; {needs}")),
        },
        404 if message.contains("There is no API hosted at this URL") => (
            ErrorKind::Config,
            format!("{message}: the Bitbucket base URL is wrong (expected https://api.bitbucket.org)"),
        ),
        404 => (
            ErrorKind::NotFound,
            format!("{message} (does the workspace, repository, environment or variable exist, and can this account see it?)"),
        ),
        409 => (ErrorKind::Conflict, message),
        400 if envelope
            .as_ref()
            .is_some_and(|e| e.fields.iter().any(|(k, _)| k == "key")) =>
        {
            (ErrorKind::InvalidKey, message)
        }
        400 => (ErrorKind::InvalidValue, message),
        _ => (kind_for_status(status), message),
    };
    ServiceError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    #[test]
    fn row_401() {
        let e = error_table(
            401,
            br#"{"type":"error","error":{"message":"Unauthorized"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(
            e.message.contains("email and the API token"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_403_missing_scopes_from_the_fixture() {
        let e = error_table(403, &fixture("error-insufficient-scopes.json"));
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("required project"), "{}", e.message);
        assert!(
            e.message
                .contains("granted runner:write, pipeline:variable"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("admin:pipeline:bitbucket"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_403_other() {
        let e = error_table(403, br#"{"type":"error","error":{"message":"Forbidden"}}"#);
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message.starts_with("Forbidden; a Bitbucket sync needs"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_404_no_api_from_the_fixture() {
        let e = error_table(404, &fixture("error-no-api-at-url.json"));
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("base URL is wrong"), "{}", e.message);
    }

    #[test]
    fn row_404_other() {
        let e = error_table(
            404,
            br#"{"type":"error","error":{"message":"Variable not found","data":{"key":"variable-service.variable.not-found"}}}"#,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.contains("[variable-service.variable.not-found]"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_409_duplicate() {
        let e = error_table(
            409,
            br#"{"type":"error","error":{"message":"A variable with the key provided already exists.","data":{"key":"variable-service.variable.duplicate"}}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(
            e.message.contains("variable-service.variable.duplicate"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_400_key_field() {
        let e = error_table(
            400,
            br#"{"type":"error","error":{"message":"Bad request","fields":{"key":["Use letters, '_' or numbers, and don't start with a number"]}}}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidKey);
        assert!(e.message.contains("key: Use letters"), "{}", e.message);
    }

    #[test]
    fn row_400_other_from_the_fixture() {
        let e = error_table(400, &fixture("error-bad-request-fields.json"));
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert_eq!(
            e.message,
            "Bad request — links.avatar: required key not provided"
        );
    }

    #[test]
    fn row_other_statuses() {
        assert_eq!(error_table(429, b"").kind, ErrorKind::RateLimited);
        let e = error_table(503, b"<html>maintenance</html>");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Unavailable, "HTTP 503")
        );
    }
}
