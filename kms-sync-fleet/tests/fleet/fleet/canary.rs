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
use crate::support::fail;

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn no_credential_or_value_in_any_table_or_log_line_of_a_worker() -> Result<()> {
    let db = db!("fleet::canary::no_credential_or_value_in_any_table_or_log_line_of_a_worker");
    let logs = LogCapture::default();
    let guard = logs.install();
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
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("API_KEY", VALUE)
            .with("OTHER", VALUE),
    ));
    let worker = Worker::builder(registry.clone(), Arc::new(CanarySource(source.clone())))
        .worker_id("sentinel-w1")
        .ledger_key(LEDGER_KEY.to_vec())
        .lease(Duration::from_secs(5))
        .heartbeat(Duration::from_secs(1))
        .fallback_poll(Duration::from_millis(500))
        .source_poll(Some(Duration::from_millis(200)))
        // The audit trail of every run: its rows pass the canary too.
        .run_listener(Arc::new(kms_sync_fleet::AuditRuns::new(
            registry.clone(),
            Arc::new(registry.audit_log()),
        )))
        .build()?;
    let shown_worker = format!("{worker:?}");
    let running = Running::start(vec![worker]);
    let until = Instant::now() + Duration::from_secs(20);
    while tracked.destination("good").contents()?.len() < 2 {
        if Instant::now() > until {
            return Err(Error::unexpected("the good sync never ran"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A change the poll rounds find, and a trigger by source.
    source.set("API_KEY", format!("{VALUE}-2"))?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    trigger_source(
        &registry,
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
    quiescent(&db, Duration::from_secs(30)).await?;
    running.stop().await?;
    drop(guard);
    // A pending trigger, so that table has a row too.
    let good = registry.syncs().get_by_name(None, "good").await?;
    registry
        .jobs()
        .trigger(good.id, Operation::Sync, TriggerCause::Manual)
        .await?;

    let admin = db.admin().await?;
    let tables: Vec<String> = admin
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&db.schema()],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rows = Vec::new();
    for table in &tables {
        let sql = format!("SELECT t::text FROM \"{}\".\"{table}\" t", db.schema());
        let found = admin.query(&sql, &[]).await.map_err(fail)?;
        assert!(
            !found.is_empty(),
            "table {table} has no row, so the canary did not look at it"
        );
        rows.extend(
            found
                .iter()
                .map(|r| format!("{table}: {}", r.get::<_, String>(0))),
        );
    }
    for table in [
        "source_revisions",
        "source_polls",
        "sync_runs",
        "ledger_entries",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} exists");
    }
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
    for line in rows
        .iter()
        .map(String::as_str)
        .chain(text.lines())
        .chain([shown_worker.as_str()])
    {
        let lower = line.to_lowercase();
        for canary in &canaries {
            assert!(
                !lower.contains(canary.as_str()),
                "`{canary}` found in {line}"
            );
        }
    }
    db.finish().await
}
