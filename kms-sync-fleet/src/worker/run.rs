//! One claimed run: resolve the sync, build its `Syncer`, run it while the lease is
//! renewed, record the outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kms_sync_core::{
    Error, ErrorKind, KeyStatus, Operation, Result, SecretSource, SyncReport, Syncer,
};
use tracing::Instrument;

use super::heartbeat::{self, Lost};
use super::ledger::RunLedger;
use super::Ctx;
use crate::registry::{Claim, RunOutcome};
use crate::sources::SourceKey;

/// How a run task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Recorded as succeeded.
    Succeeded,
    /// Recorded as failed.
    Failed,
    /// The lease was lost: nothing recorded.
    Lost,
    /// The end could not be recorded (the sync was deleted, or the database stayed away).
    Unrecorded,
    /// Stopped by the worker's shutdown: the ledger was saved and the claim given back.
    Released,
}

impl Ended {
    fn label(self) -> &'static str {
        match self {
            Ended::Succeeded => "succeeded",
            Ended::Failed => "failed",
            Ended::Lost => "lost",
            Ended::Unrecorded => "unrecorded",
            Ended::Released => "released",
        }
    }
}

/// Runs `claim` (claimed at `claimed_at`) to its recorded end.
pub(crate) async fn run(ctx: Arc<Ctx>, claim: Claim, claimed_at: Instant) -> Ended {
    let span = tracing::info_span!(
        "kms_sync_run",
        sync_id = %claim.sync_id(),
        job_id = %claim.job_id(),
        worker = %ctx.id,
        operation = %claim.operation(),
        attempt = claim.attempt(),
        cause = %claim.cause(),
    );
    run_inner(ctx, claim, claimed_at).instrument(span).await
}

async fn run_inner(ctx: Arc<Ctx>, claim: Claim, claimed_at: Instant) -> Ended {
    let worker = ctx.id.clone();
    ::metrics::counter!(crate::metrics::CLAIMS, "worker" => worker.clone()).increment(1);
    if claim.taken_over() {
        ::metrics::counter!(crate::metrics::TAKEOVERS, "worker" => worker.clone()).increment(1);
        tracing::info!("took over a sync whose lease expired");
    }
    let lease = heartbeat::Lease::new(claimed_at, claim.lease());
    let finishing = AtomicBool::new(false);
    let ledger: OnceLock<Arc<RunLedger>> = OnceLock::new();
    let outcome: OnceLock<RunOutcome> = OnceLock::new();
    let work = async {
        let result = execute(&ctx, &claim, &ledger).await;
        finishing.store(true, Ordering::SeqCst);
        if ctx.stop_signal().is_stopped() && interrupted(&result) {
            return give_back(&ctx, &claim, ledger.get()).await;
        }
        let told = outcome.get_or_init(|| outcome_of(&ctx, &result));
        let ended = record(&ctx, &claim, &lease, told, ledger.get()).await;
        if matches!(ended, Ended::Succeeded | Ended::Failed) {
            // Recorded: the audit trail and failure notices hear of it.
            crate::audit::tell_listeners(&ctx, &claim, &result, told);
        }
        ended
    };
    let ended = tokio::select! {
        biased;
        ended = work => ended,
        lost = heartbeat::keep(&ctx, &claim, &lease, &finishing) => {
            match lost {
                Lost::TakenOver => tracing::warn!(
                    "the lease was taken over by another worker: the run stops and is not recorded"),
                Lost::Expired => tracing::warn!(
                    "the lease could not be renewed before it expired: the run stops and is not recorded"),
            }
            Ended::Lost
        }
    };
    if let Some(ledger) = ledger.get() {
        keep_ledger(ledger, &claim).await;
    }
    run_ended(&ctx, &claim, ended, outcome.get(), claimed_at);
    ended
}

/// The one point where a run has finished, whatever became of it (`ended`: recorded,
/// lost, unrecorded, released) and, when it got that far, what it did (`outcome`: `None`
/// for a run stopped before its end was decided). Counted and timed here; whatever else
/// must happen once per finished run goes here too.
fn run_ended(
    ctx: &Ctx,
    claim: &Claim,
    ended: Ended,
    outcome: Option<&RunOutcome>,
    claimed_at: Instant,
) {
    tracing::debug!(
        ended = ended.label(),
        succeeded = outcome.map(RunOutcome::is_success),
        "run ended"
    );
    let worker = ctx.id.clone();
    let operation = claim.operation().to_string();
    if ended != Ended::Released {
        // A released claim is counted by the release itself.
        ::metrics::counter!(crate::metrics::RUNS, "worker" => worker.clone(),
            "operation" => operation.clone(), "outcome" => ended.label())
        .increment(1);
    }
    ::metrics::histogram!(crate::metrics::RUN_DURATION, "worker" => worker, "operation" => operation)
        .record(claimed_at.elapsed().as_secs_f64());
}

/// Resolves the sync and runs its operation. The `Syncer` (and the destination it holds) is
/// dropped before this returns.
async fn execute(ctx: &Ctx, claim: &Claim, slot: &OnceLock<Arc<RunLedger>>) -> Result<SyncReport> {
    let (resolved, read, fence) = ctx
        .registry
        .syncs()
        .resolve_for_run(claim.sync_id())
        .await?;
    let ledger = slot.get_or_init(|| Arc::new(RunLedger::new((*ctx.store).clone(), read, fence)));
    let def = &resolved.definition;
    let key = SourceKey::new(def.project_id(), def.environment(), def.secret_path());
    let source: Arc<dyn SecretSource> = ctx.sources.get(&key).await?;
    let syncer: Syncer = ctx
        .registry
        .destinations()
        .syncer_builder(def, &resolved.connection, source, ctx.settings.clone())?
        .id(claim.sync_id().to_string())
        .state(ledger.clone(), ctx.fingerprinter()?)
        .scope_locks(ctx.locks.clone())
        .stop_signal(ctx.stop_signal())
        .stop_grace(ctx.shutdown_grace / 4)
        .build()?;
    match claim.operation() {
        Operation::Sync => syncer.sync().await,
        Operation::Remove => syncer.remove().await,
        other => Err(Error::new(
            ErrorKind::Unsupported,
            format!("the fleet does not run {other}"),
        )),
    }
}

/// Whether the worker's stop signal cut the run short (while reading, or while writing).
fn interrupted(result: &Result<SyncReport>) -> bool {
    match result {
        Ok(report) => report.interrupted && !report.is_success(),
        Err(e) => e.kind() == ErrorKind::NotAttempted,
    }
}

/// A run stopped by shutdown: its ledger is saved (every key it may have written is
/// claimed), so the job goes back to the queue for another worker to finish.
async fn give_back(ctx: &Ctx, claim: &Claim, ledger: Option<&Arc<RunLedger>>) -> Ended {
    tracing::info!(
        "the run was interrupted by shutdown; its ledger is saved and its claim given back"
    );
    if let Some(ledger) = ledger {
        keep_ledger(ledger, claim).await;
    }
    if super::release(ctx, claim).await {
        Ended::Released
    } else {
        Ended::Unrecorded
    }
}

/// Whether a finish's transaction committed (and the ledger update sent with it): it did
/// when it answered, even that the lease was lost or the sync deleted.
fn committed(finished: &Result<crate::registry::Finished>) -> bool {
    match finished {
        Ok(_) => true,
        Err(e) => matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound),
    }
}

/// Writes the run's ledger updates not yet written with its end (the end was not recorded,
/// or the run was stopped), as a run's own ledger update always is.
async fn keep_ledger(ledger: &RunLedger, claim: &Claim) {
    if let Err(e) = ledger.flush(&claim.sync_id().to_string()).await {
        tracing::warn!(error = %e, "the run's ledger update could not be saved");
    }
}

/// What the run's result says, counted (requests, rate-limited keys) and logged.
fn outcome_of(ctx: &Ctx, result: &Result<SyncReport>) -> RunOutcome {
    let worker = ctx.id.clone();
    match result {
        Ok(report) => {
            let r = report.requests;
            for (method, n) in [
                ("GET", r.get),
                ("POST", r.post),
                ("PUT", r.put),
                ("PATCH", r.patch),
                ("DELETE", r.delete),
                ("OTHER", r.other),
            ] {
                if n > 0 {
                    ::metrics::counter!(crate::metrics::REQUESTS, "worker" => worker.clone(), "method" => method)
                        .increment(n);
                }
            }
            let limited = report
                .keys
                .iter()
                .filter(|k| {
                    matches!(k.status, KeyStatus::Failed)
                        && k.error.as_ref().map(Error::kind) == Some(ErrorKind::RateLimited)
                })
                .count();
            if limited > 0 {
                ::metrics::counter!(crate::metrics::RATE_LIMITED, "worker" => worker.clone())
                    .increment(u64::try_from(limited).unwrap_or(u64::MAX));
            }
            tracing::info!(
                created = report.counts.created,
                updated = report.counts.updated,
                deleted = report.counts.deleted,
                unchanged = report.counts.unchanged,
                failed = report.counts.failed,
                requests = report.requests.total(),
                success = report.is_success(),
                "run finished"
            );
            RunOutcome::from_report(report)
        }
        Err(e) => {
            if e.kind() == ErrorKind::RateLimited {
                ::metrics::counter!(crate::metrics::RATE_LIMITED, "worker" => worker.clone())
                    .increment(1);
            }
            tracing::warn!(error = %e, kind = %e.kind(), "run failed");
            RunOutcome::from_error(e)
        }
    }
}

/// Records the run's end (`outcome`) with the run's last ledger update (retrying while the
/// database is away, within the lease).
async fn record(
    ctx: &Ctx,
    claim: &Claim,
    lease: &heartbeat::Lease,
    outcome: &RunOutcome,
    ledger: Option<&Arc<RunLedger>>,
) -> Ended {
    let succeeded = outcome.is_success();
    let ledger_id = claim.sync_id().to_string();
    let mut failures = 0u32;
    loop {
        let batch = ledger.and_then(|l| l.pending());
        let update = batch
            .as_ref()
            .zip(ledger)
            .map(|(b, l)| (ledger_id.as_str(), b, l.fence()));
        let finished = ctx
            .registry
            .jobs()
            .finish_with(claim, outcome, update)
            .await;
        if let Some(ledger) = ledger.filter(|_| committed(&finished)) {
            ledger.written();
        }
        match finished {
            Ok(done) => {
                tracing::debug!(status = ?done.status.sync_status, retry_queued = done.retry_queued,
                    pending = done.pending, "run recorded");
                return if succeeded {
                    Ended::Succeeded
                } else {
                    Ended::Failed
                };
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                if failures > 0 {
                    // An earlier attempt may have committed before its answer was lost.
                    tracing::info!(error = %e, "the run's end was probably recorded by an earlier attempt");
                    return Ended::Unrecorded;
                }
                tracing::warn!(error = %e, "the lease was lost before the run's end was recorded");
                return Ended::Lost;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::info!(error = %e, "the sync was deleted during its run");
                return Ended::Unrecorded;
            }
            Err(e) => {
                failures += 1;
                crate::metrics::db_error(&ctx.id, "finish");
                let wait = super::retry_wait(failures, Duration::from_secs(2));
                if !lease.still_ours_after(wait) {
                    tracing::warn!(error = %e, "the run's end could not be recorded within its lease; \
                        the job runs again after the lease");
                    return Ended::Unrecorded;
                }
                tracing::debug!(error = %e, failures, "recording the run's end failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
