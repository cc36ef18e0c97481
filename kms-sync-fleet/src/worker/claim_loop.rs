//! The claim loop: claims due syncs while slots are free, starts a run per claim, accounts
//! for runs as they end, and sleeps until woken, a run ends, or the registry's next due time.

use std::collections::HashMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kms_sync_core::Error;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::run::{self, Ended};
use super::{retry_wait, settle, Ctx, WorkerSummary};
use crate::registry::Claim;

/// With a backlog, how long a worker waits for half its slots to free before claiming.
const CLAIM_LINGER: Duration = Duration::from_millis(20);

/// The claim loop's state: the runs in flight, what it did, and when to look again.
#[derive(Default)]
pub(super) struct ClaimLoop {
    pub(super) running: JoinSet<Ended>,
    pub(super) claims: HashMap<tokio::task::Id, Claim>,
    pub(super) summary: WorkerSummary,
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
    pub(super) async fn run<F>(&mut self, ctx: &Arc<Ctx>, wake: &Notify, shutdown: F)
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
