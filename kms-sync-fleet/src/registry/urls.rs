//! The URLs a connection names (any credential field whose
//! name ends in `url` or whose value is an `http(s)://` URL), checked against the
//! registry's [`UrlPolicy`](kms_sync_core::net::UrlPolicy) before anything is stored.

use kms_sync_core::net::UrlGuard;
use kms_sync_core::{Error, ErrorKind, Result};
use serde_json::{Map, Value};

/// Refuses credentials naming a URL the guard refuses (a host name is resolved now, and
/// again at connect time): the error names the field and the rule (the policy shows scheme,
/// host and port only, never userinfo, path or query).
pub(crate) async fn check_credential_urls(
    guard: &UrlGuard,
    credentials: &Map<String, Value>,
) -> Result<()> {
    let mut urls = Vec::new();
    collect("credentials", credentials, &mut urls);
    for (field, text) in urls {
        match guard.check(&text).await {
            Ok(_) => {}
            // A name that does not resolve now is checked when a worker connects.
            Err(e) if e.kind() == ErrorKind::Unavailable => {}
            Err(e) => return Err(Error::config(format!("{field}: {}", e.message()))),
        }
    }
    Ok(())
}

/// Every URL-valued field under `object`, with its path.
fn collect(at: &str, object: &Map<String, Value>, urls: &mut Vec<(String, String)>) {
    for (key, value) in object {
        let field = format!("{at}.{key}");
        match value {
            Value::String(text) if names_url(key, text) => urls.push((field, text.clone())),
            Value::Object(inner) => collect(&field, inner, urls),
            _ => {}
        }
    }
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
    use kms_sync_core::net::UrlPolicy;
    use serde_json::json;

    fn creds(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// Answers fixed addresses for every name.
    struct Fixed(Vec<std::net::IpAddr>);

    #[kms_sync_core::async_trait]
    impl kms_sync_core::net::Lookup for Fixed {
        async fn lookup(&self, _host: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
            Ok(self.0.clone())
        }
    }

    fn guard(addresses: &[&str]) -> UrlGuard {
        let addresses = addresses.iter().filter_map(|a| a.parse().ok()).collect();
        UrlGuard::with_lookup(
            UrlPolicy::public_only(),
            std::sync::Arc::new(Fixed(addresses)),
        )
    }

    #[tokio::test]
    async fn every_url_field_is_checked_and_never_echoed() {
        let public = guard(&["8.8.8.8"]);
        let ok = creds(json!({"instanceUrl": "https://acme.example.app", "apiKey": "API-123"}));
        assert!(check_credential_urls(&public, &ok).await.is_ok());
        for bad in [
            json!({"instanceUrl": "http://169.254.169.254/latest"}),
            json!({"baseURL": "https://10.0.0.1"}),
            json!({"endpoint": "https://127.0.0.1:5432"}),
            json!({"nested": {"homeUrl": "https://[::1]/"}}),
            json!({"instanceUrl": "https://admin:pw-s3cret@deploy.example.com"}),
        ] {
            let err = check_credential_urls(&public, &creds(bad.clone()))
                .await
                .expect_err("refused");
            let text = err.to_string();
            assert!(text.contains("credentials."), "{text}");
            assert!(
                !text.contains("pw-s3cret") && !text.contains("admin"),
                "{text}"
            );
        }
        let token = creds(json!({"apiKey": "not-a-url", "email": "u@example.com"}));
        assert!(check_credential_urls(&public, &token).await.is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_inside_is_refused_before_it_is_stored() {
        let inside = guard(&["8.8.8.8", "10.1.2.3"]);
        let named = creds(json!({"instanceUrl": "https://deploy.rebind.example"}));
        let err = check_credential_urls(&inside, &named)
            .await
            .expect_err("the second address is private");
        assert!(err.to_string().contains("private"), "{err}");
        assert!(!err.to_string().contains("10.1.2.3"), "{err}");
    }
}
