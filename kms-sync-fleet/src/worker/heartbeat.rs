//! Keeping a claim's lease: a heartbeat every interval while the run goes on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kms_sync_core::ErrorKind;

use super::Ctx;
use crate::registry::Claim;

/// A claim's lease as this worker sees it: renewed at a local instant, for its length.
/// The server's clock decides; the local deadline is conservative (each renewal counts
/// from when it was sent).
#[derive(Debug)]
pub(crate) struct Lease {
    renewed: Mutex<Instant>,
    length: Duration,
}

impl Lease {
    pub fn new(claimed_at: Instant, length: Duration) -> Lease {
        Lease {
            renewed: Mutex::new(claimed_at),
            length,
        }
    }

    fn renew(&self, sent_at: Instant) {
        if let Ok(mut at) = self.renewed.lock() {
            *at = (*at).max(sent_at);
        }
    }

    fn deadline(&self) -> Instant {
        let renewed = self
            .renewed
            .lock()
            .map(|at| *at)
            .unwrap_or_else(|_| Instant::now());
        renewed + self.length
    }

    /// Whether the lease is still ours after waiting `wait` (with a tenth of it, at most
    /// 1 s, to spare for the next request).
    pub fn still_ours_after(&self, wait: Duration) -> bool {
        let margin = (self.length / 10).min(Duration::from_secs(1));
        Instant::now() + wait + margin < self.deadline()
    }
}

/// Why a run lost its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    /// Another worker took it over (or it was released or the sync deleted).
    TakenOver,
    /// It could not be renewed before it expired (the database was away).
    Expired,
}

/// Heartbeats `claim` until its lease is lost; never resolves while it is kept. Once
/// `finishing` is set (the run's end is being recorded, which clears the lease), a lost
/// lease is left to the recording to notice: this never resolves any more.
pub(crate) async fn keep(ctx: &Ctx, claim: &Claim, lease: &Lease, finishing: &AtomicBool) -> Lost {
    let mut failures = 0u32;
    loop {
        let wait = match failures {
            0 => ctx.heartbeat,
            n => super::retry_wait(n, Duration::from_secs(1)).min(ctx.heartbeat),
        };
        tokio::time::sleep(wait).await;
        let sent = Instant::now();
        let lost = match ctx.registry.jobs().heartbeat(claim).await {
            Ok(_) => {
                failures = 0;
                lease.renew(sent);
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Conflict => Lost::TakenOver,
            Err(e) => {
                failures += 1;
                crate::metrics::db_error(&ctx.id, "heartbeat");
                if lease.still_ours_after(Duration::ZERO) {
                    tracing::debug!(error = %e, failures, "a heartbeat failed; retrying");
                    continue;
                }
                tracing::warn!(error = %e, "the lease could not be renewed in time");
                Lost::Expired
            }
        };
        if finishing.load(Ordering::SeqCst) {
            return std::future::pending().await;
        }
        return lost;
    }
}
