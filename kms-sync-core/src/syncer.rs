//! The [`Syncer`]: one source, one destination, options — plan, apply, sync, remove, import.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tracing::{debug, info, warn, Instrument};

use crate::destination::{
    ApplyContext, Change, ChangeKind, Destination, Outcome, OutcomeStatus, RemoteValue, WriteMode,
};
use crate::error::{Error, ErrorKind, Result};
use crate::options::SyncOptions;
use crate::plan::{plan, Plan, PlanAction, PlanInput, PlanOptions};
use crate::progress::Progress;
use crate::report::{Counts, KeyReport, KeyStatus, Operation, RunStatus, StatusRecord, SyncReport};
use crate::schema::{KeySchema, NoKeySchema, TemplateKeySchema};
use crate::source::{SecretSink, SecretSource};
use crate::state::{Fingerprinter, Ledger, StateStore};
use crate::stats::RequestStats;

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
}

impl SyncerBuilder {
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
        let info = destination.info();
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
            status: Mutex::new(StatusRecord::default()),
            initial_done: AtomicBool::new(false),
        })
    }
}

/// Keeps one destination in step with one source.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::*;
/// # futures::executor::block_on(async {
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
/// # Ok::<(), kms_sync_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Syncer {
    id: String,
    source: Arc<dyn SecretSource>,
    destination: Arc<dyn Destination>,
    schema: Arc<dyn KeySchema>,
    options: SyncOptions,
    state: Option<(Arc<dyn StateStore>, Arc<Fingerprinter>)>,
    sink: Option<Arc<dyn SecretSink>>,
    progress: Option<Arc<Progress>>,
    status: Mutex<StatusRecord>,
    initial_done: AtomicBool,
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

struct Run {
    job_id: String,
    started: Instant,
    requests_before: RequestStats,
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

    /// The status record after the last operation, with the KMS's field names.
    pub fn status(&self) -> StatusRecord {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn start(&self) -> Run {
        Run {
            job_id: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
            requests_before: self.destination.request_stats(),
        }
    }

    fn record(
        &self,
        operation: Operation,
        run: &Run,
        status: RunStatus,
        message: Option<String>,
    ) -> StatusRecord {
        match self.status.lock() {
            Ok(mut record) => {
                record.record(operation, &run.job_id, status, message, SystemTime::now());
                record.clone()
            }
            Err(_) => StatusRecord::default(),
        }
    }

    fn fail<T>(&self, operation: Operation, run: &Run, err: Error) -> Result<T> {
        warn!(sync_id = %self.id, %operation, error = %err, "operation failed before writing");
        self.record(operation, run, RunStatus::Failed, Some(err.to_string()));
        Err(err)
    }

    /// Loads the source; any failure becomes a [`Source`](ErrorKind::Source) error saying
    /// nothing was written (fail closed).
    async fn load_source(&self) -> Result<crate::secret::SecretSet> {
        self.source
            .load()
            .await
            .map_err(|e| source_error(e, &*self.source))
    }

    async fn load_ledger(&self) -> Result<Option<Ledger>> {
        match &self.state {
            Some((store, _)) => Ok(Some(store.load(&self.id).await?.unwrap_or_default())),
            None => Ok(None),
        }
    }

    fn concurrency(&self) -> usize {
        self.options
            .concurrency
            .unwrap_or_else(|| self.destination.info().capabilities.default_concurrency())
            .max(1)
    }

    /// Reads the source and the destination and plans. Writes nothing.
    ///
    /// # Errors
    ///
    /// A source error (nothing is planned from a partial source), a list error, or a
    /// refusal from [`plan`](crate::plan()) naming every key involved.
    pub async fn plan(&self) -> Result<Plan> {
        let span = tracing::info_span!("plan", sync_id = %self.id);
        async {
            let source = self.load_source().await?;
            let snapshot = self.destination.list().await?;
            let ledger = self.load_ledger().await?;
            let name = self.source.describe();
            let plan = plan(PlanInput {
                source: &source,
                source_name: &name,
                snapshot: &snapshot,
                schema: &*self.schema,
                destination: &*self.destination,
                ledger: ledger.as_ref(),
                fingerprinter: self.state.as_ref().map(|(_, fp)| &**fp),
                options: PlanOptions {
                    disable_secret_deletion: self.options.disable_secret_deletion,
                    deletion_guard: self.options.deletion_guard,
                },
            })?;
            let c = plan.counts();
            info!(create = c.create, update = c.update, delete = c.delete, unchanged = c.unchanged, skip = c.skip, "planned");
            for item in plan.items() {
                if item.action != PlanAction::Unchanged {
                    debug!(key = %item.key, action = %item.action, reason = item.reason.as_deref().unwrap_or(""), "plan item");
                }
            }
            Ok(plan)
        }
        .instrument(span)
        .await
    }

    /// Applies a plan made by this syncer; records the ledger and the status.
    ///
    /// Failed keys do not make this an `Err`: they are in the report (`counts.failed`,
    /// [`SyncReport::failed_keys`]) and the status record says `failed`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) if the plan was made for another destination.
    pub async fn apply(&self, plan: &Plan) -> Result<SyncReport> {
        let run = self.start();
        self.apply_run(plan, &run, Operation::Sync).await
    }

    async fn apply_run(&self, plan: &Plan, run: &Run, operation: Operation) -> Result<SyncReport> {
        let info = self.destination.info();
        if plan.destination() != info.to_string() {
            return self.fail(
                operation,
                run,
                Error::config(format!(
                    "this plan was made for {}, not {info}",
                    plan.destination()
                )),
            );
        }
        let span =
            tracing::info_span!("apply", sync_id = %self.id, job_id = %run.job_id, %operation);
        async {
            let context = ApplyContext {
                concurrency: self.concurrency(),
                snapshot_version: plan.snapshot_version().map(str::to_owned),
                progress: self.progress.clone(),
            };
            let changes = plan.changes();
            if let Some(p) = &self.progress {
                p.start(changes.len());
            }
            let outcomes = if changes.is_empty() {
                Vec::new()
            } else {
                self.destination.apply(changes, &context).await
            };
            if let Some(p) = &self.progress {
                p.finish();
            }
            let outcomes = align_outcomes(changes, outcomes);

            let mut warnings: Vec<String> = plan
                .warnings()
                .iter()
                .map(|w| format!("{}: {}", w.key, w.message))
                .collect();
            if let Err(err) = self.update_ledger(changes, &outcomes).await {
                warn!(error = %err, "ledger not saved");
                warnings.push(format!(
                    "the ledger could not be saved, so the next sync rewrites hidden values: {err}"
                ));
            }

            let mut keys: Vec<KeyReport> = plan
                .items()
                .iter()
                .filter(|i| matches!(i.action, PlanAction::Unchanged | PlanAction::Skip))
                .map(|i| KeyReport {
                    key: i.key.clone(),
                    status: if i.action == PlanAction::Skip {
                        KeyStatus::Skipped
                    } else {
                        KeyStatus::Unchanged
                    },
                    change: None,
                    note: i.reason.clone(),
                    error: None,
                })
                .collect();
            keys.extend(outcomes.into_iter().map(key_report));
            keys.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(self.finish(operation, run, plan.source().to_owned(), keys, warnings))
        }
        .instrument(span)
        .await
    }

    fn finish(
        &self,
        operation: Operation,
        run: &Run,
        source: String,
        keys: Vec<KeyReport>,
        warnings: Vec<String>,
    ) -> SyncReport {
        let mut counts = Counts::default();
        for k in &keys {
            counts.add(k.status);
            match k.status {
                KeyStatus::Failed => {
                    warn!(key = %k.key, change = ?k.change, error = ?k.error.as_ref().map(ToString::to_string), "change failed")
                }
                KeyStatus::Skipped => {
                    debug!(key = %k.key, reason = k.note.as_deref().unwrap_or(""), "skipped")
                }
                KeyStatus::Unchanged => {}
                status => debug!(key = %k.key, ?status, "applied"),
            }
        }
        let (status, message) = if counts.failed == 0 {
            (RunStatus::Succeeded, None)
        } else {
            let failed: Vec<&str> = keys
                .iter()
                .filter(|k| k.status == KeyStatus::Failed)
                .map(|k| k.key.as_str())
                .collect();
            let kinds: HashSet<String> = keys
                .iter()
                .filter_map(|k| k.error.as_ref().map(|e| e.kind().to_string()))
                .collect();
            let mut kinds: Vec<String> = kinds.into_iter().collect();
            kinds.sort();
            (
                RunStatus::Failed,
                Some(format!(
                    "{} of {} change(s) failed ({}): {}",
                    counts.failed,
                    counts.failed + counts.applied() + counts.skipped,
                    kinds.join(", "),
                    failed.join(", ")
                )),
            )
        };
        if operation == Operation::Sync && status == RunStatus::Succeeded {
            self.initial_done.store(true, Ordering::SeqCst);
        }
        let record = self.record(operation, run, status, message);
        let requests = self.destination.request_stats().since(&run.requests_before);
        info!(
            sync_id = %self.id,
            %operation,
            created = counts.created,
            updated = counts.updated,
            deleted = counts.deleted,
            unchanged = counts.unchanged,
            failed = counts.failed,
            skipped = counts.skipped,
            requests = requests.total(),
            "done"
        );
        SyncReport {
            operation,
            sync_id: self.id.clone(),
            job_id: run.job_id.clone(),
            source,
            destination: self.destination.info().to_string(),
            keys,
            counts,
            requests,
            duration: run.started.elapsed(),
            warnings,
            status: record,
        }
    }

    async fn update_ledger(&self, changes: &[Change], outcomes: &[Outcome]) -> Result<()> {
        let Some((store, fingerprinter)) = &self.state else {
            return Ok(());
        };
        let mut ledger = store.load(&self.id).await?.unwrap_or_default();
        let mut touched = false;
        for (change, outcome) in changes.iter().zip(outcomes) {
            let OutcomeStatus::Applied(applied) = &outcome.status else {
                continue;
            };
            touched = true;
            match (change.kind, &change.value) {
                (ChangeKind::Delete, _) => {
                    ledger.forget(&change.key);
                }
                (_, Some(value)) => {
                    let id = applied.id.clone().or_else(|| {
                        change
                            .current
                            .as_ref()
                            .and_then(|c| c.id().map(str::to_owned))
                    });
                    ledger.record(
                        change.key.clone(),
                        id,
                        fingerprinter.fingerprint(&change.key, value),
                    );
                }
                (_, None) => {}
            }
        }
        if touched {
            store.save(&self.id, &ledger).await?;
        }
        Ok(())
    }

    /// Plans and applies. Re-running with nothing changed makes no writes.
    ///
    /// With an importing [`InitialSyncBehavior`](crate::InitialSyncBehavior), the first sync
    /// of this syncer (when the ledger holds nothing for it) imports first. A batch
    /// destination whose write lost a race (version conflict) is re-read, re-planned and
    /// retried up to [`SyncOptions::conflict_retries`] times.
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan); failed keys are in the report, not an `Err`.
    pub async fn sync(&self) -> Result<SyncReport> {
        if self.options.initial_sync_behavior.imports() && self.is_initial().await? {
            let report = self.import().await?;
            if !report.is_success() {
                return Ok(report);
            }
        }
        let mut attempt = 0;
        loop {
            let run = self.start();
            let plan = match self.plan().await {
                Ok(plan) => plan,
                Err(err) => return self.fail(Operation::Sync, &run, err),
            };
            let report = self.apply_run(&plan, &run, Operation::Sync).await?;
            let lost_race = self.destination.info().capabilities.write_mode() == WriteMode::Batch
                && report.counts.failed > 0
                && report
                    .keys
                    .iter()
                    .filter_map(|k| k.error.as_ref())
                    .all(|e| e.kind() == ErrorKind::Conflict);
            if lost_race && attempt < self.options.conflict_retries {
                attempt += 1;
                info!(sync_id = %self.id, attempt, "batch write lost a race; re-planning");
                continue;
            }
            return Ok(report);
        }
    }

    async fn is_initial(&self) -> Result<bool> {
        if self.initial_done.load(Ordering::SeqCst) {
            return Ok(false);
        }
        Ok(match &self.state {
            Some((store, _)) => store.load(&self.id).await?.is_none_or(|l| l.is_empty()),
            None => true,
        })
    }

    /// Deletes every destination entry this sync manages: keys the schema owns that the
    /// source renders to or the ledger says this sync wrote. Nothing else is touched.
    ///
    /// # Errors
    ///
    /// A source or list error (nothing is deleted); failed keys are in the report.
    pub async fn remove(&self) -> Result<SyncReport> {
        let run = self.start();
        let prepared = async {
            let source = self.load_source().await?;
            let snapshot = self.destination.list().await?;
            let ledger = self.load_ledger().await?;
            Ok::<_, Error>((source, snapshot, ledger))
        }
        .await;
        let (source, snapshot, ledger) = match prepared {
            Ok(p) => p,
            Err(err) => return self.fail(Operation::Remove, &run, err),
        };
        let env = source.environment();
        let mut ours: HashSet<String> = source.keys().map(|k| self.schema.render(k, env)).collect();
        if let Some(ledger) = &ledger {
            ours.extend(ledger.keys().map(str::to_owned));
        }
        let changes: Vec<Change> = snapshot
            .entries()
            .iter()
            .filter(|e| ours.contains(e.key()) && self.schema.owns(e.key(), env))
            .map(|e| Change::delete(e.clone()))
            .collect();
        let context = ApplyContext {
            concurrency: self.concurrency(),
            snapshot_version: snapshot.version().map(str::to_owned),
            progress: self.progress.clone(),
        };
        if let Some(p) = &self.progress {
            p.start(changes.len());
        }
        let outcomes = if changes.is_empty() {
            Vec::new()
        } else {
            self.destination.apply(&changes, &context).await
        };
        if let Some(p) = &self.progress {
            p.finish();
        }
        let outcomes = align_outcomes(&changes, outcomes);
        let mut warnings = Vec::new();
        if let Err(err) = self.update_ledger(&changes, &outcomes).await {
            warnings.push(format!("the ledger could not be saved: {err}"));
        }
        let keys = outcomes.into_iter().map(key_report).collect();
        Ok(self.finish(
            Operation::Remove,
            &run,
            self.source.describe(),
            keys,
            warnings,
        ))
    }

    /// Reads managed destination entries into the source given to
    /// [`import_into`](SyncerBuilder::import_into), keys stripped of the schema.
    /// With `import-prioritize-source`, keys the source already has are left as they are;
    /// otherwise the destination's value wins.
    ///
    /// # Errors
    ///
    /// [`Unsupported`](ErrorKind::Unsupported) if the destination cannot read values back
    /// (Bitbucket, Checkly and Octopus cannot); [`Config`](ErrorKind::Config) without an import
    /// target; a source or list error.
    pub async fn import(&self) -> Result<SyncReport> {
        let run = self.start();
        let info = self.destination.info();
        if !info.capabilities.import() || !info.capabilities.values_readable() {
            return self.fail(
                Operation::Import,
                &run,
                Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{} does not support importing: its values cannot be read back",
                        info.kind
                    ),
                )
                .with_destination(info.to_string()),
            );
        }
        let Some(sink) = &self.sink else {
            return self.fail(
                Operation::Import,
                &run,
                Error::config("import needs a target: call SyncerBuilder::import_into(...)"),
            );
        };
        let prepared = async {
            let source = self.load_source().await?;
            let snapshot = self.destination.list().await?;
            Ok::<_, Error>((source, snapshot))
        }
        .await;
        let (source, snapshot) = match prepared {
            Ok(p) => p,
            Err(err) => return self.fail(Operation::Import, &run, err),
        };
        let env = source.environment();
        let prefer_source = self.options.initial_sync_behavior
            != crate::options::InitialSyncBehavior::ImportPrioritizeDestination;
        let mut imported = Vec::new();
        let mut keys = Vec::new();
        for entry in snapshot.entries() {
            let Some(source_key) = self.schema.strip(entry.key(), env) else {
                continue;
            };
            let (status, note) = match entry.value() {
                RemoteValue::Hidden => (KeyStatus::Skipped, Some("value is hidden".to_owned())),
                RemoteValue::Known(_) if prefer_source && source.contains_key(&source_key) => (
                    KeyStatus::Unchanged,
                    Some("kept the source's value".to_owned()),
                ),
                RemoteValue::Known(value) => {
                    imported.push((source_key.clone(), value.clone()));
                    (KeyStatus::Imported, None)
                }
            };
            keys.push(KeyReport {
                key: entry.key().to_owned(),
                status,
                change: None,
                note,
                error: None,
            });
        }
        if let Err(err) = sink.write(imported).await {
            return self.fail(Operation::Import, &run, err);
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(self.finish(
            Operation::Import,
            &run,
            self.source.describe(),
            keys,
            Vec::new(),
        ))
    }
}

fn source_error(err: Error, source: &dyn SecretSource) -> Error {
    if err.kind() == ErrorKind::Source {
        err
    } else {
        Error::new(
            ErrorKind::Source,
            format!(
                "source {} failed, nothing was written: {err}",
                source.describe()
            ),
        )
        .with_source(err)
    }
}

/// One outcome per change, whatever the destination returned.
fn align_outcomes(changes: &[Change], outcomes: Vec<Outcome>) -> Vec<Outcome> {
    if outcomes.len() == changes.len()
        && outcomes
            .iter()
            .zip(changes)
            .all(|(o, c)| o.key == c.key && o.kind == c.kind)
    {
        return outcomes;
    }
    // A destination broke the contract; never guess which change an outcome belongs to.
    changes
        .iter()
        .map(|c| {
            outcomes
                .iter()
                .find(|o| o.key == c.key && o.kind == c.kind)
                .cloned()
                .unwrap_or_else(|| {
                    Outcome::of(
                        c,
                        Err(Error::unexpected(
                            "the destination returned no outcome for this change",
                        )
                        .with_key(&c.key)),
                    )
                })
        })
        .collect()
}

fn key_report(outcome: Outcome) -> KeyReport {
    let (status, note, error) = match outcome.status {
        OutcomeStatus::Applied(applied) => (
            match outcome.kind {
                ChangeKind::Create => KeyStatus::Created,
                ChangeKind::Update => KeyStatus::Updated,
                ChangeKind::Delete => KeyStatus::Deleted,
            },
            applied.note,
            None,
        ),
        OutcomeStatus::Failed(err) => (KeyStatus::Failed, None, Some(err)),
        OutcomeStatus::Skipped(reason) => (KeyStatus::Skipped, Some(reason), None),
    };
    KeyReport {
        key: outcome.key,
        status,
        change: Some(outcome.kind),
        note,
        error,
    }
}
