//! Database round trips per run, counted by a loopback proxy in front of the worker's
//! PostgreSQL connections (each time the worker sends after the server answered is one;
//! statements sent together count once). A run — its share of the claim, the read of its
//! sync, connection and ledger, the ledger's claims before writing, the end with its ledger
//! update — costs at most five, so the fleet bench's figure cannot creep back up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::{Operation, Result};
use kms_sync_fleet::{KeyRing, PgPool, SyncId, SyncRegistry, TriggerCause};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::{connection, destinations, quiescent, sync, worker, Running, Sources, TrackedFactory};
use crate::support::{fail, TestDb};

/// The most round trips a run may cost.
const MOST_PER_RUN: f64 = 5.0;

/// A loopback proxy that counts round trips, and where it listens.
struct Counter {
    addr: SocketAddr,
    round_trips: Arc<AtomicU64>,
}

impl Counter {
    async fn start(upstream: SocketAddr) -> Result<Counter> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
        let addr = listener.local_addr().map_err(fail)?;
        let round_trips = Arc::new(AtomicU64::new(0));
        let counter = round_trips.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let awaiting = Arc::new(AtomicBool::new(false));
                tokio::spawn(copy(cr, sw, awaiting.clone(), Some(counter.clone())));
                tokio::spawn(copy(sr, cw, awaiting, None));
            }
        });
        Ok(Counter { addr, round_trips })
    }

    fn count(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }
}

/// Copies one direction: a client's send after the server's answer starts a round trip.
async fn copy(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    awaiting: Arc<AtomicBool>,
    counter: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        match &counter {
            Some(c) if !awaiting.swap(true, Ordering::SeqCst) => {
                c.fetch_add(1, Ordering::SeqCst);
            }
            Some(_) => {}
            None => awaiting.store(false, Ordering::SeqCst),
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A registry for the worker on a small pool reaching the test's server through `proxy`.
async fn proxied_registry(
    db: &TestDb,
    tracked: &TrackedFactory,
    proxy: &Counter,
) -> Result<SyncRegistry> {
    let pg: tokio_postgres::Config = db.url().parse().map_err(fail)?;
    let user = pg.get_user().unwrap_or("postgres");
    let dbname = pg.get_dbname().unwrap_or("postgres");
    let url = format!("postgres://{user}@{}/{dbname}", proxy.addr);
    let config = db.config().url(url).pool_size(4).build()?;
    SyncRegistry::builder(PgPool::connect(config).await?, destinations(tracked))
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .build()
}

/// The server's address, from the test's URL.
async fn upstream(db: &TestDb) -> Result<SocketAddr> {
    let pg: tokio_postgres::Config = db.url().parse().map_err(fail)?;
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    tokio::net::lookup_host(format!("{host}:{port}"))
        .await
        .map_err(fail)?
        .next()
        .ok_or_else(|| kms_sync_core::Error::config("the test database host does not resolve"))
}

/// `n` syncs named `<prefix><i>`, each its own target.
async fn syncs(registry: &SyncRegistry, prefix: &str, n: usize) -> Result<Vec<SyncId>> {
    let conn = match registry
        .connections()
        .list("fleet-memory", None)
        .await?
        .pop()
    {
        Some(c) => c,
        None => connection(registry).await?,
    };
    let mut ids = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}{i}");
        ids.push(sync(registry, &conn, &name, &name, false, "").await?.id);
    }
    Ok(ids)
}

/// Round trips per run while `ids` run once (manual triggers), the worker already warm.
async fn per_run(
    db: &TestDb,
    setup: &SyncRegistry,
    proxy: &Counter,
    ids: &[SyncId],
) -> Result<f64> {
    let before = proxy.count();
    setup
        .jobs()
        .trigger_many(ids, Operation::Sync, TriggerCause::Manual)
        .await?;
    quiescent(db, Duration::from_secs(60)).await?;
    let runs = ids.len() as f64;
    Ok((proxy.count() - before) as f64 / runs)
}

#[tokio::test]
async fn a_run_costs_at_most_five_round_trips() -> Result<()> {
    let db = db!("fleet::round_trips::a_run_costs_at_most_five_round_trips");
    let tracked = TrackedFactory::default();
    let setup = super::registry(&db, &tracked).await?;
    let warm = syncs(&setup, "warm", 16).await?;
    let proxy = Counter::start(upstream(&db).await?).await?;
    let registry = proxied_registry(&db, &tracked, &proxy).await?;
    let sources: Arc<Sources> = Arc::default();
    let w = worker(registry, sources, "counted")
        .concurrency(4)
        .build()?;
    let running = Running::start(vec![w]);
    // Warm: every pooled connection opened and its statements prepared.
    per_run(&db, &setup, &proxy, &warm).await?;
    let fresh = syncs(&setup, "fresh", 40).await?;
    let writing = per_run(&db, &setup, &proxy, &fresh).await?;
    let unchanged = per_run(&db, &setup, &proxy, &fresh).await?;
    let summaries = running.stop().await?;
    assert_eq!(summaries[0].succeeded, 16 + 40 + 40, "{summaries:?}");
    assert!(
        tracked.destination("fresh7").value("VALUE")?.is_some(),
        "the runs wrote"
    );
    assert!(
        writing <= MOST_PER_RUN,
        "a first sync costs {writing:.2} round trips per run"
    );
    assert!(
        unchanged <= MOST_PER_RUN,
        "a resync with nothing to write costs {unchanged:.2} round trips per run"
    );
    db.finish().await
}
