//! No credential in any `Debug`: every type the API exports is formatted with canary
//! credentials in it, and none may show. (Every answer of every other test is scanned for
//! the same canaries by `support::answer`.)

use kms_sync_api::{
    AppConnection, AppConnectionEnvelope, AppConnectionList, Auth, CheckDestinationRequest,
    CreateAppConnectionRequest, CreateSecretSyncRequest, UpdateAppConnectionRequest,
    UpdateSecretSyncRequest,
};
use kms_sync_core::{Error, Result};
use serde_json::json;

const CANARY: &str = "canary-credential-0123456789";

fn clean(what: &str, debug: String) -> Result<()> {
    if debug.contains(CANARY) || debug.contains("0123456789") {
        return Err(Error::unexpected(format!(
            "{what}'s Debug shows a credential: {debug}"
        )));
    }
    Ok(())
}

#[test]
fn no_credential_in_any_debug() -> Result<()> {
    let credentials = json!({"apiKey": CANARY, "apiToken": CANARY, "email": "u@example.com"});
    let create = CreateAppConnectionRequest {
        name: "c".into(),
        method: "api-key".into(),
        project_id: None,
        description: None,
        credentials: credentials.clone(),
        is_platform_managed_credentials: None,
        gateway_id: None,
    };
    clean(
        "CreateAppConnectionRequest",
        format!("{create:?} {create:#?}"),
    )?;
    let update = UpdateAppConnectionRequest {
        credentials: Some(credentials.clone()),
        ..Default::default()
    };
    clean(
        "UpdateAppConnectionRequest",
        format!("{update:?} {update:#?}"),
    )?;
    let parsed: CreateAppConnectionRequest = serde_json::from_value(json!({
        "name": "c", "method": "api-key", "credentials": {"nested": {"apiKey": CANARY}}
    }))
    .map_err(crate::support::fail)?;
    clean("a parsed CreateAppConnectionRequest", format!("{parsed:?}"))?;
    let auth = Auth::bearer_tokens([CANARY])?;
    clean("Auth", format!("{auth:?}"))?;
    // The types without credentials: formatted anyway, so a field added later is caught.
    let connection = AppConnection {
        id: "i".into(),
        name: "n".into(),
        project_id: None,
        description: None,
        version: 1,
        org_id: "o".into(),
        created_at: "t".into(),
        updated_at: "t".into(),
        is_platform_managed_credentials: false,
        credentials_hash: None,
        app: "checkly".into(),
        method: "api-key".into(),
        credentials: json!({}),
    };
    let list = AppConnectionList {
        app_connections: vec![connection.clone()],
    };
    let envelope = AppConnectionEnvelope {
        app_connection: connection,
    };
    clean("AppConnection", format!("{list:?} {envelope:?}"))?;
    let sync = CreateSecretSyncRequest {
        name: "s".into(),
        project_id: "p".into(),
        description: None,
        connection_id: "c".into(),
        environment: "dev".into(),
        secret_path: "/".into(),
        is_enabled: None,
        is_auto_sync_enabled: None,
        sync_options: None,
        destination_config: json!({}),
        destination: None,
    };
    let patch = UpdateSecretSyncRequest::default();
    let check: CheckDestinationRequest =
        serde_json::from_value(json!({"projectId": "p"})).map_err(crate::support::fail)?;
    clean("the sync requests", format!("{sync:?} {patch:?} {check:?}"))
}

#[test]
fn the_answer_scan_catches_a_canary() {
    assert!(crate::support::scan(
        "x",
        &format!("{{\"apiKey\": \"{}\"}}", crate::support::CANARIES[1])
    )
    .is_err());
    assert!(crate::support::scan("x", "{\"apiKey\": null}").is_ok());
}
