//! kms-sync-fleet against a real PostgreSQL (127.0.0.1:5432 unless
//! `KMS_SYNC_TEST_DATABASE_URL` says otherwise), each test in a schema of its own.
//!
//! Without a server every test here is skipped, saying so, unless `CI=true`: then each
//! fails. See `support::database`.

#[macro_use]
mod support;

mod canary;
mod concurrency;
mod fleet;
mod locks;
mod migrations;
mod processes;
mod registry;
mod state;
mod syncer;
mod tls;
