//! A syncer keeping its ledger in PostgreSQL.

use std::sync::Arc;

use kms_sync_core::*;
use kms_sync_fleet::PostgresStateStore;

use crate::support::fingerprinter;

/// A new worker (new pool, new store) resyncing hidden values writes nothing: the ledger in
/// PostgreSQL knows what was written.
#[tokio::test]
async fn a_resync_of_hidden_values_from_another_worker_writes_nothing() -> Result<()> {
    let db = db!("syncer::a_resync_of_hidden_values_from_another_worker_writes_nothing");
    let dest = Arc::new(MemoryDestination::builder().readable_values(false).build());
    let source = Arc::new(StaticSource::new(
        SecretSet::new("dev").with("A", "1").with("B", "2"),
    ));
    let build = |store: PostgresStateStore| -> Result<Syncer> {
        Syncer::builder()
            .id("sync-1")
            .source(source.clone())
            .destination(dest.clone())
            .state(Arc::new(store), fingerprinter()?)
            .build()
    };
    let first = build(PostgresStateStore::new(db.pool().await?))?
        .sync()
        .await?;
    assert_eq!(first.counts.created, 2, "{first}");
    let again = build(PostgresStateStore::new(db.pool().await?))?
        .sync()
        .await?;
    assert_eq!(again.requests.writes(), 0, "{again}");
    assert_eq!(again.counts.unchanged, 2, "{again}");
    // A changed value is written again, and only that one.
    source.set("B", "3")?;
    let changed = build(PostgresStateStore::new(db.pool().await?))?
        .sync()
        .await?;
    assert_eq!(changed.counts.updated, 1, "{changed}");
    assert_eq!(changed.requests.writes(), 1, "{changed}");
    db.finish().await
}

/// A sync whose Checkly group is locked by another worker waits, then fails within its
/// deadline naming that worker, having written nothing.
#[tokio::test]
async fn a_sync_of_a_group_held_elsewhere_times_out_naming_the_holder() -> Result<()> {
    use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID};
    use kms_sync_checkly::ChecklyConfig;
    use kms_sync_fleet::PostgresScopeLocks;

    let db = db!("syncer::a_sync_of_a_group_held_elsewhere_times_out_naming_the_holder");
    let fake = FakeChecklyServer::start().await;
    fake.add_group("API checks");
    let destination = Arc::new(
        fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_name("API checks"))?,
    );
    let scope = destination
        .exclusive_scope()
        .await?
        .ok_or_else(|| Error::unexpected("a check group has a scope"))?;
    let other = PostgresScopeLocks::new(db.pool_named("kms-sync other-worker").await?);
    let _held = other
        .lock(&scope, std::time::Duration::from_secs(5))
        .await?;
    let syncer = Syncer::builder()
        .source(Arc::new(StaticSource::new(
            SecretSet::new("prod").with("A", "1"),
        )))
        .destination(destination)
        .options(SyncOptions::default().with_deadline(std::time::Duration::from_secs(2)))
        .scope_locks(Arc::new(PostgresScopeLocks::new(db.pool().await?)))
        .build()?;
    let err = syncer.sync().await.expect_err("the group is held");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("kms-sync other-worker"), "{err}");
    assert_eq!(fake.faults().request_stats().writes(), 0);
    db.finish().await
}
