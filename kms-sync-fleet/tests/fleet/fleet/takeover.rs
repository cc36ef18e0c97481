//! A worker killed mid-run (its runtime aborted, its connections dropped): another worker
//! takes the sync over once the lease expires and completes it, and the destination ends
//! exactly as one clean run would leave it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{Error, Operation, Result, RunStatus};
use kms_sync_fleet::metrics::TAKEOVERS;
use kms_sync_fleet::{RunState, SyncId, SyncRegistry, TriggerCause};

use super::{
    connection, recorder, registry, slow_sync, status_reached, worker, Running, Sources,
    TrackedFactory,
};
use crate::support::{fail, TestDb};

const TEST: &str = "fleet::takeover::a_killed_worker_is_taken_over_after_its_lease";
const LEASE: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_millis(500);

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(fail)
}

/// The test's fleet: its database, destinations, sources, registry and the slow sync.
struct Case {
    db: TestDb,
    tracked: TrackedFactory,
    sources: Arc<Sources>,
    registry: SyncRegistry,
    victim: SyncId,
}

/// A worker on a pool of its own, with the test's short lease.
async fn short_lease_worker(case: &Case, id: &str) -> Result<kms_sync_fleet::Worker> {
    let own = registry(&case.db, &case.tracked).await?;
    worker(own, case.sources.clone(), id)
        .lease(LEASE)
        .heartbeat(HEARTBEAT)
        .build()
}

/// The doomed worker, on a runtime of its own that owns its pool, its connections and its
/// run, until `killed` says to drop the runtime.
fn doomed_worker(case: &Case, killed: std::sync::mpsc::Receiver<()>) -> Result<()> {
    let rt = runtime(1)?;
    let w = rt.block_on(short_lease_worker(case, "victim-a"))?;
    rt.spawn(async move { w.run_until(std::future::pending()).await });
    let _ = killed.recv();
    rt.shutdown_background();
    Ok(())
}

/// Triggers the victim and waits until the doomed worker claimed it and is mid-run: one key
/// written, the other not yet (writes take 700 ms each).
async fn claimed_and_half_written(case: &Case) -> Result<()> {
    case.registry
        .jobs()
        .trigger(case.victim, Operation::Sync, TriggerCause::Manual)
        .await?;
    status_reached(&case.registry, case.victim, RunStatus::Running).await?;
    let until = Instant::now() + Duration::from_secs(20);
    while case.tracked.destination("victim").contents()?.len() != 1 {
        if Instant::now() > until {
            return Err(Error::unexpected("the first write never landed"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Starts the doomed worker, kills it mid-run; when it was killed.
fn kill_mid_run(outer: &tokio::runtime::Runtime, case: &Case) -> Result<Instant> {
    std::thread::scope(|scope| -> Result<Instant> {
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let doomed = scope.spawn(move || doomed_worker(case, killed));
        outer.block_on(claimed_and_half_written(case))?;
        let _ = kill.send(());
        let killed_at = Instant::now();
        doomed
            .join()
            .map_err(|_| Error::unexpected("the doomed worker panicked"))??;
        Ok(killed_at)
    })
}

/// The victim's two runs: the first expired with the doomed worker, the second — the same
/// job — succeeded with the rescuer, only after the lease expired.
fn assert_taken_over(runs: &[kms_sync_fleet::RunEntry]) {
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (second, first) = (&runs[0], &runs[1]);
    assert_eq!(
        (first.state, first.worker.as_str(), first.attempt),
        (RunState::LeaseExpired, "victim-a", 1)
    );
    assert_eq!(
        (second.state, second.worker.as_str(), second.attempt),
        (RunState::Succeeded, "rescuer-b", 2)
    );
    assert_eq!(first.job_id, second.job_id, "the same job, taken over");
    let taken_after = second
        .started_at
        .duration_since(first.started_at)
        .unwrap_or_default();
    assert!(
        taken_after >= LEASE - HEARTBEAT / 2,
        "taken over only after the lease expired: {taken_after:?}"
    );
}

/// The rescuer completes the killed run; how long after `killed_at`.
async fn rescued(case: &Case, killed_at: Instant) -> Result<Duration> {
    assert_eq!(
        case.tracked.destination("victim").contents()?.len(),
        1,
        "killed half-way: one key applied, one not"
    );
    let rescuer = short_lease_worker(case, "rescuer-b").await?;
    let running = Running::start(vec![rescuer]);
    status_reached(&case.registry, case.victim, RunStatus::Succeeded).await?;
    let recovered = killed_at.elapsed();
    let summary = running.stop().await?;
    assert_eq!(summary[0].taken_over, 1, "{summary:?}");
    assert_taken_over(&case.registry.jobs().runs(case.victim, 10).await?);
    assert_eq!(case.registry.jobs().takeovers(case.victim).await?, 1);
    assert_eq!(recorder().counter(TAKEOVERS, "worker=rescuer-b"), 1);
    Ok(recovered)
}

/// The destination holds exactly the source; a clean run changes nothing more.
async fn exactly_as_one_clean_run(case: &Case) -> Result<()> {
    let contents = case.tracked.destination("victim").contents()?;
    let shown: Vec<(String, String)> = contents
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("OTHER".to_owned(), "constant".to_owned()),
            ("VALUE".to_owned(), "dev:/p:0".to_owned())
        ]
    );
    let again = worker(case.registry.clone(), case.sources.clone(), "checker-c").build()?;
    let running = Running::start(vec![again]);
    case.registry
        .jobs()
        .trigger(case.victim, Operation::Sync, TriggerCause::Manual)
        .await?;
    super::quiescent(&case.db, Duration::from_secs(20)).await?;
    running.stop().await?;
    let last = &case.registry.jobs().runs(case.victim, 1).await?[0];
    assert_eq!(last.state, RunState::Succeeded);
    let c = &last.counts;
    assert_eq!(
        (c.created, c.updated, c.deleted, c.unchanged),
        (0, 0, 0, 2),
        "nothing left to apply: {last:?}"
    );
    assert_eq!(case.tracked.overlaps(), 0);
    Ok(())
}

#[test]
fn a_killed_worker_is_taken_over_after_its_lease() -> Result<()> {
    let outer = runtime(2)?;
    let Some(db) = outer.block_on(crate::support::database(TEST)) else {
        return Ok(());
    };
    recorder();
    let tracked = TrackedFactory::default();
    let (registry, victim) = outer.block_on(async {
        let registry = registry(&db, &tracked).await?;
        let conn = connection(&registry).await?;
        let victim = slow_sync(&registry, &conn, "victim", "p", 700).await?;
        Ok::<_, Error>((registry, victim.id))
    })?;
    let case = Case {
        db,
        tracked,
        sources: Arc::new(Sources::default()),
        registry,
        victim,
    };
    let killed_at = kill_mid_run(&outer, &case)?;
    let recovered = outer.block_on(rescued(&case, killed_at))?;
    outer.block_on(exactly_as_one_clean_run(&case))?;
    println!("killed worker's sync completed by another {recovered:?} after the kill");
    outer.block_on(case.db.finish())
}
