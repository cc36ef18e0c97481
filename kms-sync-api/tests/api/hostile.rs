//! Hostile input: each answered with a clear 4xx in the KMS's envelope, and nothing changed.

use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::json;

use crate::support::{
    answer, fixture, text, with_connection, Answer, Api, TestDb, BODY_LIMIT, TOKEN,
};

/// Everything the registry holds, as one text: connections, syncs, versions, statuses,
/// pending triggers.
pub(crate) async fn snapshot(db: &TestDb, api: &Api) -> Result<String> {
    let mut out = String::new();
    for kind in ["bitbucket", "checkly", "octopus-deploy"] {
        for c in api.registry.connections().list(kind, None).await? {
            out.push_str(&format!(
                "{} {} {} v{} {:?}\n",
                c.id, c.name, c.credentials, c.version, c.credentials_hash
            ));
        }
        for s in api.registry.syncs().list(kind, None).await? {
            out.push_str(&format!(
                "{} {} {:?} v{} {} {} {:?}\n",
                s.id,
                s.name,
                s.description,
                s.version,
                s.sync_options,
                s.destination_config,
                s.status
            ));
        }
    }
    for table in ["connections", "syncs", "sync_triggers", "sync_runs"] {
        let n = db
            .count(&format!("SELECT count(*) FROM {{s}}.{table}"))
            .await?;
        out.push_str(&format!("{table}: {n}\n"));
    }
    Ok(out)
}

/// The answer is a 4xx of `status` in the KMS's envelope, and `needle` is in its message
/// — for a 422, in its issues (each with a `path` list and a `message`), as the KMS's
/// `ValidationFailure` lists them.
fn refused(what: &str, got: &Answer, status: u16, needle: &str) -> Result<()> {
    let body = &got.body;
    let message = match body["message"].as_array() {
        Some(issues) if status == 422 && body["error"] == json!("ValidationFailure") => {
            if issues
                .iter()
                .all(|i| i["path"].is_array() && i["message"].is_string())
            {
                body["message"].to_string()
            } else {
                String::new()
            }
        }
        _ => text(body, "/message").to_owned(),
    };
    let ok = got.status.as_u16() == status
        && body["statusCode"] == json!(status)
        && body["error"].is_string()
        && body["reqId"].is_string()
        && message.contains(needle);
    if ok {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: expected {status} mentioning `{needle}`, got {} {body}",
        got.status
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_changes_nothing() -> Result<()> {
    let db = db!("hostile_input_is_refused_and_changes_nothing");
    let api = Api::start(&db).await?;
    let conn = api
        .post(
            "/api/v1/app-connections/bitbucket",
            &fixture("bitbucket-connection.json")?,
        )
        .await?;
    let conn_id = text(&conn.body, "/appConnection/id").to_owned();
    let sync_body = with_connection(&fixture("bitbucket-sync.json")?, &conn_id);
    let created = api
        .post("/api/v1/secret-syncs/bitbucket", &sync_body)
        .await?;
    let sync_id = text(&created.body, "/secretSync/id").to_owned();
    let before = snapshot(&db, &api).await?;
    let syncs = "/api/v1/secret-syncs/bitbucket";
    let sync_url = format!("{syncs}/{sync_id}");
    let conns = "/api/v1/app-connections/bitbucket";
    let conn_url = format!("{conns}/{conn_id}");

    // Malformed JSON: the KMS's own Checkly sample response has a trailing comma.
    let trailing = sync_body.replace(
        "\"repositorySlug\": \"my-bitbucket-repository\"",
        "\"repositorySlug\": \"my-bitbucket-repository\",",
    );
    refused(
        "trailing comma",
        &api.post(syncs, &trailing).await?,
        400,
        "trailing comma",
    )?;
    refused(
        "not JSON",
        &api.post(syncs, "{\"name\": ").await?,
        400,
        "sync definition",
    )?;
    refused(
        "an array",
        &api.post(syncs, "[1, 2]").await?,
        422,
        "Expected object",
    )?;
    refused(
        "empty",
        &api.call(Method::PATCH, &sync_url, Some("")).await?,
        400,
        "Body cannot be empty",
    )?;
    refused(
        "patch not JSON",
        &api.call(Method::PATCH, &sync_url, Some("nope")).await?,
        400,
        "sync update",
    )?;

    // Wrong types, naming the field.
    let wrong = sync_body.replace("\"isEnabled\": true", "\"isEnabled\": \"yes\"");
    refused(
        "isEnabled as a string",
        &api.post(syncs, &wrong).await?,
        422,
        "isEnabled",
    )?;
    let wrong = sync_body.replace("\"environment\": \"dev\"", "\"environment\": 7");
    refused(
        "environment as a number",
        &api.post(syncs, &wrong).await?,
        422,
        "environment",
    )?;
    let wrong = sync_body.replace("\"name\": \"my-bitbucket-sync\"", "\"name\": \"My Sync\"");
    refused(
        "a name that is not a slug",
        &api.post(syncs, &wrong).await?,
        422,
        "name",
    )?;
    refused(
        "patch version type",
        &api.call(
            Method::PATCH,
            &sync_url,
            Some(r#"{"isAutoSyncEnabled": "on"}"#),
        )
        .await?,
        422,
        "isAutoSyncEnabled",
    )?;
    let no_project = sync_body.replace(
        "\"projectId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\",",
        "",
    );
    refused(
        "no projectId",
        &api.post(syncs, &no_project).await?,
        422,
        "projectId",
    )?;
    let import = sync_body.replace("\"overwrite-destination\"", "\"import-prioritize-source\"");
    refused(
        "import behaviour",
        &api.post(syncs, &import).await?,
        422,
        "initialSyncBehavior",
    )?;
    let bad_config = sync_body.replace("\"workspaceSlug\"", "\"workspace\"");
    refused(
        "bad destinationConfig",
        &api.post(syncs, &bad_config).await?,
        400,
        "destinationConfig",
    )?;
    let no_creds =
        r#"{"name": "bb2", "method": "api-token", "credentials": {"email": "user@example.com"}}"#;
    refused(
        "credentials without the token",
        &api.post(conns, no_creds).await?,
        400,
        "apiToken",
    )?;
    let creds_type =
        r#"{"name": "bb2", "method": "api-token", "credentials": "ATATT-secret-token-value"}"#;
    let got = api.post(conns, creds_type).await?;
    refused("credentials as a string", &got, 400, "credentials")?;
    if got.body.to_string().contains("ATATT-secret-token-value") {
        return Err(Error::unexpected("a refused credential was echoed"));
    }

    // Unknown fields: refused, naming the field (the KMS strips them; see the crate docs).
    let unknown = sync_body.replace(
        "\"isEnabled\": true",
        "\"isEnabled\": true, \"keyschema\": \"X_{{secretKey}}\"",
    );
    refused(
        "unknown top-level field",
        &api.post(syncs, &unknown).await?,
        422,
        "keyschema",
    )?;
    let unknown = sync_body.replace(
        "\"initialSyncBehavior\"",
        "\"disableSecretDeletio\": true, \"initialSyncBehavior\"",
    );
    refused(
        "unknown option",
        &api.post(syncs, &unknown).await?,
        400,
        "disableSecretDeletio",
    )?;
    refused(
        "unknown patch field",
        &api.call(Method::PATCH, &sync_url, Some(r#"{"projectId": "other"}"#))
            .await?,
        422,
        "projectId",
    )?;
    let unknown_conn = fixture("bitbucket-connection.json")?
        .replace("\"method\"", "\"app\": \"checkly\", \"method\"");
    refused(
        "unknown connection field",
        &api.post(conns, &unknown_conn).await?,
        422,
        "app",
    )?;
    refused(
        "unknown check-destination field",
        &api.post(&format!("{syncs}/check-destination"), r#"{"projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "destinationConfig": {}, "extra": 1}"#).await?,
        422,
        "extra",
    )?;

    // Huge bodies.
    let huge = format!(
        "{{\"name\": \"x\", \"description\": \"{}\"}}",
        "a".repeat(BODY_LIMIT + 1)
    );
    refused(
        "a body over the limit",
        &api.post(syncs, &huge).await?,
        413,
        "too large",
    )?;
    refused(
        "a connection over the limit",
        &api.call(Method::PATCH, &conn_url, Some(&huge)).await?,
        413,
        "too large",
    )?;
    let long = sync_body.replace("\"an example sync\"", &format!("\"{}\"", "d".repeat(300)));
    refused(
        "a description over 256",
        &api.post(syncs, &long).await?,
        400,
        "description",
    )?;

    // Content type.
    let plain = answer(
        api.client
            .post(format!("{}{syncs}", api.base))
            .bearer_auth(TOKEN)
            .header("content-type", "text/plain")
            .body(sync_body.clone()),
    )
    .await?;
    refused("text/plain", &plain, 415, "application/json")?;
    let none = answer(
        api.client
            .post(format!("{}{syncs}", api.base))
            .bearer_auth(TOKEN)
            .body(sync_body.clone()),
    )
    .await?;
    refused("no content type", &none, 415, "application/json")?;

    // Path traversal in names and ids.
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "...",
        "a.b",
        "my-sync%00",
        "My-Sync",
        "a%5Cb",
        "%2E%2E%2Fx",
    ] {
        let got = api
            .get(&format!(
                "{syncs}/sync-name/{name}?projectId=3c90c3cc-0d44-4b50-8888-8dd25736052a"
            ))
            .await?;
        refused(&format!("sync name {name}"), &got, 422, "syncName")?;
    }
    let traversal = sync_body.replace("\"/my-secrets\"", "\"/my-secrets/../../etc\"");
    refused(
        "secretPath traversal",
        &api.post(syncs, &traversal).await?,
        422,
        "secretPath",
    )?;
    refused(
        "a sync id that is not one",
        &api.get(&format!("{syncs}/..%2F..%2Fetc")).await?,
        422,
        "syncId",
    )?;
    refused(
        "a connection id that is not one",
        &api.call(Method::DELETE, &format!("{conns}/not-a-uuid"), None)
            .await?,
        422,
        "connectionId",
    )?;
    let unknown_id = "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d";
    refused(
        "an unknown sync",
        &api.get(&format!("{syncs}/{unknown_id}")).await?,
        404,
        "not found",
    )?;
    refused(
        "an unknown connection",
        &api.call(Method::DELETE, &format!("{conns}/{unknown_id}"), None)
            .await?,
        404,
        "not found",
    )?;
    refused(
        "an unknown sync's trigger",
        &api.post(&format!("{syncs}/{unknown_id}/sync-secrets"), "")
            .await?,
        404,
        "not found",
    )?;
    refused(
        "an unknown destination",
        &api.get("/api/v1/secret-syncs/vault?projectId=p").await?,
        404,
        "vault",
    )?;
    refused(
        "a sync under another destination",
        &api.get(&format!("/api/v1/secret-syncs/checkly/{sync_id}"))
            .await?,
        400,
        "is not configured for Checkly",
    )?;
    refused(
        "list without projectId",
        &api.get(syncs).await?,
        422,
        "projectId",
    )?;

    // Tokens: missing, wrong, another scheme; each before anything is read.
    let url = format!("{}{syncs}", api.base);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("a wrong token", Some(format!("Bearer {TOKEN}x"))),
        (
            "a prefix of the token",
            Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        ),
        ("basic auth", Some(format!("Basic {TOKEN}"))),
        ("an empty bearer", Some("Bearer ".to_owned())),
    ];
    for (what, header) in cases {
        let mut request = api
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(
                with_connection(&fixture("bitbucket-sync.json")?, &conn_id)
                    .replace("my-bitbucket-sync", "sneaky-sync"),
            );
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let got = answer(request).await?;
        refused(what, &got, 401, "oken")?;
        let got = answer(
            api.client
                .request(Method::DELETE, format!("{}{sync_url}", api.base)),
        )
        .await?;
        refused("delete without a token", &got, 401, "Token missing")?;
    }
    let got = answer(
        api.client
            .post(&url)
            .header("content-type", "application/json")
            .body("x".repeat(BODY_LIMIT * 4)),
    )
    .await?;
    refused("a huge body without a token", &got, 401, "Token missing")?;

    let after = snapshot(&db, &api).await?;
    if before != after {
        return Err(Error::unexpected(format!(
            "hostile input changed the registry:\nbefore:\n{before}\nafter:\n{after}"
        )));
    }
    db.finish().await
}
