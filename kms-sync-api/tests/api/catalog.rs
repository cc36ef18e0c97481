//! The routes across destinations: `GET /secret-syncs`, `/app-connections`, their
//! options, `/app-connections/{app}/available` and `…/connection-name/{name}` — each in
//! the KMS's shape and showing only what the caller may see.

use kms_sync_api::{Auth, TokenFileAuthorizer};
use kms_sync_core::{Error, Result};
use serde_json::{json, Value};

use crate::permissions::{PROJECT_A, PROJECT_B};
use crate::support::{expect, fixture, text, with_connection, Api, SAMPLE_PROJECT};

/// A connection of `app` from its fixture in `project` (named `name`), and its id.
async fn connection(api: &Api, app: &str, project: &str, name: &str) -> Result<String> {
    let body = fixture(&format!("{app}-connection.json"))?
        .replace(SAMPLE_PROJECT, project)
        .replace("7ffbb072-2575-495a-b5b0-127f88caef78", project);
    let mut value: Value = serde_json::from_str(&body).map_err(crate::support::fail)?;
    value["name"] = json!(name);
    value["projectId"] = json!(project);
    let got = api
        .post(
            &format!("/api/v1/app-connections/{app}"),
            &value.to_string(),
        )
        .await?;
    expect(&got, 200, "a connection")?;
    Ok(text(&got.body, "/appConnection/id").to_owned())
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list[field]
        .as_array()
        .map(|a| a.iter().map(|c| text(c, "/id").to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_all_syncs_gives_every_destination_of_the_project() -> Result<()> {
    let db = db!("listing_all_syncs_gives_every_destination_of_the_project");
    let api = Api::start(&db).await?;
    let mut made = Vec::new();
    for app in ["bitbucket", "checkly", "octopus-deploy"] {
        let conn = connection(&api, app, SAMPLE_PROJECT, &format!("{app}-c")).await?;
        let body = with_connection(&fixture(&format!("{app}-sync.json"))?, &conn);
        let got = api
            .post(&format!("/api/v1/secret-syncs/{app}"), &body)
            .await?;
        expect(&got, 200, "a sync")?;
        made.push(text(&got.body, "/secretSync/id").to_owned());
    }
    let all = api
        .get(&format!("/api/v1/secret-syncs?projectId={SAMPLE_PROJECT}"))
        .await?;
    expect(&all, 200, "all syncs")?;
    let mut listed = ids(&all.body, "secretSyncs");
    listed.sort();
    made.sort();
    if listed != made {
        return Err(Error::unexpected(format!(
            "listed {listed:?}, made {made:?}"
        )));
    }
    let other = api
        .get(&format!("/api/v1/secret-syncs?projectId={PROJECT_B}"))
        .await?;
    if !ids(&other.body, "secretSyncs").is_empty() {
        return Err(Error::unexpected(
            "another project's list shows these syncs",
        ));
    }
    let missing = api.get("/api/v1/secret-syncs").await?;
    expect(&missing, 422, "no projectId")?;
    if missing.body["message"][0]["path"] != json!(["projectId"]) {
        return Err(Error::unexpected(format!("{}", missing.body)));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_all_connections_gives_every_app_without_credentials() -> Result<()> {
    let db = db!("listing_all_connections_gives_every_app_without_credentials");
    let api = Api::start(&db).await?;
    let a = connection(&api, "bitbucket", SAMPLE_PROJECT, "bb").await?;
    let b = connection(&api, "checkly", SAMPLE_PROJECT, "ch").await?;
    let c = connection(&api, "octopus-deploy", PROJECT_B, "oc").await?;
    let all = api.get("/api/v1/app-connections").await?;
    expect(&all, 200, "all connections")?;
    let mut listed = ids(&all.body, "appConnections");
    listed.sort();
    let mut want = vec![a.clone(), b.clone(), c];
    want.sort();
    if listed != want {
        return Err(Error::unexpected(format!(
            "listed {listed:?}, want {want:?}"
        )));
    }
    let project = api
        .get(&format!(
            "/api/v1/app-connections?projectId={SAMPLE_PROJECT}"
        ))
        .await?;
    let mut listed = ids(&project.body, "appConnections");
    listed.sort();
    let mut want = vec![a, b];
    want.sort();
    if listed != want {
        return Err(Error::unexpected(format!("in the project: {listed:?}")));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_options_list_every_kind_with_the_kms_fields() -> Result<()> {
    let db = db!("the_options_list_every_kind_with_the_kms_fields");
    let api = Api::start(&db).await?;
    let syncs = api.get("/api/v1/secret-syncs/options").await?;
    expect(&syncs, 200, "sync options")?;
    let want = json!({"secretSyncOptions": [
        {"name": "Bitbucket", "connection": "bitbucket", "destination": "bitbucket", "canImportSecrets": false},
        {"name": "Checkly", "connection": "checkly", "destination": "checkly", "canImportSecrets": false},
        {"name": "Octopus Deploy", "connection": "octopus-deploy", "destination": "octopus-deploy", "canImportSecrets": false},
    ]});
    if syncs.body != want {
        return Err(Error::unexpected(format!("{}", syncs.body)));
    }
    let apps = api.get("/api/v1/app-connections/options").await?;
    let want = json!({"appConnectionOptions": [
        {"name": "Bitbucket", "app": "bitbucket", "methods": ["api-token"]},
        {"name": "Checkly", "app": "checkly", "methods": ["api-key"]},
        {"name": "Octopus Deploy", "app": "octopus-deploy", "methods": ["api-key"]},
    ]});
    if apps.body != want {
        return Err(Error::unexpected(format!("{}", apps.body)));
    }
    db.finish().await
}

/// The API over `api`'s registry for a caller holding `read` and `connect` on app
/// connections in project A only, and its token.
async fn connector(api: &Api) -> Result<(Api, &'static str)> {
    const CONNECTOR: &str = "connector-token-0123456789abcdefghij";
    let file = json!({"tokens": [{"name": "connector", "sha256": TokenFileAuthorizer::digest(CONNECTOR),
        "projects": {PROJECT_A: [{"subject": "app-connections", "actions": ["read", "connect"]}]}}]});
    let auth = Auth::authorizer(TokenFileAuthorizer::from_json(&file.to_string())?);
    Ok((
        Api::custom(api.registry.clone(), auth, |b| b).await?,
        CONNECTOR,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn available_connections_are_those_the_caller_may_connect_in_the_project() -> Result<()> {
    let db = db!("available_connections_are_those_the_caller_may_connect_in_the_project");
    let api = Api::start(&db).await?;
    let mine = connection(&api, "checkly", PROJECT_A, "mine").await?;
    let theirs = connection(&api, "checkly", PROJECT_B, "theirs").await?;
    let (scoped, token) = connector(&api).await?;
    let got = scoped
        .call_as(
            token,
            reqwest::Method::GET,
            &format!("/api/v1/app-connections/checkly/available?projectId={PROJECT_A}"),
            None,
        )
        .await?;
    expect(&got, 200, "available")?;
    let listed = ids(&got.body, "appConnections");
    if listed != [mine.clone()] || listed.contains(&theirs) {
        return Err(Error::unexpected(format!("{}", got.body)));
    }
    let first = &got.body["appConnections"][0];
    let keys: Vec<&String> = first
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if keys.len() != 5 || first["app"] != json!("checkly") || first["projectId"] != json!(PROJECT_A)
    {
        return Err(Error::unexpected(format!("the KMS's five fields: {first}")));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_found_by_name_in_its_project_only() -> Result<()> {
    let db = db!("a_connection_is_found_by_name_in_its_project_only");
    let api = Api::start(&db).await?;
    let id = connection(&api, "octopus-deploy", PROJECT_A, "deploys").await?;
    let found = api
        .get(&format!(
            "/api/v1/app-connections/octopus-deploy/connection-name/deploys?projectId={PROJECT_A}"
        ))
        .await?;
    expect(&found, 200, "by name")?;
    if text(&found.body, "/appConnection/id") != id {
        return Err(Error::unexpected(format!("{}", found.body)));
    }
    let elsewhere = api
        .get(&format!(
            "/api/v1/app-connections/octopus-deploy/connection-name/deploys?projectId={PROJECT_B}"
        ))
        .await?;
    expect(&elsewhere, 404, "by name in another project")?;
    let other_app = api
        .get(&format!(
            "/api/v1/app-connections/checkly/connection-name/deploys?projectId={PROJECT_A}"
        ))
        .await?;
    expect(&other_app, 404, "by name under another app")?;
    if elsewhere.body["error"] != json!("NotFound") {
        return Err(Error::unexpected(format!("{}", elsewhere.body)));
    }
    db.finish().await
}
