//! `POST /api/v1/secret-syncs/{destination}`: every refused body answers its status in the
//! KMS's envelope, naming the field and never a value, and creates nothing.

use reqwest::Method;

use std::sync::Arc;

use kms_sync_api::Auth;
use kms_sync_core::{Error, Result};
use kms_sync_hanzo::fake::FakeKms;
use serde_json::json;

use crate::fleet::FakeSources;
use crate::permissions::PROJECT_B;
use crate::support::{expect, fixture, text, with_connection, Api};

use crate::support::{answer, fail, first_issue, refused, BODY_LIMIT, SYNCS, TOKEN, VALUE_CANARY};

const SLUG: &str = "\"repositorySlug\": \"my-bitbucket-repository\"";

#[tokio::test]
async fn create_sync_with_a_trailing_comma_answers_400_naming_it() -> Result<()> {
    let s = seeded!("create_sync_trailing_comma");
    let trailing = s.sync_with(SLUG, &format!("{SLUG},"));
    let got = s.api.post(SYNCS, &trailing).await?;
    refused("trailing comma", &got, 400, "trailing comma")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_that_is_not_json_answers_400_naming_the_body() -> Result<()> {
    let s = seeded!("create_sync_not_json");
    let got = s.api.post(SYNCS, "{\"name\": ").await?;
    refused("not JSON", &got, 400, "sync definition")?;
    let got = s.api.post(SYNCS, "[1, 2]").await?;
    refused("an array", &got, 422, "Expected object")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_a_wrong_type_answers_422_at_its_path() -> Result<()> {
    let s = seeded!("create_sync_wrong_type");
    let not_bool = format!("\"isEnabled\": \"{VALUE_CANARY}\"");
    let got = s
        .api
        .post(SYNCS, &s.sync_with("\"isEnabled\": true", &not_bool))
        .await?;
    refused("isEnabled as a string", &got, 422, "isEnabled")?;
    let (path, message) = first_issue("isEnabled as a string", &got)?;
    assert_eq!(path, json!(["isEnabled"]));
    assert!(message.contains("boolean"), "{message}");
    let wrong = s.sync_with("\"environment\": \"dev\"", "\"environment\": 7");
    let got = s.api.post(SYNCS, &wrong).await?;
    refused("environment as a number", &got, 422, "environment")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_without_secret_path_answers_422_required_at_its_path() -> Result<()> {
    let s = seeded!("create_sync_no_secret_path");
    let mut body: serde_json::Value = serde_json::from_str(&s.sync_body).map_err(fail)?;
    if let Some(o) = body.as_object_mut() {
        o.remove("secretPath");
    }
    let got = s.api.post(SYNCS, &body.to_string()).await?;
    let (path, message) = first_issue("no secretPath", &got)?;
    assert_eq!(
        (path, message.as_str()),
        (json!(["secretPath"]), "Required")
    );
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_a_duplicate_name_answers_400_with_the_kms_error_word() -> Result<()> {
    let s = seeded!("create_sync_duplicate_name");
    let dup = s.api.post(SYNCS, &s.sync_body).await?;
    // The KMS answers a name taken in the project 400 BadRequest, naming the sync.
    refused(
        "the same name in the project",
        &dup,
        400,
        "my-bitbucket-sync",
    )?;
    assert_eq!(dup.body["error"], "BadRequest");
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_a_name_that_is_not_a_slug_answers_422_naming_name() -> Result<()> {
    let s = seeded!("create_sync_name_not_slug");
    let wrong = s.sync_with("\"name\": \"my-bitbucket-sync\"", "\"name\": \"My Sync\"");
    refused(
        "a name that is not a slug",
        &s.api.post(SYNCS, &wrong).await?,
        422,
        "name",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_without_project_id_answers_422_naming_it() -> Result<()> {
    let s = seeded!("create_sync_no_project");
    let body = s.sync_with(
        "\"projectId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\",",
        "",
    );
    refused(
        "no projectId",
        &s.api.post(SYNCS, &body).await?,
        422,
        "projectId",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_importing_where_the_destination_cannot_answers_422() -> Result<()> {
    let s = seeded!("create_sync_import_behavior");
    let body = s.sync_with("\"overwrite-destination\"", "\"import-prioritize-source\"");
    let got = s.api.post(SYNCS, &body).await?;
    refused("import behaviour", &got, 422, "initialSyncBehavior")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_an_unknown_destination_config_field_answers_422_in_destination_config(
) -> Result<()> {
    let s = seeded!("create_sync_unknown_config_field");
    let bad_config = s.sync_with("\"workspaceSlug\"", "\"workspace\"");
    let got = s.api.post(SYNCS, &bad_config).await?;
    refused("bad destinationConfig", &got, 422, "destinationConfig")?;
    assert_eq!(
        got.body["message"][0]["path"],
        serde_json::json!(["destinationConfig"])
    );
    assert_eq!(got.body["message"][0]["code"], "unrecognized_keys");
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_without_a_nested_config_field_answers_422_at_its_path() -> Result<()> {
    let s = seeded!("create_sync_missing_config_field");
    let body = s.sync_with(&format!(",\n{SLUG}"), "");
    let got = s.api.post(SYNCS, &body).await?;
    refused("no repositorySlug", &got, 422, "Required")?;
    let path = serde_json::json!(["destinationConfig", "repositorySlug"]);
    assert_eq!(got.body["message"][0]["path"], path, "{}", got.body);
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_a_mistyped_nested_config_field_answers_422_without_the_value(
) -> Result<()> {
    let s = seeded!("create_sync_mistyped_config_field");
    let canary = "NESTED-CONFIG-VALUE-CANARY";
    let body = s.sync_with(
        SLUG,
        &format!("\"repositorySlug\": {{\"v\": \"{canary}\"}}"),
    );
    let got = s.api.post(SYNCS, &body).await?;
    refused("repositorySlug as an object", &got, 422, "repositorySlug")?;
    let path = serde_json::json!(["destinationConfig", "repositorySlug"]);
    assert_eq!(got.body["message"][0]["path"], path, "{}", got.body);
    assert!(!got.body.to_string().contains(canary), "{}", got.body);
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_an_unknown_field_answers_422_naming_it() -> Result<()> {
    let s = seeded!("create_sync_unknown_field");
    let unknown = s.sync_with(
        "\"isEnabled\": true",
        "\"isEnabled\": true, \"keyschema\": \"X_{{secretKey}}\"",
    );
    let got = s.api.post(SYNCS, &unknown).await?;
    refused("unknown top-level field", &got, 422, "keyschema")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_an_unknown_sync_option_answers_400_naming_it() -> kms_sync_core::Result<()>
{
    let s = seeded!("create_sync_unknown_option");
    let unknown = s.sync_with(
        "\"initialSyncBehavior\"",
        "\"disableSecretDeletio\": true, \"initialSyncBehavior\"",
    );
    let got = s.api.post(SYNCS, &unknown).await?;
    refused("unknown option", &got, 400, "disableSecretDeletio")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_over_the_body_limit_answers_413() -> Result<()> {
    let s = seeded!("create_sync_body_limit");
    let huge = format!(
        "{{\"name\": \"x\", \"description\": \"{}\"}}",
        "a".repeat(BODY_LIMIT + 1)
    );
    refused(
        "a body over the limit",
        &s.api.post(SYNCS, &huge).await?,
        413,
        "too large",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_a_description_over_256_answers_400_naming_it() -> kms_sync_core::Result<()>
{
    let s = seeded!("create_sync_long_description");
    let long = s.sync_with("\"an example sync\"", &format!("\"{}\"", "d".repeat(300)));
    let got = s.api.post(SYNCS, &long).await?;
    refused("a description over 256", &got, 400, "description")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_without_a_json_content_type_answers_415() -> Result<()> {
    let s = seeded!("create_sync_content_type");
    let url = format!("{}{SYNCS}", s.api.base);
    let post = || s.api.client.post(&url).bearer_auth(TOKEN);
    let body = s.sync_body.clone();
    let plain = answer(
        post()
            .header("content-type", "text/plain")
            .body(body.clone()),
    )
    .await?;
    refused("text/plain", &plain, 415, "application/json")?;
    let none = answer(post().body(body)).await?;
    refused("no content type", &none, 415, "application/json")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_sync_with_a_traversing_secret_path_answers_422_naming_it() -> Result<()> {
    let s = seeded!("create_sync_path_traversal");
    let traversal = s.sync_with("\"/my-secrets\"", "\"/my-secrets/../../etc\"");
    let got = s.api.post(SYNCS, &traversal).await?;
    refused("secretPath traversal", &got, 422, "secretPath")?;
    s.unchanged().await
}

#[tokio::test]
async fn create_or_delete_sync_without_a_valid_token_answers_401_before_reading_the_body(
) -> Result<()> {
    let s = seeded!("create_sync_without_token");
    let url = format!("{}{SYNCS}", s.api.base);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("a wrong token", Some(format!("Bearer {TOKEN}x"))),
        (
            "a prefix of the token",
            Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        ),
        ("basic auth", Some(format!("Basic {TOKEN}"))),
        ("an empty bearer", Some("Bearer ".to_owned())),
    ];
    let sneaky = s.sync_with("my-bitbucket-sync", "sneaky-sync");
    for (what, header) in cases {
        let mut request = s
            .api
            .client
            .post(&url)
            .header("content-type", "application/json");
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        refused(
            what,
            &answer(request.body(sneaky.clone())).await?,
            401,
            "oken",
        )?;
    }
    let delete = s
        .api
        .client
        .request(Method::DELETE, format!("{}{}", s.api.base, s.sync_url()));
    refused(
        "delete without a token",
        &answer(delete).await?,
        401,
        "Token missing",
    )?;
    let huge = s
        .api
        .client
        .post(&url)
        .header("content-type", "application/json");
    let got = answer(huge.body("x".repeat(BODY_LIMIT * 4))).await?;
    refused("a huge body without a token", &got, 401, "Token missing")?;
    s.unchanged().await
}

// The checks the KMS makes at create beyond the body: the folder, the connection's project.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_sync_of_a_missing_folder_answers_400_naming_it_and_stores_nothing() -> Result<()> {
    let db = db!("a_sync_of_a_missing_folder_is_refused_naming_it");
    let kms = Arc::new(FakeKms::start().await);
    kms.set("dev", "/my-secrets", "DB_URL", "postgres://v1");
    let registry = crate::support::registry(&db).await?;
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
async fn create_sync_with_a_connection_of_another_project_answers_400_naming_it() -> Result<()> {
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
