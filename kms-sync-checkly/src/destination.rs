//! The Checkly destination: the builder, what the two destinations share, and
//! [`ChecklyDestination`], which holds one: account variables (per key,
//! [`AccountVariables`]) or a check group's variables (one write replacing the group's list,
//! [`GroupVariables`]).

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, Capabilities, Destination, DestinationInfo, Error, ErrorKind, KeyRule, KeyRules,
    RateBudget, Result, Snapshot, StandardRules, Writer,
};

use crate::account::AccountVariables;
use crate::client::ChecklyClient;
use crate::config::{ChecklyConfig, ChecklyConnection};
use crate::group::GroupVariables;
use crate::model::Account;

/// Checkly's API.
pub const DEFAULT_BASE_URL: &str = "https://api.checklyhq.com";

/// The documented budget for most routes: 600 requests per 60 seconds.
pub fn documented_budget() -> RateBudget {
    RateBudget::new(600, Duration::from_secs(60))
}

/// Builds a [`ChecklyDestination`].
#[derive(Debug)]
pub struct ChecklyDestinationBuilder {
    connection: ChecklyConnection,
    config: ChecklyConfig,
    settings: ClientSettings,
}

impl ChecklyDestinationBuilder {
    /// Another base URL (a proxy, or a fake in tests). Default [`DEFAULT_BASE_URL`].
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Transport settings: base URL, budget (default [`documented_budget`]), concurrency for
    /// account variables (default 8), retries, timeouts.
    pub fn settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Builds the destination: [`ChecklyDestination::Account`] without a group in the
    /// config, [`ChecklyDestination::Group`] with one. No request is made until the first
    /// `list`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid config or base URL.
    pub fn build(self) -> Result<ChecklyDestination> {
        self.config.validate()?;
        let concurrency = self.settings.concurrency_or(8);
        let budget = self.settings.budget_or(documented_budget());
        let client = ChecklyClient::connect(
            &self.connection,
            &self.settings,
            concurrency,
            Some(self.config.account_id()),
        )?;
        let group = self.config.group().cloned();
        let capabilities = Capabilities::new()
            .with_values_readable(false)
            .with_rate_budget(budget)
            .with_default_concurrency(if group.is_some() { 1 } else { concurrency })
            .with_replaces_whole_set(group.is_some());
        let common = Common {
            info: DestinationInfo::new("checkly", self.config.target(), capabilities)
                .with_identity(self.config.identity()),
            rules: StandardRules::new(KeyRule::Identifier).non_empty_values(),
            client,
            account_id: self.config.account_id().to_owned(),
        };
        Ok(match group {
            None => ChecklyDestination::Account(AccountVariables::new(common)),
            Some(group) => ChecklyDestination::Group(GroupVariables::new(common, group)),
        })
    }
}

/// What both Checkly destinations share: how they describe themselves, the one client, and
/// the account it is scoped to.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub info: DestinationInfo,
    pub rules: StandardRules,
    pub client: ChecklyClient,
    pub account_id: String,
}

impl Common {
    /// Lists the accounts the key can access and finds the configured one among them.
    pub async fn validate_connection(&self) -> Result<Account> {
        let accounts = self.client.accounts().await?;
        let wanted = self.account_id.as_str();
        if let Some(account) = accounts.iter().find(|a| a.id.eq_ignore_ascii_case(wanted)) {
            return Ok(account.clone());
        }
        let known: Vec<String> = accounts
            .iter()
            .map(|a| format!("{} ({})", a.name, a.id))
            .collect();
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "the API key cannot access account {wanted}; it can access: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        )
        .with_destination(self.info.to_string()))
    }
}

/// Syncs to Checkly: the account's environment variables ([`AccountVariables`]), or one
/// check group's ([`GroupVariables`]) — two destinations over one client, chosen by the
/// config (a `groupId` or `groupName` makes it a group).
///
/// Values are written `secret: true` (read back as null: keep a ledger); keys are
/// case-sensitive identifiers (read as `process.env.KEY` and `{{KEY}}`) and values must not
/// be empty. Account variables are written one request per key. A check group's
/// `environmentVariables` is replaced by one PUT carrying only that field, built from the
/// list the same run read while the engine held the group's scope lock
/// ([`exclusive_scope`](Destination::exclusive_scope)): one GET and one PUT per sync. Every
/// entry kms-sync does not manage is sent back exactly as read. A group holding a secret
/// entry kms-sync does not manage cannot be written without destroying it, so such a sync is
/// refused before writing, naming those keys; so is a group that would hold more than
/// [`GROUP_LIMIT`](crate::GROUP_LIMIT) variables.
///
/// `ChecklyDestination` is itself a [`Destination`] (it hands every call to the one it
/// holds); [`into_destination`](ChecklyDestination::into_destination) gives the one it holds.
///
/// ```no_run
/// use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let connection = ChecklyConnection::new(std::env::var("CHECKLY_API_KEY").unwrap_or_default())?;
/// let config = ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a").with_group_name("API checks");
/// let destination = ChecklyDestination::builder(connection, config).build()?;
/// assert!(matches!(destination, ChecklyDestination::Group(_)));
/// destination.validate_connection().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ChecklyDestination {
    /// The account's environment variables, one request per key.
    Account(AccountVariables),
    /// One check group's variables, one PUT of the group's list.
    Group(GroupVariables),
}

impl ChecklyDestination {
    /// A builder with the defaults.
    pub fn builder(
        connection: ChecklyConnection,
        config: ChecklyConfig,
    ) -> ChecklyDestinationBuilder {
        ChecklyDestinationBuilder {
            connection,
            config,
            settings: ClientSettings::new(),
        }
    }

    /// The destination it holds, shared: what a [`DestinationFactory`](kms_sync_core::DestinationFactory)
    /// or a [`Syncer`](kms_sync_core::Syncer) takes.
    ///
    /// ```
    /// use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
    /// let connection = ChecklyConnection::new("cu_example")?;
    /// let account = ChecklyDestination::builder(connection, ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a"))
    ///     .build()?
    ///     .into_destination();
    /// assert_eq!(account.info().kind, "checkly");
    /// assert_eq!(account.writer().mode(), kms_sync_core::WriteMode::PerKey);
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn into_destination(self) -> Arc<dyn Destination> {
        match self {
            ChecklyDestination::Account(account) => Arc::new(account),
            ChecklyDestination::Group(group) => Arc::new(group),
        }
    }

    fn inner(&self) -> &dyn Destination {
        match self {
            ChecklyDestination::Account(account) => account,
            ChecklyDestination::Group(group) => group,
        }
    }

    /// Lists the accounts the key can access (`GET /v1/accounts`) and confirms the configured
    /// one is among them.
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](ErrorKind::Unauthenticated) for a wrong key;
    /// [`PermissionDenied`](ErrorKind::PermissionDenied) naming the accounts the key can access
    /// when the configured one is not among them.
    pub async fn validate_connection(&self) -> Result<Account> {
        match self {
            ChecklyDestination::Account(account) => account.validate_connection().await,
            ChecklyDestination::Group(group) => group.validate_connection().await,
        }
    }
}

#[async_trait]
impl Destination for ChecklyDestination {
    fn info(&self) -> &DestinationInfo {
        self.inner().info()
    }

    fn rules(&self) -> &dyn KeyRules {
        self.inner().rules()
    }

    async fn list(&self) -> Result<Snapshot> {
        self.inner().list().await
    }

    fn writer(&self) -> Writer<'_> {
        self.inner().writer()
    }

    /// A group: `checkly:{base_url}:account:{account_id}:group:{group_id}` (the group id
    /// resolved first when configured by name). The account's variables: none.
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        self.inner().exclusive_scope().await
    }
}
