//! The GitHub destination: Actions secrets of a repository, an environment or an
//! organization, sealed and written one per request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, Applied, Capabilities, Change, ChangeKind, Destination, DestinationInfo,
    EntryState, Error, ErrorKind, KeyRules, PerKeyWriter, RateBudget, RemoteEntry, RemoteValue,
    Result, SecretValue, Snapshot, Writer,
};
use tokio::sync::Mutex;

use crate::client::{GithubClient, Written, MAX_PAGE_SIZE};
use crate::config::{GithubConfig, Visibility};
use crate::connection::GithubConnection;
use crate::listed::ListedName;
use crate::model::{SecretBody, User};
use crate::rules::GithubRules;
use crate::seal::ScopeKey;

/// The documented primary budget of a personal access token: 5,000 requests per hour
/// (App installations get at least as many; the announced quota is adopted from the
/// `x-ratelimit-*` headers).
///
/// ```
/// assert_eq!(kms_sync_github::documented_budget().requests(), 5_000);
/// ```
pub fn documented_budget() -> RateBudget {
    RateBudget::new(5_000, Duration::from_secs(3_600))
}

/// Writes at once: GitHub asks for writes one at a time or nearly (secondary limits on
/// concurrency and on content-creating requests per minute).
const DEFAULT_CONCURRENCY: usize = 2;

/// Builds a [`GithubDestination`].
///
/// ```
/// use kms_sync_github::{GithubConfig, GithubConnection, GithubDestination};
/// let destination = GithubDestination::builder(GithubConnection::pat("github_pat_x")?, GithubConfig::repository("acme", "api"))
///     .with_base_url("https://github.example.com/api/v3")
///     .page_size(50)
///     .build()?;
/// assert_eq!(kms_sync_core::Destination::info(&destination).to_string(), "github:acme/api");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug)]
pub struct GithubDestinationBuilder {
    connection: GithubConnection,
    config: GithubConfig,
    settings: ClientSettings,
    page_size: usize,
}

impl GithubDestinationBuilder {
    /// Another base URL (a proxy, or a fake in tests). Default: the connection's
    /// ([`GithubConnection::base_url`]).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Transport settings: base URL, budget (default [`documented_budget`]), concurrency
    /// (default 2), retries, timeouts.
    pub fn settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Secrets per list page (`per_page`, 1–100; default 100).
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// Builds the destination. No request is made until the first `list`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid config or base URL.
    pub fn build(self) -> Result<GithubDestination> {
        self.config.validate()?;
        let concurrency = self.settings.concurrency_or(DEFAULT_CONCURRENCY);
        let client = GithubClient::connect(&self.connection, &self.settings, concurrency)?;
        let capabilities = Capabilities::new()
            .with_values_readable(false)
            .with_rate_budget(self.settings.budget_or(documented_budget()))
            .with_default_concurrency(concurrency)
            .with_max_entries(self.config.max_secrets());
        Ok(GithubDestination {
            info: DestinationInfo::new("github", self.config.target(), capabilities)
                .with_identity(self.config.identity()),
            client,
            path: self.config.secrets_path(),
            config: self.config,
            page_size: self.page_size,
            run: Arc::new(RunState::default()),
        })
    }
}

/// What one run learns once and shares between its writes: the scope's public key (read
/// at the first write after each list) and how many secrets the scope holds.
#[derive(Debug, Default)]
struct RunState {
    key: Mutex<Option<Result<ScopeKey>>>,
    held: AtomicUsize,
}

/// Syncs to GitHub Actions secrets: a repository's, one of its environments', or an
/// organization's (with the configured visibility and selected repositories).
///
/// Values are sealed to the scope's public key (read once per run) and can never be read
/// back, so they appear as [`RemoteValue::Hidden`]: without a ledger every run rewrites
/// every value, and the plan says so (`hidden value, no ledger`); with one, only changed
/// values are written. Every list is read completely (`per_page`, following `Link:
/// rel="next"`, checked against `total_count`). Keys follow [`GithubRules`] and are planned
/// upper-cased, as GitHub stores them. A plan whose creates would take the scope past
/// GitHub's documented count ([`GithubConfig::max_secrets`], declared as
/// [`Capabilities::max_entries`]) is refused before the first write; a create past it that
/// gets this far anyway (the scope filled meanwhile by this run) is refused before it is sent.
///
/// Writes go one `PUT` per key ([`Writer::PerKey`]), confirmed only by GitHub's documented
/// 201 or 204; a `DELETE` is confirmed by its 204, and one answered 404 is done.
///
/// ```no_run
/// use kms_sync_github::{GithubConfig, GithubConnection, GithubDestination};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let connection = GithubConnection::pat(std::env::var("GITHUB_TOKEN").unwrap_or_default())?;
/// let destination = GithubDestination::builder(connection, GithubConfig::repository("acme", "api"))
///     .build()?;
/// destination.validate_connection().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GithubDestination {
    info: DestinationInfo,
    client: GithubClient,
    config: GithubConfig,
    path: String,
    page_size: usize,
    run: Arc<RunState>,
}

impl GithubDestination {
    /// A builder with the defaults.
    pub fn builder(connection: GithubConnection, config: GithubConfig) -> GithubDestinationBuilder {
        GithubDestinationBuilder {
            connection,
            config,
            settings: ClientSettings::new(),
            page_size: MAX_PAGE_SIZE,
        }
    }

    /// Checks the credentials with one authenticated request: `GET /user` for a token (the
    /// user returned), the installation token exchange for a GitHub App (`None`).
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](ErrorKind::Unauthenticated) for wrong credentials,
    /// [`PermissionDenied`](ErrorKind::PermissionDenied) or
    /// [`NotFound`](ErrorKind::NotFound) for an App not installed where named.
    pub async fn validate_connection(&self) -> Result<Option<User>> {
        self.client.verify().await
    }

    /// The scope's key: read once after each list, then shared by the run's writes — a
    /// failure too, so a run whose key cannot be read fails each write without asking again.
    async fn scope_key(&self) -> Result<ScopeKey> {
        let mut key = self.run.key.lock().await;
        if let Some(known) = key.as_ref() {
            return known.clone();
        }
        let fetched = self.client.public_key(&self.path).await;
        *key = Some(fetched.clone());
        fetched
    }

    /// Takes a place for a new secret, or refuses one past the scope's limit.
    fn reserve(&self) -> Result<()> {
        let max = self.config.max_secrets();
        let held = self.run.held.fetch_add(1, Ordering::SeqCst);
        if held < max {
            return Ok(());
        }
        self.run.held.fetch_sub(1, Ordering::SeqCst);
        Err(Error::new(
            ErrorKind::InvalidValue,
            format!(
                "GitHub allows at most {max} secrets in {}; it holds {held}, so this create was not sent",
                self.config.target()
            ),
        ))
    }

    async fn put(&self, change: &Change, value: &SecretValue) -> Result<Applied> {
        let key = self.scope_key().await?;
        let sealed = key.seal(value)?;
        let sharing = self.config.org_sharing();
        let body = SecretBody {
            encrypted_value: &sealed,
            key_id: &key.key_id,
            visibility: sharing.map(|(v, _)| v.as_str()),
            selected_repository_ids: sharing.and_then(|(_, ids)| ids),
        };
        let written = self.client.put(&self.path, &change.key, &body).await?;
        Ok(match (change.kind, written) {
            (ChangeKind::Create, Written::Updated) => Applied::default()
                .noted("existed already (created elsewhere meanwhile); updated instead"),
            (ChangeKind::Update, Written::Created) => {
                Applied::default().noted("was gone (deleted elsewhere meanwhile); created instead")
            }
            _ => Applied::default(),
        })
    }

    async fn create(&self, change: &Change, value: &SecretValue) -> Result<Applied> {
        self.reserve()?;
        let result = self.put(change, value).await;
        if result
            .as_ref()
            .is_err_and(|e| e.kind() != ErrorKind::Unconfirmed)
        {
            self.run.held.fetch_sub(1, Ordering::SeqCst);
        }
        result
    }

    /// A delete; answered 404, already done.
    async fn delete(&self, change: &Change) -> Result<Applied> {
        match self.client.delete(&self.path, &change.key).await {
            Ok(()) => {
                self.run.held.fetch_sub(1, Ordering::SeqCst);
                Ok(Applied::default())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Applied::default().noted("already gone"))
            }
            Err(e) => Err(e),
        }
    }

    async fn write_one(&self, change: &Change) -> Result<Applied> {
        match change.kind {
            ChangeKind::Delete => self.delete(change).await,
            ChangeKind::Create => self.create(change, change.value_or_error()?).await,
            ChangeKind::Update => self.put(change, change.value_or_error()?).await,
        }
    }
}

#[async_trait]
impl Destination for GithubDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &GithubRules
    }

    /// Every secret name of the scope, values hidden. Starts a run: the public key is read
    /// again at the next write, and the scope's count is taken from this list.
    async fn list(&self) -> Result<Snapshot> {
        let names = self
            .client
            .names(&self.path, self.page_size)
            .await
            .map_err(|e| {
                e.with_destination(self.info.to_string())
                    .with_operation("list secrets")
            })?;
        *self.run.key.lock().await = None;
        self.run.held.store(names.len(), Ordering::SeqCst);
        let wanted = self.config.org_sharing().map(|(v, _)| v);
        let entries = names
            .into_iter()
            .map(|listed| listed_entry(listed, wanted))
            .collect();
        Ok(Snapshot::new(entries))
    }

    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

/// A listed secret as an entry: its value hidden, and one shared otherwise than the
/// configured visibility — or listed without the `visibility` GitHub documents on every
/// organization secret — must be rewritten whatever the ledger says (a `PUT` sets the
/// visibility again). The listed visibility is named only when it is one GitHub documents.
fn listed_entry(listed: ListedName, wanted: Option<Visibility>) -> RemoteEntry {
    let entry = RemoteEntry::new(listed.name, RemoteValue::Hidden);
    match (wanted, listed.visibility.as_deref()) {
        (Some(wanted), None) => entry.with_state(EntryState::must_replace(format!(
            "visibility not listed, configured {}",
            wanted.as_str()
        ))),
        (Some(wanted), Some(now)) if now != wanted.as_str() => {
            let now = match now {
                "all" | "private" | "selected" => now,
                _ => "another",
            };
            entry.with_state(EntryState::must_replace(format!(
                "visibility is {now}, configured {}",
                wanted.as_str()
            )))
        }
        _ => entry,
    }
}

#[async_trait]
impl PerKeyWriter for GithubDestination {
    /// One `PUT` or `DELETE` per change (plus the public key's `GET` once per run). Any
    /// error, an [`Unconfirmed`](ErrorKind::Unconfirmed) write included, is returned as is.
    async fn write(&self, change: &Change) -> Result<Applied> {
        self.write_one(change)
            .await
            .map_err(|e| e.with_key(&change.key))
    }
}
