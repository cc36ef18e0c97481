//! [`PostgresStateStore`]: the ledgers of every sync in the fleet, one row per sync and one
//! per destination entry.

mod rows;
mod sql;

use std::fmt;
use std::sync::Arc;

use kms_sync_core::{async_trait, Ledger, LedgerUpdate, Result, StateStore};
use tokio_postgres::types::ToSql;

use crate::error;
use crate::pool::PgPool;
use rows::Batch;
use sql::Statements;

/// Keeps ledgers in PostgreSQL, shared by every worker of a fleet.
///
/// - **Rows**: `ledgers` holds one row per sync (it ran; whether it has settled; the
///   identity of the destination it describes), and
///   `ledger_entries` one row per destination key it wrote (the entry's id and the HMAC
///   fingerprint — never a value, never the HMAC key).
/// - **Updates never lose entries.** [`update`](StateStore::update) upserts and deletes
///   only the rows of the keys it names, in one transaction that first locks the sync's
///   row: two workers updating one sync take turns and both keep their entries.
///   [`save`](StateStore::save) replaces the sync's rows in one transaction.
/// - **Never a reset.** A row that cannot be read (a fingerprint that is not 64 hex
///   digits) is an error naming the sync and the key.
///
/// ```no_run
/// use std::sync::Arc;
/// use kms_sync_core::{Fingerprinter, MemoryDestination, StaticSource, SecretSet, Syncer};
/// use kms_sync_fleet::{PgPool, PostgresConfig, PostgresStateStore};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = PgPool::connect(PostgresConfig::builder().url("postgres://postgres@127.0.0.1/test").build()?).await?;
/// let syncer = Syncer::builder()
///     .id("billing-api-prod")
///     .source(Arc::new(StaticSource::new(SecretSet::new("prod").with("API_KEY", "k"))))
///     .destination(Arc::new(MemoryDestination::builder().build()))
///     .state(Arc::new(PostgresStateStore::new(pool)), Fingerprinter::new(vec![7; 32])?)
///     .build()?;
/// syncer.sync().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStateStore {
    pool: PgPool,
    sql: Arc<Statements>,
}

impl PostgresStateStore {
    /// A store on `pool`'s schema.
    ///
    /// ```no_run
    /// # fn build(pool: kms_sync_fleet::PgPool) {
    /// let store = kms_sync_fleet::PostgresStateStore::new(pool.clone());
    /// # }
    /// ```
    pub fn new(pool: PgPool) -> PostgresStateStore {
        let sql = Arc::new(Statements::new(pool.schema_name()));
        PostgresStateStore { pool, sql }
    }

    /// Writes `batch` in one transaction: lock (or create) the sync's row, delete, upsert.
    async fn write(&self, doing: &str, sync_id: &str, batch: &Batch, replace: bool) -> Result<()> {
        let e = |err| error::db(doing, err);
        let mut client = self.pool.get(doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        let (ledger, delete) = match replace {
            true => (&self.sql.replace_ledger, &self.sql.delete_others),
            false => (&self.sql.touch_ledger, &self.sql.forget),
        };
        let ledger = tx.prepare_cached(ledger).await.map_err(e)?;
        let delete = tx.prepare_cached(delete).await.map_err(e)?;
        let record = tx.prepare_cached(&self.sql.record).await.map_err(e)?;
        let deleted: &[String] = match replace {
            true => &batch.record.keys,
            false => &batch.forget,
        };
        let r = &batch.record;
        let ledger_params: [&(dyn ToSql + Sync); 3] = [&sync_id, &batch.settle, &batch.destination];
        let delete_params: [&(dyn ToSql + Sync); 2] = [&sync_id, &deleted];
        let record_params: [&(dyn ToSql + Sync); 4] = [&sync_id, &r.keys, &r.ids, &r.fingerprints];
        // Sent together, run in order: the first statement locks the sync's row, and each
        // later one reads what earlier holders of that lock committed.
        futures::try_join!(
            tx.execute(&ledger, &ledger_params),
            tx.execute(&delete, &delete_params),
            tx.execute(&record, &record_params),
        )
        .map_err(e)?;
        tx.commit().await.map_err(e)
    }
}

#[async_trait]
impl StateStore for PostgresStateStore {
    async fn load(&self, sync_id: &str) -> Result<Option<Ledger>> {
        let doing = format!("loading the ledger of sync `{sync_id}`");
        let client = self.pool.get(&doing).await?;
        let load = client
            .prepare_cached(&self.sql.load)
            .await
            .map_err(|e| error::db(&doing, e))?;
        let rows = client
            .query(&load, &[&sync_id])
            .await
            .map_err(|e| error::db(&doing, e))?;
        rows::ledger(self.pool.schema(), sync_id, &rows)
    }

    async fn save(&self, sync_id: &str, ledger: &Ledger) -> Result<()> {
        let doing = format!("saving the ledger of sync `{sync_id}`");
        self.write(&doing, sync_id, &Batch::of_ledger(ledger), true)
            .await
    }

    async fn update(&self, sync_id: &str, updates: &[LedgerUpdate]) -> Result<()> {
        let doing = format!("updating the ledger of sync `{sync_id}`");
        self.write(&doing, sync_id, &Batch::of_updates(updates), false)
            .await
    }
}

impl fmt::Debug for PostgresStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStateStore")
            .field("server", &self.pool.server())
            .field("schema", &self.pool.schema())
            .finish()
    }
}
