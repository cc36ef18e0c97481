//! Test support for crates whose tests need PostgreSQL (feature `testing`): a reachable
//! server and a fresh schema per test, or a clear skip — a failure when `CI=true`, so CI
//! never passes without running them. Used by this crate's tests and kms-sync-api's.
//!
//! ```no_run
//! # async fn run() -> kms_sync_core::Result<()> {
//! let Some(db) = kms_sync_fleet::testing::database("my-crate", "my_test").await else {
//!     return Ok(()); // skipped, and said so on the terminal
//! };
//! let pool = db.pool().await?;
//! # drop(pool);
//! db.finish().await
//! # }
//! ```

mod own_server;

pub use own_server::OwnServer;

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_sync_core::{Error, Result};
use tokio_postgres::{Client, NoTls};

use crate::{PgPool, PostgresConfig, PostgresConfigBuilder};

/// Where the tests' server is, unless the default.
pub const URL_VAR: &str = "KMS_SYNC_TEST_DATABASE_URL";
/// The server of this project's machines and CI.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Every test schema starts so; the number after it is its creation time.
const PREFIX: &str = "kms_sync_t";
/// Test schemas older than this are dropped by the next run (left by failed tests).
const STALE: Duration = Duration::from_secs(3600);

/// A server and a schema of this test's own.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    schema: String,
}

/// The test's database; `None` (after saying so on the terminal) when no server answers,
/// or a panic when `CI=true`.
pub async fn database(suite: &str, test: &str) -> Option<TestDb> {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned());
    database_at(suite, test, url).await
}

/// As [`database`], on the server at `url` (an [`OwnServer`]'s, say).
pub async fn database_at(suite: &str, test: &str, url: String) -> Option<TestDb> {
    let schema = format!("{PREFIX}{}_{:08x}", unix_secs(), fastrand::u32(..));
    let db = TestDb { url, schema };
    match db.admin().await {
        Ok(admin) => {
            sweep(&admin).await;
            Some(db)
        }
        Err(err) => skip(suite, test, &db.shown_url(), &err),
    }
}

static EXPLAINED: AtomicBool = AtomicBool::new(false);

fn skip(suite: &str, test: &str, url: &str, err: &Error) -> Option<TestDb> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true and PostgreSQL at {url} is unreachable ({err}): the {suite} tests \
             must run in CI, not be skipped. `.ci/run` starts the machine's server before \
             the tests; the tests themselves never start or stop it."
        );
    }
    // Straight to the terminal: the test harness captures print!, not this.
    let mut out = std::io::stderr().lock();
    if !EXPLAINED.swap(true, Ordering::SeqCst) {
        let _ = writeln!(
            out,
            "\n{suite}: PostgreSQL at {url} is unreachable ({err}).\n  \
             Its tests are SKIPPED and pass. To run them, start a PostgreSQL server \
             there (`.ci/run` does) or set {URL_VAR}, then `cargo test -p {suite}`. The \
             tests never start or stop a server they did not create. With CI=true they \
             fail instead."
        );
    }
    let _ = writeln!(out, "\nSKIPPED (no PostgreSQL): {suite} {test}");
    None
}

impl TestDb {
    /// The connection URL (the server's; it carries no password here).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This test's schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A config builder on this server and schema.
    pub fn config(&self) -> PostgresConfigBuilder {
        PostgresConfig::builder()
            .url(&self.url)
            .schema(&self.schema)
            .pool_size(4)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
    }

    /// A pool of its own (as a worker would have), migrated.
    pub async fn pool(&self) -> Result<PgPool> {
        PgPool::connect(self.config().build()?).await
    }

    /// A pool whose connections report `application_name`.
    pub async fn pool_named(&self, application_name: &str) -> Result<PgPool> {
        PgPool::connect(self.config().application_name(application_name).build()?).await
    }

    /// A plain connection for the test's own SQL.
    pub async fn admin(&self) -> Result<Client> {
        let mut config = tokio_postgres::Config::from_str(&self.url)
            .map_err(|e| Error::config(format!("{URL_VAR}: {e}")))?;
        config
            .connect_timeout(Duration::from_secs(3))
            .application_name("kms-sync tests");
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| Error::new(kms_sync_core::ErrorKind::Unavailable, e.to_string()))?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// A count from the test's own SQL (`{s}` is the quoted schema).
    pub async fn count(&self, sql: &str) -> Result<i64> {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        let row = self
            .admin()
            .await?
            .query_one(&sql, &[])
            .await
            .map_err(|e| Error::unexpected(format!("{sql}: {e}")))?;
        row.try_get(0).map_err(|e| Error::unexpected(e.to_string()))
    }

    /// Runs `sql` on the admin connection.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.admin()
            .await?
            .batch_execute(sql)
            .await
            .map_err(|e| Error::unexpected(format!("{sql}: {e}")))
    }

    /// Drops the schema (a failed test leaves it for inspection; a later run sweeps it).
    pub async fn finish(self) -> Result<()> {
        self.execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.schema
        ))
        .await
    }

    fn shown_url(&self) -> String {
        PostgresConfig::builder()
            .url(&self.url)
            .build()
            .map(|c| c.server())
            .unwrap_or_else(|_| format!("<the URL in {URL_VAR}>"))
    }
}

/// Drops test schemas left by failed runs long ago.
async fn sweep(admin: &Client) {
    let Ok(rows) = admin
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kms\\_sync\\_t%'",
            &[],
        )
        .await
    else {
        return;
    };
    let now = unix_secs();
    for row in rows {
        let Ok(name) = row.try_get::<_, String>(0) else {
            continue;
        };
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|at| now.saturating_sub(at) > STALE.as_secs()) {
            let _ = admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .await;
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
