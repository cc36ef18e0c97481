//! The KMS's app-connection body, kept whole and secret until a destination reads it.

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::json::{parse_json, AppConnectionBody};

/// An app connection as the KMS's create-connection request body describes it:
/// `{"name", "description"?, "projectId"?, "method", "credentials"}`. The envelope is checked
/// here; the credentials are read by the destination's factory when a destination is built.
/// The body is kept in a [`SecretString`] and never shown by `Debug`.
///
/// ```
/// use kms_sync_core::AppConnectionDefinition;
/// let conn = AppConnectionDefinition::from_json(r#"{"name": "bb", "method": "api-token",
///     "credentials": {"email": "user@example.com", "apiToken": "ATATT-secret"}}"#)?;
/// assert_eq!(conn.method(), "api-token");
/// assert!(!format!("{conn:?}").contains("ATATT"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub struct AppConnectionDefinition {
    name: Option<String>,
    description: Option<String>,
    project_id: Option<String>,
    method: String,
    body: SecretString,
}

impl AppConnectionDefinition {
    /// Parses and checks the envelope.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) pointing at the problem (invalid JSON, an
    /// unknown or missing field, credentials that are not an object), never echoing a
    /// credential.
    pub fn from_json(json: &str) -> Result<Self> {
        let envelope: AppConnectionBody<serde_json::Value> = parse_json(json, "app connection")?;
        if !envelope.credentials.is_object() {
            return Err(Error::config(
                "app connection: `credentials` must be an object",
            ));
        }
        Ok(AppConnectionDefinition {
            name: envelope.name,
            description: envelope.description,
            project_id: envelope.project_id,
            method: envelope.method,
            body: SecretString::from(json.to_owned()),
        })
    }

    /// The connection's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The KMS project it belongs to.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The authentication method, e.g. `api-token`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The whole body as given, credentials included: for a destination's factory to parse
    /// with its own credentials type. Never log or show it.
    pub fn expose_json(&self) -> &str {
        self.body.expose_secret()
    }
}

impl std::fmt::Debug for AppConnectionDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConnectionDefinition")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("credentials", &"[REDACTED]")
            .finish()
    }
}
