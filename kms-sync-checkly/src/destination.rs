//! The Checkly destination: account variables (per key, [`AccountVariables`]) or a check
//! group's variables (one write replacing the group's list, [`GroupVariables`]).

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
use crate::error::error_table;
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

    /// Builds the destination. No request is made until the first `list`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid config or base URL.
    pub fn build(self) -> Result<ChecklyDestination> {
        self.config.validate()?;
        let concurrency = self.settings.concurrency_or(8);
        let budget = self.settings.budget_or(documented_budget());
        let http = self
            .settings
            .client_builder("checkly", DEFAULT_BASE_URL, budget, concurrency)
            .auth(self.connection.auth())
            .header("X-Checkly-Account", self.config.account_id().to_owned())
            .error_table(error_table)
            .build()?;
        let client = ChecklyClient { http };
        let scope = match self.config.group() {
            None => Scope::Account(AccountVariables::new(client.clone())),
            Some(group) => Scope::Group(GroupVariables::new(
                client.clone(),
                group.clone(),
                scope_prefix(&client, &self.config),
            )),
        };
        let group = matches!(scope, Scope::Group(_));
        let capabilities = Capabilities::new()
            .with_values_readable(false)
            .with_rate_budget(budget)
            .with_default_concurrency(if group { 1 } else { concurrency })
            .with_replaces_whole_set(group);
        Ok(ChecklyDestination {
            info: DestinationInfo::new("checkly", self.config.target(), capabilities),
            rules: StandardRules::new(KeyRule::Identifier).non_empty_values(),
            client,
            config: self.config,
            scope: Arc::new(scope),
        })
    }
}

/// `checkly:{base_url}:account:{account_id}`: what names a group's scope lock, with the group
/// id appended, identically for every destination writing that group.
fn scope_prefix(client: &ChecklyClient, config: &ChecklyConfig) -> String {
    format!(
        "checkly:{}:account:{}",
        client.http.base_url().as_str().trim_end_matches('/'),
        config.account_id().trim().to_ascii_lowercase()
    )
}

/// What a destination syncs: the account's variables or one group's.
#[derive(Debug)]
enum Scope {
    Account(AccountVariables),
    Group(GroupVariables),
}

/// Syncs to Checkly: the account's environment variables, or one check group's.
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
/// ```no_run
/// use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let connection = ChecklyConnection::new(std::env::var("CHECKLY_API_KEY").unwrap_or_default())?;
/// let config = ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a").with_group_name("API checks");
/// let destination = ChecklyDestination::builder(connection, config).build()?;
/// destination.validate_connection().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ChecklyDestination {
    info: DestinationInfo,
    rules: StandardRules,
    client: ChecklyClient,
    config: ChecklyConfig,
    /// Shared by clones: the group id once resolved, the last list.
    scope: Arc<Scope>,
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

    /// Lists the accounts the key can access (`GET /v1/accounts`) and confirms the configured
    /// one is among them.
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](ErrorKind::Unauthenticated) for a wrong key;
    /// [`PermissionDenied`](ErrorKind::PermissionDenied) naming the accounts the key can access
    /// when the configured one is not among them.
    pub async fn validate_connection(&self) -> Result<Account> {
        let accounts = self.client.accounts().await?;
        let wanted = self.config.account_id();
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

#[async_trait]
impl Destination for ChecklyDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &self.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        let result = match &*self.scope {
            Scope::Account(account) => account.list().await,
            Scope::Group(group) => group.list().await,
        };
        result.map_err(|e| e.with_destination(self.info.to_string()))
    }

    fn writer(&self) -> Writer<'_> {
        match &*self.scope {
            Scope::Account(account) => Writer::PerKey(account),
            Scope::Group(group) => Writer::Batch(group),
        }
    }

    /// A group: `checkly:{base_url}:account:{account_id}:group:{group_id}` (the group id
    /// resolved first when configured by name). The account's variables: none.
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        match &*self.scope {
            Scope::Account(_) => Ok(None),
            Scope::Group(group) => group
                .scope()
                .await
                .map(Some)
                .map_err(|e| e.with_destination(self.info.to_string())),
        }
    }
}
