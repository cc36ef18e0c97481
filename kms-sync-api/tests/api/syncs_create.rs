//! `POST /api/v1/secret-syncs/{destination}`: every refused body answers its status in the
//! KMS's envelope, naming the field and never a value, and creates nothing.

use reqwest::Method;

use std::sync::Arc;

use kms_sync_api::Auth;
use kms_sync_core::{Error, Result};
use kms_sync_hanzo::fake::FakeKms;
use serde_json::json;

use crate::permissions::PROJECT_B;
use crate::support::{expect, fixture, text, with_connection, Api};
use crate::worker_loop::FakeSources;

use crate::support::{answer, fail, first_issue, no_echo, refused, refused_at, request};
use crate::support::{Refusal, Seeded, BODY_LIMIT, SYNCS, TOKEN, VALUE_CANARY};

const SLUG: &str = "\"repositorySlug\": \"my-bitbucket-repository\"";

/// Where the sample's repository slug stands.
const REPOSITORY_SLUG: &[&str] = &["destinationConfig", "repositorySlug"];

/// `POST` of `body` to the syncs, refused with `status`, mentioning `needle`.
fn post(promise: &str, body: String, status: u16, needle: &'static str) -> Refusal {
    Refusal::new(
        promise,
        request(Method::POST, SYNCS, Some(&body)),
        status,
        needle,
    )
}

/// The sample with one text replaced: (the promise, the text, its replacement, the status,
/// what the answer names).
const REPLACED: &[(&str, &str, &str, u16, &str)] = &[
    (
        "environment as a number answers 422 naming it",
        "\"environment\": \"dev\"",
        "\"environment\": 7",
        422,
        "environment",
    ),
    (
        "a name that is not a slug answers 422 naming it",
        "\"name\": \"my-bitbucket-sync\"",
        "\"name\": \"My Sync\"",
        422,
        "name",
    ),
    (
        "no projectId answers 422 naming it",
        "\"projectId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\",",
        "",
        422,
        "projectId",
    ),
    (
        "an import where the destination cannot answers 422",
        "\"overwrite-destination\"",
        "\"import-prioritize-source\"",
        422,
        "initialSyncBehavior",
    ),
    (
        "an unknown top-level field answers 422 naming it",
        "\"isEnabled\": true",
        "\"isEnabled\": true, \"keyschema\": \"X_{{secretKey}}\"",
        422,
        "keyschema",
    ),
    (
        "an unknown sync option answers 400 naming it",
        "\"initialSyncBehavior\"",
        "\"disableSecretDeletio\": true, \"initialSyncBehavior\"",
        400,
        "disableSecretDeletio",
    ),
    (
        "a traversing secretPath answers 422 naming it",
        "\"/my-secrets\"",
        "\"/my-secrets/../../etc\"",
        422,
        "secretPath",
    ),
];

/// Bodies refused whole, or the sample with one thing changed, each named for its promise.
fn refused_bodies(s: &Seeded) -> Vec<Refusal> {
    let one = |from: &str, to: &str| s.sync_with(from, to);
    let huge = format!(
        "{{\"name\": \"x\", \"description\": \"{}\"}}",
        "a".repeat(BODY_LIMIT + 1)
    );
    let long = format!("\"{}\"", "d".repeat(300));
    let mut cases = vec![
        post(
            "a trailing comma answers 400 naming it",
            one(SLUG, &format!("{SLUG},")),
            400,
            "trailing comma",
        ),
        post(
            "a body not JSON answers 400 naming the body",
            "{\"name\": ".into(),
            400,
            "sync definition",
        ),
        post(
            "an array answers 422",
            "[1, 2]".into(),
            422,
            "Expected object",
        ),
        post(
            "no repositorySlug answers 422 Required at its path",
            one(&format!(",\n{SLUG}"), ""),
            422,
            "Required",
        )
        .at(REPOSITORY_SLUG),
        post("a body over the limit answers 413", huge, 413, "too large"),
        post(
            "a description over 256 answers 400 naming it",
            one("\"an example sync\"", &long),
            400,
            "description",
        ),
    ];
    let replaced = REPLACED
        .iter()
        .map(|&(promise, from, to, status, needle)| post(promise, one(from, to), status, needle));
    cases.extend(replaced);
    cases
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
async fn create_sync_with_an_unknown_destination_config_field_answers_422_in_destination_config(
) -> Result<()> {
    let s = seeded!("create_sync_unknown_config_field");
    let bad_config = s.sync_with("\"workspaceSlug\"", "\"workspace\"");
    let got = s.api.post(SYNCS, &bad_config).await?;
    refused_at(
        "bad destinationConfig",
        &got,
        "destinationConfig",
        &["destinationConfig"],
    )?;
    assert_eq!(got.body["message"][0]["code"], "unrecognized_keys");
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
    let what = "repositorySlug as an object";
    refused_at(what, &got, "repositorySlug", REPOSITORY_SLUG)?;
    no_echo(what, &got, canary)?;
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
    none_stored(&api, "a sync of a missing folder").await?;
    let made = api.post("/api/v1/secret-syncs/bitbucket", &body).await?;
    expect(&made, 200, "a sync of an existing folder")?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_sync_with_a_connection_of_another_project_answers_400_naming_it() -> Result<()> {
    let (db, api) = started!("a_project_connection_is_refused_in_another_project");
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
    none_stored(&api, "a sync on another project's connection").await?;
    db.finish().await
}

#[tokio::test]
async fn create_sync_with_a_body_refused_answers_its_status_naming_the_field_and_creates_nothing(
) -> Result<()> {
    seeded!("create_sync_refused_bodies")
        .refuses(|s| Ok(refused_bodies(s)))
        .await
}

/// Fails when a refused create stored a Bitbucket sync anyway.
async fn none_stored(api: &Api, refused: &str) -> Result<()> {
    if api
        .registry
        .syncs()
        .list("bitbucket", None)
        .await?
        .is_empty()
    {
        Ok(())
    } else {
        Err(Error::unexpected(format!("{refused} was stored")))
    }
}
