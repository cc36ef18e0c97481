//! Limits per caller: over its read (or write) limit a caller gets 429 with `Retry-After`
//! in the KMS's envelope; another caller, and the other kind of request, are not held up.

use std::time::Duration;

use kms_sync_api::{Auth, RateLimit};
use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::json;

use crate::support::{Answer, Api, TOKEN};

const OTHER: &str = "another-callers-token-0123456789";
const LIST: &str = "/api/v1/secret-syncs/checkly?projectId=3c90c3cc-0d44-4b50-8888-8dd25736052a";
const CHECK: &str = "/api/v1/secret-syncs/checkly/check-destination";

fn limited(what: &str, answer: &Answer) -> Result<()> {
    let seconds: u64 = answer
        .retry_after
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = &answer.body;
    let ok = answer.status == 429
        && seconds >= 1
        && body["statusCode"] == json!(429)
        && body["error"] == "RateLimitExceeded"
        && body["reqId"].is_string()
        && body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("try again in {seconds} seconds")));
    if ok {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: expected 429 with Retry-After, got {} {:?} {body}",
        answer.status, answer.retry_after
    )))
}

fn passed(what: &str, answer: &Answer) -> Result<()> {
    if answer.status == 200 {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: {} {}",
        answer.status, answer.body
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_over_a_callers_limit_is_429_with_retry_after() -> Result<()> {
    let db = db!("the_request_over_a_callers_limit_is_429_with_retry_after");
    let registry = crate::support::registry(&db).await?;
    let hour = Duration::from_secs(3600);
    let api = Api::custom(registry, Auth::bearer_tokens([TOKEN, OTHER])?, |b| {
        b.read_limit(RateLimit::new(3, hour).expect("3 an hour"))
            .write_limit(RateLimit::new(2, hour).expect("2 an hour"))
    })
    .await?;
    let check = json!({"projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}).to_string();
    for n in 1..=3 {
        passed(&format!("read {n}"), &api.get(LIST).await?)?;
    }
    limited("the 4th read", &api.get(LIST).await?)?;
    limited("the 5th read", &api.get(LIST).await?)?;
    // Writes have their own limit.
    for n in 1..=2 {
        passed(&format!("write {n}"), &api.post(CHECK, &check).await?)?;
    }
    limited("the 3rd write", &api.post(CHECK, &check).await?)?;
    // Another caller has limits of its own.
    let other = api.call_as(OTHER, Method::GET, LIST, None).await?;
    passed("another caller's read", &other)?;
    // An unauthenticated request is 401, not counted against anyone.
    let anonymous = api
        .call_as("not-a-token-at-all-0123", Method::GET, LIST, None)
        .await?;
    if anonymous.status != 401 {
        return Err(Error::unexpected(format!(
            "unknown token: {}",
            anonymous.status
        )));
    }
    Ok(())
}
