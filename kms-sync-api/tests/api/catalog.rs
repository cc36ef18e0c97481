//! The routes across destinations: `GET /secret-syncs`, `/app-connections`, their
//! options, `/app-connections/{app}/available` and `…/connection-name/{name}` — each in
//! the KMS's shape and showing only what the caller may see.

use kms_sync_api::{Auth, TokenFileAuthorizer};
use kms_sync_core::Result;
use serde_json::{json, Value};

use crate::permissions::{PROJECT_A, PROJECT_B};
use crate::support::SAMPLE_PROJECT;
use crate::support::{ensure, expect, fixture, ids, lists_exactly, text, with_connection, Api};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_all_syncs_gives_every_destination_of_the_project() -> Result<()> {
    let (db, api) = started!("listing_all_syncs_gives_every_destination_of_the_project");
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
    lists_exactly("all syncs of the project", &all, "secretSyncs", made)?;
    let other = api
        .get(&format!("/api/v1/secret-syncs?projectId={PROJECT_B}"))
        .await?;
    lists_exactly("another project's list", &other, "secretSyncs", vec![])?;
    let missing = api.get("/api/v1/secret-syncs").await?;
    expect(&missing, 422, "no projectId")?;
    let at_project = missing.body["message"][0]["path"] == json!(["projectId"]);
    ensure(at_project, "no projectId", &missing.body)?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_all_connections_gives_every_app_without_credentials() -> Result<()> {
    let (db, api) = started!("listing_all_connections_gives_every_app_without_credentials");
    let a = connection(&api, "bitbucket", SAMPLE_PROJECT, "bb").await?;
    let b = connection(&api, "checkly", SAMPLE_PROJECT, "ch").await?;
    let c = connection(&api, "octopus-deploy", PROJECT_B, "oc").await?;
    let all = api.get("/api/v1/app-connections").await?;
    expect(&all, 200, "all connections")?;
    let every = vec![a.clone(), b.clone(), c];
    lists_exactly("all connections", &all, "appConnections", every)?;
    let project = api
        .get(&format!(
            "/api/v1/app-connections?projectId={SAMPLE_PROJECT}"
        ))
        .await?;
    lists_exactly("in the project", &project, "appConnections", vec![a, b])?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_options_list_every_kind_with_the_kms_fields() -> Result<()> {
    let (db, api) = started!("the_options_list_every_kind_with_the_kms_fields");
    let syncs = api.get("/api/v1/secret-syncs/options").await?;
    expect(&syncs, 200, "sync options")?;
    let want = json!({"secretSyncOptions": [
        {"name": "Bitbucket", "connection": "bitbucket", "destination": "bitbucket", "canImportSecrets": false},
        {"name": "Checkly", "connection": "checkly", "destination": "checkly", "canImportSecrets": false},
        {"name": "Octopus Deploy", "connection": "octopus-deploy", "destination": "octopus-deploy", "canImportSecrets": false},
    ]});
    ensure(syncs.body == want, "sync options", &syncs.body)?;
    let apps = api.get("/api/v1/app-connections/options").await?;
    let want = json!({"appConnectionOptions": [
        {"name": "Bitbucket", "app": "bitbucket", "methods": ["api-token"]},
        {"name": "Checkly", "app": "checkly", "methods": ["api-key"]},
        {"name": "Octopus Deploy", "app": "octopus-deploy", "methods": ["api-key"]},
    ]});
    ensure(apps.body == want, "connection options", &apps.body)?;
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
    let (db, api) =
        started!("available_connections_are_those_the_caller_may_connect_in_the_project");
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
    let only_mine = listed == [mine.clone()] && !listed.contains(&theirs);
    ensure(only_mine, "available in project A", &got.body)?;
    let first = &got.body["appConnections"][0];
    let keys: Vec<&String> = first
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let kms_fields = keys.len() == 5
        && first["app"] == json!("checkly")
        && first["projectId"] == json!(PROJECT_A);
    ensure(kms_fields, "the KMS's five fields", first)?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_found_by_name_in_its_project_only() -> Result<()> {
    let (db, api) = started!("a_connection_is_found_by_name_in_its_project_only");
    let id = connection(&api, "octopus-deploy", PROJECT_A, "deploys").await?;
    let found = api
        .get(&format!(
            "/api/v1/app-connections/octopus-deploy/connection-name/deploys?projectId={PROJECT_A}"
        ))
        .await?;
    expect(&found, 200, "by name")?;
    let same = text(&found.body, "/appConnection/id") == id;
    ensure(same, "the connection by name", &found.body)?;
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
    let not_found = elsewhere.body["error"] == json!("NotFound");
    ensure(not_found, "by name in another project", &elsewhere.body)?;
    db.finish().await
}
