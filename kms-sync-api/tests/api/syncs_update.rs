//! `PATCH /api/v1/secret-syncs/{destination}/{syncId}`: every refused update answers its
//! status in the KMS's envelope, naming the field and never a value, and changes nothing.

use kms_sync_core::Result;
use reqwest::Method;
use serde_json::json;

use crate::support::{no_echo, refused_at, request, Refusal};

/// Update bodies refused whole: (the promise, the body, the status, what the answer names).
const REFUSED_BODIES: &[(&str, &str, u16, &str)] = &[
    ("an empty body answers 400", "", 400, "Body cannot be empty"),
    ("a body not JSON answers 400", "nope", 400, "sync update"),
    (
        "a wrong type answers 422 naming the field",
        r#"{"isAutoSyncEnabled": "on"}"#,
        422,
        "isAutoSyncEnabled",
    ),
    (
        "a field it cannot change answers 422 naming it",
        r#"{"projectId": "other"}"#,
        422,
        "projectId",
    ),
];

#[tokio::test]
async fn update_sync_with_a_body_that_is_not_json_or_not_an_update_answers_its_status_naming_it(
) -> Result<()> {
    let s = seeded!("update_sync_refused_bodies");
    let cases: Vec<Refusal> = REFUSED_BODIES
        .iter()
        .map(|&(promise, body, status, needle)| {
            let sent = request(Method::PATCH, s.sync_url(), Some(body));
            Refusal::new(promise, sent, status, needle)
        })
        .collect();
    s.refuses(&cases).await
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
