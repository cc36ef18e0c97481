//! The KMS's GitLab `destinationConfig`: which variables (a project's or a group's), which
//! environment scope, and the attributes a sync gives the variables it writes.

use kms_sync_core::http::encode_segment;
use kms_sync_core::{parse_json, DestinationIdentity, Error, Result};
use serde::{Deserialize, Serialize};

use crate::config::instance_of;

/// GitLab's environment scope meaning "every environment": the default.
///
/// ```
/// use kms_sync_gitlab::{GitlabConfig, ALL_ENVIRONMENTS};
/// assert_eq!(GitlabConfig::project("42").environment_scope(), ALL_ENVIRONMENTS);
/// ```
pub const ALL_ENVIRONMENTS: &str = "*";

/// The longest environment scope GitLab stores.
const MAX_SCOPE_LEN: usize = 255;

/// How the runner exposes a variable: GitLab's `variable_type`.
///
/// ```
/// use kms_sync_gitlab::VariableType;
/// assert_eq!(VariableType::default().as_str(), "env_var");
/// assert_eq!(VariableType::File.as_str(), "file");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    /// An environment variable holding the value (`env_var`, GitLab's default).
    #[default]
    EnvVar,
    /// An environment variable holding the path of a temporary file with the value (`file`).
    File,
}

impl VariableType {
    /// GitLab's name: `env_var` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            VariableType::EnvVar => "env_var",
            VariableType::File => "file",
        }
    }
}

/// The attributes a sync gives every variable it writes, from the `destinationConfig`.
///
/// ```
/// use kms_sync_gitlab::{Attributes, VariableType};
/// let attrs = Attributes::default();
/// assert!(!attrs.masked && !attrs.hidden && !attrs.protected && !attrs.raw);
/// assert_eq!(attrs.variable_type, VariableType::EnvVar);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes {
    /// `protected`: only pipelines on protected branches and tags see the variable.
    pub protected: bool,
    /// `masked`: job logs show `[MASKED]` instead of the value. Implied by `hidden`.
    pub masked: bool,
    /// Created with `masked_and_hidden`: masked, and never shown again (GitLab 17.4+).
    pub hidden: bool,
    /// `raw`: `$` references in the value are not expanded.
    pub raw: bool,
    /// `variable_type`.
    pub variable_type: VariableType,
}

/// Which variable list a sync writes.
///
/// ```
/// use kms_sync_gitlab::{GitlabConfig, Owner};
/// assert_eq!(GitlabConfig::group("acme").owner(), &Owner::Group("acme".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A project's variables: its numeric id or its full path (`group/sub/project`).
    Project(String),
    /// A group's variables: its numeric id or its full path (`group/sub`).
    Group(String),
}

impl Owner {
    /// `/api/v4/projects/<id>/variables` or `/api/v4/groups/<id>/variables` (a path id
    /// URL-encoded, `/` as `%2F`).
    pub(crate) fn collection(&self) -> String {
        let (kind, id) = match self {
            Owner::Project(id) => ("projects", id),
            Owner::Group(id) => ("groups", id),
        };
        format!("/api/v4/{kind}/{}/variables", encode_segment(id))
    }

    /// One variable's path.
    pub(crate) fn item(&self, key: &str) -> String {
        format!("{}/{}", self.collection(), encode_segment(key))
    }
}

/// The KMS's `destinationConfig` as it comes, every field optional so a missing one can
/// be named.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigBody {
    scope: String,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    project_name: Option<String>,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    target_environment: Option<String>,
    #[serde(default)]
    should_protect_secrets: bool,
    #[serde(default)]
    should_mask_secrets: bool,
    #[serde(default)]
    should_hide_secrets: bool,
    #[serde(default)]
    raw: bool,
    #[serde(default)]
    variable_type: VariableType,
}

/// Where in GitLab to sync, and how: the KMS's `destinationConfig`.
///
/// | field | type | |
/// |---|---|---|
/// | `scope` | `"project"` or `"group"` | required; `"individual"` (the KMS's docs' name) is read as `"project"` |
/// | `projectId` | string | project scope: the numeric id or the full path |
/// | `projectName` | string | optional, display only |
/// | `groupId` | string | group scope: the numeric id or the full path |
/// | `groupName` | string | optional, display only |
/// | `targetEnvironment` | string | the `environment_scope` written, default `*` |
/// | `shouldProtectSecrets` | bool | `protected`, default false |
/// | `shouldMaskSecrets` | bool | `masked`, default false |
/// | `shouldHideSecrets` | bool | created with `masked_and_hidden`, default false |
/// | `raw` | bool | **not in the KMS's schema**: `raw`, default false (as the KMS writes) |
/// | `variableType` | `"env_var"` or `"file"` | **not in the KMS's schema**: default `env_var` |
///
/// Unknown fields are refused (the KMS drops them silently; here a typo is an error).
///
/// ```
/// use kms_sync_gitlab::{GitlabConfig, Owner};
/// let config = GitlabConfig::from_kms_json(r#"{"scope": "project", "projectId": "70998370",
///     "projectName": "api", "targetEnvironment": "production", "shouldMaskSecrets": true}"#)?;
/// assert_eq!(config.owner(), &Owner::Project("70998370".into()));
/// assert_eq!(config.environment_scope(), "production");
/// assert!(config.attributes().masked);
/// let group = GitlabConfig::group("acme/platform");
/// assert_eq!(group.environment_scope(), "*");
/// let err = GitlabConfig::from_kms_json(r#"{"scope": "group", "projectId": "1"}"#).unwrap_err();
/// assert!(err.to_string().contains("groupId"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabConfig {
    owner: Owner,
    name: Option<String>,
    environment_scope: String,
    attributes: Attributes,
}

impl GitlabConfig {
    /// A project's variables (numeric id or full path), environment scope `*`, no
    /// attributes set.
    pub fn project(id: impl Into<String>) -> Self {
        GitlabConfig::of(Owner::Project(id.into()))
    }

    /// A group's variables (numeric id or full path), environment scope `*`, no
    /// attributes set.
    pub fn group(id: impl Into<String>) -> Self {
        GitlabConfig::of(Owner::Group(id.into()))
    }

    fn of(owner: Owner) -> Self {
        GitlabConfig {
            owner,
            name: None,
            environment_scope: ALL_ENVIRONMENTS.to_owned(),
            attributes: Attributes::default(),
        }
    }

    /// The environment scope the sync writes (`production`, `review/*`, `*`).
    pub fn with_environment_scope(mut self, scope: impl Into<String>) -> Self {
        self.environment_scope = scope.into();
        self
    }

    /// The attributes the sync gives the variables it writes.
    pub fn with_attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = attributes;
        self
    }

    /// Reads the KMS's `destinationConfig` and validates it.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields, a scope
    /// without its id, or bad values — naming the field.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body: ConfigBody = parse_json(json, "GitLab destinationConfig")?;
        let (owner, name) = owner_of(&body)?;
        let attributes = Attributes {
            protected: body.should_protect_secrets,
            masked: body.should_mask_secrets || body.should_hide_secrets,
            hidden: body.should_hide_secrets,
            raw: body.raw,
            variable_type: body.variable_type,
        };
        let config = GitlabConfig {
            owner,
            name,
            environment_scope: body
                .target_environment
                .unwrap_or_else(|| ALL_ENVIRONMENTS.to_owned()),
            attributes,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the id and the environment scope.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) naming the bad field.
    pub fn validate(&self) -> Result<()> {
        let (field, id) = match &self.owner {
            Owner::Project(id) => ("projectId", id),
            Owner::Group(id) => ("groupId", id),
        };
        let id = id.trim();
        if id.is_empty()
            || id.starts_with('/')
            || id.ends_with('/')
            || id.contains(char::is_whitespace)
        {
            return Err(Error::config(format!(
                "GitLab destinationConfig.{field} `{id}` must be a numeric id or a full path (`group/project`): not empty, no spaces, no leading or trailing `/`"
            )));
        }
        let scope = &self.environment_scope;
        if scope.trim().is_empty() || scope.trim() != scope || scope.chars().any(char::is_control) {
            return Err(Error::config(format!(
                "GitLab destinationConfig.targetEnvironment `{scope}` must be an environment name or pattern (`*`, `production`, `review/*`): not empty, no surrounding spaces"
            )));
        }
        if scope.chars().count() > MAX_SCOPE_LEN {
            return Err(Error::config(format!(
                "GitLab destinationConfig.targetEnvironment is longer than {MAX_SCOPE_LEN} characters"
            )));
        }
        Ok(())
    }

    /// The project or group.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The environment scope written.
    pub fn environment_scope(&self) -> &str {
        &self.environment_scope
    }

    /// The attributes written.
    pub fn attributes(&self) -> Attributes {
        self.attributes
    }

    /// `project <id> [<scope>]` or `group <id> [<scope>]`, for plans and errors.
    pub fn target(&self) -> String {
        let (kind, id) = match &self.owner {
            Owner::Project(id) => ("project", id),
            Owner::Group(id) => ("group", id),
        };
        format!("{kind} {id} [{}]", self.environment_scope)
    }

    /// The project's or group's name from the KMS's JSON (display only).
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Which variables this config picks, value-free: what a ledger is bound to.
    /// `gitlab:instance=<host[/root]>,project=<id>,environment-scope=<scope>` (or `group=`).
    ///
    /// ```
    /// use kms_sync_gitlab::GitlabConfig;
    /// let config = GitlabConfig::project("42").with_environment_scope("production");
    /// assert_eq!(config.identity("https://gitlab.com").to_string(),
    ///     "gitlab:instance=gitlab.com,project=42,environment-scope=production");
    /// ```
    pub fn identity(&self, instance_url: &str) -> DestinationIdentity {
        let identity =
            DestinationIdentity::new("gitlab").with("instance", instance_of(instance_url));
        let identity = match &self.owner {
            Owner::Project(id) => identity.with("project", id.trim()),
            Owner::Group(id) => identity.with("group", id.trim()),
        };
        identity.with("environment-scope", self.environment_scope.clone())
    }
}

/// The owner a body names, with its display name; a scope without its id, or with the
/// other scope's fields, is refused naming the field.
fn owner_of(body: &ConfigBody) -> Result<(Owner, Option<String>)> {
    let missing = |field: &str, scope: &str| {
        Error::config(format!(
            "GitLab destinationConfig: scope `{scope}` needs `{field}`"
        ))
    };
    let stray = |field: &str, scope: &str| {
        Error::config(format!(
            "GitLab destinationConfig: `{field}` does not belong to scope `{scope}`"
        ))
    };
    match body.scope.as_str() {
        "project" | "individual" => {
            let id = body
                .project_id
                .clone()
                .ok_or_else(|| missing("projectId", "project"))?;
            if body.group_id.is_some() {
                return Err(stray("groupId", "project"));
            }
            Ok((Owner::Project(id), body.project_name.clone()))
        }
        "group" => {
            let id = body
                .group_id
                .clone()
                .ok_or_else(|| missing("groupId", "group"))?;
            if body.project_id.is_some() {
                return Err(stray("projectId", "group"));
            }
            Ok((Owner::Group(id), body.group_name.clone()))
        }
        other => Err(Error::config(format!(
            "GitLab destinationConfig.scope `{other}` is not supported; use `project` or `group`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kms_sample_and_its_individual_alias_read() -> Result<()> {
        let json = r#"{"scope": "individual", "projectId": "70998370", "projectName": "my-project",
            "targetEnvironment": "*", "shouldProtectSecrets": false, "shouldMaskSecrets": true, "shouldHideSecrets": true}"#;
        let config = GitlabConfig::from_kms_json(json)?;
        assert_eq!(config.owner(), &Owner::Project("70998370".into()));
        assert_eq!(config.display_name(), Some("my-project"));
        let attrs = config.attributes();
        assert!(attrs.masked && attrs.hidden && !attrs.protected);
        Ok(())
    }

    #[test]
    fn paths_are_encoded_as_one_segment() {
        let owner = Owner::Project("acme/sub/api".into());
        assert_eq!(
            owner.collection(),
            "/api/v4/projects/acme%2Fsub%2Fapi/variables"
        );
        assert_eq!(
            Owner::Group("7".into()).item("K_1"),
            "/api/v4/groups/7/variables/K_1"
        );
    }

    #[test]
    fn config_refusals_name_the_field() {
        let cases = [
            (r#"{"scope": "project"}"#, "needs `projectId`"),
            (
                r#"{"scope": "group", "groupId": "1", "projectId": "2"}"#,
                "`projectId` does not belong",
            ),
            (
                r#"{"scope": "instance", "groupId": "1"}"#,
                "scope `instance`",
            ),
            (r#"{"scope": "project", "projectId": " "}"#, "projectId"),
            (r#"{"scope": "project", "projectId": "/a"}"#, "projectId"),
            (
                r#"{"scope": "project", "projectId": "1", "targetEnvironment": ""}"#,
                "targetEnvironment",
            ),
            (
                r#"{"scope": "project", "projectId": "1", "targetEnvironment": " prod"}"#,
                "targetEnvironment",
            ),
            (
                r#"{"scope": "project", "projectId": "1", "variableType": "secret"}"#,
                "unknown variant",
            ),
            (
                r#"{"scope": "project", "projectId": "1", "shouldMask": true}"#,
                "unknown field `shouldMask`",
            ),
        ];
        for (json, expected) in cases {
            let err = GitlabConfig::from_kms_json(json).expect_err(json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
        let long = format!(
            r#"{{"scope": "project", "projectId": "1", "targetEnvironment": "{}"}}"#,
            "e".repeat(256)
        );
        assert!(GitlabConfig::from_kms_json(&long).is_err());
    }

    #[test]
    fn identities_differ_by_scope_and_owner() {
        let a = GitlabConfig::project("1").identity("https://gitlab.com");
        let b = GitlabConfig::project("1")
            .with_environment_scope("prod")
            .identity("https://gitlab.com");
        let c = GitlabConfig::group("1").identity("https://gitlab.com");
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
