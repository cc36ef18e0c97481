//! Auto-sync on tokio's paused clock: no test waits in real time.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::*;
use tokio::time::sleep;

fn setup(dest: Arc<dyn Destination>) -> Result<(Arc<StaticSource>, Arc<Syncer>)> {
    let source = Arc::new(StaticSource::new(SecretSet::new("dev").with("A", "1")));
    let syncer = Syncer::builder()
        .source(source.clone())
        .destination(dest)
        .build()?;
    Ok((source, Arc::new(syncer)))
}

fn config() -> AutoSyncConfig {
    AutoSyncConfig::default()
        .with_poll_interval(Duration::from_secs(10))
        .with_max_backoff(Duration::from_secs(300))
}

fn triggers(runs: &[RunRecord]) -> Vec<RunTrigger> {
    runs.iter().map(|r| r.trigger).collect()
}

#[tokio::test(start_paused = true)]
async fn syncs_at_start_then_only_when_the_source_changes() -> Result<()> {
    let dest = Arc::new(MemoryDestination::builder().build());
    let (source, syncer) = setup(dest.clone())?;
    let handle = AutoSync::spawn(syncer, config());
    sleep(Duration::from_secs(1)).await;
    assert_eq!(triggers(&handle.runs()), [RunTrigger::Initial]);
    sleep(Duration::from_secs(35)).await;
    assert_eq!(
        handle.runs().len(),
        1,
        "three polls of an unchanged source sync nothing"
    );
    source.set("B", "2")?;
    sleep(Duration::from_secs(10)).await;
    assert_eq!(
        triggers(&handle.runs()),
        [RunTrigger::Initial, RunTrigger::Change]
    );
    assert!(dest.value("B")?.is_some());
    let runs = handle.shutdown().await;
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    Ok(())
}

/// A destination whose writes take 5 s, so triggers arrive while a sync runs.
fn slow(inner: MemoryDestination) -> Arc<dyn Destination> {
    Arc::new(kms_sync_testkit::before_apply(Arc::new(inner), |_| {
        sleep(Duration::from_secs(5))
    }))
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_triggers_makes_one_running_and_one_pending_sync() -> Result<()> {
    let (_, syncer) = setup(slow(MemoryDestination::builder().build()))?;
    let handle = AutoSync::spawn(syncer, config());
    sleep(Duration::from_secs(1)).await; // the initial sync is now inside its 5 s write
    let webhook = handle.trigger_handle();
    for _ in 0..10 {
        webhook.fire();
    }
    sleep(Duration::from_secs(8)).await;
    assert_eq!(
        triggers(&handle.runs()),
        [RunTrigger::Initial, RunTrigger::Triggered]
    );
    handle.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_then_recover() -> Result<()> {
    let dest = Arc::new(MemoryDestination::builder().build());
    dest.fail_list(Some(ErrorKind::Unavailable))?;
    let (_, syncer) = setup(dest.clone())?;
    let handle = AutoSync::spawn(syncer, config());
    sleep(Duration::from_secs(1)).await;
    assert_eq!(handle.runs().len(), 1);
    assert_eq!(handle.runs()[0].status, RunStatus::Failed);
    // After one failure: 20 s. Not at 15 s, yes by 21 s.
    sleep(Duration::from_secs(14)).await;
    assert_eq!(handle.runs().len(), 1);
    sleep(Duration::from_secs(6)).await;
    assert_eq!(handle.runs().len(), 2);
    // After two: 40 s.
    sleep(Duration::from_secs(30)).await;
    assert_eq!(handle.runs().len(), 2);
    sleep(Duration::from_secs(11)).await;
    assert_eq!(
        triggers(&handle.runs()),
        [RunTrigger::Initial, RunTrigger::Retry, RunTrigger::Retry]
    );
    // The service recovers: the next retry (80 s later) succeeds, then plain polling resumes.
    dest.fail_list(None)?;
    sleep(Duration::from_secs(81)).await;
    let runs = handle.runs();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[3].status, RunStatus::Succeeded);
    assert!(
        runs[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("unavailable")),
        "{:?}",
        runs[0]
    );
    assert!(dest.value("A")?.is_some());
    handle.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_running_sync_and_starts_nothing_after() -> Result<()> {
    let inner = MemoryDestination::builder().build();
    let (source, syncer) = setup(slow(inner.clone()))?;
    let handle = AutoSync::spawn(syncer, config());
    sleep(Duration::from_secs(1)).await;
    handle.trigger();
    source.set("B", "2")?;
    let runs = handle.shutdown().await;
    assert_eq!(
        triggers(&runs),
        [RunTrigger::Initial],
        "the pending trigger does not start after shutdown"
    );
    assert!(inner.value("A")?.is_some(), "the running sync finished");
    Ok(())
}
