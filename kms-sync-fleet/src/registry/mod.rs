//! The registry of the fleet: app connections, syncs, their status and run history, and the
//! triggers and claims through which workers run them. See [`SyncRegistry`].

/// `Debug` for a registry handle (a struct holding `shared`): its name, schema and
/// notification channel, never a credential or a key.
macro_rules! debug_handle {
    ($handle:ident) => {
        impl std::fmt::Debug for $handle {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.shared.debug_handle(stringify!($handle), f)
            }
        }
    };
}

mod body;
mod connections;
mod ids;
mod jobs;
mod patch;
mod polls;
mod rows;
mod runs;
mod syncs;
mod urls;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use kms_sync_core::http::ClientSettings;
use kms_sync_core::net::{UrlGuard, UrlPolicy};
use kms_sync_core::{async_trait, AppConnectionDefinition, DestinationRegistry, Error, Result};

use tokio_postgres::Statement;

use crate::crypto::KeyRing;
use crate::pool::PgPool;
use crate::state::PostgresStateStore;

pub use connections::{ConnectionPatch, ConnectionRecord, Connections};
pub use ids::{ConnectionId, JobId, SyncId};
pub(crate) use jobs::JobStatements;
pub use jobs::{Claim, Finished, Jobs, SkipReason, TriggerCause, Triggered};
pub(crate) use polls::{PollStatements, Polls, RoundEnd, Taken};
pub use runs::{RunEntry, RunOutcome, RunState};
pub use syncs::{ConnectionRef, Resolved, Source, SyncPatch, SyncRecord, Syncs};

/// How many runs the history keeps per sync unless configured.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_HISTORY, 50);
/// ```
pub const DEFAULT_HISTORY: usize = 50;
/// The first wait after a failed run, doubled after each further failure.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_BACKOFF_BASE.as_secs(), 10);
/// ```
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest wait after consecutive failures.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_BACKOFF_MAX.as_secs(), 900);
/// ```
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// Supplies a connection's credentials when the registry does not store them: the
/// embedder's own secret manager, looked up by the connection's id. A registry built with a
/// resolver and no [`KeyRing`] stores no credential at all (only the fields that are not
/// secret); one with both stores encrypted credentials and asks the resolver only for
/// connections stored without them.
///
/// ```
/// use kms_sync_core::{async_trait, AppConnectionDefinition, Result};
/// use kms_sync_fleet::{ConnectionId, CredentialResolver};
///
/// struct FromEnv;
///
/// #[async_trait]
/// impl CredentialResolver for FromEnv {
///     async fn connection(&self, id: ConnectionId) -> Result<AppConnectionDefinition> {
///         let token = std::env::var(format!("CONN_{}", id.to_string().replace('-', "_")))
///             .map_err(|_| kms_sync_core::Error::config(format!("no credentials for {id}")))?;
///         AppConnectionDefinition::from_json(&format!(
///             r#"{{"method": "api-key", "credentials": {{"apiKey": {token:?}}}}}"#
///         ))
///     }
/// }
/// ```
#[async_trait]
pub trait CredentialResolver: Send + Sync {
    /// The connection body (method and credentials; name and description are taken from
    /// the registry) of connection `id`.
    ///
    /// # Errors
    ///
    /// Whatever the lookup fails with; it is passed on to the caller unchanged.
    ///
    /// ```no_run
    /// # async fn f(r: &dyn kms_sync_fleet::CredentialResolver, id: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
    /// let connection = r.connection(id).await?;
    /// # Ok(()) }
    /// ```
    async fn connection(&self, id: ConnectionId) -> Result<AppConnectionDefinition>;
}

/// Everything the handles share.
pub(crate) struct Shared {
    pub pool: PgPool,
    pub destinations: DestinationRegistry,
    pub keys: Option<KeyRing>,
    pub resolver: Option<Arc<dyn CredentialResolver>>,
    /// The builder's overrides of the public credential fields, by kind; every other kind
    /// shows what its factory's facts declare.
    pub public_fields: BTreeMap<String, Vec<String>>,
    pub settings: ClientSettings,
    pub url_guard: UrlGuard,
    pub history: i64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub channel: String,
    /// The statements of jobs, the schema spliced in.
    pub jobs: JobStatements,
    /// The statements of the poll tables, the schema spliced in.
    pub polls: PollStatements,
    /// The ledgers, for the statements a run's end sends with its finish.
    pub ledger: PostgresStateStore,
    schema: String,
}

impl Shared {
    /// The `Debug` of a handle (`Connections`, `Syncs`, `Jobs`) named `name`: its schema
    /// and notification channel, never a credential or a key.
    pub fn debug_handle(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("schema", &self.pool.schema())
            .field("channel", &self.channel)
            .finish()
    }

    /// `template` with every `{s}` replaced by the quoted schema.
    pub fn sql(&self, template: &str) -> String {
        template.replace("{s}", &self.schema)
    }

    /// `sql` (the schema already spliced in) prepared on `client` through the connection's
    /// statement cache: no round trip after its first use on a connection.
    pub async fn prepared<C: GenericClient>(&self, client: &C, sql: &str) -> Result<Statement> {
        client
            .prepare_cached(sql)
            .await
            .map_err(|e| crate::error::db("preparing a statement", e))
    }

    /// The credential fields of connections of `app` that are not secret: the builder's
    /// override for that kind, else what its factory declares
    /// ([`DestinationFacts::public_credential_field_names`](kms_sync_core::DestinationFacts::public_credential_field_names)),
    /// else none.
    pub fn public_fields_of(&self, app: &str) -> Vec<String> {
        if let Some(fields) = self.public_fields.get(app) {
            return fields.clone();
        }
        self.destinations
            .factory(app)
            .map(|f| f.facts().public_credential_field_names())
            .unwrap_or_default()
            .iter()
            .map(|f| (*f).to_owned())
            .collect()
    }

    /// The backoff after `failures` consecutive failures (at least 1).
    pub fn backoff(&self, failures: u32) -> Duration {
        backoff_after(self.backoff_base, self.backoff_max, failures)
    }
}

/// `base` doubled `failures - 1` times, at most `max`.
pub(crate) fn backoff_after(base: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// The registry of a fleet, on the same [`PgPool`] (and schema) as the ledger and the scope
/// locks: the KMS's app connections ([`Connections`]), its Secret Syncs ([`Syncs`]), and
/// their triggers, claims, status and run history ([`Jobs`]). Workers and an HTTP API
/// speaking the KMS's routes are both built on it. Cheap to clone.
///
/// - **Connections** keep their credentials encrypted with AES-256-GCM under a [`KeyRing`]
///   the embedder supplies and that is never stored, or resolved by a
///   [`CredentialResolver`]. Only the fields each kind's factory declares public (in its
///   [`facts`](kms_sync_core::DestinationFactory::facts)) are kept in the clear.
/// - **Syncs** are the KMS's create-sync definitions, checked whole by
///   [`SecretSyncDefinition::parse`](kms_sync_core::SecretSyncDefinition::parse) with the
///   registry's [`DestinationRegistry`], and their connection's credentials by building the
///   destination (offline) when a sync is created or changed.
/// - **Jobs**: triggers coalesce (one pending per sync and operation), workers claim due
///   syncs with `FOR UPDATE SKIP LOCKED` under a lease, heartbeat, and finish or release.
///
/// ```no_run
/// use kms_sync_core::{DestinationRegistry, MemoryFactory, Operation};
/// use kms_sync_fleet::{KeyRing, PgPool, PostgresConfig, SyncRegistry, TriggerCause};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = PgPool::connect(PostgresConfig::builder().url("postgres://postgres@127.0.0.1/test").build()?).await?;
/// let registry = SyncRegistry::builder(pool, DestinationRegistry::new().with(MemoryFactory))
///     .key_ring(KeyRing::new("2025-06", [7u8; 32])?)
///     .build()?;
/// let conn = registry.connections().create("memory", &kms_sync_core::AppConnectionDefinition::from_json(
///     r#"{"name": "mem", "method": "none", "credentials": {}}"#)?).await?;
/// let sync = registry.syncs().create("memory", &format!(r#"{{"name": "api", "connectionId": "{}",
///     "environment": "dev", "secretPath": "/", "destinationConfig": {{}}}}"#, conn.id)).await?;
/// let job = registry.jobs().trigger(sync.id, Operation::Sync, TriggerCause::Manual).await?;
/// println!("queued {:?}", job.job_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SyncRegistry {
    shared: Arc<Shared>,
}

impl SyncRegistry {
    /// A builder on `pool` (already migrated by [`PgPool::connect`]) knowing the
    /// destination kinds of `destinations` (the facade's `kms_sync::registry()`, plus any
    /// of your own).
    ///
    /// ```no_run
    /// # fn build(pool: kms_sync_fleet::PgPool) -> kms_sync_core::Result<()> {
    /// use kms_sync_fleet::{KeyRing, SyncRegistry};
    /// let registry = SyncRegistry::builder(pool, kms_sync_core::DestinationRegistry::new())
    ///     .key_ring(KeyRing::new("primary", [1u8; 32])?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(pool: PgPool, destinations: DestinationRegistry) -> SyncRegistryBuilder {
        SyncRegistryBuilder {
            pool,
            destinations,
            keys: None,
            resolver: None,
            public_fields: BTreeMap::new(),
            settings: ClientSettings::default(),
            url_guard: None,
            history: DEFAULT_HISTORY,
            backoff: (DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX),
        }
    }

    /// The app connections.
    ///
    /// ```no_run
    /// # async fn show(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// for conn in registry.connections().list("bitbucket", None).await? {
    ///     println!("{} {}", conn.id, conn.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connections(&self) -> Connections {
        Connections::new(self.shared.clone())
    }

    /// The syncs.
    ///
    /// ```no_run
    /// # async fn show(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// for sync in registry.syncs().list("checkly", Some("my-project")).await? {
    ///     println!("{} {:?}", sync.name, sync.status.sync_status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn syncs(&self) -> Syncs {
        Syncs::new(self.shared.clone())
    }

    /// Triggers, claims, heartbeats, finishes and the run history.
    ///
    /// ```no_run
    /// # async fn show(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let claims = registry.jobs().claim("worker-1", std::time::Duration::from_secs(60), 10).await?;
    /// # Ok(()) }
    /// ```
    pub fn jobs(&self) -> Jobs {
        Jobs::new(self.shared.clone())
    }

    /// The channel every trigger (and every finish or release that leaves a trigger
    /// pending) notifies: the schema's name. A worker listens on a dedicated connection
    /// with `LISTEN "<channel>"` (quoted: see [`listen_statement`](Self::listen_statement))
    /// and claims when woken. The payload is not meaningful.
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// assert!(!registry.notify_channel().is_empty());
    /// # }
    /// ```
    pub fn notify_channel(&self) -> &str {
        &self.shared.channel
    }

    /// The `LISTEN` statement for [`notify_channel`](Self::notify_channel), quoted.
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// assert_eq!(registry.listen_statement(), format!("LISTEN \"{}\"", registry.notify_channel()));
    /// # }
    /// ```
    pub fn listen_statement(&self) -> String {
        format!("LISTEN \"{}\"", self.shared.channel)
    }

    /// The pool the registry works on (the crate's own: SQL stays in the registry).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// The fleet's ledgers, on the registry's pool and schema (what its workers' runs
    /// read and write).
    ///
    /// ```no_run
    /// # async fn show(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// use kms_sync_core::StateStore;
    /// let ledger = registry.ledger_store().load(&id.to_string()).await?;
    /// # Ok(()) }
    /// ```
    pub fn ledger_store(&self) -> PostgresStateStore {
        self.shared.ledger.clone()
    }

    /// The poll tables (shared reads and source triggers).
    pub(crate) fn polls(&self) -> Polls {
        Polls::new(self.shared.clone())
    }

    /// The server the registry's pool connects to (`host:port`), for logs.
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// println!("{}", registry.server());
    /// # }
    /// ```
    pub fn server(&self) -> &str {
        self.shared.pool.server()
    }

    /// The destination kinds the registry validates with.
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// println!("{:?}", registry.destinations().kinds());
    /// # }
    /// ```
    pub fn destinations(&self) -> &DestinationRegistry {
        &self.shared.destinations
    }

    /// The URL guard connections are checked with when stored, and destinations built
    /// with: the builder's [`url_policy`](SyncRegistryBuilder::url_policy), public HTTPS
    /// only by default. Workers on this registry use it too unless given their own.
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// println!("{:?}", registry.url_guard().policy().allowed());
    /// # }
    /// ```
    pub fn url_guard(&self) -> &UrlGuard {
        &self.shared.url_guard
    }

    /// The client settings destinations are built with, the URL guard applied: what the
    /// API checks a connection's credentials with (`verify_connection`), so a check never
    /// reaches an address the guard refuses.
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// let settings = registry.client_settings().clone();
    /// # }
    /// ```
    pub fn client_settings(&self) -> &ClientSettings {
        &self.shared.settings
    }

    /// The audit trail in this registry's schema (table `audit_events`): the default
    /// [`AuditSink`](crate::AuditSink) of the API and of [`AuditRuns`](crate::AuditRuns).
    ///
    /// ```no_run
    /// # fn show(registry: kms_sync_fleet::SyncRegistry) {
    /// let log = registry.audit_log();
    /// # }
    /// ```
    pub fn audit_log(&self) -> crate::PgAuditSink {
        crate::audit::PgAuditSink::new(self.shared.clone())
    }
}

impl fmt::Debug for SyncRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("SyncRegistry")
            .field("pool", &s.pool)
            .field("destinations", &s.destinations)
            .field("keys", &s.keys)
            .field("resolver", &s.resolver.as_ref().map(|_| "[configured]"))
            .field("history", &s.history)
            .field("backoff", &(s.backoff_base, s.backoff_max))
            .finish()
    }
}

/// Builds a [`SyncRegistry`].
///
/// ```no_run
/// # fn build(pool: kms_sync_fleet::PgPool) -> kms_sync_core::Result<()> {
/// use std::time::Duration;
/// let registry = kms_sync_fleet::SyncRegistry::builder(pool, kms_sync_core::DestinationRegistry::new())
///     .key_ring(kms_sync_fleet::KeyRing::new("primary", [1u8; 32])?)
///     .history(100)
///     .backoff(Duration::from_secs(5), Duration::from_secs(600))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct SyncRegistryBuilder {
    pool: PgPool,
    destinations: DestinationRegistry,
    keys: Option<KeyRing>,
    resolver: Option<Arc<dyn CredentialResolver>>,
    public_fields: BTreeMap<String, Vec<String>>,
    settings: ClientSettings,
    url_guard: Option<UrlGuard>,
    history: usize,
    backoff: (Duration, Duration),
}

impl SyncRegistryBuilder {
    /// The keys credentials are encrypted with (the current one) and decrypted with (any).
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) -> kms_sync_core::Result<()> {
    /// let b = b.key_ring(kms_sync_fleet::KeyRing::new("2025-06", [1u8; 32])?);
    /// # Ok(()) }
    /// ```
    pub fn key_ring(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Resolves the credentials of connections stored without them (every connection,
    /// when no key ring is set).
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder, r: std::sync::Arc<dyn kms_sync_fleet::CredentialResolver>) {
    /// let b = b.credential_resolver(r);
    /// # }
    /// ```
    pub fn credential_resolver(mut self, resolver: Arc<dyn CredentialResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// The credential fields of `app` that are not secret and may be stored in the clear
    /// and shown, replacing what that kind's factory declares in its
    /// [`facts`](kms_sync_core::DestinationFactory::facts). Kinds not named here show
    /// their facts' fields.
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) {
    /// let b = b.public_credential_fields("vault", &["address"]);
    /// # }
    /// ```
    pub fn public_credential_fields(mut self, app: &str, fields: &[&str]) -> Self {
        self.public_fields.insert(
            app.to_owned(),
            fields.iter().map(|f| (*f).to_owned()).collect(),
        );
        self
    }

    /// The client settings destinations are built with when a sync is checked (a base URL
    /// or `allow_insecure_http` your workers also use). Default: the destinations' own.
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) {
    /// let b = b.client_settings(kms_sync_core::http::ClientSettings::new());
    /// # }
    /// ```
    pub fn client_settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Which URLs a connection may name and destinations may reach: checked on every URL
    /// field of a connection's credentials when it is created or updated (a refused one is
    /// never stored, and its userinfo never echoed), and again at connect time by the
    /// clients destinations are built with (the settings get a [`UrlGuard`] of this policy
    /// unless they carry one). Default [`UrlPolicy::public_only`]: public HTTPS hosts only —
    /// allow your fakes' `http://127.0.0.1:<port>` or on-premises networks explicitly.
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) -> kms_sync_core::Result<()> {
    /// use kms_sync_core::net::UrlPolicy;
    /// let b = b.url_policy(UrlPolicy::public_only().allow("10.20.0.0/16".parse()?));
    /// # Ok(()) }
    /// ```
    pub fn url_policy(self, policy: UrlPolicy) -> Self {
        self.url_guard(UrlGuard::new(policy))
    }

    /// As [`url_policy`](Self::url_policy), with the guard's own resolver (your DNS, or a
    /// test's).
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) {
    /// use kms_sync_core::net::{UrlGuard, UrlPolicy};
    /// let b = b.url_guard(UrlGuard::new(UrlPolicy::public_only()));
    /// # }
    /// ```
    pub fn url_guard(mut self, guard: UrlGuard) -> Self {
        self.url_guard = Some(guard);
        self
    }

    /// How many runs the history keeps per sync (at least 1; default 50).
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) {
    /// let b = b.history(20);
    /// # }
    /// ```
    pub fn history(mut self, runs: usize) -> Self {
        self.history = runs.max(1);
        self
    }

    /// The backoff after failed runs: `base` after the first, doubled after each further
    /// one, at most `max` (defaults 10 s and 15 min).
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) {
    /// let b = b.backoff(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60));
    /// # }
    /// ```
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff = (base, max.max(base));
        self
    }

    /// The registry.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) when neither a key ring nor a
    /// credential resolver is set: credentials would have nowhere to go.
    ///
    /// ```no_run
    /// # fn build(b: kms_sync_fleet::SyncRegistryBuilder) -> kms_sync_core::Result<()> {
    /// let registry = b.build()?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<SyncRegistry> {
        if self.keys.is_none() && self.resolver.is_none() {
            return Err(Error::config(
                "the sync registry needs a key ring to encrypt connection credentials, or a \
                 credential resolver to look them up",
            ));
        }
        let schema = self.pool.schema_name().quoted();
        let channel = self.pool.schema().to_owned();
        let url_guard = self
            .url_guard
            .unwrap_or_else(|| UrlGuard::new(UrlPolicy::public_only()));
        let settings = guarded(self.settings, &url_guard);
        let ledger = PostgresStateStore::new(self.pool.clone());
        Ok(SyncRegistry {
            shared: Arc::new(Shared {
                pool: self.pool,
                destinations: self.destinations,
                keys: self.keys,
                resolver: self.resolver,
                public_fields: self.public_fields,
                settings,
                url_guard,
                history: i64::try_from(self.history).unwrap_or(i64::MAX),
                backoff_base: self.backoff.0,
                backoff_max: self.backoff.1,
                channel,
                jobs: JobStatements::new(&schema),
                polls: PollStatements::new(&schema),
                ledger,
                schema,
            }),
        })
    }
}

impl fmt::Debug for SyncRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncRegistryBuilder")
            .field("pool", &self.pool)
            .field("keys", &self.keys)
            .field("resolver", &self.resolver.as_ref().map(|_| "[configured]"))
            .finish_non_exhaustive()
    }
}

/// `settings` with `guard` unless they carry a guard of their own.
pub(crate) fn guarded(settings: ClientSettings, guard: &UrlGuard) -> ClientSettings {
    match settings.url_guard() {
        Some(_) => settings,
        None => settings.with_url_guard(guard.clone()),
    }
}

/// Whether `err` carries SQLSTATE `code`.
pub(crate) fn has_code(
    err: &tokio_postgres::Error,
    code: &tokio_postgres::error::SqlState,
) -> bool {
    err.code() == Some(code)
}

/// The KMS's rule for names: lowercase letters and digits, words joined by single `-`.
pub(crate) fn slug_friendly(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The longest description the KMS takes.
pub(crate) const MAX_DESCRIPTION: usize = 256;

/// Checks a description's length (the KMS's 256 characters).
pub(crate) fn check_description(what: &str, description: Option<&str>) -> Result<()> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(Error::config(format!(
            "{what}: the description is longer than {MAX_DESCRIPTION} characters"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_kms() {
        for good in ["a", "my-sync", "a1-b2"] {
            assert!(slug_friendly(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "a b", "a/b", "a_b"] {
            assert!(!slug_friendly(bad), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(60));
        let waits: Vec<u64> = (1..=6)
            .map(|n| backoff_after(base, max, n).as_secs())
            .collect();
        assert_eq!(waits, [10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff_after(base, max, u32::MAX), max);
        assert_eq!(backoff_after(base, max, 0), base);
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(check_description("x", Some(&"d".repeat(256))).is_ok());
        assert!(check_description("x", Some(&"d".repeat(257))).is_err());
        assert!(check_description("x", None).is_ok());
    }
}
