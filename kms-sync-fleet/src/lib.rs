//! # kms-sync-fleet
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
//! - [`PostgresScopeLocks`]: scope locks (one remote scope, such as a group of checks) across processes, on
//!   advisory locks held on a dedicated connection, released by the server if the holder
//!   dies, with a wait that times out naming the holder.
//! - [`SyncRegistry`]: the KMS's app connections ([`Connections`]) and Secret Syncs
//!   ([`Syncs`]), their status in the KMS's field names and a bounded run history, and the
//!   triggers and claims the fleet's workers run on ([`Jobs`]).
//! - [`Worker`]: claims due syncs, runs each with a `Syncer` over the ledger and scope locks
//!   above while heartbeating its lease, records the outcome, wakes on `LISTEN`, and on
//!   shutdown finishes or releases what it runs. Sources come from your [`SourceProvider`]
//!   ([`HanzoSources`] with the `hanzo` feature).
//! - [`SharedReads`]: poll rounds reading each distinct source once (with the KMS's
//!   ETag/304), one round at a time across the fleet, triggering the syncs of changed
//!   sources; [`trigger_source`] and, with the `hanzo` feature, [`trigger_webhook`] for
//!   the KMS's webhook.
//! - [`metrics`]: the counters and histograms workers record through the `metrics` facade,
//!   and a `tracing` span per run.
//!
//! ## The registry
//!
//! - **Connections** come from the KMS's create-connection body (an
//!   [`AppConnectionDefinition`](kms_sync_core::AppConnectionDefinition)) for an app the
//!   registry's [`DestinationRegistry`](kms_sync_core::DestinationRegistry) knows. Their
//!   credentials are encrypted with AES-256-GCM (the RustCrypto `aes-gcm` crate) under the
//!   current key of a [`KeyRing`] the embedder supplies and that is never stored: each row
//!   keeps the key's id, a random 96-bit nonce drawn for that encryption, and the
//!   ciphertext, bound to the row by its associated data. Older keys decrypt rows not yet
//!   moved; [`Connections::reencrypt`] moves them. A wrong key is an error, never garbage.
//!   Or the embedder resolves credentials itself ([`CredentialResolver`]) and the registry
//!   stores none. Only the credential fields a kind's factory declares public (its
//!   [`facts`](kms_sync_core::DestinationFactory::facts)) are kept in the clear; `credentialsHash` is
//!   HMAC-SHA256 under a key derived from the row's encryption key (HMAC-SHA256 of it over
//!   a fixed label), so it cannot be used to guess a credential.
//! - **Syncs** come from the KMS's create-sync body, checked whole: the envelope and
//!   `destinationConfig` by [`SecretSyncDefinition::parse`](kms_sync_core::SecretSyncDefinition::parse),
//!   `connectionId` (required: an existing connection of the destination's app), and the
//!   connection's credentials with the config, by building the destination offline. A
//!   duplicate name in a project is a [`Conflict`](kms_sync_core::ErrorKind::Conflict).
//!   Updates are patches checked whole again; `version` counts them.
//! - **Jobs**: a trigger is a row, at most one pending per sync and operation (a second
//!   coalesces into it, a trigger during a run waits for it), and `NOTIFY`s the channel
//!   named after the schema ([`SyncRegistry::notify_channel`]). Workers
//!   [`claim`](Jobs::claim) due syncs under a lease, [`heartbeat`](Jobs::heartbeat), and
//!   [`finish`](Jobs::finish) or [`release`](Jobs::release). A failure backs the sync off
//!   exponentially (the reason in `lastSyncMessage`); a disabled sync is never claimed; a
//!   sync with auto-sync off runs only on manual triggers. No secret value and no
//!   credential is ever written to a row or a message.
//!
//! ## Claims: `FOR UPDATE SKIP LOCKED`, not a job-queue library
//!
//! The Rust job queues on PostgreSQL (apalis-sql, sqlxmq, graphile_worker, fang) model
//! *jobs*: rows that are enqueued, run and deleted. The fleet needs *per-sync*
//! semantics none of them offers whole — at most one pending trigger per sync and operation
//! with coalescing into the pending job's id, at most one run per sync across the fleet
//! even while a new trigger for it waits, a lease taken over only after it expires with a
//! fencing token so the old holder can no longer heartbeat or finish, per-sync backoff that
//! a manual trigger ends, and the KMS's status fields updated in the same transaction. They
//! also bring sqlx or diesel, which this crate does not use (see below). So claims are plain
//! SQL: `SELECT … FROM sync_state … FOR UPDATE SKIP LOCKED` picks due syncs without
//! blocking on rows other workers are claiming, in one transaction with the trigger's
//! deletion, the lease and the run's start. Every operation that touches a sync's trigger
//! rows locks its `sync_state` row first (and sync updates take `FOR NO KEY UPDATE`), so
//! triggers, claims, finishes, releases, updates and deletes do not deadlock one another.
//!
//! ## Round trips: at most five a run
//!
//! A run costs at most five database round trips: its share of a claim (one statement for
//! the whole batch), one read of its sync, connection and ledger (three statements sent
//! together), one ledger update before it writes (only when it writes), and one end that
//! carries its last ledger update with the status, the backoff, the retry, the history
//! and the notification (a transaction sent with its `BEGIN` and `COMMIT`). Every statement
//! is prepared through the connection's statement cache, and statements that follow one
//! another decide in SQL, never by waiting for Rust — see the crate's `pipeline` module and
//! the guide page on the fleet. The fleet bench shows the figure; a test holds it.
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
//! use kms_sync_fleet::{PgPool, PostgresConfig, PostgresScopeLocks, PostgresStateStore};
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

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod config;
mod crypto;
mod error;
mod ident;
mod locks;
pub mod metrics;
mod migrate;
mod notify;
mod pipeline;
mod pool;
mod registry;
mod shared_reads;
mod sources;
mod state;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod triggers;
mod worker;

pub use audit::{
    AuditEvent, AuditEventKind, AuditQuery, AuditRecord, AuditRuns, AuditSink, MemoryAuditSink,
    PgAuditSink, RunEnd, RunListener, DEFAULT_AUDIT_RETENTION,
};
pub use config::{
    PostgresConfig, PostgresConfigBuilder, TlsMode, DEFAULT_ACQUIRE_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_SCHEMA,
};
pub use crypto::{KeyRing, KEY_LEN};
pub use locks::{LockHolder, PostgresScopeLocks};
pub use migrate::SCHEMA_VERSION;
pub use notify::{FailureNotices, Notice, NoticeKind, Notifier, WebhookNotifier, SIGNATURE_HEADER};
pub use pool::PgPool;
pub use registry::{
    Claim, ConnectionId, ConnectionPatch, ConnectionRecord, ConnectionRef, Connections,
    CredentialResolver, Finished, JobId, Jobs, Resolved, RunEntry, RunOutcome, RunState,
    SkipReason, Source, SyncId, SyncPatch, SyncRecord, SyncRegistry, SyncRegistryBuilder, Syncs,
    TriggerCause, Triggered, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_HISTORY,
};
pub use shared_reads::{PollAttempt, PollRound, SharedReads, DEFAULT_READ_CONCURRENCY};
#[cfg(feature = "hanzo")]
pub use sources::HanzoSources;
pub use sources::{SourceKey, SourceProvider};
pub use state::PostgresStateStore;
pub use triggers::{request_poll_round, trigger_source};
#[cfg(feature = "hanzo")]
pub use triggers::{trigger_webhook, WebhookTriggered};
pub use worker::{
    Worker, WorkerBuilder, WorkerSummary, DEFAULT_CONCURRENCY, DEFAULT_FALLBACK_POLL,
    DEFAULT_LEASE, DEFAULT_SHUTDOWN_GRACE, DEFAULT_SOURCE_POLL,
};
