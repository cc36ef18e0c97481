//! Syncs: the KMS's create-sync bodies, checked whole, stored, patched and deleted.

use std::sync::Arc;

use kms_sync_core::{
    AppConnectionDefinition, ErrorKind, LedgerUpdate, Result, RunStatus, SecretSyncDefinition,
    StateStore,
};
use kms_sync_fleet::{ConnectionRecord, SyncId, SyncPatch, SyncRecord, SyncRegistry};
use serde_json::Value;

use super::{count, fixture, memory_connection, memory_sync, registry, with_connection};
use crate::support::fail;

/// The three services' connections from the fixtures.
async fn connections(registry: &SyncRegistry) -> Result<[kms_sync_fleet::ConnectionRecord; 3]> {
    let mut out = Vec::new();
    for (app, file) in [
        ("bitbucket", "bitbucket-connection.json"),
        ("checkly", "checkly-connection.json"),
        ("octopus-deploy", "octopus-deploy-connection.json"),
    ] {
        let body = AppConnectionDefinition::from_json(&fixture(file)?)?;
        out.push(registry.connections().create(app, &body).await?);
    }
    out.try_into()
        .map_err(|_| kms_sync_core::Error::unexpected("three connections"))
}

fn json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(fail)
}

const PROJECT: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";

/// `sync`, created from `body` for `destination` on `conn`, holds what the body said, is
/// version 1, and is queued at once if created enabled with auto-sync.
fn stored_as_sent(
    sync: &SyncRecord,
    body: &str,
    conn: &ConnectionRecord,
    auto: bool,
) -> Result<()> {
    let (sample, destination) = (json(body)?, sync.destination.as_str());
    assert_eq!(sync.name, sample["name"].as_str().unwrap_or_default());
    assert_eq!(sync.description.as_deref(), sample["description"].as_str());
    assert_eq!(sync.project_id.as_deref(), Some(PROJECT));
    assert_eq!(sync.connection.id, conn.id);
    assert_eq!(sync.connection.app, destination);
    assert_eq!(sync.connection.name, conn.name);
    assert_eq!(sync.environment, "dev");
    assert_eq!(
        Some(sync.secret_path.as_str()),
        sample["secretPath"].as_str()
    );
    assert!(sync.is_enabled);
    assert_eq!(sync.is_auto_sync_enabled, auto, "{destination}");
    assert_eq!(json(&sync.destination_config)?, sample["destinationConfig"]);
    assert_eq!(json(&sync.sync_options)?, sample["syncOptions"]);
    assert_eq!(sync.version, 1);
    let expected = auto.then_some(RunStatus::Pending);
    assert_eq!(sync.status.sync_status, expected, "{destination}");
    assert_eq!(sync.status.last_sync_job_id.is_some(), auto);
    Ok(())
}

/// `sync` is read back by id, by name and in its destination's list; its definition and
/// destination build.
async fn read_back(
    registry: &SyncRegistry,
    sync: &SyncRecord,
    conn: &ConnectionRecord,
    auto: bool,
) -> Result<()> {
    let destination = sync.destination.as_str();
    assert_eq!(&registry.syncs().get(sync.id).await?, sync);
    let syncs = registry.syncs();
    assert_eq!(&syncs.get_by_name(Some(PROJECT), &sync.name).await?, sync);
    assert_eq!(
        registry.syncs().list(destination, Some(PROJECT)).await?,
        std::slice::from_ref(sync)
    );
    let def = registry.syncs().definition(sync.id).await?;
    assert_eq!(def.destination(), destination);
    assert_eq!(def.auto_sync_enabled(), auto);
    assert_eq!(def.connection_id(), Some(conn.id.to_string().as_str()));
    let resolved = registry.syncs().resolve(sync.id).await?;
    registry.destinations().build_destination(
        &resolved.definition,
        &resolved.connection,
        kms_sync_core::http::ClientSettings::new(),
    )?;
    Ok(())
}

/// Lists by alias and by another project; one source entry per source, whatever the number
/// of syncs reading it (Bitbucket's and Checkly's samples read the same folder).
async fn listed_and_one_entry_per_source(registry: &SyncRegistry, autos: usize) -> Result<()> {
    assert_eq!(
        registry.syncs().list("octopus", None).await?.len(),
        1,
        "alias"
    );
    assert!(registry
        .syncs()
        .list("checkly", Some("other"))
        .await?
        .is_empty());
    let sources = registry.syncs().sources().await?;
    let on_sources: usize = sources.iter().map(|s| s.syncs.len()).sum();
    assert_eq!(on_sources, autos, "{sources:?}");
    let mut keys: Vec<_> = sources
        .iter()
        .map(|s| (&s.environment, &s.secret_path))
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), sources.len(), "{sources:?}");
    Ok(())
}

#[tokio::test]
async fn the_kms_sample_bodies_make_syncs_for_all_three_destinations() -> Result<()> {
    let db = db!("registry::syncs::the_kms_sample_bodies_make_syncs_for_all_three_destinations");
    let registry = registry(&db).await?;
    let [bitbucket, checkly, octopus] = connections(&registry).await?;
    let mut autos = 0;
    for (destination, file, conn) in [
        ("bitbucket", "bitbucket-sync.json", &bitbucket),
        ("checkly", "checkly-sync.json", &checkly),
        ("octopus-deploy", "octopus-deploy-sync.json", &octopus),
    ] {
        let body = with_connection(&fixture(file)?, conn.id);
        // The registry reads auto-sync as kms-sync-core does (Bitbucket's sample names none).
        let auto = SecretSyncDefinition::parse(&body, Some(destination), &super::destinations())?
            .auto_sync_enabled();
        autos += usize::from(auto);
        let sync = registry.syncs().create(destination, &body).await?;
        assert_eq!(sync.destination, destination);
        stored_as_sent(&sync, &body, conn, auto)?;
        read_back(&registry, &sync, conn, auto).await?;
    }
    listed_and_one_entry_per_source(&registry, autos).await?;
    db.finish().await
}

#[tokio::test]
async fn a_duplicate_name_in_a_project_is_a_conflict() -> Result<()> {
    let db = db!("registry::syncs::a_duplicate_name_in_a_project_is_a_conflict");
    let registry = registry(&db).await?;
    let [bitbucket, _, _] = connections(&registry).await?;
    let body = with_connection(&fixture("bitbucket-sync.json")?, bitbucket.id);
    registry.syncs().create("bitbucket", &body).await?;
    let err = registry
        .syncs()
        .create("bitbucket", &body)
        .await
        .expect_err("same name");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("my-bitbucket-sync"), "{err}");
    let elsewhere = body.replace(
        "\"projectId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\"",
        "\"projectId\": \"another-project\"",
    );
    registry.syncs().create("bitbucket", &elsewhere).await?;
    assert_eq!(count(&db, "SELECT count(*) FROM {s}.syncs").await?, 2);
    db.finish().await
}

#[tokio::test]
async fn bad_bodies_are_refused_and_nothing_is_stored() -> Result<()> {
    let db = db!("registry::syncs::bad_bodies_are_refused_and_nothing_is_stored");
    let registry = registry(&db).await?;
    let [bitbucket, checkly, _] = connections(&registry).await?;
    let good = with_connection(&fixture("bitbucket-sync.json")?, bitbucket.id);
    let cases = [
        (
            good.replace(
                "\"repositorySlug\": \"my-bitbucket-repository\"",
                "\"repositorySlog\": \"x\"",
            ),
            ErrorKind::Config,
            "destinationConfig",
        ),
        (
            good.replace(&format!("\"connectionId\": \"{}\",", bitbucket.id), ""),
            ErrorKind::Config,
            "connectionId",
        ),
        (
            good.replace(
                &bitbucket.id.to_string(),
                "8c90c3cc-0d44-4b50-8888-8dd25736052a",
            ),
            ErrorKind::NotFound,
            "not found",
        ),
        (
            good.replace(&bitbucket.id.to_string(), "../../etc/passwd"),
            ErrorKind::Config,
            "not a connection id",
        ),
        (
            good.replace(&bitbucket.id.to_string(), &checkly.id.to_string()),
            ErrorKind::Config,
            "`checkly` connection",
        ),
        (
            good.replace("}\n}", "},\n}"),
            ErrorKind::Config,
            "trailing comma",
        ),
        (
            good.replace("my-bitbucket-sync", "My Sync"),
            ErrorKind::Config,
            "slug",
        ),
        (
            good.replace("\"isEnabled\": true", "\"isEnabled\": \"yes\""),
            ErrorKind::Config,
            "isEnabled",
        ),
    ];
    for (body, kind, says) in cases {
        let err = registry
            .syncs()
            .create("bitbucket", &body)
            .await
            .expect_err(says);
        assert_eq!(err.kind(), kind, "{says}: {err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    let err = registry
        .syncs()
        .create("vault", &good)
        .await
        .expect_err("unknown destination");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM {s}.syncs").await?, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM {s}.sync_state").await?, 0);
    db.finish().await
}

/// Patches that break the sync, or name its destination, are refused and change nothing
/// (the sync is at `version`).
async fn bad_patches_change_nothing(
    registry: &SyncRegistry,
    id: SyncId,
    version: u32,
) -> Result<()> {
    for (patch, says) in [
        (
            r#"{"destinationConfig": {"accountName": "Example Company"}}"#,
            "accountId",
        ),
        (
            r#"{"syncOptions": {"keySchema": "NO_PLACEHOLDER"}}"#,
            "keySchema",
        ),
        (r#"{"isAutoSyncEnabled": "yes"}"#, "isAutoSyncEnabled"),
        (r#"{"name": "Bad Name"}"#, "slug"),
    ] {
        let err = registry
            .syncs()
            .update(id, SyncPatch::from_json(patch)?)
            .await
            .expect_err(says);
        assert_eq!(err.kind(), ErrorKind::Config, "{says}: {err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    assert!(SyncPatch::from_json(r#"{"destination": "bitbucket"}"#).is_err());
    assert_eq!(
        registry.syncs().get(id).await?.version,
        version,
        "refused patches change nothing"
    );
    Ok(())
}

/// Auto-sync turned off: both spellings and the definition agree.
async fn auto_sync_turned_off(registry: &SyncRegistry, id: SyncId) -> Result<()> {
    let manual = registry
        .syncs()
        .update(id, SyncPatch::new().auto_sync(false))
        .await?;
    assert!(!manual.is_auto_sync_enabled);
    assert_eq!(
        json(&manual.sync_options)?["autoSyncEnabled"],
        Value::Bool(false),
        "both spellings agree"
    );
    assert!(!registry.syncs().definition(id).await?.auto_sync_enabled());
    Ok(())
}

/// Another destinationConfig is another destination: the ledger starts over.
async fn retargeting_clears_the_ledger(registry: &SyncRegistry, id: SyncId) -> Result<()> {
    let ledger = registry.ledger_store();
    ledger
        .update(&id.to_string(), &[LedgerUpdate::Settle])
        .await?;
    let retargeted = registry
        .syncs()
        .update(
            id,
            SyncPatch::new().destination_config(
                r#"{"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "groupName": "checks"}"#,
            )?,
        )
        .await?;
    assert_eq!(retargeted.version, 4);
    assert!(
        ledger.load(&id.to_string()).await?.is_none(),
        "ledger cleared"
    );
    Ok(())
}

#[tokio::test]
async fn an_update_is_checked_whole_and_bumps_the_version() -> Result<()> {
    let db = db!("registry::syncs::an_update_is_checked_whole_and_bumps_the_version");
    let registry = registry(&db).await?;
    let [_, checkly, _] = connections(&registry).await?;
    let body = with_connection(&fixture("checkly-sync.json")?, checkly.id);
    let sync = registry.syncs().create("checkly", &body).await?;
    let first_job = sync.status.last_sync_job_id.clone();

    let moved = registry
        .syncs()
        .update(
            sync.id,
            SyncPatch::from_json(r#"{"secretPath": "/other", "description": null}"#)?,
        )
        .await?;
    assert_eq!(moved.version, 2);
    assert_eq!(moved.secret_path, "/other");
    assert_eq!(moved.description, None);
    assert!(moved.updated_at >= sync.updated_at);
    assert_eq!(
        moved.status.last_sync_job_id, first_job,
        "coalesced into the pending job"
    );
    bad_patches_change_nothing(&registry, sync.id, 2).await?;
    auto_sync_turned_off(&registry, sync.id).await?;
    retargeting_clears_the_ledger(&registry, sync.id).await?;

    let other = registry
        .syncs()
        .create("checkly", &body.replace("my-checkly-sync", "other-sync"))
        .await?;
    let err = registry
        .syncs()
        .update(other.id, SyncPatch::new().name("my-checkly-sync"))
        .await
        .expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    db.finish().await
}

#[tokio::test]
async fn a_deleted_sync_takes_its_state_history_and_ledger_with_it() -> Result<()> {
    let db = db!("registry::syncs::a_deleted_sync_takes_its_state_history_and_ledger_with_it");
    let registry = registry(&db).await?;
    let conn = memory_connection(&registry, "mem").await?;
    let sync = memory_sync(&registry, &conn, "api", true).await?;
    let claims = registry
        .jobs()
        .claim("w", std::time::Duration::from_secs(30), 10)
        .await?;
    assert_eq!(claims.len(), 1);
    let ledger = Arc::new(registry.ledger_store());
    ledger
        .update(&sync.id.to_string(), &[LedgerUpdate::Settle])
        .await?;
    let deleted = registry.syncs().delete(sync.id).await?;
    assert_eq!(deleted.id, sync.id);
    assert_eq!(
        registry
            .syncs()
            .get(sync.id)
            .await
            .expect_err("gone")
            .kind(),
        ErrorKind::NotFound
    );
    for table in [
        "syncs",
        "sync_state",
        "sync_triggers",
        "sync_runs",
        "ledgers",
    ] {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {{s}}.{table}")).await?,
            0,
            "{table}"
        );
    }
    let err = registry
        .jobs()
        .finish(&claims[0], kms_sync_fleet::RunOutcome::succeeded())
        .await
        .expect_err("deleted during the run");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    db.finish().await
}
