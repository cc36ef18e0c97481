//! GitHub's rate-limit headers through the shared client: the quota the fake announces
//! becomes the pacing of a destination's client.

use kms_sync_core::http::{ClientSettings, Pacing, Request};
use kms_sync_core::{RateBudget, Result};
use kms_sync_github::fake::FakeGithub;
use kms_sync_github::{documented_budget, rate_limit_headers};

#[tokio::test]
async fn the_announced_quota_becomes_the_pacing() -> Result<()> {
    let fake = FakeGithub::start().await;
    let client = ClientSettings::new()
        .client_builder("github", &fake.base_url(), documented_budget(), 2)
        .allow_insecure_http(true)
        .rate_limit_headers(rate_limit_headers)
        .build()?;
    assert_eq!(
        client.pacing(),
        Some(Pacing::from_budget(documented_budget()))
    );
    fake.set_quota(15_000);
    let _ = client.send(Request::get("/user")).await;
    let announced = RateBudget::new(15_000, std::time::Duration::from_secs(3_600));
    assert_eq!(client.pacing(), Some(Pacing::from_budget(announced)));
    Ok(())
}
