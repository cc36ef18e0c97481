//! Source-change triggers: shared reads (one KMS read per distinct source per poll round,
//! one round at a time across the fleet), and the triggers an embedder fires itself when
//! the KMS's webhook says a folder changed.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kms_sync_core::{Error, Fingerprinter, Operation, Result, Revision, SecretValue};
use secrecy::{ExposeSecret, SecretBox};
use tracing::Instrument;
use uuid::Uuid;

use crate::error;
use crate::registry::{Source, SyncId, SyncRegistry, TriggerCause, Triggered};
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
        let pool = self.registry.pool();
        let s = pool.schema_name().quoted();
        let doing = "starting a source poll round";
        let client = pool.get(doing).await?;
        let lease = round_lease(interval);
        let take = format!(
            "WITH c AS ( \
                UPDATE {s}.source_polls SET round = round + 1, holder = $1, \
                    lease_until = now() + $2::bigint * interval '1 millisecond' \
                WHERE id AND next_at <= now() AND (lease_until IS NULL OR lease_until <= now()) \
                RETURNING round) \
             SELECT (SELECT round FROM c) AS round, \
                greatest(0, (extract(epoch FROM greatest(p.next_at, coalesce(p.lease_until, p.next_at)) \
                    - now()) * 1000))::bigint AS wait_ms \
             FROM {s}.source_polls p"
        );
        let row = client
            .query_opt(&take, &[&worker, &millis(lease)])
            .await
            .map_err(|e| error::db(doing, e))?
            .ok_or_else(|| Error::unexpected("the source_polls row is missing"))?;
        let round: Option<i64> = row.try_get("round").map_err(|e| error::db(doing, e))?;
        let Some(round) = round else {
            let wait: i64 = row.try_get("wait_ms").map_err(|e| error::db(doing, e))?;
            return Ok(PollAttempt::NotDue {
                next_in: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
            });
        };
        drop(client);
        let round = u64::try_from(round).unwrap_or(0);
        let span = tracing::info_span!("kms_sync_poll_round", round, worker);
        let result = self
            .round(worker, round, interval, started)
            .instrument(span)
            .await;
        if let Err(e) = &result {
            tracing::warn!(round, worker, error = %e, "a source poll round failed");
            // Let the next due worker try again after the interval, not after the lease.
            let _ = self.end_round(worker, interval).await;
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
            revisions: self.stored_revisions().await?,
            fingerprinter: Fingerprinter::new(self.key.expose_secret().to_vec())?,
        };
        let keyed = keyed_sources(sources);
        let reads = self.read_revisions(&keyed).await;
        let found = stored.compare(&keyed, reads, worker, round);
        let triggered = self.trigger_changed(&found.syncs).await?;
        self.finish_round(worker, interval, &keyed, &found.store, found.changed)
            .await?;
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

    /// The revisions the fleet stored, by source.
    async fn stored_revisions(&self) -> Result<HashMap<SourceKey, String>> {
        let pool = self.registry.pool();
        let s = pool.schema_name().quoted();
        let doing = "reading the stored source revisions";
        let client = pool.get(doing).await?;
        let rows = client
            .query(
                &format!(
                    "SELECT project_id, environment, secret_path, revision \
                     FROM {s}.source_revisions"
                ),
                &[],
            )
            .await
            .map_err(|e| error::db(doing, e))?;
        let mut stored = HashMap::new();
        for row in rows {
            let get = |c: &str| row.try_get::<_, String>(c).map_err(|e| error::db(doing, e));
            let project = get("project_id")?;
            let key = SourceKey::new(
                (!project.is_empty()).then_some(project.as_str()),
                get("environment")?,
                get("secret_path")?,
            );
            stored.insert(key, get("revision")?);
        }
        Ok(stored)
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

    /// Stores the changed revisions, forgets those of sources no auto-sync sync reads any
    /// more, and ends the round: the next is due after `interval`.
    async fn finish_round(
        &self,
        worker: &str,
        interval: Duration,
        keys: &[(SourceKey, Vec<SyncId>)],
        store: &[(&SourceKey, String)],
        changed: usize,
    ) -> Result<()> {
        let pool = self.registry.pool();
        let s = pool.schema_name().quoted();
        let doing = "ending a source poll round";
        let client = pool.get(doing).await?;
        let col = |f: fn(&SourceKey) -> String| -> Vec<String> {
            keys.iter().map(|(k, _)| f(k)).collect()
        };
        let (kp, ke, ks) = (
            col(|k| k.project_id.clone().unwrap_or_default()),
            col(|k| k.environment.clone()),
            col(|k| k.secret_path.clone()),
        );
        let sp: Vec<String> = store
            .iter()
            .map(|(k, _)| k.project_id.clone().unwrap_or_default())
            .collect();
        let se: Vec<String> = store.iter().map(|(k, _)| k.environment.clone()).collect();
        let ss: Vec<String> = store.iter().map(|(k, _)| k.secret_path.clone()).collect();
        let sr: Vec<String> = store.iter().map(|(_, r)| r.clone()).collect();
        let sql = format!(
            "WITH keys AS ( \
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(project_id, environment, secret_path) \
             ), gone AS ( \
                DELETE FROM {s}.source_revisions r WHERE NOT EXISTS (SELECT 1 FROM keys k \
                    WHERE k.project_id = r.project_id AND k.environment = r.environment \
                    AND k.secret_path = r.secret_path) RETURNING 1 \
             ), up AS ( \
                INSERT INTO {s}.source_revisions (project_id, environment, secret_path, revision) \
                SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) \
                ON CONFLICT (project_id, environment, secret_path) DO UPDATE SET \
                    revision = EXCLUDED.revision, changed_at = now(), checked_at = now() \
                RETURNING 1 \
             ), done AS ( \
                UPDATE {s}.source_polls SET holder = NULL, lease_until = NULL, \
                    next_at = now() + $8::bigint * interval '1 millisecond', \
                    last_sources = $9, last_reads = $9, last_changed = $10, last_finished = now() \
                WHERE id AND holder = $11 RETURNING 1 \
             ) SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM up) AS up, \
                (SELECT count(*) FROM done) AS done"
        );
        let n = i32::try_from(keys.len()).unwrap_or(i32::MAX);
        let c = i32::try_from(changed).unwrap_or(i32::MAX);
        client
            .query_one(
                &sql,
                &[
                    &kp,
                    &ke,
                    &ks,
                    &sp,
                    &se,
                    &ss,
                    &sr,
                    &millis(interval),
                    &n,
                    &c,
                    &worker,
                ],
            )
            .await
            .map_err(|e| error::db(doing, e))?;
        Ok(())
    }

    /// Ends a failed round so the next is due after `interval`.
    async fn end_round(&self, worker: &str, interval: Duration) -> Result<()> {
        let pool = self.registry.pool();
        let s = pool.schema_name().quoted();
        let doing = "ending a failed source poll round";
        let client = pool.get(doing).await?;
        client
            .execute(
                &format!(
                    "UPDATE {s}.source_polls SET holder = NULL, lease_until = NULL, \
                     next_at = now() + $1::bigint * interval '1 millisecond' \
                     WHERE id AND holder = $2"
                ),
                &[&millis(interval), &worker],
            )
            .await
            .map_err(|e| error::db(doing, e))?;
        Ok(())
    }
}

/// A round's lease: long enough for a slow round, so a second never starts beside it; a
/// round whose worker died is taken over after it.
fn round_lease(interval: Duration) -> Duration {
    (interval * 2).max(Duration::from_secs(30))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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

/// Triggers the syncs that read `source` (enabled ones; those with auto-sync off only for a
/// [`Manual`](TriggerCause::Manual) cause), in one statement after finding them: what an
/// embedder calls when the KMS's webhook, verified with `kms_sync_hanzo::verify_webhook`,
/// says a folder changed. A trailing `/` does not matter. Returns each sync's result.
///
/// # Errors
///
/// A database failure.
///
/// ```no_run
/// use kms_sync_fleet::{trigger_source, SourceKey, TriggerCause};
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// let key = SourceKey::new(Some("3c90c3cc-0d44-4b50-8888-8dd25736052a"), "prod", "/");
/// let triggered = trigger_source(&registry, &key, TriggerCause::Webhook).await?;
/// println!("{} syncs queued", triggered.iter().filter(|(_, t)| t.job_id().is_some()).count());
/// # Ok(()) }
/// ```
pub async fn trigger_source(
    registry: &SyncRegistry,
    source: &SourceKey,
    cause: TriggerCause,
) -> Result<Vec<(SyncId, Triggered)>> {
    let pool = registry.pool();
    let s = pool.schema_name().quoted();
    let doing = format!("finding the syncs of source {source}");
    let rows = {
        let client = pool.get(&doing).await?;
        client
            .query(
                &format!(
                    "SELECT id FROM {s}.syncs WHERE coalesce(project_id, '') = coalesce($1::text, '') \
                     AND environment = $2 AND rtrim(secret_path, '/') = rtrim($3::text, '/') \
                     AND is_enabled ORDER BY id"
                ),
                &[
                    &source.project_id,
                    &source.environment,
                    &source.secret_path,
                ],
            )
            .await
            .map_err(|e| error::db(&doing, e))?
    };
    let ids = rows
        .iter()
        .map(|r| r.try_get::<_, Uuid>("id").map(SyncId))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| error::db(&doing, e))?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    registry
        .jobs()
        .trigger_many(&ids, Operation::Sync, cause)
        .await
}

/// Makes the next poll round due now, and wakes the workers' pollers (a notification on the
/// registry's channel): for a change the webhook cannot pin to a source (an import of the
/// folder that changed), or an operator's "check now".
///
/// # Errors
///
/// A database failure.
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// kms_sync_fleet::request_poll_round(&registry).await?;
/// # Ok(()) }
/// ```
pub async fn request_poll_round(registry: &SyncRegistry) -> Result<()> {
    let pool = registry.pool();
    let s = pool.schema_name().quoted();
    let doing = "requesting a source poll round";
    let client = pool.get(doing).await?;
    client
        .query(
            &format!(
                "WITH u AS (UPDATE {s}.source_polls SET next_at = now() WHERE id RETURNING 1) \
                 SELECT pg_notify($1::text, 'poll') FROM u"
            ),
            &[&registry.notify_channel()],
        )
        .await
        .map_err(|e| error::db(doing, e))?;
    Ok(())
}

/// What [`trigger_webhook`] did.
///
/// ```
/// let done = kms_sync_fleet::WebhookTriggered::default();
/// assert!(done.triggered.is_empty() && !done.poll_requested);
/// ```
#[cfg(feature = "hanzo")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookTriggered {
    /// The syncs of the event's folder and what each trigger did.
    pub triggered: Vec<(SyncId, Triggered)>,
    /// Whether a poll round was requested too (for syncs importing the folder).
    pub poll_requested: bool,
}

/// Acts on a KMS webhook verified with
/// [`verify_webhook`](kms_sync_hanzo::verify_webhook) (feature `hanzo`): a
/// `secrets.modified` event triggers the syncs of its project, environment and folder
/// (cause [`Webhook`](TriggerCause::Webhook)) and makes the next poll round due now, which
/// finds the syncs that import that folder. Other events (`test`, rotation failures) do
/// nothing.
///
/// # Errors
///
/// A database failure.
///
/// ```no_run
/// use std::time::Duration;
/// # async fn on_webhook(registry: kms_sync_fleet::SyncRegistry, key: secrecy::SecretString, header: &str, body: &[u8]) -> kms_sync_core::Result<()> {
/// let event = kms_sync_hanzo::verify_webhook(&key, header, body, Duration::from_secs(300))?;
/// let done = kms_sync_fleet::trigger_webhook(&registry, &event).await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "hanzo")]
pub async fn trigger_webhook(
    registry: &SyncRegistry,
    event: &kms_sync_hanzo::WebhookEvent,
) -> Result<WebhookTriggered> {
    if event.event != "secrets.modified" {
        return Ok(WebhookTriggered::default());
    }
    let mut done = WebhookTriggered::default();
    if let Some(project) = &event.project {
        if let (Some(env), Some(path)) = (&project.environment, &project.secret_path) {
            let key = SourceKey::new(project.workspace_id.as_deref(), env.as_str(), path.as_str());
            done.triggered = trigger_source(registry, &key, TriggerCause::Webhook).await?;
        }
    }
    request_poll_round(registry).await?;
    done.poll_requested = true;
    Ok(done)
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
