//! `POST`, `PATCH`, `DELETE /api/v1/app-connections/{app}…`: every refused body or id
//! answers its status in the KMS's envelope, naming the field and never a credential, and
//! changes nothing; credentials the service refuses are 400 (checked against the fakes).

use kms_sync_api::Auth;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync_core::{DestinationRegistry, Error, MemoryFactory, Result};
use kms_sync_fleet::{KeyRing, SyncRegistry};
use reqwest::Method;
use serde_json::json;

use crate::fleet::{fakes_only, AtFake};
use crate::permissions::PROJECT_A;
use crate::support::{
    expect, fixture, issues, memory_connection, no_echo, refused, refused_at, text, Api, TestDb,
    BODY_LIMIT, CONNS, TOKEN, UNKNOWN_ID, VALUE_CANARY,
};

/// Where a Bitbucket connection's token stands.
const TOKEN_PATH: &[&str] = &["credentials", "apiToken"];

#[tokio::test]
async fn create_connection_without_the_api_token_answers_422_at_credentials_api_token() -> Result<()>
{
    let s = seeded!("create_connection_no_token");
    let no_creds =
        r#"{"name": "bb2", "method": "api-token", "credentials": {"email": "user@example.com"}}"#;
    let got = s.api.post(CONNS, no_creds).await?;
    refused_at(
        "credentials without the token",
        &got,
        "apiToken",
        TOKEN_PATH,
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn create_connection_with_credentials_as_a_string_answers_422_without_echoing_them(
) -> Result<()> {
    let s = seeded!("create_connection_credentials_string");
    let creds_type =
        r#"{"name": "bb2", "method": "api-token", "credentials": "ATATT-secret-token-value"}"#;
    let got = s.api.post(CONNS, creds_type).await?;
    refused("credentials as a string", &got, 422, "credentials")?;
    no_echo("credentials as a string", &got, "ATATT-secret-token-value")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_connection_with_a_mistyped_credential_answers_422_without_the_value() -> Result<()>
{
    let s = seeded!("create_connection_mistyped_credential");
    let body = json!({"name": "bb2", "method": "api-token",
        "credentials": {"email": "user@example.com", "apiToken": ["ATATT-nested-canary"]}});
    let got = s.api.post(CONNS, &body.to_string()).await?;
    refused_at("apiToken as a list", &got, "apiToken", TOKEN_PATH)?;
    no_echo("apiToken as a list", &got, "ATATT-nested-canary")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_connection_with_a_taken_name_answers_400_with_the_kms_error_word() -> Result<()> {
    let s = seeded!("create_connection_taken_name");
    let again = s
        .api
        .post(CONNS, &fixture("bitbucket-connection.json")?)
        .await?;
    expect(
        &again,
        400,
        "a second connection of that name (the KMS answers 400)",
    )?;
    assert_eq!(again.body["error"], "BadRequest");
    s.unchanged().await
}

#[tokio::test]
async fn create_connection_with_an_unknown_field_answers_422_naming_it() -> Result<()> {
    let s = seeded!("create_connection_unknown_field");
    let unknown_conn = fixture("bitbucket-connection.json")?
        .replace("\"method\"", "\"app\": \"checkly\", \"method\"");
    let got = s.api.post(CONNS, &unknown_conn).await?;
    refused("unknown connection field", &got, 422, "app")?;
    s.unchanged().await
}

#[tokio::test]
async fn update_connection_with_a_bad_nested_credential_answers_422_without_the_value() -> Result<()>
{
    let s = seeded!("update_connection_nested_credential");
    let body = json!({"credentials": {"email": "user@example.com", "apiToken": {"t": "ATATT-patch-canary"}}});
    let got = s.patch_conn(&body.to_string()).await?;
    refused_at("apiToken as an object", &got, "apiToken", TOKEN_PATH)?;
    no_echo("apiToken as an object", &got, "ATATT-patch-canary")?;
    let missing = json!({"credentials": {"email": "user@example.com"}});
    let got = s.patch_conn(&missing.to_string()).await?;
    refused_at("no apiToken", &got, "Required", TOKEN_PATH)?;
    s.unchanged().await
}

#[tokio::test]
async fn update_connection_with_a_misspelt_field_answers_422_unrecognized_keys() -> Result<()> {
    let s = seeded!("update_connection_misspelt_field");
    let body = json!({"nmae": VALUE_CANARY}).to_string();
    let url = format!("{CONNS}/{UNKNOWN_ID}");
    let got = s.api.call(Method::PATCH, &url, Some(&body)).await?;
    let list = issues("a misspelt field", &got)?;
    assert_eq!(list[0]["code"], "unrecognized_keys");
    assert!(text(&list[0], "/message").contains("nmae"), "{list:?}");
    s.unchanged().await
}

#[tokio::test]
async fn update_connection_over_the_body_limit_answers_413() -> Result<()> {
    let s = seeded!("update_connection_body_limit");
    let huge = format!(
        "{{\"name\": \"x\", \"description\": \"{}\"}}",
        "a".repeat(BODY_LIMIT + 1)
    );
    let got = s
        .api
        .call(Method::PATCH, &s.conn_url(), Some(&huge))
        .await?;
    refused("a connection over the limit", &got, 413, "too large")?;
    s.unchanged().await
}

#[tokio::test]
async fn delete_connection_by_a_bad_or_unknown_id_answers_422_or_404() -> Result<()> {
    let s = seeded!("delete_connection_bad_id");
    let got = s
        .api
        .call(Method::DELETE, &format!("{CONNS}/not-a-uuid"), None)
        .await?;
    refused("a connection id that is not one", &got, 422, "connectionId")?;
    let got = s
        .api
        .call(Method::DELETE, &format!("{CONNS}/{UNKNOWN_ID}"), None)
        .await?;
    refused("an unknown connection", &got, 404, "not found")?;
    s.unchanged().await
}

// Credentials checked against the service (the fake Bitbucket), at create and update.

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
async fn create_connection_whose_credentials_the_service_refuses_answers_400_and_stores_nothing(
) -> Result<()> {
    let db = db!("a_connection_whose_credentials_the_service_refuses_is_not_created");
    let bitbucket = FakeBitbucket::start().await;
    let api = verifying_api(&db, &bitbucket).await?;
    let refused = api
        .post(CONNS, &bitbucket_connection("wrong-token-value"))
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
    let accepted = api.post(CONNS, &bitbucket_connection(FAKE_TOKEN)).await?;
    expect(&accepted, 200, "working credentials")?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_connection_with_credentials_the_service_refuses_answers_400_and_changes_nothing(
) -> Result<()> {
    let db = db!("new_credentials_are_verified_when_a_connection_is_updated");
    let bitbucket = FakeBitbucket::start().await;
    let api = verifying_api(&db, &bitbucket).await?;
    let made = api.post(CONNS, &bitbucket_connection(FAKE_TOKEN)).await?;
    let url = format!("{CONNS}/{}", text(&made.body, "/appConnection/id"));
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
async fn create_connection_of_a_destination_that_cannot_verify_is_accepted_unverified() -> Result<()>
{
    let db = db!("a_destination_that_cannot_verify_accepts_the_connection_unverified");
    let bitbucket = FakeBitbucket::start().await;
    let api = verifying_api(&db, &bitbucket).await?;
    memory_connection(&api, "mem", PROJECT_A).await?;
    db.finish().await
}
