//! `PATCH /api/v1/secret-syncs/{destination}/{syncId}`: every refused update answers its
//! status in the KMS's envelope, naming the field and never a value, and changes nothing.

use kms_sync_core::Result;
use reqwest::Method;
use serde_json::json;

use crate::support::{refused, Answer, Seeded};

async fn patch(s: &Seeded, body: &str) -> Result<Answer> {
    s.api.call(Method::PATCH, &s.sync_url(), Some(body)).await
}

#[tokio::test]
async fn update_sync_with_an_empty_or_non_json_body_answers_400() -> Result<()> {
    let s = seeded!("update_sync_not_json");
    refused("empty", &patch(&s, "").await?, 400, "Body cannot be empty")?;
    refused(
        "patch not JSON",
        &patch(&s, "nope").await?,
        400,
        "sync update",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn update_sync_with_a_wrong_type_answers_422_naming_the_field() -> Result<()> {
    let s = seeded!("update_sync_wrong_type");
    let got = patch(&s, r#"{"isAutoSyncEnabled": "on"}"#).await?;
    refused("patch version type", &got, 422, "isAutoSyncEnabled")?;
    s.unchanged().await
}

#[tokio::test]
async fn update_sync_of_a_field_it_cannot_change_answers_422_naming_it() -> Result<()> {
    let s = seeded!("update_sync_unknown_field");
    let got = patch(&s, r#"{"projectId": "other"}"#).await?;
    refused("unknown patch field", &got, 422, "projectId")?;
    s.unchanged().await
}

#[tokio::test]
async fn update_sync_with_a_bad_nested_config_answers_422_at_its_path_without_the_value(
) -> Result<()> {
    let s = seeded!("update_sync_nested_config");
    let canary = "NESTED-PATCH-VALUE-CANARY";
    let body = json!({"destinationConfig": {
        "workspaceSlug": "my-bitbucket-workspace", "repositorySlug": [canary]}});
    let got = patch(&s, &body.to_string()).await?;
    refused("repositorySlug as a list", &got, 422, "repositorySlug")?;
    let path = json!(["destinationConfig", "repositorySlug"]);
    assert_eq!(got.body["message"][0]["path"], path, "{}", got.body);
    assert!(!got.body.to_string().contains(canary), "{}", got.body);
    let missing = json!({"destinationConfig": {"repositorySlug": "r"}});
    let got = patch(&s, &missing.to_string()).await?;
    refused("no workspaceSlug", &got, 422, "Required")?;
    let path = json!(["destinationConfig", "workspaceSlug"]);
    assert_eq!(got.body["message"][0]["path"], path, "{}", got.body);
    s.unchanged().await
}
