//! The Octopus connection (instance URL + API key) and destination config, in the KMS's
//! JSON shapes.

use std::fmt;

use kms_sync_core::{parse_app_connection, parse_json, Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

/// An Octopus Deploy connection: method `api-key` — the instance URL (Octopus Cloud or
/// self-hosted, with an optional virtual directory) and an API key sent as
/// `X-Octopus-ApiKey`. A trailing `/` and a typed `/api` are removed from the URL.
///
/// ```
/// use kms_sync_octopus::OctopusConnection;
/// let conn = OctopusConnection::from_kms_json(r#"{
///     "name": "my-octopus-connection", "method": "api-key",
///     "credentials": {"instanceUrl": "https://acme.octopus.app/api/", "apiKey": "API-EXAMPLE"}
/// }"#)?;
/// assert_eq!(conn.instance_url(), "https://acme.octopus.app");
/// assert!(!format!("{conn:?}").contains("API-EXAMPLE"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct OctopusConnection {
    name: Option<String>,
    instance_url: String,
    api_key: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsBody {
    instance_url: String,
    api_key: String,
}

/// `https://host/dir/api/` → `https://host/dir`.
pub(crate) fn normalize_instance_url(url: &str) -> String {
    let mut url = url.trim().trim_end_matches('/').to_owned();
    if url.to_ascii_lowercase().ends_with("/api") {
        url.truncate(url.len() - 4);
    }
    url.trim_end_matches('/').to_owned()
}

impl OctopusConnection {
    /// A connection from an instance URL and an API key. The URL's scheme and host are
    /// checked when the destination is built (`http://` only for loopback unless allowed).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an empty URL or key.
    pub fn new(instance_url: impl Into<String>, api_key: impl Into<String>) -> Result<Self> {
        let instance_url = normalize_instance_url(&instance_url.into());
        let api_key = api_key.into();
        if instance_url.is_empty() {
            return Err(Error::config(
                "Octopus connection: the instance URL is empty",
            ));
        }
        if api_key.trim().is_empty() {
            return Err(Error::config("Octopus connection: the API key is empty"));
        }
        Ok(OctopusConnection {
            name: None,
            instance_url,
            api_key: SecretString::from(api_key),
        })
    }

    /// Reads the KMS's connection body: `{"name", "method": "api-key", "credentials":
    /// {"instanceUrl", "apiKey"}}`.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields, another method,
    /// or bad credentials — never echoing the key.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body = parse_app_connection::<CredentialsBody>(json, "Octopus Deploy", "api-key")?;
        let mut conn =
            OctopusConnection::new(body.credentials.instance_url, body.credentials.api_key)?;
        conn.name = body.name;
        Ok(conn)
    }

    /// The instance URL, normalised.
    pub fn instance_url(&self) -> &str {
        &self.instance_url
    }

    pub(crate) fn auth(&self) -> kms_sync_core::http::Auth {
        kms_sync_core::http::Auth::header("X-Octopus-ApiKey", self.api_key.expose_secret())
    }
}

impl fmt::Debug for OctopusConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OctopusConnection")
            .field("name", &self.name)
            .field("instance_url", &self.instance_url)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

/// The scope values a sync's variables carry: ids of environments, target roles (tags),
/// machines (targets), processes, actions (steps) and channels. Empty means unscoped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeValues {
    /// Environment ids, e.g. `Environments-1`.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Target roles (tags); the id is the role's name.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Deployment target ids, e.g. `Machines-3`.
    #[serde(default)]
    pub machines: Vec<String>,
    /// Process ids (the project's deployment process or runbooks).
    #[serde(default)]
    pub processes: Vec<String>,
    /// Deployment step (action) ids.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Channel ids, e.g. `Channels-1`.
    #[serde(default)]
    pub channels: Vec<String>,
}

/// The scope keys as a variable's `Scope` object names them, with our field for each and the
/// plural name under `ScopeValues`.
pub(crate) const SCOPE_KEYS: [(&str, &str); 6] = [
    ("Environment", "Environments"),
    ("Role", "Roles"),
    ("Machine", "Machines"),
    ("ProcessOwner", "Processes"),
    ("Action", "Actions"),
    ("Channel", "Channels"),
];

impl ScopeValues {
    fn list(&self, singular: &str) -> &[String] {
        match singular {
            "Environment" => &self.environments,
            "Role" => &self.roles,
            "Machine" => &self.machines,
            "ProcessOwner" => &self.processes,
            "Action" => &self.actions,
            _ => &self.channels,
        }
    }

    /// The normalised form: each scope key's ids, sorted and deduplicated, empty keys left out.
    pub(crate) fn normalized(&self) -> Vec<(&'static str, Vec<String>)> {
        SCOPE_KEYS
            .iter()
            .filter_map(|(singular, _)| {
                let mut ids: Vec<String> = self.list(singular).to_vec();
                ids.sort();
                ids.dedup();
                (!ids.is_empty()).then_some((*singular, ids))
            })
            .collect()
    }

    /// The `Scope` object Octopus expects on a variable.
    pub(crate) fn to_scope_json(&self) -> Value {
        let mut scope = serde_json::Map::new();
        for (key, ids) in self.normalized() {
            scope.insert(key.to_owned(), json!(ids));
        }
        Value::Object(scope)
    }

    /// Every configured id with its singular and plural scope names, for checking against a
    /// variable set's `ScopeValues`.
    pub(crate) fn ids(&self) -> Vec<(&'static str, &'static str, &str)> {
        SCOPE_KEYS
            .iter()
            .flat_map(|(singular, plural)| {
                self.list(singular)
                    .iter()
                    .map(move |id| (*singular, *plural, id.as_str()))
            })
            .collect()
    }
}

/// A variable's `Scope` object, normalised like [`ScopeValues::normalized`]; any other
/// non-empty scope key (tenant tags, …) is kept too, so such variables never match ours.
pub(crate) fn normalize_scope(scope: Option<&Value>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = scope
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| {
                    let mut ids: Vec<String> = v
                        .as_array()?
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect();
                    ids.sort();
                    ids.dedup();
                    (!ids.is_empty()).then(|| (k.clone(), ids))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Where in Octopus to sync: one project's variables with one scope.
///
/// The KMS's `destinationConfig`: `spaceId`, `scope: "project"`, `projectId`, optional
/// `scopeValues`. The space may also be given by name or slug, the project by slug or name;
/// both are resolved.
///
/// ```
/// use kms_sync_octopus::OctopusConfig;
/// let config = OctopusConfig::from_kms_json(r#"{
///     "spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-123",
///     "scopeValues": {"environments": ["Environments-1", "Environments-2"], "roles": ["web-server"], "channels": ["Channels-1"]}
/// }"#)?;
/// assert_eq!(config.target(), "Spaces-1/Projects-123 [Environment=Environments-1,Environments-2; Role=web-server; Channel=Channels-1]");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OctopusConfig {
    space_id: String,
    #[serde(default = "project_scope")]
    scope: String,
    project_id: String,
    #[serde(default)]
    scope_values: ScopeValues,
}

fn project_scope() -> String {
    "project".to_owned()
}

impl OctopusConfig {
    /// A project's unscoped variables.
    pub fn project(space: impl Into<String>, project: impl Into<String>) -> Self {
        OctopusConfig {
            space_id: space.into(),
            scope: project_scope(),
            project_id: project.into(),
            scope_values: ScopeValues::default(),
        }
    }

    /// Scopes the sync's variables.
    pub fn with_scope_values(mut self, scope_values: ScopeValues) -> Self {
        self.scope_values = scope_values;
        self
    }

    /// Reads the KMS's `destinationConfig` and validates it.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields or bad values.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let config: OctopusConfig = parse_json(json, "Octopus Deploy destinationConfig")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the fields.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if self.scope != "project" {
            return Err(Error::config(format!(
                "Octopus Deploy destinationConfig.scope `{}` is not supported; use `project`",
                self.scope
            )));
        }
        for (field, value) in [("spaceId", &self.space_id), ("projectId", &self.project_id)] {
            if value.trim().is_empty() || value.contains('/') {
                return Err(Error::config(format!(
                    "Octopus Deploy destinationConfig.{field} `{value}` must be an id, slug or name without `/`"
                )));
            }
        }
        if let Some((_, plural, _)) = self
            .scope_values
            .ids()
            .into_iter()
            .find(|(_, _, id)| id.trim().is_empty())
        {
            return Err(Error::config(format!(
                "Octopus Deploy destinationConfig.scopeValues.{} holds an empty id",
                plural.to_ascii_lowercase()
            )));
        }
        Ok(())
    }

    /// The space as configured.
    pub fn space(&self) -> &str {
        &self.space_id
    }

    /// The project as configured.
    pub fn project_ref(&self) -> &str {
        &self.project_id
    }

    /// The scope values.
    pub fn scope_values(&self) -> &ScopeValues {
        &self.scope_values
    }

    /// `space/project [scope]`.
    pub fn target(&self) -> String {
        let scope = self.scope_values.normalized();
        if scope.is_empty() {
            return format!("{}/{} [unscoped]", self.space_id, self.project_id);
        }
        let parts: Vec<String> = scope
            .iter()
            .map(|(k, ids)| format!("{k}={}", ids.join(",")))
            .collect();
        format!(
            "{}/{} [{}]",
            self.space_id,
            self.project_id,
            parts.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_are_normalised() {
        for (given, want) in [
            ("https://acme.octopus.app", "https://acme.octopus.app"),
            ("https://acme.octopus.app/", "https://acme.octopus.app"),
            ("https://acme.octopus.app/api", "https://acme.octopus.app"),
            ("https://acme.octopus.app/API/", "https://acme.octopus.app"),
            (
                "https://ci.example.com/octopus/api/",
                "https://ci.example.com/octopus",
            ),
            (
                " https://ci.example.com/octopus ",
                "https://ci.example.com/octopus",
            ),
        ] {
            assert_eq!(normalize_instance_url(given), want);
        }
    }

    #[test]
    fn scopes_compare_normalised() {
        let ours = ScopeValues {
            environments: vec![
                "Environments-2".into(),
                "Environments-1".into(),
                "Environments-1".into(),
            ],
            ..ScopeValues::default()
        };
        let theirs = json!({"Environment": ["Environments-1", "Environments-2"], "Role": []});
        let as_theirs = normalize_scope(Some(&theirs));
        let as_ours: Vec<(String, Vec<String>)> = ours
            .normalized()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(as_theirs, as_ours);
        let tenant = json!({"Environment": ["Environments-1", "Environments-2"], "TenantTag": ["Region/EU"]});
        assert_ne!(normalize_scope(Some(&tenant)), as_ours);
        assert!(normalize_scope(None).is_empty());
        assert!(normalize_scope(Some(&json!({}))).is_empty());
    }

    #[test]
    fn config_refusals_name_the_field() {
        let cases = [
            (
                r#"{"spaceId": "Spaces-1", "scope": "tenant", "projectId": "Projects-1"}"#,
                "`tenant` is not supported",
            ),
            (
                r#"{"spaceId": "", "scope": "project", "projectId": "Projects-1"}"#,
                "spaceId",
            ),
            (
                r#"{"spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-1", "scopeValues": {"tenants": ["x"]}}"#,
                "unknown field `tenants`",
            ),
            (
                r#"{"spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-1", "scopeValues": {"roles": [""]}}"#,
                "scopeValues.roles",
            ),
            (
                r#"{"spaceId": "Spaces-1", "projectId": "Projects-1",}"#,
                "trailing comma",
            ),
        ];
        for (json, expected) in cases {
            let err = OctopusConfig::from_kms_json(json).expect_err(json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
        let err = OctopusConnection::from_kms_json(r#"{"method": "api-key", "credentials": {"instanceUrl": "https://x", "apiKey": 987654}}"#).expect_err("type");
        assert!(!err.to_string().contains("987654"));
    }
}
