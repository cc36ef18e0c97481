//! Claims: due syncs locked with `FOR UPDATE SKIP LOCKED`, their jobs taken, their runs
//! started and their leases written — in one statement, so one round trip whatever it takes.

use std::time::{Duration, SystemTime};

use kms_sync_core::{Error, Result};
use tokio_postgres::Row;
use uuid::Uuid;

use super::types::{Claim, TriggerCause};
use crate::registry::ids::{JobId, SyncId};
use crate::registry::rows::{get, get_u32, operation_of};

/// The longest worker id.
const MAX_WORKER: usize = 200;
/// The most syncs one claim takes.
pub(super) const MAX_CLAIM: usize = 1000;
/// The longest lease.
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// The shortest lease.
const MIN_LEASE: Duration = Duration::from_millis(100);

/// One statement: lock up to `$1` due syncs, skipping those other workers are claiming
/// (enabled, and either without a lease, past their backoff and with an eligible trigger,
/// or with an expired lease); take the oldest eligible trigger of each unleased one
/// (deleted: a sync whose trigger another claim took between our snapshot and our lock has
/// none, and is simply not claimed); mark the runs of expired leases `lease-expired` and
/// take their jobs over (next attempt); start a run per job; write the leases. `$2` worker,
/// `$3` lease ms, `$4` fresh fencing tokens (at least `$1`).
pub(super) const CLAIM: &str = "
WITH due AS (
    SELECT st.sync_id, st.lease_token IS NOT NULL AS takeover, st.lease_job_id,
           st.lease_operation, st.lease_cause, st.lease_manual, st.lease_attempt, st.lease_run_id
    FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id
    WHERE s.is_enabled AND (
        (st.lease_token IS NULL AND st.not_before <= now() AND EXISTS (
            SELECT 1 FROM {s}.sync_triggers t
            WHERE t.sync_id = st.sync_id AND (t.manual OR s.is_auto_sync_enabled)))
        OR (st.lease_token IS NOT NULL AND st.lease_expires_at <= now()))
    ORDER BY coalesce(st.lease_expires_at,
        (SELECT min(t.requested_at) FROM {s}.sync_triggers t WHERE t.sync_id = st.sync_id))
    LIMIT $1
    FOR UPDATE OF st SKIP LOCKED
), pick AS (
    DELETE FROM {s}.sync_triggers t USING (
        SELECT DISTINCT ON (t2.sync_id) t2.sync_id, t2.operation
        FROM {s}.sync_triggers t2 JOIN {s}.syncs s ON s.id = t2.sync_id
        WHERE t2.sync_id IN (SELECT sync_id FROM due WHERE NOT takeover)
          AND (t2.manual OR s.is_auto_sync_enabled)
        ORDER BY t2.sync_id, t2.requested_at, t2.operation
    ) p
    WHERE t.sync_id = p.sync_id AND t.operation = p.operation
    RETURNING t.sync_id, t.operation, t.job_id, t.cause, t.manual, t.attempt
), lost AS (
    UPDATE {s}.sync_runs r SET outcome = 'lease-expired', finished_at = now(),
        message = 'the lease of worker `' || r.worker || '` expired; another worker took the job over'
    WHERE r.id IN (SELECT lease_run_id FROM due WHERE takeover) AND r.outcome = 'running'
), taking AS (
    SELECT j.*, row_number() OVER (ORDER BY j.takeover DESC, j.sync_id) AS n FROM (
        SELECT sync_id, job_id, operation, cause, manual, attempt, false AS takeover FROM pick
        UNION ALL
        SELECT sync_id, lease_job_id, coalesce(lease_operation, 'sync'),
               coalesce(lease_cause, 'manual'), coalesce(lease_manual, false),
               coalesce(lease_attempt, 1) + 1, true
        FROM due WHERE takeover AND lease_job_id IS NOT NULL
    ) j
), runs AS (
    INSERT INTO {s}.sync_runs (sync_id, job_id, operation, cause, attempt, worker, outcome)
    SELECT sync_id, job_id, operation, cause, attempt, $2::text, 'running' FROM taking
    RETURNING id, sync_id
), leased AS (
    UPDATE {s}.sync_state st SET
        lease_token = ($4::uuid[])[k.n], lease_worker = $2::text, lease_job_id = k.job_id,
        lease_operation = k.operation, lease_cause = k.cause, lease_manual = k.manual,
        lease_attempt = k.attempt, lease_run_id = runs.id, lease_millis = $3::bigint,
        lease_expires_at = now() + $3::bigint * interval '1 millisecond',
        takeovers = st.takeovers + CASE WHEN k.takeover THEN 1 ELSE 0 END,
        sync_status = CASE WHEN k.operation = 'sync' THEN 'running' ELSE st.sync_status END,
        last_sync_job_id = CASE WHEN k.operation = 'sync' THEN k.job_id::text ELSE st.last_sync_job_id END,
        remove_status = CASE WHEN k.operation = 'remove' THEN 'running' ELSE st.remove_status END,
        last_remove_job_id = CASE WHEN k.operation = 'remove' THEN k.job_id::text ELSE st.last_remove_job_id END
    FROM taking k JOIN runs ON runs.sync_id = k.sync_id
    WHERE st.sync_id = k.sync_id
    RETURNING st.sync_id, st.lease_token, st.lease_expires_at, st.failures, runs.id AS run_id
)
SELECT k.sync_id, k.job_id, k.operation, k.cause, k.manual, k.attempt, k.takeover,
       l.lease_token, l.lease_expires_at, l.failures, l.run_id
FROM taking k JOIN leased l ON l.sync_id = k.sync_id
ORDER BY k.n";

/// A claim from a row of [`CLAIM`].
pub(super) fn claim_of(row: &Row, worker: &str, lease: Duration) -> Result<Claim> {
    let what = "a claim";
    let operation: String = get(row, "operation", what)?;
    let cause: String = get(row, "cause", what)?;
    let attempt: i32 = get(row, "attempt", what)?;
    Ok(Claim {
        sync_id: SyncId(get(row, "sync_id", what)?),
        job_id: JobId(get(row, "job_id", what)?),
        operation: operation_of(&operation, what)?,
        cause: TriggerCause::parse(&cause)?,
        manual: get(row, "manual", what)?,
        worker: worker.to_owned(),
        attempt: u32::try_from(attempt).unwrap_or(1),
        taken_over: get(row, "takeover", what)?,
        lease,
        expires_at: get::<SystemTime>(row, "lease_expires_at", what)?,
        token: get::<Uuid>(row, "lease_token", what)?,
        run_id: get(row, "run_id", what)?,
        failures: get_u32(row, "failures", what)?,
    })
}

/// `limit` fresh fencing tokens.
pub(super) fn tokens(limit: usize) -> Vec<Uuid> {
    (0..limit).map(|_| Uuid::new_v4()).collect()
}

/// Checks a claim's worker id, lease and limit.
pub(super) fn check_claim(worker: &str, lease: Duration, limit: usize) -> Result<()> {
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
    fn claims_are_checked() {
        let s = Duration::from_secs(1);
        assert!(check_claim("w", s, 1).is_ok());
        assert!(check_claim("", s, 1).is_err());
        assert!(check_claim("w\n", s, 1).is_err());
        assert!(check_claim("w", Duration::from_millis(10), 1).is_err());
        assert!(check_claim("w", s, 0).is_err());
        assert!(check_claim("w", s, MAX_CLAIM + 1).is_err());
    }

    #[test]
    fn each_claim_gets_its_own_token() {
        let t = tokens(3);
        assert_eq!(t.len(), 3);
        assert!(t[0] != t[1] && t[1] != t[2] && t[0] != t[2]);
    }
}
