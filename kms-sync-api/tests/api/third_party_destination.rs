//! A fourth destination, registered by the embedder: the API serves it, describes it,
//! duplicate-checks it and imports (or refuses) from what its factory declares — nothing
//! in the API names a service.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    parse_json, AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts,
    MemoryDestination, Result,
};
use serde_json::{json, Map, Value};

use crate::support::{
    destinations, expect, memory_connection, registry_of, text, Api, OPENAPI_PATH, SAMPLE_PROJECT,
};

/// A vault-like destination: a display name of its own, import support, a display-only
/// config field, one connection method.
struct VaultFactory;

const VAULT: DestinationFacts = DestinationFacts::new("vault", "Test Vault")
    .can_import(true)
    .display_only_config_fields(&["mountName"])
    .connection_methods(&["token"])
    .config_description("`mount` names the KV mount")
    .credentials_description("`token`, never shown back");

impl DestinationFactory for VaultFactory {
    fn kind(&self) -> &'static str {
        "vault"
    }
    fn facts(&self) -> DestinationFacts {
        VAULT
    }
    fn check_config(&self, config: &str) -> Result<()> {
        let _: Map<String, Value> = parse_json(config, "vault config")?;
        Ok(())
    }
    fn build(
        &self,
        _: &AppConnectionDefinition,
        config: &str,
        _: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        self.check_config(config)?;
        Ok(Arc::new(MemoryDestination::builder().kind("vault").build()))
    }
}

async fn api_with_vault(db: &crate::support::TestDb) -> Result<Api> {
    Api::with_registry(registry_of(db, destinations().with(VaultFactory)).await?).await
}

fn sync_body(connection: &str, name: &str, mount_name: &str, behavior: &str) -> String {
    json!({
        "name": name, "projectId": SAMPLE_PROJECT, "connectionId": connection,
        "environment": "dev", "secretPath": "/", "isAutoSyncEnabled": false,
        "syncOptions": {"initialSyncBehavior": behavior},
        "destinationConfig": {"mount": "kv", "mountName": mount_name}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_destination_is_listed_in_the_options_with_its_facts() -> Result<()> {
    let db = db!("a_fourth_destination_is_listed_in_the_options_with_its_facts");
    let api = api_with_vault(&db).await?;
    let syncs = api.get("/api/v1/secret-syncs/options").await?;
    expect(&syncs, 200, "sync options")?;
    let vault = json!({"name": "Test Vault", "connection": "vault", "destination": "vault", "canImportSecrets": true});
    let listed = syncs.body["secretSyncOptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !listed.contains(&vault) || listed.len() != 4 {
        return Err(crate::support::fail(format!(
            "sync options: {}",
            syncs.body
        )));
    }
    let apps = api.get("/api/v1/app-connections/options").await?;
    let vault = json!({"name": "Test Vault", "app": "vault", "methods": ["token"]});
    let listed = apps.body["appConnectionOptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !listed.contains(&vault) {
        return Err(crate::support::fail(format!("app options: {}", apps.body)));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_destination_is_described_in_the_served_openapi_document() -> Result<()> {
    let db = db!("a_fourth_destination_is_described_in_the_served_openapi_document");
    let api = api_with_vault(&db).await?;
    let doc = api.get(OPENAPI_PATH).await?.body.to_string();
    for needle in [
        "`vault` (Test Vault)",
        "**Test Vault** (`vault`): `mount` names the KV mount",
        "**Test Vault** (`vault`): `token`, never shown back",
    ] {
        if !doc.contains(needle) {
            return Err(crate::support::fail(format!("the document lacks {needle}")));
        }
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_destination_is_served_duplicate_checked_and_imports_by_its_facts() -> Result<()> {
    let db = db!("a_fourth_destination_is_served_duplicate_checked_and_imports_by_its_facts");
    let api = api_with_vault(&db).await?;
    let conn = api
        .post(
            "/api/v1/app-connections/vault",
            &json!({"name": "vc", "method": "token", "projectId": SAMPLE_PROJECT,
                    "credentials": {"token": "vault-canary-token"}})
            .to_string(),
        )
        .await?;
    expect(&conn, 200, "a vault connection")?;
    let conn_id = text(&conn.body, "/appConnection/id").to_owned();
    // It can import, so an import behaviour is accepted at create.
    let body = sync_body(&conn_id, "vault-sync", "Team A", "import-prioritize-source");
    let created = api.post("/api/v1/secret-syncs/vault", &body).await?;
    expect(&created, 200, "a vault sync importing first")?;
    let sync_id = text(&created.body, "/secretSync/id").to_owned();
    // The display-only field does not make another destination.
    let check = |mount: &str, name: &str| {
        json!({"projectId": SAMPLE_PROJECT, "destinationConfig": {"mount": mount, "mountName": name}})
            .to_string()
    };
    let same = api
        .post(
            "/api/v1/secret-syncs/vault/check-destination",
            &check("kv", "Team B"),
        )
        .await?;
    expect(&same, 200, "check-destination")?;
    let other = api
        .post(
            "/api/v1/secret-syncs/vault/check-destination",
            &check("other", "Team A"),
        )
        .await?;
    if same.body["hasDuplicate"] != json!(true) || other.body["hasDuplicate"] != json!(false) {
        return Err(crate::support::fail(format!(
            "{} / {}",
            same.body, other.body
        )));
    }
    // Import is not refused by the API's facts: it goes to the fleet, which queues it or
    // refuses it itself (never "Test Vault does not support importing secrets.").
    let import = api
        .post(
            &format!("/api/v1/secret-syncs/vault/{sync_id}/import-secrets?importBehavior=prioritize-source"),
            "",
        )
        .await?;
    let queued =
        import.status == 200 && import.body["secretSync"]["importStatus"] == json!("pending");
    let fleet_refused = import.status == 400 && text(&import.body, "/message").contains("import");
    if !(queued || fleet_refused) || text(&import.body, "/message").contains("Test Vault does not")
    {
        return Err(crate::support::fail(format!(
            "import: {} {}",
            import.status, import.body
        )));
    }
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_without_import_refuses_it_with_its_display_name() -> Result<()> {
    let db = db!("a_destination_without_import_refuses_it_with_its_display_name");
    let memory = kms_sync_core::DestinationRegistry::new().with(kms_sync_core::MemoryFactory);
    let api = Api::with_registry(registry_of(&db, memory).await?).await?;
    let conn_id = memory_connection(&api, "mc", SAMPLE_PROJECT).await?;
    let refused = api
        .post(
            "/api/v1/secret-syncs/memory",
            &sync_body(&conn_id, "memory-sync", "x", "import-prioritize-source")
                .replace("\"mount\"", "\"m\""),
        )
        .await?;
    expect(
        &refused,
        422,
        "an import behaviour for a kind without import",
    )?;
    if !refused
        .body
        .to_string()
        .contains("memory does not support importing secrets")
    {
        return Err(crate::support::fail(format!("{}", refused.body)));
    }
    db.finish().await
}
