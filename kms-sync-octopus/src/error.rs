//! Octopus's error answers → kms-sync errors: one table, one test per row.
//!
//! The envelope: `{"ErrorMessage", "Errors"?: [...], "FullException"?, "HelpText"?, …}`.

use kms_sync_core::http::{kind_for_status, ServiceError};
use kms_sync_core::ErrorKind;
use serde_json::Value;

/// The server's answer when the variable set changed since it was read.
pub(crate) const STALE: &str = "another user has made changes";

/// The table.
///
/// | status | body | kind | message |
/// |---|---|---|---|
/// | 400 | an error says "another user has made changes" | Conflict | the errors (the set is re-read and the sync re-planned) |
/// | 400 | an error says the set is frozen | Unsupported | the errors: a release snapshot is never written |
/// | 400 | other | InvalidValue | the message and errors |
/// | 401 | any | Unauthenticated | the message, plus: check the API key |
/// | 403 | any | PermissionDenied | the message, plus the permissions a sync needs |
/// | other | any | by status | the message and errors |
pub(crate) fn error_table(status: u16, body: &[u8]) -> ServiceError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let errors: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("Errors"))
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let headline = json
        .as_ref()
        .and_then(|j| j.get("ErrorMessage"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let message = match (headline, errors.is_empty()) {
        (Some(h), true) => h,
        (Some(h), false) => format!("{h} {}", errors.join(" ")),
        (None, false) => errors.join(" "),
        (None, true) => format!("HTTP {status}"),
    };
    let says = |needle: &str| errors.iter().any(|e| e.to_lowercase().contains(needle));
    let (kind, message) = match status {
        400 if says(STALE) => (ErrorKind::Conflict, message),
        400 if says("frozen") => (
            ErrorKind::Unsupported,
            format!("{message} (a release snapshot's variables are never written)"),
        ),
        400 => (ErrorKind::InvalidValue, message),
        401 => (ErrorKind::Unauthenticated, format!("{message}; check the Octopus API key")),
        403 => (
            ErrorKind::PermissionDenied,
            format!("{message}; the API key's user needs ProjectView, VariableView and VariableEdit on the project"),
        ),
        _ => (kind_for_status(status), message),
    };
    ServiceError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_400_stale_version() {
        let e = error_table(400, br#"{"ErrorMessage":"There was a problem with your request.","Errors":["Changes to these variables could not be saved, because another user has made changes to the variables between when you started editing and when you saved your changes. Please reload or open a new tab to make your changes."]}"#);
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(
            e.message
                .starts_with("There was a problem with your request. Changes to these variables"),
            "{}",
            e.message
        );
    }

    #[test]
    fn row_400_frozen() {
        let e = error_table(400, br#"{"ErrorMessage":"There was a problem with your request.","Errors":["You cannot modify this variable set because the set is frozen"]}"#);
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("release snapshot"), "{}", e.message);
    }

    #[test]
    fn row_400_other() {
        let e = error_table(400, br#"{"ErrorMessage":"There was a problem with your request.","Errors":["Variable ids must be unique."]}"#);
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(e.message.ends_with("Variable ids must be unique."));
    }

    #[test]
    fn row_401() {
        let e = error_table(
            401,
            br#"{"ErrorMessage":"You must be logged in to perform this action."}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert!(e.message.ends_with("check the Octopus API key"));
    }

    #[test]
    fn row_403() {
        let e = error_table(403, br#"{"ErrorMessage":"You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: VariableEdit"}"#);
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("Missing permission: VariableEdit"));
    }

    #[test]
    fn row_other() {
        let e = error_table(404, br#"{"ErrorMessage":"The resource was not found.."}"#);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "The resource was not found..")
        );
        assert_eq!(error_table(503, b"").message, "HTTP 503");
    }
}
