//! Scope locks across pools (as across processes): waiting, timing out naming the holder,
//! other scopes free, release on drop, and release when the holder's connection dies.

use std::time::{Duration, Instant};

use kms_sync_core::*;
use kms_sync_fleet::{LockHolder, PostgresScopeLocks};

use crate::support::TestDb;

/// A scope name no other test (or run) uses: locks are database-wide.
fn scope(name: &str) -> String {
    format!("test:{name}:{:016x}", fastrand::u64(..))
}

async fn two_workers(db: &TestDb) -> Result<(PostgresScopeLocks, PostgresScopeLocks)> {
    Ok((
        PostgresScopeLocks::new(db.pool_named("kms-sync worker-a").await?),
        PostgresScopeLocks::new(db.pool_named("kms-sync worker-b").await?),
    ))
}

/// Who holds `scope`, as `locks` sees it; an error when nobody does.
async fn holder_of(locks: &PostgresScopeLocks, scope: &str) -> Result<LockHolder> {
    locks
        .holder(scope)
        .await?
        .ok_or_else(|| Error::unexpected("no holder"))
}

#[tokio::test]
async fn the_same_scope_waits_then_times_out_naming_the_holder() -> Result<()> {
    let db = db!("locks::the_same_scope_waits_then_times_out_naming_the_holder");
    let (a, b) = two_workers(&db).await?;
    let group = scope("group");
    let _held = a.lock(&group, Duration::from_secs(5)).await?;
    let holder = holder_of(&b, &group).await?;
    assert_eq!(holder.application_name, "kms-sync worker-a");
    for wait in [Duration::from_millis(500), Duration::ZERO] {
        let started = Instant::now();
        let err = b.lock(&group, wait).await.expect_err("held by a");
        let waited = started.elapsed();
        // Most of the wait is spent waiting, and the answer comes within it.
        assert!(waited >= wait * 8 / 10, "gave up early: {waited:?}");
        assert!(
            waited <= wait + Duration::from_millis(200),
            "late: {waited:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        let text = err.to_string();
        for part in [group.as_str(), "kms-sync worker-a", &holder.pid.to_string()] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }
    db.finish().await
}

#[tokio::test]
async fn different_scopes_do_not_wait() -> Result<()> {
    let db = db!("locks::different_scopes_do_not_wait");
    let (a, b) = two_workers(&db).await?;
    let _one = a.lock(&scope("one"), Duration::from_secs(5)).await?;
    let _two = b.lock(&scope("two"), Duration::ZERO).await?;
    let _three = a.lock(&scope("three"), Duration::ZERO).await?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_guard_hands_the_lock_to_the_waiter() -> Result<()> {
    let db = db!("locks::a_dropped_guard_hands_the_lock_to_the_waiter");
    let (a, b) = two_workers(&db).await?;
    let group = scope("group");
    let held = a.lock(&group, Duration::from_secs(5)).await?;
    let started = Instant::now();
    let waiter = {
        let group = group.clone();
        tokio::spawn(async move { b.lock(&group, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter must wait while a holds it"
    );
    drop(held);
    let taken = waiter.await.map_err(crate::support::fail)?;
    assert!(taken.is_ok(), "{taken:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "granted on release, not at the timeout: {waited:?}"
    );
    db.finish().await
}

#[tokio::test]
async fn a_dead_holders_lock_is_released_by_the_server() -> Result<()> {
    let db = db!("locks::a_dead_holders_lock_is_released_by_the_server");
    let (a, b) = two_workers(&db).await?;
    let group = scope("group");
    let _held_by_the_dead = a.lock(&group, Duration::from_secs(5)).await?;
    let holder = holder_of(&b, &group).await?;
    // The holder's process dies: its connection ends without unlocking.
    db.admin()
        .await?
        .execute("SELECT pg_terminate_backend($1)", &[&holder.pid])
        .await
        .map_err(crate::support::fail)?;
    let taken = b.lock(&group, Duration::from_secs(5)).await;
    assert!(taken.is_ok(), "{taken:?}");
    db.finish().await
}

#[tokio::test]
async fn locks_exclude_across_schemas_of_one_database() -> Result<()> {
    let db = db!("locks::locks_exclude_across_schemas_of_one_database");
    let other = db!("locks::locks_exclude_across_schemas_of_one_database");
    let a = PostgresScopeLocks::new(db.pool().await?);
    let b = PostgresScopeLocks::new(other.pool().await?);
    let group = scope("group");
    let _held = a.lock(&group, Duration::from_secs(5)).await?;
    let err = b
        .lock(&group, Duration::ZERO)
        .await
        .expect_err("one group, one holder");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    other.finish().await?;
    db.finish().await
}

#[test]
fn a_guard_drops_without_blocking_even_outside_a_runtime() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::support::fail)?;
    let taken = runtime.block_on(async {
        let test = "locks::a_guard_drops_without_blocking_even_outside_a_runtime";
        let Some(db) = crate::support::database(test).await else {
            return Ok(None);
        };
        let locks = PostgresScopeLocks::new(db.pool().await?);
        let group = scope("group");
        let guard = locks.lock(&group, Duration::from_secs(5)).await?;
        Ok::<_, Error>(Some((db, locks, group, guard)))
    })?;
    let Some((db, locks, group, guard)) = taken else {
        return Ok(());
    };
    let started = Instant::now();
    drop(guard); // no runtime is running here
    assert!(started.elapsed() < Duration::from_millis(100));
    runtime.block_on(async {
        locks.lock(&group, Duration::from_secs(5)).await?;
        db.finish().await
    })
}
