//! The two routes of kms-sync beyond the KMS: a sync's run history with per-run counts,
//! and the value-free plan of what it would change now.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_api::Auth;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync_core::{Error, Result};
use serde_json::json;

use crate::runs_audit::{failed_then_recovered, harness};
use crate::support::{expect, fixture, text, with_connection, Api, TOKEN};
use crate::worker_loop::{bitbucket_fakes, FakeSources};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_run_history_lists_each_run_newest_first_with_its_counts() -> Result<()> {
    let db = db!("the_run_history_lists_each_run_newest_first_with_its_counts");
    let h = harness(&db).await?;
    let url = failed_then_recovered(&h).await?;
    let runs = h.api.get(&format!("{url}/runs?limit=100")).await?;
    expect(&runs, 200, "runs")?;
    let list = runs.body["runs"].as_array().cloned().unwrap_or_default();
    let newest_first = list
        .windows(2)
        .all(|w| text(&w[0], "/startedAt") >= text(&w[1], "/startedAt"));
    let failed = list.iter().find(|r| r["status"] == json!("failed"));
    let created = list
        .iter()
        .any(|r| r["status"] == json!("succeeded") && r["counts"]["created"] == json!(1));
    if !newest_first || failed.is_none_or(|r| !r["message"].is_string()) || !created {
        return Err(Error::unexpected(format!("{}", runs.body)));
    }
    let bad = h.api.get(&format!("{url}/runs?limit=many")).await?;
    expect(&bad, 422, "a limit that is not a number")?;
    let missing = h
        .api
        .get("/api/v1/secret-syncs/bitbucket/0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d/runs")
        .await?;
    expect(&missing, 404, "the runs of an unknown sync")?;
    let _ = h.stop.send(());
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_names_each_key_and_action_and_no_value() -> Result<()> {
    let db = db!("the_plan_names_each_key_and_action_and_no_value");
    let (kms, bitbucket, builder) = bitbucket_fakes(&db).await?;
    let registry = builder.build()?;
    let sources = Arc::new(FakeSources(kms.clone()));
    let api = Api::custom(registry.clone(), Auth::bearer_tokens([TOKEN])?, |b| {
        b.planning(sources, vec![7u8; 32])
    })
    .await?;
    let conn = fixture("bitbucket-connection.json")?.replace("<YOUR-API-TOKEN>", FAKE_TOKEN);
    let conn = conn.replace("user@example.com", FAKE_EMAIL);
    let conn = api.post("/api/v1/app-connections/bitbucket", &conn).await?;
    expect(&conn, 200, "connection")?;
    let body = with_connection(
        &fixture("bitbucket-sync.json")?,
        text(&conn.body, "/appConnection/id"),
    )
    .replace(
        "\"isAutoSyncEnabled\": true",
        "\"isAutoSyncEnabled\": false",
    );
    let created = api.post("/api/v1/secret-syncs/bitbucket", &body).await?;
    expect(&created, 200, "sync")?;
    let url = format!(
        "/api/v1/secret-syncs/bitbucket/{}",
        text(&created.body, "/secretSync/id")
    );
    let plan = api.post(&format!("{url}/plan"), "").await?;
    expect(&plan, 200, "plan")?;
    let changes = plan.body["plan"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let one_create = changes.len() == 1
        && changes[0]["action"] == json!("create")
        && text(&changes[0], "/key").contains("DB_URL")
        && plan.body["plan"]["summary"]["create"] == json!(1);
    if !one_create {
        return Err(Error::unexpected(format!("{}", plan.body)));
    }
    if !bitbucket_is_empty(&bitbucket) {
        return Err(Error::unexpected("planning wrote to the destination"));
    }
    // Without planning configured, the route says how to turn it on.
    let plain = Api::with_registry(registry).await?;
    let refused = plain.post(&format!("{url}/plan"), "").await?;
    expect(&refused, 400, "planning not configured")?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    db.finish().await
}

fn bitbucket_is_empty(fake: &FakeBitbucket) -> bool {
    fake.variables("my-bitbucket-workspace", "my-bitbucket-repository", None)
        .is_empty()
}
