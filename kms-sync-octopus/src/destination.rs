//! The Octopus Deploy destination: one project's variables with one scope, written as one PUT
//! of the whole variable set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, Applied, ApplyContext, Capabilities, Change, ChangeKind, Destination,
    DestinationInfo, Error, ErrorKind, Outcome, RateBudget, RemoteEntry, RemoteValue, RequestStats,
    Result, SecretValue, Snapshot, Verdict, WriteMode,
};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::client::OctopusClient;
use crate::config::{normalize_scope, OctopusConfig, OctopusConnection};
use crate::error::error_table;
use crate::model::{Project, User};

/// The budget assumed when the server announces none (the reported default of 200 requests
/// per minute per user). Servers with a rate limiter announce theirs in `Octopus-RateLimit-*`
/// headers, which the client follows.
pub fn assumed_budget() -> RateBudget {
    RateBudget::new(200, Duration::from_secs(60))
}

const NOT_SENSITIVE: &str = "exists as a non-sensitive variable with this name and scope; make it sensitive or remove it in Octopus, then sync again";

/// Builds an [`OctopusDestination`].
#[derive(Debug)]
pub struct OctopusDestinationBuilder {
    connection: OctopusConnection,
    config: OctopusConfig,
    settings: ClientSettings,
}

impl OctopusDestinationBuilder {
    /// Another base URL than the connection's instance URL (a proxy, or a fake in tests).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Transport settings: base URL, budget (default [`assumed_budget`]), retries, timeouts,
    /// `http://` for a non-loopback self-hosted instance.
    pub fn settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Builds the destination. No request is made until the first `list`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid config or instance URL.
    pub fn build(self) -> Result<OctopusDestination> {
        self.config.validate()?;
        let http = self
            .settings
            .client_builder(
                "octopus-deploy",
                self.connection.instance_url(),
                assumed_budget(),
                4,
            )
            .auth(self.connection.auth())
            .error_table(error_table)
            .build()?;
        let capabilities = Capabilities::new(WriteMode::Batch)
            .with_values_readable(false)
            .with_case_insensitive_keys(true)
            .with_key_rule(
                "non-empty, no leading or trailing whitespace; compared regardless of case",
            )
            .with_value_rule(
                "non-empty (an empty value sent with an existing Id would keep the old value)",
            )
            .with_rate_budget(self.settings.budget_or(assumed_budget()))
            .with_default_concurrency(1);
        Ok(OctopusDestination {
            info: DestinationInfo::new("octopus-deploy", self.config.target(), capabilities),
            client: OctopusClient { http },
            scope: self
                .config
                .scope_values()
                .normalized()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            config: self.config,
            resolved: Arc::new(OnceCell::new()),
        })
    }
}

#[derive(Debug, Clone)]
struct Resolved {
    space: String,
    set: String,
}

/// Syncs to an Octopus Deploy project's variables with one scope.
///
/// A managed variable is identified by (name, normalised scope), so syncs with different
/// scopes on one project never touch each other's variables. Every other variable object is
/// sent back exactly as read, `Id` included. Managed variables are written `Type: "Sensitive"`,
/// `IsSensitive: true`, keeping their `Id` (dropping an `Id` silently wipes a sensitive
/// value). All changes go in one PUT of the whole set carrying its `Version`; none when
/// nothing changed. A set changed by someone else in between is a conflict the syncer answers
/// by re-reading and re-planning. A name that exists as a non-sensitive variable with the same
/// scope is shown in the plan as skipped, never duplicated. Version-controlled (Config as
/// Code) projects and frozen release snapshots are refused.
///
/// ```no_run
/// use kms_sync_octopus::{OctopusConfig, OctopusConnection, OctopusDestination};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let connection = OctopusConnection::new("https://acme.octopus.app", std::env::var("OCTOPUS_API_KEY").unwrap_or_default())?;
/// let destination = OctopusDestination::builder(connection, OctopusConfig::project("Spaces-1", "web")).build()?;
/// destination.validate_connection().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OctopusDestination {
    info: DestinationInfo,
    client: OctopusClient,
    config: OctopusConfig,
    scope: Vec<(String, Vec<String>)>,
    resolved: Arc<OnceCell<Resolved>>,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn is_sensitive(v: &Value) -> bool {
    v.get("IsSensitive")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || text(v, "Type") == Some("Sensitive")
}

fn version_of(set: &Value) -> String {
    set.get("Version")
        .map(|v| v.to_string())
        .unwrap_or_default()
}

impl OctopusDestination {
    /// A builder with the defaults.
    pub fn builder(
        connection: OctopusConnection,
        config: OctopusConfig,
    ) -> OctopusDestinationBuilder {
        OctopusDestinationBuilder {
            connection,
            config,
            settings: ClientSettings::new(),
        }
    }

    /// Checks the API key with `GET /api/users/me`.
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](ErrorKind::Unauthenticated) for a wrong key.
    pub async fn validate_connection(&self) -> Result<User> {
        self.client.me().await
    }

    fn ours(&self, variable: &Value) -> bool {
        normalize_scope(variable.get("Scope")) == self.scope
    }

    async fn resolved(&self) -> Result<&Resolved> {
        self.resolved.get_or_try_init(|| self.resolve()).await
    }

    async fn resolve(&self) -> Result<Resolved> {
        let wanted = self.config.space();
        let is_id = wanted
            .strip_prefix("Spaces-")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        let space = if is_id {
            wanted.to_owned()
        } else {
            let spaces = self.client.spaces().await?;
            let found = spaces
                .iter()
                .find(|s| s.name == wanted || s.slug.as_deref() == Some(wanted))
                .or_else(|| {
                    spaces.iter().find(|s| {
                        s.name.eq_ignore_ascii_case(wanted)
                            || s.slug
                                .as_deref()
                                .is_some_and(|x| x.eq_ignore_ascii_case(wanted))
                    })
                });
            match found {
                Some(s) => s.id.clone(),
                None => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "no Octopus space `{wanted}` (there are: {})",
                            spaces
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        };
        let project = self.find_project(&space).await?;
        if project.is_version_controlled {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "project `{}` is version-controlled (Config as Code): its variables live partly in Git, and kms-sync does not write such projects",
                    project.name
                ),
            ));
        }
        let set = project.variable_set_id.clone().ok_or_else(|| {
            Error::unexpected(format!("project `{}` has no VariableSetId", project.name))
        })?;
        if set.contains("-s-") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("variable set {set} is a frozen release snapshot; it is never written"),
            ));
        }
        Ok(Resolved { space, set })
    }

    async fn find_project(&self, space: &str) -> Result<Project> {
        let wanted = self.config.project_ref();
        match self.client.project(space, wanted).await {
            Ok(project) => return Ok(project),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let projects = self.client.projects(space).await?;
        projects
            .iter()
            .find(|p| p.id == wanted || p.name == wanted)
            .or_else(|| {
                projects.iter().find(|p| {
                    p.name.eq_ignore_ascii_case(wanted)
                        || p.slug
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(wanted))
                })
            })
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no project `{wanted}` in {space} (there are: {})",
                        projects
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Every configured scope id must be one of the set's `ScopeValues`.
    fn check_scope_ids(&self, set: &Value) -> Result<()> {
        let mut unknown = Vec::new();
        for (_, plural, id) in self.config.scope_values().ids() {
            let known = set
                .get("ScopeValues")
                .and_then(|sv| sv.get(plural))
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|v| text(v, "Id") == Some(id)));
            if !known {
                unknown.push(format!("{} `{id}`", plural.to_ascii_lowercase()));
            }
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::config(format!(
                "scopeValues name ids this project does not know: {}; nothing was written",
                unknown.join(", ")
            )))
        }
    }

    async fn list_inner(&self) -> Result<Snapshot> {
        let r = self.resolved().await?;
        let set = self.client.variable_set(&r.space, &r.set).await?;
        self.check_scope_ids(&set)?;
        let variables = set
            .get("Variables")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut entries = Vec::new();
        for v in variables.iter().filter(|v| self.ours(v)) {
            let name =
                text(v, "Name").ok_or_else(|| Error::unexpected("a variable without a Name"))?;
            let mut entry = if is_sensitive(v) {
                RemoteEntry::new(name, RemoteValue::Hidden)
            } else {
                RemoteEntry::new(
                    name,
                    RemoteValue::Known(SecretValue::new(text(v, "Value").unwrap_or_default())),
                )
                .with_blocked(NOT_SENSITIVE)
            };
            if let Some(id) = text(v, "Id") {
                entry = entry.with_id(id);
            }
            entries.push(entry);
        }
        Ok(Snapshot::new(entries).with_version(version_of(&set)))
    }

    /// One PUT of the whole set; returns the ids of created variables by name.
    async fn apply_inner(
        &self,
        changes: &[Change],
        context: &ApplyContext,
    ) -> Result<BTreeMap<String, String>> {
        let r = self.resolved().await?;
        let mut set = self.client.variable_set(&r.space, &r.set).await?;
        let version = version_of(&set);
        if let Some(expected) = &context.snapshot_version {
            if *expected != version {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("the variable set changed since it was read (version {expected}, now {version})"),
                ));
            }
        }
        let mut updates: BTreeMap<&str, &SecretValue> = BTreeMap::new();
        let mut deletes: BTreeSet<&str> = BTreeSet::new();
        let mut creates: Vec<(&str, &SecretValue)> = Vec::new();
        for change in changes {
            let id = change.current.as_ref().and_then(RemoteEntry::id);
            match (change.kind, id) {
                (ChangeKind::Create, _) => creates.push((&change.key, change.value_or_error()?)),
                (ChangeKind::Update, Some(id)) => {
                    updates.insert(id, change.value_or_error()?);
                }
                (ChangeKind::Delete, Some(id)) => {
                    deletes.insert(id);
                }
                (_, None) => {
                    return Err(Error::unexpected("a listed Octopus variable has no Id")
                        .with_key(&change.key))
                }
            }
        }
        let variables = set
            .get("Variables")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut next = Vec::with_capacity(variables.len() + creates.len());
        let mut seen = 0usize;
        for v in variables {
            let id = text(&v, "Id").map(str::to_owned);
            let mine = self.ours(&v);
            match id.as_deref() {
                Some(id) if mine && deletes.contains(id) => seen += 1,
                Some(id) if mine && updates.contains_key(id) => {
                    seen += 1;
                    let mut written = v.clone();
                    written["Value"] = json!(updates[id].expose_secret());
                    written["Type"] = json!("Sensitive");
                    written["IsSensitive"] = json!(true);
                    next.push(written);
                }
                _ => next.push(v),
            }
        }
        if seen != updates.len() + deletes.len() {
            return Err(Error::new(
                ErrorKind::Conflict,
                "a variable to change is gone from the set",
            ));
        }
        for (name, value) in &creates {
            next.push(json!({
                "Name": name,
                "Value": value.expose_secret(),
                "Type": "Sensitive",
                "IsSensitive": true,
                "Scope": self.config.scope_values().to_scope_json(),
                "IsEditable": true,
                "Prompt": null,
                "Description": null,
            }));
        }
        set["Variables"] = Value::Array(next);
        let saved = self.client.put_variable_set(&r.space, &r.set, &set).await?;
        let mut ids = BTreeMap::new();
        if !creates.is_empty() {
            let saved = match saved {
                Some(saved) => saved,
                None => self.client.variable_set(&r.space, &r.set).await?,
            };
            for v in saved
                .get("Variables")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(name), Some(id)) = (text(v, "Name"), text(v, "Id")) {
                    if self.ours(v) && creates.iter().any(|(n, _)| *n == name) {
                        ids.insert(name.to_owned(), id.to_owned());
                    }
                }
            }
        }
        Ok(ids)
    }
}

#[async_trait]
impl Destination for OctopusDestination {
    fn info(&self) -> DestinationInfo {
        self.info.clone()
    }

    fn validate_key(&self, key: &str) -> Verdict {
        if key.trim().is_empty() {
            Verdict::Invalid("the name is empty".to_owned())
        } else if key.trim() != key {
            Verdict::Invalid("the name starts or ends with whitespace".to_owned())
        } else if key.chars().any(char::is_control) {
            Verdict::Invalid("the name contains a control character".to_owned())
        } else {
            Verdict::Valid
        }
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if value.is_empty() {
            Verdict::Invalid(
                "an empty sensitive value cannot be told apart from \"keep the old one\""
                    .to_owned(),
            )
        } else {
            Verdict::Valid
        }
    }

    async fn list(&self) -> Result<Snapshot> {
        self.list_inner()
            .await
            .map_err(|e| e.with_destination(self.info.to_string()))
    }

    async fn apply(&self, changes: &[Change], context: &ApplyContext) -> Vec<Outcome> {
        let destination = self.info.to_string();
        match self.apply_inner(changes, context).await {
            Ok(created) => changes
                .iter()
                .map(|c| {
                    let id = match c.kind {
                        ChangeKind::Create => created.get(&c.key).cloned(),
                        _ => c.current.as_ref().and_then(|e| e.id().map(str::to_owned)),
                    };
                    Outcome::of(c, Ok(Applied { id, note: None }))
                })
                .collect(),
            Err(e) => changes
                .iter()
                .map(|c| {
                    Outcome::of(
                        c,
                        Err(e
                            .clone()
                            .with_key(&c.key)
                            .with_destination(destination.clone())),
                    )
                })
                .collect(),
        }
    }

    fn request_stats(&self) -> RequestStats {
        self.client.http.request_stats()
    }
}
