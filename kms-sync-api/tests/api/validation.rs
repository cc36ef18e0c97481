//! Validation failures: the KMS's 422 `ValidationFailure`, `message` a list of issues
//! each with a `path` and a `message` — and never the value sent.

use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{expect, fixture, text, with_connection, Api};

const CANARY: &str = "canary-value-SECRET-0042";

/// The 422's issues, checked against the KMS's shape, and the answer free of the canary.
fn issues(what: &str, got: &crate::support::Answer) -> Result<Vec<Value>> {
    expect(got, 422, what)?;
    let body = &got.body;
    let list = body["message"].as_array().cloned().unwrap_or_default();
    let shaped = body["error"] == json!("ValidationFailure")
        && body["statusCode"] == json!(422)
        && body["reqId"].is_string()
        && !list.is_empty()
        && list
            .iter()
            .all(|i| i["path"].is_array() && i["message"].is_string() && i["code"].is_string());
    if !shaped || body.to_string().contains(CANARY) {
        return Err(Error::unexpected(format!("{what}: {body}")));
    }
    Ok(list)
}

async fn sync_body(api: &Api) -> Result<String> {
    let conn = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &fixture("bitbucket-connection.json")?,
        )
        .await?;
    Ok(with_connection(
        &fixture("bitbucket-sync.json")?,
        text(&conn.body, "/appConnection/id"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_is_an_issue_at_its_path_without_the_value() -> Result<()> {
    let db = db!("a_wrong_type_is_an_issue_at_its_path_without_the_value");
    let api = Api::start(&db).await?;
    let body = sync_body(&api).await?.replace(
        "\"isEnabled\": true",
        &format!("\"isEnabled\": \"{CANARY}\""),
    );
    let list = issues(
        "isEnabled as a string",
        &api.post("/api/v1/secret-syncs/bitbucket", &body).await?,
    )?;
    if list[0]["path"] != json!(["isEnabled"]) || !text(&list[0], "/message").contains("boolean") {
        return Err(Error::unexpected(format!("{list:?}")));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_field_is_required_at_its_path() -> Result<()> {
    let db = db!("a_missing_field_is_required_at_its_path");
    let api = Api::start(&db).await?;
    let mut body: Value =
        serde_json::from_str(&sync_body(&api).await?).map_err(crate::support::fail)?;
    if let Some(o) = body.as_object_mut() {
        o.remove("secretPath");
    }
    let list = issues(
        "no secretPath",
        &api.post("/api/v1/secret-syncs/bitbucket", &body.to_string())
            .await?,
    )?;
    if list[0]["path"] != json!(["secretPath"]) || list[0]["message"] != json!("Required") {
        return Err(Error::unexpected(format!("{list:?}")));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_named_in_its_object() -> Result<()> {
    let db = db!("an_unknown_key_is_named_in_its_object");
    let api = Api::start(&db).await?;
    let got = api
        .call(
            Method::PATCH,
            "/api/v1/app-connections/bitbucket/0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d",
            Some(&json!({"nmae": CANARY}).to_string()),
        )
        .await?;
    let list = issues("a misspelt field", &got)?;
    if list[0]["code"] != json!("unrecognized_keys") || !text(&list[0], "/message").contains("nmae")
    {
        return Err(Error::unexpected(format!("{list:?}")));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_query_values_are_validated_as_the_kms_does() -> Result<()> {
    let db = db!("ids_and_query_values_are_validated_as_the_kms_does");
    let api = Api::start(&db).await?;
    let list = issues(
        "a sync id",
        &api.get("/api/v1/secret-syncs/bitbucket/not-a-uuid").await?,
    )?;
    if list[0]["path"] != json!(["syncId"]) {
        return Err(Error::unexpected(format!("{list:?}")));
    }
    let got = api
        .post(
            "/api/v1/secret-syncs/bitbucket/0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d/import-secrets?importBehavior=sideways",
            "",
        )
        .await?;
    let list = issues("importBehavior", &got)?;
    if list[0]["path"] != json!(["importBehavior"]) {
        return Err(Error::unexpected(format!("{list:?}")));
    }
    db.finish().await
}
