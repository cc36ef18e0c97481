//! Two tenants end to end: tenant B cannot list, get, change, trigger, delete or learn the
//! existence of tenant A's syncs and connections, nor use A's connection; check-destination
//! from B reveals nothing of A. Nothing B tries changes anything.

use kms_sync_api::{Auth, TokenFileAuthorizer};
use kms_sync_core::{Error, Result};
use kms_sync_postgres::{KeyRing, SyncRegistry};
use reqwest::Method;
use serde_json::{json, Value};

use crate::hostile::snapshot;
use crate::permissions::{sync_body, PROJECT_A, PROJECT_B};
use crate::support::{destinations, expect, text, Answer, Api};

pub const TENANT_A: &str = "tenant-a-token-0123456789";
pub const TENANT_B: &str = "tenant-b-token-0123456789";
const SYNCS: &str = "/api/v1/secret-syncs/checkly";
const CONNS: &str = "/api/v1/app-connections/checkly";

/// Every action on syncs, connections and secrets, in `project` only.
fn tenant(name: &str, token: &str, project: &str) -> Value {
    json!({"name": name, "sha256": TokenFileAuthorizer::digest(token), "projects": {project: [
        {"subject": "secret-syncs", "actions": ["read", "create", "edit", "delete", "sync-secrets", "import-secrets", "remove-secrets"]},
        {"subject": "app-connections", "actions": ["read", "create", "edit", "delete", "connect"]},
        {"subject": "secrets", "actions": ["read-value"]}
    ]}})
}

pub fn two_tenants() -> Result<TokenFileAuthorizer> {
    let file = json!({"tokens": [tenant("tenant-a", TENANT_A, PROJECT_A), tenant("tenant-b", TENANT_B, PROJECT_B)]});
    TokenFileAuthorizer::from_json(&file.to_string())
}

fn check(ok: bool, what: &str, answer: &Answer) -> Result<()> {
    if ok {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: {} {}",
        answer.status, answer.body
    )))
}

/// The answer as a missing id's would be: status, error and message with `id` neutral.
fn neutral(answer: &Answer, id: &str) -> String {
    format!(
        "{} {} {}",
        answer.status, answer.body["error"], answer.body["message"]
    )
    .replace(id, "ID")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_b_cannot_see_change_trigger_or_detect_tenant_a() -> Result<()> {
    let db = db!("tenant_b_cannot_see_change_trigger_or_detect_tenant_a");
    let registry = SyncRegistry::builder(db.pool().await?, destinations())
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .build()?;
    let api = Api::custom(registry, Auth::authorizer(two_tenants()?), |b| b).await?;
    let a = |m: Method, p: String, b: Option<String>| {
        let api = &api;
        async move { api.call_as(TENANT_A, m, &p, b.as_deref()).await }
    };
    let conn_body = json!({"name": "a-conn", "method": "api-key", "projectId": PROJECT_A,
        "credentials": {"apiKey": "cu_0123456789abcdef"}})
    .to_string();
    let conn = a(Method::POST, CONNS.into(), Some(conn_body)).await?;
    expect(&conn, 200, "A creates a connection")?;
    let conn_id = text(&conn.body, "/appConnection/id").to_owned();
    let sync = a(
        Method::POST,
        SYNCS.into(),
        Some(sync_body("a-sync", PROJECT_A, &conn_id)?),
    )
    .await?;
    expect(&sync, 200, "A creates a sync")?;
    let sync_id = text(&sync.body, "/secretSync/id").to_owned();
    let before = snapshot(&db, &api).await?;

    let b = |m: Method, p: String, body: Option<String>| {
        let api = &api;
        async move { api.call_as(TENANT_B, m, &p, body.as_deref()).await }
    };
    // Lists: nothing of A's.
    for path in [
        format!("{SYNCS}?projectId={PROJECT_A}"),
        format!("{CONNS}?projectId={PROJECT_A}"),
        CONNS.to_owned(),
    ] {
        let list = b(Method::GET, path.clone(), None).await?;
        let shown = list.body.to_string();
        check(
            list.status == 200 && !shown.contains(&sync_id) && !shown.contains(&conn_id),
            &path,
            &list,
        )?;
    }
    // By id or name: exactly what a missing id gets.
    let missing_sync = uuid::Uuid::new_v4().to_string();
    let missing_conn = uuid::Uuid::new_v4().to_string();
    let by_id: Vec<(Method, String, Option<String>)> = vec![
        (Method::GET, format!("{SYNCS}/ID"), None),
        (
            Method::PATCH,
            format!("{SYNCS}/ID"),
            Some(r#"{"description": "mine now"}"#.into()),
        ),
        (Method::POST, format!("{SYNCS}/ID/sync-secrets"), None),
        (Method::POST, format!("{SYNCS}/ID/remove-secrets"), None),
        (
            Method::POST,
            format!("{SYNCS}/ID/import-secrets?importBehavior=prioritize-source"),
            None,
        ),
        (
            Method::DELETE,
            format!("{SYNCS}/ID?removeSecrets=true"),
            None,
        ),
        (Method::DELETE, format!("{SYNCS}/ID"), None),
    ];
    for (method, path, body) in &by_id {
        let real = b(method.clone(), path.replace("ID", &sync_id), body.clone()).await?;
        let gone = b(
            method.clone(),
            path.replace("ID", &missing_sync),
            body.clone(),
        )
        .await?;
        check(
            real.status == 404 && neutral(&real, &sync_id) == neutral(&gone, &missing_sync),
            &format!("{method} {path}"),
            &real,
        )?;
    }
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(r#"{"description": "x"}"#.to_owned())),
        (Method::DELETE, None),
    ] {
        let real = b(method.clone(), format!("{CONNS}/{conn_id}"), body.clone()).await?;
        let gone = b(method.clone(), format!("{CONNS}/{missing_conn}"), body).await?;
        check(
            real.status == 404 && neutral(&real, &conn_id) == neutral(&gone, &missing_conn),
            &format!("{method} connection"),
            &real,
        )?;
    }
    let by_name = b(
        Method::GET,
        format!("{SYNCS}/sync-name/a-sync?projectId={PROJECT_A}"),
        None,
    )
    .await?;
    let no_name = b(
        Method::GET,
        format!("{SYNCS}/sync-name/a-sinc?projectId={PROJECT_A}"),
        None,
    )
    .await?;
    check(
        by_name.status == 404 && neutral(&by_name, "a-sync") == neutral(&no_name, "a-sinc"),
        "by name",
        &by_name,
    )?;
    // A's connection is not usable from B's project.
    let steal = b(
        Method::POST,
        SYNCS.into(),
        Some(sync_body("b-sync", PROJECT_B, &conn_id)?),
    )
    .await?;
    let nothing = b(
        Method::POST,
        SYNCS.into(),
        Some(sync_body("b-sync", PROJECT_B, &missing_conn)?),
    )
    .await?;
    check(
        steal.status == 404 && neutral(&steal, &conn_id) == neutral(&nothing, &missing_conn),
        "B uses A's connection",
        &steal,
    )?;
    // check-destination: nothing of A from B's project; A's project is not B's to ask about.
    let config = json!({"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"});
    let probe = b(
        Method::POST,
        format!("{SYNCS}/check-destination"),
        Some(json!({"projectId": PROJECT_B, "destinationConfig": config}).to_string()),
    )
    .await?;
    check(
        probe.status == 200
            && probe.body["hasDuplicate"] == false
            && !probe.body.to_string().contains(PROJECT_A),
        "check-destination from B",
        &probe,
    )?;
    let asked = b(
        Method::POST,
        format!("{SYNCS}/check-destination"),
        Some(json!({"projectId": PROJECT_A, "destinationConfig": config}).to_string()),
    )
    .await?;
    check(
        asked.status == 403 && !asked.body.to_string().contains(&sync_id),
        "check-destination of A's project",
        &asked,
    )?;
    if snapshot(&db, &api).await? != before {
        return Err(Error::unexpected("tenant B changed tenant A's registry"));
    }
    // A still sees its own, and its check-destination sees the sync.
    let mine = a(Method::GET, format!("{SYNCS}/{sync_id}"), None).await?;
    expect(&mine, 200, "A reads its sync")?;
    let seen = a(
        Method::POST,
        format!("{SYNCS}/check-destination"),
        Some(json!({"projectId": PROJECT_A, "destinationConfig": config}).to_string()),
    )
    .await?;
    check(
        seen.body["hasDuplicate"] == true,
        "check-destination from A",
        &seen,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_of_another_organization_is_refused() -> Result<()> {
    let db = db!("a_principal_of_another_organization_is_refused");
    let registry = SyncRegistry::builder(db.pool().await?, destinations())
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .build()?;
    let file = json!({"orgId": "11111111-2222-4333-8444-555555555555",
        "tokens": [tenant("elsewhere", TENANT_A, PROJECT_A)]});
    let auth = Auth::authorizer(TokenFileAuthorizer::from_json(&file.to_string())?);
    // The tests' API serves organization 6f03caa1-…; the file's principal is of another.
    let api = Api::custom(registry, auth, |b| b).await?;
    let list = api
        .call_as(
            TENANT_A,
            Method::GET,
            &format!("{SYNCS}?projectId={PROJECT_A}"),
            None,
        )
        .await?;
    check(
        list.status == 401,
        "a principal of another organization",
        &list,
    )
}
