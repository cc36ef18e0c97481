//! [`PgPool`]: the one handle on the fleet's database that every part of the crate shares.

mod connect;
mod tls;

use std::fmt;
use std::sync::Arc;

use deadpool_postgres::{Object, Pool, Runtime};
use kms_sync_core::{Error, Result};
use tokio_postgres::Client;

use crate::config::PostgresConfig;
use crate::error;
use crate::ident::SchemaName;
use crate::migrate;
use connect::Connector;

/// A connection of its own and the channel its `LISTEN` notifications arrive on.
pub(crate) type Listening = (
    Client,
    tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>,
);

/// A pool of connections to the fleet's database, with the schema migrated.
///
/// Cheap to clone: clones share the pool. Build one per process and hand it to the
/// [`PostgresStateStore`](crate::PostgresStateStore) and the
/// [`PostgresScopeLocks`](crate::PostgresScopeLocks).
///
/// ```no_run
/// use kms_sync_fleet::{PgPool, PostgresConfig};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let config = PostgresConfig::builder()
///     .url(std::env::var("DATABASE_URL").unwrap_or_default())
///     .application_name("kms-sync worker-1")
///     .build()?;
/// let pool = PgPool::connect(config).await?;
/// println!("{pool:?}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgPool {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    connector: Connector,
    schema: SchemaName,
    application_name: String,
}

impl PgPool {
    /// Opens the pool, checks that the server answers, and runs the migrations
    /// (idempotent; workers starting at once take turns).
    ///
    /// # Errors
    ///
    /// [`Unavailable`](kms_sync_core::ErrorKind::Unavailable) naming the server (never the
    /// password) when it cannot be reached; [`Unauthenticated`](kms_sync_core::ErrorKind::Unauthenticated)
    /// when it refuses the credentials; [`Config`](kms_sync_core::ErrorKind::Config) when
    /// the schema was migrated by a newer kms-sync.
    ///
    /// ```no_run
    /// # async fn run(config: kms_sync_fleet::PostgresConfig) -> kms_sync_core::Result<()> {
    /// let pool = kms_sync_fleet::PgPool::connect(config).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: PostgresConfig) -> Result<PgPool> {
        let connector = Connector::new(&config)?;
        let pool = Pool::builder(connector.manager())
            .max_size(config.pool_size())
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout()))
            .build()
            .map_err(|e| Error::config(format!("the PostgreSQL pool cannot be built: {e}")))?;
        let pool = PgPool {
            inner: Arc::new(Inner {
                pool,
                connector,
                schema: config.schema_name().clone(),
                application_name: config.application_name().to_owned(),
            }),
        };
        pool.migrate().await?;
        Ok(pool)
    }

    /// The schema holding the tables.
    ///
    /// ```no_run
    /// # fn show(pool: &kms_sync_fleet::PgPool) {
    /// println!("tables in {}", pool.schema());
    /// # }
    /// ```
    pub fn schema(&self) -> &str {
        self.inner.schema.as_str()
    }

    /// The `application_name` this pool's connections report.
    ///
    /// ```no_run
    /// # fn show(pool: &kms_sync_fleet::PgPool) {
    /// println!("this worker shows up as `{}` in pg_stat_activity", pool.application_name());
    /// # }
    /// ```
    pub fn application_name(&self) -> &str {
        &self.inner.application_name
    }

    /// The server, as `postgres://user@host:port/db` (no password).
    ///
    /// ```no_run
    /// # fn show(pool: &kms_sync_fleet::PgPool) {
    /// assert!(pool.server().starts_with("postgres://"));
    /// # }
    /// ```
    pub fn server(&self) -> &str {
        self.inner.connector.server()
    }

    /// Runs the migrations again (as [`connect`](PgPool::connect) did); returns the
    /// versions applied now, empty when the schema was up to date.
    ///
    /// # Errors
    ///
    /// As [`connect`](PgPool::connect).
    ///
    /// ```no_run
    /// # async fn run(pool: kms_sync_fleet::PgPool) -> kms_sync_core::Result<()> {
    /// assert!(pool.migrate().await?.is_empty(), "connect already migrated");
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<Vec<i32>> {
        let mut client = self.get("running the migrations").await?;
        migrate::migrate(&mut client, &self.inner.schema).await
    }

    /// Closes the pool: connections in use close when returned. Scope locks held on
    /// dedicated connections stay held until their guards drop.
    ///
    /// ```no_run
    /// # fn stop(pool: kms_sync_fleet::PgPool) {
    /// pool.close();
    /// # }
    /// ```
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// A pooled connection.
    pub(crate) async fn get(&self, doing: &str) -> Result<Object> {
        self.inner.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => self.inner.connector.unreachable(doing, e),
            other => error::pool(doing, other),
        })
    }

    /// A connection outside the pool, closed when the client drops.
    pub(crate) async fn dedicated(&self, purpose: &str) -> Result<Client> {
        self.inner.connector.dedicated(purpose).await
    }

    /// A connection outside the pool that delivers `LISTEN` notifications on a channel,
    /// closed when the connection ends.
    pub(crate) async fn listening(&self, purpose: &str) -> Result<Listening> {
        self.inner.connector.listening(purpose).await
    }

    pub(crate) fn schema_name(&self) -> &SchemaName {
        &self.inner.schema
    }
}

impl fmt::Debug for PgPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PgPool")
            .field("server", &self.server())
            .field("schema", &self.inner.schema)
            .field("application_name", &self.inner.application_name)
            .field("size", &status.size)
            .field("max_size", &status.max_size)
            .field("available", &status.available)
            .finish()
    }
}
