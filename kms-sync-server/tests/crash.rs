//! Crash tests with real processes: three `kms-sync-server` processes (workers only) on one
//! PostgreSQL that the test starts itself (`initdb` into a temporary directory, its own
//! port; never the machine's cluster), 300 syncs against the loopback Bitbucket fake with
//! added latency, and three rounds, each with one blow mid-run:
//!
//! 1. `kill -9` a server (its runs must be taken over once their lease expires);
//! 2. restart PostgreSQL (fast shutdown: every connection is cut);
//! 3. SIGTERM a server (it must finish or release its runs, then exit 0).
//!
//! After each round: every sync holds the round's value (converged), no write to one
//! sync's repository ever overlapped another (the fake records overlapping writes: one
//! key per sync, so one write per run), every trigger has exactly one successful run, and
//! no run is left `running`. The figures (rounds' times, takeovers, runs lost) are printed.
//!
//! Skipped, saying why, where the PostgreSQL server binaries are missing; failing instead
//! under `CI=true`.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use kms_sync::{AppConnectionDefinition, Operation};
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, WORKSPACE};
use kms_sync_fleet::testing::{OwnServer, TestDb};
use kms_sync_fleet::{KeyRing, RunState, SyncId, SyncRegistry, TriggerCause};
use kms_sync_hanzo::fake::{FakeKms, CLIENT_ID, CLIENT_SECRET, PROJECT_ID};
use kms_sync_server::config::DestinationSection;

const SYNCS: usize = 300;
const LEASE: Duration = Duration::from_secs(2);
const LATENCY: Duration = Duration::from_millis(60);
/// How long one round may take before the test gives up.
const ROUND_LIMIT: Duration = Duration::from_secs(150);

fn own_server() -> Option<OwnServer> {
    match OwnServer::start() {
        Ok(server) => Some(server),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and no PostgreSQL of the test's own can start: {why}")
        }
        Err(why) => {
            eprintln!("\nSKIPPED (crash tests of kms-sync-server): {why}");
            None
        }
    }
}

/// The settings of server `n`: workers only, short lease, no source polling (only the
/// test's triggers run).
fn settings(schema: &str, port: u16, n: usize, bitbucket: &str, files: &str) -> String {
    format!(
        "secret_files = {files}\n[database]\nschema = \"{schema}\"\npool_size = 6\n\
         [api]\nlisten = \"127.0.0.1:{port}\"\n[worker]\nid = \"w{n}\"\nconcurrency = 6\n\
         lease = \"{}ms\"\nfallback_poll = \"300ms\"\nsource_poll = \"off\"\nshutdown_grace = \"2s\"\n\
         [kms]\nrequests_per_minute = 100000\n[destinations.bitbucket]\nbase_url = \"{bitbucket}\"\n",
        LEASE.as_millis()
    )
}

struct Fleet {
    dir: tempfile::TempDir,
    url: String,
    configs: Vec<(std::path::PathBuf, u16)>,
    servers: Vec<Option<Running>>,
}

impl Fleet {
    fn start(&mut self, n: usize) {
        let (config, port) = &self.configs[n];
        let log = self
            .dir
            .path()
            .join(format!("w{n}-{}.log", fastrand::u32(..)));
        self.servers[n] = Some(Running::start(
            server(config, &self.url),
            log,
            *port,
            &["--no-api"],
        ));
    }

    async fn ready(&mut self) {
        for running in self.servers.iter_mut().flatten() {
            ready(running, Duration::from_secs(60)).await;
        }
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "log") {
                    all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
                }
            }
        }
        all
    }
}

/// The test's own view of the registry (same key ring), to create and trigger syncs.
async fn registry(db: &TestDb, bitbucket: &FakeBitbucket, kms: &FakeKms) -> SyncRegistry {
    let mut sections = BTreeMap::new();
    sections.insert(
        "bitbucket".to_owned(),
        DestinationSection {
            base_url: Some(bitbucket.base_url()),
        },
    );
    let destinations = kms_sync_server::destinations::registry(&sections).unwrap();
    let (id, hex_key) = CREDENTIAL_KEYS
        .split(',')
        .next()
        .unwrap()
        .split_once(':')
        .unwrap();
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut key).unwrap();
    let policy = kms_sync::net::UrlPolicy::public_only()
        .allow(bitbucket.base_url().parse().unwrap())
        .allow(kms.base_url().parse().unwrap());
    SyncRegistry::builder(db.pool().await.unwrap(), destinations)
        .key_ring(KeyRing::new(id, key).unwrap())
        .url_policy(policy)
        .build()
        .unwrap()
}

async fn create_syncs(registry: &SyncRegistry, bitbucket: &FakeBitbucket) -> Vec<SyncId> {
    let connection = AppConnectionDefinition::from_json(
        &serde_json::json!({"name": "bb", "method": "api-token", "projectId": PROJECT_ID,
            "credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}})
        .to_string(),
    )
    .unwrap();
    let connection = registry
        .connections()
        .create("bitbucket", &connection)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..SYNCS {
        let repository = format!("repo-{n}");
        bitbucket.add_repository(WORKSPACE, &repository);
        let body = serde_json::json!({"name": format!("sync-{n}"), "projectId": PROJECT_ID,
            "connectionId": connection.id.to_string(), "environment": "prod", "secretPath": "/",
            "isEnabled": true, "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
            "destinationConfig": {"workspaceSlug": WORKSPACE, "repositorySlug": repository}});
        ids.push(
            registry
                .syncs()
                .create("bitbucket", &body.to_string())
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

/// Syncs whose repository does not hold `value` yet.
fn behind(bitbucket: &FakeBitbucket, value: &str) -> usize {
    (0..SYNCS)
        .filter(|n| {
            let vars = bitbucket.variables(WORKSPACE, &format!("repo-{n}"), None);
            vars.get("TOKEN").map(|(v, _)| v.as_str()) != Some(value)
        })
        .count()
}

/// What the checks found after a round.
#[derive(Debug, Default)]
struct Audit {
    /// The latest start of a run that took over a job after `since`: the time to take over.
    takeover_after: Option<Duration>,
    takeovers: u32,
    lost: usize,
    twice: usize,
    running: usize,
}

async fn audit(registry: &SyncRegistry, ids: &[SyncId], rounds: usize, since: SystemTime) -> Audit {
    let mut audit = Audit::default();
    for id in ids {
        let runs = registry.jobs().runs(*id, 100).await.unwrap();
        let expired: HashSet<_> = runs
            .iter()
            .filter(|r| r.state == RunState::LeaseExpired)
            .map(|r| r.job_id)
            .collect();
        for run in runs
            .iter()
            .filter(|r| expired.contains(&r.job_id) && r.state != RunState::LeaseExpired)
        {
            if let Ok(after) = run.started_at.duration_since(since) {
                audit.takeover_after = audit.takeover_after.max(Some(after));
            }
        }
        let mut succeeded = HashSet::new();
        for run in &runs {
            match run.state {
                RunState::Succeeded if !succeeded.insert(run.job_id) => audit.twice += 1,
                RunState::Running => audit.running += 1,
                _ => {}
            }
        }
        audit.lost += rounds.saturating_sub(succeeded.len());
        audit.takeovers += registry.jobs().takeovers(*id).await.unwrap();
    }
    audit
}

/// Waits until every repository holds `value`; the time it took.
async fn converge(
    fleet: &Fleet,
    bitbucket: &FakeBitbucket,
    value: &str,
    from: Instant,
) -> Duration {
    let done = eventually(ROUND_LIMIT, || behind(bitbucket, value) == 0).await;
    assert!(
        done,
        "{} syncs never reached {value}; logs:\n{}",
        behind(bitbucket, value),
        fleet
            .logs()
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
    from.elapsed()
}

async fn trigger_all(registry: &SyncRegistry, ids: &[SyncId]) {
    for chunk in ids.chunks(100) {
        registry
            .jobs()
            .trigger_many(chunk, Operation::Sync, TriggerCause::Manual)
            .await
            .unwrap();
    }
}

/// Waits until `bitbucket` has seen `writes` more writes than `before` (so a round is
/// mid-run).
async fn mid_run(bitbucket: &FakeBitbucket, before: usize, writes: usize) {
    let seen = eventually(Duration::from_secs(60), || {
        bitbucket
            .faults()
            .log()
            .iter()
            .filter(|r| r.method != "GET")
            .count()
            >= before + writes
    })
    .await;
    assert!(seen, "the round never started writing");
}

fn writes(bitbucket: &FakeBitbucket) -> usize {
    bitbucket
        .faults()
        .log()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_survive_kill_9_a_database_restart_and_sigterm() {
    let Some(postgres) = own_server() else { return };
    let Some(db) =
        kms_sync_fleet::testing::database_at("kms-sync-server", "crash", postgres.url("postgres"))
            .await
    else {
        return;
    };
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "TOKEN", "round-1");
    let bitbucket = FakeBitbucket::start().await;
    bitbucket.faults().set_latency(LATENCY);
    bitbucket.faults().track_overlapping_writes(4);
    let registry = registry(&db, &bitbucket, &kms).await;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let files = format!(
        "{{ kms_url = \"{}\", kms_client_id = \"{}\", kms_client_secret = \"{}\", allow_address = \"{}\" }}",
        write("kms-url", &kms.base_url()),
        write("client-id", CLIENT_ID),
        write("client-secret", CLIENT_SECRET),
        write("allow", &format!("{},{}", bitbucket.base_url(), kms.base_url())),
    );
    let configs = (0..3)
        .map(|n| {
            let port = free_port();
            let text = settings(db.schema(), port, n, &bitbucket.base_url(), &files);
            (dir.path().join(format!("w{n}.toml")).tap_write(&text), port)
        })
        .collect();
    let mut fleet = Fleet {
        dir,
        url: db.url().to_owned(),
        configs,
        servers: vec![None, None, None],
    };
    for n in 0..3 {
        fleet.start(n);
    }
    fleet.ready().await;

    // Round 1: the syncs' creation triggers them; kill -9 server 0 mid-run.
    let started = Instant::now();
    let ids = create_syncs(&registry, &bitbucket).await;
    mid_run(&bitbucket, 0, SYNCS / 4).await;
    let killed_at = Instant::now();
    let killed_at_clock = SystemTime::now();
    fleet.servers[0].as_ref().unwrap().signal("KILL");
    let after_kill = converge(&fleet, &bitbucket, "round-1", killed_at).await;
    let round1 = started.elapsed();
    tokio::time::sleep(LEASE).await;
    let audit1 = audit(&registry, &ids, 1, killed_at_clock).await;
    fleet.servers[0] = None;
    fleet.start(0);
    fleet.ready().await;

    // Round 2: a new value, every sync triggered; PostgreSQL restarts mid-run.
    kms.set("prod", "/", "TOKEN", "round-2");
    let before = writes(&bitbucket);
    let started = Instant::now();
    trigger_all(&registry, &ids).await;
    mid_run(&bitbucket, before, SYNCS / 4).await;
    let restarted_at = SystemTime::now();
    let restart = postgres.restart().unwrap();
    let round2 = converge(&fleet, &bitbucket, "round-2", started).await;
    tokio::time::sleep(LEASE).await;
    let audit2 = audit(&registry, &ids, 2, restarted_at).await;

    // Round 3: SIGTERM server 1 mid-run: it finishes or releases its runs and exits 0.
    kms.set("prod", "/", "TOKEN", "round-3");
    let before = writes(&bitbucket);
    let started = Instant::now();
    trigger_all(&registry, &ids).await;
    mid_run(&bitbucket, before, SYNCS / 4).await;
    let term_at = Instant::now();
    let term_at_clock = SystemTime::now();
    let stopping = fleet.servers[1].as_mut().unwrap();
    stopping.signal("TERM");
    let code = stopping.wait(Duration::from_secs(30));
    let stop_time = term_at.elapsed();
    assert_eq!(code, Some(0), "SIGTERM: {}", stopping.log_text());
    let round3 = converge(&fleet, &bitbucket, "round-3", started).await;
    tokio::time::sleep(LEASE).await;
    let audit3 = audit(&registry, &ids, 3, term_at_clock).await;

    let overlaps = bitbucket.faults().overlapping_writes();
    eprintln!(
        "\ncrash figures ({SYNCS} syncs, 3 servers, lease {LEASE:?}, latency {LATENCY:?} per request):\n  \
         kill -9:  round {round1:.1?}, converged {after_kill:.1?} after the kill, {} takeovers, \
         the last taken over {:.1?} after the kill, {} runs lost\n  \
         PostgreSQL restart ({restart:.1?}): round {round2:.1?}, {} takeovers so far, {} runs lost\n  \
         SIGTERM:  exited 0 after {stop_time:.1?}, round {round3:.1?}, {} takeovers so far, {} runs lost\n  \
         overlapping writes: {}",
        audit1.takeovers, audit1.takeover_after, audit1.lost, audit2.takeovers, audit2.lost, audit3.takeovers, audit3.lost,
        overlaps.len()
    );
    for (round, audit) in [(1, &audit1), (2, &audit2), (3, &audit3)] {
        assert_eq!(audit.lost, 0, "round {round}: runs lost: {audit:?}");
        assert_eq!(
            audit.twice, 0,
            "round {round}: a trigger ran twice: {audit:?}"
        );
        assert_eq!(
            audit.running, 0,
            "round {round}: runs left running: {audit:?}"
        );
    }
    assert!(
        overlaps.is_empty(),
        "two runs of one sync at once: {overlaps:?}"
    );
    let logs = fleet.logs();
    for secret in [
        FAKE_TOKEN,
        CLIENT_SECRET,
        LEDGER_KEY,
        "round-1",
        "round-2",
        "round-3",
    ] {
        assert!(!logs.contains(secret), "{secret} in a server's log");
    }
    drop(fleet);
    let _ = db.finish().await;
}

/// Writes a file and returns its path (for a `map`).
trait TapWrite {
    fn tap_write(self, text: &str) -> Self;
}

impl TapWrite for std::path::PathBuf {
    fn tap_write(self, text: &str) -> Self {
        std::fs::write(&self, text).unwrap();
        self
    }
}
