//! [`WorkerBuilder`]: a worker's settings, checked when it is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{Error, Fingerprinter, Result, StopSignal};
use secrecy::SecretBox;

use super::{
    Ctx, Worker, DEFAULT_CONCURRENCY, DEFAULT_FALLBACK_POLL, DEFAULT_LEASE, DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_SOURCE_POLL,
};
use crate::locks::PostgresScopeLocks;
use crate::registry::SyncRegistry;
use crate::sources::{SourceCache, SourceProvider};
use crate::state::PostgresStateStore;

/// Builds a [`Worker`]. The ledger key is required; everything else has a default.
///
/// ```no_run
/// # fn build(registry: kms_sync_fleet::SyncRegistry, sources: std::sync::Arc<dyn kms_sync_fleet::SourceProvider>) -> kms_sync_core::Result<()> {
/// use std::time::Duration;
/// let worker = kms_sync_fleet::Worker::builder(registry, sources)
///     .worker_id("host-a/1")
///     .ledger_key(vec![7u8; 32])
///     .lease(Duration::from_secs(30))
///     .heartbeat(Duration::from_secs(10))
///     .concurrency(16)
///     .source_poll(Some(Duration::from_secs(120)))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct WorkerBuilder {
    registry: SyncRegistry,
    sources: Arc<dyn SourceProvider>,
    id: Option<String>,
    ledger_key: Option<Vec<u8>>,
    lease: Duration,
    heartbeat: Option<Duration>,
    concurrency: usize,
    fallback_poll: Duration,
    source_poll: Option<Duration>,
    shutdown_grace: Duration,
    settings: ClientSettings,
    url_policy: Option<kms_sync_core::net::UrlPolicy>,
    run_listeners: Vec<Arc<dyn crate::RunListener>>,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("id", &self.id)
            .field(
                "ledger_key",
                &self.ledger_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("lease", &self.lease)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A builder for a worker on `registry` reading secrets through `sources`.
    ///
    /// ```no_run
    /// # fn build(registry: kms_sync_fleet::SyncRegistry, sources: std::sync::Arc<dyn kms_sync_fleet::SourceProvider>) -> kms_sync_core::Result<()> {
    /// let worker = kms_sync_fleet::Worker::builder(registry, sources).ledger_key(vec![7u8; 32]).build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(registry: SyncRegistry, sources: Arc<dyn SourceProvider>) -> WorkerBuilder {
        WorkerBuilder {
            registry,
            sources,
            id: None,
            ledger_key: None,
            lease: DEFAULT_LEASE,
            heartbeat: None,
            concurrency: DEFAULT_CONCURRENCY,
            fallback_poll: DEFAULT_FALLBACK_POLL,
            source_poll: Some(DEFAULT_SOURCE_POLL),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            settings: ClientSettings::new(),
            url_policy: None,
            run_listeners: Vec::new(),
        }
    }
}

fn check_worker_id(id: &str) -> Result<()> {
    if id.trim().is_empty() || id.chars().count() > 200 || id.chars().any(char::is_control) {
        return Err(Error::config(
            "a worker id must be 1 to 200 characters without control characters",
        ));
    }
    Ok(())
}

impl WorkerBuilder {
    /// The worker's id, unique in the fleet (default: `worker-<pid>-<random>`).
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.worker_id("host-a/1"); }
    /// ```
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The ledger's HMAC key (at least 16 bytes, the same on every worker of the fleet):
    /// fingerprints of the values each sync wrote, and of the sources' revisions. Kept in
    /// memory only, never stored. Required.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.ledger_key(b"a 32-byte key from your secrets".to_vec()); }
    /// ```
    pub fn ledger_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.ledger_key = Some(key.into());
        self
    }

    /// The lease of each claim (100 ms to 24 h; default 60 s): how long after this
    /// worker's last heartbeat another may take a sync over.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.lease(std::time::Duration::from_secs(30)); }
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often a running sync renews its lease (default: a third of the lease; must be
    /// shorter than the lease).
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.heartbeat(std::time::Duration::from_secs(10)); }
    /// ```
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    /// How many syncs this worker runs at once (1 to 1,000; default 8).
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.concurrency(16); }
    /// ```
    pub fn concurrency(mut self, syncs: usize) -> Self {
        self.concurrency = syncs;
        self
    }

    /// How often to look for due syncs when no notification came (default 30 s): the
    /// safety net under `LISTEN`.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.fallback_poll(std::time::Duration::from_secs(10)); }
    /// ```
    pub fn fallback_poll(mut self, every: Duration) -> Self {
        self.fallback_poll = every.max(Duration::from_millis(50));
        self
    }

    /// The fleet's source poll interval (default 60 s), or `None` for a worker that never
    /// runs poll rounds (other workers, webhooks or manual triggers then drive it). Rounds
    /// come once per interval across the fleet, whichever worker runs them.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.source_poll(None); }
    /// ```
    pub fn source_poll(mut self, every: Option<Duration>) -> Self {
        self.source_poll = every.map(|e| e.max(Duration::from_millis(100)));
        self
    }

    /// How long shutdown lets running syncs finish before stopping and releasing them
    /// (default 30 s; zero releases at once).
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.shutdown_grace(std::time::Duration::from_secs(5)); }
    /// ```
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The client settings destinations are built with (a base URL for a fake, a budget).
    /// Default: each destination's own.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) { let b = b.client_settings(kms_sync_core::http::ClientSettings::new()); }
    /// ```
    pub fn client_settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Which URLs the destinations this worker builds may reach, checked at connect time on
    /// every request and redirect hop. Default: the registry's
    /// ([`SyncRegistry::url_guard`](crate::SyncRegistry::url_guard), public HTTPS only
    /// unless its builder allowed more). Client settings that carry their own guard keep it.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) -> kms_sync_core::Result<()> {
    /// use kms_sync_core::net::UrlPolicy;
    /// let b = b.url_policy(UrlPolicy::public_only().allow("http://127.0.0.1:8080".parse()?));
    /// # Ok(()) }
    /// ```
    pub fn url_policy(mut self, policy: kms_sync_core::net::UrlPolicy) -> Self {
        self.url_policy = Some(policy);
        self
    }

    /// Tells `listener` when each run ends (after its end is recorded), on a task of its
    /// own so it never delays a run: the audit trail ([`AuditRuns`](crate::AuditRuns)),
    /// failure notices. Call again to add more.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder, registry: kms_sync_fleet::SyncRegistry) {
    /// use std::sync::Arc;
    /// let audit = kms_sync_fleet::AuditRuns::new(registry.clone(), Arc::new(registry.audit_log()));
    /// let b = b.run_listener(Arc::new(audit));
    /// # }
    /// ```
    pub fn run_listener(mut self, listener: Arc<dyn crate::RunListener>) -> Self {
        self.run_listeners.push(listener);
        self
    }

    /// The worker.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) without a ledger key or with one
    /// under 16 bytes, for a lease out of range, a heartbeat not shorter than the lease, a
    /// concurrency of 0 or over 1,000, or an invalid worker id.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_fleet::WorkerBuilder) -> kms_sync_core::Result<()> {
    /// let worker = b.build()?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Worker> {
        let key = self.ledger_key.ok_or_else(|| {
            Error::config(
                "a worker needs the ledger's HMAC key (WorkerBuilder::ledger_key), the same on \
                 every worker of the fleet",
            )
        })?;
        Fingerprinter::new(key.clone())?;
        let id = self.id.unwrap_or_else(|| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("worker-{}-{}", std::process::id(), &random[..8])
        });
        check_worker_id(&id)?;
        if !(Duration::from_millis(100)..=Duration::from_secs(24 * 3600)).contains(&self.lease) {
            return Err(Error::config(
                "a worker's lease must be between 100 ms and 24 h",
            ));
        }
        let heartbeat = self.heartbeat.unwrap_or(self.lease / 3);
        if heartbeat.is_zero() || heartbeat >= self.lease {
            return Err(Error::config(
                "a worker's heartbeat must be shorter than its lease (a third of it is usual)",
            ));
        }
        if self.concurrency == 0 || self.concurrency > 1000 {
            return Err(Error::config("a worker runs 1 to 1,000 syncs at once"));
        }
        let pool = self.registry.pool().clone();
        let guard = match self.url_policy {
            Some(policy) => kms_sync_core::net::UrlGuard::new(policy),
            None => self.registry.url_guard().clone(),
        };
        let settings = crate::registry::guarded(self.settings, &guard);
        Ok(Worker {
            ctx: Arc::new(Ctx {
                store: Arc::new(PostgresStateStore::new(pool.clone())),
                locks: Arc::new(PostgresScopeLocks::new(pool)),
                registry: self.registry,
                sources: Arc::new(SourceCache::new(self.sources)),
                ledger_key: Arc::new(SecretBox::new(key.into_boxed_slice())),
                id,
                lease: self.lease,
                heartbeat,
                concurrency: self.concurrency,
                fallback_poll: self.fallback_poll,
                source_poll: self.source_poll,
                shutdown_grace: self.shutdown_grace,
                settings,
                run_listeners: self.run_listeners,
                stop: std::sync::Mutex::new(StopSignal::new()),
                releases_sent: std::sync::Mutex::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_are_checked() {
        assert!(check_worker_id("host-a/1").is_ok());
        assert!(check_worker_id(" ").is_err());
        assert!(check_worker_id("a\nb").is_err());
        assert!(check_worker_id(&"w".repeat(201)).is_err());
    }
}
