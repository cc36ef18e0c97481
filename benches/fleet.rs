//! The fleet figures: 1,000 syncs on 100 KMS folders (10 syncs each) over 1, 2 and 4
//! workers, and 10,000 syncs (100 a folder) over 4 workers, on the local PostgreSQL, reading
//! the fake KMS over loopback HTTP and writing to memory destinations. For each row, in a
//! fresh schema:
//!
//! - **first sync**: the row's syncs (3 keys each, every key a create) from queued to done,
//!   with the workers starting together: runs per second;
//! - **no-op resync**: all of them triggered again (nothing to write): runs per second;
//! - **database round trips per run**: the workers reach PostgreSQL through a loopback proxy
//!   in this process that counts round trips (each time a client sends after the server
//!   answered; pipelined statements count once): claims, wake-ups, resolves, ledgers,
//!   finishes, heartbeats, poll rounds, divided by the runs (at most 5: a run's share of its
//!   claim, one read of its sync, connection and ledger, one ledger update before it writes,
//!   one end with its last ledger update; `tests/fleet/fleet/round_trips.rs` holds it there);
//! - **KMS reads per poll round**: the list requests the fake KMS saw during one poll round
//!   while the fleet was idle (they must equal the 100 distinct folders, whatever the 1,000
//!   syncs; once the workers hold ETags they are `304 Not Modified`);
//! - **source change → destination**: a secret changed at the fake KMS until all 10
//!   destinations of its folder hold it, through the poll rounds (1 s interval) and through
//!   the webhook trigger: median of 5 each.
//!
//! Run: `cargo bench --features fleet,fake --bench fleet` (a few minutes; set
//! `KMS_SYNC_BENCH_SKIP_LARGE=1` to leave out the 10,000-sync row). The server
//! is `KMS_SYNC_BENCH_DATABASE_URL` or `postgres://postgres@127.0.0.1:5432/test`; without
//! one the bench says so and exits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kms_sync::http::ClientSettings;
use kms_sync::{
    AppConnectionDefinition, Destination, DestinationFactory, DestinationRegistry,
    MemoryDestination, MemoryFactory, Operation,
};
use kms_sync_fleet::{
    trigger_webhook, HanzoSources, KeyRing, PgPool, PostgresConfig, SharedReads, SourceProvider,
    SyncId, SyncRegistry, TriggerCause, Worker, WorkerSummary,
};
use kms_sync_hanzo::fake::{FakeKms, PROJECT_ID};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The rows: syncs, workers.
const ROWS: [(usize, usize); 4] = [(1_000, 1), (1_000, 2), (1_000, 4), (10_000, 4)];
const FOLDERS: usize = 100;
const KEYS: usize = 3;
const POLL: Duration = Duration::from_secs(1);
const LEDGER_KEY: &[u8] = b"fleet-bench-ledger-key-0123456789";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Memory destinations kept per target across runs (as a remote service would be).
#[derive(Clone, Default)]
struct Kept {
    targets: Arc<Mutex<std::collections::HashMap<String, Arc<MemoryDestination>>>>,
}

impl Kept {
    fn get(&self, target: &str) -> Arc<MemoryDestination> {
        let mut t = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        t.entry(target.to_owned())
            .or_insert_with(|| Arc::new(MemoryDestination::builder().target(target).build()))
            .clone()
    }
}

impl DestinationFactory for Kept {
    fn kind(&self) -> &'static str {
        "memory"
    }
    fn check_config(&self, config: &str) -> kms_sync::Result<()> {
        MemoryFactory.check_config(config)
    }
    fn build(
        &self,
        _: &AppConnectionDefinition,
        config: &str,
        _: ClientSettings,
    ) -> kms_sync::Result<Arc<dyn Destination>> {
        let v: serde_json::Value = serde_json::from_str(config)
            .map_err(|e| kms_sync::Error::config(format!("memory config: {e}")))?;
        let target = v
            .get("target")
            .and_then(|t| t.as_str())
            .unwrap_or("default");
        Ok(self.get(target))
    }
}

/// A loopback proxy to PostgreSQL counting round trips.
struct Proxy {
    addr: SocketAddr,
    round_trips: Arc<AtomicU64>,
}

async fn proxy(upstream: SocketAddr) -> Result<Proxy, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let round_trips = Arc::new(AtomicU64::new(0));
    let counter = round_trips.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let awaiting = Arc::new(AtomicBool::new(false));
                tokio::spawn(pipe(cr, sw, awaiting.clone(), Some(counter)));
                tokio::spawn(pipe(sr, cw, awaiting, None));
            });
        }
    });
    Ok(Proxy { addr, round_trips })
}

/// Copies one direction. Client to server (`counter` set): a send after the server's
/// answer starts a round trip. Server to client: an answer ends it.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    awaiting: Arc<AtomicBool>,
    counter: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match &counter {
            Some(c) => {
                if !awaiting.swap(true, Ordering::SeqCst) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => awaiting.store(false, Ordering::SeqCst),
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

struct Row {
    syncs: usize,
    workers: usize,
    first_runs_per_s: f64,
    first_rt: f64,
    noop_runs_per_s: f64,
    noop_rt: f64,
    poll_reads: usize,
    poll_latency: Duration,
    webhook_latency: Duration,
    claims: Vec<u64>,
}

/// How long a phase of `syncs` runs may take.
fn patience(syncs: usize) -> Duration {
    Duration::from_secs(300).max(Duration::from_millis(100 * syncs as u64))
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

async fn admin(url: &str) -> Result<tokio_postgres::Client, Failure> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Waits until nothing is pending or leased.
async fn quiescent(registry: &SyncRegistry, limit: Duration) -> Result<(), Failure> {
    let until = Instant::now() + limit;
    while registry.jobs().next_due().await?.is_some() {
        if Instant::now() > until {
            return Err("the fleet did not finish in time".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn holds(kept: &Kept, ids: &[usize], value: &str) -> bool {
    ids.iter().all(|i| {
        kept.get(&format!("s{i}"))
            .value("K0")
            .ok()
            .flatten()
            .is_some_and(|v| v.expose_secret() == value)
    })
}

async fn scenario(url: &str, syncs: usize, workers: usize, proxy: &Proxy) -> Result<Row, Failure> {
    let schema = format!("kms_sync_bench_{syncs}_w{workers}_{}", std::process::id());
    let admin = admin(url).await?;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await?;
    let kms = FakeKms::start().await;
    for f in 0..FOLDERS {
        for k in 0..KEYS {
            kms.set(
                "prod",
                &format!("/f{f}"),
                &format!("K{k}"),
                &format!("v{f}-{k}"),
            );
        }
    }
    let kept = Kept::default();
    let destinations = DestinationRegistry::new().with(kept.clone());
    let config = |url: &str, size: usize| {
        PostgresConfig::builder()
            .url(url)
            .schema(&schema)
            .pool_size(size)
            .build()
    };
    let key_ring = || KeyRing::new("bench", [9u8; 32]);
    let setup = SyncRegistry::builder(
        PgPool::connect(config(url, 4)?).await?,
        destinations.clone(),
    )
    .key_ring(key_ring()?)
    .build()?;
    let conn = setup
        .connections()
        .create(
            "memory",
            &AppConnectionDefinition::from_json(
                r#"{"name": "mem", "method": "none", "credentials": {}}"#,
            )?,
        )
        .await?;
    let mut ids: Vec<SyncId> = Vec::with_capacity(syncs);
    for i in 0..syncs {
        let body = format!(
            r#"{{"name": "s{i}", "projectId": "{PROJECT_ID}", "connectionId": "{}", "environment": "prod",
                "secretPath": "/f{}", "isAutoSyncEnabled": true, "destinationConfig": {{"target": "s{i}"}}}}"#,
            conn.id,
            i % FOLDERS
        );
        ids.push(setup.syncs().create("memory", &body).await?.id);
    }
    let template = kms
        .source_builder("prod", "/")
        .revision_key([5; 32])
        .build()?;
    let provider: Arc<dyn SourceProvider> = Arc::new(HanzoSources::new(template));
    // The fleet's first poll round before any worker: its first-sight triggers join the
    // creation triggers, so the first sync runs each sync once.
    SharedReads::new(setup.clone(), provider.clone(), LEDGER_KEY.to_vec())?
        .poll_round("setup", POLL)
        .await?;

    let proxied = format!(
        "postgres://postgres@{}/{}",
        proxy.addr,
        url.rsplit('/').next().unwrap_or("test")
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    let rt_start = proxy.round_trips.load(Ordering::SeqCst);
    let started = Instant::now();
    for w in 0..workers {
        let registry = SyncRegistry::builder(
            PgPool::connect(config(&proxied, 8)?).await?,
            destinations.clone(),
        )
        .key_ring(key_ring()?)
        .build()?;
        let worker = Worker::builder(registry, provider.clone())
            .worker_id(format!("bench-w{w}"))
            .ledger_key(LEDGER_KEY.to_vec())
            .concurrency(8)
            .lease(Duration::from_secs(30))
            .fallback_poll(Duration::from_secs(5))
            .source_poll(Some(POLL))
            .build()?;
        let mut stopped = stopped.clone();
        handles.push(tokio::spawn(async move {
            worker
                .run_until(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    quiescent(&setup, patience(syncs)).await?;
    let first = started.elapsed();
    let rt_first = proxy.round_trips.load(Ordering::SeqCst) - rt_start;
    for i in 0..syncs {
        if !holds(&kept, &[i], &format!("v{}-0", i % FOLDERS)).await {
            return Err(format!("the first sync did not reach s{i}").into());
        }
    }

    let rt_start = proxy.round_trips.load(Ordering::SeqCst);
    let started = Instant::now();
    setup
        .jobs()
        .trigger_many(&ids, Operation::Sync, TriggerCause::Manual)
        .await?;
    quiescent(&setup, patience(syncs)).await?;
    let noop = started.elapsed();
    let rt_noop = proxy.round_trips.load(Ordering::SeqCst) - rt_start;

    // KMS reads of one poll round, the fleet idle: between two rounds' ends.
    let round_sql = format!("SELECT round, holder IS NULL FROM \"{schema}\".source_polls");
    let ended_round = || async {
        let row = admin.query_one(&round_sql, &[]).await?;
        let (round, idle): (i64, bool) = (row.get(0), row.get(1));
        Ok::<_, Failure>(idle.then_some(round))
    };
    let wait_round_after = |after: i64| async move {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(r) = ended_round().await? {
                if r > after {
                    return Ok::<i64, Failure>(r);
                }
            }
            if Instant::now() > until {
                return Err::<i64, Failure>("no poll round ended".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let r0 = wait_round_after(0).await?;
    let r1 = wait_round_after(r0).await?;
    let (b1, n1) = kms.list_reads();
    let r2 = wait_round_after(r1).await?;
    let (b2, n2) = kms.list_reads();
    if r2 != r1 + 1 {
        return Err(format!("rounds {r1} to {r2}: expected one round").into());
    }
    let poll_reads = (b2 + n2) - (b1 + n1);

    // Source change → destination, by poll and by webhook.
    let mut by_poll = Vec::new();
    let mut by_webhook = Vec::new();
    for n in 0..10 {
        let folder = n * 7 % FOLDERS;
        let of_folder: Vec<usize> = (0..syncs).filter(|i| i % FOLDERS == folder).collect();
        let value = format!("changed-{n}");
        // At a random point of the poll interval, not just after a round.
        let nanos = u64::from(SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos());
        tokio::time::sleep(Duration::from_millis(nanos % POLL.as_millis() as u64)).await;
        let at = Instant::now();
        kms.set("prod", &format!("/f{folder}"), "K0", &value);
        if n % 2 == 1 {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
            let event: kms_sync_hanzo::WebhookEvent = serde_json::from_str(&format!(
                r#"{{"event": "secrets.modified", "timestamp": {ms}, "project":
                    {{"workspaceId": "{PROJECT_ID}", "environment": "prod", "secretPath": "/f{folder}"}}}}"#
            ))?;
            trigger_webhook(&setup, &event).await?;
        }
        let until = Instant::now() + Duration::from_secs(30);
        while !holds(&kept, &of_folder, &value).await {
            if Instant::now() > until {
                return Err("a source change never reached its destinations".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let took = at.elapsed();
        if n % 2 == 1 {
            by_webhook.push(took);
        } else {
            by_poll.push(took);
        }
        quiescent(&setup, Duration::from_secs(30)).await?;
    }

    let _ = stop.send(true);
    let mut summaries: Vec<WorkerSummary> = Vec::new();
    for h in handles {
        summaries.push(h.await??);
    }
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await?;
    Ok(Row {
        syncs,
        workers,
        first_runs_per_s: syncs as f64 / first.as_secs_f64(),
        first_rt: rt_first as f64 / syncs as f64,
        noop_runs_per_s: syncs as f64 / noop.as_secs_f64(),
        noop_rt: rt_noop as f64 / syncs as f64,
        poll_reads,
        poll_latency: median(by_poll),
        webhook_latency: median(by_webhook),
        claims: summaries.iter().map(|s| s.claimed).collect(),
    })
}

fn main() -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let url = std::env::var("KMS_SYNC_BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        if let Err(e) = admin(&url).await {
            eprintln!("fleet bench: PostgreSQL at {url} is unreachable ({e}); skipped. Start it or set KMS_SYNC_BENCH_DATABASE_URL.");
            return Ok(());
        }
        let upstream: SocketAddr = {
            let config: tokio_postgres::Config = url.parse()?;
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                _ => "127.0.0.1".to_owned(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let mut addrs = tokio::net::lookup_host(format!("{host}:{port}")).await?;
            addrs.next().ok_or("the database host does not resolve")?
        };
        let proxy = proxy(upstream).await?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        println!("fleet: syncs on {FOLDERS} KMS folders ({KEYS} keys each), memory destinations, the fake KMS over loopback HTTP, PostgreSQL on this machine; {cores} cores; each worker runs 8 syncs at once");
        let skip_large = std::env::var_os("KMS_SYNC_BENCH_SKIP_LARGE").is_some();
        let mut rows = Vec::new();
        for (syncs, workers) in ROWS {
            if skip_large && syncs > 1_000 {
                println!("  {syncs} syncs: skipped (KMS_SYNC_BENCH_SKIP_LARGE)");
                continue;
            }
            let row = scenario(&url, syncs, workers, &proxy).await?;
            println!("  {syncs} syncs, {workers} worker(s) done: claims per worker {:?}", row.claims);
            rows.push(row);
        }
        println!();
        println!("| syncs | workers | first sync: runs/s | DB round trips/run | no-op resync: runs/s | DB round trips/run | KMS reads per poll round (100 sources) | change → destination, poll 1 s (median) | change → destination, webhook (median) |");
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for r in &rows {
            println!(
                "| {} | {} | {:.0} | {:.1} | {:.0} | {:.1} | {} | {} ms | {} ms |",
                r.syncs,
                r.workers,
                r.first_runs_per_s,
                r.first_rt,
                r.noop_runs_per_s,
                r.noop_rt,
                r.poll_reads,
                r.poll_latency.as_millis(),
                r.webhook_latency.as_millis()
            );
        }
        let small: Vec<&Row> = rows.iter().filter(|r| r.syncs == 1_000).collect();
        if let (Some(one), Some(four)) = (small.first(), small.last()) {
            println!(
                "\nscaling 1 → 4 workers: first sync ×{:.2}, no-op resync ×{:.2} (on {cores} cores shared with PostgreSQL and the fake KMS)",
                four.first_runs_per_s / one.first_runs_per_s,
                four.noop_runs_per_s / one.noop_runs_per_s
            );
        }
        for r in &rows {
            if r.poll_reads != FOLDERS {
                return Err(format!("{} workers: {} KMS reads in a poll round, not {FOLDERS}", r.workers, r.poll_reads).into());
            }
        }
        Ok(())
    })
}
