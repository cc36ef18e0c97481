//! # kms-sync-bitbucket
//!
//! The Bitbucket Cloud destination of kms-sync: Pipelines repository variables and
//! deployment-environment variables, written secured, one request per key, paced to
//! Bitbucket's documented budget (1,000 requests per rolling hour per user).
//!
//! - [`BitbucketConnection`]: method `api-token` — Atlassian account email + API token with the
//!   scopes in [`REQUIRED_SCOPES`].
//! - [`BitbucketConfig`]: the KMS's `destinationConfig` — `workspaceSlug`, `repositorySlug`,
//!   optional `environmentId` or `environment`.
//! - [`BitbucketDestination`]: the [`Destination`](kms_sync_core::Destination).
//! - `fake` feature: [`fake::FakeBitbucket`], a stateful Bitbucket on loopback.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_sync_bitbucket::*;
//! use kms_sync_core::{DotenvSource, Syncer};
//! # async fn run() -> kms_sync_core::Result<()> {
//! let connection = BitbucketConnection::from_kms_json(&std::fs::read_to_string("connection.json").unwrap_or_default())?;
//! let config = BitbucketConfig::from_kms_json(r#"{"workspaceSlug":"acme","repositorySlug":"api"}"#)?;
//! let syncer = Syncer::builder()
//!     .source(Arc::new(DotenvSource::new(".env", "prod")))
//!     .destination(Arc::new(BitbucketDestination::builder(connection, config).build()?))
//!     .key_schema_template("KMS_{{secretKey}}")
//!     .build()?;
//! println!("{}", syncer.plan().await?);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod destination;
mod error;
mod factory;
#[cfg(feature = "fake")]
pub mod fake;
mod model;

pub use client::PAGE_LEN;
pub use config::{BitbucketConfig, BitbucketConnection, REQUIRED_SCOPES};
pub use destination::{
    documented_budget, BitbucketDestination, BitbucketDestinationBuilder, DEFAULT_BASE_URL,
};
pub use factory::BitbucketFactory;
pub use model::User;
