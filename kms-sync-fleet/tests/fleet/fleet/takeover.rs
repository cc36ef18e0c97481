//! A worker killed mid-run (its runtime aborted, its connections dropped): another worker
//! takes the sync over once the lease expires and completes it, and the destination ends
//! exactly as one clean run would leave it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{Error, Operation, Result, RunStatus};
use kms_sync_fleet::metrics::TAKEOVERS;
use kms_sync_fleet::{RunState, TriggerCause};

use super::{
    connection, recorder, registry, slow_sync, status_reached, worker, Running, Sources,
    TrackedFactory,
};
use crate::support::fail;

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

#[test]
fn a_killed_worker_is_taken_over_after_its_lease() -> Result<()> {
    let outer = runtime(2)?;
    let Some(db) = outer.block_on(crate::support::database(TEST)) else {
        return Ok(());
    };
    let metrics = recorder();
    let tracked = TrackedFactory::default();
    let sources = Arc::new(Sources::default());
    let (registry, victim) = outer.block_on(async {
        let registry = registry(&db, &tracked).await?;
        let conn = connection(&registry).await?;
        let victim = slow_sync(&registry, &conn, "victim", "p", 700).await?;
        Ok::<_, Error>((registry, victim))
    })?;

    let killed_at = std::thread::scope(|scope| -> Result<Instant> {
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let (db, tracked, sources) = (&db, &tracked, &sources);
        let doomed = scope.spawn(move || -> Result<()> {
            // The doomed worker's runtime owns its pool, its connections and its run.
            let rt = runtime(1)?;
            let w = rt.block_on(async {
                let own = registry_for(db, tracked).await?;
                worker(own, sources.clone(), "victim-a")
                    .lease(LEASE)
                    .heartbeat(HEARTBEAT)
                    .build()
            })?;
            rt.spawn(async move { w.run_until(std::future::pending()).await });
            let _ = killed.recv();
            rt.shutdown_background();
            Ok(())
        });
        outer.block_on(async {
            registry
                .jobs()
                .trigger(victim.id, Operation::Sync, TriggerCause::Manual)
                .await?;
            // The doomed worker claimed it.
            status_reached(&registry, victim.id, RunStatus::Running).await?;
            // Mid-run: one key written, the other not yet (writes take 700 ms each).
            let until = Instant::now() + Duration::from_secs(20);
            loop {
                if tracked.destination("victim").contents()?.len() == 1 {
                    break;
                }
                if Instant::now() > until {
                    return Err(Error::unexpected("the first write never landed"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(())
        })?;
        let _ = kill.send(());
        let killed_at = Instant::now();
        doomed
            .join()
            .map_err(|_| Error::unexpected("the doomed worker panicked"))??;
        Ok(killed_at)
    })?;

    outer.block_on(async {
        assert_eq!(
            tracked.destination("victim").contents()?.len(),
            1,
            "killed half-way: one key applied, one not"
        );
        let rescuer = worker(
            registry_for(&db, &tracked).await?,
            sources.clone(),
            "rescuer-b",
        )
        .lease(LEASE)
        .heartbeat(HEARTBEAT)
        .build()?;
        let running = Running::start(vec![rescuer]);
        status_reached(&registry, victim.id, RunStatus::Succeeded).await?;
        let recovered = killed_at.elapsed();
        let summary = running.stop().await?;
        assert_eq!(summary[0].taken_over, 1, "{summary:?}");
        let runs = registry.jobs().runs(victim.id, 10).await?;
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
        assert_eq!(registry.jobs().takeovers(victim.id).await?, 1);
        assert_eq!(metrics.counter(TAKEOVERS, "worker=rescuer-b"), 1);
        // The destination holds exactly the source; a clean run changes nothing more.
        let contents = tracked.destination("victim").contents()?;
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
        let again = worker(registry.clone(), sources.clone(), "checker-c").build()?;
        let running = Running::start(vec![again]);
        registry
            .jobs()
            .trigger(victim.id, Operation::Sync, TriggerCause::Manual)
            .await?;
        super::quiescent(&db, Duration::from_secs(20)).await?;
        running.stop().await?;
        let last = &registry.jobs().runs(victim.id, 1).await?[0];
        assert_eq!(last.state, RunState::Succeeded);
        assert_eq!(
            (
                last.counts.created,
                last.counts.updated,
                last.counts.deleted,
                last.counts.unchanged
            ),
            (0, 0, 0, 2),
            "nothing left to apply: {last:?}"
        );
        assert_eq!(tracked.overlaps(), 0);
        println!("killed worker's sync completed by another {recovered:?} after the kill");
        Ok::<_, Error>(())
    })?;
    outer.block_on(db.finish())
}

async fn registry_for(
    db: &crate::support::TestDb,
    tracked: &TrackedFactory,
) -> Result<kms_sync_fleet::SyncRegistry> {
    registry(db, tracked).await
}
