//! # kms-sync-api
//!
//! The Hanzo KMS's (Infisical-compatible) **Secret Syncs and App Connections HTTP API**, as an
//! [`axum`] router a Rust service mounts, backed by the fleet's PostgreSQL registry
//! ([`kms_sync_fleet::SyncRegistry`]): the same paths, request bodies and answers as the
//! KMS, so a client written for the KMS's API talks to your service unchanged.
//!
//! ## Why a crate of its own
//!
//! The API brings an HTTP server stack (axum, hyper, tower) and an OpenAPI generator
//! (utoipa with its proc macros) into the build. A fleet-only user — workers on
//! `kms-sync-fleet`, no HTTP surface — should not compile or audit any of it, so the API
//! lives here, behind the facade's `api` feature, and `kms-sync-fleet` stays free of it.
//!
//! ## Routes
//!
//! `{destination}` and `{app}` are the kinds the registry's
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) knows; everything the API says
//! about one (display name, import, public credential fields, display-only config fields,
//! the OpenAPI texts) comes from its factory's
//! [`DestinationFacts`](kms_sync_core::DestinationFacts), so the API names no service and a
//! destination you add is served like the built-in ones. Every answer wraps its resource as
//! the KMS does.
//!
//! | method and path | answer | the caller needs (on the resource's project) |
//! |---|---|---|
//! | `POST /api/v1/app-connections/{app}` | `{"appConnection"}`: public credential fields only (as the factory declares them), `credentialsHash`, `version`, timestamps | app-connections `create` (in `projectId`, or at organization level) |
//! | `GET /api/v1/app-connections/{app}?projectId=` | `{"appConnections": [...]}`: only those the caller may read (without `projectId`, of every project it may read) | app-connections `read` |
//! | `GET`, `PATCH`, `DELETE /api/v1/app-connections/{app}/{connectionId}` | `{"appConnection"}`; `PATCH` replaces credentials whole; `DELETE` is 400 while a sync uses it, as the KMS | `read`, and `edit` / `delete` |
//! | `POST /api/v1/secret-syncs/{destination}` | `{"secretSync"}` with every field of the KMS's sample responses; enabled with auto-sync, it is queued (`syncStatus: pending`) | secret-syncs `create` where the sync reads, secrets `read-value` (or `read`, or `describe-secret`, as the KMS accepts) there, app-connections `connect` on a connection of the same project (or of the organization) |
//! | `GET /api/v1/secret-syncs/{destination}?projectId=` | `{"secretSyncs": [...]}`: only those the caller may read | secret-syncs `read` |
//! | `GET …/{syncId}`, `GET …/sync-name/{syncName}?projectId=` | `{"secretSync"}` | `read` |
//! | `PATCH …/{syncId}` | `{"secretSync"}`, `version` one more | `read`, `edit` (and where it moves to: `edit`, secrets `read-value`; a new connection: `connect`) |
//! | `DELETE …/{syncId}?removeSecrets=true\|false` | `{"secretSync"}`; with `true` a remove is queued first (`removeStatus: pending`, `lastRemoveJobId`) and the sync is deleted when it succeeds | `read`, `delete` (and `remove-secrets` with `true`) |
//! | `POST …/{syncId}/sync-secrets`, `…/remove-secrets` | `{"secretSync"}` with the job queued: `syncStatus: pending` and `lastSyncJobId` (or the remove's) | `read`, `sync-secrets` / `remove-secrets` |
//! | `POST …/{syncId}/import-secrets?importBehavior=` | 400 "… does not support importing secrets." for a kind whose factory declares no import, as the KMS documents; else the import is queued | `read`, `import-secrets` |
//! | `POST …/check-destination` | the KMS's `hasDuplicate`, `duplicateProjectId`; beyond the KMS, `keySchemaOverlap` and each duplicate with an `exampleKey` both syncs would manage — only duplicates the caller may read | secret-syncs `read` in `projectId` |
//!
//! ## Auth is never off, and every caller is a principal
//!
//! [`ApiBuilder::new`] takes an [`Auth`]; there is no unauthenticated router. A request
//! without a valid `Authorization: Bearer` token is answered 401 before its body is read,
//! and changes nothing. A token stands for a [`Principal`]: its organization and, per
//! project, [`Grant`]s of the KMS's actions on a [`Subject`] (`secret-syncs`,
//! `app-connections`, `secrets`), with [`Conditions`] on `environment` and `secretPath`
//! (`$eq`, `$in`, `$glob`), plus organization-level app-connection actions.
//!
//! - [`Auth::authorizer`] with your [`Authorizer`] (your KMS's permission service), or the
//!   built-in [`TokenFileAuthorizer`]: a JSON file of tokens stored as SHA-256 digests,
//!   each bound to projects, actions and conditions, read strictly (an unknown field,
//!   subject or action is refused with its line and column).
//! - [`Auth::bearer_tokens`] (static tokens, kept as SHA-256 digests and compared in
//!   constant time) and [`Auth::verifier`] (your [`TokenVerifier`]) are, as before
//!   principals existed, **org-wide full-access** principals ([`Principal::full_access`]).
//!
//! Every route checks the action the KMS checks for it (the table above). A resource the
//! caller may not read — another tenant's — is answered **404 exactly as a missing id**, so
//! its existence is never revealed; an action it may not take on one it can read is **403**
//! `PermissionDenied`, as is creating where it holds no grant. Lists show only what the
//! caller may read. A project's connection is usable only by syncs of that project.
//!
//! ## Limits per caller
//!
//! Each token has a read limit (`GET`: [`DEFAULT_READ_LIMIT`] a minute) and a write limit
//! (`POST`, `PATCH`, `DELETE`: [`DEFAULT_WRITE_LIMIT`]), the KMS's defaults, set with
//! [`ApiBuilder::read_limit`] and [`ApiBuilder::write_limit`]. Over it: 429
//! `RateLimitExceeded` with `Retry-After` (seconds), in the KMS's envelope. Request bodies
//! are capped too ([`ApiBuilder::body_limit`]).
//!
//! ## Connections cannot reach inside
//!
//! The URLs a connection names (an `instanceUrl`) are checked by the
//! registry's URL policy
//! ([`SyncRegistryBuilder::url_policy`](kms_sync_fleet::SyncRegistryBuilder::url_policy),
//! public HTTPS only by default) when the connection is created or updated — refused with
//! 400 naming the field and the rule, never echoing a `user:password@` — and again by the
//! workers when they connect. The API adds no policy of its own: there is one, the
//! registry's.
//!
//! ## Errors, and nothing secret
//!
//! Every error is the KMS's envelope ([`ErrorResponse`]: `reqId`, `statusCode`, `message`,
//! `error`). A body, path or query that does not fit its documented type is the KMS's 422
//! `ValidationFailure` ([`ValidationFailure`]: `message` is a list of [`ValidationIssue`]s,
//! each a path and a message, never the value sent) — the bodies are read into the same
//! types the OpenAPI document is generated from. 400 `BadRequest` naming the field or name
//! for what kms-sync refuses beyond the shape
//! ([`ErrorKind::Config`](kms_sync_core::ErrorKind::Config) and the other refusals, a
//! duplicate name, a connection in use, a sync of another destination, a trigger while that
//! operation runs, a missing source folder, credentials the service refuses), 404 for
//! unknown ids, 401, 403 for an action the caller may not take, 429 over its rate limit, 413 over the body limit (1 MiB by default), 415 without
//! `Content-Type: application/json`, 500 "Something went wrong" for the rest. Nothing
//! changes on any error. Credentials go into the registry and never come out: answers show
//! only the fields the KMS shows, messages and logs never carry a credential or a secret
//! value (kms-sync's parsers name fields, never their values), and the request log has the
//! method, path and status only.
//!
//! ## Where this API departs from the KMS, and why
//!
//! - **Unknown fields are refused** (422 `unrecognized_keys` naming the field). The KMS's
//!   bodies are zod objects that silently *strip* unknown fields. kms-sync's parsers refuse them: a
//!   misspelt `keySchema` or `disableSecretDeletion` dropped in silence would widen what a
//!   sync deletes.
//! - **A destination's config or credentials** are read by the destination's own parser
//!   (its factory's `check_config` / `check_connection`), not by the API's request types: a
//!   shape error inside them (a missing, unknown or mistyped field) is the KMS's 422 with
//!   its path into the nested field (`["destinationConfig", "repositorySlug"]`) and no
//!   value; a value the destination refuses beyond its shape stays 400 naming the field.
//! - **Extensions**: `GET /api/v1/audit-events` (the audit trail), `GET …/{syncId}/runs`
//!   (the run history) and `POST …/{syncId}/plan` (the value-free plan) are kms-sync's own;
//!   see `kms_sync::guide` (the API page).
//! - **`isEnabled` and `isAutoSyncEnabled`** are both in every sync: some of the KMS's samples
//!   carry the first, others the second, and kms-sync honours both (a disabled sync never runs).
//! - **`environment.name`, `environment.id`, `folder.id`/`folderId`, `orgId`**: the registry
//!   keeps the environment's slug and the secret path, not the KMS's ids. The name is the
//!   KMS's default for `dev`/`staging`/`prod` (or [`ApiBuilder::environment_name`]); the ids
//!   are UUIDs derived from the project, slug and path — stable, but not the KMS's own;
//!   `orgId` is [`ApiBuilder::org_id`].
//! - **`DELETE ?removeSecrets=true`** queues the remove and deletes the sync when that job
//!   succeeds, like the KMS; the wait is kept by the process that answered (a task polling
//!   the sync's status), not by the registry, so a restart before the remove finishes
//!   leaves the sync in place (with `removeStatus` telling what happened).
//! - `initialSyncBehavior` other than `overwrite-destination` is refused for these three
//!   destinations, which cannot import, as the KMS's schemas do.
//!
//! ## OpenAPI
//!
//! [`openapi()`] is the document generated (utoipa) from the handlers' annotations and the
//! types above — the same declarations the router is built from — and
//! [`ApiBuilder::openapi_path`] serves it.
//!
//! ## Example
//!
//! ```no_run
//! use kms_sync_api::{ApiBuilder, Auth};
//! use kms_sync_fleet::{KeyRing, PgPool, PostgresConfig, SyncRegistry};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = PgPool::connect(PostgresConfig::builder().url(std::env::var("DATABASE_URL")?).build()?).await?;
//! let registry = SyncRegistry::builder(pool, kms_sync_core::DestinationRegistry::new())
//!     .key_ring(KeyRing::new("2025-06", [7u8; 32])?)
//!     .build()?;
//! let api = ApiBuilder::new(registry, Auth::bearer_tokens([std::env::var("API_TOKEN")?])?)
//!     .openapi_path("/openapi.json")
//!     .build()?;
//! let app = axum::Router::new().merge(api); // your own routes beside it
//! axum::serve(tokio::net::TcpListener::bind("127.0.0.1:8080").await?, app).await?;
//! # Ok(()) }
//! ```
//!
//! `examples/server.rs` of the `kms-sync` package runs it over the local PostgreSQL with
//! every destination's fake.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod auth;
mod authz;
mod body;
mod builder;
mod catalog;
mod checks;
mod describe;
mod error;
mod history;
mod issues;
mod limit;
mod model;
mod nested;
mod overlap;
mod present;
mod routes;

pub use audit::{AuditLogEntry, AuditLogEvent, AuditLogList};
pub use auth::{Auth, TokenVerifier, MIN_TOKEN_LEN};
pub use authz::{
    Action, Authorizer, Condition, Conditions, Grant, Principal, Subject, TokenFileAuthorizer,
};
pub use body::DEFAULT_BODY_LIMIT;
pub use builder::{openapi, openapi_for, ApiBuilder, DEFAULT_REMOVAL_POLL, DEFAULT_REMOVAL_WAIT};
pub use catalog::{
    AppConnectionOption, AppConnectionOptions, AvailableConnection, AvailableConnectionList,
    SecretSyncOption, SecretSyncOptions,
};
pub use error::{ErrorResponse, ValidationFailure, ValidationIssue, REQUEST_ID_HEADER};
pub use history::{
    PlanSummary, PlannedChange, RunCounts, SyncPlan, SyncPlanEnvelope, SyncRun, SyncRunList,
};
pub use limit::{RateLimit, DEFAULT_READ_LIMIT, DEFAULT_WRITE_LIMIT};
pub use model::{
    AppConnection, AppConnectionEnvelope, AppConnectionList, CheckDestinationRequest,
    CheckDestinationResponse, CreateAppConnectionRequest, CreateSecretSyncRequest,
    DestinationOverlap, SecretSync, SecretSyncEnvelope, SecretSyncList, SyncConnection,
    SyncEnvironment, SyncFolder, UpdateAppConnectionRequest, UpdateSecretSyncRequest,
};

/// The router's framework, re-exported so a service mounts the router with the same
/// version.
pub use axum;
