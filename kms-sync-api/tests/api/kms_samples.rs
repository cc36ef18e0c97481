//! The KMS's own sample bodies, answered in the KMS's sample shapes.

use kms_sync_core::{Error, Operation, Result};
use kms_sync_fleet::RunOutcome;
use reqwest::Method;
use serde_json::{json, Value};

use crate::shape::{compare, sample};
use crate::support::{ensure, expect, fixture, text, with_connection, Answer, Api};

/// Fails naming every difference from the sample.
fn same_shape(what: &str, sample_text: &str, answer: &Answer) -> Result<()> {
    let diff = compare(&sample(sample_text), &answer.body);
    if diff.is_empty() {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what} differs from the KMS's sample:\n  {}\n{}",
        diff.join("\n  "),
        answer.body
    )))
}

/// Creates the connection of `app` from its fixture and checks the answer.
async fn connection(api: &Api, app: &str) -> Result<String> {
    let body = fixture(&format!("{app}-connection.json"))?;
    let created = api
        .post(&format!("/api/v1/app-connections/{app}"), &body)
        .await?;
    expect(&created, 200, "create connection")?;
    // The KMS documents Bitbucket's answer only; the others differ in their public
    // credential fields alone (Checkly none, Octopus Deploy `instanceUrl`).
    let mut expected = sample(&fixture("bitbucket-connection-response.json")?);
    expected["appConnection"]["credentials"] = match app {
        "bitbucket" => json!({"email": "user@example.com"}),
        "checkly" => json!({}),
        _ => json!({"instanceUrl": "https://acme.octopus.app"}),
    };
    let diff = compare(&expected, &created.body);
    ensure(
        diff.is_empty(),
        &format!("the connection differs from the KMS's sample: {diff:?}"),
        &created.body,
    )?;
    let raw = created.body.to_string();
    for secret in [
        "<YOUR-API-TOKEN>",
        "cu_0123456789abcdef",
        "API-0123456789ABCDEF",
    ] {
        ensure(
            !raw.contains(secret),
            "a credential in the answer",
            &created.body,
        )?;
    }
    ensure(
        text(&created.body, "/appConnection/app") == app
            && created.body.pointer("/appConnection/version") == Some(&json!(1)),
        "app and version",
        &created.body,
    )?;
    Ok(text(&created.body, "/appConnection/id").to_owned())
}

/// Creates a sync of `destination` from `body` and checks it against the sample.
async fn sync(api: &Api, destination: &str, body: &str, sample_name: &str) -> Result<Answer> {
    let created = api
        .post(&format!("/api/v1/secret-syncs/{destination}"), body)
        .await?;
    expect(&created, 200, "create sync")?;
    same_shape("the created sync", &fixture(sample_name)?, &created)?;
    let s = &created.body["secretSync"];
    let request: Value = serde_json::from_str(body).map_err(crate::support::fail)?;
    ensure(
        s["destinationConfig"] == request["destinationConfig"]
            && s["destination"] == json!(destination)
            && s["connection"]["app"] == json!(destination)
            && s["folder"]["path"] == request["secretPath"]
            && s["environment"]["slug"] == request["environment"]
            && s["environment"]["name"] == json!("Development")
            && s["version"] == json!(1)
            && s["folderId"] == s["folder"]["id"],
        "the sync as written",
        &created.body,
    )?;
    // Enabled with auto-sync on (the KMS's default): queued at once.
    ensure(
        s["syncStatus"] == json!("pending") && s["lastSyncJobId"].is_string(),
        "a new auto-sync sync is pending with a job",
        &created.body,
    )?;
    Ok(created)
}

/// `got`, which must be 200 in the shape of the sample `sample_text`.
fn shaped(got: Answer, what: &str, sample_text: &str) -> Result<Answer> {
    expect(&got, 200, what)?;
    same_shape(what, sample_text, &got)?;
    Ok(got)
}

/// Everything a sync route answers for one sync, each compared with the sample.
async fn walk_sync(
    api: &Api,
    destination: &str,
    created: &Answer,
    sample_name: &str,
) -> Result<()> {
    let sample_text = fixture(sample_name)?;
    let base = format!("/api/v1/secret-syncs/{destination}");
    walk_reads(api, &base, created, &sample_text).await?;
    walk_changes(api, &base, created, &sample_text).await?;
    let id = text(&created.body, "/secretSync/id");
    let import = api
        .post(
            &format!("{base}/{id}/import-secrets?importBehavior=prioritize-source"),
            "",
        )
        .await?;
    expect(&import, 400, "import-secrets")?;
    let display = match destination {
        "bitbucket" => "Bitbucket",
        "checkly" => "Checkly",
        _ => "Octopus Deploy",
    };
    ensure(
        import.body["message"] == json!(format!("{display} does not support importing secrets."))
            && import.body["error"] == json!("BadRequest")
            && import.body["statusCode"] == json!(400)
            && import.body["reqId"].is_string(),
        "import is refused as the KMS documents",
        &import.body,
    )
}

/// The reads of one sync: by id, by name, listed (and not in another project).
async fn walk_reads(api: &Api, base: &str, created: &Answer, sample_text: &str) -> Result<()> {
    let s = &created.body["secretSync"];
    let (id, project, name) = (text(s, "/id"), text(s, "/projectId"), text(s, "/name"));
    let got = shaped(
        api.get(&format!("{base}/{id}")).await?,
        "get by id",
        sample_text,
    )?;
    ensure(got.body == created.body, "get equals create", &got.body)?;
    let by_name = format!("{base}/sync-name/{name}?projectId={project}");
    shaped(api.get(&by_name).await?, "get by name", sample_text)?;
    let list = api.get(&format!("{base}?projectId={project}")).await?;
    expect(&list, 200, "list")?;
    let items = list.body["secretSyncs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(items.len() == 1, "one sync listed", &list.body)?;
    let first = Answer {
        status: list.status,
        body: json!({"secretSync": items.first().cloned().unwrap_or(Value::Null)}),
        retry_after: None,
    };
    same_shape("list item", sample_text, &first)?;
    let other = api
        .get(&format!("{base}?projectId=another-project"))
        .await?;
    ensure(
        other.body["secretSyncs"] == json!([]),
        "another project lists nothing",
        &other.body,
    )
}

/// The changes of one sync: a patch, a sync and a remove queued.
async fn walk_changes(api: &Api, base: &str, created: &Answer, sample_text: &str) -> Result<()> {
    let id = text(&created.body, "/secretSync/id");
    let description = Some(r#"{"description": "patched by the API test"}"#);
    let url = format!("{base}/{id}");
    let patched = api.call(Method::PATCH, &url, description).await?;
    let patched = shaped(patched, "patch", sample_text)?;
    ensure(
        patched.body["secretSync"]["version"] == json!(2)
            && patched.body["secretSync"]["description"] == json!("patched by the API test"),
        "version increases",
        &patched.body,
    )?;
    for (route, status, job) in [
        ("sync-secrets", "syncStatus", "lastSyncJobId"),
        ("remove-secrets", "removeStatus", "lastRemoveJobId"),
    ] {
        let got = api.post(&format!("{base}/{id}/{route}"), "").await?;
        let got = shaped(got, route, sample_text)?;
        ensure(
            got.body["secretSync"][status] == json!("pending")
                && got.body["secretSync"][job].is_string(),
            &format!("{route} is pending with a job"),
            &got.body,
        )?;
    }
    Ok(())
}

/// Deletes the sync `created` (without removing) and then its connection.
async fn delete_both(api: &Api, kind: &str, created: &Answer, connection: &str) -> Result<()> {
    let sync_id = text(&created.body, "/secretSync/id");
    let sync_url = format!("/api/v1/secret-syncs/{kind}/{sync_id}");
    let connection_url = format!("/api/v1/app-connections/{kind}/{connection}");
    let in_use = api.delete(&connection_url).await?;
    expect(
        &in_use,
        400,
        "deleting a connection in use (the KMS answers 400)",
    )?;
    let deleted = api
        .delete(&format!("{sync_url}?removeSecrets=false"))
        .await?;
    expect(&deleted, 200, "delete sync")?;
    let answered = text(&deleted.body, "/secretSync/id") == sync_id;
    ensure(answered, "the deleted sync is answered", &deleted.body)?;
    expect(&api.get(&sync_url).await?, 404, "the deleted sync")?;
    expect(
        &api.delete(&connection_url).await?,
        200,
        "delete connection",
    )
}

/// The KMS's samples of `app` end to end: its connection, which shows `public` alone of
/// its credentials (`promise`), and its sync, created, read, listed and changed as the
/// samples show. The connection's id and the created sync.
async fn walk_app(api: &Api, app: &str, public: Value, promise: &str) -> Result<(String, Answer)> {
    let conn = connection(api, app).await?;
    let got = api
        .get(&format!("/api/v1/app-connections/{app}/{conn}"))
        .await?;
    ensure(
        got.body["appConnection"]["credentials"] == public,
        promise,
        &got.body,
    )?;
    let body = with_connection(&fixture(&format!("{app}-sync.json"))?, &conn);
    let response = format!("{app}-sync-response.json");
    let created = sync(api, app, &body, &response).await?;
    walk_sync(api, app, &created, &response).await?;
    Ok((conn, created))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitbucket_from_the_seed_bodies() -> Result<()> {
    let (db, api) = started!("bitbucket_from_the_seed_bodies");
    let email = json!({"email": "user@example.com"});
    let (conn, created) = walk_app(&api, "bitbucket", email, "Bitbucket keeps email only").await?;
    let list = api.get("/api/v1/app-connections/bitbucket").await?;
    let one = list.body["appConnections"].as_array().map(Vec::len) == Some(1);
    ensure(one, "one connection listed", &list.body)?;
    delete_both(&api, "bitbucket", &created, &conn).await?;
    db.finish().await
}

/// The Checkly sample with a check group.
fn group_body(conn: &str) -> Result<String> {
    Ok(with_connection(&fixture("checkly-sync.json")?, conn)
        .replace("\"my-checkly-sync\"", "\"my-checkly-group-sync\"")
        .replace(
            "\"accountName\": \"Example Company\"",
            "\"accountName\": \"Example Company\",\n\"groupId\": \"42\",\n\"groupName\": \"API checks\"",
        ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkly_account_and_group_from_the_seed_bodies() -> Result<()> {
    let (db, api) = started!("checkly_account_and_group_from_the_seed_bodies");
    let (conn, account) =
        walk_app(&api, "checkly", json!({}), "Checkly shows no credential").await?;
    let group = api
        .post("/api/v1/secret-syncs/checkly", &group_body(&conn)?)
        .await?;
    expect(&group, 200, "create group sync")?;
    same_shape(
        "the group sync",
        &fixture("checkly-sync-response.json")?,
        &group,
    )?;
    let kept = group.body["secretSync"]["destinationConfig"]["groupId"] == json!("42");
    ensure(kept, "the group is kept", &group.body)?;
    let group_id = text(&group.body, "/secretSync/id");
    let gone = api
        .delete(&format!("/api/v1/secret-syncs/checkly/{group_id}"))
        .await?;
    expect(&gone, 200, "delete group sync")?;
    delete_both(&api, "checkly", &account, &conn).await?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octopus_deploy_from_the_seed_bodies() -> Result<()> {
    let (db, api) = started!("octopus_deploy_from_the_seed_bodies");
    let url = json!({"instanceUrl": "https://acme.octopus.app"});
    let promise = "Octopus Deploy shows its instance URL only";
    let (conn, created) = walk_app(&api, "octopus-deploy", url, promise).await?;
    let auto = created.body["secretSync"]["isAutoSyncEnabled"] == json!(true);
    ensure(
        auto,
        "isAutoSyncEnabled as the Octopus sample",
        &created.body,
    )?;
    delete_both(&api, "octopus-deploy", &created, &conn).await?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_remove_secrets_removes_first_then_deletes() -> Result<()> {
    let (db, api) = started!("delete_with_remove_secrets_removes_first_then_deletes");
    let conn = connection(&api, "bitbucket").await?;
    let body = with_connection(&fixture("bitbucket-sync.json")?, &conn);
    let created = api.post("/api/v1/secret-syncs/bitbucket", &body).await?;
    expect(&created, 200, "create")?;
    let id = text(&created.body, "/secretSync/id").to_owned();
    let url = format!("/api/v1/secret-syncs/bitbucket/{id}");
    let bad = api.delete(&format!("{url}?removeSecrets=yes")).await?;
    expect(&bad, 400, "removeSecrets=yes")?;
    let answer = api.delete(&format!("{url}?removeSecrets=true")).await?;
    expect(&answer, 200, "delete with removeSecrets=true")?;
    let job = text(&answer.body, "/secretSync/lastRemoveJobId").to_owned();
    ensure(
        answer.body["secretSync"]["removeStatus"] == json!("pending") && !job.is_empty(),
        "the remove is queued and reported",
        &answer.body,
    )?;
    // Still there until the remove has run.
    expect(&api.get(&url).await?, 200, "kept until removed")?;
    // A worker's turn, by hand: claim the sync's jobs and finish them.
    let jobs = api.registry.jobs();
    let mut removed = false;
    for _ in 0..20 {
        for claim in jobs
            .claim("api-test", std::time::Duration::from_secs(30), 10)
            .await?
        {
            removed |= claim.operation() == Operation::Remove && claim.job_id().to_string() == job;
            jobs.finish(&claim, RunOutcome::succeeded()).await?;
        }
        if removed {
            break;
        }
    }
    ensure(removed, "the remove job was claimed", &answer.body)?;
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if api
            .get(&format!("/api/v1/secret-syncs/bitbucket/{id}"))
            .await?
            .status
            == 404
        {
            gone = true;
            break;
        }
    }
    ensure(gone, "deleted once the remove succeeded", &answer.body)?;
    db.finish().await
}
