//! The Checkly destination: account variables (per key) or a check group's variables (one
//! write replacing the group's list).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    apply_each, async_trait, lock_scope, Applied, ApplyContext, Capabilities, Change, ChangeKind,
    Destination, DestinationInfo, Error, ErrorKind, KeyRule, Outcome, RateBudget, RemoteEntry,
    RemoteValue, RequestStats, Result, SecretValue, Snapshot, Verdict, WriteMode,
};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::client::ChecklyClient;
use crate::config::{ChecklyConfig, ChecklyConnection, GroupRef};
use crate::error::error_table;
use crate::model::Account;

/// Checkly's API.
pub const DEFAULT_BASE_URL: &str = "https://api.checklyhq.com";

/// The most variables a check group holds.
pub const GROUP_LIMIT: usize = 200;

/// The documented budget for most routes: 600 requests per 60 seconds.
pub fn documented_budget() -> RateBudget {
    RateBudget::new(600, Duration::from_secs(60))
}

const NOT_SECRET: &str = "stored as non-secret; rewritten as secret";

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
        let group = self.config.group().is_some();
        let capabilities = Capabilities::new(if group { WriteMode::Batch } else { WriteMode::PerKey })
            .with_values_readable(false)
            .with_key_rule("ASCII letters, digits and `_`, not starting with a digit (read as process.env.KEY and {{KEY}})")
            .with_value_rule("non-empty")
            .with_rate_budget(budget)
            .with_default_concurrency(if group { 1 } else { concurrency })
            .with_replaces_whole_set(group);
        Ok(ChecklyDestination {
            info: DestinationInfo::new("checkly", self.config.target(), capabilities),
            client: ChecklyClient { http },
            config: self.config,
            group_id: Arc::new(OnceCell::new()),
        })
    }
}

/// Syncs to Checkly: the account's environment variables, or one check group's.
///
/// Values are written `secret: true` (read back as null: keep a ledger). Account variables
/// are written one request per key; a check group's `environmentVariables` is replaced by one
/// PUT carrying only that field, with every entry kms-sync does not manage sent back exactly
/// as read. A group holding a secret entry kms-sync does not manage cannot be written without
/// destroying it, so such a sync is refused before writing, naming those keys; so is a group
/// that would hold more than [`GROUP_LIMIT`] variables.
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
    client: ChecklyClient,
    config: ChecklyConfig,
    group_id: Arc<OnceCell<u64>>,
}

/// A group variable's key, and whether its value is unreadable (secret, or null).
fn group_entry(raw: &Value) -> Option<(String, Option<String>, bool)> {
    let key = raw.get("key")?.as_str()?.to_owned();
    let secret = raw.get("secret").and_then(Value::as_bool).unwrap_or(false);
    let value = raw.get("value").and_then(Value::as_str).map(str::to_owned);
    Some((key, value, secret))
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

    async fn group_id(&self) -> Result<u64> {
        let reference = self.config.group().cloned();
        self.group_id
            .get_or_try_init(|| async {
                match reference {
                    Some(GroupRef::Id(id)) => Ok(id),
                    Some(GroupRef::Name(name)) => self.resolve_group(&name).await,
                    None => Err(Error::unexpected("no check group configured")),
                }
            })
            .await
            .copied()
    }

    async fn resolve_group(&self, name: &str) -> Result<u64> {
        let groups = self.client.groups().await?;
        let exact: Vec<_> = groups.iter().filter(|g| g.name == name).collect();
        let matches = if exact.is_empty() {
            groups
                .iter()
                .filter(|g| g.name.eq_ignore_ascii_case(name))
                .collect()
        } else {
            exact
        };
        match matches.as_slice() {
            [one] => Ok(one.id),
            [] => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "no check group named `{name}` (the account has: {})",
                    groups
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => Err(Error::config(format!(
                "several check groups are named `{name}`; use groupId"
            ))),
        }
    }

    async fn list_account(&self) -> Result<Snapshot> {
        let entries = self
            .client
            .variables()
            .await?
            .into_iter()
            .map(|v| {
                let value = match (v.secret, v.value) {
                    (false, Some(value)) => RemoteValue::Known(SecretValue::new(value)),
                    _ => RemoteValue::Hidden,
                };
                let entry = RemoteEntry::new(v.key.clone(), value)
                    .with_id(v.key)
                    .with_attribute("secret", v.secret.to_string());
                if v.secret {
                    entry
                } else {
                    entry.with_rewrite(NOT_SECRET)
                }
            })
            .collect();
        Ok(Snapshot::new(entries))
    }

    async fn list_group(&self) -> Result<Snapshot> {
        let id = self.group_id().await?;
        let group = self.client.group(id).await?;
        let mut entries = Vec::new();
        for raw in group.environment_variables.unwrap_or_default() {
            let Some((key, value, secret)) = group_entry(&raw) else {
                return Err(Error::unexpected(format!(
                    "check group {id} has a variable without a key"
                )));
            };
            let remote = match (secret, value) {
                (false, Some(value)) => RemoteValue::Known(SecretValue::new(value)),
                _ => RemoteValue::Hidden,
            };
            let entry = RemoteEntry::new(key.clone(), remote).with_id(key);
            entries.push(if secret {
                entry
            } else {
                entry.with_rewrite(NOT_SECRET)
            });
        }
        Ok(Snapshot::new(entries))
    }

    async fn apply_account(&self, change: &Change) -> Result<Applied> {
        let key = change.key.as_str();
        let result = match change.kind {
            ChangeKind::Create => {
                let value = change.value_or_error()?;
                match self.client.create(key, value).await {
                    Ok(()) => Ok(Applied::with_id(key)),
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        self.client.update(key, value).await.map(|()| {
                            Applied::with_id(key)
                                .noted("created elsewhere meanwhile; updated instead")
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            ChangeKind::Update => {
                let value = change.value_or_error()?;
                match self.client.update(key, value).await {
                    Ok(()) => Ok(Applied::with_id(key)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        self.client.create(key, value).await.map(|()| {
                            Applied::with_id(key)
                                .noted("deleted elsewhere meanwhile; created again")
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            ChangeKind::Delete => match self.client.delete(key).await {
                Ok(()) => Ok(Applied::default()),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Ok(Applied::default().noted("already gone"))
                }
                Err(e) => Err(e),
            },
        };
        result.map_err(|e| e.with_key(key))
    }

    /// Builds the group's new variable list from a fresh read and writes it in one PUT.
    /// Checkly has no version check on groups, so the read and the write hold a
    /// process-wide lock for the group: two syncs here never undo each other's writes.
    async fn apply_group(&self, changes: &[Change]) -> Result<()> {
        let id = self.group_id().await?;
        let _turn = lock_scope(&format!(
            "checkly:{}:group:{id}",
            self.client.http.base_url()
        ))
        .await;
        let current = self
            .client
            .group(id)
            .await?
            .environment_variables
            .unwrap_or_default();
        let mut writes: BTreeMap<&str, &SecretValue> = BTreeMap::new();
        let mut deletes: BTreeSet<&str> = BTreeSet::new();
        for change in changes {
            match change.kind {
                ChangeKind::Delete => {
                    deletes.insert(&change.key);
                }
                _ => {
                    writes.insert(&change.key, change.value_or_error()?);
                }
            }
        }
        let managed = |key: &str, value: &SecretValue| json!({"key": key, "value": value.expose_secret(), "locked": false, "secret": true});
        let mut next: Vec<Value> = Vec::with_capacity(current.len() + writes.len());
        let mut unpreservable = Vec::new();
        for raw in current {
            let Some((key, value, secret)) = group_entry(&raw) else {
                return Err(Error::unexpected(format!(
                    "check group {id} has a variable without a key"
                )));
            };
            if deletes.contains(key.as_str()) {
                continue;
            }
            if let Some(value) = writes.remove(key.as_str()) {
                next.push(managed(&key, value));
                continue;
            }
            if secret || value.is_none() {
                unpreservable.push(key);
            }
            next.push(raw);
        }
        for (key, value) in writes {
            next.push(managed(key, value));
        }
        if !unpreservable.is_empty() {
            unpreservable.sort();
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "check group {id} holds secret variables kms-sync does not manage ({}); their values cannot be read, so replacing the group's variables would destroy them. Nothing was written: bring them under the key schema, or remove them in Checkly",
                    unpreservable.join(", ")
                ),
            )
            .with_keys(unpreservable));
        }
        if next.len() > GROUP_LIMIT {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                format!(
                    "check group {id} would hold {} variables; Checkly allows {GROUP_LIMIT}. Nothing was written",
                    next.len()
                ),
            ));
        }
        self.client.put_group_variables(id, next).await
    }
}

#[async_trait]
impl Destination for ChecklyDestination {
    fn info(&self) -> DestinationInfo {
        self.info.clone()
    }

    fn validate_key(&self, key: &str) -> Verdict {
        KeyRule::Identifier.check(key)
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if value.is_empty() {
            Verdict::Invalid("Checkly refuses empty values".to_owned())
        } else {
            Verdict::Valid
        }
    }

    async fn list(&self) -> Result<Snapshot> {
        let result = if self.config.group().is_some() {
            self.list_group().await
        } else {
            self.list_account().await
        };
        result.map_err(|e| e.with_destination(self.info.to_string()))
    }

    async fn apply(&self, changes: &[Change], context: &ApplyContext) -> Vec<Outcome> {
        if self.config.group().is_none() {
            return apply_each(changes, context, |change| self.apply_account(change)).await;
        }
        let destination = self.info.to_string();
        match self.apply_group(changes).await {
            Ok(()) => changes
                .iter()
                .map(|c| Outcome::of(c, Ok(Applied::with_id(c.key.clone()))))
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
