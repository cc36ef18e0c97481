//! The fleet tests' kit: instrumented destinations, counted sources, workers, a metrics
//! recorder. Shared with the restart test's binary (`tests/postgres_restart.rs`).

#![allow(dead_code)] // each binary uses its part

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, AppConnectionDefinition, Applied, Change, Destination, DestinationFactory,
    DestinationInfo, DestinationRegistry, Error, KeyRules, MemoryDestination, MemoryFactory,
    PerKeyWriter, Result, Revision, RunStatus, SecretSet, SecretSource, Snapshot, StaticSource,
    Writer,
};
use kms_sync_fleet::{
    ConnectionRecord, JobId, KeyRing, SourceKey, SourceProvider, SyncId, SyncRecord, SyncRegistry,
    TriggerCause, Worker, WorkerBuilder, WorkerSummary,
};

use crate::support::{fail, TestDb};

/// The ledger key of every test worker.
pub const LEDGER_KEY: &[u8] = b"fleet-test-ledger-hmac-key-0123456789";

/// One target's activity, across every run and worker of this process.
#[derive(Debug, Default)]
pub struct TargetStats {
    /// Destinations of this target alive now (built, not yet dropped).
    pub active: AtomicUsize,
    /// Times a destination was built while another of the target was alive.
    pub overlaps: AtomicUsize,
    /// Runs that listed the target.
    pub runs: AtomicUsize,
    /// `(built, dropped)` microseconds since the epoch, per run that listed.
    pub intervals: Mutex<Vec<(u64, u64)>>,
}

#[derive(Default)]
struct Targets {
    destinations: HashMap<String, Arc<MemoryDestination>>,
    stats: HashMap<String, Arc<TargetStats>>,
}

/// The `fleet-memory` destination kind: `{"target": "t", "listDelayMs": 5, "writeDelayMs": 0}`.
#[derive(Clone, Default)]
pub struct TrackedFactory {
    targets: Arc<Mutex<Targets>>,
}

impl TrackedFactory {
    /// The memory destination behind `target`.
    pub fn destination(&self, target: &str) -> Arc<MemoryDestination> {
        let mut t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        t.destinations
            .entry(target.to_owned())
            .or_insert_with(|| {
                // One write at a time, so a slow destination applies a run key by key.
                Arc::new(
                    MemoryDestination::builder()
                        .target(target)
                        .concurrency(1)
                        .build(),
                )
            })
            .clone()
    }

    /// The activity of `target`.
    pub fn stats(&self, target: &str) -> Arc<TargetStats> {
        let mut t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        t.stats.entry(target.to_owned()).or_default().clone()
    }

    /// Overlaps over every target.
    pub fn overlaps(&self) -> usize {
        let t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        t.stats
            .values()
            .map(|s| s.overlaps.load(Ordering::SeqCst))
            .sum()
    }
}

struct TrackedConfig {
    target: String,
    list_delay_ms: u64,
    write_delay_ms: u64,
}

fn tracked_config(text: &str) -> Result<TrackedConfig> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::config(format!("fleet-memory config: {e}")))?;
    let ms = |name: &str| v.get(name).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Ok(TrackedConfig {
        target: v
            .get("target")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Error::config("fleet-memory config: `target` is required"))?
            .to_owned(),
        list_delay_ms: ms("listDelayMs"),
        write_delay_ms: ms("writeDelayMs"),
    })
}

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl DestinationFactory for TrackedFactory {
    fn kind(&self) -> &'static str {
        "fleet-memory"
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        tracked_config(destination_config).map(|_| ())
    }

    fn build(
        &self,
        _connection: &AppConnectionDefinition,
        destination_config: &str,
        _settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let config = tracked_config(destination_config)?;
        let stats = self.stats(&config.target);
        if stats.active.fetch_add(1, Ordering::SeqCst) > 0 {
            stats.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Arc::new(Tracked {
            inner: self.destination(&config.target),
            stats,
            built: micros_now(),
            listed: AtomicUsize::new(0),
            list_delay: Duration::from_millis(config.list_delay_ms),
            write_delay: Duration::from_millis(config.write_delay_ms),
        }))
    }
}

struct Tracked {
    inner: Arc<MemoryDestination>,
    stats: Arc<TargetStats>,
    built: u64,
    listed: AtomicUsize,
    list_delay: Duration,
    write_delay: Duration,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.listed.load(Ordering::SeqCst) > 0 {
            self.stats
                .intervals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((self.built, micros_now()));
        }
        self.stats.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Destination for Tracked {
    fn info(&self) -> &DestinationInfo {
        self.inner.info()
    }
    fn rules(&self) -> &dyn KeyRules {
        self.inner.rules()
    }
    async fn list(&self) -> Result<Snapshot> {
        if self.listed.fetch_add(1, Ordering::SeqCst) == 0 {
            self.stats.runs.fetch_add(1, Ordering::SeqCst);
        }
        if !self.list_delay.is_zero() {
            tokio::time::sleep(self.list_delay).await;
        }
        self.inner.list().await
    }
    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

#[async_trait]
impl PerKeyWriter for Tracked {
    async fn write(&self, change: &Change) -> Result<Applied> {
        if !self.write_delay.is_zero() {
            tokio::time::sleep(self.write_delay).await;
        }
        PerKeyWriter::write(&*self.inner, change).await
    }
}

/// Static sources, one per key, shared by every worker of this process: `VALUE` is
/// `<environment>:<path>:<generation>`. Counts `revision()` and `load()` calls.
#[derive(Default)]
pub struct Sources {
    sources: Mutex<HashMap<SourceKey, Arc<Counted>>>,
    pub asked: AtomicUsize,
}

pub struct Counted {
    pub inner: StaticSource,
    pub revisions: AtomicUsize,
    pub loads: AtomicUsize,
}

#[async_trait]
impl SecretSource for Counted {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn load(&self) -> Result<SecretSet> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load().await
    }
    async fn revision(&self) -> Result<Option<Revision>> {
        self.revisions.fetch_add(1, Ordering::SeqCst);
        self.inner.revision().await
    }
}

impl Sources {
    /// The source of `key`, made on first use.
    pub fn get(&self, key: &SourceKey) -> Arc<Counted> {
        let mut s = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        s.entry(key.clone())
            .or_insert_with(|| {
                let set = SecretSet::new(key.environment.clone())
                    .with(
                        "VALUE",
                        format!("{}:{}:0", key.environment, key.secret_path),
                    )
                    .with("OTHER", "constant");
                Arc::new(Counted {
                    inner: StaticSource::new(set),
                    revisions: AtomicUsize::new(0),
                    loads: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Sum of `revision()` calls over every source.
    pub fn revisions(&self) -> usize {
        let s = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        s.values().map(|c| c.revisions.load(Ordering::SeqCst)).sum()
    }
}

#[async_trait]
impl SourceProvider for Sources {
    async fn source(
        &self,
        project_id: Option<&str>,
        environment: &str,
        secret_path: &str,
    ) -> Result<Arc<dyn SecretSource>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(self.get(&SourceKey::new(project_id, environment, secret_path)))
    }
}

/// The kinds the fleet tests use: the tracked memory kind, plain memory.
pub fn destinations(tracked: &TrackedFactory) -> DestinationRegistry {
    DestinationRegistry::new()
        .with(MemoryFactory)
        .with(tracked.clone())
}

/// A registry on a new pool of `db`.
pub async fn registry(db: &TestDb, tracked: &TrackedFactory) -> Result<SyncRegistry> {
    SyncRegistry::builder(db.pool().await?, destinations(tracked))
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .backoff(Duration::from_millis(300), Duration::from_secs(2))
        .build()
}

/// The `fleet-memory` connection.
pub async fn connection(registry: &SyncRegistry) -> Result<ConnectionRecord> {
    registry
        .connections()
        .create(
            "fleet-memory",
            &AppConnectionDefinition::from_json(
                r#"{"name": "fleet-mem", "method": "none", "projectId": "p1",
                    "credentials": {"token": "fleet-memory-token"}}"#,
            )?,
        )
        .await
}

/// Sync `name` on `connection`, reading `/<path>` in `dev`, writing to target `name`.
pub async fn sync(
    registry: &SyncRegistry,
    connection: &ConnectionRecord,
    name: &str,
    path: &str,
    auto: bool,
    extra_config: &str,
) -> Result<SyncRecord> {
    let body = format!(
        r#"{{"name": "{name}", "projectId": "p1", "connectionId": "{}", "environment": "dev",
            "secretPath": "/{path}", "isAutoSyncEnabled": {auto},
            "destinationConfig": {{"target": "{name}"{extra_config}}}}}"#,
        connection.id
    );
    registry.syncs().create("fleet-memory", &body).await
}

/// A registry on `db`, its tracked factory and the `fleet-memory` connection: every fleet
/// test's first three steps.
pub async fn fleet(db: &TestDb) -> Result<(TrackedFactory, SyncRegistry, ConnectionRecord)> {
    let tracked = TrackedFactory::default();
    let registry = registry(db, &tracked).await?;
    let conn = connection(&registry).await?;
    Ok((tracked, registry, conn))
}

/// A manual sync `name` reading `/<path>` whose every write takes `write_delay_ms`.
pub async fn slow_sync(
    registry: &SyncRegistry,
    connection: &ConnectionRecord,
    name: &str,
    path: &str,
    write_delay_ms: u64,
) -> Result<SyncRecord> {
    let extra = format!(r#", "writeDelayMs": {write_delay_ms}"#);
    sync(registry, connection, name, path, false, &extra).await
}

/// `count` manual syncs `s0`, `s1`, … reading `/p0` … `/p<sources - 1>` in turn, with
/// `extra_config`; their ids.
pub async fn many_syncs(
    registry: &SyncRegistry,
    connection: &ConnectionRecord,
    count: usize,
    sources: usize,
    extra_config: &str,
) -> Result<Vec<kms_sync_fleet::SyncId>> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let (name, path) = (format!("s{i}"), format!("p{}", i % sources));
        let s = sync(registry, connection, &name, &path, false, extra_config).await?;
        ids.push(s.id);
    }
    Ok(ids)
}

/// Waits (up to 20 s) until sync `id`'s status is `want`; an error naming where it stopped
/// otherwise.
pub async fn status_reached(registry: &SyncRegistry, id: SyncId, want: RunStatus) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let status = registry.syncs().get(id).await?.status;
        if status.sync_status == Some(want) {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(Error::unexpected(format!(
                "sync {id} never became {want:?}: {status:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every run in `db`'s history — each must have succeeded — as each sync's job ids, sorted.
pub async fn succeeded_runs(db: &TestDb) -> Result<HashMap<SyncId, Vec<JobId>>> {
    let sql = format!(
        "SELECT sync_id, job_id, outcome FROM \"{}\".sync_runs",
        db.schema()
    );
    let rows = db.admin().await?.query(&sql, &[]).await.map_err(fail)?;
    let mut ran: HashMap<SyncId, Vec<JobId>> = HashMap::new();
    for row in &rows {
        let outcome: String = row.get("outcome");
        assert_eq!(outcome, "succeeded", "every run succeeded: {rows:?}");
        let sync = SyncId::parse(&row.get::<_, uuid::Uuid>("sync_id").to_string())?;
        let job = JobId::parse(&row.get::<_, uuid::Uuid>("job_id").to_string())?;
        ran.entry(sync).or_default().push(job);
    }
    ran.values_mut().for_each(|jobs| jobs.sort());
    Ok(ran)
}

/// Triggers a sync of every sync of `ids` once, adding each job given to `jobs`; how many
/// syncs answered.
pub async fn trigger_round(
    registry: &SyncRegistry,
    ids: &[SyncId],
    jobs: &mut HashMap<SyncId, HashSet<JobId>>,
) -> Result<usize> {
    let results = registry
        .jobs()
        .trigger_many(ids, kms_sync_core::Operation::Sync, TriggerCause::Manual)
        .await?;
    let answered = results.len();
    for (id, t) in results {
        let job = t
            .job_id()
            .ok_or_else(|| Error::unexpected(format!("{t:?}")))?;
        jobs.entry(id).or_default().insert(job);
    }
    Ok(answered)
}

/// The jobs given to sync `id` (in `jobs`), sorted.
pub fn given(jobs: &HashMap<SyncId, HashSet<JobId>>, id: &SyncId) -> Vec<JobId> {
    let mut given: Vec<JobId> = jobs
        .get(id)
        .map(|j| j.iter().copied().collect())
        .unwrap_or_default();
    given.sort();
    given
}

/// A worker builder with the tests' ledger key, short leases, no source polling.
pub fn worker(registry: SyncRegistry, sources: Arc<dyn SourceProvider>, id: &str) -> WorkerBuilder {
    Worker::builder(registry, sources)
        .worker_id(id)
        .ledger_key(LEDGER_KEY.to_vec())
        .lease(Duration::from_secs(10))
        .heartbeat(Duration::from_secs(2))
        .concurrency(8)
        .fallback_poll(Duration::from_secs(2))
        .source_poll(None)
        .shutdown_grace(Duration::from_secs(5))
}

/// Workers running on this runtime until [`Running::stop`].
pub struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<Result<WorkerSummary>>>,
}

impl Running {
    pub fn start(workers: Vec<Worker>) -> Running {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let handles = workers
            .into_iter()
            .map(|w| {
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    w.run_until(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await
                })
            })
            .collect();
        Running { stop, handles }
    }

    pub async fn stop(self) -> Result<Vec<WorkerSummary>> {
        let _ = self.stop.send(true);
        let mut out = Vec::new();
        for h in self.handles {
            out.push(h.await.map_err(fail)??);
        }
        Ok(out)
    }
}

/// Waits until no trigger is pending and no lease is held (checked twice, 100 ms apart),
/// or fails after `limit`.
pub async fn quiescent(db: &TestDb, limit: Duration) -> Result<()> {
    let admin = db.admin().await?;
    let s = format!("\"{}\"", db.schema());
    let sql = format!(
        "SELECT (SELECT count(*) FROM {s}.sync_triggers) + \
                (SELECT count(*) FROM {s}.sync_state WHERE lease_token IS NOT NULL)"
    );
    let until = Instant::now() + limit;
    let mut calm = 0;
    loop {
        let busy: i64 = admin.query_one(&sql, &[]).await.map_err(fail)?.get(0);
        calm = if busy == 0 { calm + 1 } else { 0 };
        if calm >= 2 {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(Error::unexpected(format!(
                "still {busy} pending triggers or leases after {limit:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A recorder of the `metrics` facade kept for the whole test process: counters and
/// histograms by name and labels, read without resetting (tests run in parallel and tell
/// their metrics apart by the `worker` label).
#[derive(Default)]
pub struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

#[derive(Default)]
pub struct Samples(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(value);
    }
}

fn key_text(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        metrics::Counter::from_arc(c.entry(key_text(key)).or_default().clone())
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let mut h = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        metrics::Histogram::from_arc(h.entry(key_text(key)).or_default().clone())
    }
}

static RECORDER: OnceLock<&'static TestRecorder> = OnceLock::new();

/// The process's test recorder, installed on first use.
pub fn recorder() -> &'static TestRecorder {
    RECORDER.get_or_init(|| {
        let recorder: &'static TestRecorder = Box::leak(Box::default());
        let _ = metrics::set_global_recorder(recorder);
        kms_sync_fleet::metrics::describe();
        recorder
    })
}

impl TestRecorder {
    /// The counter `name` with exactly these labels (sorted `k=v`, comma-separated).
    pub fn counter(&self, name: &str, labels: &str) -> u64 {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&format!("{name}{{{labels}}}"))
            .map_or(0, |v| v.load(Ordering::SeqCst))
    }

    /// The samples of histogram `name` with exactly these labels.
    pub fn samples(&self, name: &str, labels: &str) -> Vec<f64> {
        let h = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        h.get(&format!("{name}{{{labels}}}"))
            .map(|s| s.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }
}
