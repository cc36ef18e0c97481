//! # kms-sync-gitlab
//!
//! The GitLab destination of kms-sync: a project's or a group's CI/CD variables of one
//! environment scope, on GitLab.com or a self-managed instance, written one request per
//! key with the attributes the sync's `destinationConfig` asks for.
//!
//! - [`GitlabConnection`]: method `access-token` (a personal, project or group access
//!   token, sent as `PRIVATE-TOKEN`) or `oauth` (`Authorization: Bearer`), with an optional
//!   `instanceUrl`.
//! - [`GitlabConfig`]: the KMS's `destinationConfig` — `scope` (`project`/`group`),
//!   `projectId`/`groupId`, `targetEnvironment` (the environment scope, `*` by default),
//!   `shouldProtectSecrets`, `shouldMaskSecrets`, `shouldHideSecrets`; and, beyond the KMS's
//!   schema, `raw` and `variableType`.
//! - [`GitlabDestination`]: the [`Destination`](kms_sync_core::Destination). A variable's
//!   identity is (key, environment scope): variables of other scopes are never touched.
//! - [`GitlabRules`]: GitLab's key rules, and its masking rules, checked before any write
//!   when the sync masks: a value that cannot be masked is refused, never written unmasked.
//! - [`GitlabFactory`]: the registry's factory (kind `gitlab`).
//! - `fake` feature: [`fake::FakeGitlab`], a stateful GitLab on loopback.
//!
//! ## The KMS's JSON this crate accepts
//!
//! App connection ([`GitlabConnection::from_kms_json`]):
//!
//! | field | type | |
//! |---|---|---|
//! | `method` | `"access-token"` or `"oauth"` | required |
//! | `credentials.accessToken` | string | required, trimmed; never shown back |
//! | `credentials.accessTokenType` | `"personal"`, `"project"` (or `"group"`) | `access-token` only, required |
//! | `credentials.instanceUrl` | string | optional; default `https://gitlab.com` |
//!
//! `destinationConfig`: see [`GitlabConfig`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_sync_gitlab::*;
//! use kms_sync_core::{DotenvSource, Syncer};
//! # async fn run() -> kms_sync_core::Result<()> {
//! let connection = GitlabConnection::from_kms_json(&std::fs::read_to_string("connection.json").unwrap_or_default())?;
//! let config = GitlabConfig::from_kms_json(r#"{"scope":"project","projectId":"acme/api","targetEnvironment":"production"}"#)?;
//! let syncer = Syncer::builder()
//!     .source(Arc::new(DotenvSource::new(".env", "prod")))
//!     .destination(Arc::new(GitlabDestination::builder(connection, config).build()?))
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
mod listed;
mod model;
mod rate_limit;
mod rules;
mod scope;

pub use client::PAGE_LEN;
pub use config::{AccessTokenType, GitlabConnection, GITLAB_COM};
pub use destination::{documented_budget, GitlabDestination, GitlabDestinationBuilder};
pub use factory::GitlabFactory;
pub use model::User;
pub use rate_limit::rate_limit_headers;
pub use rules::{GitlabRules, MAX_KEY_LEN, MIN_MASKED_LEN};
pub use scope::{Attributes, GitlabConfig, Owner, VariableType, ALL_ENVIRONMENTS};
