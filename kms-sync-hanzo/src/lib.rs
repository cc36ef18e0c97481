//! # kms-sync-hanzo
//!
//! The source half of every sync: [`HanzoSource`] reads a Hanzo KMS (Infisical-compatible)
//! project environment and folder path through `GET /api/v3/secrets/raw`, with secret imports
//! and secret references expanded by the KMS, merged with the service's precedence, failing
//! closed.
//!
//! - [`KmsAuth`]: machine identity Universal Auth (renewed before expiry, re-obtained when
//!   renewal is no longer possible) or a ready access token.
//! - [`KmsLocation`]: project (id or slug), environment slug, secret path.
//! - Change detection: [`SecretSource::revision`](kms_sync_core::SecretSource::revision) is an
//!   HMAC over keys, versions and values (keyed per instance unless
//!   [`revision_key`](HanzoSourceBuilder::revision_key) shares one across a fleet, so it
//!   reveals nothing), asked with `If-None-Match` once the KMS sent an ETag: `304 Not
//!   Modified` while nothing changed, no body. [`HanzoSource::at`] reads another folder over
//!   the same client, token and rate budget. [`verify_webhook`] checks a KMS webhook's
//!   signature so a service can sync on change.
//! - `fake` feature: [`fake::FakeKms`], a stateful KMS on loopback.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
mod model;
mod source;
mod webhook;

pub use config::{KmsAuth, KmsLocation, ProjectRef, DEFAULT_BASE_URL};
pub use source::{HanzoSource, HanzoSourceBuilder};
pub use webhook::{
    sign_webhook, verify_webhook, WebhookEvent, WebhookProject, INFISICAL_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
};
