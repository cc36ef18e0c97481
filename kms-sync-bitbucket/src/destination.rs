//! The Bitbucket destination: repository or deployment-environment variables, per key.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, create_or_update, Applied, Capabilities, CaseRule, Change, ChangeKind,
    Destination, DestinationInfo, Error, ErrorKind, KeyRule, KeyRules, NameLookup, PerKeyWriter,
    RateBudget, Result, SecretValue, Snapshot, StandardRules, Writer,
};
use tokio::sync::OnceCell;

use crate::client::{BitbucketClient, Scope};
use crate::config::{normalize_uuid, BitbucketConfig, BitbucketConnection, EnvironmentRef};
use crate::listed::Listed;
use crate::model::User;

/// Bitbucket Cloud's API.
pub const DEFAULT_BASE_URL: &str = "https://api.bitbucket.org";

/// The documented budget for repository endpoints: 1,000 requests per rolling hour per user.
pub fn documented_budget() -> RateBudget {
    RateBudget::new(1_000, Duration::from_secs(3_600))
}

/// Bitbucket's key and value rules: identifiers, unique regardless of case, non-empty values,
/// and a warning for names Pipelines sets itself.
fn rules() -> StandardRules {
    StandardRules::new(KeyRule::Identifier)
        .case(CaseRule::Insensitive)
        .non_empty_values()
        .warn_when(reserved)
}

/// `CI` and `BITBUCKET_*` are set by Bitbucket Pipelines in every build.
fn reserved(key: &str) -> Option<&'static str> {
    (key.eq_ignore_ascii_case("CI") || key.to_ascii_uppercase().starts_with("BITBUCKET_"))
        .then_some("overrides a variable Bitbucket Pipelines sets itself")
}

/// Builds a [`BitbucketDestination`].
#[derive(Debug)]
pub struct BitbucketDestinationBuilder {
    connection: BitbucketConnection,
    config: BitbucketConfig,
    settings: ClientSettings,
}

impl BitbucketDestinationBuilder {
    /// Another base URL (a proxy, or a fake in tests). Default [`DEFAULT_BASE_URL`].
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Transport settings: base URL, budget (default [`documented_budget`]; Access Tokens on
    /// large workspaces get more), concurrency (default 8), retries, timeouts.
    pub fn settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Builds the destination. No request is made until the first `list`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid config or base URL.
    pub fn build(self) -> Result<BitbucketDestination> {
        self.config.validate()?;
        let client = BitbucketClient::connect(&self.connection, &self.settings, 8)?;
        let capabilities = Capabilities::new()
            .with_values_readable(false)
            .with_rate_budget(self.settings.budget_or(documented_budget()))
            .with_default_concurrency(self.settings.concurrency_or(8))
            .with_entry_ids_required(true);
        Ok(BitbucketDestination {
            info: DestinationInfo::new("bitbucket", self.config.target(), capabilities)
                .with_identity(self.config.identity()),
            rules: rules(),
            client,
            config: self.config,
            scope: Arc::new(OnceCell::new()),
        })
    }
}

/// Syncs to Bitbucket Pipelines variables: a repository's, or one deployment environment's.
///
/// Values are written `secured: true` and are never readable again, so they appear as
/// [`RemoteValue::Hidden`](kms_sync_core::RemoteValue::Hidden); keep a ledger to avoid rewriting unchanged values. Every list is
/// read completely (`pagelen=100`, following `next`). Keys follow [`KeyRule::Identifier`],
/// are unique regardless of case, values must not be empty, and `CI` or `BITBUCKET_*` keys
/// are accepted with a warning (they override what Pipelines sets itself).
///
/// Writes go one request per key ([`Writer::PerKey`]). A create answered 409 (created
/// elsewhere meanwhile) re-lists and updates; an update answered 404 (deleted meanwhile)
/// creates (both through [`create_or_update`](kms_sync_core::create_or_update)); a delete
/// answered 404 is done. A variable stored unsecured is listed as
/// [`EntryState::MustReplace`](kms_sync_core::EntryState::MustReplace), so a managed key on it is deleted and re-created secured,
/// and the report says so.
///
/// ```no_run
/// use std::sync::Arc;
/// use kms_sync_bitbucket::{BitbucketConfig, BitbucketConnection, BitbucketDestination};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let connection = BitbucketConnection::new("me@example.com", std::env::var("BITBUCKET_API_TOKEN").unwrap_or_default())?;
/// let destination = BitbucketDestination::builder(connection, BitbucketConfig::repository("acme", "api"))
///     .build()?;
/// destination.validate_connection().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BitbucketDestination {
    info: DestinationInfo,
    rules: StandardRules,
    client: BitbucketClient,
    config: BitbucketConfig,
    scope: Arc<OnceCell<Scope>>,
}

impl BitbucketDestination {
    /// A builder with the defaults.
    pub fn builder(
        connection: BitbucketConnection,
        config: BitbucketConfig,
    ) -> BitbucketDestinationBuilder {
        BitbucketDestinationBuilder {
            connection,
            config,
            settings: ClientSettings::new(),
        }
    }

    /// Checks the credentials with `GET /2.0/user`.
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](ErrorKind::Unauthenticated) for wrong credentials,
    /// [`PermissionDenied`](ErrorKind::PermissionDenied) naming the missing scopes.
    pub async fn validate_connection(&self) -> Result<User> {
        self.client.user().await
    }

    async fn scope(&self) -> Result<&Scope> {
        self.scope.get_or_try_init(|| self.resolve_scope()).await
    }

    async fn resolve_scope(&self) -> Result<Scope> {
        let workspace = self.config.workspace().to_owned();
        let repo = self.config.repository_slug().to_owned();
        let environment = match self.config.environment_ref() {
            None => return Ok(Scope::Repository { workspace, repo }),
            Some(EnvironmentRef::Uuid(uuid)) => uuid,
            Some(EnvironmentRef::Name(name)) => self
                .environment_named(&workspace, &repo, &name)
                .await
                .map_err(|e| e.with_destination(self.info.to_string()))?,
        };
        Ok(Scope::Deployment {
            workspace,
            repo,
            environment,
        })
    }

    /// The UUID of the repository's deployment environment named `name` (or with that slug).
    async fn environment_named(&self, workspace: &str, repo: &str, name: &str) -> Result<String> {
        let environments = self.client.environments(workspace, repo).await?;
        let place = format!("{workspace}/{repo}");
        let found = NameLookup::new("deployment environment", "environmentId")
            .within(&place)
            .find(&environments, name, |e| (&e.name, e.slug.as_deref()))?;
        Ok(normalize_uuid(&found.uuid).unwrap_or_else(|| found.uuid.clone()))
    }

    async fn write_one(&self, change: &Change) -> Result<Applied> {
        let scope = self.scope().await?;
        let key = change.key.as_str();
        if change.kind == ChangeKind::Delete {
            return self.delete(scope, change.current_id()?).await;
        }
        let value = change.value_or_error()?;
        let create = || self.create(scope, key, value);
        if change.kind == ChangeKind::Create {
            let overwrite = || self.overwrite_listed(scope, key, value);
            return create_or_update(ChangeKind::Create, create, overwrite).await;
        }
        let uuid = change.current_id()?;
        if must_replace(change) {
            return self.replace(scope, uuid, key, value).await;
        }
        let update = || self.update(scope, uuid, key, value);
        create_or_update(ChangeKind::Update, create, update).await
    }

    async fn create(&self, scope: &Scope, key: &str, value: &SecretValue) -> Result<Applied> {
        let created = self.client.create(scope, key, value).await?;
        Ok(Applied::with_id(created.uuid))
    }

    async fn update(
        &self,
        scope: &Scope,
        uuid: &str,
        key: &str,
        value: &SecretValue,
    ) -> Result<Applied> {
        let updated = self.client.update(scope, uuid, key, value).await?;
        Ok(Applied::with_id(updated.uuid))
    }

    /// A delete; answered 404, already done.
    async fn delete(&self, scope: &Scope, uuid: &str) -> Result<Applied> {
        match self.client.delete(scope, uuid).await {
            Ok(()) => Ok(Applied::default()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Applied::default().noted("already gone"))
            }
            Err(e) => Err(e),
        }
    }

    /// `secured` cannot be changed in place: delete (gone already is fine), then create
    /// secured.
    async fn replace(
        &self,
        scope: &Scope,
        uuid: &str,
        key: &str,
        value: &SecretValue,
    ) -> Result<Applied> {
        self.delete(scope, uuid).await?;
        let created = self.create(scope, key, value).await?;
        Ok(created.noted("was unsecured; re-created as secured"))
    }

    /// A key created elsewhere since the list (a create answered 409): find it and
    /// overwrite it — re-created secured if it was stored unsecured.
    async fn overwrite_listed(
        &self,
        scope: &Scope,
        key: &str,
        value: &SecretValue,
    ) -> Result<Applied> {
        let listed = self.client.variables(scope).await?;
        let existing = listed.iter().find(|v| v.key == key).ok_or_else(|| {
            Error::new(
                ErrorKind::Conflict,
                "the key exists at Bitbucket under another spelling (keys are unique regardless of case)",
            )
        })?;
        if !existing.secured {
            self.client.delete(scope, &existing.uuid).await?;
            let created = self.create(scope, key, value).await?;
            return Ok(created.noted("stored unsecured, so re-created as secured"));
        }
        self.update(scope, &existing.uuid, key, value).await
    }
}

/// Whether an update is of a variable stored unsecured (to be deleted and re-created).
fn must_replace(change: &Change) -> bool {
    change
        .current
        .as_ref()
        .is_some_and(|c| c.state().must_be_replaced())
}

#[async_trait]
impl Destination for BitbucketDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &self.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        let destination = self.info.to_string();
        let scope = self
            .scope()
            .await
            .map_err(|e| e.with_destination(destination.clone()))?;
        let variables = self.client.variables(scope).await.map_err(|e| {
            e.with_destination(destination)
                .with_operation("list variables")
        })?;
        let entries = variables.into_iter().map(Listed::entry).collect();
        Ok(Snapshot::new(entries))
    }

    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

#[async_trait]
impl PerKeyWriter for BitbucketDestination {
    /// One request per change (two for a 409 or 404 race, or an unsecured variable: see
    /// [`BitbucketDestination`]). Only a Conflict or NotFound answer is recovered from; any
    /// other error, an [`Unconfirmed`](ErrorKind::Unconfirmed) write included, is returned
    /// as is.
    async fn write(&self, change: &Change) -> Result<Applied> {
        self.write_one(change)
            .await
            .map_err(|e| e.with_key(&change.key))
    }
}
