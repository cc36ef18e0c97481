//! GitLab's `RateLimit-*` headers through the shared client: the limit the fake announces
//! becomes the client's pacing.

use kms_sync_core::http::{Auth, ClientSettings, Pacing, Request};
use kms_sync_core::{RateBudget, Result};
use kms_sync_gitlab::fake::{FakeGitlab, FAKE_TOKEN};
use kms_sync_gitlab::{documented_budget, rate_limit_headers};

#[tokio::test]
async fn the_announced_limit_becomes_the_pacing() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let client = ClientSettings::new()
        .client_builder("gitlab", &fake.base_url(), documented_budget(), 8)
        .auth(Auth::header("PRIVATE-TOKEN", FAKE_TOKEN))
        .rate_limit_headers(rate_limit_headers)
        .build()?;
    client.send(Request::get("/api/v4/user")).await?;
    assert_eq!(
        client.pacing(),
        Some(Pacing::from_budget(documented_budget())),
        "no headers (a self-managed instance without limits): the documented budget stays"
    );
    fake.announce_rate_limit(600);
    client.send(Request::get("/api/v4/user")).await?;
    let announced = Pacing::from_budget(RateBudget::new(600, std::time::Duration::from_secs(60)));
    assert_eq!(client.pacing(), Some(announced));
    Ok(())
}
