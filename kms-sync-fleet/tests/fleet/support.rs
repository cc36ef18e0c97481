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

/// Lowercase hex of `bytes`: how a secret shows in a `bytea` column's text.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every table of `db`'s schema with its rows as text, each `"<table>: <row>"`.
pub async fn rows_by_table(db: &TestDb) -> Result<Vec<(String, Vec<String>)>> {
    let admin = db.admin().await?;
    let tables = admin
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&db.schema()],
        )
        .await
        .map_err(fail)?;
    let mut out = Vec::new();
    for table in tables {
        let name: String = table.get(0);
        let sql = format!("SELECT t::text FROM \"{}\".\"{name}\" t", db.schema());
        let rows = admin.query(&sql, &[]).await.map_err(fail)?;
        let rows = rows
            .iter()
            .map(|row| format!("{name}: {}", row.get::<_, String>(0)))
            .collect();
        out.push((name, rows));
    }
    Ok(out)
}

/// Fails naming the canary and the line if any of `lines`, lowercased, contains one of
/// `canaries` (lowercase).
pub fn assert_no_canary<'a>(lines: impl IntoIterator<Item = &'a str>, canaries: &[String]) {
    for line in lines {
        let lower = line.to_lowercase();
        for canary in canaries {
            assert!(
                !lower.contains(canary.as_str()),
                "`{canary}` found in {line}"
            );
        }
    }
}
