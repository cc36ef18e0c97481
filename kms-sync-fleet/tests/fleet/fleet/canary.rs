//! The credentials canary, for the workers: after runs that succeeded and failed, poll
//! rounds, a source change, a trigger by source and a remove, no secret value, ledger key, encryption
//! key, connection credential or database password is in any table (the fleet's tables
//! included, each checked to hold rows) or in any line the worker logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync_core::{
    async_trait, AppConnectionDefinition, Error, ErrorKind, Operation, Result, SecretSet,
    SecretSource, StaticSource,
};
use kms_sync_fleet::{
    trigger_source, KeyRing, PgPool, SourceKey, SourceProvider, SyncRegistry, TriggerCause, Worker,
};
use kms_sync_testkit::LogCapture;

use super::{destinations, quiescent, Running, TrackedFactory};
use crate::support::{assert_no_canary, hex, rows_by_table, TestDb};

const VALUE: &str = "value-CANARY-7e41";
const LEDGER_KEY: &[u8] = b"ledger-key-CANARY-0123456789abcdef";
const AES_KEY: &[u8; 32] = b"aes-key-CANARY-fleet-0123456789!";
const TOKEN: &str = "token-CANARY-fleet-memory";
const PASSWORD: &str = "password-CANARY-fleet-3b";

struct CanarySource(Arc<StaticSource>);

#[async_trait]
impl SourceProvider for CanarySource {
    async fn source(&self, _: Option<&str>, _: &str, _: &str) -> Result<Arc<dyn SecretSource>> {
        Ok(self.0.clone())
    }
}

/// A registry on a pool whose URL holds the password, the canary connection, and syncs
/// `good` and `bad` (whose writes of `API_KEY` fail).
async fn canary_registry(db: &TestDb) -> Result<(TrackedFactory, SyncRegistry)> {
    let url = db
        .url()
        .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    let pool = PgPool::connect(
        db.config()
            .url(url)
            .application_name("fleet-check")
            .build()?,
    )
    .await?;
    let tracked = TrackedFactory::default();
    let registry = SyncRegistry::builder(pool, destinations(&tracked))
        .key_ring(KeyRing::new("fleet-key", *AES_KEY)?)
        .backoff(Duration::from_millis(200), Duration::from_secs(1))
        .build()?;
    let conn = registry
        .connections()
        .create(
            "fleet-memory",
            &AppConnectionDefinition::from_json(&format!(
                r#"{{"name": "mem", "method": "none", "credentials": {{"token": "{TOKEN}"}}}}"#
            ))?,
        )
        .await?;
    for name in ["good", "bad"] {
        let body = format!(
            r#"{{"name": "{name}", "connectionId": "{}", "environment": "prod", "secretPath": "/",
                "isAutoSyncEnabled": true, "destinationConfig": {{"target": "{name}"}}}}"#,
            conn.id
        );
        registry.syncs().create("fleet-memory", &body).await?;
    }
    tracked
        .destination("bad")
        .fail_writes_to("API_KEY", ErrorKind::Unavailable)?;
    Ok((tracked, registry))
}

/// The canary worker: polling sources and auditing every run (its rows pass the canary too).
fn canary_worker(registry: &SyncRegistry, source: Arc<StaticSource>) -> Result<Worker> {
    Worker::builder(registry.clone(), Arc::new(CanarySource(source)))
        .worker_id("sentinel-w1")
        .ledger_key(LEDGER_KEY.to_vec())
        .lease(Duration::from_secs(5))
        .heartbeat(Duration::from_secs(1))
        .fallback_poll(Duration::from_millis(500))
        .source_poll(Some(Duration::from_millis(200)))
        .run_listener(Arc::new(kms_sync_fleet::AuditRuns::new(
            registry.clone(),
            Arc::new(registry.audit_log()),
        )))
        .build()
}

/// Waits (up to 20 s) until the good sync wrote both keys.
async fn good_sync_ran(tracked: &TrackedFactory) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(20);
    while tracked.destination("good").contents()?.len() < 2 {
        if Instant::now() > until {
            return Err(Error::unexpected("the good sync never ran"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A change the poll rounds find, a trigger by source, then the bad sync removed.
async fn change_trigger_and_remove(
    registry: &SyncRegistry,
    tracked: &TrackedFactory,
    source: &StaticSource,
) -> Result<()> {
    source.set("API_KEY", format!("{VALUE}-2"))?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    trigger_source(
        registry,
        &SourceKey::new(None, "prod", "/"),
        TriggerCause::Webhook,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    tracked.destination("bad").clear_failures()?;
    registry
        .jobs()
        .trigger(
            registry.syncs().get_by_name(None, "bad").await?.id,
            Operation::Remove,
            TriggerCause::Manual,
        )
        .await?;
    Ok(())
}

/// Every row of `db`, each table checked to hold one, the fleet's tables among them.
async fn every_row_of_every_table(db: &TestDb) -> Result<Vec<String>> {
    let by_table = rows_by_table(db).await?;
    for (table, found) in &by_table {
        assert!(
            !found.is_empty(),
            "table {table} has no row, so the canary did not look at it"
        );
    }
    for table in [
        "source_revisions",
        "source_polls",
        "sync_runs",
        "ledger_entries",
    ] {
        assert!(by_table.iter().any(|(t, _)| t == table), "{table} exists");
    }
    Ok(by_table.into_iter().flat_map(|(_, rows)| rows).collect())
}

#[tokio::test]
async fn no_credential_or_value_in_any_table_or_log_line_of_a_worker() -> Result<()> {
    let db = db!("fleet::canary::no_credential_or_value_in_any_table_or_log_line_of_a_worker");
    let logs = LogCapture::default();
    let guard = logs.install();
    let (tracked, registry) = canary_registry(&db).await?;
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("API_KEY", VALUE)
            .with("OTHER", VALUE),
    ));
    let worker = canary_worker(&registry, source.clone())?;
    let shown_worker = format!("{worker:?}");
    let running = Running::start(vec![worker]);
    good_sync_ran(&tracked).await?;
    change_trigger_and_remove(&registry, &tracked, &source).await?;
    quiescent(&db, Duration::from_secs(30)).await?;
    running.stop().await?;
    drop(guard);
    // A pending trigger, so that table has a row too.
    let good = registry.syncs().get_by_name(None, "good").await?;
    registry
        .jobs()
        .trigger(good.id, Operation::Sync, TriggerCause::Manual)
        .await?;

    let rows = every_row_of_every_table(&db).await?;
    let text = logs.text();
    assert!(
        text.contains("kms_sync_run"),
        "the run spans were captured: {text}"
    );
    assert!(
        text.contains("sentinel-w1"),
        "the worker is named in its lines"
    );
    let canaries = [
        "canary".to_owned(),
        hex(VALUE.as_bytes()),
        hex(LEDGER_KEY),
        hex(AES_KEY),
        hex(TOKEN.as_bytes()),
    ];
    let lines = rows.iter().map(String::as_str).chain(text.lines());
    assert_no_canary(lines.chain([shown_worker.as_str()]), &canaries);
    db.finish().await
}
