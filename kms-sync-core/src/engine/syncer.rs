//! The [`Syncer`]: one source, one destination, options — plan, apply, sync, remove, import.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::{info, warn};

use super::run::Run;
use crate::destination::{Destination, DestinationInfo};
use crate::engine::options::SyncOptions;
use crate::engine::progress::Progress;
use crate::engine::report::{Operation, RunStatus, StatusRecord};
use crate::engine::scope_lock::{LocalScopeLocks, ScopeLocks};
use crate::engine::stop::{StopSignal, DEFAULT_STOP_GRACE};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{KeySchema, NoKeySchema, TemplateKeySchema};
use crate::source::{SecretSink, SecretSource};
use crate::state::{Fingerprinter, StateStore};

/// Builds a [`Syncer`]. A source and a destination are required; everything else has a
/// default (no key schema, [`SyncOptions::default`], no ledger).
#[derive(Default)]
pub struct SyncerBuilder {
    id: Option<String>,
    source: Option<Arc<dyn SecretSource>>,
    destination: Option<Arc<dyn Destination>>,
    schema: Option<Arc<dyn KeySchema>>,
    schema_template: Option<String>,
    options: SyncOptions,
    state: Option<(Arc<dyn StateStore>, Arc<Fingerprinter>)>,
    sink: Option<Arc<dyn SecretSink>>,
    progress: Option<Arc<Progress>>,
    scope_locks: Option<Arc<dyn ScopeLocks>>,
    stop: Option<StopSignal>,
    stop_grace: Option<std::time::Duration>,
}

impl SyncerBuilder {
    /// The signal that stops this syncer's runs (default: one of its own, never given; see
    /// [`Syncer::stop_signal`]). After [`StopSignal::stop`] no new write starts, writes in
    /// flight get the [`stop_grace`](Self::stop_grace), the ledger is saved and the report
    /// says [`interrupted`](crate::SyncReport::interrupted); see [`StopSignal`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use kms_sync_core::*;
    /// let signal = StopSignal::new();
    /// let syncer = Syncer::builder()
    ///     .source(Arc::new(StaticSource::new(SecretSet::new("prod"))))
    ///     .destination(Arc::new(MemoryDestination::builder().build()))
    ///     .stop_signal(signal.clone())
    ///     .build()?;
    /// signal.stop(); // e.g. from a SIGTERM handler
    /// assert!(syncer.stop_signal().is_stopped());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn stop_signal(mut self, signal: StopSignal) -> Self {
        self.stop = Some(signal);
        self
    }
    /// How long writes in flight may take to finish after a stop before they are dropped
    /// and reported unconfirmed (default [`DEFAULT_STOP_GRACE`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use kms_sync_core::*;
    /// let builder = Syncer::builder().stop_grace(std::time::Duration::from_secs(2));
    /// ```
    pub fn stop_grace(mut self, grace: std::time::Duration) -> Self {
        self.stop_grace = Some(grace);
        self
    }
    /// A counter of the current apply's finished changes, for a progress bar.
    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }
    /// The sync's id: the ledger's key in the state store and the report's `syncId`.
    /// Default: `<source>-><destination>`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Where secrets come from.
    pub fn source(mut self, source: Arc<dyn SecretSource>) -> Self {
        self.source = Some(source);
        self
    }
    /// Where secrets go.
    pub fn destination(mut self, destination: Arc<dyn Destination>) -> Self {
        self.destination = Some(destination);
        self
    }
    /// A key schema.
    pub fn key_schema(mut self, schema: impl KeySchema + 'static) -> Self {
        self.schema = Some(Arc::new(schema));
        self.schema_template = None;
        self
    }
    /// A key schema template such as `KMS_{{secretKey}}`, parsed by [`build`](Self::build)
    /// (an invalid template is a [`Config`](ErrorKind::Config) error there).
    pub fn key_schema_template(mut self, template: impl Into<String>) -> Self {
        self.schema_template = Some(template.into());
        self.schema = None;
        self
    }
    /// The options.
    pub fn options(mut self, options: SyncOptions) -> Self {
        self.options = options;
        self
    }
    /// Keeps a ledger in `store`, fingerprinting values with `fingerprinter`.
    pub fn state(mut self, store: Arc<dyn StateStore>, fingerprinter: Fingerprinter) -> Self {
        self.state = Some((store, Arc::new(fingerprinter)));
        self
    }
    /// The scope-lock provider (default [`LocalScopeLocks::process`]); a fleet passes one
    /// shared by every process.
    pub fn scope_locks(mut self, locks: Arc<dyn ScopeLocks>) -> Self {
        self.scope_locks = Some(locks);
        self
    }
    /// The description of the destination set so far, if one is: e.g. to choose a ledger
    /// file by its [`identity`](crate::DestinationInfo::identity) before building.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use kms_sync_core::{MemoryDestination, Syncer};
    /// let builder = Syncer::builder().destination(Arc::new(MemoryDestination::builder().build()));
    /// let identity = builder.destination_info().map(|info| info.identity.to_string());
    /// assert_eq!(identity.as_deref(), Some("memory:name=default"));
    /// ```
    pub fn destination_info(&self) -> Option<&DestinationInfo> {
        self.destination.as_ref().map(|d| d.info())
    }
    /// Where [`Syncer::import`] (and an importing initial sync) writes what it reads.
    pub fn import_into(mut self, sink: Arc<dyn SecretSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Builds the syncer.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for a missing source or destination or an invalid key
    /// schema; [`Unsupported`](ErrorKind::Unsupported) for an importing initial sync behaviour
    /// on a destination that cannot read values back; [`Config`](ErrorKind::Config) for an
    /// importing behaviour without [`import_into`](Self::import_into).
    pub fn build(self) -> Result<Syncer> {
        let source = self
            .source
            .ok_or_else(|| Error::config("a Syncer needs a source: call .source(...)"))?;
        let destination = self
            .destination
            .ok_or_else(|| Error::config("a Syncer needs a destination: call .destination(...)"))?;
        let schema: Arc<dyn KeySchema> = match (self.schema, self.schema_template) {
            (_, Some(template)) => Arc::new(TemplateKeySchema::parse(&template)?),
            (Some(schema), None) => schema,
            (None, None) => Arc::new(NoKeySchema),
        };
        let info = destination.info().clone();
        let behavior = self.options.initial_sync_behavior;
        if behavior.imports() {
            if !info.capabilities.import() {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "initialSyncBehavior `{behavior}` needs to read values back, and {} does not support importing; use overwrite-destination",
                        info.kind
                    ),
                )
                .with_destination(info.to_string()));
            }
            if self.sink.is_none() {
                return Err(Error::config(format!(
                    "initialSyncBehavior `{behavior}` imports into the source: call .import_into(...)"
                )));
            }
        }
        let id = self
            .id
            .unwrap_or_else(|| format!("{}->{}", source.describe(), info));
        if id.trim().is_empty() {
            return Err(Error::config("the sync id is empty"));
        }
        Ok(Syncer {
            id,
            source,
            destination,
            schema,
            options: self.options,
            state: self.state,
            sink: self.sink,
            progress: self.progress,
            scope_locks: self
                .scope_locks
                .unwrap_or_else(|| LocalScopeLocks::process() as Arc<dyn ScopeLocks>),
            status: Mutex::new(StatusRecord::default()),
            initial_done: AtomicBool::new(false),
            stop: self.stop.unwrap_or_default(),
            stop_grace: self.stop_grace.unwrap_or(DEFAULT_STOP_GRACE),
        })
    }
}

/// Keeps one destination in step with one source.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::*;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("DB_PASSWORD", "pw")));
/// let destination = Arc::new(MemoryDestination::builder().build());
/// let syncer = Syncer::builder()
///     .source(source.clone())
///     .destination(destination.clone())
///     .key_schema_template("APP_{{secretKey}}")
///     .build()?;
///
/// let plan = syncer.plan().await?;
/// assert_eq!(plan.counts().create, 1);
/// let report = syncer.apply(&plan).await?;
/// assert_eq!(report.counts.created, 1);
///
/// // Nothing changed: the resync writes nothing.
/// let report = syncer.sync().await?;
/// assert_eq!(report.requests.writes(), 0);
/// # Ok(()) }
/// ```
///
/// **Interrupted runs stay owned.** With a ledger, before any create or update is sent the
/// ledger records a claim on every key about to be written (its key and known id, never a
/// value or fingerprint); after the writes, a confirmed write gets its fingerprint, a write
/// the service refused on a key the sync did not own is withdrawn, and an unconfirmed one
/// keeps its claim. A run that dies in between (`kill -9`) leaves claims the next run
/// reconciles: a claimed key the source still holds is rewritten, one the source dropped is
/// deleted (and [`remove`](Syncer::remove) deletes it), and a claim on a key that is neither
/// at the destination nor in the source is forgotten. A run is stopped cleanly with a
/// [`StopSignal`](crate::StopSignal) ([`SyncerBuilder::stop_signal`]).
pub struct Syncer {
    pub(super) id: String,
    pub(super) source: Arc<dyn SecretSource>,
    pub(super) destination: Arc<dyn Destination>,
    pub(super) schema: Arc<dyn KeySchema>,
    pub(super) options: SyncOptions,
    pub(super) state: Option<(Arc<dyn StateStore>, Arc<Fingerprinter>)>,
    pub(super) sink: Option<Arc<dyn SecretSink>>,
    pub(super) progress: Option<Arc<Progress>>,
    pub(super) scope_locks: Arc<dyn ScopeLocks>,
    pub(super) status: Mutex<StatusRecord>,
    pub(super) initial_done: AtomicBool,
    pub(super) stop: StopSignal,
    pub(super) stop_grace: std::time::Duration,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("id", &self.id)
            .field("source", &self.source.describe())
            .field("destination", &self.destination.info().to_string())
            .field("key_schema", &self.schema.describe())
            .field("options", &self.options)
            .field("ledger", &self.state.is_some())
            .finish()
    }
}

impl Syncer {
    /// A builder.
    pub fn builder() -> SyncerBuilder {
        SyncerBuilder::default()
    }

    /// The sync's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The options.
    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// The destination.
    pub fn destination(&self) -> &Arc<dyn Destination> {
        &self.destination
    }

    /// The source.
    pub fn source(&self) -> &Arc<dyn SecretSource> {
        &self.source
    }

    /// The signal that stops this syncer's runs (see [`StopSignal`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use kms_sync_core::*;
    /// let syncer = Syncer::builder()
    ///     .source(Arc::new(StaticSource::new(SecretSet::new("prod"))))
    ///     .destination(Arc::new(MemoryDestination::builder().build()))
    ///     .build()?;
    /// assert!(!syncer.stop_signal().is_stopped());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn stop_signal(&self) -> &StopSignal {
        &self.stop
    }

    /// The status record after the last operation, with the KMS's field names.
    pub fn status(&self) -> StatusRecord {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(super) fn record(
        &self,
        operation: Operation,
        run: &Run,
        status: RunStatus,
        message: Option<String>,
    ) -> StatusRecord {
        if operation == Operation::Sync && status == RunStatus::Succeeded {
            self.initial_done.store(true, Ordering::SeqCst);
        }
        match self.status.lock() {
            Ok(mut record) => {
                record.record(operation, &run.job_id, status, message, SystemTime::now());
                record.clone()
            }
            Err(_) => StatusRecord::default(),
        }
    }

    /// Ends an operation that failed before writing: the error, scrubbed of every value the
    /// run has seen, is logged, recorded in the status and returned.
    pub(super) fn fail<T>(&self, operation: Operation, run: &Run, err: Error) -> Result<T> {
        let err = run.scrub(&err);
        warn!(sync_id = %self.id, %operation, error = %err, "operation failed before writing");
        self.record(operation, run, RunStatus::Failed, Some(err.to_string()));
        Err(err)
    }

    /// Whether the next sync is the initial one: the ledger has not seen a sync complete
    /// without failures (without a ledger: this syncer has not).
    pub(super) fn initial_done(&self) -> bool {
        self.initial_done.load(Ordering::SeqCst)
    }

    pub(super) async fn is_initial(&self) -> Result<bool> {
        if self.initial_done() {
            return Ok(false);
        }
        Ok(match &self.state {
            Some((store, _)) => store.load(&self.id).await?.is_none_or(|l| !l.is_settled()),
            None => true,
        })
    }

    pub(super) fn log_done(&self, operation: Operation, report: &crate::SyncReport) {
        let c = report.counts;
        info!(
            sync_id = %self.id,
            %operation,
            created = c.created,
            updated = c.updated,
            deleted = c.deleted,
            unchanged = c.unchanged,
            failed = c.failed,
            unconfirmed = c.unconfirmed,
            not_attempted = c.not_attempted,
            skipped = c.skipped,
            requests = report.requests.total(),
            "done"
        );
    }
}

impl Syncer {
    /// Refuses a write operation of a disabled sync (the KMS's `isEnabled: false`).
    pub(super) fn refuse_if_disabled(&self, operation: Operation) -> Result<()> {
        if self.options.enabled {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Disabled,
            format!(
                "sync `{}` is disabled (isEnabled: false): {operation} is refused and nothing was written; plan is allowed",
                self.id
            ),
        ))
    }
}

pub(super) fn unsupported_import(kind: &str, target: String) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{kind} does not support importing: its values cannot be read back"),
    )
    .with_destination(target)
}
