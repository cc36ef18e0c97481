//! Octopus's rate-limit headers through the shared client: the announced policy becomes the
//! client's pacing, and an empty bucket pauses the next request.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use kms_sync_core::http::{ClientSettings, Pacing, Request};
use kms_sync_core::Result;
use kms_sync_octopus::{assumed_budget, rate_limit_headers};
use kms_sync_testkit::FaultServer;

fn app() -> Router {
    Router::new()
        .route(
            "/api/limited",
            get(|| async {
                (
                    [
                        ("Octopus-RateLimit-Policy", "l=200;rpm=600"),
                        ("Octopus-RateLimit", "r=0;t=1"),
                    ],
                    "{}",
                )
            }),
        )
        .route("/api/plain", get(|| async { "{}" }))
}

#[tokio::test]
async fn the_announced_policy_is_adopted_and_an_empty_bucket_pauses() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let client = ClientSettings::new()
        .client_builder("svc", &server.base_url(), assumed_budget(), 4)
        .rate_limit_headers(rate_limit_headers)
        .build()?;
    client.send(Request::get("/api/plain")).await?;
    assert_eq!(
        client.pacing(),
        Some(Pacing::from_budget(assumed_budget())),
        "no headers: the assumed budget stays"
    );
    client.send(Request::get("/api/limited")).await?;
    assert_eq!(client.pacing(), Some(Pacing::new(180.0, 9.0)));
    client.send(Request::get("/api/plain")).await?;
    let log = server.faults().log();
    assert!(
        log[2].at.duration_since(log[1].at) >= Duration::from_millis(950),
        "paused for t=1"
    );
    Ok(())
}
