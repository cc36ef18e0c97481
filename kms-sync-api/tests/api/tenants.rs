//! Two tenants end to end: tenant B cannot list, get, change, trigger, delete or learn the
//! existence of tenant A's syncs and connections, nor use A's connection; check-destination
//! from B reveals nothing of A. Nothing B tries changes anything.

use kms_sync_api::{Auth, TokenFileAuthorizer};
use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::permissions::{sync_body, PROJECT_A, PROJECT_B};
use crate::support::snapshot;
use crate::support::{expect, text, Answer, Api};

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

/// Tenant A's connection and sync, created by A.
struct OfA {
    conn: String,
    sync: String,
}

async fn tenant_a_creates(api: &Api) -> Result<OfA> {
    let conn_body = json!({"name": "a-conn", "method": "api-key", "projectId": PROJECT_A,
        "credentials": {"apiKey": "cu_0123456789abcdef"}})
    .to_string();
    let conn = api
        .call_as(TENANT_A, Method::POST, CONNS, Some(&conn_body))
        .await?;
    expect(&conn, 200, "A creates a connection")?;
    let conn = text(&conn.body, "/appConnection/id").to_owned();
    let body = sync_body("a-sync", PROJECT_A, &conn)?;
    let sync = api
        .call_as(TENANT_A, Method::POST, SYNCS, Some(&body))
        .await?;
    expect(&sync, 200, "A creates a sync")?;
    let sync = text(&sync.body, "/secretSync/id").to_owned();
    Ok(OfA { conn, sync })
}

async fn b(api: &Api, method: Method, path: &str, body: Option<&str>) -> Result<Answer> {
    api.call_as(TENANT_B, method, path, body).await
}

/// B's lists show nothing of A's.
async fn lists_show_nothing(api: &Api, of_a: &OfA) -> Result<()> {
    for path in [
        format!("{SYNCS}?projectId={PROJECT_A}"),
        format!("{CONNS}?projectId={PROJECT_A}"),
        CONNS.to_owned(),
    ] {
        let list = b(api, Method::GET, &path, None).await?;
        let shown = list.body.to_string();
        let nothing = !shown.contains(&of_a.sync) && !shown.contains(&of_a.conn);
        check(list.status == 200 && nothing, &path, &list)?;
    }
    Ok(())
}

/// `method path` (with `ID` for the id) answers B for `id` exactly as for `missing`.
async fn as_missing(
    api: &Api,
    call: (Method, &str, Option<&str>),
    id: &str,
    missing: &str,
) -> Result<()> {
    let (method, path, body) = call;
    let real = b(api, method.clone(), &path.replace("ID", id), body).await?;
    let gone = b(api, method.clone(), &path.replace("ID", missing), body).await?;
    let same = real.status == 404 && neutral(&real, id) == neutral(&gone, missing);
    check(same, &format!("{method} {path}"), &real)
}

/// Every route by id or name answers B for A's resources exactly as for missing ones.
async fn ids_answer_as_missing(api: &Api, of_a: &OfA) -> Result<()> {
    let missing = uuid::Uuid::new_v4().to_string();
    let patch = r#"{"description": "mine now"}"#;
    let on_syncs = [
        (Method::GET, format!("{SYNCS}/ID"), None),
        (Method::PATCH, format!("{SYNCS}/ID"), Some(patch)),
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
    for (method, path, body) in on_syncs {
        as_missing(api, (method, &path, body), &of_a.sync, &missing).await?;
    }
    let conn = format!("{CONNS}/ID");
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(patch)),
        (Method::DELETE, None),
    ] {
        as_missing(api, (method, &conn, body), &of_a.conn, &missing).await?;
    }
    let by_name = format!("{SYNCS}/sync-name/ID?projectId={PROJECT_A}");
    as_missing(api, (Method::GET, &by_name, None), "a-sync", "a-sinc").await?;
    // A's connection is not usable from B's project: as a missing connection.
    let steal = b(
        api,
        Method::POST,
        SYNCS,
        Some(&sync_body("b-sync", PROJECT_B, &of_a.conn)?),
    )
    .await?;
    let nothing = b(
        api,
        Method::POST,
        SYNCS,
        Some(&sync_body("b-sync", PROJECT_B, &missing)?),
    )
    .await?;
    let same = steal.status == 404 && neutral(&steal, &of_a.conn) == neutral(&nothing, &missing);
    check(same, "B uses A's connection", &steal)
}

fn check_body(project: &str) -> String {
    json!({"projectId": project, "destinationConfig":
        {"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"}})
    .to_string()
}

/// check-destination from B: nothing of A from B's project; A's project is not B's to ask
/// about.
async fn probes_reveal_nothing(api: &Api, of_a: &OfA) -> Result<()> {
    let url = format!("{SYNCS}/check-destination");
    let probe = b(api, Method::POST, &url, Some(&check_body(PROJECT_B))).await?;
    let blind = probe.body["hasDuplicate"] == false && !probe.body.to_string().contains(PROJECT_A);
    check(
        probe.status == 200 && blind,
        "check-destination from B",
        &probe,
    )?;
    let asked = b(api, Method::POST, &url, Some(&check_body(PROJECT_A))).await?;
    let refused = asked.status == 403 && !asked.body.to_string().contains(&of_a.sync);
    check(refused, "check-destination of A's project", &asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_b_cannot_see_change_trigger_or_detect_tenant_a() -> Result<()> {
    let db = db!("tenant_b_cannot_see_change_trigger_or_detect_tenant_a");
    let registry = crate::support::registry(&db).await?;
    let api = Api::custom(registry, Auth::authorizer(two_tenants()?), |b| b).await?;
    let of_a = tenant_a_creates(&api).await?;
    let before = snapshot(&db, &api).await?;
    lists_show_nothing(&api, &of_a).await?;
    ids_answer_as_missing(&api, &of_a).await?;
    probes_reveal_nothing(&api, &of_a).await?;
    if snapshot(&db, &api).await? != before {
        return Err(Error::unexpected("tenant B changed tenant A's registry"));
    }
    // A still sees its own, and its check-destination sees the sync.
    let url = format!("{SYNCS}/{}", of_a.sync);
    expect(
        &api.call_as(TENANT_A, Method::GET, &url, None).await?,
        200,
        "A reads its sync",
    )?;
    let check_url = format!("{SYNCS}/check-destination");
    let seen = api
        .call_as(
            TENANT_A,
            Method::POST,
            &check_url,
            Some(&check_body(PROJECT_A)),
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
    let registry = crate::support::registry(&db).await?;
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
