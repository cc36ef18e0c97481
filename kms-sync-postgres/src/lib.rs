//! # kms-sync-postgres
//!
//! The fleet of kms-sync on PostgreSQL: many processes on many machines running one set of
//! syncs, with PostgreSQL as the only coordinator. So far:
//!
//! - [`PgPool`]: a pool of connections to the fleet's database, configured with
//!   [`PostgresConfig`], with the crate's migrations run at startup (versioned, in
//!   `<schema>.schema_migrations`, idempotent, serialized across workers starting at once).
//! - [`PostgresStateStore`]: the ledgers, one row per sync and one per destination entry;
//!   two workers updating one sync's ledger never lose each other's entries, and a row that
//!   cannot be read is an error, never a reset.
//! - [`PostgresScopeLocks`]: scope locks (a Checkly check group) across processes, on
//!   advisory locks held on a dedicated connection, released by the server if the holder
//!   dies, with a wait that times out naming the holder.
//!
//! The registry of syncs and the workers that claim them come next, on the same pool and
//! schema.
//!
//! ## The client library: tokio-postgres with deadpool-postgres
//!
//! [tokio-postgres] is the asynchronous PostgreSQL driver of the rust-postgres project,
//! and [deadpool-postgres] the pool most commonly used with it. They were chosen over sqlx
//! because kms-sync needs a handful of hand-written statements, not a query DSL nor
//! compile-time checked macros (which want a database, or prepared metadata, at build
//! time): the pair compiles in a fraction of sqlx's time and dependencies, and gives direct
//! access to what the fleet relies on — a dedicated connection per scope lock whose end
//! releases the lock, pipelined statements within a transaction, and SQLSTATEs. TLS is
//! [rustls] (with the *ring* provider already in kms-sync's tree) through
//! [tokio-postgres-rustls], verified against the Mozilla roots plus any root certificate
//! you add; see [`TlsMode`]. The crate asks tokio for `rt`, `time` and `sync` only
//! (tokio-postgres adds `net` and `io-util`), never `full`.
//!
//! [tokio-postgres]: https://docs.rs/tokio-postgres
//! [deadpool-postgres]: https://docs.rs/deadpool-postgres
//! [rustls]: https://docs.rs/rustls
//! [tokio-postgres-rustls]: https://docs.rs/tokio-postgres-rustls
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_sync_core::{Fingerprinter, MemoryDestination, SecretSet, StaticSource, Syncer};
//! use kms_sync_postgres::{PgPool, PostgresConfig, PostgresScopeLocks, PostgresStateStore};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PostgresConfig::builder()
//!     .url(std::env::var("DATABASE_URL")?)
//!     .application_name("kms-sync worker-1")
//!     .build()?;
//! let pool = PgPool::connect(config).await?; // migrates
//! let syncer = Syncer::builder()
//!     .id("api-prod-to-checkly")
//!     .source(Arc::new(StaticSource::new(SecretSet::new("prod").with("API_KEY", "k"))))
//!     .destination(Arc::new(MemoryDestination::builder().build()))
//!     .state(Arc::new(PostgresStateStore::new(pool.clone())), Fingerprinter::new(vec![7; 32])?)
//!     .scope_locks(Arc::new(PostgresScopeLocks::new(pool)))
//!     .build()?;
//! println!("{}", syncer.sync().await?);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod ident;
mod locks;
mod migrate;
mod pool;
mod state;

pub use config::{
    PostgresConfig, PostgresConfigBuilder, TlsMode, DEFAULT_ACQUIRE_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_SCHEMA,
};
pub use locks::{LockHolder, PostgresScopeLocks};
pub use migrate::SCHEMA_VERSION;
pub use pool::PgPool;
pub use state::PostgresStateStore;
