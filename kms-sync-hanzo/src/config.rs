//! How the source authenticates and what it reads.

use std::fmt;

use kms_sync_core::{Error, Result};
use secrecy::SecretString;

/// The documentation's KMS host; any Infisical-compatible base URL works.
pub const DEFAULT_BASE_URL: &str = "https://app.kms.hanzo.ai";

/// How to authenticate to the KMS.
///
/// ```
/// use kms_sync_hanzo::KmsAuth;
/// let auth = KmsAuth::universal("6f1c-client-id", "client-secret-value");
/// assert!(!format!("{auth:?}").contains("client-secret-value"));
/// ```
#[derive(Clone)]
pub enum KmsAuth {
    /// Machine identity Universal Auth: the access token is obtained, renewed before it
    /// expires, and obtained again when renewal is no longer possible.
    Universal {
        /// The identity's client id.
        client_id: String,
        /// The client secret.
        client_secret: SecretString,
    },
    /// A ready access token, used as is and never renewed.
    AccessToken(SecretString),
}

impl KmsAuth {
    /// Universal Auth with a client id and secret.
    pub fn universal(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        KmsAuth::Universal {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// A ready access token.
    pub fn access_token(token: impl Into<String>) -> Self {
        KmsAuth::AccessToken(SecretString::from(token.into()))
    }
}

impl fmt::Debug for KmsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KmsAuth::Universal { client_id, .. } => {
                write!(f, "KmsAuth::Universal({client_id}, [REDACTED])")
            }
            KmsAuth::AccessToken(_) => f.write_str("KmsAuth::AccessToken([REDACTED])"),
        }
    }
}

/// Which project: by id or by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    /// The project's id (`workspaceId`).
    Id(String),
    /// The project's slug (`workspaceSlug`).
    Slug(String),
}

/// What the source reads: a project's environment and folder path.
///
/// ```
/// use kms_sync_hanzo::{KmsLocation, ProjectRef};
/// let at = KmsLocation::new(ProjectRef::Slug("backend".into()), "prod", "/payments/")?;
/// assert_eq!(at.secret_path(), "/payments");
/// assert_eq!(at.to_string(), "hanzo:backend:prod:/payments");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsLocation {
    project: ProjectRef,
    environment: String,
    secret_path: String,
}

impl KmsLocation {
    /// A location; the path is normalised (leading `/`, no trailing `/`).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an empty project or environment.
    pub fn new(
        project: ProjectRef,
        environment: impl Into<String>,
        secret_path: impl Into<String>,
    ) -> Result<Self> {
        let environment = environment.into();
        let project_text = match &project {
            ProjectRef::Id(s) | ProjectRef::Slug(s) => s.clone(),
        };
        if project_text.trim().is_empty() {
            return Err(Error::config("KMS source: the project is empty"));
        }
        if environment.trim().is_empty() {
            return Err(Error::config("KMS source: the environment slug is empty"));
        }
        let path = secret_path.into();
        let trimmed = path.trim().trim_matches('/');
        Ok(KmsLocation {
            project,
            environment,
            secret_path: format!("/{trimmed}"),
        })
    }

    /// The project.
    pub fn project(&self) -> &ProjectRef {
        &self.project
    }

    /// The environment slug.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The folder path.
    pub fn secret_path(&self) -> &str {
        &self.secret_path
    }
}

impl fmt::Display for KmsLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let project = match &self.project {
            ProjectRef::Id(s) | ProjectRef::Slug(s) => s,
        };
        write!(
            f,
            "hanzo:{project}:{}:{}",
            self.environment, self.secret_path
        )
    }
}
