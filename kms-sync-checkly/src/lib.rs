//! # kms-sync-checkly
//!
//! The Checkly destination of kms-sync: the account's environment variables (one request per
//! key) or one check group's variables (one GET and one PUT replacing the group's list, under
//! the engine's scope lock for that group), written secret, paced to Checkly's documented 600
//! requests per 60 seconds.
//!
//! - [`ChecklyConnection`]: method `api-key` — an API key (Bearer).
//! - [`ChecklyConfig`]: the KMS's `destinationConfig` — `accountId` (sent as
//!   `X-Checkly-Account`), `accountName`, optional `groupId` and/or `groupName`.
//!
//! ## The KMS's JSON this crate accepts
//!
//! Checked against the KMS's own schemas (`checkly-sync-schemas.ts`,
//! `checkly-connection-schemas.ts`). Unknown fields are refused (the KMS drops them
//! silently; here a typo is an error instead).
//!
//! App connection ([`ChecklyConnection::from_kms_json`]):
//!
//! | field | type | |
//! |---|---|---|
//! | `name` | string | optional |
//! | `description` | string | optional |
//! | `projectId` | string | optional |
//! | `method` | string | `"api-key"`, the only method |
//! | `credentials.apiKey` | string | required, not blank (the KMS: 1–255 characters after trimming) |
//!
//! `destinationConfig` ([`ChecklyConfig::from_kms_json`]):
//!
//! | field | type | |
//! |---|---|---|
//! | `accountId` | string, 1–255 characters | required; a UUID |
//! | `accountName` | string, 1–255 characters | optional; display only |
//! | `groupId` | string of digits, 1–255 characters (a JSON number is accepted too) | optional |
//! | `groupName` | string, 1–255 characters | optional; with `groupId` the id decides and the name must be that group's |
//! - [`ChecklyDestination`]: the [`Destination`](kms_sync_core::Destination), holding one of
//!   two over one client: [`AccountVariables`] or [`GroupVariables`].
//! - `fake` feature: [`fake::FakeChecklyServer`], a stateful Checkly on loopback.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_sync_checkly::*;
//! use kms_sync_core::{DotenvSource, Syncer};
//! # async fn run() -> kms_sync_core::Result<()> {
//! let connection = ChecklyConnection::new(std::env::var("CHECKLY_API_KEY").unwrap_or_default())?;
//! let config = ChecklyConfig::from_kms_json(r#"{"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}"#)?;
//! let syncer = Syncer::builder()
//!     .source(Arc::new(DotenvSource::new(".env", "prod")))
//!     .destination(Arc::new(ChecklyDestination::builder(connection, config).build()?))
//!     .key_schema_template("KMS_{{secretKey}}")
//!     .build()?;
//! println!("{}", syncer.plan().await?);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
mod client;
mod config;
mod destination;
mod error;
mod factory;
#[cfg(feature = "fake")]
pub mod fake;
mod group;
mod listed;
mod model;

pub use account::AccountVariables;
pub use client::PAGE_LIMIT;
pub use config::{ChecklyConfig, ChecklyConnection};
pub use destination::{
    documented_budget, ChecklyDestination, ChecklyDestinationBuilder, DEFAULT_BASE_URL,
};
pub use factory::ChecklyFactory;
pub use group::{GroupVariables, GROUP_LIMIT};
pub use model::Account;
