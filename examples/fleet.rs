//! The fleet on your machine: two workers on the local PostgreSQL, the Hanzo KMS fake as
//! the source, the Bitbucket, Checkly and Octopus Deploy fakes as destinations.
//!
//! 1. registers the connections and syncs from the KMS's own sample request bodies (the
//!    Create … Sync pages, copied in `kms-sync-fleet/tests/fixtures/`), pointed at the
//!    fakes: the same JSON a KMS-compatible API would take;
//! 2. starts two workers (one pool each) that claim the syncs, run them and record their
//!    status in the KMS's field names;
//! 3. changes a secret at the fake KMS and shows the statuses update after the next poll
//!    round (one KMS read per folder per round, `304 Not Modified` while nothing changed).
//!
//! ```text
//! cargo run --features fleet,fake --example fleet
//! ```
//!
//! PostgreSQL: `DATABASE_URL`, or `postgres://postgres@127.0.0.1:5432/test`. The example
//! works in a schema of its own and drops it when it ends.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kms_sync::http::ClientSettings;
use kms_sync::{AppConnectionDefinition, Destination, DestinationFactory, RunStatus};
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID, FAKE_API_KEY};
use kms_sync_fleet::{
    HanzoSources, KeyRing, PgPool, PostgresConfig, SyncRecord, SyncRegistry, Worker,
};
use kms_sync_hanzo::fake::FakeKms;
use kms_sync_octopus::fake::{FakeOctopus, FAKE_API_KEY as OCTOPUS_API_KEY};
use serde_json::{json, Value};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const SCHEMA: &str = "kms_sync_fleet_example";
/// Keys for trying things out only: a real fleet takes them from its secret store.
const LEDGER_KEY: &[u8] = b"fleet-example-ledger-key-not-a-secret";
const CREDENTIALS_KEY: [u8; 32] = *b"fleet-example-aes-key-not-secret";

/// A destination kind built against a fake: the real factory with the fake's base URL.
struct AtFake<F> {
    factory: F,
    settings: ClientSettings,
}

impl<F: DestinationFactory> DestinationFactory for AtFake<F> {
    fn kind(&self) -> &'static str {
        self.factory.kind()
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.factory.aliases()
    }
    fn check_config(&self, config: &str) -> kms_sync::Result<()> {
        self.factory.check_config(config)
    }
    fn build(
        &self,
        connection: &AppConnectionDefinition,
        config: &str,
        given: ClientSettings,
    ) -> kms_sync::Result<Arc<dyn Destination>> {
        // The fake's settings, keeping the registry's URL guard (the fleet's URL policy).
        let settings = match given.url_guard() {
            Some(guard) => self.settings.clone().with_url_guard(guard.clone()),
            None => self.settings.clone(),
        };
        self.factory.build(connection, config, settings)
    }
}

/// A sample body from the KMS's documentation.
fn sample(name: &str) -> Result<Value, Failure> {
    let path = format!(
        "{}/kms-sync-fleet/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Ok(serde_json::from_str(&std::fs::read_to_string(&path)?)?)
}

fn show(syncs: &[SyncRecord]) {
    println!(
        "  {:<24} {:<15} {:<10} {:<37} {:<10} lastSyncMessage",
        "name", "destination", "syncStatus", "lastSyncJobId", "synced"
    );
    for s in syncs {
        let st = &s.status;
        let ago = st
            .last_synced_at
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .map(|d| format!("{:.1} s ago", d.as_secs_f64()))
            .unwrap_or_else(|| "never".to_owned());
        println!(
            "  {:<24} {:<15} {:<10} {:<37} {:<10} {}",
            s.name,
            s.destination,
            st.sync_status
                .map(|x| format!("{x:?}").to_lowercase())
                .unwrap_or_default(),
            st.last_sync_job_id.clone().unwrap_or_default(),
            ago,
            st.last_sync_message.clone().unwrap_or_default()
        );
    }
}

async fn all(registry: &SyncRegistry) -> Result<Vec<SyncRecord>, Failure> {
    let mut syncs = Vec::new();
    for kind in ["bitbucket", "checkly", "octopus-deploy"] {
        syncs.extend(registry.syncs().list(kind, None).await?);
    }
    Ok(syncs)
}

/// Waits until every sync's last run is newer than `since` and succeeded.
async fn settled(registry: &SyncRegistry, since: SystemTime) -> Result<Vec<SyncRecord>, Failure> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let syncs = all(registry).await?;
        let done = syncs.iter().all(|s| {
            s.status.sync_status == Some(RunStatus::Succeeded)
                && s.status.last_synced_at.is_some_and(|at| at > since)
        });
        if done {
            return Ok(syncs);
        }
        if Instant::now() > until {
            show(&syncs);
            return Err("the syncs did not settle within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("PostgreSQL at {url}: {e}. Start it, or set DATABASE_URL."))?;
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;

    // The fakes. The KMS project is the samples' projectId.
    let kms = FakeKms::start().await;
    for (path, key, value) in [
        ("/my-secrets", "API_KEY", "api-key-v1"),
        ("/my-secrets", "DB_URL", "postgres://app@db/app"),
        ("/", "SENTRY_DSN", "https://sentry.example/1"),
    ] {
        kms.set("dev", path, key, value);
    }
    let bitbucket = FakeBitbucket::start().await;
    let checkly = FakeChecklyServer::start().await;
    let octopus = FakeOctopus::start().await;
    let (octopus_project, octopus_set) = octopus.add_project("Web", false);
    println!(
        "fakes: KMS {}, Bitbucket {}, Checkly {}, Octopus {}",
        kms.base_url(),
        bitbucket.base_url(),
        checkly.base_url(),
        octopus.base_url()
    );

    // The registry, with the facade's destination kinds pointed at the fakes.
    let destinations = kms_sync::registry()
        .with(AtFake {
            factory: kms_sync_bitbucket::BitbucketFactory,
            settings: kms_sync_testkit::fake_client_settings(bitbucket.base_url()),
        })
        .with(AtFake {
            factory: kms_sync_checkly::ChecklyFactory,
            settings: kms_sync_testkit::fake_client_settings(checkly.base_url()),
        })
        .with(AtFake {
            factory: kms_sync_octopus::OctopusFactory,
            settings: kms_sync_testkit::fake_client_settings(octopus.base_url()),
        });
    // Connections may reach public HTTPS hosts and exactly the fakes.
    let mut policy = kms_sync::net::UrlPolicy::public_only();
    for base in [bitbucket.base_url(), checkly.base_url(), octopus.base_url()] {
        let host_port = base.trim_start_matches("http://").trim_end_matches('/');
        policy = policy.allow(format!("http://{host_port}").parse()?);
    }
    let config = |name: &str| {
        PostgresConfig::builder()
            .url(&url)
            .schema(SCHEMA)
            .application_name(format!("kms-sync example {name}"))
            .build()
    };
    let registry = SyncRegistry::builder(
        PgPool::connect(config("admin")?).await?,
        destinations.clone(),
    )
    .key_ring(KeyRing::new("example-1", CREDENTIALS_KEY)?)
    .url_policy(policy.clone())
    .build()?;

    // Connections and syncs from the KMS's sample bodies, pointed at the fakes.
    let mut bb_conn = sample("bitbucket-connection.json")?;
    bb_conn["credentials"] = json!({"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN});
    let mut ck_conn = sample("checkly-connection.json")?;
    ck_conn["credentials"] = json!({"apiKey": FAKE_API_KEY});
    let mut oc_conn = sample("octopus-deploy-connection.json")?;
    oc_conn["credentials"] = json!({"instanceUrl": octopus.base_url(), "apiKey": OCTOPUS_API_KEY});
    let mut bb_sync = sample("bitbucket-sync.json")?;
    bb_sync["destinationConfig"] =
        json!({"workspaceSlug": WORKSPACE, "repositorySlug": REPOSITORY});
    bb_sync["isAutoSyncEnabled"] = json!(true);
    let mut ck_sync = sample("checkly-sync.json")?;
    ck_sync["destinationConfig"]["accountId"] = json!(ACCOUNT_ID);
    let mut oc_sync = sample("octopus-deploy-sync.json")?;
    oc_sync["destinationConfig"]["projectId"] = json!(octopus_project);
    for (app, mut conn, mut sync) in [
        ("bitbucket", bb_conn, bb_sync),
        ("checkly", ck_conn, ck_sync),
        ("octopus-deploy", oc_conn, oc_sync),
    ] {
        conn["projectId"] = sync["projectId"].clone();
        let created = registry
            .connections()
            .create(app, &AppConnectionDefinition::from_json(&conn.to_string())?)
            .await?;
        sync["connectionId"] = json!(created.id.to_string());
        let sync = registry.syncs().create(app, &sync.to_string()).await?;
        println!(
            "registered {} ({}, {}:{})",
            sync.name, sync.destination, sync.environment, sync.secret_path
        );
    }

    // Two workers, one pool each, reading the fake KMS through one shared client each.
    let template = kms
        .source_builder("dev", "/")
        .revision_key([1; 32])
        .build()?;
    let sources = Arc::new(HanzoSources::new(template));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Ctrl-C or SIGTERM stops the workers early: their running syncs stop writing through
    // their StopSignal, save their ledgers and give their jobs back.
    let stop = std::sync::Arc::new(stop);
    let on_signal = stop.clone();
    tokio::spawn(async move {
        kms_sync_server::shutdown::terminated().await;
        let _ = on_signal.send(true);
    });
    let mut workers = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let own =
            SyncRegistry::builder(PgPool::connect(config(name)?).await?, destinations.clone())
                .key_ring(KeyRing::new("example-1", CREDENTIALS_KEY)?)
                .url_policy(policy.clone())
                .build()?;
        let worker = Worker::builder(own, sources.clone())
            .worker_id(name)
            .ledger_key(LEDGER_KEY.to_vec())
            .lease(Duration::from_secs(30))
            .source_poll(Some(Duration::from_secs(1)))
            .build()?;
        let mut stopped = stopped.clone();
        workers.push(tokio::spawn(async move {
            worker
                .run_until(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        }));
    }

    let started = SystemTime::UNIX_EPOCH;
    println!("\nthe workers run the syncs created with auto-sync on:");
    show(&settled(&registry, started).await?);

    let before = SystemTime::now();
    kms.set("dev", "/my-secrets", "API_KEY", "api-key-v2");
    let changed = Instant::now();
    println!("\nchanged API_KEY in dev:/my-secrets at the KMS; the next poll round finds it:");
    let mut syncs = all(&registry).await?;
    let mine: Vec<String> = syncs
        .iter()
        .filter(|s| s.secret_path == "/my-secrets")
        .map(|s| s.name.clone())
        .collect();
    let until = Instant::now() + Duration::from_secs(30);
    while !syncs.iter().filter(|s| mine.contains(&s.name)).all(|s| {
        s.status.sync_status == Some(RunStatus::Succeeded)
            && s.status.last_synced_at.is_some_and(|at| at > before)
    }) {
        if Instant::now() > until {
            return Err("the change never reached the syncs".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        syncs = all(&registry).await?;
    }
    show(&syncs);
    println!(
        "  ({} ms from the change; the syncs of dev:/ did not run again)",
        changed.elapsed().as_millis()
    );
    for s in syncs.iter().filter(|s| mine.contains(&s.name)) {
        if let Some(run) = registry.jobs().runs(s.id, 1).await?.first() {
            println!(
                "  {}: last run by {} ({}), {} updated, {} unchanged, {} requests",
                s.name,
                run.worker,
                run.cause,
                run.counts.updated,
                run.counts.unchanged,
                run.requests.total()
            );
        }
    }
    let (bodies, not_modified) = kms.list_reads();
    println!("\nthe KMS saw {bodies} full list reads and {not_modified} answered 304 Not Modified");
    println!(
        "Octopus variable set {octopus_set} now holds {} variables",
        octopus.variables(&octopus_set).len()
    );

    let _ = stop.send(true);
    for w in workers {
        let summary = w.await??;
        println!("{summary:?}");
    }
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await?;
    Ok(())
}
