//! The URLs a connection names (Octopus Deploy's `instanceUrl`, any credential field whose
//! name ends in `url` or whose value is an `http(s)://` URL), checked against the
//! registry's [`UrlPolicy`](kms_sync_core::net::UrlPolicy) before anything is stored.

use kms_sync_core::net::UrlPolicy;
use kms_sync_core::{Error, Result};
use serde_json::{Map, Value};

/// Refuses credentials naming a URL the policy refuses: the error names the field and the
/// rule (the policy shows scheme, host and port only, never userinfo, path or query).
pub(crate) fn check_credential_urls(
    policy: &UrlPolicy,
    credentials: &Map<String, Value>,
) -> Result<()> {
    walk(policy, "credentials", credentials)
}

fn walk(policy: &UrlPolicy, at: &str, object: &Map<String, Value>) -> Result<()> {
    for (key, value) in object {
        let field = format!("{at}.{key}");
        match value {
            Value::String(text) if names_url(key, text) => {
                policy
                    .check_url_str(text)
                    .map_err(|e| Error::config(format!("{field}: {}", e.message())))?;
            }
            Value::Object(inner) => walk(policy, &field, inner)?,
            _ => {}
        }
    }
    Ok(())
}

/// Whether a credential field holds a URL: its name ends in `url`, or its value is an
/// `http://` or `https://` URL.
fn names_url(key: &str, text: &str) -> bool {
    let value = text
        .trim_start()
        .get(..8)
        .unwrap_or(text)
        .to_ascii_lowercase();
    key.to_ascii_lowercase().ends_with("url")
        || value.starts_with("http://")
        || value.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn creds(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_url_field_is_checked_and_never_echoed() {
        let policy = UrlPolicy::public_only();
        let ok = creds(json!({"instanceUrl": "https://acme.octopus.app", "apiKey": "API-123"}));
        assert!(check_credential_urls(&policy, &ok).is_ok());
        for bad in [
            json!({"instanceUrl": "http://169.254.169.254/latest"}),
            json!({"baseURL": "https://10.0.0.1"}),
            json!({"endpoint": "https://127.0.0.1:5432"}),
            json!({"nested": {"homeUrl": "https://[::1]/"}}),
            json!({"instanceUrl": "https://admin:pw-s3cret@octopus.example.com"}),
        ] {
            let err = check_credential_urls(&policy, &creds(bad.clone())).expect_err("refused");
            let text = err.to_string();
            assert!(text.contains("credentials."), "{text}");
            assert!(
                !text.contains("pw-s3cret") && !text.contains("admin"),
                "{text}"
            );
        }
        let token = creds(json!({"apiKey": "not-a-url", "email": "u@example.com"}));
        assert!(check_credential_urls(&policy, &token).is_ok());
    }
}
