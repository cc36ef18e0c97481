//! The engine's apply: ordering, concurrency, progress, confirmation, the deadline and the
//! circuit breaker, the same for every destination. A destination only writes.

use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::outcome::Outcome;
use super::stop::StopSignal;
use crate::destination::{BatchWriter, Change, PerKeyWriter, Version, Writer};
use crate::engine::progress::Progress;
use crate::error::{Error, ErrorKind};

/// How an apply runs.
#[derive(Debug, Clone)]
pub(crate) struct ApplySettings {
    /// Per-key writes in flight at once.
    pub concurrency: usize,
    /// When the whole operation must end.
    pub deadline: Instant,
    /// Consecutive transport failures of one kind that stop the apply.
    pub breaker: u32,
    /// Where finished changes are counted.
    pub progress: Option<Arc<Progress>>,
    /// `kind:target`, for errors that do not name it.
    pub destination: String,
    /// When given, no change starts; writes in flight get `grace` to finish.
    pub stop: StopSignal,
    /// How long writes in flight may take after a stop.
    pub grace: std::time::Duration,
}

impl ApplySettings {
    fn advance(&self, n: usize) {
        if let Some(p) = &self.progress {
            p.advance(n);
        }
    }
}

/// Applies `changes` through `writer`: one outcome per change, in the order of `changes`.
pub(crate) async fn apply(
    writer: Writer<'_>,
    changes: &[Change],
    expect: Option<&Version>,
    settings: &ApplySettings,
) -> Vec<Outcome> {
    if changes.is_empty() {
        return Vec::new();
    }
    match writer {
        Writer::PerKey(w) => apply_per_key(w, changes, settings).await,
        Writer::Batch(w) => apply_batch(w, changes, expect, settings).await,
    }
}

/// Every create and update first; then, only if every one of them was applied, every
/// delete. A failed write never stops the other writes; it holds the deletes back.
async fn apply_per_key(
    writer: &dyn PerKeyWriter,
    changes: &[Change],
    settings: &ApplySettings,
) -> Vec<Outcome> {
    let (writes, deletes): (Vec<usize>, Vec<usize>) =
        (0..changes.len()).partition(|&i| changes[i].kind.is_write());
    let breaker = Breaker::new(settings.breaker);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; changes.len()];
    run_phase(writer, changes, &writes, settings, &breaker, &mut outcomes).await;
    let mut failed: Vec<&str> = writes
        .iter()
        .filter(|&&i| !outcomes[i].as_ref().is_some_and(Outcome::is_applied))
        .map(|&i| changes[i].key.as_str())
        .collect();
    if settings.stop.is_stopped() {
        for &i in &deletes {
            outcomes[i] = Some(Outcome::not_attempted(&changes[i], INTERRUPTED));
        }
    } else if failed.is_empty() {
        run_phase(writer, changes, &deletes, settings, &breaker, &mut outcomes).await;
    } else {
        failed.sort_unstable();
        let reason = format!(
            "deletes held back because {} write(s) did not succeed: {}",
            failed.len(),
            failed.join(", ")
        );
        for &i in &deletes {
            outcomes[i] = Some(Outcome::skipped(&changes[i], reason.clone()));
        }
    }
    outcomes
        .into_iter()
        .zip(changes)
        .map(|(o, c)| o.unwrap_or_else(|| Outcome::not_attempted(c, "not attempted")))
        .collect()
}

async fn run_phase(
    writer: &dyn PerKeyWriter,
    changes: &[Change],
    indices: &[usize],
    settings: &ApplySettings,
    breaker: &Breaker,
    outcomes: &mut [Option<Outcome>],
) {
    let results: Vec<(usize, Outcome)> = stream::iter(indices.iter().copied())
        .map(|i| async move {
            let change = &changes[i];
            if let Some(why) = stop_reason(settings, breaker) {
                return (i, Outcome::not_attempted(change, why));
            }
            let outcome = write_one(writer, change, settings).await;
            breaker.observe(&outcome);
            settings.advance(1);
            (i, outcome)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for (i, outcome) in results {
        outcomes[i] = Some(outcome);
    }
}

async fn write_one(writer: &dyn PerKeyWriter, change: &Change, s: &ApplySettings) -> Outcome {
    let write = tokio::time::timeout_at(s.deadline, writer.write(change));
    tokio::select! {
        biased;
        result = write => match result {
            Ok(result) => Outcome::of(change, result, &s.destination),
            Err(_) => Outcome::failed(change, cut_off(), &s.destination),
        },
        () = grace_after_stop(s) => Outcome::failed(change, dropped_in_flight(s), &s.destination),
    }
}

/// What a change not tried because the run was stopped is told.
pub(crate) const INTERRUPTED: &str =
    "interrupted: the run was stopped before this change was tried";

/// Resolves `grace` after the stop signal (never, if it is not given).
async fn grace_after_stop(s: &ApplySettings) {
    s.stop.stopped().await;
    tokio::time::sleep(s.grace).await;
}

fn dropped_in_flight(s: &ApplySettings) -> Error {
    Error::new(
        ErrorKind::Unconfirmed,
        format!(
            "interrupted: the run was stopped while this write was in flight and it did not finish \
             within the {} ms grace; it may have been applied",
            s.grace.as_millis()
        ),
    )
}

fn cut_off() -> Error {
    Error::new(
        ErrorKind::Unconfirmed,
        "cut off at the sync's deadline while the service had not answered; it may have been applied",
    )
}

fn stop_reason(settings: &ApplySettings, breaker: &Breaker) -> Option<String> {
    if settings.stop.is_stopped() {
        return Some(INTERRUPTED.to_owned());
    }
    if Instant::now() >= settings.deadline {
        return Some("the sync's deadline passed before this change was tried".to_owned());
    }
    breaker.tripped()
}

/// One write of the whole set; its result is every change's result.
async fn apply_batch(
    writer: &dyn BatchWriter,
    changes: &[Change],
    expect: Option<&Version>,
    s: &ApplySettings,
) -> Vec<Outcome> {
    let why = if s.stop.is_stopped() {
        Some(INTERRUPTED)
    } else if Instant::now() >= s.deadline {
        Some("the sync's deadline passed before the write was tried")
    } else {
        None
    };
    if let Some(why) = why {
        return changes
            .iter()
            .map(|c| Outcome::not_attempted(c, why))
            .collect();
    }
    let write = tokio::time::timeout_at(s.deadline, writer.write_all(changes, expect));
    let result = tokio::select! {
        biased;
        result = write => result,
        () = grace_after_stop(s) => Ok(Err(dropped_in_flight(s))),
    };
    s.advance(changes.len());
    let error = match result {
        Ok(Ok(applied)) if applied.len() == changes.len() => {
            return changes
                .iter()
                .zip(applied)
                .map(|(c, a)| Outcome::of(c, Ok(a), &s.destination))
                .collect();
        }
        Ok(Ok(applied)) => Error::new(
            ErrorKind::Unconfirmed,
            format!(
                "the destination returned {} results for {} changes; the write may have been applied",
                applied.len(),
                changes.len()
            ),
        ),
        Ok(Err(err)) => err,
        Err(_) => cut_off(),
    };
    changes
        .iter()
        .map(|c| Outcome::failed(c, error.clone(), &s.destination))
        .collect()
}

/// Stops an apply after `threshold` consecutive failures of one transport kind: the
/// service is down, and retrying every remaining key would only wait out each timeout.
#[derive(Debug)]
struct Breaker {
    threshold: u32,
    state: Mutex<(Option<ErrorKind>, u32)>,
}

impl Breaker {
    fn new(threshold: u32) -> Self {
        Breaker {
            threshold: threshold.max(1),
            state: Mutex::new((None, 0)),
        }
    }

    fn observe(&self, outcome: &Outcome) {
        use super::outcome::OutcomeStatus::{Failed, Unconfirmed};
        let kind = match &outcome.status {
            Failed(e) | Unconfirmed(e) if is_transport(e.kind()) => Some(e.kind()),
            _ => None,
        };
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *state = match (kind, state.0) {
            (Some(k), Some(last)) if k == last => (Some(k), state.1 + 1),
            (Some(k), _) => (Some(k), 1),
            (None, _) => (None, 0),
        };
    }

    fn tripped(&self) -> Option<String> {
        let state = match self.state.lock() {
            Ok(s) => *s,
            Err(poisoned) => *poisoned.into_inner(),
        };
        match state {
            (Some(kind), n) if n >= self.threshold => Some(format!(
                "not attempted: the apply stopped after {n} consecutive `{kind}` failures"
            )),
            _ => None,
        }
    }
}

fn is_transport(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Timeout
            | ErrorKind::Unavailable
            | ErrorKind::RateLimited
            | ErrorKind::Unconfirmed
    )
}
