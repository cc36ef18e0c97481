//! # kms-sync-octopus
//!
//! The Octopus Deploy destination of kms-sync: one project's variables with one scope
//! (environments, target roles, targets, processes, steps, channels), written Sensitive in one
//! PUT of the whole variable set, keeping every other variable exactly as read.
//!
//! A sync reads the set with one GET and, when anything changed, writes it with one PUT
//! carrying the set's `Version`, built from the set it read; Octopus refuses a stale
//! `Version`, and the syncer then reads and plans again. (The space and project are looked
//! up once per destination.)
//!
//! - [`OctopusConnection`]: method `api-key` — instance URL + API key (`X-Octopus-ApiKey`).
//! - [`OctopusConfig`]: the KMS's `destinationConfig` — `spaceId`, `scope: "project"`,
//!   `projectId`, optional `scopeValues` ([`ScopeValues`], one id list per [`ScopeKind`]).
//! - [`OctopusDestination`]: the [`Destination`](kms_sync_core::Destination), writing through
//!   a [`BatchWriter`](kms_sync_core::BatchWriter).
//! - `fake` feature: [`fake::FakeOctopus`], a stateful Octopus on loopback.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_sync_octopus::*;
//! use kms_sync_core::{DotenvSource, Syncer};
//! # async fn run() -> kms_sync_core::Result<()> {
//! let connection = OctopusConnection::new("https://acme.octopus.app", std::env::var("OCTOPUS_API_KEY").unwrap_or_default())?;
//! let config = OctopusConfig::from_kms_json(r#"{"spaceId":"Spaces-1","scope":"project","projectId":"Projects-1"}"#)?;
//! let syncer = Syncer::builder()
//!     .source(Arc::new(DotenvSource::new(".env", "prod")))
//!     .destination(Arc::new(OctopusDestination::builder(connection, config).build()?))
//!     .key_schema_template("KMS_{{secretKey}}")
//!     .build()?;
//! println!("{}", syncer.plan().await?);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod complete;
mod config;
mod destination;
mod error;
mod factory;
#[cfg(feature = "fake")]
pub mod fake;
mod model;
mod rate_limit;
mod rules;
mod writer;

pub use config::{OctopusConfig, OctopusConnection, ScopeKind, ScopeValues};
pub use destination::{assumed_budget, OctopusDestination, OctopusDestinationBuilder};
pub use factory::OctopusFactory;
pub use model::User;
pub use rate_limit::rate_limit_headers;
