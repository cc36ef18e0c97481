//! The worker's turn at the fleet's poll rounds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::Ctx;
use crate::shared_reads::{PollAttempt, SharedReads};

/// Tries a poll round whenever one may be due, until `stop`; returns the rounds it ran.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    reads: SharedReads,
    interval: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> u64 {
    let mut rounds = 0u64;
    let mut wait = Duration::ZERO;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = stop.changed() => return rounds,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
        if *stop.borrow() {
            return rounds;
        }
        wait = match reads.poll_round(&ctx.id, interval).await {
            Ok(PollAttempt::Ran(_)) => {
                failures = 0;
                rounds += 1;
                interval
            }
            Ok(PollAttempt::NotDue { next_in }) => {
                failures = 0;
                // A little later than due, spread across workers, so one takes it and the
                // others find it done.
                let jitter = Duration::from_millis(fastrand::u64(
                    0..=(interval.as_millis() as u64 / 20).max(1),
                ));
                next_in.min(interval) + jitter
            }
            Err(e) => {
                failures += 1;
                crate::metrics::db_error(&ctx.id, "poll");
                tracing::warn!(error = %e, "a source poll round could not run; retrying");
                super::retry_wait(failures, Duration::from_secs(5)).min(interval)
            }
        };
    }
}
