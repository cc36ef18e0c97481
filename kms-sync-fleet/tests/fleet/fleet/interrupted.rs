//! A worker shut down in the middle of a run: the run starts no new write, its ledger in
//! PostgreSQL already claims every key it may have written, its job is given back, and the
//! next run (on another worker, after the source dropped the keys) deletes what it wrote.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{Error, Operation, Result, RunStatus, SecretSet, StateStore};
use kms_sync_fleet::{PostgresStateStore, SourceKey, SyncId, SyncRegistry, TriggerCause};

use super::{fleet, slow_sync, worker, Running, Sources};

const NEW_KEYS: usize = 20;

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    while !check() {
        if Instant::now() > until {
            return Err(Error::unexpected(format!("never: {what}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn wait_for_success(registry: &SyncRegistry, id: SyncId) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let status = registry.syncs().get(id).await?.status;
        if status.sync_status == Some(RunStatus::Succeeded) {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(Error::unexpected(format!(
                "sync {id} never succeeded: {status:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn base_set() -> SecretSet {
    SecretSet::new("dev")
        .with("VALUE", "dev:/halted:0")
        .with("OTHER", "constant")
}

fn with_new_keys() -> SecretSet {
    let mut set = base_set();
    for i in 0..NEW_KEYS {
        set.insert(format!("NEW_{i:02}"), format!("value-{i}"));
    }
    set
}

/// Every key `held` at the destination is claimed in sync `id`'s ledger; claims never
/// written are withdrawn, no more.
async fn claimed_in_the_ledger(
    store: &PostgresStateStore,
    id: kms_sync_fleet::SyncId,
    held: &std::collections::BTreeMap<String, kms_sync_core::SecretValue>,
) -> Result<()> {
    let ledger = store
        .load(&id.to_string())
        .await?
        .ok_or_else(|| Error::unexpected("no ledger"))?;
    for key in held.keys() {
        assert!(
            ledger.get(key).is_some(),
            "{key} is at the destination and claimed"
        );
    }
    assert!(
        ledger.len() >= held.len(),
        "claims never written are withdrawn, no more"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_run_leaves_claims_that_the_next_run_reconciles() -> Result<()> {
    let db = db!(
        "fleet::interrupted::a_worker_stopped_mid_run_leaves_claims_that_the_next_run_reconciles"
    );
    let (tracked, registry, conn) = fleet(&db).await?;
    let halted = slow_sync(&registry, &conn, "halted", "halted", 300).await?;
    let sources = Arc::new(Sources::default());
    let source = sources.get(&SourceKey::new(Some("p1"), "dev", "/halted"));
    source.inner.replace(base_set())?;

    // A first run settles the ledger, so ownership comes from it from now on.
    let running = Running::start(vec![
        worker(registry.clone(), sources.clone(), "halt-w0").build()?
    ]);
    registry
        .jobs()
        .trigger(halted.id, Operation::Sync, TriggerCause::Manual)
        .await?;
    wait_for_success(&registry, halted.id).await?;
    running.stop().await?;

    // Twenty new keys; the worker shuts down after a few of them are written.
    source.inner.replace(with_new_keys())?;
    let destination = tracked.destination("halted");
    let w1 = worker(registry.clone(), sources.clone(), "halt-w1")
        .shutdown_grace(Duration::from_millis(600))
        .build()?;
    let running = Running::start(vec![w1]);
    registry
        .jobs()
        .trigger(halted.id, Operation::Sync, TriggerCause::Manual)
        .await?;
    wait_until("three new keys written", || {
        destination.contents().map(|c| c.len()).unwrap_or(0) >= 5
    })
    .await?;
    let summary = running.stop().await?;
    assert_eq!(
        summary[0].released, 1,
        "the interrupted run is given back: {summary:?}"
    );
    let held = destination.contents()?;
    assert!(
        held.len() < NEW_KEYS + 2,
        "stopped before the end: {held:?}"
    );

    let store = PostgresStateStore::new(db.pool().await?);
    claimed_in_the_ledger(&store, halted.id, &held).await?;

    // The source drops them; the given-back job runs on another worker and reconciles.
    source.inner.replace(base_set())?;
    let running = Running::start(vec![worker(registry.clone(), sources, "halt-w2").build()?]);
    wait_for_success(&registry, halted.id).await?;
    running.stop().await?;
    let left: Vec<String> = destination.contents()?.into_keys().collect();
    assert_eq!(
        left,
        ["OTHER", "VALUE"],
        "everything the stopped run wrote is gone"
    );
    let ledger = store
        .load(&halted.id.to_string())
        .await?
        .ok_or_else(|| Error::unexpected("no ledger"))?;
    assert_eq!(ledger.len(), 2, "stale claims forgotten");
    db.finish().await
}
