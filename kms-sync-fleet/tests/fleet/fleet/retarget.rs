//! A sync pointed at another destination while it runs: the update drops its ledger in its
//! own transaction, the run of the old destination cannot start that ledger again, and the
//! next run writes to the new destination instead of refusing a ledger bound to the old one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{Destination, Error, Operation, Result, RunStatus, StateStore};
use kms_sync_fleet::{SyncPatch, TriggerCause};

use super::{fleet, quiescent, slow_sync, sync, worker, Running, Sources};
use crate::support::fail;

/// Waits until the sync's run holds its lease and has claimed its keys in the ledger.
async fn until_writing(db: &crate::support::TestDb, id: &str) -> Result<()> {
    let admin = db.admin().await?;
    let sql = format!(
        "SELECT count(*) FROM \"{0}\".ledger_entries e JOIN \"{0}\".sync_state st \
         ON st.sync_id::text = e.sync_id WHERE e.sync_id = $1 AND st.lease_token IS NOT NULL",
        db.schema()
    );
    let until = Instant::now() + Duration::from_secs(20);
    while admin
        .query_one(&sql, &[&id])
        .await
        .map_err(fail)?
        .get::<_, i64>(0)
        == 0
    {
        if Instant::now() > until {
            return Err(Error::unexpected("the run never claimed its keys"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// A worker `name` started on `registry`, and a manual run of sync `id` queued for it.
async fn worker_running(
    registry: &kms_sync_fleet::SyncRegistry,
    id: kms_sync_fleet::SyncId,
    name: &str,
) -> Result<Running> {
    let sources: Arc<Sources> = Arc::default();
    let running = Running::start(vec![worker(registry.clone(), sources, name).build()?]);
    registry
        .jobs()
        .trigger(id, Operation::Sync, TriggerCause::Manual)
        .await?;
    Ok(running)
}

#[tokio::test]
async fn a_destination_changed_during_a_run_starts_a_fresh_ledger() -> Result<()> {
    let db = db!("fleet::retarget::a_destination_changed_during_a_run_starts_a_fresh_ledger");
    let (tracked, registry, conn) = fleet(&db).await?;
    // Slow writes to `old`, so the change lands while the run writes.
    let s = slow_sync(&registry, &conn, "old", "p", 300).await?;
    let running = worker_running(&registry, s.id, "retarget").await?;
    until_writing(&db, &s.id.to_string()).await?;
    let patch = SyncPatch::new().destination_config(r#"{"target": "new"}"#)?;
    registry.syncs().update(s.id, patch).await?;
    quiescent(&db, Duration::from_secs(30)).await?;
    let ledger = kms_sync_fleet::PostgresStateStore::new(db.pool().await?);
    let after_old = ledger.load(&s.id.to_string()).await?;
    assert!(
        after_old.is_none(),
        "the old destination's run did not start the dropped ledger again: {after_old:?}"
    );

    registry
        .jobs()
        .trigger(s.id, Operation::Sync, TriggerCause::Manual)
        .await?;
    quiescent(&db, Duration::from_secs(30)).await?;
    running.stop().await?;
    let status = registry.syncs().get(s.id).await?.status;
    assert_eq!(
        status.sync_status,
        Some(RunStatus::Succeeded),
        "{:?}",
        status.last_sync_message
    );
    assert!(tracked.destination("new").value("VALUE")?.is_some());
    let bound = ledger
        .load(&s.id.to_string())
        .await?
        .and_then(|l| l.destination().cloned())
        .map(|d| d.to_string());
    let new = tracked.destination("new").info().identity.to_string();
    assert_eq!(bound, Some(new));
    db.finish().await
}

#[tokio::test]
async fn an_update_that_keeps_the_destination_keeps_the_ledger() -> Result<()> {
    let db = db!("fleet::retarget::an_update_that_keeps_the_destination_keeps_the_ledger");
    let (_, registry, conn) = fleet(&db).await?;
    let s = sync(&registry, &conn, "kept", "p", false, "").await?;
    let running = worker_running(&registry, s.id, "keeps").await?;
    quiescent(&db, Duration::from_secs(30)).await?;
    running.stop().await?;
    // Another config that builds the same destination (a delay is not where it writes).
    let patch = SyncPatch::new().destination_config(r#"{"target": "kept", "listDelayMs": 1}"#)?;
    registry.syncs().update(s.id, patch).await?;
    let ledger = kms_sync_fleet::PostgresStateStore::new(db.pool().await?);
    let kept = ledger.load(&s.id.to_string()).await?;
    assert_eq!(
        kept.map(|l| l.len()),
        Some(2),
        "VALUE and OTHER still owned"
    );
    db.finish().await
}
