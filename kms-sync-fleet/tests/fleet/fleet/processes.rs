//! Workers in separate OS processes (this test binary run again as children), one set of
//! syncs: every trigger runs exactly once, and no sync's runs overlap in time across the
//! processes (each child reports when each of its runs began and ended, by the wall clock
//! all processes on this machine share).

use std::collections::{HashMap, HashSet};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::{Error, Result};
use kms_sync_fleet::{JobId, PgPool, PostgresConfig, SyncId, SyncRegistry};

use super::{
    destinations, fleet, given, many_syncs, quiescent, succeeded_runs, trigger_round, worker,
    Sources, TrackedFactory,
};
use crate::support::{fail, TestDb};

const TEST: &str = "fleet::processes::workers_in_separate_processes_run_each_trigger_once";
const CHILDREN: usize = 3;
const SYNCS: usize = 120;
const ROUNDS: usize = 2;

const WORKER: &str = "KMS_SYNC_FLEET_CHILD_WORKER";
const DB_URL: &str = "KMS_SYNC_FLEET_CHILD_DB_URL";
const SCHEMA: &str = "KMS_SYNC_FLEET_CHILD_SCHEMA";
const STOP: &str = "KMS_SYNC_FLEET_CHILD_STOP_FILE";
const INTERVAL: &str = "fleet-interval:";
const SUMMARY: &str = "fleet-summary:";

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::config(format!("the child needs {name}")))
}

async fn child(id: &str) -> Result<()> {
    let config = PostgresConfig::builder()
        .url(env(DB_URL)?)
        .schema(env(SCHEMA)?)
        .pool_size(4)
        .application_name(format!("kms-sync {id}"))
        .build()?;
    let tracked = TrackedFactory::default();
    let registry = SyncRegistry::builder(PgPool::connect(config).await?, destinations(&tracked))
        .key_ring(kms_sync_fleet::KeyRing::new("k1", [0x5a; 32])?)
        .build()?;
    let stop = std::path::PathBuf::from(env(STOP)?);
    let w = worker(registry, Arc::new(Sources::default()), id).build()?;
    let summary = w
        .run_until(async move {
            while !stop.exists() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await?;
    for n in 0..SYNCS {
        let target = format!("s{n}");
        let stats = tracked.stats(&target);
        let intervals = stats
            .intervals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (start, end) in intervals {
            println!("{INTERVAL} {target} {start} {end}");
        }
    }
    println!(
        "{SUMMARY} {} {}",
        summary.succeeded,
        summary.lost + summary.failed
    );
    Ok(())
}

fn spawn(id: &str, db: &TestDb, stop: &std::path::Path) -> Result<std::process::Child> {
    Command::new(std::env::current_exe().map_err(fail)?)
        .args(["--exact", TEST, "--nocapture"])
        .env(WORKER, id)
        .env(DB_URL, db.url())
        .env(SCHEMA, db.schema())
        .env(STOP, stop)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(fail)
}

/// Creates the stop file, waits for every child to end; their outputs.
async fn stop_children(
    children: Vec<std::process::Child>,
    stop: &std::path::Path,
) -> Result<Vec<Output>> {
    std::fs::write(stop, b"stop").map_err(fail)?;
    let mut outputs = Vec::new();
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .map_err(fail)?
            .map_err(fail)?;
        outputs.push(output);
    }
    let _ = std::fs::remove_file(stop);
    Ok(outputs)
}

/// Each target's runs as `(start, end, child)`, across every child.
type Spans = HashMap<String, Vec<(u64, u64, usize)>>;

/// What the children reported: every run's span, and each child's successful runs (each
/// child checked to have succeeded, with no lost or failed run).
fn reports(outputs: &[Output]) -> Result<(Spans, Vec<u64>)> {
    let mut intervals = Spans::new();
    let mut succeeded = Vec::new();
    for (c, output) in outputs.iter().enumerate() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child {c} failed:\n{stdout}");
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix(INTERVAL) {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let [target, start, end] = parts.as_slice() else {
                    continue;
                };
                let (start, end) = (start.parse().map_err(fail)?, end.parse().map_err(fail)?);
                intervals
                    .entry((*target).to_owned())
                    .or_default()
                    .push((start, end, c));
            } else if let Some(rest) = line.strip_prefix(SUMMARY) {
                let parts: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                assert_eq!(parts.get(1), Some(&0), "child {c}: no lost or failed run");
                succeeded.push(parts.first().copied().unwrap_or(0));
            }
        }
    }
    Ok((intervals, succeeded))
}

/// No two runs of a target overlapped across processes; how many consecutive runs of a sync
/// were in different processes.
fn never_overlapped(intervals: Spans) -> usize {
    let mut cross = 0;
    for (target, mut spans) in intervals {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "{target}: runs overlapped across processes: {pair:?}"
            );
            cross += usize::from(pair[0].2 != pair[1].2);
        }
    }
    cross
}

async fn parent() -> Result<()> {
    let db = db!(TEST);
    let (_, registry, conn) = fleet(&db).await?;
    let ids = many_syncs(&registry, &conn, SYNCS, 10, r#", "listDelayMs": 3"#).await?;
    let stop = std::env::temp_dir().join(format!("kms-sync-fleet-stop-{}", db.schema()));
    let _ = std::fs::remove_file(&stop);
    let children = (0..CHILDREN)
        .map(|c| spawn(&format!("proc-w{c}"), &db, &stop))
        .collect::<Result<Vec<_>>>()?;
    let mut jobs: HashMap<SyncId, HashSet<JobId>> = HashMap::new();
    for _ in 0..ROUNDS {
        trigger_round(&registry, &ids, &mut jobs).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = quiescent(&db, Duration::from_secs(90)).await;
    let outputs = stop_children(children, &stop).await?;
    waited?;
    let (intervals, succeeded) = reports(&outputs)?;
    let expected: usize = jobs.values().map(HashSet::len).sum();
    assert_eq!(
        succeeded.iter().sum::<u64>() as usize,
        expected,
        "{succeeded:?}"
    );
    assert!(
        succeeded.iter().filter(|&&n| n > 0).count() >= 2,
        "the processes shared the work: {succeeded:?}"
    );
    let cross = never_overlapped(intervals);
    let mut ran = succeeded_runs(&db).await?;
    for id in &ids {
        let got = ran.remove(id).unwrap_or_default();
        assert_eq!(got, given(&jobs, id), "sync {id}: each job exactly once");
    }
    println!(
        "{expected} runs over {CHILDREN} processes: {succeeded:?}; {cross} consecutive runs of a sync in different processes"
    );
    db.finish().await
}

#[test]
fn workers_in_separate_processes_run_each_trigger_once() -> Result<()> {
    crate::support::parent_or_child(WORKER, parent, |id| async move { child(&id).await })
}
