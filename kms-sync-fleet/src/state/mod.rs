//! [`PostgresStateStore`]: the ledgers of every sync in the fleet, one row per sync and one
//! per destination entry.

mod rows;
mod sql;

use std::fmt;
use std::sync::Arc;

use deadpool_postgres::Object;
use kms_sync_core::{async_trait, Error, ErrorKind, Ledger, LedgerUpdate, Result, StateStore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::error;
use crate::pipeline::{one_trip, prepare, prepare_all};
use crate::pool::PgPool;
pub(crate) use rows::Batch;

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
    /// Writes `batch` (replacing the ledger, or merged into it) in one round trip; an update
    /// of a ledger bound to another destination writes nothing and fails.
    async fn write(&self, doing: &str, sync_id: &str, batch: &Batch, replace: bool) -> Result<()> {
        self.write_fenced(doing, sync_id, batch, replace, None)
            .await
    }

    /// [`write`](Self::write) for a run built from the versions in `fence`: an update that
    /// would start a ledger the sync's update dropped fails too.
    async fn write_fenced(
        &self,
        doing: &str,
        sync_id: &str,
        batch: &Batch,
        replace: bool,
        fence: Option<RunFence>,
    ) -> Result<()> {
        let client = self.pool.get(doing).await?;
        let statements = self.prepare(&client, replace, doing).await?;
        let send = statements.send(&client, sync_id, batch, fence);
        let touched = one_trip(&client, doing, send).await?;
        match touched {
            0 => Err(bound_elsewhere(sync_id, batch)),
            _ => Ok(()),
        }
    }

    /// The three statements of a save (`replace`) or an update, prepared on `client`.
    pub(crate) async fn prepare(
        &self,
        client: &Object,
        replace: bool,
        doing: &str,
    ) -> Result<LedgerWrite> {
        let (ledger, delete) = match replace {
            true => (&self.sql.replace_ledger, &self.sql.delete_others),
            false => (&self.sql.touch_ledger, &self.sql.forget),
        };
        let [ledger, delete, record] =
            prepare_all(client, [ledger, delete, &self.sql.record], doing).await?;
        Ok(LedgerWrite {
            replace,
            ledger,
            delete,
            record,
        })
    }

    /// Reads the ledger of `sync_id` on `client` (one statement, sent when first polled).
    pub(crate) async fn load_on(&self, client: &Object, sync_id: &str) -> Result<Option<Ledger>> {
        let doing = format!("loading the ledger of sync `{sync_id}`");
        let load = prepare(client, &self.sql.load, &doing).await?;
        let rows = client
            .query(&load, &[&sync_id])
            .await
            .map_err(|e| error::db(&doing, e))?;
        rows::ledger(self.pool.schema(), sync_id, &rows)
    }

    /// The statement that reads a ledger (`$1` the sync's ledger id), for a caller that
    /// sends it beside others.
    pub(crate) fn load_sql(&self) -> &str {
        &self.sql.load
    }

    /// The ledger read by [`load_sql`](Self::load_sql)'s statement.
    pub(crate) fn ledger_of(&self, sync_id: &str, rows: &[Row]) -> Result<Option<Ledger>> {
        rows::ledger(self.pool.schema(), sync_id, rows)
    }
}

/// The versions of a sync and of its connection a run was built from: the run's ledger
/// updates start no ledger once either changed (an update that made the sync build another
/// destination dropped its ledger; a run of the old one must not start it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunFence {
    pub sync_version: u32,
    pub connection_version: u32,
}

impl RunFence {
    fn params(self) -> (i64, i64) {
        (
            i64::from(self.sync_version),
            i64::from(self.connection_version),
        )
    }
}

impl PostgresStateStore {
    /// Merges `updates` into the ledger of `sync_id` for a run built from `fence`.
    pub(crate) async fn update_for_run(
        &self,
        sync_id: &str,
        updates: &[LedgerUpdate],
        fence: RunFence,
    ) -> Result<()> {
        let doing = format!("updating the ledger of sync `{sync_id}`");
        let batch = Batch::of_updates(updates);
        self.write_fenced(&doing, sync_id, &batch, false, Some(fence))
            .await
    }
}

/// A save or an update of one ledger, prepared: its three statements go out together.
pub(crate) struct LedgerWrite {
    replace: bool,
    ledger: Statement,
    delete: Statement,
    record: Statement,
}

impl LedgerWrite {
    /// The statements for `batch` on `client`, sent when first polled, run in order: the
    /// first locks the sync's ledger row, and each later one reads what earlier holders of
    /// that lock committed. The answer: the ledger rows the first touched (0: the ledger is
    /// bound to another destination, and nothing was written).
    pub(crate) async fn send(
        &self,
        client: &Client,
        sync_id: &str,
        batch: &Batch,
        fence: Option<RunFence>,
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let deleted: &[String] = match self.replace {
            true => &batch.record.keys,
            false => &batch.forget,
        };
        let r = &batch.record;
        let to = &batch.destination;
        let (sync_version, connection_version) = fence.map(RunFence::params).unzip();
        let touch_params: [&(dyn ToSql + Sync); 5] = [
            &sync_id,
            &batch.settle,
            to,
            &sync_version,
            &connection_version,
        ];
        let save_params: [&(dyn ToSql + Sync); 3] = [&sync_id, &batch.settle, to];
        let ledger_params: &[&(dyn ToSql + Sync)] = match self.replace {
            true => &save_params,
            false => &touch_params,
        };
        let replace_params: [&(dyn ToSql + Sync); 2] = [&sync_id, &deleted];
        let forget_params: [&(dyn ToSql + Sync); 3] = [&sync_id, &deleted, to];
        let delete_params: &[&(dyn ToSql + Sync)] = match self.replace {
            true => &replace_params,
            false => &forget_params,
        };
        let record_params: [&(dyn ToSql + Sync); 5] =
            [&sync_id, &r.keys, &r.ids, &r.fingerprints, to];
        let (touched, _, _) = futures::try_join!(
            client.execute(&self.ledger, ledger_params),
            client.execute(&self.delete, delete_params),
            client.execute(&self.record, &record_params),
        )?;
        Ok(touched)
    }
}

/// An update refused because the ledger describes another destination.
pub(crate) fn bound_elsewhere(sync_id: &str, batch: &Batch) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "nothing was recorded in the ledger of sync `{sync_id}`: it describes another \
             destination than {}, or was started over when the sync's destination changed",
            batch.destination.as_deref().unwrap_or("this run's")
        ),
    )
}

#[async_trait]
impl StateStore for PostgresStateStore {
    async fn load(&self, sync_id: &str) -> Result<Option<Ledger>> {
        let client = self.pool.get("loading a ledger").await?;
        self.load_on(&client, sync_id).await
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
