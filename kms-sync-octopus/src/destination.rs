//! The Octopus Deploy destination: one project's variables with one scope, read with one GET
//! of the variable set and written with one PUT of the whole set.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, Capabilities, Destination, DestinationInfo, EntryState, Error, ErrorKind,
    KeyRules, NameLookup, RateBudget, RemoteEntry, RemoteValue, Result, SecretValue, Snapshot,
    Version, Writer,
};
use tokio::sync::OnceCell;

use crate::client::OctopusClient;
use crate::complete::check_complete;
use crate::config::{OctopusConfig, OctopusConnection};
use crate::model::{NormalScope, Project, User, Variable, VariableSet};
use crate::rules::OctopusRules;

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
        let client = OctopusClient::connect(&self.connection, &self.settings, 4)?;
        let capabilities = Capabilities::new()
            .with_values_readable(false)
            .with_rate_budget(self.settings.budget_or(assumed_budget()))
            .with_default_concurrency(1)
            .with_entry_ids_required(true);
        Ok(OctopusDestination {
            info: DestinationInfo::new("octopus-deploy", self.config.target(), capabilities)
                .with_identity(self.config.identity(self.connection.instance_url())),
            rules: OctopusRules::new(),
            client,
            scope: self.config.scope_values().normal_scope(),
            config: self.config,
            resolved: Arc::new(OnceCell::new()),
            last_read: LastRead::default(),
        })
    }
}

/// Where the project's variable set lives, looked up once per destination.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub space: String,
    pub set: String,
}

/// The variable set as the last `list` read it (sensitive values are null), keyed by its
/// `Version`; clones share it. Its `Debug` shows the version only: the set holds the values
/// of non-sensitive variables.
#[derive(Clone, Default)]
struct LastRead(Arc<Mutex<Option<ReadSet>>>);

/// A set as read, with its version.
type ReadSet = (Version, Arc<VariableSet>);

impl std::fmt::Debug for LastRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = match self.0.lock() {
            Ok(last) => last.as_ref().map(|(v, _)| v.clone()),
            Err(_) => None,
        };
        f.debug_tuple("LastRead").field(&version).finish()
    }
}

/// Syncs to an Octopus Deploy project's variables with one scope.
///
/// A managed variable is identified by (name, normalised scope), so syncs with different
/// scopes on one project never touch each other's variables. Every other variable object is
/// sent back exactly as read, `Id` included. Managed variables are written `Type: "Sensitive"`,
/// `IsSensitive: true`, keeping their `Id` (dropping an `Id` silently wipes a sensitive
/// value). All changes go in one PUT of the whole set carrying its `Version`, built from the
/// set the sync listed, so a change costs one GET and one PUT; nothing is written when
/// nothing changed. A set changed by someone else in between is refused by Octopus as stale:
/// a conflict the syncer answers by re-reading and re-planning. A name that exists as a
/// non-sensitive variable with the same scope is listed as protected (the plan skips it,
/// never duplicates it). Version-controlled (Config as Code) projects and frozen release
/// snapshots are refused.
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
    pub(crate) info: DestinationInfo,
    rules: OctopusRules,
    pub(crate) client: OctopusClient,
    pub(crate) config: OctopusConfig,
    scope: NormalScope,
    resolved: Arc<OnceCell<Resolved>>,
    last_read: LastRead,
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

    /// Whether a variable has this destination's scope (normalised).
    pub(crate) fn ours(&self, variable: &Variable) -> bool {
        variable.normal_scope() == self.scope
    }

    pub(crate) async fn resolved(&self) -> Result<&Resolved> {
        self.resolved.get_or_try_init(|| self.resolve()).await
    }

    async fn resolve(&self) -> Result<Resolved> {
        let space = self.find_space().await?;
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

    /// The space id: as configured when it looks like one, otherwise found by name or slug.
    async fn find_space(&self) -> Result<String> {
        let wanted = self.config.space();
        let is_id = wanted
            .strip_prefix("Spaces-")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if is_id {
            return Ok(wanted.to_owned());
        }
        let spaces = self.client.spaces().await?;
        let space = NameLookup::new("Octopus space", "spaceId")
            .find(&spaces, wanted, |s| (&s.name, s.slug.as_deref()))?;
        Ok(space.id.clone())
    }

    /// The project: by id or slug (one GET), otherwise found by name or slug among all.
    async fn find_project(&self, space: &str) -> Result<Project> {
        let wanted = self.config.project_ref();
        match self.client.project(space, wanted).await {
            Ok(project) => return Ok(project),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let projects = self.client.projects(space).await?;
        let project =
            NameLookup::new("project", "projectId")
                .within(space)
                .find(&projects, wanted, |p| (&p.name, p.slug.as_deref()))?;
        Ok(project.clone())
    }

    /// Every configured scope id must be one of the set's `ScopeValues`.
    fn check_scope_ids(&self, set: &VariableSet) -> Result<()> {
        let unknown: Vec<String> = self
            .config
            .scope_values()
            .ids()
            .into_iter()
            .filter(|(kind, id)| !set.knows(*kind, id))
            .map(|(kind, id)| format!("{} `{id}`", kind.config_field()))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::config(format!(
                "scopeValues name ids this project does not know: {}; nothing was written",
                unknown.join(", ")
            )))
        }
    }

    /// The entry of one of our variables: hidden when sensitive, protected when not.
    fn entry_of(&self, v: &Variable) -> Result<RemoteEntry> {
        let name = v
            .name()
            .ok_or_else(|| Error::unexpected("a variable without a Name"))?;
        let mut entry = if v.is_sensitive() {
            RemoteEntry::new(name, RemoteValue::Hidden)
        } else {
            let value = v.value.get().map(String::as_str).unwrap_or_default();
            RemoteEntry::new(name, RemoteValue::Known(SecretValue::new(value)))
                .with_state(EntryState::protected(NOT_SENSITIVE))
        };
        if let Some(id) = v.id() {
            entry = entry.with_id(id);
        }
        Ok(entry)
    }

    /// The variable set, read with one GET.
    /// A set lacking what its return trip needs is refused ([`check_complete`]).
    pub(crate) async fn read_set(&self, r: &Resolved) -> Result<VariableSet> {
        let set = VariableSet::from_json(self.client.variable_set(&r.space, &r.set).await?)?;
        check_complete(&r.set, &set)?;
        Ok(set)
    }

    async fn list_inner(&self) -> Result<Snapshot> {
        let r = self.resolved().await?;
        let set = self.read_set(r).await?;
        self.check_scope_ids(&set)?;
        let entries = set
            .variables
            .iter()
            .filter(|v| self.ours(v))
            .map(|v| self.entry_of(v))
            .collect::<Result<Vec<_>>>()?;
        let version = set.version();
        self.remember(version.clone(), set);
        Ok(Snapshot::new(entries).with_version(version))
    }

    fn last_read(&self) -> MutexGuard<'_, Option<ReadSet>> {
        match self.last_read.0.lock() {
            Ok(guard) => guard,
            // The cache holds no invariant a panic could break: at worst it is stale, and a
            // stale set is refused by its Version.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Keeps the set a `list` read, for the write that follows it.
    fn remember(&self, version: Version, set: VariableSet) {
        *self.last_read() = Some((version, Arc::new(set)));
    }

    /// The set the last `list` read, if it has this version.
    pub(crate) fn recalled(&self, version: &Version) -> Option<Arc<VariableSet>> {
        self.last_read()
            .as_ref()
            .filter(|(v, _)| v == version)
            .map(|(_, set)| set.clone())
    }

    /// Drops the remembered set if it still has this version (a PUT makes it stale).
    pub(crate) fn forget(&self, version: &Version) {
        let mut last = self.last_read();
        if last.as_ref().is_some_and(|(v, _)| v == version) {
            *last = None;
        }
    }
}

#[async_trait]
impl Destination for OctopusDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &self.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        self.list_inner()
            .await
            .map_err(|e| e.with_destination(self.info.to_string()))
    }

    fn writer(&self) -> Writer<'_> {
        Writer::Batch(self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_set_is_remembered_by_version_and_never_shown() -> Result<()> {
        let connection = OctopusConnection::new("https://acme.octopus.app", "API-TEST")?;
        let dest =
            OctopusDestination::builder(connection, OctopusConfig::project("Spaces-1", "web"))
                .build()?;
        let set = VariableSet::from_json(
            json!({"Version": 7, "Variables": [{"Id": "x", "Name": "Theirs", "Value": "plain-value"}]}),
        )?;
        dest.remember(set.version(), set);
        assert!(dest.recalled(&Version::new("6")).is_none());
        assert!(dest.recalled(&Version::new("7")).is_some());
        assert!(
            dest.clone().recalled(&Version::new("7")).is_some(),
            "clones share it"
        );
        let shown = format!("{dest:?}");
        assert!(
            !shown.contains("plain-value") && shown.contains("LastRead"),
            "{shown}"
        );
        dest.forget(&Version::new("6"));
        assert!(
            dest.recalled(&Version::new("7")).is_some(),
            "another version: kept"
        );
        dest.forget(&Version::new("7"));
        assert!(dest.recalled(&Version::new("7")).is_none());
        Ok(())
    }
}
