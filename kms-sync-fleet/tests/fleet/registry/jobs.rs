//! Triggers and claims: coalescing, one claim per sync across pools, leases, backoff.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use kms_sync_core::{Error, ErrorKind, Operation, Result, RunStatus};
use kms_sync_fleet::{
    Claim, JobId, RunOutcome, RunState, SkipReason, SyncId, SyncPatch, SyncRegistry, TriggerCause,
    Triggered,
};

use super::{builder, count, memory_connection, memory_sync, registry};
use crate::support::{fail, TestDb};

const LEASE: Duration = Duration::from_secs(30);

fn job(t: Triggered) -> Result<JobId> {
    t.job_id()
        .ok_or_else(|| Error::unexpected(format!("nothing queued: {t:?}")))
}

async fn one_claim(registry: &SyncRegistry, worker: &str) -> Result<Claim> {
    let mut claims = registry.jobs().claim(worker, LEASE, 10).await?;
    assert_eq!(claims.len(), 1, "{claims:?}");
    claims.pop().ok_or_else(|| Error::unexpected("no claim"))
}

/// A manual sync trigger queues a job, a second joins it, a source change is skipped (auto
/// sync off); a remove is its own job. The two jobs.
async fn queued_and_coalesced(
    db: &TestDb,
    registry: &SyncRegistry,
    sync: SyncId,
) -> Result<(JobId, JobId)> {
    let jobs = registry.jobs();
    let first = jobs
        .trigger(sync, Operation::Sync, TriggerCause::Manual)
        .await?;
    let Triggered::Queued(j1) = first else {
        return Err(Error::unexpected(format!("{first:?}")));
    };
    assert_eq!(
        jobs.trigger(sync, Operation::Sync, TriggerCause::Manual)
            .await?,
        Triggered::Coalesced(j1)
    );
    assert_eq!(
        jobs.trigger(sync, Operation::Sync, TriggerCause::SourceChange)
            .await?,
        Triggered::Skipped(SkipReason::AutoSyncOff),
        "auto-sync off: only manual triggers"
    );
    let status = registry.syncs().get(sync).await?.status;
    assert_eq!(status.sync_status, Some(RunStatus::Pending));
    assert_eq!(status.last_sync_job_id, Some(j1.to_string()));
    let j2 = job(jobs
        .trigger(sync, Operation::Remove, TriggerCause::Manual)
        .await?)?;
    assert_ne!(j1, j2, "remove is its own job");
    let status = registry.syncs().get(sync).await?.status;
    assert_eq!(status.last_remove_job_id, Some(j2.to_string()));
    assert_eq!(
        count(db, "SELECT count(*) FROM {s}.sync_triggers").await?,
        2
    );
    Ok((j1, j2))
}

/// An import trigger is unsupported; a trigger of an unknown sync is not found.
async fn import_and_unknown_refused(registry: &SyncRegistry, sync: SyncId) -> Result<()> {
    let jobs = registry.jobs();
    let err = jobs
        .trigger(sync, Operation::Import, TriggerCause::Manual)
        .await
        .expect_err("import");
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = jobs
        .trigger(
            SyncId::parse("3c90c3cc-0d44-4b50-8888-8dd25736052a")?,
            Operation::Sync,
            TriggerCause::Manual,
        )
        .await
        .expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    Ok(())
}

#[tokio::test]
async fn triggers_coalesce_into_one_pending_job_per_operation() -> Result<()> {
    let db = db!("registry::jobs::triggers_coalesce_into_one_pending_job_per_operation");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", false).await?;
    assert_eq!(
        sync.status.sync_status, None,
        "auto-sync off: not queued at creation"
    );
    let (j1, j2) = queued_and_coalesced(&db, &registry, sync.id).await?;
    import_and_unknown_refused(&registry, sync.id).await?;

    // One run per sync at a time: the older job first, the other after it.
    let jobs = registry.jobs();
    let claim = one_claim(&registry, "w1").await?;
    assert_eq!((claim.job_id(), claim.operation()), (j1, Operation::Sync));
    assert_eq!(claim.cause(), TriggerCause::Manual);
    assert!(
        registry.jobs().claim("w2", LEASE, 10).await?.is_empty(),
        "leased"
    );
    assert_eq!(
        registry.syncs().get(sync.id).await?.status.sync_status,
        Some(RunStatus::Running)
    );
    jobs.finish(&claim, RunOutcome::succeeded()).await?;
    let claim = one_claim(&registry, "w2").await?;
    assert_eq!((claim.job_id(), claim.operation()), (j2, Operation::Remove));
    let done = jobs.finish(&claim, RunOutcome::succeeded()).await?;
    assert_eq!(done.status.remove_status, Some(RunStatus::Succeeded));
    assert!(done.status.last_removed_at.is_some());
    assert_eq!(done.status.sync_status, Some(RunStatus::Succeeded));
    assert!(!done.pending);
    db.finish().await
}

/// Runs `worker` until `stop` is set and nothing is left: claims, checks that no other
/// worker runs the sync, finishes. Returns the jobs it ran.
async fn work(
    registry: SyncRegistry,
    worker: String,
    running: Arc<Mutex<HashSet<SyncId>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<Vec<JobId>> {
    let mut ran = Vec::new();
    let mut idle = 0;
    loop {
        let claims = registry.jobs().claim(&worker, LEASE, 7).await?;
        if claims.is_empty() {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                idle += 1;
                if idle > 2 {
                    return Ok(ran);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        idle = 0;
        for claim in &claims {
            let fresh = running.lock().map_err(fail)?.insert(claim.sync_id());
            assert!(
                fresh,
                "sync {} claimed while another worker runs it",
                claim.sync_id()
            );
            assert_eq!(claim.attempt(), 1);
        }
        tokio::task::yield_now().await;
        for claim in claims {
            running.lock().map_err(fail)?.remove(&claim.sync_id());
            registry
                .jobs()
                .finish(&claim, RunOutcome::succeeded())
                .await?;
            ran.push(claim.job_id());
        }
    }
}

type Queued = tokio::task::JoinHandle<Result<Vec<JobId>>>;

/// A task on a pool of its own triggering syncs one by one; the jobs it queued.
async fn trigger_singly(db: &TestDb, ids: &[SyncId]) -> Result<Queued> {
    let (registry, ids) = (registry(db).await?, ids.to_vec());
    Ok(tokio::spawn(async move {
        let mut queued = Vec::new();
        for round in 0..300 {
            let id = ids[(round * 37) % ids.len()];
            let t = registry
                .jobs()
                .trigger(id, Operation::Sync, TriggerCause::Manual)
                .await?;
            queued.push(job(t)?);
            if round % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
        Ok(queued)
    }))
}

/// A task on a pool of its own triggering syncs in overlapping batches in reverse order.
async fn trigger_in_batches(db: &TestDb, ids: &[SyncId]) -> Result<Queued> {
    let (registry, ids) = (registry(db).await?, ids.to_vec());
    Ok(tokio::spawn(async move {
        let mut queued = Vec::new();
        for round in 0..20 {
            let start = (round * 13) % 180;
            let batch: Vec<SyncId> = ids[start..start + 20].iter().rev().copied().collect();
            let results = registry
                .jobs()
                .trigger_many(&batch, Operation::Sync, TriggerCause::Manual)
                .await?;
            for (_, t) in results {
                queued.push(job(t)?);
            }
        }
        Ok(queued)
    }))
}

/// The jobs `workers` ran, each exactly once.
async fn ran_once_each(workers: Vec<Queued>) -> Result<HashSet<JobId>> {
    let mut ran: HashMap<JobId, usize> = HashMap::new();
    for worker in workers {
        for j in worker.await.map_err(fail)?? {
            *ran.entry(j).or_default() += 1;
        }
    }
    let twice: Vec<_> = ran.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    Ok(ran.into_keys().collect())
}

/// No trigger pending, no lease held.
async fn nothing_left(db: &TestDb) -> Result<()> {
    assert_eq!(
        count(db, "SELECT count(*) FROM {s}.sync_triggers").await?,
        0
    );
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM {s}.sync_state WHERE lease_token IS NOT NULL"
        )
        .await?,
        0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_pools_claim_every_trigger_exactly_once() -> Result<()> {
    let db = db!("registry::jobs::four_pools_claim_every_trigger_exactly_once");
    let setup = registry(&db).await?;
    let conn = memory_connection(&setup, "mem").await?;
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(
            memory_sync(&setup, &conn, &format!("sync-{i}"), false)
                .await?
                .id,
        );
    }
    // Every sync queued once before the workers start; more triggers while they run.
    let mut expected: HashSet<JobId> = HashSet::new();
    for (_, t) in setup
        .jobs()
        .trigger_many(&ids, Operation::Sync, TriggerCause::Manual)
        .await?
    {
        expected.insert(job(t)?);
    }
    let running = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let registry = super::registry(&db).await?;
        let (worker, running, stop) = (format!("worker-{w}"), running.clone(), stop.clone());
        workers.push(tokio::spawn(work(registry, worker, running, stop)));
    }
    let (singles, batches) = (
        trigger_singly(&db, &ids).await?,
        trigger_in_batches(&db, &ids).await?,
    );
    expected.extend(singles.await.map_err(fail)??);
    expected.extend(batches.await.map_err(fail)??);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let ran = ran_once_each(workers).await?;
    assert_eq!(ran, expected, "every queued job ran exactly once");
    assert!(
        expected.len() > 200,
        "some triggers queued new jobs: {}",
        expected.len()
    );
    nothing_left(&db).await?;
    db.finish().await
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_holder_can_neither_heartbeat_nor_finish(
) -> Result<()> {
    let db = db!("registry::jobs::an_expired_lease_is_taken_over_and_its_holder_can_neither_heartbeat_nor_finish");
    let a = registry(&db).await?;
    let b = registry(&db).await?;
    let conn = memory_connection(&a, "mem").await?;
    let sync = memory_sync(&a, &conn, "api", true).await?;
    let lease = Duration::from_millis(600);
    let mut claims = a.jobs().claim("worker-a", lease, 1).await?;
    let held = claims.pop().ok_or_else(|| Error::unexpected("no claim"))?;
    assert_eq!((held.attempt(), held.taken_over()), (1, false));
    assert_eq!(held.cause(), TriggerCause::DefinitionChanged);
    assert!(
        b.jobs().claim("worker-b", lease, 1).await?.is_empty(),
        "live lease"
    );
    let renewed = a.jobs().heartbeat(&held).await?;
    assert!(renewed >= held.expires_at(), "heartbeat extends the lease");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut claims = b.jobs().claim("worker-b", LEASE, 1).await?;
    let taken = claims
        .pop()
        .ok_or_else(|| Error::unexpected("not taken over"))?;
    assert_eq!(taken.sync_id(), sync.id);
    assert_eq!(taken.job_id(), held.job_id(), "the same job");
    assert_eq!((taken.attempt(), taken.taken_over()), (2, true));
    let err = a.jobs().heartbeat(&held).await.expect_err("lost");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let err = a
        .jobs()
        .finish(&held, RunOutcome::succeeded())
        .await
        .expect_err("lost");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let err = a.jobs().release(&held).await.expect_err("lost");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(a.jobs().takeovers(sync.id).await?, 1);
    let runs = a.jobs().runs(sync.id, 10).await?;
    let states: Vec<(RunState, &str)> = runs.iter().map(|r| (r.state, r.worker.as_str())).collect();
    assert_eq!(
        states,
        [
            (RunState::Running, "worker-b"),
            (RunState::LeaseExpired, "worker-a")
        ]
    );
    let done = b.jobs().finish(&taken, RunOutcome::succeeded()).await?;
    assert_eq!(done.status.sync_status, Some(RunStatus::Succeeded));
    assert_eq!(
        done.status.last_sync_job_id,
        Some(held.job_id().to_string())
    );
    db.finish().await
}

/// The run `claim` fails as unavailable: a retry is queued after a backoff of at most
/// 400 ms that `next_due` reports, nothing claimable before. The backoff's wait.
async fn failed_and_backing_off(registry: &SyncRegistry, claim: &Claim) -> Result<Duration> {
    let jobs = registry.jobs();
    let failed = jobs
        .finish(claim, RunOutcome::from_error(&unavailable()))
        .await?;
    assert!(failed.retry_queued && failed.pending);
    assert_eq!(failed.status.sync_status, Some(RunStatus::Failed));
    let message = failed.status.last_sync_message.clone().unwrap_or_default();
    assert!(
        message.contains("503") && message.contains("retrying in"),
        "{message}"
    );
    let until = failed
        .backoff_until
        .ok_or_else(|| Error::unexpected("no backoff"))?;
    let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        wait > Duration::from_millis(200) && wait <= Duration::from_millis(400),
        "{wait:?}"
    );
    assert!(jobs.claim("w", LEASE, 10).await?.is_empty(), "backing off");
    let due = jobs
        .next_due()
        .await?
        .ok_or_else(|| Error::unexpected("nothing due"))?;
    assert!(
        due >= until - Duration::from_millis(5),
        "next_due is the backoff's end"
    );
    Ok(wait)
}

fn unavailable() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the destination answered 503 for key API_KEY",
    )
}

/// After the backoff the same job is claimed again; failing again doubles the backoff.
async fn retried_and_doubled(registry: &SyncRegistry, claim: &Claim) -> Result<()> {
    let retry = one_claim(registry, "w").await?;
    assert_eq!(
        (retry.job_id(), retry.attempt()),
        (claim.job_id(), 2),
        "the job again"
    );
    let again = registry
        .jobs()
        .finish(&retry, RunOutcome::from_error(&unavailable()))
        .await?;
    let wait = again
        .backoff_until
        .and_then(|u| u.duration_since(SystemTime::now()).ok())
        .unwrap_or_default();
    assert!(wait > Duration::from_millis(600), "doubled: {wait:?}");
    Ok(())
}

/// A manual trigger joins the queued retry and ends the backoff; its success resets it.
async fn manual_success_resets(registry: &SyncRegistry, sync: SyncId, job: JobId) -> Result<()> {
    let jobs = registry.jobs();
    let manual = jobs
        .trigger(sync, Operation::Sync, TriggerCause::Manual)
        .await?;
    assert_eq!(manual, Triggered::Coalesced(job));
    let third = one_claim(registry, "w").await?;
    assert_eq!(third.attempt(), 3);
    assert!(third.is_manual());
    let ok = jobs.finish(&third, RunOutcome::succeeded()).await?;
    assert_eq!(ok.status.sync_status, Some(RunStatus::Succeeded));
    assert_eq!(ok.status.last_sync_message, None);
    assert!(ok.status.last_synced_at.is_some());
    assert_eq!(
        (ok.backoff_until, ok.retry_queued, ok.pending),
        (None, false, false)
    );
    Ok(())
}

/// A failure that retrying cannot fix is not retried; the next trigger still backs off.
async fn unfixable_failure_not_retried(registry: &SyncRegistry, sync: SyncId) -> Result<()> {
    let jobs = registry.jobs();
    jobs.trigger(sync, Operation::Sync, TriggerCause::Webhook)
        .await?;
    let claim = one_claim(registry, "w").await?;
    assert_eq!(claim.cause(), TriggerCause::Webhook);
    let refused = Error::new(ErrorKind::Unauthenticated, "Checkly answered 401");
    let done = jobs
        .finish(&claim, RunOutcome::from_error(&refused))
        .await?;
    assert!(!done.retry_queued && !done.pending && done.backoff_until.is_some());
    jobs.trigger(sync, Operation::Sync, TriggerCause::SourceChange)
        .await?;
    assert!(
        jobs.claim("w", LEASE, 10).await?.is_empty(),
        "backing off after the failure"
    );
    Ok(())
}

#[tokio::test]
async fn a_failure_backs_off_exponentially_and_a_success_resets_it() -> Result<()> {
    let db = db!("registry::jobs::a_failure_backs_off_exponentially_and_a_success_resets_it");
    let registry = registry(&db).await?; // backoff 400 ms, doubling, at most 2 s
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", true).await?;
    let claim = one_claim(&registry, "w").await?;
    let wait = failed_and_backing_off(&registry, &claim).await?;
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    retried_and_doubled(&registry, &claim).await?;
    manual_success_resets(&registry, sync.id, claim.job_id()).await?;
    unfixable_failure_not_retried(&registry, sync.id).await?;
    let runs = registry.jobs().runs(sync.id, 10).await?;
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0].cause, TriggerCause::Webhook);
    assert_eq!(runs[0].state, RunState::Failed);
    assert_eq!(runs[1].state, RunState::Succeeded);
    db.finish().await
}

#[tokio::test]
async fn a_disabled_sync_is_never_claimed() -> Result<()> {
    let db = db!("registry::jobs::a_disabled_sync_is_never_claimed");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", true).await?;
    registry
        .syncs()
        .update(sync.id, SyncPatch::new().enabled(false))
        .await?;
    assert!(
        registry.jobs().claim("w", LEASE, 10).await?.is_empty(),
        "disabled: kept pending"
    );
    assert_eq!(
        registry
            .jobs()
            .trigger(sync.id, Operation::Sync, TriggerCause::Manual)
            .await?,
        Triggered::Skipped(SkipReason::Disabled)
    );
    assert_eq!(registry.jobs().next_due().await?, None);
    let body = format!(
        r#"{{"name": "off", "connectionId": "{}", "environment": "dev", "secretPath": "/",
            "isEnabled": false, "isAutoSyncEnabled": true, "destinationConfig": {{}}}}"#,
        conn.id
    );
    let off = registry.syncs().create("memory", &body).await?;
    assert_eq!(
        off.status.sync_status, None,
        "created disabled: nothing queued"
    );
    assert!(registry.jobs().claim("w", LEASE, 10).await?.is_empty());
    registry
        .syncs()
        .update(sync.id, SyncPatch::new().enabled(true))
        .await?;
    let claim = one_claim(&registry, "w").await?;
    assert_eq!(claim.sync_id(), sync.id);
    db.finish().await
}

#[tokio::test]
async fn a_trigger_during_a_run_waits_for_it() -> Result<()> {
    let db = db!("registry::jobs::a_trigger_during_a_run_waits_for_it");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", true).await?;
    let claim = one_claim(&registry, "w1").await?;
    let next = registry
        .jobs()
        .trigger(sync.id, Operation::Sync, TriggerCause::SourceChange)
        .await?;
    let Triggered::Queued(j2) = next else {
        return Err(Error::unexpected(format!("{next:?}")));
    };
    assert_ne!(j2, claim.job_id());
    assert!(
        registry.jobs().claim("w2", LEASE, 10).await?.is_empty(),
        "one run at a time"
    );
    let done = registry
        .jobs()
        .finish(&claim, RunOutcome::failed("key API_KEY failed"))
        .await?;
    assert!(done.pending && !done.retry_queued);
    assert_eq!(done.status.sync_status, Some(RunStatus::Pending));
    assert_eq!(done.status.last_sync_job_id, Some(j2.to_string()));
    assert_eq!(
        done.status.last_sync_message.as_deref(),
        Some("key API_KEY failed")
    );
    tokio::time::sleep(Duration::from_millis(450)).await; // the failure's backoff
    let after = one_claim(&registry, "w2").await?;
    assert_eq!(
        (after.job_id(), after.cause()),
        (j2, TriggerCause::SourceChange)
    );
    db.finish().await
}

#[tokio::test]
async fn release_gives_the_job_back_untouched() -> Result<()> {
    let db = db!("registry::jobs::release_gives_the_job_back_untouched");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", false).await?;
    let j = job(registry
        .jobs()
        .trigger(sync.id, Operation::Sync, TriggerCause::Manual)
        .await?)?;
    let claim = one_claim(&registry, "w1").await?;
    registry.jobs().release(&claim).await?;
    let status = registry.syncs().get(sync.id).await?.status;
    assert_eq!(status.sync_status, Some(RunStatus::Pending));
    assert_eq!(status.last_sync_job_id, Some(j.to_string()));
    assert!(
        registry.jobs().runs(sync.id, 10).await?.is_empty(),
        "no trace of the run"
    );
    let again = one_claim(&registry, "w2").await?;
    assert_eq!(
        (again.job_id(), again.attempt(), again.is_manual()),
        (j, 1, true)
    );
    let err = registry
        .jobs()
        .heartbeat(&claim)
        .await
        .expect_err("released");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    db.finish().await
}

#[tokio::test]
async fn the_history_keeps_the_newest_runs_with_their_counts() -> Result<()> {
    let db = db!("registry::jobs::the_history_keeps_the_newest_runs_with_their_counts");
    let registry = builder(&db).await?.history(3).build()?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", false).await?;
    for i in 0..5 {
        registry
            .jobs()
            .trigger(sync.id, Operation::Sync, TriggerCause::Manual)
            .await?;
        let claim = one_claim(&registry, "w").await?;
        let counts = kms_sync_core::Counts {
            created: i,
            ..Default::default()
        };
        let requests = kms_sync_core::RequestStats {
            put: i as u64,
            ..Default::default()
        };
        registry
            .jobs()
            .finish(
                &claim,
                RunOutcome::succeeded()
                    .with_counts(counts)
                    .with_requests(requests),
            )
            .await?;
    }
    let runs = registry.jobs().runs(sync.id, 10).await?;
    let created: Vec<usize> = runs.iter().map(|r| r.counts.created).collect();
    assert_eq!(created, [4, 3, 2], "the newest three, newest first");
    assert_eq!(runs[0].requests.put, 4);
    assert!(runs
        .iter()
        .all(|r| r.finished_at.is_some() && r.worker == "w"));
    db.finish().await
}

#[tokio::test]
async fn a_trigger_notifies_the_schema_channel() -> Result<()> {
    let db = db!("registry::jobs::a_trigger_notifies_the_schema_channel");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", false).await?;
    let config: tokio_postgres::Config = db.url().parse().map_err(fail)?;
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.map_err(fail)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.channel().to_owned());
            }
        }
    });
    client
        .batch_execute(&registry.listen_statement())
        .await
        .map_err(fail)?;
    registry
        .jobs()
        .trigger(sync.id, Operation::Sync, TriggerCause::Manual)
        .await?;
    let channel = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .map_err(fail)?
        .ok_or_else(|| Error::unexpected("no notification"))?;
    assert_eq!(channel, registry.notify_channel());
    assert_eq!(channel, db.schema());
    db.finish().await
}
