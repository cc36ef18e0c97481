//! `PATCH /api/v1/secret-syncs/{destination}/{syncId}`: every refused update answers its
//! status in the KMS's envelope, naming the field and never a value, and changes nothing.

use kms_sync_core::Result;
use serde_json::json;

use crate::support::{no_echo, refused, refused_at};

#[tokio::test]
async fn update_sync_with_an_empty_or_non_json_body_answers_400() -> Result<()> {
    let s = seeded!("update_sync_not_json");
    refused(
        "empty",
        &s.patch_sync("").await?,
        400,
        "Body cannot be empty",
    )?;
    refused(
        "patch not JSON",
        &s.patch_sync("nope").await?,
        400,
        "sync update",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn update_sync_with_a_wrong_type_answers_422_naming_the_field() -> Result<()> {
    let s = seeded!("update_sync_wrong_type");
    let got = s.patch_sync(r#"{"isAutoSyncEnabled": "on"}"#).await?;
    refused("patch version type", &got, 422, "isAutoSyncEnabled")?;
    s.unchanged().await
}

#[tokio::test]
async fn update_sync_of_a_field_it_cannot_change_answers_422_naming_it() -> Result<()> {
    let s = seeded!("update_sync_unknown_field");
    let got = s.patch_sync(r#"{"projectId": "other"}"#).await?;
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
    let got = s.patch_sync(&body.to_string()).await?;
    let path = ["destinationConfig", "repositorySlug"];
    refused_at("repositorySlug as a list", &got, "repositorySlug", &path)?;
    no_echo("repositorySlug as a list", &got, canary)?;
    let missing = json!({"destinationConfig": {"repositorySlug": "r"}});
    let got = s.patch_sync(&missing.to_string()).await?;
    let path = ["destinationConfig", "workspaceSlug"];
    refused_at("no workspaceSlug", &got, "Required", &path)?;
    s.unchanged().await
}
