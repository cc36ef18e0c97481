//! kms-sync-api end to end: the router served on 127.0.0.1, a real HTTP client (reqwest),
//! a real PostgreSQL (127.0.0.1:5432 unless `KMS_SYNC_TEST_DATABASE_URL` says otherwise),
//! each test in a schema of its own. Without a server every test is skipped, saying so,
//! unless `CI=true`: then each fails.

#[macro_use]
mod support;
mod audit_events;
mod canary;
mod catalog;
mod connections_cannot_reach_inside;
mod connections_write;
mod history;
mod kms_samples;
mod limits;
mod openapi;
mod permissions;
mod runs_audit;
mod shape;
mod syncs_check_destination;
mod syncs_create;
mod syncs_read;
mod syncs_update;
mod tenants;
mod third_party_destination;
mod worker_loop;
