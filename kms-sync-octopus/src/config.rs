//! The Octopus connection (instance URL + API key) and destination config, in the KMS's
//! JSON shapes.

use std::fmt;

use kms_sync_core::{parse_app_connection, parse_json, DestinationIdentity, Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::model::{NormalScope, VariableScope};

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

/// An instance URL without its scheme and user info, its host lowercased: `host[:port][/path]`.
fn instance_of(url: &str) -> String {
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

/// A kind of scope a sync's variables can carry: the six the KMS's `scopeValues` configures
/// (its Advanced tab: environments, target tags, targets, processes, deployment steps,
/// channels).
///
/// Octopus's variables know more kinds (`TenantTag`, `Tenant`, `Project`, `TargetRole`,
/// `User`, `Trigger`, `ParentDeployment`, `Private`, and on newer servers `*Parameter` kinds);
/// the KMS configures none of them, so a `scopeValues` field naming one is refused, naming
/// it. A variable whose scope holds such a kind is never one of a sync's, and is sent back
/// as read.
///
/// ```
/// use kms_sync_octopus::{OctopusConfig, ScopeKind};
/// assert_eq!(ScopeKind::ProcessOwner.scope_key(), "ProcessOwner");
/// assert_eq!(ScopeKind::ProcessOwner.config_field(), "processes");
/// assert_eq!(ScopeKind::ProcessOwner.reference_key(), "Processes");
/// let err = OctopusConfig::from_kms_json(r#"{"spaceId": "Spaces-1", "projectId": "Projects-1",
///     "scopeValues": {"tenantTags": ["Region/EU"]}}"#).unwrap_err();
/// assert!(err.to_string().contains("unknown field `tenantTags`"), "{err}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ScopeKind {
    /// Environments (`Environments-1`).
    Environment,
    /// Target roles, also called target tags; the id is the role's name.
    Role,
    /// Deployment targets (`Machines-3`).
    Machine,
    /// Processes: the project's deployment process or a runbook (`Projects-1`, `Runbooks-2`).
    ProcessOwner,
    /// Deployment steps (actions), by id.
    Action,
    /// Channels (`Channels-1`).
    Channel,
}

impl ScopeKind {
    /// Every kind, in the order the KMS lists them.
    ///
    /// ```
    /// use kms_sync_octopus::ScopeKind;
    /// let fields: Vec<&str> = ScopeKind::ALL.iter().map(|k| k.config_field()).collect();
    /// assert_eq!(fields, ["environments", "roles", "machines", "processes", "actions", "channels"]);
    /// ```
    pub const ALL: [ScopeKind; 6] = [
        ScopeKind::Environment,
        ScopeKind::Role,
        ScopeKind::Machine,
        ScopeKind::ProcessOwner,
        ScopeKind::Action,
        ScopeKind::Channel,
    ];

    /// The key in a variable's `Scope` object (singular): `Environment`, `ProcessOwner`, ….
    ///
    /// ```
    /// assert_eq!(kms_sync_octopus::ScopeKind::Role.scope_key(), "Role");
    /// ```
    pub fn scope_key(self) -> &'static str {
        match self {
            ScopeKind::Environment => "Environment",
            ScopeKind::Role => "Role",
            ScopeKind::Machine => "Machine",
            ScopeKind::ProcessOwner => "ProcessOwner",
            ScopeKind::Action => "Action",
            ScopeKind::Channel => "Channel",
        }
    }

    /// The field of the KMS's `scopeValues` (plural, camelCase): `environments`, `processes`, ….
    ///
    /// ```
    /// assert_eq!(kms_sync_octopus::ScopeKind::Machine.config_field(), "machines");
    /// ```
    pub fn config_field(self) -> &'static str {
        match self {
            ScopeKind::Environment => "environments",
            ScopeKind::Role => "roles",
            ScopeKind::Machine => "machines",
            ScopeKind::ProcessOwner => "processes",
            ScopeKind::Action => "actions",
            ScopeKind::Channel => "channels",
        }
    }

    /// The list in a variable set's `ScopeValues` that holds the ids the project knows
    /// (plural): `Environments`, `Processes`, ….
    ///
    /// ```
    /// assert_eq!(kms_sync_octopus::ScopeKind::Channel.reference_key(), "Channels");
    /// ```
    pub fn reference_key(self) -> &'static str {
        match self {
            ScopeKind::Environment => "Environments",
            ScopeKind::Role => "Roles",
            ScopeKind::Machine => "Machines",
            ScopeKind::ProcessOwner => "Processes",
            ScopeKind::Action => "Actions",
            ScopeKind::Channel => "Channels",
        }
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scope_key())
    }
}

/// The scope values a sync's variables carry: ids of environments, target roles (tags),
/// machines (targets), processes, actions (steps) and channels — one list per
/// [`ScopeKind`]. Empty means unscoped. Any other field is refused, naming it.
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

impl ScopeValues {
    /// The ids configured for one kind.
    ///
    /// ```
    /// use kms_sync_octopus::{ScopeKind, ScopeValues};
    /// let scope = ScopeValues { channels: vec!["Channels-1".into()], ..ScopeValues::default() };
    /// assert_eq!(scope.get(ScopeKind::Channel), ["Channels-1"]);
    /// assert!(scope.get(ScopeKind::Environment).is_empty());
    /// ```
    pub fn get(&self, kind: ScopeKind) -> &[String] {
        match kind {
            ScopeKind::Environment => &self.environments,
            ScopeKind::Role => &self.roles,
            ScopeKind::Machine => &self.machines,
            ScopeKind::ProcessOwner => &self.processes,
            ScopeKind::Action => &self.actions,
            ScopeKind::Channel => &self.channels,
        }
    }

    /// Each kind with ids, in [`ScopeKind::ALL`]'s order, its ids sorted and deduplicated.
    fn by_kind(&self) -> Vec<(ScopeKind, Vec<String>)> {
        ScopeKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let mut ids = self.get(kind).to_vec();
                ids.sort();
                ids.dedup();
                (!ids.is_empty()).then_some((kind, ids))
            })
            .collect()
    }

    /// The normal form (see [`NormalScope`]), as a variable's scope is compared.
    pub(crate) fn normalized(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut scope: Vec<_> = self
            .by_kind()
            .into_iter()
            .map(|(kind, ids)| (kind.scope_key(), ids))
            .collect();
        scope.sort();
        scope
    }

    /// [`normalized`](Self::normalized), owned.
    pub(crate) fn normal_scope(&self) -> NormalScope {
        self.normalized()
            .into_iter()
            .map(|(kind, ids)| (kind.to_owned(), ids))
            .collect()
    }

    /// The `Scope` object a variable of this sync carries.
    pub(crate) fn to_scope(&self) -> VariableScope {
        VariableScope::of(self.by_kind())
    }

    /// The `Scope` object Octopus expects on a variable, as JSON.
    #[cfg(feature = "fake")]
    pub(crate) fn to_scope_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.to_scope().0)
    }

    /// Every configured id with its kind, for checking against a variable set's
    /// `ScopeValues`.
    pub(crate) fn ids(&self) -> Vec<(ScopeKind, &str)> {
        ScopeKind::ALL
            .into_iter()
            .flat_map(|kind| self.get(kind).iter().map(move |id| (kind, id.as_str())))
            .collect()
    }
}

/// A variable's `Scope` object as JSON, in normal form (see [`NormalScope`]); any other
/// non-empty scope key (tenant tags, …) is kept too, so such variables never match ours.
#[cfg(any(test, feature = "fake"))]
pub(crate) fn normalize_scope(scope: Option<&serde_json::Value>) -> NormalScope {
    scope
        .and_then(serde_json::Value::as_object)
        .map(|map| VariableScope(map.clone()).normalized())
        .unwrap_or_default()
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
        if let Some((kind, _)) = self
            .scope_values
            .ids()
            .into_iter()
            .find(|(_, id)| id.trim().is_empty())
        {
            return Err(Error::config(format!(
                "Octopus Deploy destinationConfig.scopeValues.{} holds an empty id",
                kind.config_field()
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

    /// Which Octopus scope this config picks on the instance at `instance_url`, value-free:
    /// what a ledger is bound to. `octopus-deploy:instance=<host[:port][/path]>,space=…,project=…`
    /// (space and project as configured), then one `scope.<Kind>=<ids>` field per scope kind
    /// with ids (sorted, deduplicated, joined by `|`); no scope field means unscoped. The
    /// scheme and any user info are left out and the host is lowercased.
    ///
    /// ```
    /// use kms_sync_octopus::{OctopusConfig, ScopeValues};
    /// let config = OctopusConfig::project("Spaces-1", "web").with_scope_values(ScopeValues {
    ///     environments: vec!["Environments-2".into(), "Environments-1".into()],
    ///     ..ScopeValues::default()
    /// });
    /// assert_eq!(
    ///     config.identity("https://Acme.Octopus.app/").to_string(),
    ///     "octopus-deploy:instance=acme.octopus.app,space=Spaces-1,project=web,scope.Environment=Environments-1|Environments-2"
    /// );
    /// ```
    pub fn identity(&self, instance_url: &str) -> DestinationIdentity {
        let mut identity = DestinationIdentity::new("octopus-deploy")
            .with("instance", instance_of(instance_url))
            .with("space", self.space_id.trim())
            .with("project", self.project_id.trim());
        for (kind, ids) in self.scope_values.by_kind() {
            identity = identity.with(format!("scope.{}", kind.scope_key()), ids.join("|"));
        }
        identity
    }

    /// `space/project [scope]`.
    pub fn target(&self) -> String {
        let scope = self.scope_values.by_kind();
        if scope.is_empty() {
            return format!("{}/{} [unscoped]", self.space_id, self.project_id);
        }
        let parts: Vec<String> = scope
            .iter()
            .map(|(kind, ids)| format!("{kind}={}", ids.join(",")))
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
    use serde_json::json;

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

    /// Kinds that sort differently by name than in the KMS's order (Role before Machine,
    /// Environment before Channel) still compare equal to the scope written for them.
    #[test]
    fn a_scope_of_several_kinds_matches_the_scope_it_writes() {
        let ours = ScopeValues {
            environments: vec!["Environments-1".into()],
            roles: vec!["web".into()],
            machines: vec!["Machines-1".into()],
            processes: vec!["Projects-1".into()],
            actions: vec!["a-1".into()],
            channels: vec!["Channels-1".into()],
        };
        let written = serde_json::to_value(ours.to_scope()).expect("json");
        assert_eq!(normalize_scope(Some(&written)), ours.normal_scope());
        assert_eq!(
            OctopusConfig::project("Spaces-1", "p").with_scope_values(ours).target(),
            "Spaces-1/p [Environment=Environments-1; Role=web; Machine=Machines-1; ProcessOwner=Projects-1; Action=a-1; Channel=Channels-1]",
            "shown in the KMS's order"
        );
    }

    /// Every kind's config field is one the KMS's `scopeValues` accepts, and reads back as
    /// that kind; a field that is not a kind is refused naming it.
    #[test]
    fn every_scope_kind_reads_from_its_config_field() -> Result<()> {
        for kind in ScopeKind::ALL {
            let json = format!(
                r#"{{"spaceId": "Spaces-1", "projectId": "Projects-1", "scopeValues": {{"{}": ["x-1"]}}}}"#,
                kind.config_field()
            );
            let config = OctopusConfig::from_kms_json(&json)?;
            assert_eq!(config.scope_values().ids(), [(kind, "x-1")], "{kind}");
        }
        for unknown in ["tenantTags", "tenants", "Environments", "environment"] {
            let json = format!(
                r#"{{"spaceId": "Spaces-1", "projectId": "Projects-1", "scopeValues": {{"{unknown}": ["x"]}}}}"#
            );
            let err = OctopusConfig::from_kms_json(&json).expect_err(unknown);
            assert!(
                err.to_string()
                    .contains(&format!("unknown field `{unknown}`")),
                "{err}"
            );
        }
        Ok(())
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
