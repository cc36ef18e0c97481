//! # kms-sync-core
//!
//! The engine of kms-sync: keeps a destination (Bitbucket, Checkly, Octopus Deploy, or any
//! service you add) in step with a secret source (Hanzo KMS, a dotenv file, the process
//! environment), the way the KMS's Secret Syncs do — but planned before it writes, writing
//! only what changed, never touching keys it does not own, and never leaking a value.
//!
//! The pieces:
//!
//! - [`SecretSource`] → a [`SecretSet`] of [`SecretValue`]s (redacted in every `Debug`).
//! - [`KeySchema`] ([`TemplateKeySchema`], [`NoKeySchema`]) names destination keys and decides
//!   which ones a sync owns.
//! - [`Destination`] describes itself ([`DestinationInfo`], [`KeyRules`]), lists a
//!   [`Snapshot`] of entries with a typed [`EntryState`], and writes [`Change`]s through a
//!   [`Writer`]: per key ([`PerKeyWriter`]) or as one batch ([`BatchWriter`]).
//! - [`Ownership`] is the one rule for what a sync may delete.
//! - [`plan()`] is a pure function from source, snapshot, schema and ledger to a [`Plan`].
//! - [`Syncer`] ties them together: `plan`, `apply`, `sync`, `remove`, `import`, returning a
//!   [`SyncReport`].
//! - [`StateStore`] keeps a [`Ledger`] of HMAC fingerprints so hidden values are not rewritten
//!   on every run.
//!
//! ```
//! use std::sync::Arc;
//! use kms_sync_core::*;
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("API_KEY", "k")));
//! let destination = Arc::new(MemoryDestination::builder().readable_values(false).build());
//! let syncer = Syncer::builder()
//!     .source(source)
//!     .destination(destination)
//!     .key_schema_template("KMS_{{environment}}_{{secretKey}}")
//!     .state(Arc::new(MemoryStateStore::default()), Fingerprinter::new(vec![7; 32])?)
//!     .build()?;
//! let first = syncer.sync().await?;
//! assert_eq!(first.counts.created, 1);
//! let again = syncer.sync().await?;
//! assert_eq!(again.requests.writes(), 0); // hidden values, but the ledger knows
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod definition;
mod destination;
mod engine;
mod error;
pub mod http;
mod json;
mod memory;
pub mod net;
mod plan;
mod registry;
mod schema;
mod scrub;
mod secret;
mod source;
mod state;
mod stats;

pub use async_trait::async_trait;
pub use definition::{AppConnectionDefinition, SecretSyncDefinition, SyncOptionsDefinition};
pub use destination::{
    create_or_update, Applied, BatchWriter, Capabilities, CaseRule, Change, ChangeKind,
    Destination, DestinationIdentity, DestinationInfo, EntryState, KeyRule, KeyRules, NameLookup,
    PerKeyWriter, RateBudget, Reason, RemoteEntry, RemoteValue, Snapshot, StandardRules, Verdict,
    Version, WriteMode, Writer,
};
pub use engine::autosync::{
    AutoSync, AutoSyncConfig, AutoSyncHandle, RunRecord, RunTrigger, Trigger,
};
pub use engine::options::{
    InitialSyncBehavior, SyncOptions, DEFAULT_APPLY_DEADLINE, DEFAULT_READ_DEADLINE,
};
pub use engine::progress::Progress;
pub use engine::report::{
    Counts, KeyReport, KeyStatus, Operation, RunStatus, StatusRecord, SyncReport,
};
pub use engine::scope_lock::{LocalScopeLocks, ScopeGuard, ScopeLocks};
pub use engine::stop::{StopSignal, DEFAULT_STOP_GRACE};
pub use engine::{Syncer, SyncerBuilder};
pub use error::{Error, ErrorKind, Result};
pub use json::{parse_app_connection, parse_json, AppConnectionBody};
pub use memory::{MemoryDestination, MemoryDestinationBuilder, MemoryFactory};
pub use plan::ownership::{Claim, Ownership};
pub use plan::{
    plan, DeletionGuard, Plan, PlanAction, PlanCounts, PlanInput, PlanItem, PlanOptions,
    PlanReason, PlanWarning,
};
pub use registry::{DestinationFactory, DestinationFacts, DestinationRegistry, Verification};
pub use schema::{KeySchema, NoKeySchema, TemplateKeySchema};
pub use scrub::{Scrubber, MIN_FREE_MATCH_CHARS};
pub use secret::{SecretSet, SecretValue, REDACTED};
pub use source::{DotenvSource, EnvSource, Revision, SecretSink, SecretSource, StaticSource};
pub use state::{
    Fingerprint, Fingerprinter, JsonFileStateStore, Ledger, LedgerEntry, LedgerUpdate,
    MemoryStateStore, StateStore, MIN_HMAC_KEY_LEN,
};
pub use stats::{count_request, RequestCounter, RequestStats, RunRequests};
