//! `POST`, `PATCH`, `DELETE /api/v1/app-connections/{app}…`: every refused body or id
//! answers its status in the KMS's envelope, naming the field and never a credential, and
//! changes nothing; credentials the service refuses are 400 (checked against the fakes).

use kms_sync_api::Auth;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync_core::{DestinationRegistry, Error, MemoryFactory, Result};
use kms_sync_fleet::{KeyRing, SyncRegistry};
use reqwest::Method;
use serde_json::{json, Value};

use crate::permissions::PROJECT_A;
use crate::support::{
    expect, fixture, issues, memory_connection, request, text, Api, Refusal, Seeded, TestDb,
    BODY_LIMIT, CONNS, TOKEN, UNKNOWN_ID, VALUE_CANARY,
};
use crate::worker_loop::{fakes_only, AtFake};

/// Where a Bitbucket connection's token stands.
const TOKEN_PATH: &[&str] = &["credentials", "apiToken"];

/// Connection bodies refused at create, as each row says.
fn refused_creates() -> Result<Vec<Refusal>> {
    let post = |body: &str| request(Method::POST, CONNS, Some(body));
    let no_token =
        json!({"name": "bb2", "method": "api-token", "credentials": {"email": "user@example.com"}});
    let as_string =
        json!({"name": "bb2", "method": "api-token", "credentials": "ATATT-secret-token-value"});
    let listed = json!({"name": "bb2", "method": "api-token",
        "credentials": {"email": "user@example.com", "apiToken": ["ATATT-nested-canary"]}});
    let unknown = fixture("bitbucket-connection.json")?
        .replace("\"method\"", "\"app\": \"checkly\", \"method\"");
    Ok(vec![
        Refusal::new(
            "a create without the token answers 422 at it",
            post(&no_token.to_string()),
            422,
            "apiToken",
        )
        .at(TOKEN_PATH),
        Refusal::new(
            "credentials as a string answer 422 without echoing them",
            post(&as_string.to_string()),
            422,
            "credentials",
        )
        .hiding("ATATT-secret-token-value"),
        Refusal::new(
            "a token as a list answers 422 at it without the value",
            post(&listed.to_string()),
            422,
            "apiToken",
        )
        .at(TOKEN_PATH)
        .hiding("ATATT-nested-canary"),
        Refusal::new(
            "an unknown connection field answers 422 naming it",
            post(&unknown),
            422,
            "app",
        ),
    ])
}

/// Updates and deletes of the sample connection refused, as each row says.
fn refused_changes(s: &Seeded) -> Vec<Refusal> {
    let patch = |body: Value| request(Method::PATCH, s.conn_url(), Some(&body.to_string()));
    let delete = |id: &str| request(Method::DELETE, format!("{CONNS}/{id}"), None);
    let object = json!({"credentials": {"email": "user@example.com", "apiToken": {"t": "ATATT-patch-canary"}}});
    let missing = json!({"credentials": {"email": "user@example.com"}});
    let huge = json!({"name": "x", "description": "a".repeat(BODY_LIMIT + 1)});
    vec![
        Refusal::new(
            "an update's token as an object answers 422 at it without the value",
            patch(object),
            422,
            "apiToken",
        )
        .at(TOKEN_PATH)
        .hiding("ATATT-patch-canary"),
        Refusal::new(
            "an update's credentials without the token answer 422 Required at it",
            patch(missing),
            422,
            "Required",
        )
        .at(TOKEN_PATH),
        Refusal::new(
            "an update over the body limit answers 413",
            patch(huge),
            413,
            "too large",
        ),
        Refusal::new(
            "a delete by a connection id that is not one answers 422",
            delete("not-a-uuid"),
            422,
            "connectionId",
        ),
        Refusal::new(
            "a delete of an unknown connection answers 404",
            delete(UNKNOWN_ID),
            404,
            "not found",
        ),
    ]
}

/// [`refused_creates`] and [`refused_changes`].
fn refused_writes(s: &Seeded) -> Result<Vec<Refusal>> {
    let mut cases = refused_creates()?;
    cases.extend(refused_changes(s));
    Ok(cases)
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

// Credentials checked against the service (the fake Bitbucket), at create and update.

/// The API checking credentials against a fake Bitbucket (kept alive with it).
async fn verifying_api(db: &TestDb) -> Result<(FakeBitbucket, Api)> {
    let bitbucket = FakeBitbucket::start().await;
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
    let api = Api::custom(registry, Auth::bearer_tokens([TOKEN])?, |b| {
        b.verify_connections(true)
    })
    .await?;
    Ok((bitbucket, api))
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
    let (_bitbucket, api) = verifying_api(&db).await?;
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
    let (_bitbucket, api) = verifying_api(&db).await?;
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
    let (_bitbucket, api) = verifying_api(&db).await?;
    memory_connection(&api, "mem", PROJECT_A).await?;
    db.finish().await
}

#[tokio::test]
async fn connection_writes_refused_answer_their_status_naming_the_field_never_a_credential(
) -> Result<()> {
    seeded!("connection_writes_refused")
        .refuses(refused_writes)
        .await
}
