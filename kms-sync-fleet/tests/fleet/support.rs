//! The one gate every test passes: a reachable PostgreSQL and a fresh schema, or a clear
//! skip (a failure when `CI=true`) — `kms_sync_fleet::testing`, shared with kms-sync-api.

use kms_sync_core::{Error, Fingerprinter, Result};
pub use kms_sync_fleet::testing::TestDb;

/// `let db = db!("module::test_name");` — the test's database, or return (skipped).
macro_rules! db {
    ($test:expr) => {
        match $crate::support::database($test).await {
            Some(db) => db,
            None => return Ok(()),
        }
    };
}

/// This crate's test database (see `kms_sync_fleet::testing::database`).
pub async fn database(test: &str) -> Option<TestDb> {
    kms_sync_fleet::testing::database("kms-sync-fleet", test).await
}

/// The tests' HMAC key holder.
pub fn fingerprinter() -> Result<Fingerprinter> {
    Fingerprinter::new(b"kms-sync-fleet-test-hmac-key-0123456789".to_vec())
}

/// A test that runs its own binary again as children: `child(<the variable's value>)` in a
/// child (where `variable` is set), else `parent()`; on a two-thread runtime.
pub fn parent_or_child<P, C>(
    variable: &str,
    parent: impl FnOnce() -> P,
    child: impl FnOnce(String) -> C,
) -> Result<()>
where
    P: std::future::Future<Output = Result<()>>,
    C: std::future::Future<Output = Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    match std::env::var(variable) {
        Ok(value) => runtime.block_on(child(value)),
        Err(_) => runtime.block_on(parent()),
    }
}

/// The error of connecting with `config`, which must fail (`why`: why it cannot) as
/// `Unavailable`: a connection failure the fleet retries.
pub async fn unavailable(config: kms_sync_fleet::PostgresConfig, why: &str) -> Error {
    let err = kms_sync_fleet::PgPool::connect(config)
        .await
        .expect_err(why);
    assert_eq!(err.kind(), kms_sync_core::ErrorKind::Unavailable, "{err}");
    err
}

/// An I/O or other foreign error as a test failure.
pub fn fail(e: impl std::fmt::Display) -> Error {
    Error::unexpected(e.to_string())
}
