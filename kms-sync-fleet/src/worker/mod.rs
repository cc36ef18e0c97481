//! [`Worker`]: one process's share of the fleet. It claims due syncs from the registry,
//! runs each with a [`Syncer`](kms_sync_core::Syncer) over the fleet's ledger and scope
//! locks while heartbeating its lease, records the outcome, wakes on `LISTEN`, runs the
//! fleet's poll rounds in turn, and on shutdown finishes or releases what it runs.

mod heartbeat;
mod listen;
mod poll;
mod run;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{Error, Fingerprinter, Result, StopSignal};
use secrecy::SecretBox;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::locks::PostgresScopeLocks;
use crate::registry::{Claim, SyncRegistry};
use crate::sources::{SourceCache, SourceProvider};
use crate::state::PostgresStateStore;
use crate::triggers::SharedReads;

use run::Ended;

/// The lease of a claim unless configured.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_LEASE.as_secs(), 60);
/// ```
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// How many syncs a worker runs at once unless configured.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_CONCURRENCY, 8);
/// ```
pub const DEFAULT_CONCURRENCY: usize = 8;
/// How often a worker looks for due syncs when no notification woke it.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_FALLBACK_POLL.as_secs(), 30);
/// ```
pub const DEFAULT_FALLBACK_POLL: Duration = Duration::from_secs(30);
/// How often the fleet reads its sources unless configured (once per interval across the
/// fleet, not per worker).
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_SOURCE_POLL.as_secs(), 60);
/// ```
pub const DEFAULT_SOURCE_POLL: Duration = Duration::from_secs(60);
/// How long shutdown waits for running syncs to finish before releasing them.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_SHUTDOWN_GRACE.as_secs(), 30);
/// ```
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// With a backlog, how long a worker waits for half its slots to free before claiming.
const CLAIM_LINGER: Duration = Duration::from_millis(20);

/// What a worker did, returned when it stops.
///
/// ```no_run
/// # async fn run(worker: kms_sync_fleet::Worker) -> kms_sync_core::Result<()> {
/// let summary = worker.run_until(std::future::pending()).await?; // your shutdown signal
/// println!("{} runs: {} succeeded, {} failed, {} lost, {} released",
///     summary.runs(), summary.succeeded, summary.failed, summary.lost, summary.released);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSummary {
    /// Syncs claimed.
    pub claimed: u64,
    /// Of them, taken over from a worker whose lease expired.
    pub taken_over: u64,
    /// Runs recorded as succeeded.
    pub succeeded: u64,
    /// Runs recorded as failed (the registry backs the sync off, and may retry).
    pub failed: u64,
    /// Runs whose lease was lost (taken over, or not renewable in time): nothing recorded.
    pub lost: u64,
    /// Runs whose end could not be recorded (the sync was deleted, or the database stayed
    /// unreachable past the lease): the job runs again after the lease.
    pub unrecorded: u64,
    /// Claims given back at shutdown.
    pub released: u64,
    /// Poll rounds this worker ran.
    pub poll_rounds: u64,
}

impl WorkerSummary {
    /// Runs that ended one way or another.
    ///
    /// ```
    /// assert_eq!(kms_sync_fleet::WorkerSummary::default().runs(), 0);
    /// ```
    pub fn runs(&self) -> u64 {
        self.succeeded + self.failed + self.lost + self.unrecorded + self.released
    }

    fn count(&mut self, ended: &Ended) {
        match ended {
            Ended::Succeeded => self.succeeded += 1,
            Ended::Failed => self.failed += 1,
            Ended::Lost => self.lost += 1,
            Ended::Unrecorded => self.unrecorded += 1,
            Ended::Released => self.released += 1,
        }
    }
}

/// Everything a worker's tasks share.
pub(crate) struct Ctx {
    pub registry: SyncRegistry,
    pub sources: Arc<SourceCache>,
    pub store: Arc<PostgresStateStore>,
    pub locks: Arc<PostgresScopeLocks>,
    pub ledger_key: Arc<SecretBox<[u8]>>,
    pub id: String,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub concurrency: usize,
    pub fallback_poll: Duration,
    pub source_poll: Option<Duration>,
    pub shutdown_grace: Duration,
    pub settings: ClientSettings,
    /// Told when a run ends (audit trail, failure notices), each on a task of its own.
    pub run_listeners: Vec<Arc<dyn crate::RunListener>>,
    /// Stops the syncs of the current `run_until` at shutdown (a fresh one per call).
    pub stop: std::sync::Mutex<StopSignal>,
}

impl Ctx {
    /// The stop signal the runs of the current `run_until` hold.
    pub fn stop_signal(&self) -> StopSignal {
        match self.stop.lock() {
            Ok(signal) => signal.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A fresh stop signal for a new `run_until`.
    fn renew_stop_signal(&self) {
        let fresh = StopSignal::new();
        match self.stop.lock() {
            Ok(mut signal) => *signal = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    pub fn fingerprinter(&self) -> Result<Fingerprinter> {
        use secrecy::ExposeSecret;
        Fingerprinter::new(self.ledger_key.expose_secret().to_vec())
    }
}

/// One process's share of a fleet: it claims due syncs from the [`SyncRegistry`] (at most
/// one run per sync across the fleet: the registry's claim guarantee), runs each with a
/// `Syncer` built from the sync's definition and connection over the fleet's
/// [`PostgresStateStore`] and [`PostgresScopeLocks`] (the ledger's HMAC key supplied by you,
/// never stored), and records the outcome with [`Jobs::finish`](crate::Jobs::finish): the
/// registry keeps the status, the history and the backoff.
///
/// - **Leases**: a run heartbeats every [`heartbeat`](WorkerBuilder::heartbeat); a lease
///   found taken over (or that could not be renewed before it expired) stops the run, and
///   nothing is recorded as this worker's — the worker that took it over records its own.
/// - **Wake-ups**: a dedicated connection `LISTEN`s on the registry's channel (reconnected
///   when it drops), with a slow [`fallback_poll`](WorkerBuilder::fallback_poll) and the
///   registry's [`next_due`](crate::Jobs::next_due) for backoffs and expiring leases.
/// - **Shared reads**: when [`source_poll`](WorkerBuilder::source_poll) is on, the worker
///   takes its turn at the fleet's poll rounds ([`SharedReads`]): one read per distinct
///   source per round, whatever the number of syncs on it.
/// - **Shutdown**: [`run_until`](Worker::run_until) stops claiming when its future resolves
///   and lets running syncs finish within half the
///   [`shutdown_grace`](WorkerBuilder::shutdown_grace). Then it gives those still running
///   their [`StopSignal`](kms_sync_core::StopSignal): no new write starts, writes in flight
///   get a quarter of the grace, each ledger is saved — every key a run may have written is
///   already claimed in it, so nothing is left unowned — and the interrupted run's claim is
///   released, so another worker takes the job at once and reconciles. A run still going at
///   the end of the grace is aborted and released.
/// - **Observability**: a `kms_sync_run` span per run (sync id, job id, worker, operation,
///   attempt, cause) and the counters and histograms of [`crate::metrics`].
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use kms_sync_fleet::{KeyRing, PgPool, PostgresConfig, SyncRegistry, Worker};
/// # async fn run(sources: Arc<dyn kms_sync_fleet::SourceProvider>) -> Result<(), Box<dyn std::error::Error>> {
/// let pool = PgPool::connect(PostgresConfig::builder().url("postgres://postgres@127.0.0.1/test").build()?).await?;
/// let registry = SyncRegistry::builder(pool, kms_sync_core::DestinationRegistry::new())
///     .key_ring(KeyRing::new("k1", [7u8; 32])?)
///     .build()?;
/// let worker = Worker::builder(registry, sources)
///     .worker_id("host-a/1")
///     .ledger_key(std::env::var("LEDGER_KEY")?.into_bytes())
///     .lease(Duration::from_secs(60))
///     .heartbeat(Duration::from_secs(20))
///     .concurrency(8)
///     .build()?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // e.g. sent on SIGTERM
/// let summary = worker.run_until(async { let _ = stopped.await; }).await?;
/// # drop(stop);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Worker {
    ctx: Arc<Ctx>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.ctx;
        f.debug_struct("Worker")
            .field("id", &c.id)
            .field("lease", &c.lease)
            .field("heartbeat", &c.heartbeat)
            .field("concurrency", &c.concurrency)
            .field("source_poll", &c.source_poll)
            .field("registry", &c.registry)
            .finish_non_exhaustive()
    }
}

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

    /// The worker's id (in leases, the run history, logs and metrics).
    ///
    /// ```no_run
    /// # fn f(worker: kms_sync_fleet::Worker) { println!("{}", worker.id()); }
    /// ```
    pub fn id(&self) -> &str {
        &self.ctx.id
    }

    /// Runs until `shutdown` resolves, then stops claiming, waits for running syncs up to
    /// the shutdown grace, stops and releases those still running, and returns what it
    /// did. Database failures (a restart, a network cut) are ridden out: claims back off
    /// and retry, the `LISTEN` connection reconnects, a run's end is recorded once the
    /// database answers again within its lease.
    ///
    /// # Errors
    ///
    /// None today: every failure is logged, counted and retried. The `Result` leaves room
    /// for a fatal one.
    ///
    /// ```no_run
    /// # async fn run(worker: kms_sync_fleet::Worker) -> kms_sync_core::Result<()> {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let handle = tokio::spawn(async move { worker.run_until(async { let _ = stopped.await; }).await });
    /// // … later
    /// let _ = stop.send(());
    /// # Ok(()) }
    /// ```
    pub async fn run_until<F>(&self, shutdown: F) -> Result<WorkerSummary>
    where
        F: Future<Output = ()> + Send,
    {
        let ctx = self.ctx.clone();
        let span = tracing::info_span!("kms_sync_worker", worker = %ctx.id);
        run_loop(ctx, shutdown).instrument(span).await
    }
}

/// How long to wait after `failures` consecutive database failures.
pub(crate) fn retry_wait(failures: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(200);
    base.checked_mul(2u32.saturating_pow(failures.saturating_sub(1).min(10)))
        .unwrap_or(cap)
        .min(cap)
}

async fn run_loop<F>(ctx: Arc<Ctx>, shutdown: F) -> Result<WorkerSummary>
where
    F: Future<Output = ()> + Send,
{
    ctx.renew_stop_signal();
    let background = Background::start(&ctx);
    let mut claiming = ClaimLoop::default();
    claiming.run(&ctx, &background.wake, shutdown).await;
    let _ = background.stop.send(true);
    let ClaimLoop {
        mut running,
        mut claims,
        mut summary,
        ..
    } = claiming;
    shut_down(&ctx, &mut running, &mut claims, &mut summary).await;
    background.join(&mut summary).await;
    log_stopped(&summary);
    Ok(summary)
}

/// The tasks beside the claim loop: the `LISTEN` connection and, when on, the poller.
struct Background {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    listener: JoinHandle<()>,
    poller: Option<JoinHandle<u64>>,
}

impl Background {
    /// Spawns the listener, then the poller if the worker takes its turn at poll rounds.
    fn start(ctx: &Arc<Ctx>) -> Background {
        let (stop, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let poll_wake = Arc::new(Notify::new());
        let listener = tokio::spawn(
            listen::run(
                ctx.clone(),
                wake.clone(),
                poll_wake.clone(),
                stop_rx.clone(),
            )
            .in_current_span(),
        );
        let poller = ctx.source_poll.map(|interval| {
            let reads = SharedReads::with_cache(
                ctx.registry.clone(),
                ctx.sources.clone(),
                ctx.ledger_key.clone(),
            );
            tokio::spawn(
                poll::run(
                    ctx.clone(),
                    reads,
                    interval,
                    poll_wake.clone(),
                    stop_rx.clone(),
                )
                .in_current_span(),
            )
        });
        Background {
            stop,
            wake,
            listener,
            poller,
        }
    }

    /// After shutdown: aborts the listener and counts the poll rounds the poller ran.
    async fn join(self, summary: &mut WorkerSummary) {
        self.listener.abort();
        if let Some(poller) = self.poller {
            if let Ok(rounds) = poller.await {
                summary.poll_rounds = rounds;
            }
        }
    }
}

/// The claim loop's state: the runs in flight, what it did, and when to look again.
#[derive(Default)]
struct ClaimLoop {
    running: JoinSet<Ended>,
    claims: HashMap<tokio::task::Id, Claim>,
    summary: WorkerSummary,
    /// How long to wait before the next look (zero: look at once).
    wait: Duration,
    /// Consecutive failed claims.
    failures: u32,
    /// Whether the last claim took all it asked for (a backlog).
    busy: bool,
    /// With a backlog, since when slots have been free without a claim.
    free_since: Option<Instant>,
}

impl ClaimLoop {
    /// Claims and starts due syncs until `shutdown` resolves.
    async fn run<F>(&mut self, ctx: &Arc<Ctx>, wake: &Notify, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        tokio::pin!(shutdown);
        loop {
            if !self.wait.is_zero() && self.sleep(ctx, wake, shutdown.as_mut()).await.is_break() {
                break;
            }
            self.settle_finished(ctx).await;
            let Some(free) = self.slots_to_claim(ctx) else {
                continue;
            };
            self.claim(ctx, free).await;
        }
    }

    /// Waits out `self.wait`, or less if woken or a run ends; `Break` on shutdown.
    async fn sleep<F>(&mut self, ctx: &Ctx, wake: &Notify, shutdown: Pin<&mut F>) -> ControlFlow<()>
    where
        F: Future<Output = ()> + Send,
    {
        tokio::select! {
            () = shutdown => return ControlFlow::Break(()),
            () = wake.notified() => {}
            Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                settle(ctx, done, &mut self.claims, &mut self.summary, false).await;
            }
            () = tokio::time::sleep(self.wait) => {}
        }
        ControlFlow::Continue(())
    }

    /// Accounts for the runs that have ended.
    async fn settle_finished(&mut self, ctx: &Ctx) {
        while let Some(done) = self.running.try_join_next_with_id() {
            settle(ctx, done, &mut self.claims, &mut self.summary, false).await;
        }
    }

    /// How many syncs to claim now, or `None` (with `self.wait` set) to wait first.
    fn slots_to_claim(&mut self, ctx: &Ctx) -> Option<usize> {
        let free = ctx.concurrency.saturating_sub(self.running.len());
        if free == 0 {
            self.free_since = None;
            self.wait = ctx.fallback_poll;
            return None;
        }
        // With a backlog, claim in batches: a claim is one transaction of several round
        // trips whatever it takes, so wait briefly for half the slots to free up.
        if self.busy && free < (ctx.concurrency / 2).max(1) && !self.running.is_empty() {
            let since = *self.free_since.get_or_insert_with(Instant::now);
            let left = CLAIM_LINGER.saturating_sub(since.elapsed());
            if !left.is_zero() {
                self.wait = left;
                return None;
            }
        }
        self.free_since = None;
        Some(free)
    }

    /// Claims up to `free` due syncs and starts them.
    async fn claim(&mut self, ctx: &Arc<Ctx>, free: usize) {
        let claimed_at = Instant::now();
        // Not raced with the shutdown: a claim dropped after its commit would leave
        // syncs leased to nobody until their leases expired.
        match ctx.registry.jobs().claim(&ctx.id, ctx.lease, free).await {
            Ok(taken) => self.start_runs(ctx, taken, free, claimed_at).await,
            Err(e) => self.claim_failed(ctx, &e),
        }
    }

    /// Spawns a run per claim, and decides how long to wait before the next look.
    async fn start_runs(
        &mut self,
        ctx: &Arc<Ctx>,
        taken: Vec<Claim>,
        free: usize,
        claimed_at: Instant,
    ) {
        self.failures = 0;
        let n = taken.len();
        for claim in taken {
            self.summary.claimed += 1;
            self.summary.taken_over += u64::from(claim.taken_over());
            let task = self
                .running
                .spawn(run::run(ctx.clone(), claim.clone(), claimed_at));
            self.claims.insert(task.id(), claim);
        }
        self.busy = n == free;
        self.wait = if self.busy {
            // Busy: a finished run or a notification wakes us.
            ctx.fallback_poll
        } else {
            next_wait(ctx).await
        };
    }

    /// Logs and counts a failed claim, and backs off.
    fn claim_failed(&mut self, ctx: &Ctx, e: &Error) {
        self.failures += 1;
        let failures = self.failures;
        crate::metrics::db_error(&ctx.id, "claim");
        if failures == 1 {
            tracing::warn!(error = %e, "claiming due syncs failed; retrying");
        } else {
            tracing::debug!(error = %e, failures, "claiming due syncs failed again");
        }
        self.wait = retry_wait(failures, Duration::from_secs(5));
    }
}

fn log_stopped(summary: &WorkerSummary) {
    tracing::info!(
        claimed = summary.claimed,
        succeeded = summary.succeeded,
        failed = summary.failed,
        lost = summary.lost,
        released = summary.released,
        "worker stopped"
    );
}

/// How long to sleep when the last claim found less than it asked for: until the registry's
/// next due time (a backoff ending, a lease expiring), at most the fallback poll.
async fn next_wait(ctx: &Ctx) -> Duration {
    match ctx.registry.jobs().next_due().await {
        Ok(Some(at)) => at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            // Due now but not claimable by us (another worker is claiming it): look again
            // shortly rather than spin.
            .max(Duration::from_millis(50))
            .min(ctx.fallback_poll),
        Ok(None) => ctx.fallback_poll,
        Err(e) => {
            crate::metrics::db_error(&ctx.id, "claim");
            tracing::debug!(error = %e, "reading the next due time failed");
            Duration::from_secs(1).min(ctx.fallback_poll)
        }
    }
}

type Done = std::result::Result<(tokio::task::Id, Ended), tokio::task::JoinError>;

/// Accounts for a finished run task. A task that ended abnormally has its claim released:
/// one that panicked is logged and, if the release fails, counted unrecorded; one aborted at
/// shutdown (`aborted_at_shutdown`) is expected, and its lease runs out for a takeover if the
/// release fails.
async fn settle(
    ctx: &Ctx,
    done: Done,
    claims: &mut HashMap<tokio::task::Id, Claim>,
    summary: &mut WorkerSummary,
    aborted_at_shutdown: bool,
) {
    let e = match done {
        Ok((id, ended)) => {
            claims.remove(&id);
            summary.count(&ended);
            return;
        }
        Err(e) => e,
    };
    if !aborted_at_shutdown {
        tracing::error!(error = %e, "a run task ended abnormally; releasing its claim");
    }
    let Some(claim) = claims.remove(&e.id()) else {
        return;
    };
    if release(ctx, &claim).await {
        summary.released += 1;
    } else if !aborted_at_shutdown {
        summary.unrecorded += 1;
    }
}

/// Shutdown: let running syncs finish within half the grace; then give them the stop signal
/// (no new write, writes in flight within a quarter of the grace, ledger saved, claim
/// released); at the end of the grace, stop and release whatever still runs.
async fn shut_down(
    ctx: &Ctx,
    running: &mut JoinSet<Ended>,
    claims: &mut HashMap<tokio::task::Id, Claim>,
    summary: &mut WorkerSummary,
) {
    if !running.is_empty() {
        tracing::info!(
            running = running.len(),
            grace_ms = ctx.shutdown_grace.as_millis() as u64,
            "shutting down: waiting for running syncs"
        );
    }
    let started = tokio::time::Instant::now();
    if wait_for_runs(
        ctx,
        running,
        claims,
        summary,
        started + ctx.shutdown_grace / 2,
    )
    .await
    {
        return;
    }
    tracing::info!(
        running = running.len(),
        "shutting down: stopping the running syncs"
    );
    ctx.stop_signal().stop();
    if wait_for_runs(ctx, running, claims, summary, started + ctx.shutdown_grace).await {
        return;
    }
    running.abort_all();
    while let Some(done) = running.join_next_with_id().await {
        settle(ctx, done, claims, summary, true).await;
    }
}

/// Accounts for runs as they end, until none runs (`true`) or `until` passes (`false`).
async fn wait_for_runs(
    ctx: &Ctx,
    running: &mut JoinSet<Ended>,
    claims: &mut HashMap<tokio::task::Id, Claim>,
    summary: &mut WorkerSummary,
    until: tokio::time::Instant,
) -> bool {
    while !running.is_empty() {
        match tokio::time::timeout_at(until, running.join_next_with_id()).await {
            Ok(Some(done)) => settle(ctx, done, claims, summary, true).await,
            Ok(None) => break,
            Err(_) => return false,
        }
    }
    true
}

/// Gives a claim back; whether it was ours to give (a lost lease is not).
async fn release(ctx: &Ctx, claim: &Claim) -> bool {
    for attempt in 1..=3u32 {
        match ctx.registry.jobs().release(claim).await {
            Ok(()) => {
                tracing::info!(sync_id = %claim.sync_id(), job_id = %claim.job_id(), "released a claim");
                ::metrics::counter!(crate::metrics::RUNS, "worker" => ctx.id.clone(),
                    "operation" => claim.operation().to_string(), "outcome" => "released")
                .increment(1);
                return true;
            }
            Err(e)
                if e.kind().is_retryable() || e.kind() == kms_sync_core::ErrorKind::Unavailable =>
            {
                tracing::debug!(error = %e, attempt, "releasing a claim failed; retrying");
                tokio::time::sleep(retry_wait(attempt, Duration::from_secs(1))).await;
            }
            Err(e) => {
                tracing::info!(sync_id = %claim.sync_id(), error = %e, "a claim could not be released");
                return false;
            }
        }
    }
    false
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
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_a_cap() {
        let waits: Vec<u128> = (1..=7)
            .map(|n| retry_wait(n, Duration::from_secs(5)).as_millis())
            .collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn worker_ids_are_checked() {
        assert!(check_worker_id("host-a/1").is_ok());
        assert!(check_worker_id(" ").is_err());
        assert!(check_worker_id("a\nb").is_err());
        assert!(check_worker_id(&"w".repeat(201)).is_err());
    }
}
