//! [`Jobs`]: triggers, claims, heartbeats, finishes and releases — the table shape and the
//! store operations the fleet's workers run on. One file a step: the public [`types`], the
//! [`trigger`], the [`claim`], the [`finish`] (with the pure decision of what a run's end
//! records), and their statements ([`sql`]).
//!
//! A **trigger** is a row of `sync_triggers`, at most one per sync and operation: a second
//! trigger coalesces into it (same job id). A **claim** takes, under `FOR UPDATE SKIP
//! LOCKED` on the sync's `sync_state` row, the oldest eligible trigger of a sync that has
//! no live lease and whose backoff has passed, deletes it, and writes a lease (worker,
//! job, expiry, and a fresh fencing token) on that row; a trigger arriving meanwhile is a
//! new row and waits for the run to end. An expired lease is taken over by the next claim
//! (same job, next attempt, counted). Heartbeat, finish and release act only while the
//! claim's token is the row's. Each is one round trip.

mod claim;
mod finish;
mod sql;
mod trigger;
mod types;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kms_sync_core::{Error, ErrorKind, Operation, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::ids::SyncId;
use super::rows::{get, get_u32, operation_text, status};
use super::runs::{count_columns, entry, request_columns, RunEntry, RunOutcome};
use super::Shared;
use crate::pipeline::{one_trip, prepare_all, query};
use crate::state::{Batch, LedgerWrite, RunFence};

use finish::RunEnd;
pub(crate) use sql::JobStatements;
pub(crate) use trigger::trigger_in;
pub use types::{Claim, Finished, SkipReason, TriggerCause, Triggered};

/// Triggers, claims and the run history. Get one from
/// [`SyncRegistry::jobs`](crate::SyncRegistry::jobs).
///
/// ```no_run
/// use std::time::Duration;
/// use kms_sync_fleet::RunOutcome;
/// # async fn work(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// let jobs = registry.jobs();
/// for claim in jobs.claim("worker-1", Duration::from_secs(30), 8).await? {
///     let resolved = registry.syncs().resolve(claim.sync_id()).await?;
///     // … build the Syncer with `.id(claim.sync_id().to_string())`, run it, heartbeat …
///     jobs.finish(&claim, RunOutcome::succeeded()).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Jobs {
    shared: Arc<Shared>,
}

debug_handle!(Jobs);

/// The error of a claim whose lease was lost.
fn lost(claim: &Claim) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "the lease of job {} on sync {} held by `{}` was lost (taken over after it expired, \
             released, or the sync was deleted): stop, and do not record the run",
            claim.job_id, claim.sync_id, claim.worker
        ),
    )
}

/// The error of a claim whose sync was deleted during its job.
fn deleted(claim: &Claim) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "sync {} was deleted during job {}",
            claim.sync_id, claim.job_id
        ),
    )
}

/// Whether a finish or release row says the lease was held; the error when it was not.
fn check_held(row: &Row, claim: &Claim) -> Result<()> {
    let what = "the end of a run";
    match (
        get::<bool>(row, "held", what)?,
        get::<bool>(row, "found", what)?,
    ) {
        (true, _) => Ok(()),
        (false, true) => Err(lost(claim)),
        (false, false) => Err(deleted(claim)),
    }
}

impl Jobs {
    pub(crate) fn new(shared: Arc<Shared>) -> Jobs {
        Jobs { shared }
    }

    /// Queues `operation` of sync `id` for `cause`, and returns the job. At most one job
    /// per sync and operation is pending: a trigger while one is pending joins it
    /// ([`Triggered::Coalesced`], same job id); a trigger while the sync runs is queued for
    /// after the run. The status becomes `pending` with `lastSyncJobId` (or
    /// `lastRemoveJobId`) the job's id, and the registry's channel is notified. A manual
    /// trigger also ends the sync's backoff. Nothing is queued for a disabled sync, nor
    /// for an automatic cause while auto-sync is off ([`Triggered::Skipped`]).
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) for an unknown sync;
    /// [`Unsupported`](ErrorKind::Unsupported) for [`Operation::Import`].
    ///
    /// ```no_run
    /// use kms_sync_core::Operation;
    /// use kms_sync_fleet::{TriggerCause, Triggered};
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// match registry.jobs().trigger(id, Operation::Sync, TriggerCause::Manual).await? {
    ///     Triggered::Queued(job) | Triggered::Coalesced(job) => println!("job {job}"),
    ///     Triggered::Skipped(why) => println!("not queued: {why}"),
    ///     _ => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn trigger(
        &self,
        id: SyncId,
        operation: Operation,
        cause: TriggerCause,
    ) -> Result<Triggered> {
        let client = self.shared.pool.get("triggering a sync").await?;
        let results = trigger_in(&self.shared, &client, &[id], operation, cause).await?;
        match results.first() {
            Some((_, Triggered::Skipped(SkipReason::NotFound))) | None => Err(Error::new(
                ErrorKind::NotFound,
                format!("sync {id} not found"),
            )),
            Some((_, triggered)) => Ok(*triggered),
        }
    }

    /// Triggers many syncs at once, in one statement (a poller's changed source): each
    /// sync's result, in the order given (duplicates once).
    ///
    /// # Errors
    ///
    /// [`Unsupported`](ErrorKind::Unsupported) for [`Operation::Import`]; a database
    /// failure.
    ///
    /// ```no_run
    /// use kms_sync_core::Operation;
    /// use kms_sync_fleet::TriggerCause;
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, source: kms_sync_fleet::Source) -> kms_sync_core::Result<()> {
    /// let results = registry.jobs().trigger_many(&source.syncs, Operation::Sync, TriggerCause::SourceChange).await?;
    /// # Ok(()) }
    /// ```
    pub async fn trigger_many(
        &self,
        ids: &[SyncId],
        operation: Operation,
        cause: TriggerCause,
    ) -> Result<Vec<(SyncId, Triggered)>> {
        let client = self.shared.pool.get("triggering syncs").await?;
        trigger_in(&self.shared, &client, ids, operation, cause).await
    }

    /// Claims up to `limit` due syncs for `worker` with a lease of `lease`: enabled syncs
    /// with an eligible pending trigger (manual, or any with auto-sync on) whose backoff
    /// has passed and that no live lease holds, and syncs whose lease expired (taken over:
    /// same job, next attempt, [`Claim::taken_over`], counted in `sync_state.takeovers`,
    /// the lost run marked `lease-expired`). Rows other workers are claiming are skipped
    /// (`FOR UPDATE SKIP LOCKED`), so concurrent claims never take one sync twice. Each
    /// claim sets the status `running` and starts a run in the history.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an empty or over-long worker id, a lease under
    /// 100 ms or over 24 h, or a limit of 0 or over 1,000; a database failure.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let claims = registry.jobs().claim("host-a/worker-1", std::time::Duration::from_secs(60), 16).await?;
    /// # Ok(()) }
    /// ```
    pub async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Claim>> {
        claim::check_claim(worker, lease, limit)?;
        let doing = format!("claiming syncs for worker `{worker}`");
        let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 4] = [
            &limit_param,
            &worker,
            &finish::millis(lease),
            &claim::tokens(limit),
        ];
        let rows = query(&self.shared.pool, &self.shared.jobs.claim, &params, &doing).await?;
        let claims = rows
            .iter()
            .map(|row| claim::claim_of(row, worker, lease))
            .collect::<Result<Vec<Claim>>>()?;
        for claim in claims.iter().filter(|c| c.taken_over) {
            tracing::info!(sync_id = %claim.sync_id, job_id = %claim.job_id, worker, attempt = claim.attempt, "took over a sync whose lease expired");
        }
        Ok(claims)
    }

    /// Extends the claim's lease by its length from now (the server's clock), and returns
    /// the new expiry. A lease that expired but was not taken over yet is renewed: nobody
    /// else has started the job.
    ///
    /// # Errors
    ///
    /// [`Conflict`](ErrorKind::Conflict) when the lease was lost (taken over, released,
    /// finished, or the sync deleted): stop the run.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, claim: kms_sync_fleet::Claim) -> kms_sync_core::Result<()> {
    /// let until = registry.jobs().heartbeat(&claim).await?;
    /// # Ok(()) }
    /// ```
    pub async fn heartbeat(&self, claim: &Claim) -> Result<SystemTime> {
        let doing = format!("renewing the lease of sync {}", claim.sync_id);
        let params: [&(dyn ToSql + Sync); 2] = [&claim.sync_id.0, &claim.token];
        let heartbeat = &self.shared.jobs.heartbeat;
        let rows = query(&self.shared.pool, heartbeat, &params, &doing).await?;
        let row = rows.into_iter().next().ok_or_else(|| lost(claim))?;
        get(&row, "lease_expires_at", "a lease")
    }

    /// Records the end of a claimed run and clears its lease: the status of the operation
    /// (`succeeded` or `failed`, the job id, the outcome's message, `lastSyncedAt` /
    /// `lastRemovedAt` on success) and the run in the history (state, message, counts,
    /// requests). A trigger that arrived during the run stays pending (the status then
    /// shows it: `pending` with its job id, the message still this run's). After a failure
    /// the sync backs off — no trigger of it is claimed for the configured base, doubled
    /// at each consecutive failure up to the maximum — and a retryable failure queues the
    /// job again (same job id, next attempt), with the wait in the message; a success
    /// resets the backoff.
    ///
    /// # Errors
    ///
    /// [`Conflict`](ErrorKind::Conflict) when the lease was lost (nothing is recorded: the
    /// worker that took over records its own run); [`NotFound`](ErrorKind::NotFound) when
    /// the sync was deleted meanwhile.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, claim: kms_sync_fleet::Claim, report: kms_sync_core::SyncReport) -> kms_sync_core::Result<()> {
    /// let finished = registry.jobs().finish(&claim, kms_sync_fleet::RunOutcome::from_report(&report)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn finish(&self, claim: &Claim, outcome: RunOutcome) -> Result<Finished> {
        self.finish_with(claim, &outcome, None).await
    }

    /// [`finish`](Self::finish), with the run's last ledger update (`ledger`: the sync's
    /// ledger id, the update, and the versions the run was built from) in the same transaction, sent in the same round trip. The
    /// update is written even when the lease was lost (as a run's own ledger update always
    /// is), but never onto a ledger bound to another destination; the answer says whether it
    /// was written.
    pub(crate) async fn finish_with(
        &self,
        claim: &Claim,
        outcome: &RunOutcome,
        ledger: Option<(&str, &Batch, RunFence)>,
    ) -> Result<Finished> {
        let doing = format!(
            "recording the end of job {} on sync {}",
            claim.job_id, claim.sync_id
        );
        let client = self.shared.pool.get(&doing).await?;
        let sql = &self.shared.jobs;
        let [lock, finish_statement] = prepare_all(
            &client,
            [&sql.lock_state, sql.finish(claim.operation)],
            &doing,
        )
        .await?;
        let write = match ledger {
            Some(_) => Some(self.shared.ledger.prepare(&client, false, &doing).await?),
            None => None,
        };
        let end = RunEnd::decide(outcome, claim.failures, |n| self.shared.backoff(n));
        let owned = FinishParams::new(&self.shared, claim, outcome, &end);
        let params = owned.as_params();
        let sync: [&(dyn ToSql + Sync); 1] = [&claim.sync_id.0];
        let work = async {
            futures::try_join!(
                client.execute(&lock, &sync),
                write_ledger(&client, write.as_ref(), ledger),
                client.query_one(&finish_statement, &params),
            )
        };
        let (_, touched, row) = one_trip(&client, &doing, work).await?;
        if ledger.is_some() && touched == 0 {
            tracing::warn!(sync_id = %claim.sync_id, "the run's ledger update was not saved: \
                the sync's destination changed during the run, and its ledger was started over");
        }
        check_held(&row, claim)?;
        let what = "a sync's state";
        Ok(Finished {
            status: status(&row, what)?,
            backoff_until: get(&row, "backoff_until", what)?,
            retry_queued: get(&row, "retry_queued", what)?,
            pending: get(&row, "pending", what)?,
        })
    }

    /// Gives a claimed job back untouched (a worker shutting down before it ran): its
    /// trigger is pending again (joining one that arrived meanwhile), the lease is cleared,
    /// the run is removed from the history, the backoff is unchanged, and the channel is
    /// notified so another worker takes it.
    ///
    /// # Errors
    ///
    /// [`Conflict`](ErrorKind::Conflict) when the lease was lost;
    /// [`NotFound`](ErrorKind::NotFound) when the sync was deleted.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, claim: kms_sync_fleet::Claim) -> kms_sync_core::Result<()> {
    /// registry.jobs().release(&claim).await?;
    /// # Ok(()) }
    /// ```
    pub async fn release(&self, claim: &Claim) -> Result<()> {
        let doing = format!("releasing job {} on sync {}", claim.job_id, claim.sync_id);
        let client = self.shared.pool.get(&doing).await?;
        let sql = &self.shared.jobs;
        let [lock, release] = prepare_all(&client, [&sql.lock_state, &sql.release], &doing).await?;
        let op = operation_text(claim.operation);
        let attempt = i32::try_from(claim.attempt).unwrap_or(i32::MAX);
        let params: [&(dyn ToSql + Sync); 9] = [
            &claim.sync_id.0,
            &claim.token,
            &op,
            &claim.job_id.0,
            &claim.cause.as_str(),
            &claim.manual,
            &attempt,
            &claim.run_id,
            &self.shared.channel,
        ];
        let sync: [&(dyn ToSql + Sync); 1] = [&claim.sync_id.0];
        let work = async {
            let (_, row) = futures::try_join!(
                client.execute(&lock, &sync),
                client.query_one(&release, &params),
            )?;
            Ok(row)
        };
        let row = one_trip(&client, &doing, work).await?;
        check_held(&row, claim)
    }

    /// When the next claim could find work: the earliest backoff end of an enabled sync
    /// with an eligible trigger and no lease, or lease expiry — now if something is due
    /// already, `None` if nothing is pending or leased. A worker sleeps until then (or a
    /// notification) instead of polling.
    ///
    /// # Errors
    ///
    /// A database failure.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// if let Some(at) = registry.jobs().next_due().await? {
    ///     let wait = at.duration_since(std::time::SystemTime::now()).unwrap_or_default();
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next_due(&self) -> Result<Option<SystemTime>> {
        let doing = "finding the next due sync";
        let rows = query(&self.shared.pool, &self.shared.jobs.next_due, &[], doing).await?;
        let row = rows.into_iter().next();
        row.map(|r| get(&r, "due", "the next due time")).transpose()
    }

    /// The newest `limit` runs of sync `id`, newest first.
    ///
    /// # Errors
    ///
    /// A database failure (an unknown sync has no runs).
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// let last = registry.jobs().runs(id, 1).await?;
    /// # Ok(()) }
    /// ```
    pub async fn runs(&self, id: SyncId, limit: usize) -> Result<Vec<RunEntry>> {
        let doing = format!("reading the runs of sync {id}");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 2] = [&id.0, &limit];
        let rows = query(&self.shared.pool, &self.shared.jobs.runs, &params, &doing).await?;
        rows.iter().map(entry).collect()
    }

    /// How many runs of sync `id` were taken over after a lease expired.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) for an unknown sync.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// println!("{} takeovers", registry.jobs().takeovers(id).await?);
    /// # Ok(()) }
    /// ```
    pub async fn takeovers(&self, id: SyncId) -> Result<u32> {
        let doing = format!("reading the takeovers of sync {id}");
        let params: [&(dyn ToSql + Sync); 1] = [&id.0];
        let takeovers = &self.shared.jobs.takeovers;
        let rows = query(&self.shared.pool, takeovers, &params, &doing).await?;
        let row = rows.into_iter().next();
        let row =
            row.ok_or_else(|| Error::new(ErrorKind::NotFound, format!("sync {id} not found")))?;
        get_u32(&row, "takeovers", "a sync's state")
    }
}

/// The run's last ledger update, sent when first polled (nothing without one).
async fn write_ledger(
    client: &tokio_postgres::Client,
    write: Option<&LedgerWrite>,
    ledger: Option<(&str, &Batch, RunFence)>,
) -> std::result::Result<u64, tokio_postgres::Error> {
    match (write, ledger) {
        (Some(write), Some((sync_id, batch, fence))) => {
            write.send(client, sync_id, batch, Some(fence)).await
        }
        _ => Ok(0),
    }
}

/// The finish statement's parameters, owned.
struct FinishParams {
    sync_id: uuid::Uuid,
    token: uuid::Uuid,
    operation: &'static str,
    job_id: uuid::Uuid,
    cause: &'static str,
    manual: bool,
    next_attempt: i32,
    retry: bool,
    failures: i32,
    backoff_ms: Option<i64>,
    status: &'static str,
    message: Option<String>,
    retry_message: Option<String>,
    succeeded: bool,
    run_id: i64,
    state: &'static str,
    counts: [i32; 9],
    requests: [i64; 6],
    history: i64,
    channel: String,
}

impl FinishParams {
    fn new(shared: &Shared, claim: &Claim, outcome: &RunOutcome, end: &RunEnd) -> FinishParams {
        FinishParams {
            sync_id: claim.sync_id.0,
            token: claim.token,
            operation: operation_text(claim.operation),
            job_id: claim.job_id.0,
            cause: claim.cause.as_str(),
            manual: claim.manual,
            next_attempt: finish::next_attempt(claim),
            retry: end.retry,
            failures: i32::try_from(end.failures).unwrap_or(i32::MAX),
            backoff_ms: end.backoff.map(finish::millis),
            status: finish::status_param(end),
            message: end.message.clone(),
            retry_message: end.retry_message.clone(),
            succeeded: end.succeeded(),
            run_id: claim.run_id,
            state: end.state.as_str(),
            counts: count_columns(&outcome.counts),
            requests: request_columns(&outcome.requests),
            history: shared.history,
            channel: shared.channel.clone(),
        }
    }

    /// `$1` to `$33`, in the statement's order.
    fn as_params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut p: Vec<&(dyn ToSql + Sync)> = vec![
            &self.sync_id,
            &self.token,
            &self.operation,
            &self.job_id,
            &self.cause,
            &self.manual,
            &self.next_attempt,
            &self.retry,
            &self.failures,
            &self.backoff_ms,
            &self.status,
            &self.message,
            &self.retry_message,
            &self.succeeded,
            &self.run_id,
            &self.state,
        ];
        p.extend(self.counts.iter().map(|c| c as &(dyn ToSql + Sync)));
        p.extend(self.requests.iter().map(|r| r as &(dyn ToSql + Sync)));
        p.push(&self.history);
        p.push(&self.channel);
        p
    }
}
