//! Workers in one process, each on its own pool: exactly-once runs, no overlap, shutdown,
//! failures and backoff, source polling, metrics.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{Error, ErrorKind, Operation, Result, RunStatus};
use kms_sync_fleet::metrics::{
    RATE_LIMITED, REQUESTS, ROUND_READS, RUNS, RUN_DURATION, SOURCE_READS,
};
use kms_sync_fleet::{JobId, SourceKey, SyncId, SyncRegistry, TriggerCause, WorkerSummary};

use super::{
    fleet, given, many_syncs, quiescent, recorder, slow_sync, status_reached, succeeded_runs, sync,
    trigger_round, worker, Running, Sources, TrackedFactory,
};
use crate::support::TestDb;

const SYNCS: usize = 200;
const SOURCES: usize = 20;
const ROUNDS: usize = 3;

/// Three rounds of triggers for every sync, fired while the workers run: a trigger joins a
/// pending job, or waits for the run in progress. The jobs each sync was given.
async fn trigger_rounds(
    registry: &SyncRegistry,
    ids: &[SyncId],
) -> Result<HashMap<SyncId, HashSet<JobId>>> {
    let mut jobs: HashMap<SyncId, HashSet<JobId>> = HashMap::new();
    for round in 0..ROUNDS {
        assert_eq!(trigger_round(registry, ids, &mut jobs).await?, SYNCS);
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    Ok(jobs)
}

/// Sync `s<i>`'s runs at its destination: `want` of them, never two at once.
fn ran_alone_at_the_destination(tracked: &TrackedFactory, i: usize, want: usize) {
    let stats = tracked.stats(&format!("s{i}"));
    assert_eq!(
        stats.runs.load(Ordering::SeqCst),
        want,
        "s{i}: runs at the destination"
    );
    let mut intervals = stats
        .intervals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    intervals.sort();
    for pair in intervals.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "s{i}: two runs overlapped: {pair:?}"
        );
    }
}

/// Every job each sync was given ran exactly once, alone, and left its source's value.
async fn every_job_ran_once_alone(
    db: &TestDb,
    tracked: &TrackedFactory,
    ids: &[SyncId],
    jobs: &HashMap<SyncId, HashSet<JobId>>,
) -> Result<()> {
    let mut ran = succeeded_runs(db).await?;
    for (i, id) in ids.iter().enumerate() {
        let runs = ran.remove(id).unwrap_or_default();
        let want = given(jobs, id);
        assert_eq!(
            runs, want,
            "sync s{i}: every job it was given ran exactly once"
        );
        ran_alone_at_the_destination(tracked, i, want.len());
        let value = tracked.destination(&format!("s{i}")).value("VALUE")?;
        assert_eq!(
            value.map(|v| v.expose_secret().to_owned()),
            Some(format!("dev:/p{}:0", i % SOURCES))
        );
    }
    assert_eq!(
        tracked.overlaps(),
        0,
        "no sync ever ran twice at the same time"
    );
    Ok(())
}

/// The four workers' summaries and metrics count `expected` successful runs, shared.
fn counted_by_every_worker(summaries: &[WorkerSummary], expected: usize) {
    let succeeded: u64 = summaries.iter().map(|s| s.succeeded).sum();
    assert_eq!(succeeded as usize, expected);
    assert!(
        summaries.iter().all(|s| s.lost == 0 && s.failed == 0),
        "{summaries:?}"
    );
    let busy = summaries.iter().filter(|s| s.claimed > 0).count();
    assert!(busy >= 2, "the work was shared: {summaries:?}");
    let metrics = recorder();
    let counted: u64 = (0..4)
        .map(|w| {
            metrics.counter(
                RUNS,
                &format!("operation=sync,outcome=succeeded,worker=exact-w{w}"),
            )
        })
        .sum();
    assert_eq!(counted as usize, expected, "runs counted by outcome");
    let durations: usize = (0..4)
        .map(|w| {
            metrics
                .samples(RUN_DURATION, &format!("operation=sync,worker=exact-w{w}"))
                .len()
        })
        .sum();
    assert_eq!(durations, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_run_every_trigger_exactly_once_and_never_overlap() -> Result<()> {
    let db = db!("fleet::workers::four_workers_run_every_trigger_exactly_once_and_never_overlap");
    recorder();
    let (tracked, registry, conn) = fleet(&db).await?;
    let ids = many_syncs(&registry, &conn, SYNCS, SOURCES, r#", "listDelayMs": 2"#).await?;
    let sources = Arc::new(Sources::default());
    let mut workers = Vec::new();
    for w in 0..4 {
        let own = super::registry(&db, &tracked).await?; // a pool of its own
        workers.push(worker(own, sources.clone(), &format!("exact-w{w}")).build()?);
    }
    let running = Running::start(workers);
    let started = Instant::now();
    let jobs = trigger_rounds(&registry, &ids).await?;
    quiescent(&db, Duration::from_secs(90)).await?;
    let elapsed = started.elapsed();
    let summaries = running.stop().await?;

    let expected: usize = jobs.values().map(HashSet::len).sum();
    every_job_ran_once_alone(&db, &tracked, &ids, &jobs).await?;
    counted_by_every_worker(&summaries, expected);
    println!(
        "{expected} runs of {SYNCS} syncs over 4 workers in {:.2} s ({:.0} runs/s); claims per worker: {:?}",
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64(),
        summaries.iter().map(|s| s.claimed).collect::<Vec<_>>()
    );
    assert!(
        sources.asked.load(Ordering::SeqCst) <= 4 * SOURCES,
        "each worker builds each source once"
    );
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_a_running_sync_and_another_worker_runs_it() -> Result<()> {
    let db = db!("fleet::workers::shutdown_releases_a_running_sync_and_another_worker_runs_it");
    let (tracked, registry, conn) = fleet(&db).await?;
    let slow = slow_sync(&registry, &conn, "slow", "p", 3000).await?;
    let sources = Arc::new(Sources::default());
    let w1 = worker(registry.clone(), sources.clone(), "release-w1")
        .shutdown_grace(Duration::from_millis(200))
        .build()?;
    let running = Running::start(vec![w1]);
    let job = registry
        .jobs()
        .trigger(slow.id, Operation::Sync, TriggerCause::Manual)
        .await?
        .job_id()
        .ok_or_else(|| Error::unexpected("not queued"))?;
    status_reached(&registry, slow.id, RunStatus::Running).await?;
    let summary = running.stop().await?;
    assert_eq!(summary[0].released, 1, "{summary:?}");
    let status = registry.syncs().get(slow.id).await?.status;
    assert_eq!(
        status.sync_status,
        Some(RunStatus::Pending),
        "given back, pending again"
    );
    assert_eq!(
        status.last_sync_job_id,
        Some(job.to_string()),
        "the same job"
    );
    assert!(
        registry.jobs().runs(slow.id, 10).await?.is_empty(),
        "the released run is forgotten"
    );

    // Another worker picks it up at once, and this one finishes within its grace.
    let w2 = worker(registry.clone(), sources, "release-w2")
        .shutdown_grace(Duration::from_secs(20))
        .build()?;
    let running = Running::start(vec![w2]);
    status_reached(&registry, slow.id, RunStatus::Running).await?;
    let summary = running.stop().await?;
    assert_eq!(
        (summary[0].succeeded, summary[0].released),
        (1, 0),
        "{summary:?}"
    );
    let runs = registry.jobs().runs(slow.id, 10).await?;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].job_id, job);
    assert_eq!(runs[0].worker, "release-w2");
    assert_eq!(tracked.overlaps(), 0);
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sync_backs_off_says_why_and_recovers() -> Result<()> {
    let db = db!("fleet::workers::a_failing_sync_backs_off_says_why_and_recovers");
    let metrics = recorder();
    let (tracked, registry, conn) = fleet(&db).await?;
    let bad = sync(&registry, &conn, "bad", "p", false, "").await?;
    tracked
        .destination("bad")
        // A 429 the retries did not outlast: counted as rate limited, retried after the backoff.
        .fail_writes_to("VALUE", ErrorKind::RateLimited)?;
    let sources = Arc::new(Sources::default());
    let running = Running::start(vec![
        worker(registry.clone(), sources, "failing-w1").build()?
    ]);
    registry
        .jobs()
        .trigger(bad.id, Operation::Sync, TriggerCause::Manual)
        .await?;
    let until = Instant::now() + Duration::from_secs(20);
    let failed_runs = loop {
        let runs = registry.jobs().runs(bad.id, 10).await?;
        let failed = runs
            .iter()
            .filter(|r| r.state == kms_sync_fleet::RunState::Failed)
            .count();
        if failed >= 2 {
            break runs;
        }
        if Instant::now() > until {
            return Err(Error::unexpected(format!("no retries: {runs:?}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = registry.syncs().get(bad.id).await?.status;
    let message = status.last_sync_message.clone().unwrap_or_default();
    assert!(
        message.contains("VALUE"),
        "the reason names the key: {status:?}"
    );
    assert!(!message.contains("dev:/p"), "never the value: {message}");
    let (first, second) = (
        &failed_runs[failed_runs.len() - 1],
        &failed_runs[failed_runs.len() - 2],
    );
    assert_eq!(first.job_id, second.job_id, "the retry is the same job");
    assert!(second.attempt > first.attempt);
    // Backoff: the second attempt started at least the base (300 ms) after the first ended.
    let gap = second
        .started_at
        .duration_since(first.finished_at.unwrap_or(first.started_at))
        .unwrap_or_default();
    assert!(gap >= Duration::from_millis(250), "backed off {gap:?}");
    tracked.destination("bad").clear_failures()?;
    status_reached(&registry, bad.id, RunStatus::Succeeded).await?;
    let summary = running.stop().await?;
    assert!(
        summary[0].failed >= 2 && summary[0].succeeded >= 1,
        "{summary:?}"
    );
    assert!(metrics.counter(RUNS, "operation=sync,outcome=failed,worker=failing-w1") >= 2);
    assert!(
        metrics.counter(RATE_LIMITED, "worker=failing-w1") >= 2,
        "429s counted from the reports"
    );
    assert!(
        metrics.counter(REQUESTS, "method=PUT,worker=failing-w1")
            + metrics.counter(REQUESTS, "method=POST,worker=failing-w1")
            >= 1,
        "the destination's requests are counted"
    );
    db.finish().await
}

/// Waits (up to 20 s) until the change to `/p0` reached every auto-sync sync reading it.
async fn changed_everywhere(tracked: &TrackedFactory) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let done = (0..24).step_by(4).all(|i| {
            tracked
                .destination(&format!("a{i}"))
                .value("VALUE")
                .ok()
                .flatten()
                .is_some_and(|v| v.expose_secret() == "changed")
        });
        if done {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(Error::unexpected("the change never reached the syncs"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The three pollers read each of the four sources once per round, and `reads` (the
/// sources' revision reads since the change) only in rounds.
fn one_read_per_source_per_round(reads: usize) {
    let metrics = recorder();
    let rounds: Vec<f64> = (0..3)
        .flat_map(|w| metrics.samples(ROUND_READS, &format!("worker=poll-w{w}")))
        .collect();
    assert!(!rounds.is_empty());
    assert!(
        rounds.iter().all(|&r| r == 4.0),
        "one read per distinct source per round: {rounds:?}"
    );
    let counted: u64 = (0..3)
        .map(|w| metrics.counter(SOURCE_READS, &format!("worker=poll-w{w}")))
        .sum();
    assert_eq!(counted as usize, 4 * rounds.len());
    assert!(reads <= counted as usize, "reads only in rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_changes_reach_auto_sync_syncs_through_shared_poll_rounds() -> Result<()> {
    let db = db!("fleet::workers::source_changes_reach_auto_sync_syncs_through_shared_poll_rounds");
    recorder();
    let (tracked, registry, conn) = fleet(&db).await?;
    // 24 auto-sync syncs on 4 sources, and one manual-only sync on source p0.
    for i in 0..24 {
        sync(
            &registry,
            &conn,
            &format!("a{i}"),
            &format!("p{}", i % 4),
            true,
            "",
        )
        .await?;
    }
    let manual = sync(&registry, &conn, "manual", "p0", false, "").await?;
    let sources = Arc::new(Sources::default());
    let mut workers = Vec::new();
    for w in 0..3 {
        let own = super::registry(&db, &tracked).await?;
        workers.push(
            worker(own, sources.clone(), &format!("poll-w{w}"))
                .source_poll(Some(Duration::from_millis(300)))
                .build()?,
        );
    }
    let running = Running::start(workers);
    quiescent(&db, Duration::from_secs(30)).await?;
    let p0 = sources.get(&SourceKey::new(Some("p1"), "dev", "/p0"));
    let reads_before = sources.revisions();
    let changed_at = Instant::now();
    p0.inner.set("VALUE", "changed")?;
    changed_everywhere(&tracked).await?;
    println!(
        "source change to every destination: {:?}",
        changed_at.elapsed()
    );
    quiescent(&db, Duration::from_secs(30)).await?;
    let _ = running.stop().await?;
    let untouched = tracked.destination("a1").value("VALUE")?;
    assert_eq!(
        untouched.map(|v| v.expose_secret().to_owned()).as_deref(),
        Some("dev:/p1:0")
    );
    assert!(
        registry.jobs().runs(manual.id, 10).await?.is_empty(),
        "auto-sync off: not triggered"
    );
    one_read_per_source_per_round(sources.revisions() - reads_before);
    db.finish().await
}
