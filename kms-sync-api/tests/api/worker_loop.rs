//! The whole loop through a fleet worker (kms-sync-fleet's `Worker`): the seed's bodies
//! in, the sync runs against the fake Bitbucket, a change at the fake KMS is carried by
//! auto-sync, then remove-secrets and `DELETE ?removeSecrets=true`.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID, FAKE_API_KEY as CHECKLY_KEY};
use kms_sync_core::http::ClientSettings;
use kms_sync_core::net::UrlPolicy;
use kms_sync_core::{
    async_trait, AppConnectionDefinition, Destination, DestinationFactory, DestinationRegistry,
    Error, Result, SecretSource,
};
use kms_sync_fleet::{
    KeyRing, SourceProvider, SyncRegistry, SyncRegistryBuilder, Worker, WorkerSummary,
};
use kms_sync_hanzo::fake::FakeKms;
use kms_sync_octopus::fake::{FakeOctopus, FAKE_API_KEY as OCTOPUS_KEY};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{expect, fixture, text, with_connection, Answer, Api};

const WORKSPACE: &str = "my-bitbucket-workspace";
const REPOSITORY: &str = "my-bitbucket-repository";

/// A destination factory whose destinations (and credential checks) talk to a fake at a
/// base URL.
pub(crate) struct AtFake<F>(pub F, pub String);

#[async_trait]
impl<F: DestinationFactory> DestinationFactory for AtFake<F> {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn facts(&self) -> kms_sync_core::DestinationFacts {
        self.0.facts()
    }
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<kms_sync_core::Verification> {
        self.0
            .verify_connection(connection, settings.with_base_url(self.1.clone()))
            .await
    }
    fn check_config(&self, config: &str) -> Result<()> {
        self.0.check_config(config)
    }
    fn build(
        &self,
        connection: &AppConnectionDefinition,
        config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        self.0
            .build(connection, config, settings.with_base_url(self.1.clone()))
    }
}

/// Every sync reads the fake KMS.
pub(crate) struct FakeSources(pub Arc<FakeKms>);

#[async_trait]
impl SourceProvider for FakeSources {
    async fn source(
        &self,
        _: Option<&str>,
        environment: &str,
        path: &str,
    ) -> Result<Arc<dyn SecretSource>> {
        Ok(Arc::new(
            self.0
                .source_builder(environment, path)
                .revision_key([3u8; 32])
                .build()?,
        ))
    }
}

/// The URL policy of a fleet whose destinations are fakes on 127.0.0.1: public HTTPS, and
/// exactly each fake's `http://127.0.0.1:<port>` (so `127.0.0.1:5432` stays refused).
pub fn fakes_only(bases: &[String]) -> Result<UrlPolicy> {
    let mut policy = UrlPolicy::public_only();
    for base in bases {
        let url = reqwest::Url::parse(base).map_err(crate::support::fail)?;
        let host = url.host_str().unwrap_or("");
        let port = url.port_or_known_default().unwrap_or(0);
        policy = policy.allow(format!("http://{host}:{port}").parse()?);
    }
    Ok(policy)
}

/// The fake KMS holding `DB_URL` in dev `/my-secrets`, the fake Bitbucket holding the
/// samples' repository, and a registry builder over `db` reaching that fake only.
pub(crate) async fn bitbucket_fakes(
    db: &crate::support::TestDb,
) -> Result<(Arc<FakeKms>, FakeBitbucket, SyncRegistryBuilder)> {
    let kms = Arc::new(FakeKms::start().await);
    kms.set("dev", "/my-secrets", "DB_URL", "postgres://v1");
    let bitbucket = FakeBitbucket::start().await;
    bitbucket.add_repository(WORKSPACE, REPOSITORY);
    let destinations = DestinationRegistry::new().with(AtFake(
        kms_sync_bitbucket::BitbucketFactory,
        bitbucket.base_url(),
    ));
    let builder = SyncRegistry::builder(db.pool().await?, destinations)
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .url_policy(fakes_only(&[bitbucket.base_url()])?);
    Ok((kms, bitbucket, builder))
}

/// A fleet worker over `registry` reading the fake KMS, and its stop switch.
fn worker(
    registry: SyncRegistry,
    kms: Arc<FakeKms>,
) -> Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<WorkerSummary>>,
)> {
    let worker = Worker::builder(registry, Arc::new(FakeSources(kms)))
        .worker_id("api-test-worker")
        .ledger_key(vec![7u8; 32])
        .fallback_poll(Duration::from_millis(200))
        .source_poll(Some(Duration::from_millis(300)))
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let fleet = tokio::spawn(async move {
        worker
            .run_until(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok((stop, fleet))
}

/// What a fake destination holds: key → value.
type Holds = Box<dyn Fn() -> BTreeMap<String, String> + Send + Sync>;

/// Waits until the fake holds what `want` accepts (10 s at most).
async fn until_held(
    holds: &Holds,
    what: &str,
    want: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Result<()> {
    for _ in 0..100 {
        if want(&holds()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::unexpected(format!(
        "{what}: the destination holds {:?}",
        holds()
    )))
}

/// A connection from `connection_body` and a sync of `kind` from `sync_body` on it, both
/// created through the API: the connection's id and the sync's URL.
async fn create_pair(
    api: &Api,
    kind: &str,
    connection_body: &str,
    sync_body: &str,
) -> Result<(String, String)> {
    let conn = api
        .post(&format!("/api/v1/app-connections/{kind}"), connection_body)
        .await?;
    expect(&conn, 200, "connection")?;
    let conn_id = text(&conn.body, "/appConnection/id").to_owned();
    let body = with_connection(sync_body, &conn_id);
    let created = api
        .post(&format!("/api/v1/secret-syncs/{kind}"), &body)
        .await?;
    expect(&created, 200, "sync")?;
    let id = text(&created.body, "/secretSync/id");
    Ok((conn_id, format!("/api/v1/secret-syncs/{kind}/{id}")))
}

/// A change at the KMS (`DB_URL` to `postgres://v2`, and `API_KEY` when `more`) is carried
/// by auto-sync to the destination, after the run `done` answered.
async fn carries_a_change(
    api: &Api,
    kms: &FakeKms,
    (url, done): (&str, &Answer),
    holds: &Holds,
    more: bool,
) -> Result<()> {
    let before = text(&done.body, "/secretSync/lastSyncedAt").to_owned();
    let folder = text(&done.body, "/secretSync/folder/path");
    kms.set("dev", folder, "DB_URL", "postgres://v2");
    if more {
        kms.set("dev", folder, "API_KEY", "k2");
    }
    until(api, url, "auto-sync runs", |s| {
        s["syncStatus"] == "succeeded"
            && s["lastSyncedAt"]
                .as_str()
                .is_some_and(|t| t > before.as_str())
    })
    .await?;
    until_held(holds, "after the change", |h| {
        h.get("DB_URL").map(String::as_str) == Some("postgres://v2")
            && (!more || h.contains_key("API_KEY"))
    })
    .await
}

/// remove-secrets empties what the sync wrote; then `DELETE ?removeSecrets=true` removes
/// and deletes the sync.
async fn removes_then_deletes(api: &Api, url: &str, holds: &Holds) -> Result<()> {
    let removing = api.post(&format!("{url}/remove-secrets"), "").await?;
    expect(&removing, 200, "remove-secrets")?;
    let remove_job = text(&removing.body, "/secretSync/lastRemoveJobId").to_owned();
    until(api, url, "the remove succeeds", |s| {
        s["removeStatus"] == "succeeded" && s["lastRemoveJobId"] == json!(remove_job)
    })
    .await?;
    until_held(holds, "after remove-secrets", |h| h.is_empty()).await?;
    let deleting = api
        .call(Method::DELETE, &format!("{url}?removeSecrets=true"), None)
        .await?;
    expect(&deleting, 200, "delete with removeSecrets=true")?;
    for _ in 0..200 {
        if api.get(url).await?.status == 404 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::unexpected(format!(
        "{url}: the sync was not deleted after its remove"
    )))
}

/// A sync created from `sync_body` (on a connection made from `connection_body`) runs at
/// once (auto-sync), carries a change at the KMS, removes what it wrote, and is deleted
/// with `removeSecrets=true` — all through the API and a worker.
async fn whole_loop(
    api: &Api,
    kms: &FakeKms,
    kind: &str,
    (connection_body, sync_body): (&str, &str),
    holds: Holds,
) -> Result<()> {
    let request: Value = serde_json::from_str(sync_body).map_err(crate::support::fail)?;
    let folder = text(&request, "/secretPath");
    kms.set("dev", folder, "DB_URL", "postgres://v1");
    let (_, url) = create_pair(api, kind, connection_body, sync_body).await?;
    // Queued at creation (auto-sync on); a source poll may queue another run after it.
    let done = until(api, &url, "the first sync succeeds", |s| {
        s["syncStatus"] == "succeeded" && s["lastSyncedAt"].is_string()
    })
    .await?;
    until_held(&holds, "the first sync", |h| {
        h.get("DB_URL").map(String::as_str) == Some("postgres://v1")
    })
    .await?;
    carries_a_change(api, kms, (&url, &done), &holds, false).await?;
    removes_then_deletes(api, &url, &holds).await
}

/// The API over a registry of `destinations` (reaching only the fakes at `fakes`), a worker
/// over it reading the fake KMS, and its stop switch.
struct Running {
    api: Api,
    kms: Arc<FakeKms>,
    stop: tokio::sync::oneshot::Sender<()>,
    fleet: tokio::task::JoinHandle<Result<WorkerSummary>>,
}

impl Running {
    async fn start(
        db: &crate::support::TestDb,
        destinations: DestinationRegistry,
        fakes: &[String],
    ) -> Result<Running> {
        let kms = Arc::new(FakeKms::start().await);
        let registry = SyncRegistry::builder(db.pool().await?, destinations)
            .key_ring(KeyRing::new("k1", [0x5a; 32])?)
            .backoff(Duration::from_millis(200), Duration::from_secs(1))
            .url_policy(fakes_only(fakes)?)
            .build()?;
        let api = Api::with_registry(registry.clone()).await?;
        let (stop, fleet) = worker(registry, kms.clone())?;
        Ok(Running {
            api,
            kms,
            stop,
            fleet,
        })
    }

    /// Stops the worker: what it ran.
    async fn stop(self) -> Result<WorkerSummary> {
        let _ = self.stop.send(());
        self.fleet.await.map_err(crate::support::fail)?
    }
}

/// The fake Checkly's account variables.
fn checkly_account(checkly: &Arc<FakeChecklyServer>) -> Holds {
    let c = checkly.clone();
    Box::new(move || {
        c.variables()
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
    })
}

/// The variables of a list of JSON objects, by their key and value fields.
fn pairs(list: &[Value], key: &str, value: &str) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|v| {
            Some((
                v[key].as_str()?.to_owned(),
                v[value].as_str().unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkly_account_and_group_seeds_run_through_a_worker() -> Result<()> {
    let db = db!("checkly_account_and_group_seeds_run_through_a_worker");
    let checkly = Arc::new(FakeChecklyServer::start().await);
    let group = checkly.add_group("API checks");
    let destinations = DestinationRegistry::new()
        .with(AtFake(kms_sync_checkly::ChecklyFactory, checkly.base_url()));
    let run = Running::start(&db, destinations, &[checkly.base_url()]).await?;
    // The account: the seed's body on the fake's account.
    let checkly_conn = json!({"name": "my-checkly-connection", "method": "api-key",
        "projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "credentials": {"apiKey": CHECKLY_KEY}}).to_string();
    let account_body = fixture("checkly-sync.json")?.replace(
        "\"accountId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\"",
        &format!("\"accountId\": \"{ACCOUNT_ID}\""),
    );
    let bodies = (checkly_conn.as_str(), account_body.as_str());
    whole_loop(
        &run.api,
        &run.kms,
        "checkly",
        bodies,
        checkly_account(&checkly),
    )
    .await?;
    // The group.
    let group_body = account_body
        .replace("\"my-checkly-sync\"", "\"my-checkly-group-sync\"")
        .replace(
            "\"accountName\": \"Example Company\"",
            &format!("\"accountName\": \"Example Company\", \"groupId\": \"{group}\", \"groupName\": \"API checks\""),
        );
    let c = checkly.clone();
    let in_group: Holds = Box::new(move || pairs(&c.group_variables(group), "key", "value"));
    let group_conn = checkly_conn.replace("my-checkly-connection", "my-checkly-group-connection");
    let bodies = (group_conn.as_str(), group_body.as_str());
    whole_loop(&run.api, &run.kms, "checkly", bodies, in_group).await?;
    run.stop().await?;
    db.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octopus_seed_runs_through_a_worker_and_the_database_beside_it_is_refused() -> Result<()> {
    let db = db!("octopus_seed_runs_through_a_worker");
    let octopus = Arc::new(FakeOctopus::start().await);
    // The seed's sync writes to `Projects-123`: the fake numbers its projects in order.
    let mut set = String::new();
    for n in 1..=123 {
        set = octopus.add_project(&format!("Project {n}"), false).1;
    }
    let destinations = DestinationRegistry::new().with(kms_sync_octopus::OctopusFactory);
    let run = Running::start(&db, destinations, &[octopus.base_url()]).await?;
    let octopus_conn = json!({"name": "my-octopus-deploy-connection", "method": "api-key",
        "projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "credentials": {"instanceUrl": octopus.base_url(), "apiKey": OCTOPUS_KEY}})
    .to_string();
    // The database next to the fake is refused; the fake itself is reached below.
    let database = octopus_conn
        .replace(&octopus.base_url(), "http://127.0.0.1:5432")
        .replace("my-octopus-deploy-connection", "next-door");
    let refused = run
        .api
        .post("/api/v1/app-connections/octopus-deploy", &database)
        .await?;
    expect(&refused, 400, "an Octopus connection to 127.0.0.1:5432")?;
    if !text(&refused.body, "/message").contains("is refused: plain http:// is allowed only") {
        return Err(Error::unexpected(format!(
            "the refusal names no rule: {}",
            refused.body
        )));
    }
    let o = octopus.clone();
    let variables: Holds = Box::new(move || pairs(&o.variables(&set), "Name", "Value"));
    let sync_body = fixture("octopus-deploy-sync.json")?;
    let bodies = (octopus_conn.as_str(), sync_body.as_str());
    whole_loop(&run.api, &run.kms, "octopus-deploy", bodies, variables).await?;
    run.stop().await?;
    db.finish().await
}

/// Polls the sync until `done` holds (20 s at most).
pub(crate) async fn until(
    api: &Api,
    url: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Answer> {
    for _ in 0..200 {
        let got = api.get(url).await?;
        if done(&got.body["secretSync"]) {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = api.get(url).await?;
    Err(Error::unexpected(format!("{what}: still {}", got.body)))
}

/// New credentials (the fake's) on connection `conn_id`, then a manual sync of `url`:
/// the queued job succeeds. The answer of the sync once it has.
async fn manual_sync_succeeds(
    api: &Api,
    history: &SyncRegistry,
    url: &str,
    conn_id: &str,
) -> Result<Answer> {
    let creds = json!({"credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}}).to_string();
    let conn_url = format!("/api/v1/app-connections/bitbucket/{conn_id}");
    let patched = api.call(Method::PATCH, &conn_url, Some(&creds)).await?;
    expect(&patched, 200, "new credentials")?;
    let queued = api.post(&format!("{url}/sync-secrets"), "").await?;
    expect(&queued, 200, "sync-secrets")?;
    let job = text(&queued.body, "/secretSync/lastSyncJobId").to_owned();
    // The status may name a later job than the one queued (the failed run's own retry, due
    // after its backoff, can run next to it), so the queued job is looked up in the history.
    let done = until(api, url, "the sync succeeds", |s| {
        s["syncStatus"] == "succeeded" && s["lastSyncedAt"].is_string()
    })
    .await?;
    let sync_id: kms_sync_fleet::SyncId = text(&done.body, "/secretSync/id").parse()?;
    for _ in 0..100 {
        let runs = history.jobs().runs(sync_id, 50).await?;
        let ran = runs
            .iter()
            .any(|r| r.job_id.to_string() == job && r.state == kms_sync_fleet::RunState::Succeeded)
            || text(&done.body, "/secretSync/lastSyncJobId") == job;
        if ran {
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::unexpected(format!(
        "the queued job {job} never succeeded: {}",
        done.body
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bitbucket_seed_runs_and_auto_syncs_through_a_worker() -> Result<()> {
    let db = db!("bitbucket_seed_runs_and_auto_syncs_through_a_worker");
    let bitbucket = Arc::new(FakeBitbucket::start().await);
    bitbucket.add_repository(WORKSPACE, REPOSITORY);
    let destinations = DestinationRegistry::new().with(AtFake(
        kms_sync_bitbucket::BitbucketFactory,
        bitbucket.base_url(),
    ));
    let run = Running::start(&db, destinations, &[bitbucket.base_url()]).await?;
    let (api, kms) = (&run.api, &run.kms);
    kms.set("dev", "/my-secrets", "DB_URL", "postgres://v1");
    // The seed's bodies, as written: the run is refused by the fake, as Bitbucket would
    // refuse the placeholder token.
    let bodies = (
        fixture("bitbucket-connection.json")?,
        fixture("bitbucket-sync.json")?,
    );
    let (conn_id, url) = create_pair(api, "bitbucket", &bodies.0, &bodies.1).await?;
    let failed = until(api, &url, "the placeholder token fails", |s| {
        s["syncStatus"] == "failed"
    })
    .await?;
    if !text(&failed.body, "/secretSync/lastSyncMessage").contains("401") {
        return Err(Error::unexpected(format!("no 401 in {}", failed.body)));
    }
    // The fake's credentials, then a manual sync: it succeeds.
    let done = manual_sync_succeeds(api, &api.registry, &url, &conn_id).await?;
    let b = bitbucket.clone();
    let holds: Holds = Box::new(move || {
        let held = b.variables(WORKSPACE, REPOSITORY, None);
        held.into_iter().map(|(k, (v, _))| (k, v)).collect()
    });
    until_held(&holds, "the manual sync", |h| {
        h.get("DB_URL").map(String::as_str) == Some("postgres://v1")
    })
    .await?;
    // A change at the KMS: auto-sync carries it; then remove, then delete.
    carries_a_change(api, kms, (&url, &done), &holds, true).await?;
    removes_then_deletes(api, &url, &holds).await?;
    let summary = run.stop().await?;
    if summary.succeeded < 3 {
        return Err(Error::unexpected(format!(
            "only {} runs succeeded",
            summary.succeeded
        )));
    }
    db.finish().await
}
