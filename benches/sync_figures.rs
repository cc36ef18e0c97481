//! End-to-end figures: syncs through the fakes with 20 ms added latency per request. Each
//! scenario runs once and prints requests made and wall time (a table, not criterion: a
//! single sync of 1,000 keys one request at a time takes over 20 s).
//!
//! Run: `cargo bench --bench sync_figures` (about three minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync::{
    Destination, Fingerprinter, MemoryStateStore, SecretSet, StaticSource, SyncOptions, Syncer,
};
use kms_sync_bitbucket::fake::{FakeBitbucket, REPOSITORY, WORKSPACE};
use kms_sync_bitbucket::BitbucketConfig;
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID};
use kms_sync_checkly::ChecklyConfig;
use kms_sync_octopus::fake::{FakeOctopus, SPACE};
use kms_sync_octopus::OctopusConfig;

type Failure = Box<dyn std::error::Error>;

#[derive(Clone, Copy)]
enum Target {
    Bitbucket,
    ChecklyAccount,
    ChecklyGroup,
    Octopus,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Bitbucket => "Bitbucket repository",
            Target::ChecklyAccount => "Checkly account",
            Target::ChecklyGroup => "Checkly group",
            Target::Octopus => "Octopus project",
        }
    }
}

/// Keeps a fake alive while its destination is used.
#[allow(dead_code)]
enum Fake {
    Bitbucket(FakeBitbucket),
    Checkly(FakeChecklyServer),
    Octopus(FakeOctopus),
}

async fn start(target: Target) -> Result<(Fake, Arc<dyn Destination>), Failure> {
    let latency = Duration::from_millis(20);
    Ok(match target {
        Target::Bitbucket => {
            let fake = FakeBitbucket::start().await;
            fake.faults().set_latency(latency);
            let dest =
                Arc::new(fake.destination(BitbucketConfig::repository(WORKSPACE, REPOSITORY))?);
            (Fake::Bitbucket(fake), dest)
        }
        Target::ChecklyAccount | Target::ChecklyGroup => {
            let fake = FakeChecklyServer::start().await;
            fake.faults().set_latency(latency);
            let mut config = ChecklyConfig::account(ACCOUNT_ID);
            if let Target::ChecklyGroup = target {
                config = config.with_group_id(fake.add_group("figures"));
            }
            let dest = Arc::new(fake.destination(config)?);
            (Fake::Checkly(fake), dest)
        }
        Target::Octopus => {
            let fake = FakeOctopus::start().await;
            fake.faults().set_latency(latency);
            fake.add_project("Web", false);
            let dest = Arc::new(fake.destination(OctopusConfig::project(SPACE, "web"))?);
            (Fake::Octopus(fake), dest)
        }
    })
}

fn secrets(n: usize, changed: bool) -> SecretSet {
    let mut s = SecretSet::new("prod");
    for i in 0..n {
        let v = if changed && i == 0 {
            "changed".to_owned()
        } else {
            format!("value-{i}")
        };
        s.insert(format!("SECRET_{i:04}"), v);
    }
    s
}

struct Row {
    target: &'static str,
    n: usize,
    ledger: bool,
    concurrency: usize,
    step: &'static str,
    requests: u64,
    writes: u64,
    ms: u128,
}

async fn scenario(
    target: Target,
    n: usize,
    ledger: bool,
    concurrency: usize,
    steps: &[&'static str],
) -> Result<Vec<Row>, Failure> {
    let (_fake, dest) = start(target).await?;
    let source = Arc::new(StaticSource::new(secrets(n, false)));
    let mut builder = Syncer::builder()
        .source(source.clone())
        .destination(dest.clone())
        .key_schema_template("KMS_{{secretKey}}")
        .options(SyncOptions::default().with_concurrency(concurrency));
    if ledger {
        builder = builder.state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![1; 32])?,
        );
    }
    let syncer = builder.build()?;
    let mut rows = Vec::new();
    for step in steps {
        if *step == "1 change" {
            source.replace(secrets(n, true))?;
        }
        let started = Instant::now();
        let report = syncer.sync().await?;
        let ms = started.elapsed().as_millis();
        if !report.is_success() {
            return Err(format!("{} {step} failed: {report}", target.name()).into());
        }
        // Plan (list pages) and apply (writes) together.
        let used = report.requests;
        rows.push(Row {
            target: target.name(),
            n,
            ledger,
            concurrency,
            step,
            requests: used.total(),
            writes: used.writes(),
            ms,
        });
    }
    Ok(rows)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Failure> {
    let all = ["first sync", "no-op resync", "1 change"];
    let mut rows = Vec::new();
    for target in [Target::Bitbucket, Target::ChecklyAccount] {
        for n in [100, 1_000] {
            for ledger in [true, false] {
                rows.extend(scenario(target, n, ledger, 8, &all).await?);
            }
            let baseline: &[&'static str] = if n == 100 { &all } else { &["first sync"] };
            rows.extend(scenario(target, n, true, 1, baseline).await?);
        }
    }
    // A check group holds at most 200 variables and is written in one PUT.
    for n in [100, 200] {
        for ledger in [true, false] {
            rows.extend(scenario(Target::ChecklyGroup, n, ledger, 1, &all).await?);
        }
    }
    // An Octopus variable set is read in one GET and written in one PUT.
    for n in [100, 1_000] {
        for ledger in [true, false] {
            rows.extend(scenario(Target::Octopus, n, ledger, 1, &all).await?);
        }
    }
    println!(
        "| destination | keys | ledger | concurrency | step | requests | writes | wall time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ms |",
            r.target,
            r.n,
            if r.ledger { "yes" } else { "no" },
            r.concurrency,
            r.step,
            r.requests,
            r.writes,
            r.ms
        );
    }
    Ok(())
}
