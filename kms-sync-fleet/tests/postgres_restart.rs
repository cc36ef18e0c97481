//! PostgreSQL restarted under running workers: the workers ride it out — claims retry, runs
//! that failed on it are retried after their backoff, heartbeats and finishes retry within
//! the lease, the `LISTEN` connections reconnect — and every sync converges.
//!
//! The server restarted is the test's own ([`OwnServer`]: `initdb` into a temporary
//! directory, its own port), never the machine's cluster. Where the PostgreSQL server
//! binaries are missing the test is skipped, saying so on the terminal, unless `CI=true`,
//! where it fails.

#[path = "fleet/support.rs"]
#[allow(dead_code, unused_macros)]
mod support;

#[path = "fleet/fleet/kit.rs"]
mod kit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{Error, Operation, Result, RunStatus};
use kms_sync_fleet::metrics::DB_ERRORS;
use kms_sync_fleet::testing::OwnServer;
use kms_sync_fleet::TriggerCause;

use kit::{fleet, many_syncs, quiescent, recorder, worker, Running, Sources};
use support::fail;

const TEST: &str = "workers_reconnect_and_every_sync_converges_across_a_postgres_restart";
const SYNCS: usize = 60;

fn skip_or_fail(why: &str) -> Result<()> {
    if std::env::var("CI").as_deref() == Ok("true") {
        return Err(Error::unexpected(format!(
            "CI=true and this test cannot start a PostgreSQL server of its own: {why}"
        )));
    }
    // Straight to the terminal: the test harness captures eprintln!, not this.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "\nSKIPPED (no PostgreSQL server of its own: {why}): kms-sync-fleet {TEST}. \
         Install the PostgreSQL server package (initdb, pg_ctl) to run it."
    );
    Ok(())
}

async fn listening(db: &support::TestDb, names: &[&str]) -> Result<usize> {
    let admin = db.admin().await?;
    let rows = admin
        .query(
            "SELECT application_name FROM pg_stat_activity WHERE query LIKE 'LISTEN %'",
            &[],
        )
        .await
        .map_err(fail)?;
    Ok(rows
        .iter()
        .filter(|r| names.contains(&r.get::<_, String>(0).as_str()))
        .count())
}

#[test]
fn workers_reconnect_and_every_sync_converges_across_a_postgres_restart() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?
        .block_on(run())
}

/// The two workers, each on a pool named after it.
async fn restart_workers(
    db: &support::TestDb,
    tracked: &kit::TrackedFactory,
    sources: &Arc<Sources>,
    names: [&str; 2],
) -> Result<Vec<kms_sync_fleet::Worker>> {
    let mut workers = Vec::new();
    for name in names {
        let pool = support::TestDb::pool_named(db, name).await?;
        let own = kms_sync_fleet::SyncRegistry::builder(pool, kit::destinations(tracked))
            .key_ring(kms_sync_fleet::KeyRing::new("k1", [0x5a; 32])?)
            .backoff(Duration::from_millis(300), Duration::from_secs(2))
            .build()?;
        workers.push(
            worker(own, sources.clone(), name)
                .lease(Duration::from_secs(15))
                .heartbeat(Duration::from_secs(1))
                // Slow on purpose: a quick pick-up after the restart proves LISTEN came back.
                .fallback_poll(Duration::from_secs(60))
                .build()?,
        );
    }
    Ok(workers)
}

/// Waits (up to 30 s) until the run is under way: some syncs done, others running or
/// pending.
async fn mid_run(db: &support::TestDb) -> Result<()> {
    let sql = format!(
        "SELECT count(*) FROM \"{}\".sync_state WHERE sync_status = 'succeeded'",
        db.schema()
    );
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let done: i64 = db
            .admin()
            .await?
            .query_one(&sql, &[])
            .await
            .map_err(fail)?
            .get(0);
        if done >= 6 {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(Error::unexpected("the workers never got going"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every sync succeeded and its destination holds its folder's value.
async fn every_sync_converged(
    registry: &kms_sync_fleet::SyncRegistry,
    tracked: &kit::TrackedFactory,
    ids: &[kms_sync_fleet::SyncId],
) -> Result<()> {
    for (i, id) in ids.iter().enumerate() {
        let status = registry.syncs().get(*id).await?.status;
        assert_eq!(
            status.sync_status,
            Some(RunStatus::Succeeded),
            "s{i}: {status:?}"
        );
        let value = tracked.destination(&format!("s{i}")).value("VALUE")?;
        assert_eq!(
            value.map(|v| v.expose_secret().to_owned()),
            Some(format!("dev:/p{}:0", i % 6)),
            "s{i} converged"
        );
    }
    Ok(())
}

/// Waits (up to 30 s) until every worker of `names` is listening again.
async fn listening_again(db: &support::TestDb, names: &[&str]) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    while listening(db, names).await? < names.len() {
        if Instant::now() > until {
            return Err(Error::unexpected("the LISTEN connections never came back"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn run() -> Result<()> {
    let server = match tokio::task::spawn_blocking(OwnServer::start)
        .await
        .map_err(fail)?
    {
        Ok(server) => server,
        Err(why) => return skip_or_fail(&why),
    };
    let Some(db) =
        kms_sync_fleet::testing::database_at("kms-sync-fleet", TEST, server.url("postgres")).await
    else {
        return skip_or_fail("its server does not answer");
    };
    let metrics = recorder();
    let (tracked, registry, conn) = fleet(&db).await?;
    let extra = r#", "listDelayMs": 50, "writeDelayMs": 100"#;
    let ids = many_syncs(&registry, &conn, SYNCS, 6, extra).await?;
    let sources = Arc::new(Sources::default());
    let names = ["restart-w0", "restart-w1"];
    let running = Running::start(restart_workers(&db, &tracked, &sources, names).await?);
    registry
        .jobs()
        .trigger_many(&ids, Operation::Sync, TriggerCause::Manual)
        .await?;
    mid_run(&db).await?;
    let server = Arc::new(server);
    let restarting = Arc::clone(&server);
    let restart = tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .map_err(fail)?;
    let took = match restart {
        Ok(took) => took,
        Err(why) => {
            running.stop().await?;
            return skip_or_fail(&why);
        }
    };
    println!("PostgreSQL restarted in {took:?} with syncs running");
    quiescent(&db, Duration::from_secs(90)).await?;
    every_sync_converged(&registry, &tracked, &ids).await?;
    // The LISTEN connections are back: a trigger now is picked up at once, not after the
    // 60 s fallback poll.
    listening_again(&db, &names).await?;
    let again = Instant::now();
    registry
        .jobs()
        .trigger_many(&ids, Operation::Sync, TriggerCause::Manual)
        .await?;
    quiescent(&db, Duration::from_secs(30)).await?;
    let picked_up = again.elapsed();
    assert!(
        picked_up < Duration::from_secs(20),
        "woken by LISTEN: {picked_up:?}"
    );
    let summaries = running.stop().await?;
    assert_eq!(
        tracked.overlaps(),
        0,
        "no sync ran twice at once across the restart"
    );
    for name in names {
        assert!(
            metrics.counter(DB_ERRORS, &format!("during=listen,worker={name}")) >= 1,
            "{name} saw its LISTEN connection drop"
        );
    }
    println!(
        "after the restart: every sync converged; a new round took {picked_up:?}; {summaries:?}"
    );
    db.finish().await
}
