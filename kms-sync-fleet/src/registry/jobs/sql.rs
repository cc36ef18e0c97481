//! The statements of jobs, with the schema spliced in once per registry (see
//! [`crate::pipeline`] for how they are run).

use kms_sync_core::Operation;

use super::{claim, finish, trigger};

/// Every statement [`Jobs`](super::Jobs) runs, built when the registry is.
#[derive(Debug)]
pub(crate) struct JobStatements {
    pub trigger: String,
    pub destinations: String,
    pub claim: String,
    pub lock_state: String,
    pub finish_sync: String,
    pub finish_remove: String,
    pub heartbeat: String,
    pub release: String,
    pub next_due: String,
    pub runs: String,
    pub takeovers: String,
    /// A sync's record, by id (a run's first read).
    pub run_sync: String,
    /// A sync's connection, by the sync's id (a run's first read).
    pub run_connection: String,
}

impl JobStatements {
    /// The statements with `{s}` replaced by `schema` (quoted).
    pub fn new(schema: &str) -> JobStatements {
        let sql = |template: &str| template.replace("{s}", schema);
        JobStatements {
            trigger: sql(trigger::TRIGGER),
            destinations: sql(trigger::DESTINATIONS),
            claim: sql(claim::CLAIM),
            lock_state: sql(finish::LOCK_STATE),
            finish_sync: sql(&finish::finish_sql(Operation::Sync)),
            finish_remove: sql(&finish::finish_sql(Operation::Remove)),
            heartbeat: sql(HEARTBEAT),
            release: sql(&release_sql()),
            next_due: sql(NEXT_DUE),
            runs: sql(&format!(
                "SELECT {} FROM {{s}}.sync_runs WHERE sync_id = $1 ORDER BY id DESC LIMIT $2",
                crate::registry::runs::RUN_COLUMNS
            )),
            takeovers: sql("SELECT takeovers FROM {s}.sync_state WHERE sync_id = $1"),
            run_sync: sql(&format!(
                "{} WHERE s.id = $1",
                crate::registry::syncs::record_select()
            )),
            run_connection: sql(&format!(
                "{} WHERE id = (SELECT connection_id FROM {{s}}.syncs WHERE id = $1)",
                crate::registry::connections::CREDENTIALS
            )),
        }
    }

    /// The finish statement of `operation` (a remove's, or a sync's).
    pub fn finish(&self, operation: Operation) -> &str {
        match operation {
            Operation::Remove => &self.finish_remove,
            _ => &self.finish_sync,
        }
    }
}

/// Extends a lease held by token `$2` by its length from now.
const HEARTBEAT: &str = "UPDATE {s}.sync_state \
     SET lease_expires_at = now() + lease_millis * interval '1 millisecond' \
     WHERE sync_id = $1 AND lease_token = $2 RETURNING lease_expires_at";

/// When the next claim could find work (see [`Jobs::next_due`](super::Jobs::next_due)).
const NEXT_DUE: &str = "SELECT greatest(min(due), now()) AS due FROM ( \
        SELECT st.not_before AS due FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id \
        WHERE s.is_enabled AND st.lease_token IS NULL AND EXISTS ( \
            SELECT 1 FROM {s}.sync_triggers t \
            WHERE t.sync_id = st.sync_id AND (t.manual OR s.is_auto_sync_enabled)) \
        UNION ALL \
        SELECT st.lease_expires_at FROM {s}.sync_state st JOIN {s}.syncs s ON s.id = st.sync_id \
        WHERE s.is_enabled AND st.lease_token IS NOT NULL \
     ) d HAVING count(*) > 0";

/// Gives a claim back, one statement (after [`finish::LOCK_STATE`] in the same trip): the
/// trigger pending again (joining one that arrived meanwhile), the lease cleared, the status
/// `pending` with the job's id, the run forgotten, the workers notified. Only while the
/// lease is the claim's. `$1` sync, `$2` token, `$3` operation, `$4` job, `$5` cause, `$6`
/// manual, `$7` attempt, `$8` run id, `$9` channel.
fn release_sql() -> String {
    format!(
        "WITH held AS (
    SELECT sync_id FROM {{s}}.sync_state WHERE sync_id = $1::uuid AND lease_token = $2::uuid
), requeue AS (
    INSERT INTO {{s}}.sync_triggers AS t (sync_id, operation, job_id, cause, manual, attempt)
    SELECT h.sync_id, $3::text, $4::uuid, $5::text, $6::boolean, $7::int4 FROM held h
    ON CONFLICT (sync_id, operation) DO UPDATE
    SET manual = t.manual OR EXCLUDED.manual, coalesced = t.coalesced + 1
    RETURNING t.job_id
), st AS (
    UPDATE {{s}}.sync_state x SET {},
        sync_status = CASE WHEN $3::text = 'sync' THEN 'pending' ELSE x.sync_status END,
        last_sync_job_id = CASE WHEN $3::text = 'sync' THEN r.job_id::text ELSE x.last_sync_job_id END,
        remove_status = CASE WHEN $3::text = 'remove' THEN 'pending' ELSE x.remove_status END,
        last_remove_job_id = CASE WHEN $3::text = 'remove' THEN r.job_id::text ELSE x.last_remove_job_id END
    FROM requeue r WHERE x.sync_id = $1::uuid
    RETURNING x.sync_id
), forget AS (
    DELETE FROM {{s}}.sync_runs WHERE id = $8::bigint AND EXISTS (SELECT 1 FROM held)
), note AS (
    SELECT pg_notify($9::text, 'release') FROM held
)
SELECT EXISTS (SELECT 1 FROM held) AS held,
    EXISTS (SELECT 1 FROM {{s}}.sync_state WHERE sync_id = $1::uuid) AS found,
    (SELECT count(*) FROM st) AS cleared, (SELECT count(*) FROM note) AS notified",
        finish::CLEAR_LEASE
    )
}
