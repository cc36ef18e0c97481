//! The end of a run: what it records, decided in Rust without a database ([`RunEnd`]), and
//! the statement that records it — the status, the backoff, the retry, the run in the
//! history, the history's trim and the notification — sent with the lock on the sync's
//! state and the run's last ledger update as one pipelined transaction.

use std::time::Duration;

use kms_sync_core::{Operation, RunStatus};

use super::types::Claim;
use crate::registry::rows::{status_columns, status_select, status_text};
use crate::registry::runs::{RunOutcome, RunState};

/// What the end of a run records, whatever else the sync's rows hold: the facts only the
/// database knows at commit time (whether a trigger arrived during the run, whether
/// auto-sync is still on, whether the lease is still the claim's) pick between the
/// alternatives decided here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunEnd {
    /// The run in the history.
    pub state: RunState,
    /// The status when no trigger is pending (one that is makes it `pending`).
    pub status: RunStatus,
    /// Consecutive failures after this run.
    pub failures: u32,
    /// No trigger of the sync is claimed before this wait from now (after a failure).
    pub backoff: Option<Duration>,
    /// Whether to queue the job again (when the sync still runs for its cause, and no
    /// trigger of the operation is pending).
    pub retry: bool,
    /// The status message without a retry.
    pub message: Option<String>,
    /// The status message when the retry is queued.
    pub retry_message: Option<String>,
}

impl RunEnd {
    /// Decides the end of a run with `outcome`, after `failures_before` consecutive
    /// failures, backing off by `backoff(failures)` after a failure.
    pub fn decide(
        outcome: &RunOutcome,
        failures_before: u32,
        backoff: impl Fn(u32) -> Duration,
    ) -> RunEnd {
        let succeeded = outcome.is_success();
        let failures = match succeeded {
            true => 0,
            false => failures_before.saturating_add(1),
        };
        let backoff = (!succeeded).then(|| backoff(failures));
        let message = outcome.bounded_message();
        let retry_message = backoff.map(|wait| {
            let note = format!("retrying in {} s", wait.as_secs().max(1));
            message
                .as_ref()
                .map_or_else(|| note.clone(), |m| format!("{m} ({note})"))
        });
        RunEnd {
            state: if succeeded {
                RunState::Succeeded
            } else {
                RunState::Failed
            },
            status: if succeeded {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            failures,
            backoff,
            retry: outcome.retries(),
            message,
            retry_message: retry_message.or_else(|| outcome.bounded_message()),
        }
    }

    /// Whether the run succeeded (`lastSyncedAt` / `lastRemovedAt` are stamped).
    pub fn succeeded(&self) -> bool {
        self.state == RunState::Succeeded
    }
}

/// Locks the claim's state row first, as every job operation does: the statements after it
/// in the same transaction see every trigger committed before, and none can arrive.
pub(super) const LOCK_STATE: &str = "SELECT 1 FROM {s}.sync_state WHERE sync_id = $1 FOR UPDATE";

/// The finish of a run of `operation` (its status columns), one statement. Writes only
/// while the lease is the claim's. `$1` sync, `$2` token, `$3` operation, `$4` job, `$5`
/// cause, `$6` manual, `$7` next attempt, `$8` retry, `$9` failures, `$10` backoff ms (NULL:
/// none), `$11` status, `$12` message, `$13` retry message, `$14` succeeded, `$15` run id,
/// `$16` run state, `$17`–`$25` counts, `$26`–`$31` requests, `$32` history, `$33` channel.
pub(super) fn finish_sql(operation: Operation) -> String {
    let [s_col, j_col, m_col, at_col] = status_columns(operation);
    format!(
        "WITH held AS (
    SELECT st.sync_id, s.is_auto_sync_enabled AS auto,
        (SELECT t.job_id FROM {{s}}.sync_triggers t
         WHERE t.sync_id = st.sync_id AND t.operation = $3::text) AS pending_job,
        EXISTS (SELECT 1 FROM {{s}}.sync_triggers t WHERE t.sync_id = st.sync_id) AS any_pending
    FROM {{s}}.sync_state st JOIN {{s}}.syncs s ON s.id = st.sync_id
    WHERE st.sync_id = $1::uuid AND st.lease_token = $2::uuid
), retry AS (
    INSERT INTO {{s}}.sync_triggers (sync_id, operation, job_id, cause, manual, attempt)
    SELECT h.sync_id, $3::text, $4::uuid, $5::text, $6::boolean, $7::int4 FROM held h
    WHERE $8::boolean AND h.pending_job IS NULL AND ($6::boolean OR h.auto)
    ON CONFLICT (sync_id, operation) DO NOTHING
    RETURNING job_id
), st AS (
    UPDATE {{s}}.sync_state x SET {CLEAR_LEASE}, failures = $9::int4,
        not_before = CASE WHEN $10::bigint IS NULL THEN 'epoch'::timestamptz
            ELSE now() + $10::bigint * interval '1 millisecond' END,
        {s_col} = CASE WHEN h.pending_job IS NULL THEN $11::text ELSE 'pending' END,
        {j_col} = coalesce(h.pending_job::text, $4::uuid::text),
        {m_col} = CASE WHEN EXISTS (SELECT 1 FROM retry) THEN $13::text ELSE $12::text END,
        {at_col} = CASE WHEN $14::boolean THEN now() ELSE x.{at_col} END
    FROM held h WHERE x.sync_id = h.sync_id
    RETURNING {}, CASE WHEN $10::bigint IS NULL THEN NULL ELSE x.not_before END AS backoff_until
), run AS (
    UPDATE {{s}}.sync_runs SET finished_at = now(), outcome = $16::text, message = $12::text,
        created = $17::int4, updated = $18::int4, deleted = $19::int4, unchanged = $20::int4,
        imported = $21::int4, failed = $22::int4, unconfirmed = $23::int4,
        not_attempted = $24::int4, skipped = $25::int4, requests_get = $26::int8,
        requests_post = $27::int8, requests_put = $28::int8, requests_patch = $29::int8,
        requests_delete = $30::int8, requests_other = $31::int8
    WHERE id = $15::bigint AND EXISTS (SELECT 1 FROM held)
), trim AS (
    DELETE FROM {{s}}.sync_runs r USING (
        SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM {{s}}.sync_runs WHERE sync_id = $1
    ) k
    WHERE r.id = k.id AND k.n > $32::bigint AND r.id <> $15 AND EXISTS (SELECT 1 FROM held)
), note AS (
    SELECT pg_notify($33::text, 'finish') FROM held h
    WHERE h.any_pending OR EXISTS (SELECT 1 FROM retry)
)
SELECT EXISTS (SELECT 1 FROM held) AS held,
    EXISTS (SELECT 1 FROM {{s}}.sync_state WHERE sync_id = $1) AS found,
    EXISTS (SELECT 1 FROM retry) AS retry_queued,
    (SELECT count(*) FROM note) > 0 AS pending, st.*
FROM (SELECT 1) one LEFT JOIN st ON true",
        status_select("x")
    )
}

/// The columns that clear a lease.
pub(super) const CLEAR_LEASE: &str = "lease_token = NULL, lease_worker = NULL, \
     lease_job_id = NULL, lease_operation = NULL, lease_cause = NULL, lease_manual = NULL, \
     lease_attempt = NULL, lease_run_id = NULL, lease_millis = NULL, lease_expires_at = NULL";

/// The status text of `end` for the statement's `$11`.
pub(super) fn status_param(end: &RunEnd) -> &'static str {
    status_text(end.status)
}

/// The claim's next attempt, for a retry.
pub(super) fn next_attempt(claim: &Claim) -> i32 {
    i32::try_from(claim.attempt.saturating_add(1)).unwrap_or(i32::MAX)
}

/// Milliseconds for the statements' `bigint` parameters.
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling(failures: u32) -> Duration {
        Duration::from_secs(10 * u64::from(failures))
    }

    #[test]
    fn a_success_resets_the_failures_and_never_retries() {
        let end = RunEnd::decide(&RunOutcome::succeeded(), 4, doubling);
        assert_eq!(end.failures, 0);
        assert_eq!(end.backoff, None);
        assert!(!end.retry);
        assert!(end.succeeded());
        assert_eq!(
            (end.state, end.status),
            (RunState::Succeeded, RunStatus::Succeeded)
        );
    }

    #[test]
    fn a_failure_counts_backs_off_and_says_when_it_retries() {
        let outcome = RunOutcome::failed("503 from the service");
        let end = RunEnd::decide(&outcome, 1, doubling);
        assert_eq!(end.failures, 2);
        assert_eq!(end.backoff, Some(Duration::from_secs(20)));
        assert_eq!(end.retry, outcome.retries());
        assert_eq!(end.message.as_deref(), Some("503 from the service"));
        assert_eq!(
            end.retry_message.as_deref(),
            Some("503 from the service (retrying in 20 s)")
        );
        assert_eq!(
            (end.state, end.status),
            (RunState::Failed, RunStatus::Failed)
        );
    }

    #[test]
    fn a_failure_without_a_message_still_says_when_it_retries() {
        let mut outcome = RunOutcome::failed("x");
        outcome.message = None;
        let end = RunEnd::decide(&outcome, 0, |_| Duration::from_millis(10));
        assert_eq!(end.message, None);
        assert_eq!(end.retry_message.as_deref(), Some("retrying in 1 s"));
    }

    #[test]
    fn failures_saturate() {
        let end = RunEnd::decide(&RunOutcome::failed("x"), u32::MAX, doubling);
        assert_eq!(end.failures, u32::MAX);
    }

    #[test]
    fn the_statement_writes_the_operations_own_columns() {
        let sync = finish_sql(Operation::Sync);
        assert!(sync.contains("last_synced_at = CASE"), "{sync}");
        let remove = finish_sql(Operation::Remove);
        assert!(remove.contains("last_removed_at = CASE"), "{remove}");
        assert!(!remove.contains("last_synced_at = CASE"), "{remove}");
    }
}
