//! # kms-sync
//!
//! Keep secrets from Hanzo KMS (an Infisical-compatible secrets manager) in step with
//! third-party services — Bitbucket, Checkly and Octopus Deploy first, any service you add
//! later — the way the KMS's Secret Syncs do, as a library: plan before writing, write only
//! what changed, never touch what the sync does not own, survive rate limits and faults,
//! never leak a value.
//!
//! This facade re-exports [`kms_sync_core`] (the engine: sources, key schemas, the
//! destination contract, `plan`, `Syncer`, the state ledger) and, behind features, each
//! destination crate and the KMS source as a module of its own:
//!
//! | feature | what it adds |
//! |---|---|
//! | `bitbucket` | [`bitbucket`]: Bitbucket Cloud repository and deployment variables |
//! | `checkly` | [`checkly`]: Checkly account and check-group variables |
//! | `octopus` | [`octopus`]: Octopus Deploy project variables |
//! | `github` | [`github`]: GitHub Actions repository, environment and organization secrets |
//! | `gitlab` | [`gitlab`]: GitLab project and group CI/CD variables, one environment scope per sync |
//! | `hanzo` | [`hanzo`]: the Hanzo KMS / Infisical source |
//! | `fleet` | [`fleet`]: the fleet on PostgreSQL — registry, jobs, workers, shared ledger and locks (`postgres` is its old name) |
//! | `api` | [`api`]: the KMS's Secret Syncs and App Connections HTTP API over the fleet |
//! | `full` | all of the above |
//! | `fake` | the five services' loopback fakes (`bitbucket::fake`, …), for trying and testing |
//!
//! ## Start here
//!
//! 1. **A syncer from parts**: [`Syncer::builder`] takes a [`SecretSource`] and a
//!    [`Destination`], a key schema (`key_schema_template("KMS_{{secretKey}}")`) and
//!    [`SyncOptions`]; then `plan()`, `apply(&plan)`, `sync()`, `remove()`.
//! 2. **A source**: [`DotenvSource`] (a file; values taken literally), the KMS's
//!    `hanzo::HanzoSource` (feature `hanzo`), [`StaticSource`] (in memory), [`EnvSource`].
//! 3. **A ledger**, so hidden values are not rewritten on every run: [`JsonFileStateStore`]
//!    with a [`Fingerprinter`] keyed by 16+ random bytes you keep ([`MemoryStateStore`] in
//!    tests, `fleet::PostgresStateStore` in a fleet).
//! 4. **The KMS's own JSON**: [`parse_definition`] (a create-sync body, checked whole) and
//!    [`AppConnectionDefinition`] (a connection body), then [`build_syncer`] — or
//!    [`syncer_builder`] to add a ledger first. [`registry`] lists the destination kinds.
//! 5. **A destination**, each with a fake on 127.0.0.1 behind the `fake` feature:
//!    `bitbucket::BitbucketDestination` (`bitbucket::fake::FakeBitbucket`),
//!    `checkly::ChecklyDestination` (`checkly::fake::FakeChecklyServer`),
//!    `octopus::OctopusDestination` (`octopus::fake::FakeOctopus`),
//!    `github::GithubDestination` (`github::fake::FakeGithub`); the KMS's fake is
//!    `hanzo::fake::FakeKms`. [`MemoryDestination`] needs no feature.
//! 6. **Keeping it in step**: [`AutoSync`] (poll, webhook trigger, backoff).
//! 7. **Your own destination**: implement [`Destination`], then prove it with the
//!    `kms-sync-testkit` crate's `conformance_suite!` (one test per case; `MemoryTarget` for
//!    the memory destination, each `fake::FakeTarget` for the services).
//!
//! The command-line tool (the `kms-sync-cli` crate) is built on exactly these pieces.
//!
//! The [`guide`] is the long form of the README: one page per topic (sources, destinations,
//! definitions, the CLI, the fleet, the API, the safety model, adding a destination,
//! reliability, benchmarks, layout), every example in it compiled.
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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod registry;

// The guide (the README's long form). Its examples need every destination and the fakes, so
// it is compiled with `full` and `fake` (as `cargo test --workspace --all-features` does); the
// pages render in any `cargo doc`.
#[cfg(any(all(doc, not(doctest)), all(feature = "full", feature = "fake")))]
pub mod guide;

/// The README's Rust blocks, compiled (and run unless marked `no_run`) as doctests.
#[cfg(all(doctest, feature = "fake", feature = "api"))]
#[doc = include_str!("../README.md")]
mod readme {}

pub use kms_sync_core::*;
pub use registry::{build_syncer, parse_definition, registry, syncer_builder};

/// Bitbucket Cloud: repository and deployment-environment variables (feature `bitbucket`).
#[cfg(feature = "bitbucket")]
#[cfg_attr(docsrs, doc(cfg(feature = "bitbucket")))]
#[doc(inline)]
pub use kms_sync_bitbucket as bitbucket;

/// Checkly: account and check-group variables (feature `checkly`).
#[cfg(feature = "checkly")]
#[cfg_attr(docsrs, doc(cfg(feature = "checkly")))]
#[doc(inline)]
pub use kms_sync_checkly as checkly;

/// Octopus Deploy: project variables with scope values (feature `octopus`).
#[cfg(feature = "octopus")]
#[cfg_attr(docsrs, doc(cfg(feature = "octopus")))]
#[doc(inline)]
pub use kms_sync_octopus as octopus;

/// GitHub Actions: repository, environment and organization secrets, sealed to the scope's
/// public key (feature `github`).
#[cfg(feature = "github")]
#[cfg_attr(docsrs, doc(cfg(feature = "github")))]
#[doc(inline)]
pub use kms_sync_github as github;

/// GitLab: project and group CI/CD variables of one environment scope (feature `gitlab`).
#[cfg(feature = "gitlab")]
#[cfg_attr(docsrs, doc(cfg(feature = "gitlab")))]
#[doc(inline)]
pub use kms_sync_gitlab as gitlab;

/// The Hanzo KMS (Infisical-compatible) source (feature `hanzo`).
#[cfg(feature = "hanzo")]
#[cfg_attr(docsrs, doc(cfg(feature = "hanzo")))]
#[doc(inline)]
pub use kms_sync_hanzo as hanzo;

/// The fleet on PostgreSQL: the registry of connections and syncs, jobs, workers, and the
/// ledger and scope locks they share (feature `fleet`).
#[cfg(feature = "fleet")]
#[cfg_attr(docsrs, doc(cfg(feature = "fleet")))]
#[doc(inline)]
pub use kms_sync_fleet as fleet;

/// The old name of [`fleet`] (feature `postgres`, an alias of `fleet`), kept for one release.
#[cfg(feature = "fleet")]
#[doc(hidden)]
pub use kms_sync_fleet as postgres;

/// The KMS's Secret Syncs and App Connections HTTP API: an axum router over the fleet's
/// registry (feature `api`).
#[cfg(feature = "api")]
#[cfg_attr(docsrs, doc(cfg(feature = "api")))]
#[doc(inline)]
pub use kms_sync_api as api;
