//! # kms-sync-github
//!
//! The GitHub Actions destination of kms-sync: repository, environment and organization
//! secrets, each value sealed to the scope's public key (libsodium's sealed box) and written
//! one request per key, paced to the token's quota.
//!
//! - [`GithubConnection`]: method `pat` (a fine-grained personal access token), `oauth`, or
//!   `github-app` (the App's id and private key mint an installation token through an RS256
//!   JWT; the token is cached until five minutes before it expires). GitHub.com, GHE.com or
//!   GitHub Enterprise Server (`instanceType: "server"`, `host` → `https://<host>/api/v3`).
//! - [`GithubConfig`]: the KMS's `destinationConfig` — `scope` `repository` (`owner`,
//!   `repo`), `repository-environment` (plus `env`) or `organization` (`org`, `visibility`,
//!   `selectedRepositoryIds`).
//! - [`GithubDestination`]: the [`Destination`](kms_sync_core::Destination). Values are
//!   write-only: keep a ledger, or every run rewrites every value (the plan says
//!   `hidden value, no ledger`).
//! - [`GithubRules`]: names GitHub accepts (no `GITHUB_` prefix), planned upper-cased as
//!   GitHub stores them; values up to 48 KB; [`GithubConfig::max_secrets`]: 100 per
//!   repository or environment, 1,000 per organization, checked before the first write.
//! - [`GithubFactory`]: the registry's factory (kind `github`).
//! - `fake` feature: [`fake::FakeGithub`], a stateful GitHub on loopback.
//!
//! ## The KMS's JSON this crate accepts
//!
//! App connection ([`GithubConnection::from_kms_json`]):
//!
//! | `method` | `credentials` |
//! |---|---|
//! | `pat` | `personalAccessToken`; optional `instanceType` (`cloud`, `server`), `host` |
//! | `oauth` | `accessToken`; optional `instanceType`, `host` |
//! | `github-app` | `installationId`, and — kept by the KMS in its server settings, needed here — `appId` and `privateKey` (PEM); optional `instanceType`, `host` |
//!
//! `destinationConfig` ([`GithubConfig::from_kms_json`]):
//!
//! | `scope` | fields |
//! |---|---|
//! | `repository` | `owner`, `repo` |
//! | `repository-environment` | `owner`, `repo`, `env` |
//! | `organization` | `org`, `visibility` (`all`, `private`, `selected`), `selectedRepositoryIds` (with `selected` only, at least one) |
//!
//! Unknown fields are refused (the KMS drops them silently; here a typo is an error).
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_sync_github::*;
//! use kms_sync_core::{DotenvSource, Fingerprinter, JsonFileStateStore, Syncer};
//! # async fn run() -> kms_sync_core::Result<()> {
//! let connection = GithubConnection::from_kms_json(&std::fs::read_to_string("connection.json").unwrap_or_default())?;
//! let config = GithubConfig::from_kms_json(r#"{"scope":"repository","owner":"acme","repo":"api"}"#)?;
//! let syncer = Syncer::builder()
//!     .source(Arc::new(DotenvSource::new(".env", "prod")))
//!     .destination(Arc::new(GithubDestination::builder(connection, config).build()?))
//!     .key_schema_template("KMS_{{secretKey}}")
//!     .build()?;
//! println!("{}", syncer.plan().await?);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod app_auth;
mod client;
mod config;
mod connection;
mod destination;
mod error;
mod factory;
#[cfg(feature = "fake")]
pub mod fake;
mod listed;
mod model;
mod rate_limit;
mod rules;
mod seal;

pub use client::MAX_PAGE_SIZE;
pub use config::{
    GithubConfig, Visibility, MAX_ENVIRONMENT_SECRETS, MAX_ORGANIZATION_SECRETS,
    MAX_REPOSITORY_SECRETS,
};
pub use connection::{GithubConnection, DEFAULT_BASE_URL};
pub use destination::{documented_budget, GithubDestination, GithubDestinationBuilder};
pub use factory::GithubFactory;
pub use model::User;
pub use rate_limit::rate_limit_headers;
pub use rules::{GithubRules, MAX_VALUE_BYTES};
