//! The gate every test passes — a reachable PostgreSQL and a schema of the test's own, or a
//! clear skip (a failure when `CI=true`), the rule of kms-sync-postgres's tests (its
//! `tests/postgres/support.rs`, copied: that crate does not export it) — and a running API.

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_sync_api::{ApiBuilder, Auth};
use kms_sync_core::{DestinationRegistry, Error, ErrorKind, Result};
use kms_sync_postgres::{KeyRing, PgPool, PostgresConfig, SyncRegistry};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

/// Where the tests' server is, unless the default.
pub const URL_VAR: &str = "KMS_SYNC_TEST_DATABASE_URL";
/// The server of this project's machines and CI.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Every test schema starts so; the number after it is its creation time.
const PREFIX: &str = "kms_sync_t";
/// Test schemas older than this are dropped by the next run (left by failed tests).
const STALE: Duration = Duration::from_secs(3600);
/// The API's token in these tests.
pub const TOKEN: &str = "kms-sync-api-test-token-0123456789";
/// The body limit of the tests' API.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Where the tests' API serves its OpenAPI document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// `let db = db!("test_name");` — the test's database, or return (skipped).
macro_rules! db {
    ($test:expr) => {
        match $crate::support::database($test).await {
            Some(db) => db,
            None => return Ok(()),
        }
    };
}

/// A server and a schema of this test's own.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    schema: String,
}

/// The test's database; `None` (after saying so on the terminal) when no server answers,
/// or a panic when `CI=true`.
pub async fn database(test: &str) -> Option<TestDb> {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let schema = format!("{PREFIX}{}_{:08x}", unix_secs(), fastrand::u32(..));
    let db = TestDb { url, schema };
    match db.admin().await {
        Ok(admin) => {
            sweep(&admin).await;
            Some(db)
        }
        Err(err) => skip(test, &db.shown_url(), &err),
    }
}

static EXPLAINED: AtomicBool = AtomicBool::new(false);

fn skip(test: &str, url: &str, err: &Error) -> Option<TestDb> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true and PostgreSQL at {url} is unreachable ({err}): the API tests must run \
             in CI, not be skipped. Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        );
    }
    let mut out = std::io::stderr().lock();
    if !EXPLAINED.swap(true, Ordering::SeqCst) {
        let _ = writeln!(
            out,
            "\nkms-sync-api: PostgreSQL at {url} is unreachable ({err}).\n  Its tests are \
             SKIPPED and pass. To run them, start PostgreSQL \
             (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or \
             set {URL_VAR}, then `cargo test -p kms-sync-api`. With CI=true they fail instead."
        );
    }
    let _ = writeln!(out, "\nSKIPPED (no PostgreSQL): kms-sync-api {test}");
    None
}

impl TestDb {
    /// A pool on this server and schema, migrated.
    pub async fn pool(&self) -> Result<PgPool> {
        PgPool::connect(
            PostgresConfig::builder()
                .url(&self.url)
                .schema(&self.schema)
                .pool_size(4)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(10))
                .build()?,
        )
        .await
    }

    /// A plain connection for the test's own SQL.
    pub async fn admin(&self) -> Result<Client> {
        let mut config = tokio_postgres::Config::from_str(&self.url)
            .map_err(|e| Error::config(format!("{URL_VAR}: {e}")))?;
        config
            .connect_timeout(Duration::from_secs(3))
            .application_name("kms-sync-api tests");
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// A count from the test's own SQL (`{s}` is the schema).
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

    /// Drops the schema (a failed test leaves it; a later run sweeps it).
    pub async fn finish(self) -> Result<()> {
        self.admin()
            .await?
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await
            .map_err(|e| Error::unexpected(e.to_string()))
    }

    fn shown_url(&self) -> String {
        PostgresConfig::builder()
            .url(&self.url)
            .build()
            .map(|c| c.server())
            .unwrap_or_else(|_| format!("<the URL in {URL_VAR}>"))
    }
}

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

/// Any foreign error as a test failure.
pub fn fail(e: impl std::fmt::Display) -> Error {
    Error::unexpected(e.to_string())
}

/// The three destinations.
pub fn destinations() -> DestinationRegistry {
    DestinationRegistry::new()
        .with(kms_sync_bitbucket::BitbucketFactory)
        .with(kms_sync_checkly::ChecklyFactory)
        .with(kms_sync_octopus::OctopusFactory)
}

/// The API on 127.0.0.1 over `db`, and a client for it.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub registry: SyncRegistry,
}

/// An answer: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Api {
    /// Starts the API (token [`TOKEN`], body limit [`BODY_LIMIT`], the OpenAPI document at
    /// [`OPENAPI_PATH`]) on a free port.
    pub async fn start(db: &TestDb) -> Result<Api> {
        let registry = SyncRegistry::builder(db.pool().await?, destinations())
            .key_ring(KeyRing::new("k1", [0x5a; 32])?)
            .build()?;
        Api::with_registry(registry).await
    }

    /// The API over `registry`, as [`start`](Self::start).
    pub async fn with_registry(registry: SyncRegistry) -> Result<Api> {
        let router = ApiBuilder::new(registry.clone(), Auth::bearer_tokens([TOKEN])?)
            .openapi_path(OPENAPI_PATH)
            .body_limit(BODY_LIMIT)
            .org_id("6f03caa1-a5de-43ce-b127-95a145d3464c")
            .removal_poll(Duration::from_millis(50), Duration::from_secs(20))
            .build()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(fail)?;
        let base = format!("http://{}", listener.local_addr().map_err(fail)?);
        tokio::spawn(async move {
            let _ = kms_sync_api::axum::serve(listener, router).await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(fail)?;
        Ok(Api {
            base,
            client,
            registry,
        })
    }

    /// `method path` with the token and, if given, a JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Result<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        answer(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &str) -> Result<Answer> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// Sends `request` and reads its answer.
pub async fn answer(request: reqwest::RequestBuilder) -> Result<Answer> {
    let response = request.send().await.map_err(fail)?;
    let status = response.status();
    let text = response.text().await.map_err(fail)?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Result<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).map_err(fail)
}

/// A sample sync body with its `connectionId` replaced by `id`.
pub fn with_connection(body: &str, id: &str) -> String {
    body.replace(
        "\"connectionId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\"",
        &format!("\"connectionId\": \"{id}\""),
    )
}

/// A string field of a JSON value, or "".
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Checks an answer's status, naming the body when it differs.
pub fn expect(answer: &Answer, status: u16, what: &str) -> Result<()> {
    if answer.status.as_u16() == status {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: expected {status}, got {} {}",
        answer.status, answer.body
    )))
}
