//! Bitbucket's rate-limit headers through the shared client: the hourly limit an Access
//! Token is told becomes the client's pacing, without a burst near the limit.

use axum::routing::get;
use axum::Router;
use kms_sync_bitbucket::{documented_budget, rate_limit_headers};
use kms_sync_core::http::{ClientSettings, Pacing, Request};
use kms_sync_core::{RateBudget, Result};
use kms_sync_testkit::FaultServer;

fn app() -> Router {
    let limited = |near: &'static str| {
        get(move || async move {
            (
                [
                    ("X-RateLimit-Limit", "2500"),
                    ("X-RateLimit-Resource", "api"),
                    ("X-RateLimit-NearLimit", near),
                ],
                "{}",
            )
        })
    };
    Router::new()
        .route("/2.0/user", get(|| async { "{}" }))
        .route("/2.0/repositories/a/b", limited("false"))
        .route("/2.0/repositories/a/c", limited("true"))
}

#[tokio::test]
async fn the_announced_hourly_limit_becomes_the_pacing() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let client = ClientSettings::new()
        .client_builder("svc", &server.base_url(), documented_budget(), 8)
        .rate_limit_headers(rate_limit_headers)
        .build()?;
    client.send(Request::get("/2.0/user")).await?;
    assert_eq!(
        client.pacing(),
        Some(Pacing::from_budget(documented_budget())),
        "no headers (an API token): the documented budget stays"
    );
    client.send(Request::get("/2.0/repositories/a/b")).await?;
    let scaled = Pacing::from_budget(RateBudget::new(
        2_500,
        std::time::Duration::from_secs(3_600),
    ));
    assert_eq!(client.pacing(), Some(scaled));
    client.send(Request::get("/2.0/repositories/a/c")).await?;
    assert_eq!(
        client.pacing(),
        Some(Pacing::new(1.0, scaled.rate_per_second())),
        "near the limit: no burst"
    );
    Ok(())
}
