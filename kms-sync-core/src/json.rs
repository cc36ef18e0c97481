//! Parsing configuration JSON (the KMS's connection and sync bodies) with errors that point
//! at the problem without echoing a value.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parses `text` as `T`. Errors are [`Config`](crate::ErrorKind::Config) errors naming
/// `what`, where the problem is (the path to the field, such as
/// `destinationConfig.scopeValues.environments[0]`, and the line and column), and what it
/// is: syntax (a trailing comma, a missing quote), an unknown, missing or duplicate field,
/// an unknown variant. A value of the wrong type is reported without the value, which may be
/// a credential.
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
/// assert!(err.to_string().contains("at `token`"), "{err}");
/// ```
pub fn parse_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| config_error(what, &e.path().to_string(), e.inner()))?;
    // Trailing characters after the value, as `serde_json::from_str` refuses them.
    de.end().map_err(|e| config_error(what, ".", &e))?;
    Ok(value)
}

/// A [`parse_json`] error: `path` (serde_path_to_error's, `.` for the root) names field
/// names and indexes only; the serde message is kept only where it cannot hold a value.
fn config_error(what: &str, path: &str, e: &serde_json::Error) -> Error {
    let at = if path == "." {
        String::new()
    } else {
        format!(" at `{path}`")
    };
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
        Error::config(format!("invalid {what}{at}: {e}"))
    } else {
        Error::config(format!(
            "invalid {what}{at}: a value has the wrong type or form at line {}, column {}",
            e.line(),
            e.column()
        ))
    }
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
    /// Whether the KMS manages (rotates) the credentials itself; accepted as the KMS does,
    /// with no effect here.
    #[serde(default)]
    pub is_platform_managed_credentials: Option<bool>,
    /// A KMS gateway to reach the service through; accepted as the KMS does. kms-sync talks
    /// to the service directly.
    #[serde(default)]
    pub gateway_id: Option<String>,
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
/// assert!(err.to_string().contains("the method is not supported; use `api-key`"));
/// assert!(!err.to_string().contains("oauth"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub fn parse_app_connection<C: DeserializeOwned>(
    json: &str,
    service: &str,
    method: &str,
) -> Result<AppConnectionBody<C>> {
    let body: AppConnectionBody<C> = parse_json(json, &format!("{service} connection"))?;
    if body.method != method {
        // The method given is not echoed: a field pasted by mistake could hold a token.
        return Err(Error::config(format!(
            "{service} connection: the method is not supported; use `{method}`"
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        destination_config: Config,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Config {
        #[allow(dead_code)]
        scope_values: Scope,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scope {
        #[allow(dead_code)]
        environments: Vec<String>,
    }

    fn message(json: &str) -> String {
        parse_json::<Body>(json, "sync definition")
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_nested_value_of_the_wrong_type_is_located_by_its_path_but_not_shown() {
        let err = message(
            r#"{"destinationConfig": {"scopeValues": {"environments": [123456789, "prod"]}}}"#,
        );
        assert!(
            err.contains("at `destinationConfig.scopeValues.environments[0]`"),
            "{err}"
        );
        assert!(err.contains("line 1, column"), "{err}");
        assert!(!err.contains("123456789"), "the value is not echoed: {err}");

        let err = message(
            r#"{"destinationConfig": {"scopeValues": {"environments": ["dev", {"s3cret": true}]}}}"#,
        );
        assert!(
            err.contains("destinationConfig.scopeValues.environments[1]"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "the value is not echoed: {err}");
    }

    #[test]
    fn nested_field_problems_name_the_path_and_the_field() {
        let err = message(r#"{"destinationConfig": {"scopeValues": {"environment": ["dev"]}}}"#);
        assert!(err.contains("destinationConfig.scopeValues"), "{err}");
        assert!(err.contains("unknown field `environment`"), "{err}");
        let err = message(r#"{"destinationConfig": {"scopeValues": {}}}"#);
        assert!(err.contains("at `destinationConfig.scopeValues`"), "{err}");
        assert!(err.contains("missing field `environments`"), "{err}");
    }

    #[test]
    fn syntax_errors_and_trailing_characters_are_still_refused() {
        let err = message(r#"{"destinationConfig": {"scopeValues": {"environments": [],}}}"#);
        assert!(err.contains("trailing comma"), "{err}");
        let err = message(r#"{"destinationConfig": {"scopeValues": {"environments": []}}} x"#);
        assert!(err.contains("trailing characters"), "{err}");
        assert!(!err.contains(" at `"), "no path for the root: {err}");
    }

    #[test]
    fn raw_values_pass_through() -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            config: Box<serde_json::value::RawValue>,
        }
        let parsed: Wrapper = parse_json(r#"{"config": {"a": [1, 2]}}"#, "wrapper")?;
        assert_eq!(parsed.config.get(), r#"{"a": [1, 2]}"#);
        Ok(())
    }
}
