//! The checks the KMS makes at create: a connection's credentials work against the
//! service (against the fakes here), the sync's source folder exists, a project's
//! connection serves only its project — each a 400 naming what failed, nothing stored.

use std::sync::Arc;

use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync_core::{DestinationRegistry, Error, MemoryFactory, Result};
use kms_sync_fleet::{KeyRing, SyncRegistry};
use kms_sync_hanzo::fake::FakeKms;
use serde_json::json;

use crate::fleet::{fakes_only, AtFake, FakeSources};
use crate::permissions::{PROJECT_A, PROJECT_B};
use kms_sync_api::Auth;

use crate::support::{expect, fixture, text, with_connection, Api, TestDb, TOKEN};

async fn verifying_api(db: &TestDb, bitbucket: &FakeBitbucket) -> Result<Api> {
    let destinations = DestinationRegistry::new()
        .with(AtFake(
            kms_sync_bitbucket::BitbucketFactory,
            bitbucket.base_url(),
        ))
        .with(MemoryFactory);
    let registry = SyncRegistry::builder(db.pool().await?, destinations)
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .url_policy(fakes_only(&[bitbucket.base_url()])?)
        .build()?;
    Api::custom(registry, Auth::bearer_tokens([TOKEN])?, |b| {
        b.verify_connections(true)
    })
    .await
}

fn bitbucket_connection(token: &str) -> String {
    json!({"name": "bb", "method": "api-token", "projectId": PROJECT_A,
           "credentials": {"email": FAKE_EMAIL, "apiToken": token}})
    .to_string()
}

async fn connections(api: &Api) -> Result<usize> {
    Ok(api
        .registry
        .connections()
        .list("bitbucket", None)
        .await?
        .len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_credentials_the_service_refuses_is_not_created() -> Result<()> {
    let db = db!("a_connection_whose_credentials_the_service_refuses_is_not_created");
    let bitbucket = FakeBitbucket::start().await;
    let api = verifying_api(&db, &bitbucket).await?;
    let refused = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &bitbucket_connection("wrong-token-value"),
        )
        .await?;
    expect(&refused, 400, "refused credentials")?;
    let message = text(&refused.body, "/message");
    if !message.contains("\"bb\"")
        || !message.contains("Bitbucket")
        || message.contains("wrong-token-value")
    {
        return Err(Error::unexpected(format!("{}", refused.body)));
    }
    if connections(&api).await? != 0 {
        return Err(Error::unexpected("a refused connection was stored"));
    }
    let accepted = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &bitbucket_connection(FAKE_TOKEN),
        )
        .await?;
    expect(&accepted, 200, "working credentials")?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_credentials_are_verified_when_a_connection_is_updated() -> Result<()> {
    let db = db!("new_credentials_are_verified_when_a_connection_is_updated");
    let bitbucket = FakeBitbucket::start().await;
    let api = verifying_api(&db, &bitbucket).await?;
    let made = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &bitbucket_connection(FAKE_TOKEN),
        )
        .await?;
    let url = format!(
        "/api/v1/app-connections/bitbucket/{}",
        text(&made.body, "/appConnection/id")
    );
    let bad =
        json!({"credentials": {"email": FAKE_EMAIL, "apiToken": "rotated-but-wrong"}}).to_string();
    let refused = api.call(reqwest::Method::PATCH, &url, Some(&bad)).await?;
    expect(&refused, 400, "refused new credentials")?;
    let after = api.get(&url).await?;
    if after.body["appConnection"]["version"] != made.body["appConnection"]["version"] {
        return Err(Error::unexpected(
            "refused credentials changed the connection",
        ));
    }
    let renamed = api
        .call(
            reqwest::Method::PATCH,
            &url,
            Some(r#"{"name": "bb-renamed"}"#),
        )
        .await?;
    expect(&renamed, 200, "a rename is not re-verified")?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_cannot_verify_accepts_the_connection_unverified() -> Result<()> {
    let db = db!("a_destination_that_cannot_verify_accepts_the_connection_unverified");
    let bitbucket = FakeBitbucket::start().await;
    let api = verifying_api(&db, &bitbucket).await?;
    let got = api
        .post(
            "/api/v1/app-connections/memory",
            &json!({"name": "mem", "method": "none", "projectId": PROJECT_A, "credentials": {}})
                .to_string(),
        )
        .await?;
    expect(&got, 200, "a memory connection")?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_a_missing_folder_is_refused_naming_it() -> Result<()> {
    let db = db!("a_sync_of_a_missing_folder_is_refused_naming_it");
    let kms = Arc::new(FakeKms::start().await);
    kms.set("dev", "/my-secrets", "DB_URL", "postgres://v1");
    let registry = SyncRegistry::builder(db.pool().await?, crate::support::destinations())
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .build()?;
    let api = Api::custom(registry, Auth::bearer_tokens([TOKEN])?, |b| {
        b.source_provider(Arc::new(FakeSources(kms.clone())))
    })
    .await?;
    let conn = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &fixture("bitbucket-connection.json")?,
        )
        .await?;
    let body = with_connection(
        &fixture("bitbucket-sync.json")?,
        text(&conn.body, "/appConnection/id"),
    );
    let missing = body.replace("\"/my-secrets\"", "\"/not-there\"");
    let refused = api.post("/api/v1/secret-syncs/bitbucket", &missing).await?;
    expect(&refused, 400, "a missing folder")?;
    if !text(&refused.body, "/message").contains("/not-there") {
        return Err(Error::unexpected(format!("{}", refused.body)));
    }
    if !api
        .registry
        .syncs()
        .list("bitbucket", None)
        .await?
        .is_empty()
    {
        return Err(Error::unexpected("a sync of a missing folder was stored"));
    }
    let made = api.post("/api/v1/secret-syncs/bitbucket", &body).await?;
    expect(&made, 200, "a sync of an existing folder")?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_connection_is_refused_in_another_project() -> Result<()> {
    let db = db!("a_project_connection_is_refused_in_another_project");
    let api = Api::start(&db).await?;
    let conn = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &fixture("bitbucket-connection.json")?
                .replace(crate::support::SAMPLE_PROJECT, PROJECT_B),
        )
        .await?;
    expect(&conn, 200, "a connection of project B")?;
    let id = text(&conn.body, "/appConnection/id").to_owned();
    let body = with_connection(&fixture("bitbucket-sync.json")?, &id);
    let refused = api.post("/api/v1/secret-syncs/bitbucket", &body).await?;
    expect(&refused, 400, "a connection of another project")?;
    if !text(&refused.body, "/message").contains(&id) {
        return Err(Error::unexpected(format!("{}", refused.body)));
    }
    db.finish().await
}
