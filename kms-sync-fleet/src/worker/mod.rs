//! [`Worker`]: one process's share of the fleet. It claims due syncs from the registry,
//! runs each with a [`Syncer`](kms_sync_core::Syncer) over the fleet's ledger and scope
//! locks while heartbeating its lease, records the outcome, wakes on `LISTEN`, runs the
//! fleet's poll rounds in turn, and on shutdown finishes or releases what it runs.

mod builder;
mod claim_loop;
mod heartbeat;
mod ledger;
mod listen;
mod poll;
mod run;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{Fingerprinter, Result, StopSignal};
use secrecy::SecretBox;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::locks::PostgresScopeLocks;
use crate::registry::{Claim, JobId, SyncId, SyncRegistry};
use crate::shared_reads::SharedReads;
use crate::sources::SourceCache;
use crate::state::PostgresStateStore;

pub use builder::WorkerBuilder;
use claim_loop::ClaimLoop;
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
    /// The claims (sync, job) whose release is in flight: one aborted at shutdown while its
    /// release was in flight was given back, even though no answer came.
    pub releases_sent: std::sync::Mutex<std::collections::HashSet<(SyncId, JobId)>>,
}

impl Ctx {
    /// The stop signal the runs of the current `run_until` hold.
    pub fn stop_signal(&self) -> StopSignal {
        match self.stop.lock() {
            Ok(signal) => signal.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Notes that the release of `claim` is being sent.
    fn note_release(&self, claim: &Claim) {
        let mut sent = self
            .releases_sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sent.insert((claim.sync_id(), claim.job_id()));
    }

    /// Whether a release of `claim` was in flight when its task ended (and forgets it).
    fn release_sent(&self, claim: &Claim) -> bool {
        let mut sent = self
            .releases_sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sent.remove(&(claim.sync_id(), claim.job_id()))
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

impl Worker {
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
    let sent = ctx.release_sent(&claim);
    // Given back by the run itself when its release was sent before the abort: a second
    // release then finds the lease already cleared.
    if release(ctx, &claim).await || sent {
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
    ctx.note_release(claim);
    let given = release_once(ctx, claim).await;
    ctx.release_sent(claim);
    given
}

/// Gives a claim back, retrying while the database is away.
async fn release_once(ctx: &Ctx, claim: &Claim) -> bool {
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
}
