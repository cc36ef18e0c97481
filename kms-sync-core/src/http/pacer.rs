//! Client-side pacing: a token bucket and a concurrency cap shared by every request of one
//! client, plus pauses the service asks for (429 `Retry-After`, its rate-limit headers).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::Pacing;
use super::rate_limit::Advisory;

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

    /// Holds every request of the client until `until` (a 429's `Retry-After`, or the
    /// service's rate-limit headers saying the budget is spent).
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

    /// Follows what the service's rate-limit headers advise: adopts the pacing it announces
    /// and pauses every request for at most `max_pause`.
    pub(crate) fn advise(&self, advisory: Advisory, max_pause: Duration) {
        if let Some(pacing) = advisory.pacing {
            self.set_pacing(pacing);
        }
        if let Some(pause) = advisory.pause {
            self.pause_until(Instant::now() + pause.min(max_pause));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    async fn advice_is_adopted_and_its_pause_capped() {
        let pacer = Pacer::new(Some(Pacing::new(100.0, 50.0)), 10);
        let start = Instant::now();
        pacer.advise(Advisory::default(), Duration::from_secs(10));
        assert_eq!(pacer.pacing(), Some(Pacing::new(100.0, 50.0)), "no advice");
        let announced = Pacing::new(2.0, 1.0);
        pacer.advise(
            Advisory::new(Some(announced), Some(Duration::from_secs(3_600))),
            Duration::from_secs(10),
        );
        assert_eq!(
            pacer.pacing(),
            Some(announced),
            "the announced limit is adopted"
        );
        let (_permit, waited) = pacer
            .acquire(start + Duration::from_secs(60))
            .await
            .expect("after the capped pause");
        assert!(
            waited >= Duration::from_secs(10) && waited <= Duration::from_millis(10_100),
            "{waited:?}"
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
