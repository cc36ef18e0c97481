//! Migrations: versioned, idempotent, and fine with workers starting at once.

use std::time::Duration;

use kms_sync_core::*;
use kms_sync_fleet::{PgPool, PostgresConfig, SCHEMA_VERSION};

use crate::support::fail;

async fn versions(db: &crate::support::TestDb) -> Result<Vec<i32>> {
    let rows = db
        .admin()
        .await?
        .query(
            &format!(
                "SELECT version FROM \"{}\".schema_migrations ORDER BY version",
                db.schema()
            ),
            &[],
        )
        .await
        .map_err(fail)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_starting_at_once_migrate_once() -> Result<()> {
    let db = db!("migrations::workers_starting_at_once_migrate_once");
    let pools = futures::future::join_all((0..6).map(|_| db.pool())).await;
    let pools = pools.into_iter().collect::<Result<Vec<PgPool>>>()?;
    let expected: Vec<i32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(versions(&db).await?, expected);
    for pool in &pools {
        assert!(pool.migrate().await?.is_empty(), "already up to date");
        assert_eq!(pool.schema(), db.schema());
    }
    assert_eq!(versions(&db).await?, expected);
    db.finish().await
}

#[tokio::test]
async fn a_schema_migrated_by_a_newer_kms_sync_is_refused() -> Result<()> {
    let db = db!("migrations::a_schema_migrated_by_a_newer_kms_sync_is_refused");
    db.pool().await?;
    db.execute(&format!(
        "INSERT INTO \"{}\".schema_migrations (version, name) VALUES ({}, 'from the future')",
        db.schema(),
        SCHEMA_VERSION + 1
    ))
    .await?;
    let err = db.pool().await.expect_err("newer schema");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("newer than this"), "{err}");
    db.finish().await
}

/// No server needed: an unreachable one is a clear, retryable error without the password.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_named_without_the_password() -> Result<()> {
    let config = PostgresConfig::builder()
        .url("postgres://fleet:pw-CANARY-77@127.0.0.1:1/test")
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let err = crate::support::unavailable(config, "nothing listens on port 1").await;
    let text = format!("{err} {err:?}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("CANARY"), "{text}");
    Ok(())
}
