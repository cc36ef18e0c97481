//! The GitLab destination: a project's or a group's CI/CD variables of one environment
//! scope, per key.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, create_or_update, Applied, Capabilities, Change, ChangeKind, Destination,
    DestinationInfo, ErrorKind, KeyRules, PerKeyWriter, RateBudget, RemoteEntry, RemoteValue,
    Result, SecretValue, Snapshot, Writer,
};

use crate::client::{GitlabClient, Write};
use crate::config::GitlabConnection;
use crate::listed::MUST_HIDE;
use crate::model::User;
use crate::rules::ScopeRules;
use crate::scope::GitlabConfig;

/// GitLab.com's budget for authenticated API requests: 2,000 per minute per user.
///
/// ```
/// assert_eq!(kms_sync_gitlab::documented_budget().requests(), 2_000);
/// ```
/// Self-managed instances have no limit unless an administrator set one, which GitLab
/// announces in `RateLimit-*` headers the client follows.
pub fn documented_budget() -> RateBudget {
    RateBudget::new(2_000, Duration::from_secs(60))
}

/// Concurrent writes by default.
const CONCURRENCY: usize = 8;

/// Builds a [`GitlabDestination`].
///
/// ```
/// use kms_sync_core::Destination;
/// use kms_sync_gitlab::{AccessTokenType, GitlabConfig, GitlabConnection, GitlabDestination};
/// let connection = GitlabConnection::access_token(None, "glpat-x", AccessTokenType::Personal)?;
/// let destination = GitlabDestination::builder(connection, GitlabConfig::project("42"))
///     .with_base_url("https://gitlab.example.com")
///     .build()?;
/// assert_eq!(destination.info().to_string(), "gitlab:project 42 [*]");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug)]
pub struct GitlabDestinationBuilder {
    connection: GitlabConnection,
    config: GitlabConfig,
    settings: ClientSettings,
}

impl GitlabDestinationBuilder {
    /// Another base URL than the connection's instance URL (a proxy, or a fake in tests).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Transport settings: base URL, budget (default [`documented_budget`]), concurrency
    /// (default 8), retries, timeouts, `http://` for a non-loopback self-managed instance.
    pub fn settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Builds the destination. No request is made until the first `list`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid config or instance URL.
    pub fn build(self) -> Result<GitlabDestination> {
        self.config.validate()?;
        let client = GitlabClient::connect(&self.connection, &self.settings, CONCURRENCY)?;
        let attributes = self.config.attributes();
        let capabilities = Capabilities::new()
            .with_values_readable(!attributes.hidden)
            .with_rate_budget(self.settings.budget_or(documented_budget()))
            .with_default_concurrency(self.settings.concurrency_or(CONCURRENCY));
        let identity = self.config.identity(self.connection.instance_url());
        Ok(GitlabDestination {
            info: DestinationInfo::new("gitlab", self.config.target(), capabilities)
                .with_identity(identity),
            rules: Arc::new(ScopeRules::new(attributes)),
            client,
            config: self.config,
        })
    }
}

/// Syncs to a GitLab project's or group's CI/CD variables of one environment scope.
///
/// A variable is identified by (key, environment scope): the sync lists every variable,
/// keeps those of its scope (`targetEnvironment`, `*` by default), and never touches a
/// variable of another scope, even one with the same key. Keys are case-sensitive.
///
/// Writes go one request per key ([`Writer::PerKey`]): `POST` to create, `PUT` with
/// `filter[environment_scope]` to update, `DELETE` with the same filter; each carries the
/// attributes of the `destinationConfig` (`protected`, `masked`, `raw`, `variable_type`,
/// and `masked_and_hidden` on create). A write is applied only when GitLab answers with the
/// variable of that key and scope. A create answered "has already been taken" (created
/// elsewhere meanwhile) updates; an update answered 404 (deleted meanwhile) creates; a
/// delete answered 404 is done.
///
/// Values are readable, so an unchanged value costs nothing — except hidden variables
/// (`masked_and_hidden`), whose values appear as
/// [`RemoteValue::Hidden`](kms_sync_core::RemoteValue::Hidden): keep a ledger to avoid
/// rewriting them. A managed variable whose attributes differ from the `destinationConfig`
/// is written again with them, even when its value is right; one the sync wants hidden but
/// that is visible is deleted and created hidden (GitLab hides a variable only at
/// creation). A hidden variable stays hidden when the config no longer asks for it.
/// Variables the sync does not manage keep every attribute as it is.
///
/// When `masked` is asked for, every value is checked against GitLab's masking rules
/// before anything is written ([`GitlabRules`](crate::GitlabRules)): one that cannot be masked refuses the
/// sync, naming the key — it is never written unmasked.
///
/// ```no_run
/// use kms_sync_gitlab::{AccessTokenType, GitlabConfig, GitlabConnection, GitlabDestination};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let token = std::env::var("GITLAB_TOKEN").unwrap_or_default();
/// let connection = GitlabConnection::access_token(None, token, AccessTokenType::Personal)?;
/// let config = GitlabConfig::project("acme/api").with_environment_scope("production");
/// let destination = GitlabDestination::builder(connection, config).build()?;
/// destination.validate_connection().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GitlabDestination {
    info: DestinationInfo,
    rules: Arc<ScopeRules>,
    client: GitlabClient,
    config: GitlabConfig,
}

impl GitlabDestination {
    /// A builder with the defaults.
    pub fn builder(connection: GitlabConnection, config: GitlabConfig) -> GitlabDestinationBuilder {
        GitlabDestinationBuilder {
            connection,
            config,
            settings: ClientSettings::new(),
        }
    }

    /// Checks the token with `GET /api/v4/user`.
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](ErrorKind::Unauthenticated) for a wrong, expired or revoked token.
    pub async fn validate_connection(&self) -> Result<User> {
        self.client.user().await
    }

    fn write_of<'a>(&'a self, key: &'a str, value: &'a SecretValue) -> Write<'a> {
        Write {
            key,
            value,
            environment_scope: self.config.environment_scope(),
            attributes: self.config.attributes(),
        }
    }

    async fn write_one(&self, change: &Change) -> Result<Applied> {
        let key = change.key.as_str();
        if change.kind == ChangeKind::Delete {
            return self.delete(key).await;
        }
        let mut write = self.write_of(key, change.value_or_error()?);
        // A hidden variable is masked for good: an update keeps it so.
        write.attributes.masked |= is_hidden(change);
        let owner = self.config.owner();
        let create = || async {
            self.client
                .create(owner, &write)
                .await
                .map(|()| Applied::default())
        };
        let update = || async {
            self.client
                .update(owner, &write)
                .await
                .map(|()| Applied::default())
        };
        if change.kind == ChangeKind::Create {
            return create_or_update(ChangeKind::Create, create, update).await;
        }
        if must_hide(change) {
            self.delete(key).await?;
            return self.client.create(owner, &write).await.map(|()| {
                Applied::default().noted("was visible; created again masked and hidden")
            });
        }
        create_or_update(ChangeKind::Update, create, update).await
    }

    /// A delete of the key in our scope; answered 404, already done.
    async fn delete(&self, key: &str) -> Result<Applied> {
        let scope = self.config.environment_scope();
        match self.client.delete(self.config.owner(), key, scope).await {
            Ok(()) => Ok(Applied::default()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Applied::default().noted("already gone"))
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether a change is of a variable listed hidden.
fn is_hidden(change: &Change) -> bool {
    change
        .current
        .as_ref()
        .is_some_and(|c| *c.value() == RemoteValue::Hidden)
}

/// Whether an update is of a visible variable the sync wants hidden (deleted and created
/// again).
fn must_hide(change: &Change) -> bool {
    change
        .current
        .as_ref()
        .is_some_and(|c| c.state().reason() == Some(MUST_HIDE))
}

#[async_trait]
impl Destination for GitlabDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &*self.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        let wanted = self.config.attributes();
        let variables = self
            .client
            .variables(self.config.owner(), self.config.environment_scope())
            .await
            .map_err(|e| {
                e.with_destination(self.info.to_string())
                    .with_operation("list variables")
            })?;
        let entries: Vec<RemoteEntry> = variables.into_iter().map(|v| v.entry(&wanted)).collect();
        self.rules.listed_hidden(
            entries
                .iter()
                .filter(|e| *e.value() == RemoteValue::Hidden)
                .map(|e| e.key().to_owned())
                .collect(),
        );
        Ok(Snapshot::new(entries))
    }

    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

#[async_trait]
impl PerKeyWriter for GitlabDestination {
    /// One request per change (two for a race answered "taken" or 404, or a visible
    /// variable re-created hidden: see [`GitlabDestination`]). Only a Conflict or NotFound
    /// answer is recovered from; any other error, an
    /// [`Unconfirmed`](ErrorKind::Unconfirmed) write included, is returned as is.
    async fn write(&self, change: &Change) -> Result<Applied> {
        self.write_one(change)
            .await
            .map_err(|e| e.with_key(&change.key))
    }
}
