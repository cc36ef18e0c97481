//! The registry on a real server: connections, syncs, triggers and claims.

mod connections;
mod facts;
mod jobs;
mod syncs;

use std::time::Duration;

use kms_sync_core::{AppConnectionDefinition, DestinationRegistry, MemoryFactory, Result};
use kms_sync_fleet::{ConnectionRecord, KeyRing, SyncRecord, SyncRegistry, SyncRegistryBuilder};

use crate::support::{fail, TestDb};

/// The test key (current) of most tests.
pub const KEY: [u8; 32] = [0x5a; 32];

/// Every destination the tests use: the three services and `memory`.
pub fn destinations() -> DestinationRegistry {
    DestinationRegistry::new()
        .with(kms_sync_bitbucket::BitbucketFactory)
        .with(kms_sync_checkly::ChecklyFactory)
        .with(kms_sync_octopus::OctopusFactory)
        .with(MemoryFactory)
}

/// A builder on a new pool of `db`, with the test key and a short backoff.
pub async fn builder(db: &TestDb) -> Result<SyncRegistryBuilder> {
    Ok(SyncRegistry::builder(db.pool().await?, destinations())
        .key_ring(KeyRing::new("k1", KEY)?)
        .backoff(Duration::from_millis(400), Duration::from_secs(2)))
}

/// A registry on a new pool of `db`.
pub async fn registry(db: &TestDb) -> Result<SyncRegistry> {
    builder(db).await?.build()
}

/// A request body from `tests/fixtures/`.
pub fn fixture(name: &str) -> Result<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).map_err(fail)
}

/// A sample sync body with its `connectionId` replaced by `id`.
pub fn with_connection(body: &str, id: impl std::fmt::Display) -> String {
    body.replace(
        "\"connectionId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\"",
        &format!("\"connectionId\": \"{id}\""),
    )
}

/// A `memory` connection named `name`.
pub async fn memory_connection(registry: &SyncRegistry, name: &str) -> Result<ConnectionRecord> {
    let body = format!(
        r#"{{"name": "{name}", "method": "none", "projectId": "p1",
            "credentials": {{"token": "memory-token-{name}"}}}}"#
    );
    registry
        .connections()
        .create("memory", &AppConnectionDefinition::from_json(&body)?)
        .await
}

/// A `memory` sync named `name` on `connection`.
pub async fn memory_sync(
    registry: &SyncRegistry,
    connection: &ConnectionRecord,
    name: &str,
    auto: bool,
) -> Result<SyncRecord> {
    let body = format!(
        r#"{{"name": "{name}", "projectId": "p1", "connectionId": "{}", "environment": "dev",
            "secretPath": "/{name}", "isAutoSyncEnabled": {auto}, "destinationConfig": {{}}}}"#,
        connection.id
    );
    registry.syncs().create("memory", &body).await
}

/// A count from the test's own SQL (`{s}` is the schema).
pub async fn count(db: &TestDb, sql: &str) -> Result<i64> {
    let sql = sql.replace("{s}", &format!("\"{}\"", db.schema()));
    let row = db.admin().await?.query_one(&sql, &[]).await.map_err(fail)?;
    Ok(row.get(0))
}
