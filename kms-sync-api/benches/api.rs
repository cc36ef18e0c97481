//! The API's figures: 10,000 syncs in 100 projects (one connection and 100 syncs each) on
//! the local PostgreSQL, served on 127.0.0.1 and called over loopback HTTP with a full
//! access token:
//!
//! - **get** (`GET /api/v1/secret-syncs/bitbucket/{id}`, a random sync) and **list**
//!   (`GET /api/v1/secret-syncs/bitbucket?projectId=`, a random project's 100 syncs):
//!   criterion's estimate, then p50 and p99 of 2,000 sequential calls each;
//! - **requests per second**: 4,000 gets from 16 concurrent clients.
//!
//! Run: `cargo bench -p kms-sync-api --bench api` (seeding takes a minute or two). The
//! server is `KMS_SYNC_TEST_DATABASE_URL` or the local PostgreSQL; without one the bench
//! says so and exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kms_sync_api::{ApiBuilder, Auth, RateLimit};
use kms_sync_core::{AppConnectionDefinition, DestinationRegistry};
use kms_sync_fleet::{KeyRing, SyncRegistry};

const PROJECTS: usize = 100;
const PER_PROJECT: usize = 100;
const CALLS: usize = 2_000;
const TOKEN: &str = "kms-sync-api-bench-token-0123456789";

type Failure = Box<dyn std::error::Error + Send + Sync>;

struct Served {
    base: String,
    client: reqwest::Client,
    projects: Vec<String>,
    syncs: Vec<String>,
}

fn project(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-000000000000")
}

/// One project: its connection and its syncs; the syncs' ids.
async fn seed_project(registry: &SyncRegistry, project: &str) -> Result<Vec<String>, Failure> {
    let connection = AppConnectionDefinition::from_json(&format!(
        r#"{{"name": "bb", "method": "api-token", "projectId": "{project}",
            "credentials": {{"email": "user@example.com", "apiToken": "bench-token"}}}}"#
    ))?;
    let conn = registry
        .connections()
        .create("bitbucket", &connection)
        .await?;
    let mut syncs = Vec::with_capacity(PER_PROJECT);
    for s in 0..PER_PROJECT {
        let body = format!(
            r#"{{"name": "sync-{s}", "projectId": "{project}", "connectionId": "{}",
                "environment": "dev", "secretPath": "/app-{s}", "isAutoSyncEnabled": false,
                "syncOptions": {{"initialSyncBehavior": "overwrite-destination"}},
                "destinationConfig": {{"workspaceSlug": "w", "repositorySlug": "r-{s}"}}}}"#,
            conn.id
        );
        let record = registry.syncs().create("bitbucket", &body).await?;
        syncs.push(record.id.to_string());
    }
    Ok(syncs)
}

async fn serve(db: &kms_sync_fleet::testing::TestDb) -> Result<Served, Failure> {
    let destinations = DestinationRegistry::new().with(kms_sync_bitbucket::BitbucketFactory);
    let registry = SyncRegistry::builder(db.pool().await?, destinations)
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .build()?;
    let started = Instant::now();
    let projects: Vec<String> = (0..PROJECTS).map(project).collect();
    let mut syncs = Vec::with_capacity(PROJECTS * PER_PROJECT);
    for p in &projects {
        syncs.extend(seed_project(&registry, p).await?);
    }
    println!(
        "seeded {} syncs in {} projects in {:.1?}",
        syncs.len(),
        projects.len(),
        started.elapsed()
    );
    let unlimited = RateLimit::new(1_000_000, Duration::from_secs(3600))?;
    let router = ApiBuilder::new(registry, Auth::bearer_tokens([TOKEN])?)
        .read_limit(unlimited)
        .write_limit(unlimited)
        .verify_connections(false)
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = kms_sync_api::axum::serve(listener, router).await;
    });
    Ok(Served {
        base,
        client: reqwest::Client::new(),
        projects,
        syncs,
    })
}

/// One `GET path`, answered 2xx and read whole; how long it took.
async fn call(s: &Served, path: &str) -> Duration {
    let started = Instant::now();
    let answer = s
        .client
        .get(format!("{}{path}", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await;
    let ok = match answer {
        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
        Err(_) => false,
    };
    assert!(ok, "{path} failed");
    started.elapsed()
}

fn get_path(s: &Served) -> String {
    let id = &s.syncs[fastrand::usize(..s.syncs.len())];
    format!("/api/v1/secret-syncs/bitbucket/{id}")
}

fn list_path(s: &Served) -> String {
    let p = &s.projects[fastrand::usize(..s.projects.len())];
    format!("/api/v1/secret-syncs/bitbucket?projectId={p}")
}

async fn timings(s: &Served, path: fn(&Served) -> String) -> Vec<Duration> {
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        times.push(call(s, &path(s)).await);
    }
    times
}

fn percentiles(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64) * q) as usize;
        times[i.min(times.len() - 1)]
    };
    println!(
        "{name}: p50 {:.2?}, p99 {:.2?} ({} calls)",
        at(0.50),
        at(0.99),
        times.len()
    );
}

async fn throughput(s: Arc<Served>) -> f64 {
    const CLIENTS: usize = 16;
    const TOTAL: usize = 4_000;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..TOTAL / CLIENTS {
                    call(&s, &get_path(&s)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    TOTAL as f64 / started.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let gate = kms_sync_fleet::testing::database("kms-sync-api-bench", "api");
    let Some(db) = rt.block_on(gate) else {
        println!("no PostgreSQL: the API bench is skipped");
        return;
    };
    let served = match rt.block_on(serve(&db)) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            println!("the API bench could not start: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("api");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("get a sync", |b| {
        b.iter(|| rt.block_on(call(&served, &get_path(&served))))
    });
    group.bench_function("list a project's 100 syncs", |b| {
        b.iter(|| rt.block_on(call(&served, &list_path(&served))))
    });
    group.finish();
    percentiles("get", rt.block_on(timings(&served, get_path)));
    percentiles("list (100 syncs)", rt.block_on(timings(&served, list_path)));
    let rps = rt.block_on(throughput(served.clone()));
    println!("get, 16 concurrent clients: {rps:.0} requests/s");
    let _ = rt.block_on(db.finish());
}

criterion_group!(benches, bench);
criterion_main!(benches);
