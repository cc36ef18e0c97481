//! The credentials canary: no secret value, HMAC key, encryption key, connection credential
//! or database password lands in any table (every table of the schema, every column, each
//! checked to hold rows), nor in a status message, the application name or a `Debug` of the
//! crate's types.

use std::sync::Arc;

use kms_sync_core::*;
use kms_sync_fleet::{
    ConnectionId, KeyRing, PgPool, PostgresScopeLocks, PostgresStateStore, RunOutcome,
    SyncRegistry, TriggerCause,
};

use crate::support::{assert_no_canary, fail, hex, rows_by_table, TestDb};

const VALUE: &str = "value-CANARY-5f0c1e";
const HMAC_KEY: &[u8] = b"hmac-key-CANARY-0123456789abcdef";
const PASSWORD: &str = "password-CANARY-9d2a";
const AES_KEY: &[u8; 32] = b"aes-key-CANARY-0123456789abcdef!";
const TOKENS: [&str; 4] = [
    "token-CANARY-bitbucket",
    "token-CANARY-checkly",
    "token-CANARY-octopus",
    "token-CANARY-memory",
];

/// The four connections with canary credentials; the id of the last, the memory one.
async fn canary_connections(registry: &SyncRegistry) -> Result<ConnectionId> {
    let connections = [
        (
            "bitbucket",
            format!(
                r#"{{"name": "bb", "method": "api-token", "credentials": {{"email": "user@example.com", "apiToken": "{}"}}}}"#,
                TOKENS[0]
            ),
        ),
        (
            "checkly",
            format!(
                r#"{{"name": "ck", "method": "api-key", "credentials": {{"apiKey": "{}"}}}}"#,
                TOKENS[1]
            ),
        ),
        (
            "octopus-deploy",
            format!(
                r#"{{"name": "oc", "method": "api-key", "credentials": {{"instanceUrl": "https://acme.octopus.app", "apiKey": "{}"}}}}"#,
                TOKENS[2]
            ),
        ),
        (
            "memory",
            format!(
                r#"{{"name": "mem", "method": "none", "credentials": {{"token": "{}"}}}}"#,
                TOKENS[3]
            ),
        ),
    ];
    let mut memory = None;
    for (app, body) in connections {
        let conn = registry
            .connections()
            .create(app, &AppConnectionDefinition::from_json(&body)?)
            .await?;
        memory = Some(conn.id);
    }
    memory.ok_or_else(|| Error::unexpected("no connection"))
}

/// The source both canary tests read: canary values under two keys.
fn canary_source() -> Arc<StaticSource> {
    Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("API_KEY", VALUE)
            .with("OTHER", VALUE),
    ))
}

/// Sync `name` on `memory`, claimed and run once — to its real destination if `good`, else
/// to one that fails — and finished, then a remove triggered; what its records show.
async fn run_once(
    registry: &SyncRegistry,
    store: Arc<PostgresStateStore>,
    memory: ConnectionId,
    name: &str,
) -> Result<Vec<String>> {
    let body = format!(
        r#"{{"name": "{name}", "connectionId": "{memory}", "environment": "prod", "secretPath": "/",
            "isAutoSyncEnabled": true, "destinationConfig": {{"readableValues": false}}}}"#
    );
    let sync = registry.syncs().create("memory", &body).await?;
    let claim = registry
        .jobs()
        .claim("worker-1", std::time::Duration::from_secs(30), 1)
        .await?
        .pop()
        .ok_or_else(|| Error::unexpected("nothing claimed"))?;
    let resolved = registry.syncs().resolve(claim.sync_id()).await?;
    let destination: Arc<dyn Destination> = if name == "good" {
        registry.destinations().build_destination(
            &resolved.definition,
            &resolved.connection,
            http::ClientSettings::new(),
        )?
    } else {
        let failing = MemoryDestination::builder().readable_values(false).build();
        failing.fail_writes_to("OTHER", ErrorKind::Unavailable)?;
        Arc::new(failing)
    };
    let syncer = Syncer::builder()
        .id(claim.sync_id().to_string())
        .source(canary_source())
        .destination(destination)
        .state(store, Fingerprinter::new(HMAC_KEY.to_vec())?)
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.is_success(), name == "good", "{report}");
    let finished = registry
        .jobs()
        .finish(&claim, RunOutcome::from_report(&report))
        .await?;
    let shown = vec![
        format!("{finished:?} {:?}", registry.syncs().get(sync.id).await?),
        format!("{:?}", registry.jobs().runs(sync.id, 10).await?),
        format!("{resolved:?} {claim:?} {registry:?}"),
    ];
    registry
        .jobs()
        .trigger(sync.id, Operation::Remove, TriggerCause::Manual)
        .await?;
    Ok(shown)
}

/// Connections with canary credentials, syncs, a run that succeeded with canary values and
/// one that failed, a pending trigger: a row in every registry table.
async fn registry_rows(pool: &PgPool, store: Arc<PostgresStateStore>) -> Result<Vec<String>> {
    let registry = SyncRegistry::builder(pool.clone(), crate::registry::destinations())
        .key_ring(KeyRing::new("fleet-key-1", *AES_KEY)?)
        .build()?;
    let memory = canary_connections(&registry).await?;
    let mut shown = Vec::new();
    for name in ["good", "bad"] {
        shown.extend(run_once(&registry, store.clone(), memory, name).await?);
    }
    Ok(shown)
}

/// Two ledger runs with canary values (the second after a change) and a held scope lock.
async fn ledger_rows(
    store: Arc<PostgresStateStore>,
    locks: Arc<PostgresScopeLocks>,
) -> Result<ScopeGuard> {
    let dest = Arc::new(MemoryDestination::builder().readable_values(false).build());
    let source = canary_source();
    let syncer = Syncer::builder()
        .id("ledger-sync")
        .source(source.clone())
        .destination(dest)
        .state(store, Fingerprinter::new(HMAC_KEY.to_vec())?)
        .scope_locks(locks.clone())
        .build()?;
    assert!(syncer.sync().await?.is_success());
    source.set("API_KEY", format!("{VALUE}-2"))?;
    assert!(syncer.sync().await?.is_success());
    locks
        .lock("canary-scope", std::time::Duration::from_secs(5))
        .await
}

/// Every row of every table of `db`, each table checked to hold one.
async fn every_row_of_every_table(db: &TestDb) -> Result<Vec<String>> {
    let rows: Vec<String> = rows_by_table(db)
        .await?
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .collect();
    for table in [
        "ledgers",
        "ledger_entries",
        "schema_migrations",
        "connections",
        "syncs",
        "sync_state",
        "sync_triggers",
        "sync_runs",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("{table}: "))),
            "table {table} has no row, so the canary did not look at it"
        );
    }
    Ok(rows)
}

/// No connection's application name holds the password.
async fn no_application_name_shows_the_password(db: &TestDb) -> Result<()> {
    let names = db
        .admin()
        .await?
        .query(
            "SELECT coalesce(application_name, '') FROM pg_stat_activity",
            &[],
        )
        .await
        .map_err(fail)?;
    for name in names.iter().map(|r| r.get::<_, String>(0)) {
        assert!(!name.contains(PASSWORD), "{name}");
    }
    Ok(())
}

/// No text the registry's records showed holds a token, value, the password or the key.
fn nothing_shown_by_the_registry_is_secret(shown_by_registry: Vec<String>) {
    let key_bytes = format!("{:?}", AES_KEY.as_slice());
    for shown in shown_by_registry {
        for secret in TOKENS
            .iter()
            .chain(&[VALUE, PASSWORD, "aes-key", key_bytes.as_str()])
        {
            assert!(!shown.contains(secret), "`{secret}` in {shown}");
        }
    }
}

#[tokio::test]
async fn no_value_hmac_key_or_password_lands_in_any_table() -> Result<()> {
    let db = db!("canary::no_value_hmac_key_or_password_lands_in_any_table");
    // Trust authentication ignores the password; it is still parsed, kept and must not leak.
    let url = db
        .url()
        .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    let config = db
        .config()
        .url(url)
        .application_name("kms-sync canary")
        .build()?;
    let pool = PgPool::connect(config.clone()).await?;
    let store = Arc::new(PostgresStateStore::new(pool.clone()));
    let locks = Arc::new(PostgresScopeLocks::new(pool.clone()));
    let _held = ledger_rows(store.clone(), locks.clone()).await?;
    let shown_by_registry = registry_rows(&pool, store.clone()).await?;

    let rows = every_row_of_every_table(&db).await?;
    assert!(
        rows.iter()
            .any(|r| r.starts_with("sync_runs: ") && r.contains("OTHER")),
        "the failed run's message names the key: {rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.contains("API_KEY")),
        "the ledger was written: {rows:?}"
    );
    let mut canaries = vec![
        "canary".to_owned(),
        hex(HMAC_KEY),
        hex(VALUE.as_bytes()),
        hex(AES_KEY),
    ];
    canaries.extend(TOKENS.iter().map(|t| hex(t.as_bytes())));
    assert_no_canary(rows.iter().map(String::as_str), &canaries);
    no_application_name_shows_the_password(&db).await?;
    for shown in [
        format!("{config:?}"),
        config.to_string(),
        format!("{pool:?}"),
        format!("{store:?}"),
        format!("{locks:?}"),
    ] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
    nothing_shown_by_the_registry_is_secret(shown_by_registry);
    db.finish().await
}
