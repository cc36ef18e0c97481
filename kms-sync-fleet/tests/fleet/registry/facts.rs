//! A fourth kind of destination, registered by an embedder: the registry learns which of its
//! credential fields are public, and how to refuse an import, from its factory's facts only.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts,
    DestinationRegistry, ErrorKind, MemoryFactory, Operation, Result,
};
use kms_sync_fleet::{KeyRing, SyncRegistry, TriggerCause};

use super::{count, KEY};

/// Memory destinations under another kind, with facts of their own.
struct Keeper;

const KEEPER: DestinationFacts = DestinationFacts::new("keeper", "Keeper Vault")
    .public_credential_fields(&["region", "account"]);

impl DestinationFactory for Keeper {
    fn kind(&self) -> &'static str {
        "keeper"
    }
    fn facts(&self) -> DestinationFacts {
        KEEPER
    }
    fn check_config(&self, config: &str) -> Result<()> {
        MemoryFactory.check_config(config)
    }
    fn build(
        &self,
        connection: &AppConnectionDefinition,
        config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        MemoryFactory.build(connection, config, settings)
    }
}

async fn keeper_registry(db: &crate::support::TestDb) -> Result<SyncRegistry> {
    let destinations = DestinationRegistry::new().with(MemoryFactory).with(Keeper);
    SyncRegistry::builder(db.pool().await?, destinations)
        .key_ring(KeyRing::new("k1", KEY)?)
        .build()
}

/// The connection of `BODY`, of kind `keeper`.
async fn keeper_connection(registry: &SyncRegistry) -> Result<kms_sync_fleet::ConnectionRecord> {
    let body = AppConnectionDefinition::from_json(BODY)?;
    registry.connections().create("keeper", &body).await
}

const BODY: &str = r#"{"name": "kept", "method": "api-key",
    "credentials": {"region": "eu-2", "account": "acme", "apiKey": "keeper-secret-key"}}"#;

#[tokio::test]
async fn public_fields_come_from_the_kinds_facts() -> Result<()> {
    let db = db!("registry::facts::public_fields_come_from_the_kinds_facts");
    let registry = keeper_registry(&db).await?;
    let kept = keeper_connection(&registry).await?;
    assert_eq!(kept.credentials, r#"{"account":"acme","region":"eu-2"}"#);
    // The same body for a kind that declares nothing public shows nothing.
    let same = AppConnectionDefinition::from_json(&BODY.replace("kept", "mem"))?;
    let memory = registry.connections().create("memory", &same).await?;
    assert_eq!(memory.credentials, "{}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM {s}.connections WHERE connections::text LIKE '%keeper-secret-key%'"
        )
        .await?,
        0,
        "the secret field is never in the clear"
    );
    db.finish().await
}

#[tokio::test]
async fn the_builder_still_overrides_a_kinds_public_fields() -> Result<()> {
    let db = db!("registry::facts::the_builder_still_overrides_a_kinds_public_fields");
    let destinations = DestinationRegistry::new().with(Keeper);
    let registry = SyncRegistry::builder(db.pool().await?, destinations)
        .key_ring(KeyRing::new("k1", KEY)?)
        .public_credential_fields("keeper", &["region"])
        .build()?;
    let kept = keeper_connection(&registry).await?;
    assert_eq!(kept.credentials, r#"{"region":"eu-2"}"#);
    db.finish().await
}

#[tokio::test]
async fn an_import_is_refused_with_the_kinds_display_name() -> Result<()> {
    let db = db!("registry::facts::an_import_is_refused_with_the_kinds_display_name");
    let registry = keeper_registry(&db).await?;
    let conn = keeper_connection(&registry).await?;
    let sync = registry
        .syncs()
        .create(
            "keeper",
            &format!(
                r#"{{"name": "k", "projectId": "p1", "connectionId": "{}", "environment": "dev",
                    "secretPath": "/", "isAutoSyncEnabled": false, "destinationConfig": {{}}}}"#,
                conn.id
            ),
        )
        .await?;
    let err = registry
        .jobs()
        .trigger(sync.id, Operation::Import, TriggerCause::Manual)
        .await
        .expect_err("no import");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string()
            .contains("Keeper Vault syncs do not support importing secrets"),
        "{err}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM {s}.sync_triggers").await?,
        0,
        "nothing queued"
    );
    db.finish().await
}
