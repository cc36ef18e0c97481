//! Shared reads: one KMS read per distinct source per poll round, one round at a time
//! across the fleet, triggering the syncs of the sources that changed. The poll tables'
//! SQL is the registry's (`registry/polls.rs`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kms_sync_core::{Error, Fingerprinter, Operation, Result, Revision, SecretValue};
use secrecy::{ExposeSecret, SecretBox};
use tracing::Instrument;

use crate::registry::{RoundEnd, Source, SyncId, SyncRegistry, Taken, TriggerCause};
use crate::sources::{SourceCache, SourceKey, SourceProvider};

/// How many sources a round reads at once unless configured.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_READ_CONCURRENCY, 8);
/// ```
pub const DEFAULT_READ_CONCURRENCY: usize = 8;

/// What one poll round did.
///
/// ```no_run
/// # async fn f(reads: kms_sync_fleet::SharedReads) -> kms_sync_core::Result<()> {
/// use std::time::Duration;
/// if let kms_sync_fleet::PollAttempt::Ran(round) = reads.poll_round("w1", Duration::from_secs(60)).await? {
///     println!("round {}: {} reads for {} sources, {} changed, {} syncs triggered",
///         round.round, round.reads, round.sources, round.changed, round.triggered);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRound {
    /// The round's number across the fleet.
    pub round: u64,
    /// Distinct sources of enabled auto-sync syncs.
    pub sources: usize,
    /// KMS reads made (one `revision()` per source).
    pub reads: usize,
    /// Sources whose revision changed (or that cannot tell: they have none).
    pub changed: usize,
    /// Syncs queued or joined to a pending job.
    pub triggered: usize,
    /// Sources that could not be read (nothing triggered for them; read again next round).
    pub errors: usize,
    /// How long the round took.
    pub elapsed: Duration,
}

/// Whether a worker ran a round.
///
/// ```
/// let attempt = kms_sync_fleet::PollAttempt::NotDue { next_in: std::time::Duration::from_secs(5) };
/// assert!(matches!(attempt, kms_sync_fleet::PollAttempt::NotDue { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollAttempt {
    /// This worker ran the round.
    Ran(PollRound),
    /// Another worker runs it, or ran it less than an interval ago; the next is due in
    /// about `next_in`.
    NotDue {
        /// The wait until the next round could start.
        next_in: Duration,
    },
}

/// Shared reads of the fleet's sources. A **poll round** lists the distinct sources
/// (project, environment, secret path) of the enabled auto-sync syncs, reads each **once**
/// — `revision()`, which for the KMS source is one list request with `If-None-Match`,
/// answered `304` while nothing changed — whatever the number of syncs on it, compares it
/// with the revision the fleet stored (HMAC-SHA256 under the ledger key, in
/// `source_revisions`), and triggers the syncs of the changed sources with cause
/// [`SourceChange`](TriggerCause::SourceChange) in one statement. A source seen for the
/// first time counts as changed. Only one worker runs a round at a time, and rounds come
/// once per interval across the fleet: a worker runs one only by taking the lease of the
/// `source_polls` row while a round is due.
///
/// [`Worker`](crate::Worker)s run rounds on their own (see
/// [`WorkerBuilder::source_poll`](crate::WorkerBuilder::source_poll)); use this directly
/// to run rounds elsewhere.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// # async fn run(registry: kms_sync_fleet::SyncRegistry, sources: Arc<dyn kms_sync_fleet::SourceProvider>) -> kms_sync_core::Result<()> {
/// let reads = kms_sync_fleet::SharedReads::new(registry, sources, b"the ledger HMAC key, 16+ bytes".to_vec())?;
/// reads.poll_round("poller-1", Duration::from_secs(60)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedReads {
    registry: SyncRegistry,
    cache: Arc<SourceCache>,
    key: Arc<SecretBox<[u8]>>,
    concurrency: usize,
}

impl fmt::Debug for SharedReads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedReads")
            .field("registry", &self.registry)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl SharedReads {
    /// Shared reads over `sources`, storing revisions HMAC'd under `ledger_key` (the key
    /// the workers' ledgers use; never stored).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for a key under 16 bytes.
    ///
    /// ```no_run
    /// # fn f(registry: kms_sync_fleet::SyncRegistry, sources: std::sync::Arc<dyn kms_sync_fleet::SourceProvider>) -> kms_sync_core::Result<()> {
    /// let reads = kms_sync_fleet::SharedReads::new(registry, sources, vec![7u8; 32])?;
    /// # Ok(()) }
    /// ```
    pub fn new(
        registry: SyncRegistry,
        sources: Arc<dyn SourceProvider>,
        ledger_key: Vec<u8>,
    ) -> Result<SharedReads> {
        Fingerprinter::new(ledger_key.clone())?;
        Ok(SharedReads::with_cache(
            registry,
            Arc::new(SourceCache::new(sources)),
            Arc::new(SecretBox::new(ledger_key.into_boxed_slice())),
        ))
    }

    pub(crate) fn with_cache(
        registry: SyncRegistry,
        cache: Arc<SourceCache>,
        key: Arc<SecretBox<[u8]>>,
    ) -> SharedReads {
        SharedReads {
            registry,
            cache,
            key,
            concurrency: DEFAULT_READ_CONCURRENCY,
        }
    }

    /// How many sources a round reads at once (default 8, at least 1).
    ///
    /// ```no_run
    /// # fn f(reads: kms_sync_fleet::SharedReads) {
    /// let reads = reads.read_concurrency(4);
    /// # }
    /// ```
    pub fn read_concurrency(mut self, concurrency: usize) -> SharedReads {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Runs a poll round as `worker` if one is due (the last ended at least `interval`
    /// ago and none is running), else says when the next is due. Four round trips to the
    /// database per round (take the round, list the sources and stored revisions, trigger,
    /// store and end the round), plus one read per source.
    ///
    /// # Errors
    ///
    /// A database failure. A source that cannot be read is not an error: it is counted in
    /// [`PollRound::errors`], logged, and read again next round.
    ///
    /// ```no_run
    /// # async fn f(reads: kms_sync_fleet::SharedReads) -> kms_sync_core::Result<()> {
    /// let attempt = reads.poll_round("w1", std::time::Duration::from_secs(60)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn poll_round(&self, worker: &str, interval: Duration) -> Result<PollAttempt> {
        let started = Instant::now();
        let round = match self
            .registry
            .polls()
            .take(worker, round_lease(interval))
            .await?
        {
            Taken::Round(n) => n,
            Taken::NotDue(next_in) => return Ok(PollAttempt::NotDue { next_in }),
        };
        let span = tracing::info_span!("kms_sync_poll_round", round, worker);
        let result = self
            .round(worker, round, interval, started)
            .instrument(span)
            .await;
        if let Err(e) = &result {
            tracing::warn!(round, worker, error = %e, "a source poll round failed");
            // Let the next due worker try again after the interval, not after the lease.
            let _ = self.registry.polls().end_failed(worker, interval).await;
        }
        result.map(PollAttempt::Ran)
    }

    async fn round(
        &self,
        worker: &str,
        round: u64,
        interval: Duration,
        started: Instant,
    ) -> Result<PollRound> {
        let sources = self.registry.syncs().sources().await?;
        let stored = Stored {
            revisions: self.registry.polls().revisions().await?,
            fingerprinter: Fingerprinter::new(self.key.expose_secret().to_vec())?,
        };
        let keyed = keyed_sources(sources);
        let reads = self.read_revisions(&keyed).await;
        let found = stored.compare(&keyed, reads, worker, round);
        let triggered = self.trigger_changed(&found.syncs).await?;
        let end = RoundEnd {
            read: &keyed,
            store: &found.store,
            changed: found.changed,
        };
        self.registry.polls().finish(worker, interval, end).await?;
        let reads = keyed.len();
        count_round(worker, reads, found.changed);
        let done = PollRound {
            round,
            sources: keyed.len(),
            reads,
            changed: found.changed,
            triggered,
            errors: found.errors,
            elapsed: started.elapsed(),
        };
        log_round(worker, &done);
        Ok(done)
    }

    /// Reads each source's revision, `concurrency` at a time: each read with the index of
    /// its source in `keyed`, in the order they end.
    async fn read_revisions(&self, keyed: &[(SourceKey, Vec<SyncId>)]) -> Vec<Read> {
        let reading: Vec<_> = keyed
            .iter()
            .enumerate()
            .map(|(i, (key, _))| {
                let (cache, key) = (self.cache.clone(), key.clone());
                async move {
                    let read = async {
                        let source = cache.get(&key).await?;
                        source.revision().await
                    };
                    (i, read.await)
                }
            })
            .collect();
        futures::stream::iter(reading)
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    /// Triggers the syncs of the changed sources: how many were queued or joined a job.
    async fn trigger_changed(&self, syncs: &[SyncId]) -> Result<usize> {
        if syncs.is_empty() {
            return Ok(0);
        }
        Ok(self
            .registry
            .jobs()
            .trigger_many(syncs, Operation::Sync, TriggerCause::SourceChange)
            .await?
            .iter()
            .filter(|(_, t)| t.job_id().is_some())
            .count())
    }
}

/// A round's lease: long enough for a slow round, so a second never starts beside it; a
/// round whose worker died is taken over after it.
fn round_lease(interval: Duration) -> Duration {
    (interval * 2).max(Duration::from_secs(30))
}

/// One source read: the index of the source in the round's list, and its revision.
type Read = (usize, Result<Option<Revision>>);

/// The round's sources, each keyed with the syncs on it.
fn keyed_sources(sources: Vec<Source>) -> Vec<(SourceKey, Vec<SyncId>)> {
    sources
        .into_iter()
        .map(|src| {
            (
                SourceKey {
                    project_id: src.project_id,
                    environment: src.environment,
                    secret_path: src.secret_path,
                },
                src.syncs,
            )
        })
        .collect()
}

/// What a round compares its reads with: the revisions the fleet stored, and the key they
/// are HMAC'd under.
struct Stored {
    revisions: HashMap<SourceKey, String>,
    fingerprinter: Fingerprinter,
}

/// What a round's reads found.
#[derive(Default)]
struct Changes<'a> {
    /// The syncs of the changed sources, to trigger.
    syncs: Vec<SyncId>,
    /// The changed revisions to store.
    store: Vec<(&'a SourceKey, String)>,
    /// Sources whose revision changed (or that cannot tell: they have none).
    changed: usize,
    /// Sources that could not be read.
    errors: usize,
}

impl Changes<'_> {
    fn source_changed(&mut self, syncs: &[SyncId]) {
        self.changed += 1;
        self.syncs.extend(syncs.iter().copied());
    }
}

impl Stored {
    /// Compares each read with the stored revision of its source.
    fn compare<'a>(
        &self,
        keyed: &'a [(SourceKey, Vec<SyncId>)],
        reads: Vec<Read>,
        worker: &str,
        round: u64,
    ) -> Changes<'a> {
        let mut found = Changes::default();
        for (i, read) in reads {
            let Some((key, syncs)) = keyed.get(i) else {
                continue;
            };
            match read {
                Ok(Some(revision)) => {
                    if let Some(digest) = self.changed_digest(key, &revision) {
                        found.source_changed(syncs);
                        found.store.push((key, digest));
                    }
                }
                Ok(None) => found.source_changed(syncs),
                Err(e) => {
                    found.errors += 1;
                    source_unreadable(worker, round, key, &e);
                }
            }
        }
        found
    }

    /// The digest of `key` at `revision`, if it is not the one stored.
    fn changed_digest(&self, key: &SourceKey, revision: &Revision) -> Option<String> {
        let digest = digest(&self.fingerprinter, key, revision);
        (self.revisions.get(key) != Some(&digest)).then_some(digest)
    }
}

fn source_unreadable(worker: &str, round: u64, key: &SourceKey, e: &Error) {
    ::metrics::counter!(crate::metrics::SOURCE_ERRORS, "worker" => worker.to_owned()).increment(1);
    tracing::warn!(round, worker, source = %key, error = %e,
        "a source could not be read; its syncs are not triggered this round");
}

/// The metrics of a round that ran.
fn count_round(worker: &str, reads: usize, changed: usize) {
    let worker_label = worker.to_owned();
    ::metrics::counter!(crate::metrics::POLL_ROUNDS, "worker" => worker_label.clone()).increment(1);
    ::metrics::counter!(crate::metrics::SOURCE_READS, "worker" => worker_label.clone())
        .increment(u64::try_from(reads).unwrap_or(u64::MAX));
    ::metrics::histogram!(crate::metrics::ROUND_READS, "worker" => worker_label.clone())
        .record(reads as f64);
    ::metrics::counter!(crate::metrics::SOURCE_CHANGES, "worker" => worker_label)
        .increment(u64::try_from(changed).unwrap_or(u64::MAX));
}

fn log_round(worker: &str, done: &PollRound) {
    tracing::debug!(
        round = done.round,
        worker,
        sources = done.sources,
        reads = done.reads,
        changed = done.changed,
        triggered = done.triggered,
        errors = done.errors,
        elapsed_ms = done.elapsed.as_millis() as u64,
        "source poll round"
    );
}

/// What the fleet stores of a source's revision: HMAC-SHA256 under the ledger key, bound to
/// the source's key, so the table reveals nothing of the source's contents or of the
/// source's own revision.
fn digest(fingerprinter: &Fingerprinter, key: &SourceKey, revision: &Revision) -> String {
    fingerprinter
        .fingerprint(
            &format!("kms-sync source revision\u{0}{key}"),
            &SecretValue::new(revision.0.clone()),
        )
        .to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_stored_keyed_and_bound_to_their_source() -> Result<()> {
        let fp = Fingerprinter::new(vec![1; 32])?;
        let other = Fingerprinter::new(vec![2; 32])?;
        let a = SourceKey::new(Some("p"), "prod", "/");
        let b = SourceKey::new(Some("p"), "prod", "/api");
        let rev = Revision("abc".to_owned());
        let d = digest(&fp, &a, &rev);
        assert_eq!(d.len(), 64);
        assert!(!d.contains("abc"));
        assert_eq!(d, digest(&fp, &a, &rev));
        assert_ne!(d, digest(&fp, &b, &rev));
        assert_ne!(d, digest(&other, &a, &rev));
        Ok(())
    }

    #[test]
    fn a_round_lease_outlasts_the_interval() {
        assert_eq!(round_lease(Duration::from_secs(1)), Duration::from_secs(30));
        assert_eq!(
            round_lease(Duration::from_secs(60)),
            Duration::from_secs(120)
        );
    }
}
