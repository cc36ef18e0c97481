//! From settings and secrets to running parts: the pool (migrated on connect), the
//! registry, the KMS reads, the worker (with its notices) and the API router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kms_sync::http::ClientSettings;
use kms_sync::{Error, RateBudget, Result};
use kms_sync_api::{ApiBuilder, Auth, TokenFileAuthorizer};
use kms_sync_fleet::{
    FailureNotices, HanzoSources, Notifier, PgPool, PostgresConfig, SyncRegistry, WebhookNotifier,
    Worker,
};
use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
use secrecy::{ExposeSecret, SecretString};

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

/// What the workers and the API read the KMS with: one client for the process (one login,
/// one access token, one rate budget) and the ledger key.
pub(crate) struct KmsReads {
    /// The KMS sources: `None` on an API-only replica without a KMS identity.
    pub sources: Option<Arc<HanzoSources>>,
    /// The ledger key: `None` on an API-only replica without one.
    pub ledger_key: Option<SecretString>,
}

impl KmsReads {
    /// The KMS client and ledger key from the secrets: both required when `workers` run;
    /// otherwise each is used when set (the API's folder check and plans need them).
    pub(crate) fn new(
        config: &ServerConfig,
        secrets: &Secrets<'_>,
        workers: bool,
    ) -> Result<KmsReads> {
        let ledger_key = match workers || secrets.get("ledger_key")?.is_some() {
            true => Some(secrets.ledger_key()?),
            false => None,
        };
        let sources = match (kms_auth(secrets)?, workers) {
            (Some(auth), _) => {
                let template = kms_template(config, secrets, auth, ledger_key.as_ref())?;
                Some(Arc::new(HanzoSources::new(template)))
            }
            (None, true) => return Err(no_kms_identity()),
            (None, false) => None,
        };
        Ok(KmsReads {
            sources,
            ledger_key,
        })
    }
}

/// The fleet worker: the KMS sources and ledger key of `reads`, `[worker]`, the audit
/// trail and (when configured) failure notices.
pub(crate) fn worker(
    config: &ServerConfig,
    reads: &KmsReads,
    notifier: Option<Arc<dyn Notifier>>,
    registry: SyncRegistry,
) -> Result<Worker> {
    let (Some(sources), Some(ledger_key)) = (&reads.sources, &reads.ledger_key) else {
        return Err(no_kms_identity());
    };
    let section = &config.worker;
    // Every run is recorded in the audit trail (the fleet's table), as every API call is.
    let audit = kms_sync_fleet::AuditRuns::new(registry.clone(), Arc::new(registry.audit_log()));
    let mut builder = Worker::builder(registry.clone(), sources.clone())
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
    if let Some(notifier) = notifier {
        builder = builder.run_listener(Arc::new(FailureNotices::new(registry, notifier)));
    }
    if let Some(id) = &section.id {
        builder = builder.worker_id(id.clone());
    }
    if let Some(concurrency) = section.concurrency {
        builder = builder.concurrency(concurrency);
    }
    builder.build()
}

/// The failure notices' webhook (`KMS_SYNC_NOTICE_WEBHOOK_URL`, signed with
/// `KMS_SYNC_NOTICE_SIGNING_KEY`), or `None` when notices are not configured. Needs a
/// tokio runtime (the webhook sends on a task of its own).
pub(crate) fn notifier(
    config: &ServerConfig,
    secrets: &Secrets<'_>,
) -> Result<Option<Arc<dyn Notifier>>> {
    let Some((url, key)) = secrets.notices()? else {
        return Ok(None);
    };
    let backoff = duration(
        "notices.retry_backoff",
        config.notices.retry_backoff.as_deref(),
        crate::config::DEFAULT_NOTICE_BACKOFF,
    )?;
    let key = key.expose_secret().as_bytes().to_vec();
    let webhook = WebhookNotifier::with_backoff(url.expose_secret(), key, backoff)
        .map_err(|e| Error::config(format!("KMS_SYNC_NOTICE_WEBHOOK_URL: {}", e.message())))?;
    Ok(Some(Arc::new(webhook)))
}

fn no_kms_identity() -> Error {
    Error::config(
        "the workers read the KMS: set KMS_CLIENT_ID and KMS_CLIENT_SECRET (a machine \
         identity) or KMS_ACCESS_TOKEN (or their _FILE variables)",
    )
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
    auth: KmsAuth,
    ledger_key: Option<&SecretString>,
) -> Result<HanzoSource> {
    let project = config
        .kms
        .project
        .clone()
        .unwrap_or_else(|| NO_PROJECT.to_owned());
    let location = KmsLocation::new(ProjectRef::Id(project), "default", "/")?;
    let mut builder = HanzoSource::builder(auth, location);
    if let Some(ledger_key) = ledger_key {
        builder = builder.revision_key(revision_key(ledger_key));
    }
    if let Some(per_minute) = config.kms.requests_per_minute.filter(|n| *n > 0) {
        let budget = RateBudget::new(per_minute, Duration::from_secs(60));
        builder = builder.settings(ClientSettings::new().with_rate_budget(budget));
    }
    if let Some(url) = secrets.get("kms_url")? {
        builder = builder.with_base_url(url.expose_secret().to_owned());
    }
    builder.build()
}

/// The machine identity (`KMS_CLIENT_ID` and `KMS_CLIENT_SECRET`), else the access token,
/// else `None`.
fn kms_auth(secrets: &Secrets<'_>) -> Result<Option<KmsAuth>> {
    let id = secrets.get("kms_client_id")?;
    let secret = secrets.get("kms_client_secret")?;
    if let (Some(id), Some(secret)) = (id, secret) {
        return Ok(Some(KmsAuth::universal(
            id.expose_secret(),
            secret.expose_secret(),
        )));
    }
    let token = secrets.get("kms_access_token")?;
    Ok(token.map(|t| KmsAuth::access_token(t.expose_secret())))
}

/// The API's authorizer from the token file (`KMS_SYNC_API_TOKENS`).
pub(crate) fn auth(secrets: &Secrets<'_>) -> Result<Auth> {
    let text = secrets.require("api_tokens")?;
    let authorizer = TokenFileAuthorizer::from_json(text.expose_secret())
        .map_err(|e| Error::config(format!("KMS_SYNC_API_TOKENS: {}", e.message())))?;
    Ok(Auth::authorizer(authorizer))
}

/// The Secret Syncs API router: with the KMS sources of `reads`, a new or moved sync's
/// folder is checked, and with its ledger key too, `POST …/{syncId}/plan` plans.
pub(crate) fn api(
    config: &ServerConfig,
    auth: Auth,
    registry: SyncRegistry,
    reads: &KmsReads,
) -> Result<Router> {
    let mut builder = ApiBuilder::new(registry, auth).openapi_path(config.api.openapi_path.clone());
    if let Some(org) = &config.api.org_id {
        builder = builder.org_id(org.clone());
    }
    match (&reads.sources, &reads.ledger_key) {
        (Some(sources), Some(key)) => {
            builder = builder.planning(sources.clone(), key.expose_secret().as_bytes().to_vec());
        }
        (Some(sources), None) => builder = builder.source_provider(sources.clone()),
        (None, _) => tracing::info!(
            "no KMS identity: sync folders are not checked at create and plans are off"
        ),
    }
    builder.build()
}
