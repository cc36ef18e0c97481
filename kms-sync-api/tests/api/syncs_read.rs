//! `GET /api/v1/secret-syncs/{destination}…` and the triggers by id: a bad name, id or
//! destination answers its status in the KMS's envelope, and reads change nothing.

use kms_sync_core::Result;

use serde_json::json;

use crate::support::{first_issue, refused, SAMPLE_PROJECT, SYNCS, UNKNOWN_ID};

#[tokio::test]
async fn get_sync_by_a_traversing_or_unslugged_name_answers_422_naming_sync_name() -> Result<()> {
    let s = seeded!("get_sync_by_bad_name");
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "...",
        "a.b",
        "my-sync%00",
        "My-Sync",
        "a%5Cb",
        "%2E%2E%2Fx",
    ] {
        let url = format!("{SYNCS}/sync-name/{name}?projectId={SAMPLE_PROJECT}");
        let got = s.api.get(&url).await?;
        refused(&format!("sync name {name}"), &got, 422, "syncName")?;
    }
    s.unchanged().await
}

#[tokio::test]
async fn get_sync_by_an_id_that_is_not_one_answers_422_naming_sync_id() -> Result<()> {
    let s = seeded!("get_sync_bad_id");
    let got = s.api.get(&format!("{SYNCS}/..%2F..%2Fetc")).await?;
    refused("a sync id that is not one", &got, 422, "syncId")?;
    let got = s.api.get(&format!("{SYNCS}/not-a-uuid")).await?;
    assert_eq!(first_issue("a sync id", &got)?.0, json!(["syncId"]));
    s.unchanged().await
}

#[tokio::test]
async fn get_or_trigger_an_unknown_sync_answers_404() -> Result<()> {
    let s = seeded!("get_sync_unknown");
    let got = s.api.get(&format!("{SYNCS}/{UNKNOWN_ID}")).await?;
    refused("an unknown sync", &got, 404, "not found")?;
    let trigger = format!("{SYNCS}/{UNKNOWN_ID}/sync-secrets");
    refused(
        "an unknown sync's trigger",
        &s.api.post(&trigger, "").await?,
        404,
        "not found",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn import_secrets_with_an_unknown_behavior_answers_422_naming_it() -> Result<()> {
    let s = seeded!("import_secrets_bad_behavior");
    let url = format!("{SYNCS}/{UNKNOWN_ID}/import-secrets?importBehavior=sideways");
    let got = s.api.post(&url, "").await?;
    assert_eq!(
        first_issue("importBehavior", &got)?.0,
        json!(["importBehavior"])
    );
    s.unchanged().await
}

#[tokio::test]
async fn get_sync_under_another_destination_answers_400_naming_it() -> Result<()> {
    let s = seeded!("get_sync_other_destination");
    let url = format!("/api/v1/secret-syncs/checkly/{}", s.sync_id);
    let got = s.api.get(&url).await?;
    refused(
        "a sync under another destination",
        &got,
        400,
        "is not configured for Checkly",
    )?;
    s.unchanged().await
}

#[tokio::test]
async fn list_syncs_of_an_unknown_destination_answers_404_naming_it() -> Result<()> {
    let s = seeded!("list_syncs_unknown_destination");
    let got = s.api.get("/api/v1/secret-syncs/vault?projectId=p").await?;
    refused("an unknown destination", &got, 404, "vault")?;
    s.unchanged().await
}

#[tokio::test]
async fn list_syncs_without_project_id_answers_422_naming_it() -> Result<()> {
    let s = seeded!("list_syncs_no_project");
    refused(
        "list without projectId",
        &s.api.get(SYNCS).await?,
        422,
        "projectId",
    )?;
    s.unchanged().await
}
