//! The KMS's error answers → kms-sync errors: one table, one test per row.
//!
//! The envelope: `{"reqId", "statusCode", "message" (text, or an array of validation issues),
//! "error" (a name such as `TokenError`), "details"?}`.

use kms_sync_core::http::{kind_for_status, ServiceError};
use kms_sync_core::ErrorKind;
use serde_json::Value;

/// The table.
///
/// | status | `error` | kind | message |
/// |---|---|---|---|
/// | 401 | any | Unauthenticated | the message, plus: the identity's credentials and its access to the environment and path |
/// | 403 | `TokenError` | Unauthenticated | the token expired or is invalid (the source logs in again once) |
/// | 403 | other | PermissionDenied | the message and details, plus: the identity's access |
/// | 404 | `SecretPathNotFound` | NotFound | the folder does not exist: check the environment slug and path |
/// | 422 | any | Config | the validation issues |
/// | other | any | by status | the message |
pub(crate) fn error_table(status: u16, body: &[u8]) -> ServiceError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let name = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let message = match json.as_ref().and_then(|j| j.get("message")) {
        Some(Value::String(m)) => m.clone(),
        Some(Value::Array(issues)) => issues
            .iter()
            .filter_map(|i| {
                i.get("message")
                    .and_then(Value::as_str)
                    .or_else(|| i.as_str())
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => format!("HTTP {status}"),
    };
    let details: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("details"))
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let with_details = if details.is_empty() {
        message.clone()
    } else {
        format!("{message}: {}", details.join("; "))
    };
    let access = "check that the machine identity is a member of the project with read access to this environment and secret path";
    let (kind, message) = match (status, name.as_str()) {
        (401, _) => (
            ErrorKind::Unauthenticated,
            format!("{message}; check the client id and secret, and {access}"),
        ),
        (403, "TokenError") => (
            ErrorKind::Unauthenticated,
            format!("{message} (the access token expired or is invalid)"),
        ),
        (403, _) => (
            ErrorKind::PermissionDenied,
            format!("{with_details}; {access}"),
        ),
        (404, "SecretPathNotFound") => (ErrorKind::NotFound, message),
        (422, _) => (
            ErrorKind::Config,
            format!("the KMS refused the request: {message}"),
        ),
        _ => (kind_for_status(status), with_details),
    };
    ServiceError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_401() {
        let e = error_table(401, br#"{"reqId":"req-1","statusCode":401,"message":"Invalid credentials","error":"UnauthorizedError"}"#);
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(
            e.message
                .starts_with("Invalid credentials; check the client id"),
            "{}",
            e.message
        );
        assert!(e.message.contains("environment and secret path"));
    }

    #[test]
    fn row_403_token() {
        let e = error_table(403, br#"{"reqId":"req-1","statusCode":403,"message":"Your token has expired. Please re-authenticate.","error":"TokenError"}"#);
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
    }

    #[test]
    fn row_403_other() {
        let e = error_table(403, br#"{"reqId":"req-1","statusCode":403,"message":"Failed to expand one or more secret references","error":"ForbiddenError","details":["You do not have permission to read secret 'X'"]}"#);
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message.contains(
                "Failed to expand one or more secret references: You do not have permission"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_404_folder() {
        let e = error_table(404, br#"{"reqId":"req-1","statusCode":404,"message":"Folder with path '/x' in environment 'prod' was not found.","error":"SecretPathNotFound"}"#);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("'/x'"));
    }

    #[test]
    fn row_422() {
        let e = error_table(422, br#"{"reqId":"req-1","statusCode":422,"message":[{"message":"Invalid enum value","path":["expandSecretReferences"]}],"error":"ValidationFailure"}"#);
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.ends_with("Invalid enum value"), "{}", e.message);
    }

    #[test]
    fn row_other() {
        let e = error_table(429, br#"{"reqId":"req-1","statusCode":429,"message":"Rate limit exceeded. Please try again in 42 seconds","error":"RateLimitExceeded"}"#);
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(e.message.contains("42 seconds"));
    }
}
