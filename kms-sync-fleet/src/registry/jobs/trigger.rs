//! Triggers: a row per sync and operation, coalescing, in one statement that also marks the
//! status pending and notifies the workers.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use kms_sync_core::{DestinationFacts, Error, ErrorKind, Operation, Result};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::types::{SkipReason, TriggerCause, Triggered};
use crate::error;
use crate::registry::ids::{JobId, SyncId};
use crate::registry::rows::{get, operation_text};
use crate::registry::{has_code, Shared};

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
    let doing = format!("triggering {} of {} sync(s)", operation, unique.len());
    let statement = client
        .prepare_cached(&shared.jobs.trigger)
        .await
        .map_err(|e| error::db(&doing, e))?;
    let rows = client
        .query(
            &statement,
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

/// The destination kinds of syncs `$1`, each once.
pub(super) const DESTINATIONS: &str =
    "SELECT DISTINCT destination FROM {s}.syncs WHERE id = ANY($1::uuid[]) ORDER BY destination";

/// The destination kinds of syncs `ids`, each once.
async fn destinations_of<C: GenericClient>(
    shared: &Shared,
    client: &C,
    ids: &[SyncId],
) -> Result<Vec<String>> {
    let ids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    let e = |err| error::db("reading the destinations of syncs", err);
    let statement = client
        .prepare_cached(&shared.jobs.destinations)
        .await
        .map_err(e)?;
    let rows = client.query(&statement, &[&ids]).await.map_err(e)?;
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
pub(super) const TRIGGER: &str = "
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
