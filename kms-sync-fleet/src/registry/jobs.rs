//! [`Jobs`]: triggers, claims, heartbeats, finishes and releases — the table shape and the
//! store operations the fleet's workers run on.
//!
//! A **trigger** is a row of `sync_triggers`, at most one per sync and operation: a second
//! trigger coalesces into it (same job id). A **claim** takes, under `FOR UPDATE SKIP
//! LOCKED` on the sync's `sync_state` row, the oldest eligible trigger of a sync that has
//! no live lease and whose backoff has passed, deletes it, and writes a lease (worker,
//! job, expiry, and a fresh fencing token) on that row; a trigger arriving meanwhile is a
//! new row and waits for the run to end. An expired lease is taken over by the next claim
//! (same job, next attempt, counted). Heartbeat, finish and release act only while the
//! claim's token is the row's.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::GenericClient;
use kms_sync_core::{
    DestinationFacts, Error, ErrorKind, Operation, Result, RunStatus, StatusRecord,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::ids::{JobId, SyncId};
use super::rows::{
    get, get_u32, operation_of, operation_text, status, status_columns, status_select, status_text,
};
use super::runs::{
    count_columns, entry, request_columns, RunEntry, RunOutcome, RunState, RUN_COLUMNS,
};
use super::{has_code, Shared};
use crate::error;

/// Why a job was queued. Recorded with the trigger and in the run history. Only
/// [`Manual`](TriggerCause::Manual) triggers run a sync whose auto-sync is off.
///
/// ```
/// use kms_sync_fleet::TriggerCause;
/// assert_eq!(TriggerCause::SourceChange.to_string(), "source-change");
/// assert_eq!("webhook".parse::<TriggerCause>()?, TriggerCause::Webhook);
/// assert!(TriggerCause::Manual.is_manual() && !TriggerCause::Schedule.is_manual());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TriggerCause {
    /// An operator or the API (`sync-secrets`, `remove-secrets`).
    Manual,
    /// A poll found the source changed.
    SourceChange,
    /// The KMS's webhook said the source changed.
    Webhook,
    /// A periodic resync.
    Schedule,
    /// The sync was created, enabled, or changed in what it writes (auto-sync on).
    DefinitionChanged,
}

impl TriggerCause {
    /// The cause's name in the tables.
    ///
    /// ```
    /// assert_eq!(kms_sync_fleet::TriggerCause::DefinitionChanged.as_str(), "definition-changed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerCause::Manual => "manual",
            TriggerCause::SourceChange => "source-change",
            TriggerCause::Webhook => "webhook",
            TriggerCause::Schedule => "schedule",
            TriggerCause::DefinitionChanged => "definition-changed",
        }
    }

    /// Whether it runs a sync whose auto-sync is off.
    ///
    /// ```
    /// assert!(kms_sync_fleet::TriggerCause::Manual.is_manual());
    /// ```
    pub fn is_manual(self) -> bool {
        self == TriggerCause::Manual
    }

    /// The cause named `text`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an unknown name.
    ///
    /// ```
    /// assert!(kms_sync_fleet::TriggerCause::parse("cron").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<TriggerCause> {
        Ok(match text {
            "manual" => TriggerCause::Manual,
            "source-change" => TriggerCause::SourceChange,
            "webhook" => TriggerCause::Webhook,
            "schedule" => TriggerCause::Schedule,
            "definition-changed" => TriggerCause::DefinitionChanged,
            _ => {
                return Err(Error::config(format!(
                    "`{}` is not a trigger cause (manual, source-change, webhook, schedule, \
                     definition-changed)",
                    text.chars().take(40).collect::<String>().escape_debug()
                )))
            }
        })
    }
}

impl fmt::Display for TriggerCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TriggerCause {
    type Err = Error;
    fn from_str(text: &str) -> Result<TriggerCause> {
        TriggerCause::parse(text)
    }
}

/// Why a trigger queued nothing.
///
/// ```
/// let reason = kms_sync_fleet::SkipReason::AutoSyncOff;
/// assert_eq!(reason.to_string(), "auto-sync is off: only manual triggers run it");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// No such sync (only from [`Jobs::trigger_many`]; [`Jobs::trigger`] fails instead).
    NotFound,
    /// The sync is disabled: it never runs.
    Disabled,
    /// The cause is not manual and the sync's auto-sync is off.
    AutoSyncOff,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::NotFound => "no such sync",
            SkipReason::Disabled => "the sync is disabled",
            SkipReason::AutoSyncOff => "auto-sync is off: only manual triggers run it",
        })
    }
}

/// What a trigger did.
///
/// ```
/// use kms_sync_fleet::{SkipReason, Triggered};
/// let skipped = Triggered::Skipped(SkipReason::Disabled);
/// assert_eq!(skipped.job_id(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Triggered {
    /// A new pending job.
    Queued(JobId),
    /// A job of this sync and operation was already pending; the trigger joined it.
    Coalesced(JobId),
    /// Nothing was queued.
    Skipped(SkipReason),
}

impl Triggered {
    /// The pending job's id, unless skipped.
    ///
    /// ```
    /// # fn f(t: kms_sync_fleet::Triggered) {
    /// if let Some(job) = t.job_id() { println!("lastSyncJobId = {job}"); }
    /// # }
    /// ```
    pub fn job_id(&self) -> Option<JobId> {
        match self {
            Triggered::Queued(job) | Triggered::Coalesced(job) => Some(*job),
            Triggered::Skipped(_) => None,
        }
    }
}

/// A sync claimed by a worker: run `operation` for job `job_id`, heartbeat before
/// [`expires_at`](Claim::expires_at), then [`finish`](Jobs::finish) or
/// [`release`](Jobs::release). Only the worker that holds it can: a claim taken over after
/// its lease expired fails all three with [`Conflict`](ErrorKind::Conflict).
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// for claim in registry.jobs().claim("worker-1", std::time::Duration::from_secs(30), 4).await? {
///     println!("{} {} of {} (attempt {}, taken over: {})", claim.job_id(), claim.operation(),
///         claim.sync_id(), claim.attempt(), claim.taken_over());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    sync_id: SyncId,
    job_id: JobId,
    operation: Operation,
    cause: TriggerCause,
    manual: bool,
    worker: String,
    attempt: u32,
    taken_over: bool,
    lease: Duration,
    expires_at: SystemTime,
    token: Uuid,
    run_id: i64,
}

impl Claim {
    /// The sync.
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { println!("{}", c.sync_id()); }
    /// ```
    pub fn sync_id(&self) -> SyncId {
        self.sync_id
    }
    /// The job (`lastSyncJobId` / `lastRemoveJobId`).
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { println!("{}", c.job_id()); }
    /// ```
    pub fn job_id(&self) -> JobId {
        self.job_id
    }
    /// Sync or remove.
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { assert_ne!(c.operation(), kms_sync_core::Operation::Import); }
    /// ```
    pub fn operation(&self) -> Operation {
        self.operation
    }
    /// Why the job was queued (the first cause; `manual` if a manual trigger joined an
    /// automatic one).
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { println!("{}", c.cause()); }
    /// ```
    pub fn cause(&self) -> TriggerCause {
        self.cause
    }
    /// Whether a manual trigger is among those that queued it.
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { println!("{}", c.is_manual()); }
    /// ```
    pub fn is_manual(&self) -> bool {
        self.manual
    }
    /// The worker holding it.
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { println!("{}", c.worker()); }
    /// ```
    pub fn worker(&self) -> &str {
        &self.worker
    }
    /// 1 for the job's first run; more for a retry after a failure or a takeover.
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { assert!(c.attempt() >= 1); }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    /// Whether it was taken over from a worker whose lease expired.
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { if c.taken_over() { println!("lease takeover"); } }
    /// ```
    pub fn taken_over(&self) -> bool {
        self.taken_over
    }
    /// The lease's length (each heartbeat extends it by this from the server's now).
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { let every = c.lease() / 3; }
    /// ```
    pub fn lease(&self) -> Duration {
        self.lease
    }
    /// When the lease expires unless renewed (the server's clock).
    ///
    /// ```no_run
    /// # fn f(c: kms_sync_fleet::Claim) { println!("{:?}", c.expires_at()); }
    /// ```
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// What [`Jobs::finish`] recorded.
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry, claim: kms_sync_fleet::Claim) -> kms_sync_core::Result<()> {
/// let done = registry.jobs().finish(&claim, kms_sync_fleet::RunOutcome::failed("503")).await?;
/// println!("{:?} backoff until {:?}, retry queued: {}", done.status.sync_status, done.backoff_until, done.retry_queued);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finished {
    /// The sync's status now.
    pub status: StatusRecord,
    /// After a failure: no trigger of this sync is claimed before this time.
    pub backoff_until: Option<SystemTime>,
    /// Whether the failed job was queued again (it runs after the backoff).
    pub retry_queued: bool,
    /// Whether a trigger of this sync is pending (one that arrived during the run, or the
    /// retry).
    pub pending: bool,
}

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

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jobs")
            .field("schema", &self.shared.pool.schema())
            .field("channel", &self.shared.channel)
            .finish()
    }
}

/// The longest worker id.
const MAX_WORKER: usize = 200;
/// The most syncs one claim takes.
const MAX_CLAIM: usize = 1000;
/// The longest lease.
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// The shortest lease.
const MIN_LEASE: Duration = Duration::from_millis(100);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

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

/// Triggers `ids` for `operation` on `client` (a transaction or a connection).
pub(crate) async fn trigger_in<C: GenericClient>(
    shared: &Shared,
    client: &C,
    ids: &[SyncId],
    operation: Operation,
    cause: TriggerCause,
) -> Result<Vec<(SyncId, Triggered)>> {
    if operation == Operation::Import {
        let kinds = destinations_of(shared, client, ids).await?;
        let facts: Vec<DestinationFacts> = kinds
            .iter()
            .filter_map(|k| shared.destinations.factory(k).ok().map(|f| f.facts()))
            .collect();
        return Err(import_refusal(&facts));
    }
    let mut seen = HashSet::new();
    let unique: Vec<Uuid> = ids
        .iter()
        .map(|i| i.0)
        .filter(|i| seen.insert(*i))
        .collect();
    let jobs: Vec<Uuid> = unique.iter().map(|_| Uuid::new_v4()).collect();
    let sql = shared.sql(TRIGGER);
    let doing = format!("triggering {} of {} sync(s)", operation, unique.len());
    let rows = client
        .query(
            &sql,
            &[
                &unique,
                &jobs,
                &operation_text(operation),
                &cause.is_manual(),
                &cause.as_str(),
                &shared.channel,
            ],
        )
        .await
        .map_err(|e| match has_code(&e, &SqlState::FOREIGN_KEY_VIOLATION) {
            true => Error::new(
                ErrorKind::NotFound,
                "a sync was deleted while it was triggered",
            ),
            false => error::db(&doing, e),
        })?;
    rows.iter()
        .map(|row| {
            let what = "a trigger";
            let id = SyncId(get(row, "id", what)?);
            let found: bool = get(row, "found", what)?;
            let enabled: bool = get(row, "enabled", what)?;
            let job: Option<Uuid> = get(row, "job_id", what)?;
            let fresh: Option<bool> = get(row, "fresh", what)?;
            let triggered = match (found, enabled, job, fresh) {
                (false, _, _, _) => Triggered::Skipped(SkipReason::NotFound),
                (true, false, _, _) => Triggered::Skipped(SkipReason::Disabled),
                (true, true, None, _) => Triggered::Skipped(SkipReason::AutoSyncOff),
                (true, true, Some(job), Some(true)) => Triggered::Queued(JobId(job)),
                (true, true, Some(job), _) => Triggered::Coalesced(JobId(job)),
            };
            Ok((id, triggered))
        })
        .collect()
}

/// The destination kinds of syncs `ids`, each once.
async fn destinations_of<C: GenericClient>(
    shared: &Shared,
    client: &C,
    ids: &[SyncId],
) -> Result<Vec<String>> {
    let ids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    let sql = shared.sql(
        "SELECT DISTINCT destination FROM {s}.syncs WHERE id = ANY($1::uuid[]) ORDER BY destination",
    );
    let rows = client
        .query(&sql, &[&ids])
        .await
        .map_err(|e| error::db("reading the destinations of syncs", e))?;
    rows.iter()
        .map(|r| get(r, "destination", "a sync's destination"))
        .collect()
}

/// Why the fleet refuses to import for syncs of destinations with `facts`: those that
/// cannot import say so by their display names; the fleet runs syncs and removals only,
/// so even a destination that can import is refused, saying that.
pub(crate) fn import_refusal(facts: &[DestinationFacts]) -> Error {
    let names = |can: bool| -> Vec<&str> {
        facts
            .iter()
            .filter(|f| f.can_import_secrets() == can)
            .map(|f| f.display_name())
            .collect()
    };
    let (cannot, can) = (names(false), names(true));
    let mut why = Vec::new();
    if !cannot.is_empty() {
        why.push(format!(
            "{} syncs do not support importing secrets",
            cannot.join(", ")
        ));
    }
    if !can.is_empty() {
        why.push(format!(
            "{} syncs can import, but the fleet runs only syncs and removals: import from \
             the command line or the library",
            can.join(", ")
        ));
    }
    if why.is_empty() {
        why.push("no such sync".to_owned());
    }
    Error::new(
        ErrorKind::Unsupported,
        format!("import is not run by the fleet: {}", why.join("; ")),
    )
}

/// One statement: insert or coalesce the triggers of the eligible syncs, mark their status
/// pending with the job id, and notify the channel. `$1` sync ids, `$2` proposed job ids,
/// `$3` operation, `$4` manual, `$5` cause, `$6` channel.
const TRIGGER: &str = "
WITH req AS (
    SELECT r.id, r.job, r.ord FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS r(id, job, ord)
), eligible AS (
    SELECT req.id, req.job FROM req JOIN {s}.syncs s ON s.id = req.id
    WHERE s.is_enabled AND ($4::boolean OR s.is_auto_sync_enabled)
), locked AS (
    -- The sync's state row first, in id order, as claims, finishes and releases do:
    -- a trigger row is only ever locked by a holder of its sync's state row.
    SELECT x.sync_id FROM {s}.sync_state x WHERE x.sync_id IN (SELECT id FROM eligible)
    ORDER BY x.sync_id FOR UPDATE
), ins AS (
    INSERT INTO {s}.sync_triggers AS t (sync_id, operation, job_id, cause, manual)
    SELECT e.id, $3::text, e.job, $5::text, $4::boolean
    FROM eligible e JOIN locked l ON l.sync_id = e.id
    ON CONFLICT (sync_id, operation) DO UPDATE SET
        coalesced = t.coalesced + 1,
        manual = t.manual OR EXCLUDED.manual,
        cause = CASE WHEN EXCLUDED.manual AND NOT t.manual THEN EXCLUDED.cause ELSE t.cause END
    RETURNING t.sync_id, t.job_id
), st AS (
    UPDATE {s}.sync_state x SET
        sync_status = CASE WHEN $3::text = 'sync' THEN 'pending' ELSE x.sync_status END,
        last_sync_job_id = CASE WHEN $3::text = 'sync' THEN ins.job_id::text ELSE x.last_sync_job_id END,
        remove_status = CASE WHEN $3::text = 'remove' THEN 'pending' ELSE x.remove_status END,
        last_remove_job_id = CASE WHEN $3::text = 'remove' THEN ins.job_id::text ELSE x.last_remove_job_id END,
        not_before = CASE WHEN $4::boolean THEN least(x.not_before, now()) ELSE x.not_before END
    FROM ins WHERE x.sync_id = ins.sync_id
    RETURNING x.sync_id
), note AS (
    SELECT pg_notify($6::text, 'trigger') FROM (SELECT 1 FROM ins LIMIT 1) one
)
SELECT req.id, s.id IS NOT NULL AS found, coalesce(s.is_enabled, false) AS enabled,
       ins.job_id, ins.job_id = req.job AS fresh,
       (SELECT count(*) FROM note) AS notified, (SELECT count(*) FROM st) AS updated
FROM req LEFT JOIN {s}.syncs s ON s.id = req.id LEFT JOIN ins ON ins.sync_id = req.id
ORDER BY req.ord";

/// Syncs due for a claim, locked, skipping those another worker is claiming: enabled, and
/// either without a lease, past their backoff and with an eligible trigger, or with an
/// expired lease. `$1` limit.
const DUE: &str = "
SELECT st.sync_id, st.lease_token IS NOT NULL AS takeover, st.lease_job_id, st.lease_operation,
       st.lease_cause, st.lease_manual, st.lease_attempt, st.lease_run_id, st.lease_worker
FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id
WHERE s.is_enabled AND (
    (st.lease_token IS NULL AND st.not_before <= now() AND EXISTS (
        SELECT 1 FROM {s}.sync_triggers t
        WHERE t.sync_id = st.sync_id AND (t.manual OR s.is_auto_sync_enabled)))
    OR (st.lease_token IS NOT NULL AND st.lease_expires_at <= now()))
ORDER BY coalesce(st.lease_expires_at,
    (SELECT min(t.requested_at) FROM {s}.sync_triggers t WHERE t.sync_id = st.sync_id))
LIMIT $1
FOR UPDATE OF st SKIP LOCKED";

/// Takes the oldest eligible trigger of each of `$1` (syncs locked by DUE).
const PICK: &str = "
DELETE FROM {s}.sync_triggers t USING (
    SELECT DISTINCT ON (t2.sync_id) t2.sync_id, t2.operation
    FROM {s}.sync_triggers t2 JOIN {s}.syncs s ON s.id = t2.sync_id
    WHERE t2.sync_id = ANY($1::uuid[]) AND (t2.manual OR s.is_auto_sync_enabled)
    ORDER BY t2.sync_id, t2.requested_at, t2.operation
) pick
WHERE t.sync_id = pick.sync_id AND t.operation = pick.operation
RETURNING t.sync_id, t.operation, t.job_id, t.cause, t.manual, t.attempt";

/// Marks the runs of expired leases. `$1` run ids.
const LOST_RUNS: &str = "
UPDATE {s}.sync_runs SET outcome = 'lease-expired', finished_at = now(),
    message = 'the lease of worker `' || worker || '` expired; another worker took the job over'
WHERE id = ANY($1::bigint[]) AND outcome = 'running'";

/// A running row per claim. `$1` sync ids, `$2` jobs, `$3` operations, `$4` causes,
/// `$5` attempts, `$6` worker.
const START_RUNS: &str = "
INSERT INTO {s}.sync_runs (sync_id, job_id, operation, cause, attempt, worker, outcome)
SELECT r.sync_id, r.job_id, r.operation, r.cause, r.attempt, $6::text, 'running'
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[])
    AS r(sync_id, job_id, operation, cause, attempt)
RETURNING id, sync_id";

/// The leases. `$1` sync ids, `$2` tokens, `$3` jobs, `$4` operations, `$5` causes,
/// `$6` manual, `$7` attempts, `$8` run ids, `$9` takeovers, `$10` worker, `$11` lease ms.
const LEASE: &str = "
UPDATE {s}.sync_state st SET
    lease_token = r.token, lease_worker = $10::text, lease_job_id = r.job_id,
    lease_operation = r.operation, lease_cause = r.cause, lease_manual = r.manual,
    lease_attempt = r.attempt, lease_run_id = r.run_id, lease_millis = $11::bigint,
    lease_expires_at = now() + $11::bigint * interval '1 millisecond',
    takeovers = st.takeovers + CASE WHEN r.takeover THEN 1 ELSE 0 END,
    sync_status = CASE WHEN r.operation = 'sync' THEN 'running' ELSE st.sync_status END,
    last_sync_job_id = CASE WHEN r.operation = 'sync' THEN r.job_id::text ELSE st.last_sync_job_id END,
    remove_status = CASE WHEN r.operation = 'remove' THEN 'running' ELSE st.remove_status END,
    last_remove_job_id = CASE WHEN r.operation = 'remove' THEN r.job_id::text ELSE st.last_remove_job_id END
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bool[],
            $7::int4[], $8::int8[], $9::bool[])
    AS r(sync_id, token, job_id, operation, cause, manual, attempt, run_id, takeover)
WHERE st.sync_id = r.sync_id
RETURNING st.sync_id, st.lease_expires_at";

/// Keeps the newest `$2` runs of each of `$1`.
const TRIM: &str = "
DELETE FROM {s}.sync_runs r USING (
    SELECT id, row_number() OVER (PARTITION BY sync_id ORDER BY id DESC) AS n
    FROM {s}.sync_runs WHERE sync_id = ANY($1::uuid[])
) x
WHERE r.id = x.id AND x.n > $2::bigint";

/// The columns that clear a lease.
const CLEAR_LEASE: &str = "lease_token = NULL, lease_worker = NULL, lease_job_id = NULL, \
     lease_operation = NULL, lease_cause = NULL, lease_manual = NULL, lease_attempt = NULL, \
     lease_run_id = NULL, lease_millis = NULL, lease_expires_at = NULL";

/// One claim being put together.
struct Taking {
    sync_id: Uuid,
    job_id: Uuid,
    operation: String,
    cause: String,
    manual: bool,
    attempt: i32,
    takeover: bool,
    token: Uuid,
}

impl Taking {
    /// The leased job of a due row whose lease expired (and the lost run), or `None` for
    /// a row without a lease.
    fn takeover(row: &Row) -> Result<Option<(Taking, Option<i64>)>> {
        let what = "a due sync";
        if !get::<bool>(row, "takeover", what)? {
            return Ok(None);
        }
        let attempt: Option<i32> = get(row, "lease_attempt", what)?;
        let taking = Taking {
            sync_id: get(row, "sync_id", what)?,
            job_id: get::<Option<Uuid>>(row, "lease_job_id", what)?
                .ok_or_else(|| Error::unexpected("a lease without a job"))?,
            operation: get::<Option<String>>(row, "lease_operation", what)?
                .unwrap_or_else(|| "sync".to_owned()),
            cause: get::<Option<String>>(row, "lease_cause", what)?
                .unwrap_or_else(|| TriggerCause::Manual.as_str().to_owned()),
            manual: get::<Option<bool>>(row, "lease_manual", what)?.unwrap_or(false),
            attempt: attempt.unwrap_or(1).saturating_add(1),
            takeover: true,
            token: Uuid::new_v4(),
        };
        Ok(Some((taking, get(row, "lease_run_id", what)?)))
    }

    /// The job of a trigger row just taken.
    fn fresh(row: &Row) -> Result<Taking> {
        let what = "a pending trigger";
        Ok(Taking {
            sync_id: get(row, "sync_id", what)?,
            job_id: get(row, "job_id", what)?,
            operation: get(row, "operation", what)?,
            cause: get(row, "cause", what)?,
            manual: get(row, "manual", what)?,
            attempt: get(row, "attempt", what)?,
            takeover: false,
            token: Uuid::new_v4(),
        })
    }

    fn into_claim(
        self,
        worker: &str,
        lease: Duration,
        expires_at: SystemTime,
        run_id: i64,
    ) -> Result<Claim> {
        Ok(Claim {
            sync_id: SyncId(self.sync_id),
            job_id: JobId(self.job_id),
            operation: operation_of(&self.operation, "a claim")?,
            cause: TriggerCause::parse(&self.cause)?,
            manual: self.manual,
            worker: worker.to_owned(),
            attempt: u32::try_from(self.attempt).unwrap_or(1),
            taken_over: self.takeover,
            lease,
            expires_at,
            token: self.token,
            run_id,
        })
    }
}

/// The lease of a claim, locked, as [`Jobs::finish`] reads it.
struct Held {
    failures: u32,
    auto: bool,
    pending_job: Option<Uuid>,
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
        check_claim(worker, lease, limit)?;
        let doing = format!("claiming syncs for worker `{worker}`");
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        let taking = self
            .take_due(&tx, limit)
            .await
            .map_err(|err| err.with_operation(doing.clone()))?;
        let claims = match taking.is_empty() {
            true => Vec::new(),
            false => self.lease(&tx, taking, worker, lease).await?,
        };
        tx.commit().await.map_err(e)?;
        for claim in claims.iter().filter(|c| c.taken_over) {
            tracing::info!(sync_id = %claim.sync_id, job_id = %claim.job_id, worker, attempt = claim.attempt, "took over a sync whose lease expired");
        }
        Ok(claims)
    }

    /// Locks up to `limit` due syncs and takes their jobs: the oldest eligible trigger of
    /// each sync without a lease (deleted), the leased job of each expired lease (its run
    /// marked `lease-expired`).
    async fn take_due<C: GenericClient>(&self, tx: &C, limit: usize) -> Result<Vec<Taking>> {
        let e = |err| error::db("finding due syncs", err);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let due = tx
            .query(&self.shared.sql(DUE), &[&limit])
            .await
            .map_err(e)?;
        let mut taking = Vec::new();
        let mut fresh = Vec::new();
        let mut lost_runs: Vec<i64> = Vec::new();
        for row in &due {
            match Taking::takeover(row)? {
                Some((takeover, lost_run)) => {
                    lost_runs.extend(lost_run);
                    taking.push(takeover);
                }
                None => fresh.push(get::<Uuid>(row, "sync_id", "a due sync")?),
            }
        }
        if !fresh.is_empty() {
            // A sync whose trigger was taken between our snapshot and our lock has none
            // now: it is simply not claimed.
            let picked = tx
                .query(&self.shared.sql(PICK), &[&fresh])
                .await
                .map_err(e)?;
            for row in &picked {
                taking.push(Taking::fresh(row)?);
            }
        }
        if !lost_runs.is_empty() {
            tx.execute(&self.shared.sql(LOST_RUNS), &[&lost_runs])
                .await
                .map_err(e)?;
        }
        Ok(taking)
    }

    /// Starts a run per job taken, writes the leases, trims the history.
    async fn lease<C: GenericClient>(
        &self,
        tx: &C,
        taking: Vec<Taking>,
        worker: &str,
        lease: Duration,
    ) -> Result<Vec<Claim>> {
        let e = |err| error::db("writing the leases", err);
        let ids: Vec<Uuid> = taking.iter().map(|t| t.sync_id).collect();
        let jobs: Vec<Uuid> = taking.iter().map(|t| t.job_id).collect();
        let ops: Vec<&str> = taking.iter().map(|t| t.operation.as_str()).collect();
        let causes: Vec<&str> = taking.iter().map(|t| t.cause.as_str()).collect();
        let attempts: Vec<i32> = taking.iter().map(|t| t.attempt).collect();
        let runs = tx
            .query(
                &self.shared.sql(START_RUNS),
                &[&ids, &jobs, &ops, &causes, &attempts, &worker],
            )
            .await
            .map_err(e)?;
        let mut run_of = HashMap::new();
        for row in &runs {
            run_of.insert(
                get::<Uuid>(row, "sync_id", "a run")?,
                get::<i64>(row, "id", "a run")?,
            );
        }
        let run_ids: Vec<i64> = ids
            .iter()
            .map(|i| run_of.get(i).copied().unwrap_or_default())
            .collect();
        let tokens: Vec<Uuid> = taking.iter().map(|t| t.token).collect();
        let manual: Vec<bool> = taking.iter().map(|t| t.manual).collect();
        let takeovers: Vec<bool> = taking.iter().map(|t| t.takeover).collect();
        let lease_ms = millis(lease);
        let params: [&(dyn ToSql + Sync); 11] = [
            &ids, &tokens, &jobs, &ops, &causes, &manual, &attempts, &run_ids, &takeovers, &worker,
            &lease_ms,
        ];
        let leased = tx
            .query(&self.shared.sql(LEASE), &params)
            .await
            .map_err(e)?;
        let mut expiry = HashMap::new();
        for row in &leased {
            let at: SystemTime = get(row, "lease_expires_at", "a lease")?;
            expiry.insert(get::<Uuid>(row, "sync_id", "a lease")?, at);
        }
        tx.execute(&self.shared.sql(TRIM), &[&ids, &self.shared.history])
            .await
            .map_err(e)?;
        taking
            .into_iter()
            .zip(run_ids)
            .map(|(t, run_id)| {
                let expires_at = expiry
                    .get(&t.sync_id)
                    .copied()
                    .unwrap_or_else(SystemTime::now);
                t.into_claim(worker, lease, expires_at, run_id)
            })
            .collect()
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
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(
            "UPDATE {s}.sync_state SET lease_expires_at = now() + lease_millis * interval '1 millisecond' \
             WHERE sync_id = $1 AND lease_token = $2 RETURNING lease_expires_at",
        );
        let row = client
            .query_opt(&sql, &[&claim.sync_id.0, &claim.token])
            .await
            .map_err(|e| error::db(&doing, e))?
            .ok_or_else(|| lost(claim))?;
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
        let doing = format!(
            "recording the end of job {} on sync {}",
            claim.job_id, claim.sync_id
        );
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        let held = self.hold(&tx, claim).await?;
        let succeeded = outcome.is_success();
        let failures = match succeeded {
            true => 0,
            false => held.failures.saturating_add(1),
        };
        let backoff = (!succeeded).then(|| self.shared.backoff(failures));
        let mut pending_job = held.pending_job;
        let mut retry_queued = false;
        if outcome.retries() && pending_job.is_none() && (claim.manual || held.auto) {
            match self.queue_retry(&tx, claim).await? {
                None => retry_queued = true,
                // A trigger arrived between our read and our insert.
                Some(job) => pending_job = Some(job),
            }
        }
        let mut message = outcome.bounded_message();
        if let (true, Some(wait)) = (retry_queued, backoff) {
            let note = format!("retrying in {} s", wait.as_secs().max(1));
            message = Some(message.map_or_else(|| note.clone(), |m| format!("{m} ({note})")));
        }
        let (status_value, job_value) = match (pending_job, succeeded) {
            (Some(job), _) => (RunStatus::Pending, job.to_string()),
            (None, true) => (RunStatus::Succeeded, claim.job_id.to_string()),
            (None, false) => (RunStatus::Failed, claim.job_id.to_string()),
        };
        let [s_col, j_col, m_col, at_col] = status_columns(claim.operation);
        let update = self.shared.sql(&format!(
            "UPDATE {{s}}.sync_state SET {CLEAR_LEASE}, failures = $2, \
             not_before = CASE WHEN $3::bigint IS NULL THEN 'epoch'::timestamptz \
                 ELSE now() + $3::bigint * interval '1 millisecond' END, \
             {s_col} = $4, {j_col} = $5, {m_col} = $6, \
             {at_col} = CASE WHEN $7 THEN now() ELSE {at_col} END \
             WHERE sync_id = $1 RETURNING {}, \
             CASE WHEN $3::bigint IS NULL THEN NULL ELSE not_before END AS backoff_until",
            status_select("sync_state")
        ));
        let failures = i32::try_from(failures).unwrap_or(i32::MAX);
        let backoff_ms: Option<i64> = backoff.map(millis);
        let params: [&(dyn ToSql + Sync); 7] = [
            &claim.sync_id.0,
            &failures,
            &backoff_ms,
            &status_text(status_value),
            &job_value,
            &message,
            &succeeded,
        ];
        let updated = tx.query_one(&update, &params).await.map_err(e)?;
        let state = if succeeded {
            RunState::Succeeded
        } else {
            RunState::Failed
        };
        self.record_run(&tx, claim.run_id, state, &outcome).await?;
        let pending = self.notify_if_pending(&tx, claim.sync_id, "finish").await?;
        let what = "a sync's state";
        let finished = Finished {
            status: status(&updated, what)?,
            backoff_until: get(&updated, "backoff_until", what)?,
            retry_queued,
            pending,
        };
        tx.commit().await.map_err(e)?;
        Ok(finished)
    }

    /// Locks the claim's state row and checks the lease is still the claim's.
    async fn hold<C: GenericClient>(&self, tx: &C, claim: &Claim) -> Result<Held> {
        let lock = self.shared.sql(
            "SELECT st.lease_token, st.failures, s.is_auto_sync_enabled, t.job_id AS pending_job \
             FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id \
             LEFT JOIN {s}.sync_triggers t ON t.sync_id = st.sync_id AND t.operation = $2 \
             WHERE st.sync_id = $1 FOR UPDATE OF st",
        );
        let op = operation_text(claim.operation);
        let row = tx
            .query_opt(&lock, &[&claim.sync_id.0, &op])
            .await
            .map_err(|e| error::db("locking a lease", e))?
            .ok_or_else(|| {
                let (sync, job) = (claim.sync_id, claim.job_id);
                Error::new(
                    ErrorKind::NotFound,
                    format!("sync {sync} was deleted during job {job}"),
                )
            })?;
        let what = "a sync's state";
        if get::<Option<Uuid>>(&row, "lease_token", what)? != Some(claim.token) {
            return Err(lost(claim));
        }
        Ok(Held {
            failures: get_u32(&row, "failures", what)?,
            auto: get(&row, "is_auto_sync_enabled", what)?,
            pending_job: get(&row, "pending_job", what)?,
        })
    }

    /// Queues the claim's job again (same id, next attempt); `Some(job)` when a trigger of
    /// that operation arrived first (the retry joins it).
    async fn queue_retry<C: GenericClient>(&self, tx: &C, claim: &Claim) -> Result<Option<Uuid>> {
        let e = |err| error::db("queueing a retry", err);
        let insert = self.shared.sql(
            "INSERT INTO {s}.sync_triggers (sync_id, operation, job_id, cause, manual, attempt) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sync_id, operation) DO NOTHING \
             RETURNING job_id",
        );
        let op = operation_text(claim.operation);
        let attempt = i32::try_from(claim.attempt.saturating_add(1)).unwrap_or(i32::MAX);
        let params: [&(dyn ToSql + Sync); 6] = [
            &claim.sync_id.0,
            &op,
            &claim.job_id.0,
            &claim.cause.as_str(),
            &claim.manual,
            &attempt,
        ];
        if tx.query_opt(&insert, &params).await.map_err(e)?.is_some() {
            return Ok(None);
        }
        let again = self
            .shared
            .sql("SELECT job_id FROM {s}.sync_triggers WHERE sync_id = $1 AND operation = $2");
        let row = tx
            .query_opt(&again, &[&claim.sync_id.0, &op])
            .await
            .map_err(e)?;
        row.map(|r| get(&r, "job_id", "a trigger")).transpose()
    }

    /// Notifies the channel when a trigger of `sync` is pending; says whether one is.
    async fn notify_if_pending<C: GenericClient>(
        &self,
        tx: &C,
        sync: SyncId,
        payload: &str,
    ) -> Result<bool> {
        let notify = self.shared.sql(
            "SELECT pg_notify($2::text, $3::text) AS n, 1 AS one WHERE EXISTS \
             (SELECT 1 FROM {s}.sync_triggers WHERE sync_id = $1)",
        );
        Ok(tx
            .query_opt(&notify, &[&sync.0, &self.shared.channel, &payload])
            .await
            .map_err(|e| error::db("notifying the workers", e))?
            .is_some())
    }

    async fn record_run<C: GenericClient>(
        &self,
        client: &C,
        run_id: i64,
        state: RunState,
        outcome: &RunOutcome,
    ) -> Result<()> {
        let c = count_columns(&outcome.counts);
        let r = request_columns(&outcome.requests);
        let sql = self.shared.sql(
            "UPDATE {s}.sync_runs SET finished_at = now(), outcome = $2, message = $3, \
             created = $4, updated = $5, deleted = $6, unchanged = $7, imported = $8, \
             failed = $9, unconfirmed = $10, not_attempted = $11, skipped = $12, \
             requests_get = $13, requests_post = $14, requests_put = $15, requests_patch = $16, \
             requests_delete = $17, requests_other = $18 WHERE id = $1",
        );
        client
            .execute(
                &sql,
                &[
                    &run_id,
                    &state.as_str(),
                    &outcome.bounded_message(),
                    &c[0],
                    &c[1],
                    &c[2],
                    &c[3],
                    &c[4],
                    &c[5],
                    &c[6],
                    &c[7],
                    &c[8],
                    &r[0],
                    &r[1],
                    &r[2],
                    &r[3],
                    &r[4],
                    &r[5],
                ],
            )
            .await
            .map_err(|e| error::db("recording a run", e))?;
        Ok(())
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
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        let lock = self
            .shared
            .sql("SELECT lease_token FROM {s}.sync_state WHERE sync_id = $1 FOR UPDATE");
        let row = tx
            .query_opt(&lock, &[&claim.sync_id.0])
            .await
            .map_err(e)?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("sync {} was deleted", claim.sync_id),
                )
            })?;
        if get::<Option<Uuid>>(&row, "lease_token", "a sync's state")? != Some(claim.token) {
            return Err(lost(claim));
        }
        let op = operation_text(claim.operation);
        let requeue = self.shared.sql(
            "INSERT INTO {s}.sync_triggers AS t (sync_id, operation, job_id, cause, manual, attempt) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sync_id, operation) DO UPDATE \
             SET manual = t.manual OR EXCLUDED.manual, coalesced = t.coalesced + 1 \
             RETURNING t.job_id",
        );
        let attempt = i32::try_from(claim.attempt).unwrap_or(i32::MAX);
        let row = tx
            .query_one(
                &requeue,
                &[
                    &claim.sync_id.0,
                    &op,
                    &claim.job_id.0,
                    &claim.cause.as_str(),
                    &claim.manual,
                    &attempt,
                ],
            )
            .await
            .map_err(e)?;
        let job: Uuid = get(&row, "job_id", "a trigger")?;
        let [s_col, j_col, _, _] = status_columns(claim.operation);
        let clear = self.shared.sql(&format!(
            "UPDATE {{s}}.sync_state SET {CLEAR_LEASE}, {s_col} = 'pending', {j_col} = $2 \
             WHERE sync_id = $1"
        ));
        tx.execute(&clear, &[&claim.sync_id.0, &job.to_string()])
            .await
            .map_err(e)?;
        let forget = self.shared.sql("DELETE FROM {s}.sync_runs WHERE id = $1");
        tx.execute(&forget, &[&claim.run_id]).await.map_err(e)?;
        self.notify_if_pending(&tx, claim.sync_id, "release")
            .await?;
        tx.commit().await.map_err(e)
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
        let client = self.shared.pool.get(doing).await?;
        let sql = self.shared.sql(
            "SELECT greatest(min(due), now()) AS due FROM ( \
                SELECT st.not_before AS due FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id \
                WHERE s.is_enabled AND st.lease_token IS NULL AND EXISTS ( \
                    SELECT 1 FROM {s}.sync_triggers t \
                    WHERE t.sync_id = st.sync_id AND (t.manual OR s.is_auto_sync_enabled)) \
                UNION ALL \
                SELECT st.lease_expires_at FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id \
                WHERE s.is_enabled AND st.lease_token IS NOT NULL \
             ) d HAVING count(*) > 0",
        );
        let row = client
            .query_opt(&sql, &[])
            .await
            .map_err(|e| error::db(doing, e))?;
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
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(&format!(
            "SELECT {RUN_COLUMNS} FROM {{s}}.sync_runs WHERE sync_id = $1 ORDER BY id DESC LIMIT $2"
        ));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&sql, &[&id.0, &limit])
            .await
            .map_err(|e| error::db(&doing, e))?;
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
        let client = self.shared.pool.get(&doing).await?;
        let sql = self
            .shared
            .sql("SELECT takeovers FROM {s}.sync_state WHERE sync_id = $1");
        let row = client
            .query_opt(&sql, &[&id.0])
            .await
            .map_err(|e| error::db(&doing, e))?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("sync {id} not found")))?;
        get_u32(&row, "takeovers", "a sync's state")
    }
}

fn check_claim(worker: &str, lease: Duration, limit: usize) -> Result<()> {
    if worker.trim().is_empty()
        || worker.chars().count() > MAX_WORKER
        || worker.chars().any(char::is_control)
    {
        return Err(Error::config(format!(
            "a worker id must be 1 to {MAX_WORKER} characters without control characters"
        )));
    }
    if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
        return Err(Error::config("a lease must be between 100 ms and 24 h"));
    }
    if limit == 0 || limit > MAX_CLAIM {
        return Err(Error::config(format!(
            "a claim takes 1 to {MAX_CLAIM} syncs"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_round_trip_by_name() -> Result<()> {
        for cause in [
            TriggerCause::Manual,
            TriggerCause::SourceChange,
            TriggerCause::Webhook,
            TriggerCause::Schedule,
            TriggerCause::DefinitionChanged,
        ] {
            assert_eq!(TriggerCause::parse(cause.as_str())?, cause);
        }
        Ok(())
    }

    #[test]
    fn an_import_is_refused_naming_what_each_destination_declares() {
        let no = DestinationFacts::new("a", "Service A");
        let yes = DestinationFacts::new("b", "Service B").can_import(true);
        let err = import_refusal(&[no, yes]);
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let text = err.to_string();
        assert!(
            text.contains("Service A syncs do not support importing"),
            "{text}"
        );
        assert!(text.contains("Service B syncs can import"), "{text}");
        let only_no = import_refusal(&[no]).to_string();
        assert!(!only_no.contains("can import"), "{only_no}");
        assert!(import_refusal(&[]).to_string().contains("no such sync"));
    }

    #[test]
    fn claims_are_checked() {
        let s = Duration::from_secs(1);
        assert!(check_claim("w", s, 1).is_ok());
        assert!(check_claim("", s, 1).is_err());
        assert!(check_claim("w\n", s, 1).is_err());
        assert!(check_claim("w", Duration::from_millis(10), 1).is_err());
        assert!(check_claim("w", s, 0).is_err());
        assert!(check_claim("w", s, MAX_CLAIM + 1).is_err());
    }
}
