//! # kms-sync
//!
//! Keep secrets from Hanzo KMS (an Infisical-compatible secrets manager) in step with
//! third-party services — Bitbucket, Checkly and Octopus Deploy first, any service you add
//! later — the way the KMS's Secret Syncs do, as a library: plan before writing, write only
//! what changed, never touch what the sync does not own, survive rate limits and faults,
//! never leak a value.
//!
//! This facade re-exports [`kms_sync_core`] (the engine: sources, key schemas, the
//! destination contract, `plan`, `Syncer`, the state ledger) and, behind features, one module
//! per destination and the KMS source as their crates land:
//!
//! | feature | what it adds |
//! |---|---|
//! | `bitbucket` | Bitbucket Cloud repository and deployment variables |
//! | `checkly` | Checkly account and check-group variables |
//! | `octopus` | Octopus Deploy project variables |
//! | `hanzo` | the Hanzo KMS / Infisical source |
//! | `full` | all of them |
//!
//! ```
//! use std::sync::Arc;
//! use kms_sync::*;
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("DB_PASSWORD", "pw")));
//! let destination = Arc::new(MemoryDestination::builder().readable_values(false).build());
//! let syncer = Syncer::builder()
//!     .source(source)
//!     .destination(destination)
//!     .key_schema_template("APP_{{secretKey}}")
//!     .build()?;
//! let report = syncer.sync().await?;
//! assert_eq!(report.counts.created, 1);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod registry;

pub use kms_sync_core::*;
pub use registry::{build_syncer, parse_definition, registry, syncer_builder};

/// Bitbucket Cloud: repository and deployment-environment variables (feature `bitbucket`).
#[cfg(feature = "bitbucket")]
pub use kms_sync_bitbucket as bitbucket;

/// Checkly: account and check-group variables (feature `checkly`).
#[cfg(feature = "checkly")]
pub use kms_sync_checkly as checkly;

/// Octopus Deploy: project variables with scope values (feature `octopus`).
#[cfg(feature = "octopus")]
pub use kms_sync_octopus as octopus;

/// The Hanzo KMS (Infisical-compatible) source (feature `hanzo`).
#[cfg(feature = "hanzo")]
pub use kms_sync_hanzo as hanzo;

/// The fleet on PostgreSQL: the ledger and scope locks shared by many workers (feature
/// `postgres`).
#[cfg(feature = "postgres")]
pub use kms_sync_postgres as postgres;
