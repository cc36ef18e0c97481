//! The GitHub connection (credentials and instance), in the KMS's JSON shape.

use std::fmt;
use std::sync::Arc;

use kms_sync_core::{parse_json, AppConnectionBody, Error, Result};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::app_auth::AppKey;

/// GitHub.com's API.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";

/// `cloud` (GitHub.com, or GHE.com with data residency) or `server` (GitHub Enterprise
/// Server at `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum InstanceType {
    #[default]
    Cloud,
    Server,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatBody {
    personal_access_token: String,
    #[serde(default)]
    instance_type: Option<InstanceType>,
    #[serde(default)]
    host: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OauthBody {
    access_token: String,
    #[serde(default)]
    instance_type: Option<InstanceType>,
    #[serde(default)]
    host: Option<String>,
}

/// A number or its text (the KMS keeps ids as text; GitHub shows them as numbers).
#[derive(Deserialize)]
#[serde(untagged)]
enum IdText {
    Number(u64),
    Text(String),
}

impl IdText {
    fn into_text(self) -> String {
        match self {
            IdText::Number(n) => n.to_string(),
            IdText::Text(t) => t.trim().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AppBody {
    installation_id: IdText,
    app_id: IdText,
    private_key: String,
    #[serde(default)]
    instance_type: Option<InstanceType>,
    #[serde(default)]
    host: Option<String>,
}

/// How the connection authenticates.
#[derive(Clone)]
pub(crate) enum Credential {
    /// A token sent as is: a fine-grained (or classic) personal access token, or an OAuth
    /// access token.
    Token(SecretString),
    /// A GitHub App installation: a JWT signed with the App's key is exchanged for an
    /// installation token.
    App {
        app_id: String,
        installation_id: String,
        key: Arc<AppKey>,
    },
}

/// A GitHub connection: method `pat` (a fine-grained personal access token), `oauth` (an
/// access token the KMS obtained) or `github-app` (an App installation: the App's id and
/// private key mint installation tokens), on GitHub.com or a GitHub Enterprise Server.
///
/// ```
/// use kms_sync_github::GithubConnection;
/// let conn = GithubConnection::from_kms_json(r#"{
///     "name": "my-github",
///     "method": "pat",
///     "credentials": {"personalAccessToken": "github_pat_example", "instanceType": "server", "host": "git.example.com"}
/// }"#)?;
/// assert_eq!(conn.method(), "pat");
/// assert_eq!(conn.base_url(), "https://git.example.com/api/v3");
/// assert!(!format!("{conn:?}").contains("github_pat_example"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct GithubConnection {
    name: Option<String>,
    method: &'static str,
    credential: Credential,
    base_url: String,
}

impl GithubConnection {
    /// A connection with a personal access token, on GitHub.com.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) if the token is empty.
    pub fn pat(token: impl Into<String>) -> Result<Self> {
        let token = token.into().trim().to_owned();
        if token.is_empty() {
            return Err(Error::config(
                "GitHub connection: the personal access token is empty",
            ));
        }
        Ok(GithubConnection {
            name: None,
            method: "pat",
            credential: Credential::Token(SecretString::from(token)),
            base_url: DEFAULT_BASE_URL.to_owned(),
        })
    }

    /// A connection through a GitHub App installation, on GitHub.com: the App's id (or
    /// client id), the installation's id and the App's private key (PEM, PKCS#1 as GitHub
    /// issues it, or PKCS#8).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an empty id or a key that is not an
    /// RSA private key in PEM, never showing the key.
    pub fn app(
        app_id: impl Into<String>,
        installation_id: impl Into<String>,
        private_key_pem: &str,
    ) -> Result<Self> {
        let app_id = app_id.into().trim().to_owned();
        let installation_id = installation_id.into().trim().to_owned();
        check_id("appId", &app_id)?;
        check_id("installationId", &installation_id)?;
        if !installation_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::config(
                "GitHub connection: installationId must be a number",
            ));
        }
        let key = Arc::new(AppKey::from_pem(private_key_pem)?);
        Ok(GithubConnection {
            name: None,
            method: "github-app",
            credential: Credential::App {
                app_id,
                installation_id,
                key,
            },
            base_url: DEFAULT_BASE_URL.to_owned(),
        })
    }

    /// The same connection to GitHub Enterprise Server at `host` (`https://<host>/api/v3`).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for a host that is not a bare host name.
    pub fn on_server(mut self, host: &str) -> Result<Self> {
        self.base_url = api_base(Some(InstanceType::Server), Some(host))?;
        Ok(self)
    }

    /// Reads the KMS's connection body: `{"name", "method", "credentials"}` with method
    /// `pat` (`personalAccessToken`), `oauth` (`accessToken`) or `github-app`
    /// (`installationId`, plus `appId` and `privateKey`, which the KMS keeps in its server
    /// settings and a library needs here), each with optional `instanceType`
    /// (`cloud`/`server`) and `host`.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields, another
    /// method, or bad credentials — naming the problem, never echoing a secret.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body: AppConnectionBody<Box<RawValue>> = parse_json(json, "GitHub connection")?;
        let raw = body.credentials.get();
        let what = "GitHub connection credentials";
        let mut conn = match body.method.as_str() {
            "pat" => {
                let c: PatBody = parse_json(raw, what)?;
                let base = api_base(c.instance_type, c.host.as_deref())?;
                GithubConnection::pat(c.personal_access_token)?.at(base)
            }
            "oauth" => {
                let c: OauthBody = parse_json(raw, what)?;
                let base = api_base(c.instance_type, c.host.as_deref())?;
                let mut conn = GithubConnection::pat(c.access_token)?.at(base);
                conn.method = "oauth";
                conn
            }
            "github-app" => {
                let c: AppBody = parse_json(raw, what)?;
                let base = api_base(c.instance_type, c.host.as_deref())?;
                let (app, inst) = (c.app_id.into_text(), c.installation_id.into_text());
                GithubConnection::app(app, inst, &c.private_key)?.at(base)
            }
            _ => {
                return Err(Error::config(
                    "GitHub connection: the method is not supported; use `pat`, `oauth` or `github-app`",
                ))
            }
        };
        conn.name = body.name;
        Ok(conn)
    }

    fn at(mut self, base_url: String) -> Self {
        self.base_url = base_url;
        self
    }

    /// `pat`, `oauth` or `github-app`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The API base URL: [`DEFAULT_BASE_URL`], `https://api.<host>` for another cloud host,
    /// or `https://<host>/api/v3` for a server.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The connection's name, if it came from the KMS's JSON.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn credential(&self) -> &Credential {
        &self.credential
    }
}

impl fmt::Debug for GithubConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("GithubConnection");
        s.field("name", &self.name)
            .field("method", &self.method)
            .field("base_url", &self.base_url);
        match &self.credential {
            Credential::Token(_) => s.field("token", &"[REDACTED]"),
            Credential::App {
                app_id,
                installation_id,
                ..
            } => s
                .field("app_id", app_id)
                .field("installation_id", installation_id)
                .field("private_key", &"[REDACTED]"),
        };
        s.finish()
    }
}

fn check_id(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::config(format!(
            "GitHub connection: {field} must not be empty or contain spaces"
        )));
    }
    Ok(())
}

/// The API base for an instance type and host, as the KMS derives it.
fn api_base(instance: Option<InstanceType>, host: Option<&str>) -> Result<String> {
    let host = host.map(bare_host).transpose()?;
    match (instance.unwrap_or_default(), host) {
        (InstanceType::Server, None) => Err(Error::config(
            "GitHub connection: instanceType `server` needs `host`",
        )),
        (InstanceType::Server, Some(host)) => Ok(format!("https://{host}/api/v3")),
        (InstanceType::Cloud, None) => Ok(DEFAULT_BASE_URL.to_owned()),
        (InstanceType::Cloud, Some(host)) if host.eq_ignore_ascii_case("github.com") => {
            Ok(DEFAULT_BASE_URL.to_owned())
        }
        (InstanceType::Cloud, Some(host)) => Ok(format!("https://api.{host}")),
    }
}

/// A host name from `host`, `https://host` or `https://host/`.
fn bare_host(host: &str) -> Result<String> {
    let trimmed = host.trim();
    let bare = trimmed
        .strip_prefix("https://")
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    let bad = bare.is_empty()
        || bare.contains(['/', '@', '?', '#'])
        || bare.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        // Not echoed: a mistaken field could hold a token.
        return Err(Error::config(
            "GitHub connection: host must be a host name such as `github.example.com`",
        ));
    }
    Ok(bare.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_follow_the_instance() -> Result<()> {
        assert_eq!(api_base(None, None)?, "https://api.github.com");
        assert_eq!(
            api_base(Some(InstanceType::Cloud), Some("github.com"))?,
            "https://api.github.com"
        );
        assert_eq!(
            api_base(Some(InstanceType::Cloud), Some("octo.ghe.com"))?,
            "https://api.octo.ghe.com"
        );
        assert_eq!(
            api_base(Some(InstanceType::Server), Some("https://Git.Example.com/"))?,
            "https://git.example.com/api/v3"
        );
        for bad in ["", "a/b", "user@host", "a b"] {
            assert!(
                api_base(Some(InstanceType::Server), Some(bad)).is_err(),
                "{bad}"
            );
        }
        assert!(api_base(Some(InstanceType::Server), None).is_err());
        Ok(())
    }

    #[test]
    fn refusals_never_echo_a_secret() {
        let cases = [
            (
                r#"{"method":"api-token","credentials":{"personalAccessToken":"SECRET-TOKEN"}}"#,
                "the method is not supported",
            ),
            (
                r#"{"method":"SECRET-TOKEN","credentials":{"personalAccessToken":"x"}}"#,
                "the method is not supported",
            ),
            (
                r#"{"method":"pat","credentials":{"personalAccessToken":"SECRET-TOKEN","x":1}}"#,
                "unknown field `x`",
            ),
            (
                r#"{"method":"pat","credentials":{"personalAccessToken":""}}"#,
                "empty",
            ),
            (
                r#"{"method":"pat","credentials":{"personalAccessToken":"SECRET-TOKEN","instanceType":"server"}}"#,
                "needs `host`",
            ),
            (
                r#"{"method":"github-app","credentials":{"installationId":"1","appId":"2","privateKey":"SECRET-TOKEN"}}"#,
                "not an RSA private key",
            ),
            (
                r#"{"method":"oauth","credentials":{"accessToken":["SECRET-TOKEN"]}}"#,
                "wrong type",
            ),
        ];
        for (json, expected) in cases {
            let err = GithubConnection::from_kms_json(json).expect_err(json);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(expected), "{json}: {shown}");
            assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
        }
    }
}
