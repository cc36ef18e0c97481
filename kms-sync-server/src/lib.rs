//! # kms-sync-server
//!
//! kms-sync as one program an operator deploys, as many replicas as wanted on one
//! PostgreSQL database: the KMS's Secret Syncs and App Connections API
//! ([`kms_sync_api`]) and the fleet's workers ([`kms_sync_fleet::Worker`]), with
//! `/healthz`, `/readyz` (the database answers) and Prometheus `/metrics`.
//!
//! ```text
//! cargo install --path kms-sync-server
//! kms-sync-server --config server.toml check-config
//! kms-sync-server --config server.toml migrate
//! kms-sync-server --config server.toml serve            # or --no-api / --no-workers
//! ```
//!
//! - **Settings** ([`config`]) come from a TOML file and `KMS_SYNC_SERVER_*` variables.
//! - **Secrets** ([`secrets`]) come only from the environment or from files: the database
//!   URL, the credential key ring (with key ids, for rotation), the ledger key, the KMS's URL
//!   and machine identity, the API's token file, the URL policy's allowlist, the failure
//!   notices' webhook URL and signing key. A secret written into the TOML is refused by
//!   name.
//! - **The API reads the KMS as the workers do**: a new sync's folder is checked, and
//!   `POST …/{syncId}/plan` plans with the workers' ledger key; the workers post signed
//!   failure notices to a webhook when `KMS_SYNC_NOTICE_WEBHOOK_URL` is set.
//! - **Shutdown** ([`shutdown`], [`serve`]): on SIGTERM or Ctrl-C the listener drains, the
//!   worker stops claiming and its running syncs finish within the grace or are released
//!   for another replica.
//! - **Logs** ([`logging`]): text, or JSON lines with `[log] format = "json"`.
//!
//! A ten-line TOML:
//!
//! ```
//! let toml = r#"
//! [database]
//! schema = "kms_sync"
//! [api]
//! listen = "0.0.0.0:8080"
//! [worker]
//! concurrency = 8
//! lease = "30s"
//! [log]
//! format = "json"
//! "#;
//! let config = kms_sync_server::config::ServerConfig::from_toml_str(toml)?;
//! assert!(config.log.json());
//! # Ok::<(), kms_sync::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod assemble;
pub mod cli;
pub mod config;
pub mod destinations;
pub mod logging;
pub mod ops;
pub mod secrets;
pub mod serve;
pub mod shutdown;
