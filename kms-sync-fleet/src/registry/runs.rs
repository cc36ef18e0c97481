//! What a run ended with ([`RunOutcome`], given by the worker) and what the history keeps
//! of it ([`RunEntry`]).

use std::fmt;
use std::time::SystemTime;

use kms_sync_core::{
    Counts, Error, ErrorKind, KeyStatus, Operation, RequestStats, Result, SyncReport,
};
use tokio_postgres::Row;

use super::ids::JobId;
use super::jobs::TriggerCause;
use super::rows::{bounded, get, get_count, get_u32, get_u64, operation_of};

/// How a worker's run ended, as it hands it to [`Jobs::finish`](crate::Jobs::finish):
/// succeeded or failed, a message (keys and error kinds, never a value — kms-sync's errors
/// and reports never carry one), the counts and requests of the run, and whether a failure
/// is worth retrying (then the job is queued again, after the sync's backoff).
///
/// ```
/// use kms_sync_core::{Error, ErrorKind};
/// use kms_sync_fleet::RunOutcome;
/// let failed = RunOutcome::from_error(&Error::new(ErrorKind::Unavailable, "Checkly answered 503"));
/// assert!(!failed.is_success() && failed.retries());
/// let refused = RunOutcome::from_error(&Error::new(ErrorKind::Unauthenticated, "401"));
/// assert!(!refused.retries());
/// assert!(RunOutcome::succeeded().is_success());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub(crate) succeeded: bool,
    pub(crate) message: Option<String>,
    pub(crate) counts: Counts,
    pub(crate) requests: RequestStats,
    pub(crate) retry: bool,
}

impl RunOutcome {
    /// A run that applied everything.
    ///
    /// ```
    /// let ok = kms_sync_fleet::RunOutcome::succeeded();
    /// ```
    pub fn succeeded() -> RunOutcome {
        RunOutcome {
            succeeded: true,
            message: None,
            counts: Counts::default(),
            requests: RequestStats::default(),
            retry: false,
        }
    }

    /// A run that failed, saying why (never a value). Not retried unless
    /// [`with_retry`](Self::with_retry) says so.
    ///
    /// ```
    /// let failed = kms_sync_fleet::RunOutcome::failed("the source could not be read");
    /// ```
    pub fn failed(message: impl Into<String>) -> RunOutcome {
        RunOutcome {
            succeeded: false,
            message: Some(message.into()),
            ..RunOutcome::succeeded()
        }
    }

    /// The outcome of a run that returned an error before or instead of a report: its
    /// message, retried when its kind is retryable (unavailable, timed out, rate limited)
    /// or unconfirmed.
    ///
    /// ```
    /// let e = kms_sync_core::Error::new(kms_sync_core::ErrorKind::Timeout, "deadline passed");
    /// assert!(kms_sync_fleet::RunOutcome::from_error(&e).retries());
    /// ```
    pub fn from_error(error: &Error) -> RunOutcome {
        RunOutcome::failed(error.to_string()).with_retry(retryable(error.kind()))
    }

    /// The outcome of a report (sync or remove): succeeded when nothing failed; otherwise
    /// the report's status message (the failed keys and why, never values), retried when
    /// a change was unconfirmed or not attempted, or failed with a retryable kind.
    ///
    /// ```no_run
    /// # async fn run(syncer: kms_sync_core::Syncer) -> kms_sync_core::Result<()> {
    /// let outcome = kms_sync_fleet::RunOutcome::from_report(&syncer.sync().await?);
    /// # Ok(()) }
    /// ```
    pub fn from_report(report: &SyncReport) -> RunOutcome {
        let status = &report.status;
        let message = match report.operation {
            Operation::Sync => status.last_sync_message.clone(),
            Operation::Remove => status.last_remove_message.clone(),
            Operation::Import => status.last_import_message.clone(),
        };
        let succeeded = report.is_success();
        let c = report.counts;
        let retry = !succeeded
            && (c.unconfirmed > 0
                || c.not_attempted > 0
                || report.keys.iter().any(|k| {
                    matches!(k.status, KeyStatus::Failed)
                        && k.error.as_ref().is_some_and(|e| retryable(e.kind()))
                }));
        let message = match (succeeded, message) {
            (false, None) => Some(format!(
                "{} of {} keys failed",
                c.failed + c.not_attempted,
                report.keys.len()
            )),
            (_, message) => message,
        };
        RunOutcome {
            succeeded,
            message,
            counts: c,
            requests: report.requests,
            retry,
        }
    }

    /// The counts per key status.
    ///
    /// ```
    /// let mut counts = kms_sync_core::Counts::default();
    /// counts.created = 3;
    /// let ok = kms_sync_fleet::RunOutcome::succeeded().with_counts(counts);
    /// ```
    pub fn with_counts(mut self, counts: Counts) -> RunOutcome {
        self.counts = counts;
        self
    }

    /// The requests the run made.
    ///
    /// ```
    /// let ok = kms_sync_fleet::RunOutcome::succeeded().with_requests(kms_sync_core::RequestStats::default());
    /// ```
    pub fn with_requests(mut self, requests: RequestStats) -> RunOutcome {
        self.requests = requests;
        self
    }

    /// Whether a failure is queued again after the backoff (ignored for a success).
    ///
    /// ```
    /// let failed = kms_sync_fleet::RunOutcome::failed("flaky").with_retry(true);
    /// assert!(failed.retries());
    /// ```
    pub fn with_retry(mut self, retry: bool) -> RunOutcome {
        self.retry = retry;
        self
    }

    /// Whether the run succeeded.
    ///
    /// ```
    /// assert!(kms_sync_fleet::RunOutcome::succeeded().is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.succeeded
    }

    /// Whether a failure will be retried.
    ///
    /// ```
    /// assert!(!kms_sync_fleet::RunOutcome::succeeded().retries());
    /// ```
    pub fn retries(&self) -> bool {
        !self.succeeded && self.retry
    }

    /// The message, cut to 4,000 characters.
    ///
    /// ```
    /// assert_eq!(kms_sync_fleet::RunOutcome::failed("x").message(), Some("x"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    pub(crate) fn bounded_message(&self) -> Option<String> {
        self.message.as_deref().map(bounded)
    }
}

/// A run stopped before it wrote (`NotAttempted`: a worker shutting down) is retried too.
fn retryable(kind: ErrorKind) -> bool {
    kind.is_retryable() || matches!(kind, ErrorKind::Unconfirmed | ErrorKind::NotAttempted)
}

/// Where a run in the history stands.
///
/// ```
/// assert_eq!(kms_sync_fleet::RunState::LeaseExpired.to_string(), "lease-expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunState {
    /// A worker holds its lease.
    Running,
    /// It finished and every change was applied.
    Succeeded,
    /// It finished with an error or failed keys.
    Failed,
    /// Its worker's lease expired and another worker took the job over.
    LeaseExpired,
}

impl RunState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::LeaseExpired => "lease-expired",
        }
    }

    fn parse(text: &str) -> Result<RunState> {
        Ok(match text {
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "lease-expired" => RunState::LeaseExpired,
            _ => return Err(Error::unexpected("a run has an unknown outcome")),
        })
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run in a sync's history (the newest runs are kept: 50 unless configured).
///
/// ```no_run
/// # async fn show(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
/// for run in registry.jobs().runs(id, 10).await? {
///     println!("{} {} {} by {} (attempt {}): {} created, {:?}", run.job_id, run.operation,
///         run.cause, run.worker, run.attempt, run.counts.created, run.state);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunEntry {
    /// The job it ran.
    pub job_id: JobId,
    /// Sync or remove.
    pub operation: Operation,
    /// Why the job was queued.
    pub cause: TriggerCause,
    /// The worker that ran it.
    pub worker: String,
    /// 1 for the job's first run; more for a retry or a takeover.
    pub attempt: u32,
    /// When it was claimed.
    pub started_at: SystemTime,
    /// When it finished (or its lease was found expired).
    pub finished_at: Option<SystemTime>,
    /// Where it stands.
    pub state: RunState,
    /// What it said (keys and error kinds, never values).
    pub message: Option<String>,
    /// Counts per key status.
    pub counts: Counts,
    /// Requests it made.
    pub requests: RequestStats,
}

/// The history's columns.
pub(crate) const RUN_COLUMNS: &str = "job_id, operation, cause, worker, attempt, started_at, \
     finished_at, outcome, message, created, updated, deleted, unchanged, imported, failed, \
     unconfirmed, not_attempted, skipped, requests_get, requests_post, requests_put, \
     requests_patch, requests_delete, requests_other";

/// A history row as an entry.
pub(crate) fn entry(row: &Row) -> Result<RunEntry> {
    let what = "a run";
    let operation: String = get(row, "operation", what)?;
    let cause: String = get(row, "cause", what)?;
    let outcome: String = get(row, "outcome", what)?;
    let n = |name: &str| get_count(row, name, what);
    let r = |name: &str| get_u64(row, name, what);
    Ok(RunEntry {
        job_id: JobId(get(row, "job_id", what)?),
        operation: operation_of(&operation, what)?,
        cause: TriggerCause::parse(&cause)?,
        worker: get(row, "worker", what)?,
        attempt: get_u32(row, "attempt", what)?,
        started_at: get(row, "started_at", what)?,
        finished_at: get(row, "finished_at", what)?,
        state: RunState::parse(&outcome)?,
        message: get(row, "message", what)?,
        counts: Counts {
            created: n("created")?,
            updated: n("updated")?,
            deleted: n("deleted")?,
            unchanged: n("unchanged")?,
            imported: n("imported")?,
            failed: n("failed")?,
            unconfirmed: n("unconfirmed")?,
            not_attempted: n("not_attempted")?,
            skipped: n("skipped")?,
        },
        requests: RequestStats {
            get: r("requests_get")?,
            post: r("requests_post")?,
            put: r("requests_put")?,
            patch: r("requests_patch")?,
            delete: r("requests_delete")?,
            other: r("requests_other")?,
        },
    })
}

/// Counts as the history's integer columns, in [`RUN_COLUMNS`] order.
pub(crate) fn count_columns(c: &Counts) -> [i32; 9] {
    let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    [
        n(c.created),
        n(c.updated),
        n(c.deleted),
        n(c.unchanged),
        n(c.imported),
        n(c.failed),
        n(c.unconfirmed),
        n(c.not_attempted),
        n(c.skipped),
    ]
}

/// Requests as the history's bigint columns, in [`RUN_COLUMNS`] order.
pub(crate) fn request_columns(r: &RequestStats) -> [i64; 6] {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    [
        n(r.get),
        n(r.post),
        n(r.put),
        n(r.patch),
        n(r.delete),
        n(r.other),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_states_round_trip() -> Result<()> {
        for s in [
            RunState::Running,
            RunState::Succeeded,
            RunState::Failed,
            RunState::LeaseExpired,
        ] {
            assert_eq!(RunState::parse(s.as_str())?, s);
        }
        Ok(())
    }

    #[test]
    fn errors_retry_by_kind() {
        for (kind, retry) in [
            (ErrorKind::Unavailable, true),
            (ErrorKind::RateLimited, true),
            (ErrorKind::Unconfirmed, true),
            (ErrorKind::Config, false),
            (ErrorKind::PermissionDenied, false),
        ] {
            assert_eq!(
                RunOutcome::from_error(&Error::new(kind, "m")).retries(),
                retry,
                "{kind}"
            );
        }
        assert!(!RunOutcome::succeeded().with_retry(true).retries());
    }

    #[test]
    fn columns_keep_their_order() {
        let counts = Counts {
            created: 1,
            updated: 2,
            deleted: 3,
            unchanged: 4,
            imported: 5,
            failed: 6,
            unconfirmed: 7,
            not_attempted: 8,
            skipped: 9,
        };
        assert_eq!(count_columns(&counts), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
}
