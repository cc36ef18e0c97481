//! Checkly's error answers → kms-sync errors: one table, one test per row.
//!
//! The envelope (hapi/Boom): `{"statusCode", "error", "message", "attributes"?,
//! "validation"?: {"source", "keys": [...]}}`.

use kms_sync_core::http::{kind_for_status, ServiceError};
use kms_sync_core::ErrorKind;
use serde_json::Value;

/// The table.
///
/// | status | body | kind | message |
/// |---|---|---|---|
/// | 401 | any | Unauthenticated | the service's, plus: check the API key |
/// | 403 | any | PermissionDenied | the service's, plus: the key's role and the account id |
/// | 402 | any | PermissionDenied | the service's: a plan limit |
/// | 404 | any | NotFound | the service's |
/// | 409 | any | Conflict | the service's |
/// | 400 | `validation.keys` has `key` | InvalidKey | the service's, with the fields |
/// | 400 | other | InvalidValue | the service's, with the fields |
/// | other | any | by status | the service's |
pub(crate) fn error_table(status: u16, body: &[u8]) -> ServiceError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let text = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let fields: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("validation"))
        .and_then(|v| v.get("keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut message = text("message")
        .or_else(|| text("error"))
        .unwrap_or_else(|| format!("HTTP {status}"));
    if !fields.is_empty() {
        message = format!("{message} (fields: {})", fields.join(", "));
    }
    let (kind, message) = match status {
        401 => (ErrorKind::Unauthenticated, format!("{message}; check the Checkly API key")),
        403 => (
            ErrorKind::PermissionDenied,
            format!("{message}; the key needs the Read & Write role (or above) on the account given as accountId"),
        ),
        402 => (ErrorKind::PermissionDenied, format!("{message} (a plan limit)")),
        400 if fields.iter().any(|f| f == "key") => (ErrorKind::InvalidKey, message),
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
            br#"{"statusCode":401,"error":"Unauthorized","message":"Unauthorized"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(
            e.message.ends_with("check the Checkly API key"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_403() {
        let e = error_table(
            403,
            br#"{"statusCode":403,"error":"Forbidden","message":"Forbidden"}"#,
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("Read & Write"), "{}", e.message);
    }

    #[test]
    fn row_402() {
        let e = error_table(
            402,
            br#"{"statusCode":402,"error":"Payment Required","message":"Upgrade your plan"}"#,
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("plan limit"));
    }

    #[test]
    fn row_404() {
        let e = error_table(
            404,
            br#"{"statusCode":404,"error":"Not Found","message":"Not Found"}"#,
        );
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "Not Found")
        );
    }

    #[test]
    fn row_409() {
        let e = error_table(
            409,
            br#"{"statusCode":409,"error":"Conflict","message":"Conflict"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Conflict);
    }

    #[test]
    fn row_400_key() {
        let e = error_table(400, br#"{"statusCode":400,"error":"Bad Request","message":"\"key\" is not allowed to be empty","validation":{"source":"payload","keys":["key"]}}"#);
        assert_eq!(e.kind, ErrorKind::InvalidKey);
        assert!(e.message.ends_with("(fields: key)"), "{}", e.message);
    }

    #[test]
    fn row_400_other_from_the_fixture() {
        let e = error_table(400, &fixture("error-bad-request-validation.json"));
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(
            e.message.contains("\"frequency\" must be one of"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("(fields: frequency)"), "{}", e.message);
    }

    #[test]
    fn row_other() {
        let e = error_table(
            429,
            br#"{"statusCode":429,"error":"Too Many Requests","message":"Too Many Requests"}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(error_table(502, b"gateway").kind, ErrorKind::Unavailable);
    }
}
