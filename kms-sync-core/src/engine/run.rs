//! One run of a syncer: its job id, its request counter, its deadline, and what it read.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::syncer::Syncer;
use super::trust::{check_bound, check_complete};
use crate::destination::{RemoteValue, Snapshot, Writer};
use crate::engine::options::{DEFAULT_APPLY_DEADLINE, DEFAULT_READ_DEADLINE};
use crate::engine::scope_lock::ScopeGuard;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::{plan, Plan, PlanInput, PlanOptions};
use crate::scrub::Scrubber;
use crate::secret::{SecretSet, SecretValue};
use crate::state::Ledger;
use crate::stats::RunRequests;

/// One operation in progress.
#[derive(Debug)]
pub(crate) struct Run {
    pub job_id: String,
    pub started: Instant,
    pub requests: RunRequests,
    /// Every value this run has seen (the source's, the destination's readable ones): no
    /// error leaves the run with one of them in it.
    seen: Mutex<Seen>,
}

/// The values a run has seen, turned into a scrubber only when an error needs one.
#[derive(Debug, Default)]
struct Seen {
    pending: Vec<SecretValue>,
    scrubber: Scrubber,
}

impl Run {
    pub fn start() -> Run {
        Run {
            job_id: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
            requests: RunRequests::new(),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Remembers values to scrub from every error of this run.
    pub fn learn<'a>(&self, values: impl IntoIterator<Item = &'a SecretValue>) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.pending.extend(values.into_iter().cloned());
    }

    /// `error` without any value the run has seen.
    pub fn scrub(&self, error: &Error) -> Error {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let Seen { pending, scrubber } = &mut *seen;
        for value in pending.drain(..) {
            scrubber.add(value.expose_secret());
        }
        error.scrubbed(scrubber)
    }
}

/// What a run read before deciding anything.
pub(crate) struct Read {
    pub source: SecretSet,
    pub snapshot: Snapshot,
    pub ledger: Option<Ledger>,
    /// Whether this is the initial sync (see [`Syncer::is_initial`]).
    pub initial: bool,
    /// The scope lock, held until the writes are done.
    pub _lock: Option<ScopeGuard>,
}

impl Syncer {
    /// When reading must be done.
    pub(super) fn read_deadline(&self, run: &Run) -> Instant {
        run.started + self.options.deadline.unwrap_or(DEFAULT_READ_DEADLINE)
    }

    /// When writing `changes` changes must be done.
    pub(super) fn apply_deadline(&self, run: &Run, changes: usize) -> Instant {
        if let Some(fixed) = self.options.deadline {
            return run.started + fixed;
        }
        let pacing = self
            .destination
            .info()
            .capabilities
            .rate_budget()
            .map_or(Duration::ZERO, |b| b.time_for(changes));
        Instant::now() + DEFAULT_APPLY_DEADLINE + pacing.saturating_mul(2)
    }

    pub(super) fn concurrency(&self) -> usize {
        let default = match self.destination.writer() {
            Writer::PerKey(_) => self.destination.info().capabilities.default_concurrency(),
            Writer::Batch(_) => 1,
        };
        self.options.concurrency.unwrap_or(default).max(1)
    }

    /// Takes the scope lock (if the destination names one), then reads the source, the
    /// destination and the ledger, all within the read deadline.
    pub(super) async fn read(&self, run: &Run) -> Result<Read> {
        let deadline = self.read_deadline(run);
        let work = async {
            let lock = self.lock_scope(deadline).await?;
            let source = self.load_source().await?;
            run.learn(source.iter().map(|(_, value)| value));
            let snapshot = self.destination.list().await?;
            check_complete(self.destination.info(), &snapshot)?;
            run.learn(snapshot.entries().iter().filter_map(|e| match e.value() {
                RemoteValue::Known(value) => Some(value),
                RemoteValue::Hidden => None,
            }));
            let (ledger, initial) = self.load_ledger().await?;
            Ok(Read {
                source,
                snapshot,
                ledger,
                initial,
                _lock: lock,
            })
        };
        let read = async {
            tokio::select! {
                biased;
                err = self.stopped_while_reading() => Err(err),
                read = work => read,
            }
        };
        match tokio::time::timeout_at(deadline, read).await {
            Ok(read) => read,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "reading the source and {} did not finish within the sync's {} s read deadline; nothing was written",
                    self.destination.info(),
                    deadline.saturating_duration_since(run.started).as_secs()
                ),
            )
            .with_destination(self.destination.info().to_string())),
        }
    }

    /// Resolves when the stop signal is given, with the error that ends the read.
    async fn stopped_while_reading(&self) -> Error {
        self.stop.stopped().await;
        Error::new(
            ErrorKind::NotAttempted,
            "interrupted: the run was stopped while reading, before anything was written",
        )
        .with_destination(self.destination.info().to_string())
    }

    /// The ledger (if one is kept) and whether the next sync is the initial one.
    pub(super) async fn load_ledger(&self) -> Result<(Option<Ledger>, bool)> {
        let Some((store, _)) = &self.state else {
            return Ok((None, self.is_initial().await?));
        };
        let stored = store.load(&self.id).await?;
        if let Some(ledger) = &stored {
            check_bound(&self.id, self.destination.info(), ledger)?;
        }
        let initial = !self.initial_done() && stored.as_ref().is_none_or(|l| !l.is_settled());
        Ok((Some(stored.unwrap_or_default()), initial))
    }

    /// Before applying a plan made earlier: the scope lock, if the destination names one.
    pub(super) async fn prepare_apply(&self, run: &Run) -> Result<Option<ScopeGuard>> {
        self.lock_scope(self.read_deadline(run)).await
    }

    pub(super) async fn lock_scope(&self, deadline: Instant) -> Result<Option<ScopeGuard>> {
        let Some(scope) = self.destination.exclusive_scope().await? else {
            return Ok(None);
        };
        // The provider's own timeout names the holder; end its wait a little before the read
        // deadline so that error, not the generic deadline one, reaches the caller.
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = left.saturating_sub((left / 10).min(Duration::from_secs(1)));
        self.scope_locks
            .lock(&scope, wait)
            .await
            .map(Some)
            .map_err(|e| e.with_destination(self.destination.info().to_string()))
    }

    /// Loads the source; any failure becomes a [`Source`](ErrorKind::Source) error saying
    /// nothing was written (fail closed).
    async fn load_source(&self) -> Result<SecretSet> {
        self.source.load().await.map_err(|err| {
            if err.kind() == ErrorKind::Source && err.message().contains("nothing was written") {
                return err;
            }
            Error::new(
                ErrorKind::Source,
                format!(
                    "source {} failed, nothing was written: {err}",
                    self.source.describe()
                ),
            )
            .with_source(err)
        })
    }

    /// Plans from what was read.
    pub(super) fn plan_from(&self, read: &Read) -> Result<Plan> {
        let name = self.source.describe();
        plan(PlanInput {
            source: &read.source,
            source_name: &name,
            snapshot: &read.snapshot,
            schema: &*self.schema,
            destination: &*self.destination,
            ledger: read.ledger.as_ref(),
            claim_unrecorded: read.initial,
            fingerprinter: self.state.as_ref().map(|(_, fp)| &**fp),
            options: PlanOptions {
                disable_secret_deletion: self.options.disable_secret_deletion,
                deletion_guard: self.options.deletion_guard,
            },
        })
    }
}
