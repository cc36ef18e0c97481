//! `POST /api/v1/secret-syncs/{destination}/check-destination`: the KMS's `hasDuplicate`
//! and `duplicateProjectId` for another sync writing the same destination, and beyond the
//! KMS whether the key schemas overlap — a read that changes nothing.

use kms_sync_core::Result;
use serde_json::{json, Value};

use crate::support::{expect, refused, Answer, Seeded, SAMPLE_PROJECT, SYNCS};

/// The sample sync's destination config.
fn sample_config() -> Value {
    json!({"workspaceSlug": "my-bitbucket-workspace", "repositorySlug": "my-bitbucket-repository"})
}

/// Asks check-destination about `body` (with the sample project): the 200 answer.
async fn check(s: &Seeded, mut body: Value) -> Result<Answer> {
    body["projectId"] = json!(SAMPLE_PROJECT);
    let got = s
        .api
        .post(&format!("{SYNCS}/check-destination"), &body.to_string())
        .await?;
    expect(&got, 200, "check-destination")?;
    Ok(got)
}

/// Gives the sample sync the key schema `APP_{{secretKey}}`; the registry's new state is
/// then the one every later check must leave unchanged.
async fn with_app_key_schema(db: crate::support::TestDb) -> Result<Seeded> {
    let s = Seeded::new(db).await?;
    let options = r#"{"syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "APP_{{secretKey}}"}}"#;
    let patched = s.patch_sync(options).await?;
    expect(&patched, 200, "set a key schema")?;
    Seeded::again(s).await
}

#[tokio::test]
async fn check_destination_finds_the_sync_writing_that_repository_and_its_project() -> Result<()> {
    let s = seeded!("check_destination_finds_the_sync");
    let got = check(&s, json!({"destinationConfig": sample_config()})).await?;
    assert_eq!(got.body["hasDuplicate"], true, "{}", got.body);
    assert_eq!(
        got.body["duplicateProjectId"], SAMPLE_PROJECT,
        "{}",
        got.body
    );
    // Without a key schema the sync manages every key: the schemas overlap.
    assert_eq!(got.body["keySchemaOverlap"], true, "{}", got.body);
    s.unchanged().await
}

#[tokio::test]
async fn check_destination_excluding_that_sync_or_of_another_repository_finds_none() -> Result<()> {
    let s = seeded!("check_destination_finds_none");
    let excluded = json!({"destinationConfig": sample_config(), "excludeSyncId": s.sync_id});
    let got = check(&s, excluded).await?;
    assert_eq!(got.body["hasDuplicate"], false, "{}", got.body);
    assert!(got.body.get("duplicateProjectId").is_none(), "{}", got.body);
    let other = json!({"destinationConfig": {"workspaceSlug": "w", "repositorySlug": "r"}});
    let got = check(&s, other).await?;
    assert_eq!(got.body["hasDuplicate"], false, "{}", got.body);
    s.unchanged().await
}

/// Asks check-destination about the sample repository with `key_schema` in `dev`.
async fn check_schema(s: &Seeded, key_schema: &str) -> Result<Answer> {
    let body = json!({"destinationConfig": sample_config(), "keySchema": key_schema, "environment": "dev"});
    check(s, body).await
}

#[tokio::test]
async fn check_destination_reports_a_key_schema_overlap_only_where_a_key_both_would_manage(
) -> Result<()> {
    let s = with_app_key_schema(db!("check_destination_key_schemas")).await?;
    // Disjoint: the duplicate is reported, without overlap.
    let got = check_schema(&s, "WEB_{{secretKey}}").await?;
    assert_eq!(got.body["hasDuplicate"], true, "{}", got.body);
    assert_eq!(got.body["keySchemaOverlap"], false, "{}", got.body);
    assert_eq!(got.body["duplicates"][0]["keySchema"], "APP_{{secretKey}}");
    // APP_{{secretKey}} and {{secretKey}}_PROD both manage APP_KEY_PROD.
    let got = check_schema(&s, "{{secretKey}}_PROD").await?;
    assert_eq!(got.body["keySchemaOverlap"], true, "{}", got.body);
    assert_eq!(got.body["duplicates"][0]["exampleKey"], "APP_KEY_PROD");
    s.unchanged().await
}

#[tokio::test]
async fn check_destination_with_an_unknown_field_answers_422_naming_it() -> Result<()> {
    let s = seeded!("check_destination_unknown_field");
    let body =
        format!(r#"{{"projectId": "{SAMPLE_PROJECT}", "destinationConfig": {{}}, "extra": 1}}"#);
    let got = s
        .api
        .post(&format!("{SYNCS}/check-destination"), &body)
        .await?;
    refused("unknown check-destination field", &got, 422, "extra")?;
    s.unchanged().await
}
