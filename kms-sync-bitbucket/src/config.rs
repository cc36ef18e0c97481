//! The Bitbucket connection (credentials) and destination config, in the KMS's JSON shapes.

use std::fmt;

use kms_sync_core::{parse_app_connection, parse_json, DestinationIdentity, Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The API-token scopes a Bitbucket sync needs.
pub const REQUIRED_SCOPES: [&str; 3] = [
    "read:pipeline:bitbucket",
    "admin:pipeline:bitbucket",
    "read:user:bitbucket",
];

/// The scopes the KMS's Bitbucket connection guide tells users to grant a token for secret
/// syncs (a superset of [`REQUIRED_SCOPES`]): what a tool names when a token is refused, so a
/// token made by the KMS's guide and one made for kms-sync alone both work.
pub const KMS_DOCUMENTED_SCOPES: [&str; 7] = [
    "read:workspace:bitbucket",
    "admin:workspace:bitbucket",
    "read:user:bitbucket",
    "read:repository:bitbucket",
    "read:pipeline:bitbucket",
    "write:pipeline:bitbucket",
    "admin:pipeline:bitbucket",
];

/// The KMS's limit on the email and the API token.
const MAX_CREDENTIAL_LEN: usize = 255;

/// A Bitbucket connection: method `api-token` — an Atlassian account email and an API token,
/// sent as HTTP Basic.
///
/// ```
/// use kms_sync_bitbucket::BitbucketConnection;
/// let conn = BitbucketConnection::from_kms_json(r#"{
///     "name": "my-bitbucket-connection",
///     "method": "api-token",
///     "credentials": {"email": "user@example.com", "apiToken": "ATATT-example"}
/// }"#)?;
/// assert_eq!(conn.email(), "user@example.com");
/// assert!(!format!("{conn:?}").contains("ATATT"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct BitbucketConnection {
    name: Option<String>,
    email: String,
    api_token: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsBody {
    email: String,
    api_token: String,
}

impl BitbucketConnection {
    /// A connection from an email and an API token.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) if the email is not an email or the token is empty.
    ///
    /// Both are trimmed, as the KMS trims them before storing.
    pub fn new(email: impl Into<String>, api_token: impl Into<String>) -> Result<Self> {
        let email = email.into().trim().to_owned();
        let api_token = SecretString::from(api_token.into().trim().to_owned());
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            // Not echoed: a field swapped by mistake would put the API token here.
            return Err(Error::config(
                "Bitbucket connection: `email` is not an Atlassian account email (API tokens authenticate with the account's email)",
            ));
        }
        if email.chars().count() > MAX_CREDENTIAL_LEN {
            return Err(Error::config(format!(
                "Bitbucket connection: the email is longer than {MAX_CREDENTIAL_LEN} characters"
            )));
        }
        if api_token.expose_secret().is_empty() {
            return Err(Error::config(
                "Bitbucket connection: the API token is empty",
            ));
        }
        if api_token.expose_secret().chars().count() > MAX_CREDENTIAL_LEN {
            return Err(Error::config(format!(
                "Bitbucket connection: the API token is longer than {MAX_CREDENTIAL_LEN} characters"
            )));
        }
        Ok(BitbucketConnection {
            name: None,
            email,
            api_token,
        })
    }

    /// Reads the KMS's connection body: `{"name", "method": "api-token", "credentials":
    /// {"email", "apiToken"}}` (plus optional `description`, `projectId`).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields, another method,
    /// or bad credentials — pointing at the problem, never echoing the token.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body = parse_app_connection::<CredentialsBody>(json, "Bitbucket", "api-token")?;
        let mut conn =
            BitbucketConnection::new(body.credentials.email, body.credentials.api_token)?;
        conn.name = body.name;
        Ok(conn)
    }

    /// The account email.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The connection's name, if it came from the KMS's JSON.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn auth(&self) -> kms_sync_core::http::Auth {
        kms_sync_core::http::Auth::basic(self.email.clone(), self.api_token.expose_secret())
    }
}

impl fmt::Debug for BitbucketConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BitbucketConnection")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("api_token", &"[REDACTED]")
            .finish()
    }
}

/// Where in Bitbucket to sync: a repository's variables, or one deployment environment's.
///
/// The KMS's `destinationConfig`:
///
/// | field | type | |
/// |---|---|---|
/// | `workspaceSlug` | string | required: a slug or `{uuid}`, no `/` or spaces |
/// | `repositorySlug` | string | required: a slug or `{uuid}`, no `/` or spaces |
/// | `environmentId` | string | optional: a deployment environment's UUID, braces optional |
/// | `environment` | string | optional, **not in the KMS's schema**: a deployment environment's name or slug, resolved through the repository's environments list; not with `environmentId` |
///
/// Unknown fields are refused (the KMS drops them silently; here a typo is an error).
///
/// ```
/// use kms_sync_bitbucket::BitbucketConfig;
/// let repo = BitbucketConfig::from_kms_json(r#"{"workspaceSlug": "acme", "repositorySlug": "api"}"#)?;
/// assert_eq!(repo.target(), "acme/api");
/// let env = BitbucketConfig::repository("acme", "api").with_environment("Production");
/// assert_eq!(env.target(), "acme/api/Production");
/// let err = BitbucketConfig::from_kms_json(r#"{"workspaceSlug": "acme", "repoSlug": "api"}"#).unwrap_err();
/// assert!(err.to_string().contains("unknown field `repoSlug`"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BitbucketConfig {
    workspace_slug: String,
    repository_slug: String,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

/// Which deployment environment, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvironmentRef {
    /// A UUID with braces, lowercase.
    Uuid(String),
    /// A name or slug to resolve.
    Name(String),
}

impl BitbucketConfig {
    /// Repository variables of `workspace/repository` (slugs or `{uuid}`s).
    pub fn repository(workspace: impl Into<String>, repository: impl Into<String>) -> Self {
        BitbucketConfig {
            workspace_slug: workspace.into(),
            repository_slug: repository.into(),
            environment_id: None,
            environment: None,
        }
    }

    /// Variables of the deployment environment with this UUID (braces optional).
    pub fn with_environment_id(mut self, uuid: impl Into<String>) -> Self {
        self.environment_id = Some(uuid.into());
        self.environment = None;
        self
    }

    /// Variables of the deployment environment with this name or slug.
    pub fn with_environment(mut self, name_or_slug: impl Into<String>) -> Self {
        self.environment = Some(name_or_slug.into());
        self.environment_id = None;
        self
    }

    /// Reads the KMS's `destinationConfig` and validates it.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields or bad values.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let config: BitbucketConfig = parse_json(json, "Bitbucket destinationConfig")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the slugs and the environment reference.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) naming the bad field.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("workspaceSlug", &self.workspace_slug),
            ("repositorySlug", &self.repository_slug),
        ] {
            if value.is_empty() || value.contains('/') || value.chars().any(char::is_whitespace) {
                return Err(Error::config(format!(
                    "Bitbucket destinationConfig.{field} `{value}` must be a slug or {{uuid}}: not empty, no `/` or spaces"
                )));
            }
        }
        if self.environment_id.is_some() && self.environment.is_some() {
            return Err(Error::config(
                "Bitbucket destinationConfig: give environmentId or environment, not both",
            ));
        }
        if let Some(id) = &self.environment_id {
            if normalize_uuid(id).is_none() {
                return Err(Error::config(format!(
                    "Bitbucket destinationConfig.environmentId `{id}` is not a UUID; use `environment` for a name or slug"
                )));
            }
        }
        if self
            .environment
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            return Err(Error::config(
                "Bitbucket destinationConfig.environment is empty",
            ));
        }
        Ok(())
    }

    /// The workspace slug.
    pub fn workspace(&self) -> &str {
        &self.workspace_slug
    }

    /// The repository slug.
    pub fn repository_slug(&self) -> &str {
        &self.repository_slug
    }

    /// `workspace/repository[/environment]`.
    pub fn target(&self) -> String {
        let base = format!("{}/{}", self.workspace_slug, self.repository_slug);
        match (&self.environment_id, &self.environment) {
            (Some(id), _) => format!(
                "{base}/{}",
                normalize_uuid(id).unwrap_or_else(|| id.clone())
            ),
            (None, Some(name)) => format!("{base}/{name}"),
            (None, None) => base,
        }
    }

    /// Which Bitbucket scope this config picks, value-free: what a ledger is bound to.
    /// `bitbucket:workspace=<slug>,repository=<slug>` (slugs lowercased: Bitbucket reads them
    /// regardless of case), with `,environment=<{uuid}>` for a deployment environment given
    /// by id or `,environment-name=<name>` for one given by name only.
    ///
    /// ```
    /// use kms_sync_bitbucket::BitbucketConfig;
    /// let config = BitbucketConfig::repository("Acme", "api");
    /// assert_eq!(config.identity().to_string(), "bitbucket:workspace=acme,repository=api");
    /// ```
    pub fn identity(&self) -> DestinationIdentity {
        let identity = DestinationIdentity::new("bitbucket")
            .with("workspace", self.workspace_slug.trim().to_ascii_lowercase())
            .with(
                "repository",
                self.repository_slug.trim().to_ascii_lowercase(),
            );
        match self.environment_ref() {
            None => identity,
            Some(EnvironmentRef::Uuid(uuid)) => identity.with("environment", uuid),
            Some(EnvironmentRef::Name(name)) => identity.with("environment-name", name.trim()),
        }
    }

    pub(crate) fn environment_ref(&self) -> Option<EnvironmentRef> {
        match (&self.environment_id, &self.environment) {
            (Some(id), _) => normalize_uuid(id).map(EnvironmentRef::Uuid),
            (None, Some(name)) => Some(EnvironmentRef::Name(name.clone())),
            (None, None) => None,
        }
    }
}

/// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` in lowercase (Bitbucket's braced form), from a
/// UUID in any form the `uuid` crate reads: with or without braces or hyphens, or a
/// `urn:uuid:` URN.
pub(crate) fn normalize_uuid(text: &str) -> Option<String> {
    uuid::Uuid::try_parse(text.trim())
        .ok()
        .map(|id| id.braced().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_with_or_without_braces() {
        let want = Some("{0a1b2c3d-0000-4000-8000-00000000abcd}".to_owned());
        assert_eq!(normalize_uuid("0A1B2C3D-0000-4000-8000-00000000ABCD"), want);
        assert_eq!(
            normalize_uuid("{0a1b2c3d-0000-4000-8000-00000000abcd}"),
            want
        );
        assert_eq!(normalize_uuid(" 0a1b2c3d00004000800000000000abcd "), want);
        assert_eq!(
            normalize_uuid("urn:uuid:0a1b2c3d-0000-4000-8000-00000000abcd"),
            want
        );
        assert_eq!(normalize_uuid("production"), None);
        assert_eq!(normalize_uuid("{0a1b2c3d-0000-4000-8000}"), None);
        assert_eq!(
            normalize_uuid("{0a1b2c3d-0000-4000-8000-00000000abcd"),
            None
        );
        assert_eq!(normalize_uuid("0a1b2c3d-0000-4000-8000-00000000abcg"), None);
        assert_eq!(normalize_uuid(""), None);
    }

    #[test]
    fn config_refusals_name_the_field() {
        let cases = [
            (
                r#"{"workspaceSlug": "", "repositorySlug": "api"}"#,
                "workspaceSlug",
            ),
            (
                r#"{"workspaceSlug": "acme", "repositorySlug": "a/b"}"#,
                "repositorySlug",
            ),
            (
                r#"{"workspaceSlug": "acme", "repositorySlug": "api", "environmentId": "prod"}"#,
                "not a UUID",
            ),
            (
                r#"{"workspaceSlug": "acme", "repositorySlug": "api", "environmentId": "{0a1b2c3d-0000-4000-8000-00000000abcd}", "environment": "x"}"#,
                "not both",
            ),
            (
                r#"{"workspaceSlug": "acme", "repositorySlug": "api",}"#,
                "trailing comma",
            ),
            (
                r#"{"workspaceSlug": "acme"}"#,
                "missing field `repositorySlug`",
            ),
        ];
        for (json, expected) in cases {
            let err = BitbucketConfig::from_kms_json(json).expect_err(json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn credentials_are_trimmed_as_the_kms_trims_them() -> Result<()> {
        let conn = BitbucketConnection::from_kms_json(
            r#"{"method": "api-token", "credentials": {"email": " user@example.com ", "apiToken": " ATATT-x\n"}}"#,
        )?;
        assert_eq!(conn.email(), "user@example.com");
        assert_eq!(conn.api_token.expose_secret(), "ATATT-x");
        let long = "t".repeat(256);
        let err = BitbucketConnection::new("user@example.com", long).expect_err("too long");
        assert!(err.to_string().contains("longer than 255"), "{err}");
        Ok(())
    }

    #[test]
    fn connection_refusals_never_echo_the_token() {
        let cases = [
            (
                r#"{"method": "oauth", "credentials": {"email": "a@b.c", "apiToken": "SECRET-TOKEN"}}"#,
                "the method is not supported; use `api-token`",
            ),
            (
                // A token pasted into `method` is not echoed either.
                r#"{"method": "SECRET-TOKEN", "credentials": {"email": "a@b.c", "apiToken": "x"}}"#,
                "the method is not supported",
            ),
            (
                r#"{"method": "api-token", "credentials": {"email": "nobody", "apiToken": "SECRET-TOKEN"}}"#,
                "not an Atlassian account email",
            ),
            (
                // The fields swapped: the token in `email` is not echoed.
                r#"{"method": "api-token", "credentials": {"email": "SECRET-TOKEN", "apiToken": "a@b.c"}}"#,
                "not an Atlassian account email",
            ),
            (
                r#"{"method": "api-token", "credentials": {"email": "a@b.c", "apiToken": ""}}"#,
                "empty",
            ),
            (
                r#"{"method": "api-token", "credentials": {"email": "a@b.c", "apiToken": "SECRET-TOKEN", "x": 1}}"#,
                "unknown field `x`",
            ),
            (
                r#"{"method": "api-token", "credentials": {"email": "a@b.c", "apiToken": ["SECRET-TOKEN"]}}"#,
                "wrong type",
            ),
        ];
        for (json, expected) in cases {
            let err = BitbucketConnection::from_kms_json(json).expect_err(json);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(expected), "{json}: {shown}");
            assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
        }
    }
}
