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
//!
//! ## The KMS's JSON this crate accepts
//!
//! Checked against the KMS's own schemas (`bitbucket-sync-schemas.ts`,
//! `bitbucket-connection-schemas.ts`). Unknown fields are refused (the KMS drops them
//! silently; here a typo is an error instead).
//!
//! App connection ([`BitbucketConnection::from_kms_json`]):
//!
//! | field | type | |
//! |---|---|---|
//! | `name` | string | optional |
//! | `description` | string | optional |
//! | `projectId` | string | optional |
//! | `method` | string | `"api-token"`, the only method |
//! | `credentials.email` | string, an email, 1–255 characters | required; trimmed, as the KMS does |
//! | `credentials.apiToken` | string, 1–255 characters | required; trimmed, as the KMS does |
//!
//! `destinationConfig` ([`BitbucketConfig::from_kms_json`]):
//!
//! | field | type | |
//! |---|---|---|
//! | `workspaceSlug` | string | required; not empty, no `/` or spaces |
//! | `repositorySlug` | string | required; not empty, no `/` or spaces |
//! | `environmentId` | string | optional; a deployment environment's UUID, braces optional |
//! | `environment` | string | optional, an addition to the KMS's schema: the environment's name or slug; not with `environmentId` |
//!
//! The token needs [`REQUIRED_SCOPES`]; the KMS's connection guide lists
//! [`KMS_DOCUMENTED_SCOPES`], which include them.
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

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod destination;
mod error;
mod factory;
#[cfg(feature = "fake")]
pub mod fake;
mod listed;
mod model;
mod rate_limit;

pub use client::PAGE_LEN;
pub use config::{BitbucketConfig, BitbucketConnection, KMS_DOCUMENTED_SCOPES, REQUIRED_SCOPES};
pub use destination::{
    documented_budget, BitbucketDestination, BitbucketDestinationBuilder, DEFAULT_BASE_URL,
};
pub use factory::BitbucketFactory;
pub use model::User;
pub use rate_limit::rate_limit_headers;
