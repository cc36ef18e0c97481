//! `serve`: the API and the workers in one process until SIGTERM or Ctrl-C, then a graceful
//! stop — the HTTP listener stops accepting and drains, the worker stops claiming, lets its
//! running syncs finish within the shutdown grace (writes stop, ledgers are saved) and
//! releases what it could not finish, so another replica takes it at once.

use std::future::Future;

use kms_sync::{Error, Result};
use kms_sync_fleet::{SyncRegistry, Worker, WorkerSummary};
use tokio::sync::watch;

use crate::assemble::KmsReads;
use crate::config::ServerConfig;
use crate::secrets::Secrets;

/// What `serve` runs.
///
/// ```
/// let both = kms_sync_server::serve::Parts { api: true, workers: true };
/// assert!(both.api && both.workers);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The Secret Syncs API (the ops endpoints are always served).
    pub api: bool,
    /// The fleet worker.
    pub workers: bool,
}

/// Serves until `stop` resolves; returns the worker's summary (when it ran).
///
/// ```no_run
/// # async fn run() -> kms_sync::Result<()> {
/// use kms_sync_server::{config::ServerConfig, serve};
/// let config = ServerConfig::load(None)?;
/// let parts = serve::Parts { api: true, workers: true };
/// serve::serve(&config, parts, kms_sync_server::shutdown::terminated()).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Config`](kms_sync::ErrorKind::Config) for a missing or bad setting or secret (before
/// anything starts), the database's error when it cannot be reached, an I/O error when the
/// address cannot be bound.
pub async fn serve(
    config: &ServerConfig,
    parts: Parts,
    stop: impl Future<Output = ()>,
) -> Result<Option<WorkerSummary>> {
    let (router, worker, registry) = assemble(config, parts).await?;
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|e| Error::config(format!("cannot listen on {}: {e}", config.api.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::unexpected(e.to_string()))?;
    tracing::info!(%address, api = parts.api, workers = parts.workers, database = registry.server(), "kms-sync-server listening");
    let (stopping, stopped) = watch::channel(false);
    let drained = wait(stopped.clone());
    let http = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(drained)
            .await
    });
    let fleet = worker.map(|w| tokio::spawn(async move { w.run_until(wait(stopped)).await }));
    stop.await;
    tracing::info!("stopping: no new claims; running syncs finish or are released");
    let _ = stopping.send(true);
    let summary = match fleet {
        Some(task) => Some(task.await.map_err(|e| Error::unexpected(e.to_string()))??),
        None => None,
    };
    if let Ok(Err(e)) = http.await {
        tracing::warn!(error = %e, "the HTTP listener ended with an error");
    }
    Ok(summary)
}

/// The router (the ops endpoints, and the API when it runs), the worker (when it runs) and
/// the registry. Everything that can be refused is checked before the database is touched.
async fn assemble(
    config: &ServerConfig,
    parts: Parts,
) -> Result<(axum::Router, Option<Worker>, SyncRegistry)> {
    let secrets = Secrets::new(config);
    let auth = match parts.api {
        true => Some(crate::assemble::auth(&secrets)?),
        false => None,
    };
    secrets.key_ring()?;
    secrets.url_policy()?;
    secrets.require("database_url")?;
    let reads = KmsReads::new(config, &secrets, parts.workers)?;
    let notifier = match parts.workers {
        true => crate::assemble::notifier(config, &secrets)?,
        false => None,
    };
    let metrics = crate::ops::install_metrics()?;
    let registry = crate::assemble::registry(config, &secrets).await?;
    let worker = match parts.workers {
        true => Some(crate::assemble::worker(
            config,
            &reads,
            notifier,
            registry.clone(),
        )?),
        false => None,
    };
    let mut router = crate::ops::router(registry.clone(), metrics);
    if let Some(auth) = auth {
        let api = crate::assemble::api(config, auth, registry.clone(), &reads)?;
        router = router.merge(api);
    }
    Ok((router, worker, registry))
}

async fn wait(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
