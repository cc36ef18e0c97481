//! From settings and secrets to running parts: the pool (migrated on connect), the
//! registry, the worker and the API router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kms_sync::http::ClientSettings;
use kms_sync::{Error, RateBudget, Result};
use kms_sync_api::{ApiBuilder, Auth, TokenFileAuthorizer};
use kms_sync_fleet::{HanzoSources, PgPool, PostgresConfig, SyncRegistry, Worker};
use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
use secrecy::ExposeSecret;

use crate::config::{duration, ServerConfig};
use crate::secrets::{revision_key, Secrets};

/// The project of syncs without a `projectId` when `[kms] project` is not set: a KMS read
/// for it fails, naming it.
const NO_PROJECT: &str = "no-project-configured";

/// Connects to the database (running the migrations) and builds the registry.
pub(crate) async fn registry(config: &ServerConfig, secrets: &Secrets<'_>) -> Result<SyncRegistry> {
    let pool = pool(config, secrets).await?;
    let destinations = crate::destinations::registry(&config.destinations)?;
    SyncRegistry::builder(pool, destinations)
        .key_ring(secrets.key_ring()?)
        .url_policy(secrets.url_policy()?)
        .build()
}

/// The pool on `KMS_SYNC_DATABASE_URL`, in `[database] schema` (migrated).
pub(crate) async fn pool(config: &ServerConfig, secrets: &Secrets<'_>) -> Result<PgPool> {
    let url = secrets.require("database_url")?;
    let postgres = PostgresConfig::builder()
        .url(url.expose_secret())
        .schema(&config.database.schema)
        .pool_size(config.database.pool_size)
        .application_name("kms-sync-server")
        .build()?;
    PgPool::connect(postgres).await
}

/// The fleet worker: KMS sources from the machine identity, the ledger key, `[worker]`.
pub(crate) fn worker(
    config: &ServerConfig,
    secrets: &Secrets<'_>,
    registry: SyncRegistry,
) -> Result<Worker> {
    let ledger_key = secrets.ledger_key()?;
    let sources = Arc::new(HanzoSources::new(kms_template(
        config,
        secrets,
        &ledger_key,
    )?));
    let section = &config.worker;
    // Every run is recorded in the audit trail (the fleet's table), as every API call is.
    let audit = kms_sync_fleet::AuditRuns::new(registry.clone(), Arc::new(registry.audit_log()));
    let mut builder = Worker::builder(registry, sources)
        .run_listener(Arc::new(audit))
        .ledger_key(ledger_key.expose_secret().as_bytes().to_vec())
        .lease(section.lease()?)
        .fallback_poll(duration(
            "worker.fallback_poll",
            section.fallback_poll.as_deref(),
            kms_sync_fleet::DEFAULT_FALLBACK_POLL,
        )?)
        .shutdown_grace(duration(
            "worker.shutdown_grace",
            section.shutdown_grace.as_deref(),
            kms_sync_fleet::DEFAULT_SHUTDOWN_GRACE,
        )?)
        .source_poll(source_poll(section.source_poll.as_deref())?);
    if let Some(id) = &section.id {
        builder = builder.worker_id(id.clone());
    }
    if let Some(concurrency) = section.concurrency {
        builder = builder.concurrency(concurrency);
    }
    builder.build()
}

/// `worker.source_poll`: a duration, or `off`.
fn source_poll(text: Option<&str>) -> Result<Option<Duration>> {
    match text.map(str::trim) {
        Some(off) if off.eq_ignore_ascii_case("off") => Ok(None),
        other => duration(
            "worker.source_poll",
            other,
            kms_sync_fleet::DEFAULT_SOURCE_POLL,
        )
        .map(Some),
    }
}

/// The KMS client every sync's source is cut from.
fn kms_template(
    config: &ServerConfig,
    secrets: &Secrets<'_>,
    ledger_key: &secrecy::SecretString,
) -> Result<HanzoSource> {
    let auth = kms_auth(secrets)?;
    let project = config
        .kms
        .project
        .clone()
        .unwrap_or_else(|| NO_PROJECT.to_owned());
    let location = KmsLocation::new(ProjectRef::Id(project), "default", "/")?;
    let mut builder = HanzoSource::builder(auth, location).revision_key(revision_key(ledger_key));
    if let Some(per_minute) = config.kms.requests_per_minute.filter(|n| *n > 0) {
        let budget = RateBudget::new(per_minute, Duration::from_secs(60));
        builder = builder.settings(ClientSettings::new().with_rate_budget(budget));
    }
    if let Some(url) = secrets.get("kms_url")? {
        builder = builder.with_base_url(url.expose_secret().to_owned());
    }
    builder.build()
}

fn kms_auth(secrets: &Secrets<'_>) -> Result<KmsAuth> {
    let id = secrets.get("kms_client_id")?;
    let secret = secrets.get("kms_client_secret")?;
    if let (Some(id), Some(secret)) = (id, secret) {
        return Ok(KmsAuth::universal(
            id.expose_secret(),
            secret.expose_secret(),
        ));
    }
    match secrets.get("kms_access_token")? {
        Some(token) => Ok(KmsAuth::access_token(token.expose_secret())),
        None => Err(Error::config(
            "the workers read the KMS: set KMS_CLIENT_ID and KMS_CLIENT_SECRET (a machine \
             identity) or KMS_ACCESS_TOKEN (or their _FILE variables)",
        )),
    }
}

/// The API's authorizer from the token file (`KMS_SYNC_API_TOKENS`).
pub(crate) fn auth(secrets: &Secrets<'_>) -> Result<Auth> {
    let text = secrets.require("api_tokens")?;
    let authorizer = TokenFileAuthorizer::from_json(text.expose_secret())
        .map_err(|e| Error::config(format!("KMS_SYNC_API_TOKENS: {}", e.message())))?;
    Ok(Auth::authorizer(authorizer))
}

/// The Secret Syncs API router.
pub(crate) fn api(config: &ServerConfig, auth: Auth, registry: SyncRegistry) -> Result<Router> {
    let mut builder = ApiBuilder::new(registry, auth).openapi_path(config.api.openapi_path.clone());
    if let Some(org) = &config.api.org_id {
        builder = builder.org_id(org.clone());
    }
    builder.build()
}
