//! Connections: the KMS's bodies in, only what the KMS shows out; credentials encrypted under
//! rotating keys or resolved by the embedder.

use std::sync::Arc;

use kms_sync_core::{async_trait, AppConnectionDefinition, ErrorKind, Result};
use kms_sync_fleet::{
    ConnectionId, ConnectionPatch, ConnectionRecord, Connections, CredentialResolver, KeyRing,
    SyncRegistry,
};

use super::{builder, count, fixture, memory_connection, memory_sync, registry, KEY};
use crate::support::{fail, TestDb};

fn sample() -> Result<AppConnectionDefinition> {
    AppConnectionDefinition::from_json(&fixture("bitbucket-connection.json")?)
}

/// The sample connection as created: only what the KMS shows, a credentials hash, the
/// current key, version 1.
fn created_as_the_kms_shows(created: &ConnectionRecord) {
    assert_eq!(created.app, "bitbucket");
    assert_eq!(created.name, "my-bitbucket-connection");
    assert_eq!(created.method, "api-token");
    assert_eq!(
        created.project_id.as_deref(),
        Some("7ffbb072-2575-495a-b5b0-127f88caef78")
    );
    assert_eq!(created.description, None);
    assert_eq!(
        created.credentials, r#"{"email":"user@example.com"}"#,
        "only what the KMS shows"
    );
    let hash = created.credentials_hash.clone().unwrap_or_default();
    assert!(
        hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{hash}"
    );
    assert_eq!(created.key_id.as_deref(), Some("k1"));
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, created.updated_at);
}

/// `created` is read back by id and listed under its app and project only.
async fn read_and_listed(connections: &Connections, created: &ConnectionRecord) -> Result<()> {
    assert_eq!(&connections.get(created.id).await?, created);
    let project = created.project_id.as_deref();
    assert_eq!(
        connections.list("bitbucket", project).await?,
        std::slice::from_ref(created)
    );
    assert_eq!(connections.list("bitbucket", None).await?.len(), 1);
    assert!(connections
        .list("bitbucket", Some("another"))
        .await?
        .is_empty());
    assert!(connections.list("checkly", None).await?.is_empty());
    Ok(())
}

/// A second connection of the same name, of an unknown app, or with no slug is refused.
async fn duplicates_and_bad_names_refused(connections: &Connections) -> Result<()> {
    let dup = connections
        .create("bitbucket", &sample()?)
        .await
        .expect_err("same name");
    assert_eq!(dup.kind(), ErrorKind::Conflict, "{dup}");
    let unknown = connections
        .create("vault", &sample()?)
        .await
        .expect_err("unknown app");
    assert_eq!(unknown.kind(), ErrorKind::Config, "{unknown}");
    let bad_name = AppConnectionDefinition::from_json(
        r#"{"name": "Not A Slug", "method": "api-token", "credentials": {}}"#,
    )?;
    let err = connections
        .create("bitbucket", &bad_name)
        .await
        .expect_err("name");
    assert!(err.to_string().contains("slug-friendly"), "{err}");
    Ok(())
}

/// A rename keeps the credentials; a rotation replaces them, the definition holds the new.
async fn renamed_then_rotated(connections: &Connections, created: &ConnectionRecord) -> Result<()> {
    let renamed = connections
        .update(
            created.id,
            ConnectionPatch::from_json(r#"{"name": "bb-main", "description": "the main one"}"#)?,
        )
        .await?;
    assert_eq!((renamed.name.as_str(), renamed.version), ("bb-main", 2));
    assert_eq!(renamed.description.as_deref(), Some("the main one"));
    assert_eq!(
        renamed.credentials_hash, created.credentials_hash,
        "credentials unchanged"
    );
    assert!(renamed.updated_at >= created.updated_at);
    let rotated = connections
        .update(
            created.id,
            ConnectionPatch::from_json(
                r#"{"description": null, "credentials": {"email": "ops@example.com", "apiToken": "ATATT-rotated"}}"#,
            )?,
        )
        .await?;
    assert_eq!(rotated.version, 3);
    assert_eq!(rotated.description, None);
    assert_eq!(rotated.credentials, r#"{"email":"ops@example.com"}"#);
    assert_ne!(rotated.credentials_hash, created.credentials_hash);
    let definition = connections.definition(created.id).await?;
    assert!(definition.expose_json().contains("ATATT-rotated"));
    assert_eq!(definition.name(), Some("bb-main"));
    assert_eq!(definition.method(), "api-token");
    Ok(())
}

/// A registry on `db` and the sample Bitbucket connection, created.
async fn with_bitbucket(db: &TestDb) -> Result<(SyncRegistry, ConnectionRecord)> {
    let registry = registry(db).await?;
    let conn = registry
        .connections()
        .create("bitbucket", &sample()?)
        .await?;
    Ok((registry, conn))
}

/// `patch` to `conn` is refused as a configuration error (`why` it must be) and changes
/// nothing; the error.
async fn refused_unchanged(
    registry: &SyncRegistry,
    conn: &ConnectionRecord,
    patch: ConnectionPatch,
    why: &str,
) -> Result<kms_sync_core::Error> {
    let err = registry
        .connections()
        .update(conn.id, patch)
        .await
        .expect_err(why);
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(
        &registry.connections().get(conn.id).await?,
        conn,
        "nothing changed"
    );
    Ok(err)
}

#[tokio::test]
async fn a_connection_is_created_read_listed_updated_and_deleted() -> Result<()> {
    let db = db!("registry::connections::a_connection_is_created_read_listed_updated_and_deleted");
    let registry = registry(&db).await?;
    let connections = registry.connections();
    let created = connections.create("bitbucket", &sample()?).await?;
    created_as_the_kms_shows(&created);
    read_and_listed(&connections, &created).await?;
    duplicates_and_bad_names_refused(&connections).await?;
    renamed_then_rotated(&connections, &created).await?;

    let deleted = connections.delete(created.id).await?;
    assert_eq!(deleted.id, created.id);
    let gone = connections.get(created.id).await.expect_err("deleted");
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    let again = connections.delete(created.id).await.expect_err("deleted");
    assert_eq!(again.kind(), ErrorKind::NotFound, "{again}");
    db.finish().await
}

#[tokio::test]
async fn a_connection_in_use_cannot_be_deleted() -> Result<()> {
    let db = db!("registry::connections::a_connection_in_use_cannot_be_deleted");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", false).await?;
    let err = registry
        .connections()
        .delete(conn.id)
        .await
        .expect_err("in use");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("api"), "names the sync: {err}");
    assert_eq!(
        registry.connections().get(conn.id).await?,
        conn,
        "nothing changed"
    );
    registry.syncs().delete(sync.id).await?;
    registry.connections().delete(conn.id).await?;
    db.finish().await
}

#[tokio::test]
async fn new_credentials_a_sync_refuses_are_refused_whole() -> Result<()> {
    let db = db!("registry::connections::new_credentials_a_sync_refuses_are_refused_whole");
    let (registry, conn) = with_bitbucket(&db).await?;
    let body = super::with_connection(&fixture("bitbucket-sync.json")?, conn.id);
    registry.syncs().create("bitbucket", &body).await?;
    let patch = ConnectionPatch::from_json(
        r#"{"credentials": {"email": "not-an-email", "apiToken": "T"}}"#,
    )?;
    let err = refused_unchanged(&registry, &conn, patch, "refused").await?;
    assert!(
        err.to_string().contains("my-bitbucket-sync"),
        "names the sync: {err}"
    );
    db.finish().await
}

#[tokio::test]
async fn credentials_decrypt_after_key_rotation_and_move_to_the_new_key() -> Result<()> {
    let db = db!(
        "registry::connections::credentials_decrypt_after_key_rotation_and_move_to_the_new_key"
    );
    let old = registry(&db).await?;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(memory_connection(&old, name).await?.id);
    }
    let before = old.connections().get(ids[0]).await?;
    let rotated = SyncRegistry::builder(db.pool().await?, super::destinations())
        .key_ring(KeyRing::new("k2", [0x77; 32])?.with_old_key("k1", KEY)?)
        .build()?;
    for id in &ids {
        let def = rotated.connections().definition(*id).await?;
        assert!(
            def.expose_json().contains("memory-token-"),
            "old rows open with the old key"
        );
    }
    let fresh = memory_connection(&rotated, "d").await?;
    assert_eq!(
        fresh.key_id.as_deref(),
        Some("k2"),
        "new rows use the current key"
    );
    assert_eq!(rotated.connections().reencrypt().await?, 3);
    assert_eq!(rotated.connections().reencrypt().await?, 0, "nothing left");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM {s}.connections WHERE key_id = 'k1'"
        )
        .await?,
        0
    );
    let after = rotated.connections().get(ids[0]).await?;
    assert_eq!(after.key_id.as_deref(), Some("k2"));
    assert_eq!(
        after.version, before.version,
        "re-encryption is not an update"
    );
    assert_ne!(
        after.credentials_hash, before.credentials_hash,
        "hashed under the new key"
    );

    let only_new = SyncRegistry::builder(db.pool().await?, super::destinations())
        .key_ring(KeyRing::new("k2", [0x77; 32])?)
        .build()?;
    for id in &ids {
        let def = only_new.connections().definition(*id).await?;
        assert!(def.expose_json().contains("memory-token-"));
    }
    let err = old
        .connections()
        .definition(ids[0])
        .await
        .expect_err("k2 unknown to old");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("not in the key ring"), "{err}");
    db.finish().await
}

#[tokio::test]
async fn a_wrong_key_or_an_altered_row_is_an_error_not_garbage() -> Result<()> {
    let db = db!("registry::connections::a_wrong_key_or_an_altered_row_is_an_error_not_garbage");
    let right = registry(&db).await?;
    let conn = memory_connection(&right, "mem").await?;
    let wrong = SyncRegistry::builder(db.pool().await?, super::destinations())
        .key_ring(KeyRing::new("k1", [0x5b; 32])?)
        .build()?;
    let err = wrong
        .connections()
        .definition(conn.id)
        .await
        .expect_err("wrong key");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    assert!(!err.to_string().contains("memory-token"), "{err}");
    let err = wrong.connections().reencrypt().await;
    assert!(err.is_ok(), "same key id: nothing to move ({err:?})");

    // A ciphertext moved to another row does not open there either.
    let other = memory_connection(&right, "other").await?;
    db.execute(&format!(
        "UPDATE \"{s}\".connections SET nonce = src.nonce, ciphertext = src.ciphertext \
         FROM \"{s}\".connections src WHERE src.id = '{}' AND \"{s}\".connections.id = '{}'",
        conn.id,
        other.id,
        s = db.schema()
    ))
    .await?;
    let err = right
        .connections()
        .definition(other.id)
        .await
        .expect_err("moved");
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    db.execute(&format!(
        "UPDATE \"{}\".connections SET ciphertext = overlay(ciphertext placing '\\xff'::bytea from 1 for 1) WHERE id = '{}'",
        db.schema(),
        conn.id
    ))
    .await?;
    let err = right
        .connections()
        .definition(conn.id)
        .await
        .expect_err("altered");
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    db.finish().await
}

#[tokio::test]
async fn checkly_and_octopus_connections_show_only_what_the_kms_shows() -> Result<()> {
    let db =
        db!("registry::connections::checkly_and_octopus_connections_show_only_what_the_kms_shows");
    let registry = registry(&db).await?;
    let checkly = AppConnectionDefinition::from_json(&fixture("checkly-connection.json")?)?;
    let checkly = registry.connections().create("checkly", &checkly).await?;
    assert_eq!(checkly.credentials, "{}");
    let octopus = AppConnectionDefinition::from_json(&fixture("octopus-deploy-connection.json")?)?;
    let octopus = registry.connections().create("octopus", &octopus).await?;
    assert_eq!(
        octopus.app, "octopus-deploy",
        "the alias is stored as its kind"
    );
    assert_eq!(
        octopus.credentials,
        r#"{"instanceUrl":"https://acme.octopus.app"}"#
    );
    assert_eq!(
        registry.connections().list("octopus", None).await?,
        [octopus]
    );
    db.finish().await
}

struct Vault;

#[async_trait]
impl CredentialResolver for Vault {
    async fn connection(&self, id: ConnectionId) -> Result<AppConnectionDefinition> {
        AppConnectionDefinition::from_json(&format!(
            r#"{{"method": "none", "credentials": {{"token": "from-the-vault-{id}"}}}}"#
        ))
    }
}

#[tokio::test]
async fn a_resolver_supplies_credentials_the_registry_never_stores() -> Result<()> {
    let db =
        db!("registry::connections::a_resolver_supplies_credentials_the_registry_never_stores");
    let registry = SyncRegistry::builder(db.pool().await?, super::destinations())
        .credential_resolver(Arc::new(Vault))
        .public_credential_fields("memory", &["region"])
        .build()?;
    let body = AppConnectionDefinition::from_json(
        r#"{"name": "vaulted", "method": "none", "credentials": {"region": "eu", "token": "never-stored"}}"#,
    )?;
    let conn = registry.connections().create("memory", &body).await?;
    assert_eq!(
        (conn.key_id.as_deref(), conn.credentials_hash.as_deref()),
        (None, None)
    );
    assert_eq!(conn.credentials, r#"{"region":"eu"}"#);
    assert_eq!(
        count(&db, "SELECT count(*) FROM {s}.connections WHERE ciphertext IS NULL AND NOT (connections::text LIKE '%never-stored%')").await?,
        1
    );
    let def = registry.connections().definition(conn.id).await?;
    assert!(def
        .expose_json()
        .contains(&format!("from-the-vault-{}", conn.id)));
    let sync = super::memory_sync(&registry, &conn, "api", false).await?;
    let resolved = registry.syncs().resolve(sync.id).await?;
    assert!(resolved
        .connection
        .expose_json()
        .contains("from-the-vault-"));

    let neither = SyncRegistry::builder(db.pool().await?, super::destinations()).build();
    assert_eq!(
        neither.map(|_| ()).expect_err("no home").kind(),
        ErrorKind::Config
    );
    let keys_only = builder(&db).await?.build()?;
    let err = keys_only
        .connections()
        .definition(conn.id)
        .await
        .expect_err("no resolver");
    assert!(err.to_string().contains("no credential resolver"), "{err}");
    db.finish().await
}

#[tokio::test]
async fn debug_never_shows_a_key_or_a_credential() -> Result<()> {
    let db = db!("registry::connections::debug_never_shows_a_key_or_a_credential");
    let ring = KeyRing::new("k1", [0xab; 32])?;
    let shown_ring = format!("{ring:?}");
    let builder = SyncRegistry::builder(db.pool().await?, super::destinations()).key_ring(ring);
    let shown_builder = format!("{builder:?}");
    let registry = builder.build()?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", false).await?;
    let resolved = registry.syncs().resolve(sync.id).await?;
    let patch = ConnectionPatch::from_json(r#"{"credentials": {"token": "memory-token-new"}}"#)?;
    for shown in [
        shown_ring,
        shown_builder,
        format!("{registry:?}"),
        format!("{:?}", registry.connections()),
        format!("{:?}", registry.syncs()),
        format!("{:?}", registry.jobs()),
        format!("{conn:?}"),
        format!("{sync:?}"),
        format!("{resolved:?}"),
        format!("{patch:?}"),
        format!("{:?}", registry.connections().definition(conn.id).await?),
    ] {
        for secret in ["memory-token", "171, 171", "abab", "[171"] {
            assert!(
                !shown.to_lowercase().contains(secret),
                "`{secret}` in {shown}"
            );
        }
    }
    db.finish().await
}

/// The sample's token is found in no column, and its ciphertext differs per row.
#[tokio::test]
async fn the_database_holds_ciphertext_only() -> Result<()> {
    let db = db!("registry::connections::the_database_holds_ciphertext_only");
    let registry = registry(&db).await?;
    registry
        .connections()
        .create("bitbucket", &sample()?)
        .await?;
    let rows = db
        .admin()
        .await?
        .query(
            &format!("SELECT c::text FROM \"{}\".connections c", db.schema()),
            &[],
        )
        .await
        .map_err(fail)?;
    let hex: String = "<YOUR-API-TOKEN>"
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    for row in rows {
        let text: String = row.get(0);
        assert!(
            !text.contains("YOUR-API-TOKEN") && !text.contains(&hex),
            "{text}"
        );
    }
    db.finish().await
}

#[tokio::test]
async fn new_credentials_are_checked_even_when_no_sync_uses_the_connection() -> Result<()> {
    let db = db!(
        "registry::connections::new_credentials_are_checked_even_when_no_sync_uses_the_connection"
    );
    let (registry, conn) = with_bitbucket(&db).await?;
    // Checkly's credential shape, given to a Bitbucket connection.
    let patch = ConnectionPatch::from_json(r#"{"credentials": {"apiKey": "hunter2-key"}}"#)?;
    let why = "refused by the Bitbucket factory";
    let err = refused_unchanged(&registry, &conn, patch, why).await?;
    assert!(!err.to_string().contains("hunter2"), "{err}");
    db.finish().await
}

#[tokio::test]
async fn credentials_that_move_a_sync_elsewhere_drop_its_ledger_and_only_then() -> Result<()> {
    let db = db!(
        "registry::connections::credentials_that_move_a_sync_elsewhere_drop_its_ledger_and_only_then"
    );
    let registry = registry(&db).await?;
    let body = AppConnectionDefinition::from_json(&fixture("octopus-deploy-connection.json")?)?;
    let conn = registry
        .connections()
        .create("octopus-deploy", &body)
        .await?;
    let sync_body = super::with_connection(&fixture("octopus-deploy-sync.json")?, conn.id);
    let sync = registry
        .syncs()
        .create("octopus-deploy", &sync_body)
        .await?;
    let ledger = registry.ledger_store();
    let id = sync.id.to_string();
    use kms_sync_core::StateStore;
    ledger
        .update(&id, &[kms_sync_core::LedgerUpdate::Settle])
        .await?;

    // Another key for the same instance: the same destination, the ledger stays.
    let same = ConnectionPatch::from_json(
        r#"{"credentials": {"instanceUrl": "https://acme.octopus.app", "apiKey": "API-FEDCBA9876543210"}}"#,
    )?;
    registry.connections().update(conn.id, same).await?;
    assert!(ledger.load(&id).await?.is_some(), "same destination: kept");

    // Another instance: another destination, the ledger goes in the update's transaction.
    let moved = ConnectionPatch::from_json(
        r#"{"credentials": {"instanceUrl": "https://other.octopus.app", "apiKey": "API-FEDCBA9876543210"}}"#,
    )?;
    registry.connections().update(conn.id, moved).await?;
    assert!(
        ledger.load(&id).await?.is_none(),
        "another destination: dropped"
    );
    db.finish().await
}
