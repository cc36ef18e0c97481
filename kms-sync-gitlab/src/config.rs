//! The GitLab connection (credentials) in the KMS's JSON shape.
//!
//! The `destinationConfig` lives in [`crate::scope`].

use std::fmt;

use kms_sync_core::http::Auth;
use kms_sync_core::{parse_json, AppConnectionBody, Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

/// GitLab.com, the instance used when a connection names none.
///
/// ```
/// use kms_sync_gitlab::{AccessTokenType, GitlabConnection, GITLAB_COM};
/// let conn = GitlabConnection::access_token(None, "glpat-x", AccessTokenType::Personal)?;
/// assert_eq!(conn.instance_url(), GITLAB_COM);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub const GITLAB_COM: &str = "https://gitlab.com";

/// Which kind of access token a connection holds. Only informative: every kind is sent the
/// same way (`PRIVATE-TOKEN`), and GitLab decides what it may do.
///
/// ```
/// use kms_sync_gitlab::{AccessTokenType, GitlabConnection};
/// let conn = GitlabConnection::from_kms_json(r#"{"method": "access-token",
///     "credentials": {"accessToken": "glpat-x", "accessTokenType": "project"}}"#)?;
/// assert_eq!(conn.token_type(), Some(AccessTokenType::Project));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessTokenType {
    /// A personal access token (scope `api`).
    Personal,
    /// A project access token (scope `api`, role Maintainer or Owner).
    Project,
    /// A group access token (scope `api`; Owner for group variables). Not in the KMS's
    /// enum, which files group tokens under `project`; accepted here as well.
    Group,
}

/// How the connection authenticates.
#[derive(Clone)]
enum Credential {
    /// `PRIVATE-TOKEN: <token>` (personal, project and group access tokens).
    AccessToken(SecretString),
    /// `Authorization: Bearer <token>` (an OAuth access token the KMS obtained).
    OAuth(SecretString),
}

/// A GitLab connection: the instance URL (GitLab.com by default, or a self-managed
/// instance, with an optional relative URL root) and a token.
///
/// Methods, as the KMS names them:
/// - `access-token`: `accessToken`, `accessTokenType` (`personal`, `project`, or `group`),
///   optional `instanceUrl`; sent as `PRIVATE-TOKEN`.
/// - `oauth`: `accessToken` (plus the KMS's stored `refreshToken`, `expiresAt`,
///   `tokenType`, `createdAt`, accepted and unused: kms-sync does not refresh), optional
///   `instanceUrl`; sent as `Authorization: Bearer`.
///
/// A trailing `/` and a typed `/api/v4` are removed from the instance URL.
///
/// ```
/// use kms_sync_gitlab::GitlabConnection;
/// let conn = GitlabConnection::from_kms_json(r#"{
///     "name": "my-gitlab-connection", "method": "access-token",
///     "credentials": {"accessToken": "glpat-EXAMPLE", "accessTokenType": "personal",
///                     "instanceUrl": "https://gitlab.example.com/api/v4/"}
/// }"#)?;
/// assert_eq!(conn.instance_url(), "https://gitlab.example.com");
/// assert!(!format!("{conn:?}").contains("glpat-EXAMPLE"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct GitlabConnection {
    name: Option<String>,
    instance_url: String,
    token_type: Option<AccessTokenType>,
    credential: Credential,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccessTokenBody {
    access_token: String,
    access_token_type: AccessTokenType,
    #[serde(default)]
    instance_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OAuthBody {
    access_token: String,
    #[serde(default)]
    instance_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // The KMS stores it; kms-sync does not refresh tokens.
    refresh_token: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    expires_at: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    token_type: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    created_at: Option<Value>,
}

/// `https://host/root/api/v4/` → `https://host/root`.
pub(crate) fn normalize_instance_url(url: &str) -> String {
    let mut url = url.trim().trim_end_matches('/').to_owned();
    for suffix in ["/api/v4", "/api"] {
        if url.to_ascii_lowercase().ends_with(suffix) {
            url.truncate(url.len() - suffix.len());
            break;
        }
    }
    url.trim_end_matches('/').to_owned()
}

/// The host (lowercased), port and path of an instance URL, without scheme or user info:
/// what a ledger's identity names.
pub(crate) fn instance_of(url: &str) -> String {
    let url = normalize_instance_url(url);
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_ascii_lowercase();
    if path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
    }
}

fn checked_token(token: String) -> Result<SecretString> {
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Error::config(
            "GitLab connection: the access token is empty",
        ));
    }
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::config(
            "GitLab connection: the access token contains whitespace or a control character",
        ));
    }
    Ok(SecretString::from(token))
}

fn checked_url(instance_url: Option<String>) -> Result<String> {
    let url = normalize_instance_url(instance_url.as_deref().unwrap_or(GITLAB_COM));
    if url.is_empty() {
        return Err(Error::config("GitLab connection: instanceUrl is empty"));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        // Not echoed: a mistaken field could hold a token.
        return Err(Error::config(
            "GitLab connection: instanceUrl must start with https://",
        ));
    }
    if has_user_info(&url) {
        // Not echoed: a pasted clone URL carries its token there.
        return Err(Error::config(
            "GitLab connection: instanceUrl must not carry a user or password (`user:token@`); put the token in accessToken",
        ));
    }
    Ok(url)
}

/// Whether the authority of an `http(s)://` URL holds `user@` or `user:password@`.
fn has_user_info(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

impl GitlabConnection {
    /// A connection with an access token (personal, project or group) to `instance_url`
    /// (`None`: GitLab.com). The URL's scheme and host are checked again when a destination
    /// is built (`http://` only for loopback unless allowed).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an empty token or a URL that is not
    /// `http(s)://`.
    pub fn access_token(
        instance_url: Option<&str>,
        token: impl Into<String>,
        token_type: AccessTokenType,
    ) -> Result<Self> {
        Ok(GitlabConnection {
            name: None,
            instance_url: checked_url(instance_url.map(str::to_owned))?,
            token_type: Some(token_type),
            credential: Credential::AccessToken(checked_token(token.into())?),
        })
    }

    /// A connection with an OAuth access token, sent as `Authorization: Bearer`.
    ///
    /// # Errors
    ///
    /// As [`access_token`](Self::access_token).
    pub fn oauth(instance_url: Option<&str>, token: impl Into<String>) -> Result<Self> {
        Ok(GitlabConnection {
            name: None,
            instance_url: checked_url(instance_url.map(str::to_owned))?,
            token_type: None,
            credential: Credential::OAuth(checked_token(token.into())?),
        })
    }

    /// Reads the KMS's connection body: `{"name", "method": "access-token" | "oauth",
    /// "credentials": {…}}` (plus optional `description`, `projectId`, `gatewayId`).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields, another
    /// method or bad credentials — naming the problem, never echoing the token.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body: AppConnectionBody<Value> = parse_json(json, "GitLab connection")?;
        let credentials = body.credentials.to_string();
        let mut conn = match body.method.as_str() {
            "access-token" => {
                let c: AccessTokenBody = parse_json(&credentials, "GitLab connection credentials")?;
                GitlabConnection::access_token(
                    c.instance_url.as_deref(),
                    c.access_token,
                    c.access_token_type,
                )?
            }
            "oauth" => {
                let c: OAuthBody = parse_json(&credentials, "GitLab connection credentials")?;
                GitlabConnection::oauth(c.instance_url.as_deref(), c.access_token)?
            }
            _ => {
                return Err(Error::config(
                    "GitLab connection: the method is not supported; use `access-token` or `oauth`",
                ))
            }
        };
        conn.name = body.name;
        Ok(conn)
    }

    /// The instance URL, normalised (no trailing `/`, no `/api/v4`).
    pub fn instance_url(&self) -> &str {
        &self.instance_url
    }

    /// The access token's kind, for `access-token` connections.
    pub fn token_type(&self) -> Option<AccessTokenType> {
        self.token_type
    }

    /// The connection's name, if it came from the KMS's JSON.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn auth(&self) -> Auth {
        match &self.credential {
            Credential::AccessToken(token) => Auth::header("PRIVATE-TOKEN", token.expose_secret()),
            Credential::OAuth(token) => Auth::bearer(token.expose_secret()),
        }
    }
}

impl fmt::Debug for GitlabConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self.credential {
            Credential::AccessToken(_) => "access-token",
            Credential::OAuth(_) => "oauth",
        };
        f.debug_struct("GitlabConnection")
            .field("name", &self.name)
            .field("instance_url", &self.instance_url)
            .field("method", &method)
            .field("token_type", &self.token_type)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_are_normalised() {
        assert_eq!(
            normalize_instance_url(" https://gitlab.example.com/api/v4/ "),
            "https://gitlab.example.com"
        );
        assert_eq!(
            normalize_instance_url("https://h.example/gitlab/"),
            "https://h.example/gitlab"
        );
        assert_eq!(
            instance_of("https://User@GitLab.Example.com:8443/root/api/v4"),
            "gitlab.example.com:8443/root"
        );
    }

    #[test]
    fn both_methods_read_and_default_to_gitlab_com() -> Result<()> {
        let conn = GitlabConnection::from_kms_json(
            r#"{"method": "oauth", "credentials": {"accessToken": " tok ", "refreshToken": "r", "expiresAt": "2030-01-01T00:00:00Z", "tokenType": "bearer"}}"#,
        )?;
        assert_eq!(conn.instance_url(), GITLAB_COM);
        assert_eq!(conn.token_type(), None);
        let conn = GitlabConnection::from_kms_json(
            r#"{"method": "access-token", "credentials": {"accessToken": "t", "accessTokenType": "group"}}"#,
        )?;
        assert_eq!(conn.token_type(), Some(AccessTokenType::Group));
        Ok(())
    }

    #[test]
    fn connection_refusals_never_echo_the_token() {
        let cases = [
            (
                r#"{"method": "api-key", "credentials": {"accessToken": "SECRET-TOKEN"}}"#,
                "the method is not supported",
            ),
            (
                r#"{"method": "SECRET-TOKEN", "credentials": {"accessToken": "x"}}"#,
                "the method is not supported",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": "SECRET-TOKEN"}}"#,
                "missing field `accessTokenType`",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": "", "accessTokenType": "personal"}}"#,
                "empty",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": "SECRET-TOKEN", "accessTokenType": "personal", "x": 1}}"#,
                "unknown field `x`",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": ["SECRET-TOKEN"], "accessTokenType": "personal"}}"#,
                "wrong type",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": "SECRET-TOKEN", "accessTokenType": "personal", "instanceUrl": "gitlab.example.com"}}"#,
                "https://",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": "x", "accessTokenType": "personal", "instanceUrl": "https://oauth2:SECRET-TOKEN@gitlab.example.com/group"}}"#,
                "must not carry a user or password",
            ),
            (
                r#"{"method": "access-token", "credentials": {"accessToken": "SECRET TOKEN", "accessTokenType": "personal"}}"#,
                "whitespace",
            ),
        ];
        for (json, expected) in cases {
            let err = GitlabConnection::from_kms_json(json).expect_err(json);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(expected), "{json}: {shown}");
            assert!(
                !shown.contains("SECRET-TOKEN") && !shown.contains("SECRET TOKEN"),
                "{shown}"
            );
        }
    }
}
