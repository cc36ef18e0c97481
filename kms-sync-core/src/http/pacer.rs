//! Client-side pacing: a token bucket and a concurrency cap shared by every request of one
//! client, plus pauses the service asks for (429 `Retry-After`, advisory headers).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::Pacing;

#[derive(Debug)]
struct Bucket {
    pacing: Option<Pacing>,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

/// Shared by all clones of one client.
#[derive(Debug)]
pub(crate) struct Pacer {
    bucket: Mutex<Bucket>,
    slots: std::sync::Arc<Semaphore>,
}

/// Why waiting for a slot failed.
#[derive(Debug)]
pub(crate) enum PaceError {
    /// The next token comes after the deadline; the wait it would need.
    PastDeadline(Duration),
    /// The semaphore was closed (cannot happen while the client lives).
    Closed,
}

impl Pacer {
    pub(crate) fn new(pacing: Option<Pacing>, concurrency: usize) -> Self {
        Pacer {
            bucket: Mutex::new(Bucket {
                pacing,
                tokens: pacing.map_or(0.0, |p| p.burst()),
                last: Instant::now(),
                paused_until: None,
            }),
            slots: std::sync::Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Waits for a token and a concurrency slot, or fails if that would pass `deadline`.
    /// Returns the permit (held for the attempt) and how long it waited.
    pub(crate) async fn acquire(
        &self,
        deadline: Instant,
    ) -> Result<(OwnedSemaphorePermit, Duration), PaceError> {
        let started = Instant::now();
        loop {
            match self.take_token() {
                Ok(()) => break,
                Err(wait) => {
                    let now = Instant::now();
                    if now + wait > deadline {
                        return Err(PaceError::PastDeadline(wait));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let permit =
            match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(PaceError::Closed),
                Err(_) => return Err(PaceError::PastDeadline(Duration::ZERO)),
            };
        Ok((permit, started.elapsed()))
    }

    /// Takes a token now, or says how long until one is available.
    fn take_token(&self) -> Result<(), Duration> {
        // A poisoned lock means a panic elsewhere; do not add a stall on top of it.
        let Ok(mut b) = self.bucket.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if let Some(until) = b.paused_until {
            if until > now {
                return Err(until - now);
            }
            b.paused_until = None;
        }
        let Some(pacing) = b.pacing else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * pacing.rate_per_second()).min(pacing.burst());
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - b.tokens) / pacing.rate_per_second(),
            ))
        }
    }

    /// Holds every request of the client until `until` (a 429's `Retry-After`, or an advisory
    /// header saying the budget is spent).
    pub(crate) fn pause_until(&self, until: Instant) {
        if let Ok(mut b) = self.bucket.lock() {
            if b.paused_until.is_none_or(|p| p < until) {
                b.paused_until = Some(until);
            }
        }
    }

    /// Replaces the pacing (e.g. from a policy header the service sent).
    pub(crate) fn set_pacing(&self, pacing: Pacing) {
        if let Ok(mut b) = self.bucket.lock() {
            if b.pacing != Some(pacing) {
                b.tokens = b.tokens.min(pacing.burst());
                b.pacing = Some(pacing);
            }
        }
    }

    /// The current pacing.
    pub(crate) fn pacing(&self) -> Option<Pacing> {
        self.bucket.lock().ok().and_then(|b| b.pacing)
    }
}

/// Reads Octopus-style advisory headers: `Octopus-RateLimit-Policy: l=<burst>;rpm=<rate>` and
/// `Octopus-RateLimit: r=<remaining>;t=<seconds until full>`. Returns a pacing to adopt and,
/// when nothing remains, how long to pause.
pub(crate) fn read_advisory(
    policy: Option<&str>,
    state: Option<&str>,
) -> (Option<Pacing>, Option<Duration>) {
    let field = |text: &str, name: &str| -> Option<f64> {
        text.split(';').find_map(|part| {
            let (k, v) = part.split_once('=')?;
            (k.trim().eq_ignore_ascii_case(name))
                .then(|| v.trim().parse::<f64>().ok())
                .flatten()
        })
    };
    let pacing = policy.and_then(|p| {
        let burst = field(p, "l")?;
        let rpm = field(p, "rpm")?;
        (burst > 0.0 && rpm > 0.0).then(|| {
            Pacing::new(
                (burst * super::config::BUDGET_SHARE).floor(),
                rpm / 60.0 * super::config::BUDGET_SHARE,
            )
        })
    });
    let pause = state.and_then(|s| {
        let remaining = field(s, "r")?;
        let until_full = field(s, "t")?;
        // With nothing left, wait for one request's worth of refill at least.
        (remaining < 1.0 && until_full > 0.0).then(|| Duration::from_secs_f64(until_full.min(60.0)))
    });
    (pacing, pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_headers() {
        let (pacing, pause) = read_advisory(Some("l=200;rpm=600"), Some("r=0;t=3"));
        let pacing = pacing.expect("policy read");
        assert_eq!(pacing.burst(), 180.0);
        assert!((pacing.rate_per_second() - 9.0).abs() < 1e-9);
        assert_eq!(pause, Some(Duration::from_secs(3)));
        assert_eq!(read_advisory(None, Some("r=12;t=3")), (None, None));
        assert_eq!(read_advisory(Some("garbage"), Some("r=x")), (None, None));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_paces_after_the_burst() {
        let pacer = Pacer::new(Some(Pacing::new(3.0, 2.0)), 10);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(60);
        for _ in 0..7 {
            let (permit, _) = pacer.acquire(deadline).await.expect("within the deadline");
            drop(permit);
        }
        // 3 at once, then 4 more at 2 per second: 2 seconds.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1_999) && elapsed <= Duration::from_millis(2_100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_everyone_and_the_deadline_is_respected() {
        let pacer = Pacer::new(None, 10);
        let start = Instant::now();
        pacer.pause_until(start + Duration::from_secs(5));
        let late = pacer.acquire(start + Duration::from_secs(2)).await;
        assert!(matches!(late, Err(PaceError::PastDeadline(_))));
        let (_permit, waited) = pacer
            .acquire(start + Duration::from_secs(10))
            .await
            .expect("after the pause");
        assert!(waited >= Duration::from_secs(5));
    }
}
