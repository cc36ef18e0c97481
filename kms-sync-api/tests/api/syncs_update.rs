//! `PATCH /api/v1/secret-syncs/{destination}/{syncId}`: every refused update answers its
//! status in the KMS's envelope, naming the field and never a value, and changes nothing.

use kms_sync_core::Result;
use reqwest::Method;
use serde_json::json;

use crate::support::{request, Refusal, Seeded};

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

/// What the update sends that no answer may carry.
const CANARY: &str = "NESTED-PATCH-VALUE-CANARY";

/// A bad nested config answers 422 at its path, without the value.
fn bad_configs(s: &Seeded) -> Vec<Refusal> {
    let patch =
        |body: serde_json::Value| request(Method::PATCH, s.sync_url(), Some(&body.to_string()));
    let listed = json!({"destinationConfig": {
        "workspaceSlug": "my-bitbucket-workspace", "repositorySlug": [CANARY]}});
    let missing = json!({"destinationConfig": {"repositorySlug": "r"}});
    vec![
        Refusal::new(
            "repositorySlug as a list",
            patch(listed),
            422,
            "repositorySlug",
        )
        .at(&["destinationConfig", "repositorySlug"])
        .hiding(CANARY),
        Refusal::new("no workspaceSlug", patch(missing), 422, "Required")
            .at(&["destinationConfig", "workspaceSlug"]),
    ]
}

/// [`REFUSED_BODIES`] and [`bad_configs`] as patches of the sample sync.
fn refused_patches(s: &Seeded) -> Result<Vec<Refusal>> {
    let patch = |&(promise, body, status, needle): &(&str, &str, u16, &'static str)| {
        Refusal::new(
            promise,
            request(Method::PATCH, s.sync_url(), Some(body)),
            status,
            needle,
        )
    };
    let mut cases: Vec<Refusal> = REFUSED_BODIES.iter().map(patch).collect();
    cases.extend(bad_configs(s));
    Ok(cases)
}

#[tokio::test]
async fn update_sync_refused_answers_its_status_naming_the_field_never_the_value() -> Result<()> {
    seeded!("update_sync_refused")
        .refuses(refused_patches)
        .await
}
