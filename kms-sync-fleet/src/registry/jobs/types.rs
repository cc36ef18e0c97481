//! The public types of jobs: why a job was queued, what a trigger did, a claim, what a
//! finish recorded.

use std::fmt;
use std::time::{Duration, SystemTime};

use kms_sync_core::{Error, Operation, Result, StatusRecord};
use uuid::Uuid;

use crate::registry::ids::{JobId, SyncId};

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
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an unknown name.
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
    /// No such sync (only from [`Jobs::trigger_many`](crate::Jobs::trigger_many); [`Jobs::trigger`](crate::Jobs::trigger) fails instead).
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
/// [`expires_at`](Claim::expires_at), then [`finish`](crate::Jobs::finish) or
/// [`release`](crate::Jobs::release). Only the worker that holds it can: a claim taken over after
/// its lease expired fails all three with [`Conflict`](kms_sync_core::ErrorKind::Conflict).
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
    pub(super) sync_id: SyncId,
    pub(super) job_id: JobId,
    pub(super) operation: Operation,
    pub(super) cause: TriggerCause,
    pub(super) manual: bool,
    pub(super) worker: String,
    pub(super) attempt: u32,
    pub(super) taken_over: bool,
    pub(super) lease: Duration,
    pub(super) expires_at: SystemTime,
    pub(super) token: Uuid,
    pub(super) run_id: i64,
    /// Consecutive failures before this run (only the lease holder changes them).
    pub(super) failures: u32,
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

/// What [`Jobs::finish`](crate::Jobs::finish) recorded.
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
}
