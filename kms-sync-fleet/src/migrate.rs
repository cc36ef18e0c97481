//! The schema's migrations: SQL files shipped in `migrations/`, applied in order, each once,
//! recorded in `<schema>.schema_migrations`. Every start runs them; a transaction-level
//! advisory lock serializes workers starting at once, so the second finds the work done.

use std::collections::BTreeSet;

use deadpool_postgres::{Object, Transaction};
use kms_sync_core::{Error, Result};

use crate::error;
use crate::ident::SchemaName;
use crate::locks::key::advisory_key;

/// One versioned migration.
pub(crate) struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    const fn new(version: i32, name: &'static str, sql: &'static str) -> Migration {
        Migration { version, name, sql }
    }
}

/// Every migration, oldest first. A new one is a new file and a new line here; a shipped
/// one is never edited.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration::new(1, "ledger", include_str!("../migrations/0001_ledger.sql")),
    Migration::new(
        2,
        "registry",
        include_str!("../migrations/0002_registry.sql"),
    ),
    Migration::new(3, "fleet", include_str!("../migrations/0003_fleet.sql")),
    Migration::new(
        4,
        "ledger_destination",
        include_str!("../migrations/0004_ledger_destination.sql"),
    ),
    Migration::new(5, "audit", include_str!("../migrations/0005_audit.sql")),
];

/// The newest schema version this crate knows.
///
/// ```
/// assert!(kms_sync_fleet::SCHEMA_VERSION >= 1);
/// ```
pub const SCHEMA_VERSION: i32 = 5;

/// Brings `schema` up to [`SCHEMA_VERSION`]; returns the versions applied now (none when
/// another worker already did).
pub(crate) async fn migrate(client: &mut Object, schema: &SchemaName) -> Result<Vec<i32>> {
    let doing = "running the migrations";
    let tx = client
        .transaction()
        .await
        .map_err(|e| error::db(doing, e))?;
    let key = advisory_key("kms-sync migrations", schema.as_str());
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .await
        .map_err(|e| error::db(doing, e))?;
    prepare(&tx, schema).await?;
    let applied = applied(&tx, schema).await?;
    refuse_newer(schema, &applied)?;
    let mut now = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        apply(&tx, schema, migration).await?;
        now.push(migration.version);
    }
    tx.commit().await.map_err(|e| error::db(doing, e))?;
    Ok(now)
}

/// The schema and the migrations table, if missing.
async fn prepare(tx: &Transaction<'_>, schema: &SchemaName) -> Result<()> {
    let doing = "creating the schema";
    let exists = tx
        .query_opt(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            &[&schema.as_str()],
        )
        .await
        .map_err(|e| error::db(doing, e))?
        .is_some();
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA {}", schema.quoted()))
            .await
            .map_err(|e| error::db(doing, e))?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (
            version    integer     PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
        schema.table("schema_migrations")
    ))
    .await
    .map_err(|e| error::db(doing, e))
}

async fn applied(tx: &Transaction<'_>, schema: &SchemaName) -> Result<BTreeSet<i32>> {
    let rows = tx
        .query(
            &format!("SELECT version FROM {}", schema.table("schema_migrations")),
            &[],
        )
        .await
        .map_err(|e| error::db("reading the applied migrations", e))?;
    rows.iter()
        .map(|row| {
            row.try_get::<_, i32>(0)
                .map_err(|e| error::db("reading the applied migrations", e))
        })
        .collect()
}

/// A schema migrated by a newer kms-sync is not touched by this one.
fn refuse_newer(schema: &SchemaName, applied: &BTreeSet<i32>) -> Result<()> {
    match applied.last() {
        Some(&newest) if newest > SCHEMA_VERSION => Err(Error::config(format!(
            "the PostgreSQL schema `{schema}` is at migration {newest}, newer than this \
             kms-sync-fleet knows ({SCHEMA_VERSION}): upgrade kms-sync-fleet, or use \
             another schema"
        ))),
        _ => Ok(()),
    }
}

async fn apply(tx: &Transaction<'_>, schema: &SchemaName, migration: &Migration) -> Result<()> {
    let doing = format!(
        "applying migration {:04}_{}",
        migration.version, migration.name
    );
    tx.batch_execute(&format!("SET LOCAL search_path TO {}", schema.quoted()))
        .await
        .map_err(|e| error::db(&doing, e))?;
    tx.batch_execute(migration.sql)
        .await
        .map_err(|e| error::db(&doing, e))?;
    tx.execute(
        &format!(
            "INSERT INTO {} (version, name) VALUES ($1, $2)",
            schema.table("schema_migrations")
        ),
        &[&migration.version, &migration.name],
    )
    .await
    .map_err(|e| error::db(&doing, e))?;
    tracing::info!(schema = %schema, version = migration.version, name = migration.name, "applied a migration");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_end_at_the_schema_version() {
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<i32> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
        for m in MIGRATIONS {
            assert!(!m.sql.trim().is_empty(), "{}", m.name);
            assert!(
                !m.sql.contains("kms_sync."),
                "{}: migrations use the search path, never a fixed schema",
                m.name
            );
        }
    }

    #[test]
    fn a_newer_schema_is_refused() -> Result<()> {
        let schema = SchemaName::new("fleet")?;
        assert!(refuse_newer(&schema, &BTreeSet::from([1])).is_ok());
        let err =
            refuse_newer(&schema, &BTreeSet::from([1, SCHEMA_VERSION + 1])).expect_err("newer");
        assert!(err.to_string().contains("newer than this"), "{err}");
        Ok(())
    }
}
