//! The operator's endpoints, served beside the API (or alone with `--no-api`):
//! `GET /healthz` (the process answers), `GET /readyz` (the database answers a query) and
//! `GET /metrics` (Prometheus text: the fleet's counters and histograms, see
//! [`kms_sync_fleet::metrics`]). None needs a token and none shows a secret.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kms_sync::{Error, Result};
use kms_sync_fleet::SyncRegistry;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How long `/readyz` waits for the database.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
struct Ops {
    registry: SyncRegistry,
    metrics: PrometheusHandle,
}

/// Installs the Prometheus recorder as the process's `metrics` recorder and describes the
/// fleet's metrics; keeps its histograms trimmed in the background.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> kms_sync::Result<()> {
/// let handle = kms_sync_server::ops::install_metrics()?;
/// println!("{}", handle.render());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Unexpected`](kms_sync::ErrorKind::Unexpected) when another recorder is installed.
pub fn install_metrics() -> Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Error::unexpected(format!("cannot install the metrics recorder: {e}")))?;
    kms_sync_fleet::metrics::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The router of `/healthz`, `/readyz` and `/metrics`.
///
/// ```no_run
/// # fn f(registry: kms_sync_fleet::SyncRegistry, handle: metrics_exporter_prometheus::PrometheusHandle) {
/// let router: axum::Router = kms_sync_server::ops::router(registry, handle);
/// # }
/// ```
pub fn router(registry: SyncRegistry, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(Ops { registry, metrics })
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, &'static str) {
    let probe = tokio::time::timeout(READY_TIMEOUT, ops.registry.jobs().next_due()).await;
    match probe {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!(kind = ?e.kind(), "readiness: the database failed a query");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable\n",
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer in time\n",
        ),
    }
}

async fn render_metrics(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
}
