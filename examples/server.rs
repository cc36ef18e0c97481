//! The KMS's Secret Syncs API on your machine: starts the API (kms-sync-api) on 127.0.0.1
//! over the local PostgreSQL, a fleet worker (kms-sync-fleet) that runs the syncs, and the
//! embedded fakes as the KMS and the destinations, then prints two tenants' tokens and the
//! `curl` commands to try. Ctrl-C stops everything.
//!
//! ```text
//! cargo run --features api,fake --example server
//! ```
//!
//! - PostgreSQL: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`; each run
//!   uses a fresh schema (`kms_sync_example_<time>`), left for inspection on Ctrl-C.
//! - The API listens on `KMS_SYNC_API_ADDR`, default `127.0.0.1:8080`. It serves two
//!   tenants, each a token bound to one project with every action on its syncs, connections
//!   and secrets: tenant A the seed's project (`3c90c3cc-…`), tenant B the Bitbucket
//!   connection sample's (`7ffbb072-…`). Tenant A's token is `KMS_SYNC_API_TOKEN` or a random
//!   one, tenant B's random; both printed. Neither sees the other's syncs or connections.
//! - Connections may reach public HTTPS hosts and exactly the fakes' `http://127.0.0.1:<port>`
//!   (an Octopus Deploy `instanceUrl` of `http://127.0.0.1:5432` is refused).
//! - The fake KMS holds `dev:/my-secrets` and `dev:/` (`DB_URL`, `API_KEY`) of the seed's
//!   project; the fake Bitbucket has the seed's workspace and repository, the fake Octopus
//!   Deploy the seed's `Spaces-1`/`Projects-123`. The fakes accept only their own
//!   credentials (printed): the seed's placeholders (`<YOUR-API-TOKEN>`) are refused when a
//!   sync runs, as Bitbucket would refuse them.
//! - The API checks a new sync's folder in the fake KMS (a missing one is a 400 naming it)
//!   and answers `POST …/{syncId}/plan` with the worker's ledger key. With
//!   `KMS_SYNC_NOTICE_WEBHOOK_URL` and `KMS_SYNC_NOTICE_SIGNING_KEY` set, failing syncs
//!   post signed failure notices there.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_sync::api::{ApiBuilder, Auth, TokenFileAuthorizer};
use kms_sync::bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync::checkly::fake::{FakeChecklyServer, ACCOUNT_ID, FAKE_API_KEY};
use kms_sync::fleet::{
    FailureNotices, KeyRing, PgPool, PostgresConfig, SourceProvider, SyncRegistry, WebhookNotifier,
    Worker,
};
use kms_sync::hanzo::fake::FakeKms;
use kms_sync::http::ClientSettings;
use kms_sync::net::UrlPolicy;
use kms_sync::octopus::fake::{FakeOctopus, FAKE_API_KEY as OCTOPUS_API_KEY};
use kms_sync::{
    async_trait, AppConnectionDefinition, Destination, DestinationFactory, DestinationRegistry,
    Result, SecretSource,
};

/// A destination factory whose destinations talk to a fake at `base_url`.
struct AtFake<F> {
    factory: F,
    base_url: String,
}

impl<F: DestinationFactory> DestinationFactory for AtFake<F> {
    fn kind(&self) -> &'static str {
        self.factory.kind()
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.factory.aliases()
    }
    fn check_config(&self, destination_config: &str) -> Result<()> {
        self.factory.check_config(destination_config)
    }
    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let settings = settings.with_base_url(self.base_url.clone());
        self.factory.build(connection, destination_config, settings)
    }
}

/// Every sync reads the fake KMS (it has one project: the seed's).
struct FakeSources(Arc<FakeKms>);

#[async_trait]
impl SourceProvider for FakeSources {
    async fn source(
        &self,
        _project: Option<&str>,
        environment: &str,
        path: &str,
    ) -> Result<Arc<dyn SecretSource>> {
        Ok(Arc::new(
            self.0
                .source_builder(environment, path)
                .revision_key([9u8; 32])
                .build()?,
        ))
    }
}

/// The seed's project (tenant A) and the Bitbucket connection sample's (tenant B).
const PROJECT_A: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
const PROJECT_B: &str = "7ffbb072-2575-495a-b5b0-127f88caef78";

/// Two tenants, each with every action in its own project only.
fn two_tenants(token_a: &str, token_b: &str) -> Result<TokenFileAuthorizer> {
    let tenant = |name: &str, token: &str, project: &str| {
        serde_json::json!({"name": name, "sha256": TokenFileAuthorizer::digest(token), "projects": {project: [
            {"subject": "secret-syncs", "actions": ["read", "create", "edit", "delete", "sync-secrets", "import-secrets", "remove-secrets"]},
            {"subject": "app-connections", "actions": ["read", "create", "edit", "delete", "connect"]},
            {"subject": "secrets", "actions": ["read-value"]}
        ]}})
    };
    let file = serde_json::json!({"tokens": [
        tenant("tenant-a", token_a, PROJECT_A),
        tenant("tenant-b", token_b, PROJECT_B),
    ]});
    TokenFileAuthorizer::from_json(&file.to_string())
}

/// Public HTTPS, and exactly each fake's `http://127.0.0.1:<port>`.
fn fakes_only(bases: &[String]) -> Result<UrlPolicy> {
    let mut policy = UrlPolicy::public_only();
    for base in bases {
        let host_port = base.trim_start_matches("http://").trim_end_matches('/');
        policy = policy.allow(format!("http://{host_port}").parse()?);
    }
    Ok(policy)
}

/// The fleet's worker, with failure notices when they are configured.
fn worker(
    registry: &SyncRegistry,
    sources: Arc<dyn SourceProvider>,
    ledger_key: Vec<u8>,
) -> Result<Worker> {
    let mut worker = Worker::builder(registry.clone(), sources)
        .worker_id("example-worker")
        .ledger_key(ledger_key)
        .fallback_poll(Duration::from_secs(2))
        .source_poll(Some(Duration::from_secs(3)));
    if let Some(notices) = notices(registry)? {
        worker = worker.run_listener(Arc::new(notices));
    }
    worker.build()
}

/// Failure notices posted to `KMS_SYNC_NOTICE_WEBHOOK_URL`, signed with
/// `KMS_SYNC_NOTICE_SIGNING_KEY`, when both are set.
fn notices(registry: &SyncRegistry) -> Result<Option<FailureNotices>> {
    let url = std::env::var("KMS_SYNC_NOTICE_WEBHOOK_URL").ok();
    let key = std::env::var("KMS_SYNC_NOTICE_SIGNING_KEY").ok();
    let (url, key) = match (url, key) {
        (None, None) => return Ok(None),
        (Some(url), Some(key)) if key.len() >= 16 => (url, key),
        (Some(_), Some(_)) => {
            return Err(kms_sync::Error::config(
                "KMS_SYNC_NOTICE_SIGNING_KEY must be 16 bytes or more",
            ));
        }
        _ => {
            return Err(kms_sync::Error::config(
                "failure notices need both KMS_SYNC_NOTICE_WEBHOOK_URL and KMS_SYNC_NOTICE_SIGNING_KEY",
            ));
        }
    };
    let webhook = WebhookNotifier::new(&url, key.into_bytes())?;
    Ok(Some(FailureNotices::new(
        registry.clone(),
        Arc::new(webhook),
    )))
}

/// 32 random bytes (for the demo's keys; keep real ones in your secret store).
fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

/// The KMS and the three destinations, faked on 127.0.0.1.
struct Fakes {
    kms: Arc<FakeKms>,
    bitbucket: FakeBitbucket,
    checkly: FakeChecklyServer,
    octopus: FakeOctopus,
}

impl Fakes {
    /// Starts the fakes, holding the seed's folders, repository and projects.
    async fn start() -> Fakes {
        let kms = Arc::new(FakeKms::start().await);
        for path in ["/my-secrets", "/"] {
            kms.set("dev", path, "DB_URL", "postgres://app@db.internal/app");
            kms.set("dev", path, "API_KEY", "fake-api-key-value");
        }
        let bitbucket = FakeBitbucket::start().await;
        bitbucket.add_repository("my-bitbucket-workspace", "my-bitbucket-repository");
        let checkly = FakeChecklyServer::start().await;
        let octopus = FakeOctopus::start().await;
        // The seed's sync writes to `Projects-123`: the fake numbers its projects in order.
        for n in 1..=123 {
            octopus.add_project(&format!("Project {n}"), false);
        }
        Fakes {
            kms,
            bitbucket,
            checkly,
            octopus,
        }
    }
}

/// The registry over `pool`: the three destinations at their fakes, connections reaching
/// public HTTPS and exactly the fakes.
fn registry(pool: PgPool, fakes: &Fakes) -> Result<SyncRegistry> {
    let (bitbucket, checkly, octopus) = (&fakes.bitbucket, &fakes.checkly, &fakes.octopus);
    let destinations = DestinationRegistry::new()
        .with(AtFake {
            factory: kms_sync::bitbucket::BitbucketFactory,
            base_url: bitbucket.base_url(),
        })
        .with(AtFake {
            factory: kms_sync::checkly::ChecklyFactory,
            base_url: checkly.base_url(),
        })
        .with(kms_sync::octopus::OctopusFactory);
    SyncRegistry::builder(pool, destinations)
        .key_ring(KeyRing::new("example", random_key())?)
        .backoff(Duration::from_secs(2), Duration::from_secs(30))
        .url_policy(fakes_only(&[
            bitbucket.base_url(),
            checkly.base_url(),
            octopus.base_url(),
        ])?)
        .build()
}

/// Prints where the API is, the two tenants' tokens and the commands to try.
fn print_try(base: &str, pool: &PgPool, schema: &str, tokens: (&str, &str), fakes: &Fakes) {
    let (token_a, token_b) = tokens;
    let (kms, octopus) = (&fakes.kms, &fakes.octopus);
    println!(
        "kms-sync Secret Syncs API on {base} (PostgreSQL {}, schema {schema})",
        pool.server()
    );
    println!("\n  export KMS_SYNC_API={base}");
    println!("  export TOKEN_A={token_a}   # tenant A, project {PROJECT_A}");
    println!("  export TOKEN_B={token_b}   # tenant B, project {PROJECT_B}");
    for (tenant, project) in [("A", PROJECT_A), ("B", PROJECT_B)] {
        println!("\nTenant {tenant}:");
        println!(
            "  curl -H \"Authorization: Bearer $TOKEN_{tenant}\" \"$KMS_SYNC_API/api/v1/secret-syncs/bitbucket?projectId={project}\""
        );
        println!(
            "  curl -H \"Authorization: Bearer $TOKEN_{tenant}\" -H 'Content-Type: application/json' \\\n    \"$KMS_SYNC_API/api/v1/app-connections/checkly\" -d '{{\"name\": \"checkly-{}\", \"method\": \"api-key\", \"projectId\": \"{project}\", \"credentials\": {{\"apiKey\": \"{FAKE_API_KEY}\"}}}}'",
            tenant.to_lowercase()
        );
    }
    println!("\nThe fakes accept only their own credentials:");
    println!("  Bitbucket       email {FAKE_EMAIL}, apiToken {FAKE_TOKEN}");
    println!("  Checkly         apiKey {FAKE_API_KEY}, accountId {ACCOUNT_ID}");
    println!(
        "  Octopus Deploy  instanceUrl {}, apiKey {OCTOPUS_API_KEY}",
        octopus.base_url()
    );
    println!(
        "The fake KMS: {} (dev:/my-secrets and dev:/ hold DB_URL, API_KEY)",
        kms.base_url()
    );
    println!("OpenAPI: curl -H \"Authorization: Bearer $TOKEN_A\" $KMS_SYNC_API/openapi.json");
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let fakes = Fakes::start().await;
    let kms = fakes.kms.clone();
    // The registry, on a schema of this run's own.
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let schema = format!("kms_sync_example_{secs}");
    let pool = PgPool::connect(
        PostgresConfig::builder()
            .url(&url)
            .schema(&schema)
            .build()?,
    )
    .await?;
    let registry = registry(pool.clone(), &fakes)?;

    // The fleet's worker: runs what the API queues, and polls the KMS for changes. The API
    // reads the same sources (the folder check at create, plans) with the same ledger key.
    let sources: Arc<dyn SourceProvider> = Arc::new(FakeSources(kms.clone()));
    let ledger_key = random_key().to_vec();
    let worker = worker(&registry, sources.clone(), ledger_key.clone())?;

    // The API, for two tenants.
    let token_a = std::env::var("KMS_SYNC_API_TOKEN")
        .unwrap_or_else(|_| format!("kms-sync-a-{}", uuid::Uuid::new_v4().simple()));
    let token_b = format!("kms-sync-b-{}", uuid::Uuid::new_v4().simple());
    let auth = Auth::authorizer(two_tenants(&token_a, &token_b)?);
    let api = ApiBuilder::new(registry, auth)
        .openapi_path("/openapi.json")
        .planning(sources, ledger_key)
        .build()?;
    let addr = std::env::var("KMS_SYNC_API_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let base = format!("http://{}", listener.local_addr()?);

    print_try(&base, &pool, &schema, (&token_a, &token_b), &fakes);
    println!("\nCtrl-C or SIGTERM stops (running syncs stop writing and save their ledgers).");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut api_stop = stopped.clone();
    let server = tokio::spawn(async move {
        kms_sync::api::axum::serve(listener, api)
            .with_graceful_shutdown(async move {
                let _ = api_stop.wait_for(|s| *s).await;
            })
            .await
    });
    let mut worker_stop = stopped.clone();
    let fleet = tokio::spawn(async move {
        worker
            .run_until(async move {
                let _ = worker_stop.wait_for(|s| *s).await;
            })
            .await
    });
    kms_sync_server::shutdown::terminated().await;
    // The worker's shutdown stops its running syncs through their StopSignal: no new write,
    // writes in flight within the grace, every ledger saved, interrupted jobs given back.
    let _ = stop.send(true);
    let _ = server.await?;
    let summary = fleet.await??;
    println!(
        "stopped: {} runs ({} succeeded, {} failed)",
        summary.runs(),
        summary.succeeded,
        summary.failed
    );
    // The URL is not printed: it may hold the database password.
    println!(
        "the schema {schema} is left for inspection: psql \"${{DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}\" -c 'DROP SCHEMA \"{schema}\" CASCADE'"
    );
    Ok(())
}
