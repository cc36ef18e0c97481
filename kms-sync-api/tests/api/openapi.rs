//! The OpenAPI document against the routes that exist: every documented operation is
//! served, and every route served is documented.

use std::collections::BTreeSet;

use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::Value;

use crate::support::{answer, Api, OPENAPI_PATH, TOKEN};

/// A documented path with concrete values for its parameters.
fn concrete(path: &str) -> String {
    path.replace("{destination}", "bitbucket")
        .replace("{app}", "bitbucket")
        .replace("{syncId}", "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d")
        .replace("{connectionId}", "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d")
        .replace("{syncName}", "no-such-sync")
}

/// Whether an answer came from the router's fallback or its method check, not a handler.
fn unrouted(got: &crate::support::Answer) -> bool {
    got.status == 405 || (got.status == 404 && got.body["error"] == "Not Found")
}

const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "DELETE", "PUT"];

/// The API over the test's database and the document it serves (checked 200).
async fn served(db: &crate::support::TestDb) -> Result<(Api, Value)> {
    let api = Api::start(db).await?;
    let got = api.get(OPENAPI_PATH).await?;
    crate::support::expect(&got, 200, "the OpenAPI document")?;
    Ok((api, got.body))
}

/// Every route of the table (and nothing else), as method and path.
fn expected_operations() -> BTreeSet<(&'static str, String)> {
    [
        ("GET", "/api/v1/audit-events"),
        ("GET", "/api/v1/secret-syncs/{destination}/{syncId}/runs"),
        ("POST", "/api/v1/secret-syncs/{destination}/{syncId}/plan"),
        ("GET", "/api/v1/secret-syncs"),
        ("GET", "/api/v1/secret-syncs/options"),
        ("GET", "/api/v1/app-connections"),
        ("GET", "/api/v1/app-connections/options"),
        ("GET", "/api/v1/app-connections/{app}/available"),
        (
            "GET",
            "/api/v1/app-connections/{app}/connection-name/{connectionName}",
        ),
        ("GET", "/api/v1/app-connections/{app}"),
        ("POST", "/api/v1/app-connections/{app}"),
        ("GET", "/api/v1/app-connections/{app}/{connectionId}"),
        ("PATCH", "/api/v1/app-connections/{app}/{connectionId}"),
        ("DELETE", "/api/v1/app-connections/{app}/{connectionId}"),
        ("GET", "/api/v1/secret-syncs/{destination}"),
        ("POST", "/api/v1/secret-syncs/{destination}"),
        ("GET", "/api/v1/secret-syncs/{destination}/{syncId}"),
        ("PATCH", "/api/v1/secret-syncs/{destination}/{syncId}"),
        ("DELETE", "/api/v1/secret-syncs/{destination}/{syncId}"),
        (
            "GET",
            "/api/v1/secret-syncs/{destination}/sync-name/{syncName}",
        ),
        (
            "POST",
            "/api/v1/secret-syncs/{destination}/{syncId}/sync-secrets",
        ),
        (
            "POST",
            "/api/v1/secret-syncs/{destination}/{syncId}/remove-secrets",
        ),
        (
            "POST",
            "/api/v1/secret-syncs/{destination}/{syncId}/import-secrets",
        ),
        (
            "POST",
            "/api/v1/secret-syncs/{destination}/check-destination",
        ),
    ]
    .into_iter()
    .map(|(m, p)| (m, p.to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_generated_one_and_needs_a_token() -> Result<()> {
    let db = db!("openapi_served_is_generated");
    let (api, served) = served(&db).await?;
    let generated =
        serde_json::to_value(kms_sync_api::openapi_for(&crate::support::destinations()))
            .map_err(crate::support::fail)?;
    if served != generated {
        return Err(Error::unexpected(
            "the served document is not the generated one",
        ));
    }
    let unauthenticated = answer(api.client.get(format!("{}{OPENAPI_PATH}", api.base))).await?;
    if unauthenticated.status != 401 {
        return Err(Error::unexpected("the document is served without a token"));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_of_the_table_and_nothing_else() -> Result<()> {
    let db = db!("openapi_lists_every_route");
    let (_api, served) = served(&db).await?;
    let mut documented = BTreeSet::new();
    for (path, item) in served["paths"].as_object().cloned().unwrap_or_default() {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                documented.insert((method, path.clone()));
            }
        }
    }
    let expected = expected_operations();
    if documented != expected {
        return Err(Error::unexpected(format!(
            "documented {documented:?}\nexpected {expected:?}"
        )));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_and_secured_and_no_other_method_is() -> Result<()> {
    let db = db!("openapi_operations_are_served");
    let (api, served) = served(&db).await?;
    let paths = served["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        let url = format!("{}{}", api.base, concrete(path));
        for method in METHODS {
            let m = Method::from_bytes(method.as_bytes()).map_err(crate::support::fail)?;
            let got = answer(
                api.client
                    .request(m, &url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await?;
            let in_doc = item.get(method.to_lowercase()).is_some();
            // Documented: a handler answers (whatever its verdict). Not documented: the
            // router has no such route.
            if in_doc == unrouted(&got) {
                return Err(Error::unexpected(format!(
                    "{method} {path}: documented {in_doc}, answered {} {}",
                    got.status, got.body
                )));
            }
            if in_doc {
                let op = &item[method.to_lowercase()];
                if op["security"].as_array().map(Vec::len) != Some(1)
                    || op["responses"]["200"].is_null() && op["responses"]["400"].is_null()
                {
                    return Err(Error::unexpected(format!("{method} {path}: {op}")));
                }
            }
        }
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_the_openapi_document_lacks_are_not_served() -> Result<()> {
    let db = db!("openapi_stray_paths_unserved");
    let (api, _served) = served(&db).await?;
    for stray in [
        "/api/v1/secret-syncs/options/a/b/c",
        "/api/v1/app-connections/bitbucket/a/b",
        "/api/v1/secret-syncs/bitbucket/0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d/extra",
        "/api/v2/secret-syncs/bitbucket",
        "/",
    ] {
        let got = api.get(stray).await?;
        if !unrouted(&got) {
            return Err(Error::unexpected(format!(
                "{stray} is served: {} {}",
                got.status, got.body
            )));
        }
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_has_the_kms_schemas_and_sync_fields() -> Result<()> {
    let db = db!("openapi_has_the_schemas");
    let (_api, served) = served(&db).await?;
    let schemas = served["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for name in [
        "SecretSync",
        "SecretSyncEnvelope",
        "AppConnection",
        "ErrorResponse",
        "CreateSecretSyncRequest",
    ] {
        if !schemas.contains_key(name) {
            return Err(Error::unexpected(format!("no schema {name}")));
        }
    }
    let sync: &Value = &schemas["SecretSync"]["properties"];
    for field in [
        "syncStatus",
        "lastSyncJobId",
        "connection",
        "environment",
        "folder",
        "destinationConfig",
    ] {
        if sync.get(field).is_none() {
            return Err(Error::unexpected(format!("SecretSync lacks {field}")));
        }
    }
    db.finish().await
}
