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

/// The KMS's app-connection request body, the envelope every service shares:
/// `{"name", "description"?, "projectId"?, "method", "credentials"}`. `C` is the service's
/// credentials (its own struct, with unknown fields refused). No `Debug`: credentials inside.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppConnectionBody<C> {
    /// The connection's name.
    #[serde(default)]
    pub name: Option<String>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The KMS project it belongs to.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The authentication method, e.g. `api-token`.
    pub method: String,
    /// The service's credentials.
    pub credentials: C,
}

/// Parses an app-connection body for `service` and checks that its method is `method`.
///
/// # Errors
///
/// [`Config`](crate::ErrorKind::Config) as [`parse_json`], or naming an unsupported method.
///
/// ```
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "camelCase", deny_unknown_fields)]
/// struct Creds { api_key: String }
/// let body = kms_sync_core::parse_app_connection::<Creds>(
///     r#"{"name": "c", "method": "api-key", "credentials": {"apiKey": "k"}}"#, "Checkly", "api-key")?;
/// assert_eq!(body.name.as_deref(), Some("c"));
/// let err = kms_sync_core::parse_app_connection::<Creds>(
///     r#"{"method": "oauth", "credentials": {"apiKey": "k"}}"#, "Checkly", "api-key").err().unwrap();
/// assert!(err.to_string().contains("method `oauth` is not supported; use `api-key`"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub fn parse_app_connection<C: DeserializeOwned>(
    json: &str,
    service: &str,
    method: &str,
) -> Result<AppConnectionBody<C>> {
    let body: AppConnectionBody<C> = parse_json(json, &format!("{service} connection"))?;
    if body.method != method {
        return Err(Error::config(format!(
            "{service} connection: method `{}` is not supported; use `{method}`",
            body.method
        )));
    }
    Ok(body)
}
