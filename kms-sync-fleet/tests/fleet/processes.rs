//! Two syncers in separate OS processes, each with its own key schema, on one Checkly check
//! group, with PostgreSQL scope locks: no write is ever lost.
//!
//! A check group's variables are written whole and its secret values cannot be read back,
//! so a group holding one sync's secrets refuses the other sync (Unsupported, nothing
//! written). Each process therefore, round after round, syncs and — when that succeeded —
//! removes what it wrote, handing the group to the other. What is checked: every sync
//! either succeeded or was refused without writing, and every successful sync's keys were
//! all still there for its remove to delete. Without a lock shared by the processes, both
//! can list the empty group and both PUT: the first's keys are silently gone (both exit 0),
//! and its remove finds fewer keys than it wrote.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID, FAKE_API_KEY};
use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
use kms_sync_core::*;
use kms_sync_fleet::{PgPool, PostgresScopeLocks, PostgresStateStore};

use crate::support::{fail, fingerprinter};

const TEST: &str = "processes::two_processes_on_one_checkly_group_lose_no_writes";
const ROUNDS: usize = 20;
const GROUP: &str = "Fleet checks";
/// Each child's outcome lines start so.
const OUTCOME: &str = "kms-sync-outcome:";

const SIDE: &str = "KMS_SYNC_PG_CHILD_SIDE";
const FAKE_URL: &str = "KMS_SYNC_PG_CHILD_FAKE_URL";
const DB_URL: &str = "KMS_SYNC_PG_CHILD_DB_URL";
const SCHEMA: &str = "KMS_SYNC_PG_CHILD_SCHEMA";
const START_AT: &str = "KMS_SYNC_PG_CHILD_START_AT_MS";

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::config(format!("the child needs {name}")))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn child_syncer(side: &str, source: Arc<StaticSource>) -> Result<Syncer> {
    let config = kms_sync_fleet::PostgresConfig::builder()
        .url(env(DB_URL)?)
        .schema(env(SCHEMA)?)
        .application_name(format!("kms-sync child-{side}"))
        .build()?;
    let pool = PgPool::connect(config).await?;
    let destination = ChecklyDestination::builder(
        ChecklyConnection::new(FAKE_API_KEY)?,
        ChecklyConfig::account(ACCOUNT_ID).with_group_name(GROUP),
    )
    .settings(kms_sync_testkit::fake_client_settings(env(FAKE_URL)?))
    .build()?;
    Syncer::builder()
        .id(format!("checkly-{side}"))
        .source(source)
        .destination(Arc::new(destination))
        .key_schema_template(format!("{}_{{{{secretKey}}}}", side.to_uppercase()))
        .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()))
        .state(
            Arc::new(PostgresStateStore::new(pool.clone())),
            fingerprinter()?,
        )
        .scope_locks(Arc::new(PostgresScopeLocks::new(pool)))
        .build()
}

/// One round's sync: `Ok(true)` synced and removed whole, `Ok(false)` refused.
async fn round(side: &str, syncer: &Syncer, keys: usize) -> Result<bool> {
    let synced = syncer.sync().await?;
    if !synced.is_success() {
        let refused = synced.keys.iter().all(|k| {
            k.status != KeyStatus::Failed
                || k.error.as_ref().map(Error::kind) == Some(ErrorKind::Unsupported)
        });
        if !refused || synced.requests.writes() != 0 {
            return Err(Error::unexpected(format!(
                "{side}: neither synced nor refused: {synced}"
            )));
        }
        return Ok(false);
    }
    let removed = syncer.remove().await?;
    if !removed.is_success() || removed.counts.deleted != keys {
        return Err(Error::unexpected(format!(
            "{side}: LOST WRITES — the sync wrote {keys} keys, its remove found {}: {synced}\n{removed}",
            removed.counts.deleted
        )));
    }
    Ok(true)
}

async fn child(side: &str) -> Result<()> {
    let source = Arc::new(StaticSource::new(SecretSet::new("prod")));
    let syncer = child_syncer(side, source.clone()).await?;
    let start: u64 = env(START_AT)?.parse().map_err(fail)?;
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(now_ms()))).await;
    for n in 0..ROUNDS {
        source.set(format!("K{n}"), format!("{side}-{n}"))?;
        source.set("SHARED", format!("{side}-shared-{n}"))?;
        if n >= 2 {
            source.remove(&format!("K{}", n - 2))?;
        }
        let keys = source.load().await?.len();
        let outcome = match round(side, &syncer, keys).await? {
            true => "synced",
            false => "refused",
        };
        println!("{OUTCOME} {side} {n} {outcome}");
    }
    Ok(())
}

fn spawn(
    side: &str,
    fake_url: &str,
    db: &crate::support::TestDb,
    start: u64,
) -> Result<std::process::Child> {
    let exe = std::env::current_exe().map_err(fail)?;
    Command::new(exe)
        .args(["--exact", TEST, "--nocapture"])
        .env(SIDE, side)
        .env(FAKE_URL, fake_url)
        .env(DB_URL, db.url())
        .env(SCHEMA, db.schema())
        .env(START_AT, start.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(fail)
}

/// The outcomes a child printed, after checking it succeeded.
fn outcomes(side: &str, output: std::process::Output) -> Result<Vec<String>> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the {side} process failed:\n{stdout}"
    );
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(OUTCOME))
        .map(|l| l.trim().to_owned())
        .collect();
    assert_eq!(lines.len(), ROUNDS, "{side}:\n{stdout}");
    Ok(lines)
}

async fn parent() -> Result<()> {
    let db = db!(TEST);
    let fake = FakeChecklyServer::start().await;
    fake.add_group("Other checks");
    let group = fake.add_group(GROUP);
    let foreign =
        serde_json::json!({"key": "FOREIGN", "value": "theirs", "locked": true, "secret": false});
    fake.seed_group_variable(group, foreign.clone());
    let start = now_ms() + 2_000;
    let children = ["left", "right"]
        .iter()
        .map(|side| spawn(side, &fake.base_url(), &db, start).map(|c| (*side, c)))
        .collect::<Result<Vec<_>>>()?;
    let mut outputs = Vec::new();
    for (side, child) in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .map_err(fail)?
            .map_err(fail)?;
        outputs.push((side, output));
    }
    let mut synced = Vec::new();
    for (side, output) in outputs {
        let lines = outcomes(side, output)?;
        synced.push(lines.iter().filter(|l| l.ends_with("synced")).count());
    }
    println!("rounds in which each process had the group (of {ROUNDS}): {synced:?}");
    assert!(
        synced.iter().all(|&n| n > 0),
        "each process should have had the group at least once: {synced:?}"
    );
    assert_eq!(
        fake.group_variables(group),
        vec![foreign],
        "everything removed, the foreign entry untouched"
    );
    db.finish().await
}

#[test]
fn two_processes_on_one_checkly_group_lose_no_writes() -> Result<()> {
    crate::support::parent_or_child(SIDE, parent, |side| async move { child(&side).await })
}
