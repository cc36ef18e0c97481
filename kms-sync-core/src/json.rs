//! Parsing configuration JSON (the KMS's connection and sync bodies) with errors that point
//! at the problem without echoing a value.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parses `text` as `T`. Errors are [`Config`](crate::ErrorKind::Config) errors naming
/// `what`, the line and column, and the problem: syntax (a trailing comma, a missing quote),
/// an unknown, missing or duplicate field, an unknown variant. A value of the wrong type is
/// reported without the value, which may be a credential.
///
/// ```
/// #[derive(serde::Deserialize, Debug)]
/// #[serde(deny_unknown_fields)]
/// struct Conn { token: String }
/// let err = kms_sync_core::parse_json::<Conn>(r#"{"token": "a",}"#, "connection").unwrap_err();
/// assert!(err.to_string().contains("trailing comma"), "{err}");
/// let err = kms_sync_core::parse_json::<Conn>(r#"{"tokn": "a"}"#, "connection").unwrap_err();
/// assert!(err.to_string().contains("unknown field `tokn`"), "{err}");
/// let err = kms_sync_core::parse_json::<Conn>(r#"{"token": 12345678}"#, "connection").unwrap_err();
/// assert!(!err.to_string().contains("12345678"), "{err}");
/// ```
pub fn parse_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let safe = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => true,
            serde_json::error::Category::Data => {
                let m = e.to_string();
                [
                    "unknown field",
                    "missing field",
                    "duplicate field",
                    "unknown variant",
                ]
                .iter()
                .any(|p| m.starts_with(p))
            }
            serde_json::error::Category::Io => false,
        };
        if safe {
            Error::config(format!("invalid {what}: {e}"))
        } else {
            Error::config(format!(
                "invalid {what}: a value has the wrong type or form at line {}, column {}",
                e.line(),
                e.column()
            ))
        }
    })
}
