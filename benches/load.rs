//! The load figures: a first sync of 10,000 keys (and 1 and 1,000, to show memory grows
//! linearly) into each destination's fake, with the fake enforcing the destination's real
//! rate budget and answering 429 past it. Each run prints its time, its requests, the 429s
//! the fake sent, the keys that failed, the requests of the no-op resync that follows, and
//! the process's peak resident memory.
//!
//! Each (destination, keys) pair runs in a child process of its own, so that each peak
//! memory figure is that run's alone.
//!
//! The budgets are the real ones (Bitbucket 1,000 requests per hour, Checkly 600 per minute,
//! Octopus 200 per minute, GitHub 5,000 per hour for a personal access token, GitLab.com 2,000
//! per minute) with their windows shortened so that each allows 100 requests a
//! second: the same count per window, the same bursts, the same pacing decisions, in minutes
//! instead of hours. `--real-time` keeps the real windows (10,000 Bitbucket keys then take
//! about eleven hours; Checkly about nineteen minutes).
//!
//! GitHub holds at most 1,000 secrets in an organization (its largest scope), so its row
//! syncs at most that many keys into an organization and says so in the keys column.
//!
//! Run: `cargo bench --bench load` (about five minutes), or
//! `cargo bench --bench load -- --keys 1,1000,10000 --real-time`.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_sync::{
    Destination, Fingerprinter, KeyStatus, MemoryStateStore, RateBudget, SecretSet, StaticSource,
    SyncOptions, Syncer,
};
use kms_sync_bitbucket::fake::{FakeBitbucket, REPOSITORY, WORKSPACE};
use kms_sync_bitbucket::{BitbucketConfig, BitbucketDestination};
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID};
use kms_sync_checkly::{ChecklyConfig, ChecklyDestination};
use kms_sync_github::fake::{FakeGithub, ORG};
use kms_sync_github::{GithubConfig, GithubDestination, Visibility};
use kms_sync_gitlab::fake::{FakeGitlab, PROJECT_PATH};
use kms_sync_gitlab::{GitlabConfig, GitlabDestination};
use kms_sync_octopus::fake::{FakeOctopus, SPACE};
use kms_sync_octopus::{OctopusConfig, OctopusDestination};
use kms_sync_testkit::{fake_client_settings, Faults};

type Failure = Box<dyn std::error::Error>;

const DESTINATIONS: &[&str] = &["bitbucket", "checkly", "octopus", "github", "gitlab"];

/// The requests per second a shortened window allows.
const SCALED_RATE: f64 = 100.0;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let real_time = args.iter().any(|a| a == "--real-time");
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let destination = args.get(at + 1).ok_or("--child needs a destination")?;
        let keys: usize = args
            .get(at + 2)
            .ok_or("--child needs a key count")?
            .parse()?;
        return child(destination, keys, real_time);
    }
    let keys: Vec<usize> = match args.iter().position(|a| a == "--keys") {
        Some(at) => args
            .get(at + 1)
            .ok_or("--keys needs a list, e.g. 1,1000,10000")?
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?,
        None => vec![1, 1_000, 10_000],
    };
    let exe = std::env::current_exe()?;
    println!(
        "| destination | keys | budget enforced by the fake | time | requests | 429s | failed keys | resync requests | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for destination in DESTINATIONS {
        for n in &keys {
            let mut command = Command::new(&exe);
            command.args(["--child", destination, &n.to_string()]);
            if real_time {
                command.arg("--real-time");
            }
            let output = command.output()?;
            if !output.status.success() {
                return Err(format!(
                    "{destination} with {n} keys failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
                .into());
            }
            print!("{}", String::from_utf8_lossy(&output.stdout));
        }
    }
    Ok(())
}

/// Keeps a fake alive while its destination is used.
#[allow(dead_code)]
enum Fake {
    Bitbucket(FakeBitbucket),
    Checkly(FakeChecklyServer),
    Octopus(FakeOctopus),
    Github(FakeGithub),
    Gitlab(FakeGitlab),
}

impl Fake {
    fn faults(&self) -> &Faults {
        match self {
            Fake::Bitbucket(f) => f.faults(),
            Fake::Checkly(f) => f.faults(),
            Fake::Octopus(f) => f.faults(),
            Fake::Github(f) => f.faults(),
            Fake::Gitlab(f) => f.faults(),
        }
    }
}

/// The real budget, and the one the fake enforces (its window shortened unless real time).
fn budgets(real: RateBudget, real_time: bool) -> RateBudget {
    if real_time {
        return real;
    }
    let window = Duration::from_secs_f64(f64::from(real.requests()) / SCALED_RATE);
    RateBudget::new(real.requests(), window)
}

async fn start(
    destination: &str,
    real_time: bool,
) -> Result<(Fake, Arc<dyn Destination>, RateBudget), Failure> {
    let paced = |base_url: String, budget: RateBudget| {
        fake_client_settings(base_url).with_rate_budget(budget)
    };
    Ok(match destination {
        "bitbucket" => {
            let fake = FakeBitbucket::start().await;
            let budget = budgets(kms_sync_bitbucket::documented_budget(), real_time);
            let dest = BitbucketDestination::builder(
                fake.connection(),
                BitbucketConfig::repository(WORKSPACE, REPOSITORY),
            )
            .settings(paced(fake.base_url(), budget))
            .build()?;
            (Fake::Bitbucket(fake), Arc::new(dest), budget)
        }
        "checkly" => {
            let fake = FakeChecklyServer::start().await;
            let budget = budgets(kms_sync_checkly::documented_budget(), real_time);
            let dest =
                ChecklyDestination::builder(fake.connection(), ChecklyConfig::account(ACCOUNT_ID))
                    .settings(paced(fake.base_url(), budget))
                    .build()?;
            (Fake::Checkly(fake), Arc::new(dest), budget)
        }
        "github" => {
            let fake = FakeGithub::start().await;
            let budget = budgets(kms_sync_github::documented_budget(), real_time);
            // Its headers announce an hourly quota, which would undo the shortened window.
            fake.set_rate_headers(real_time);
            let dest = GithubDestination::builder(
                fake.connection(),
                GithubConfig::organization(ORG, Visibility::All),
            )
            .settings(paced(fake.base_url(), budget))
            .build()?;
            (Fake::Github(fake), Arc::new(dest), budget)
        }
        "gitlab" => {
            let fake = FakeGitlab::start().await;
            let budget = budgets(kms_sync_gitlab::documented_budget(), real_time);
            let dest =
                GitlabDestination::builder(fake.connection(), GitlabConfig::project(PROJECT_PATH))
                    .settings(paced(fake.base_url(), budget))
                    .build()?;
            (Fake::Gitlab(fake), Arc::new(dest), budget)
        }
        _ => {
            let fake = FakeOctopus::start().await;
            fake.add_project("Web", false);
            let budget = budgets(kms_sync_octopus::assumed_budget(), real_time);
            let dest = OctopusDestination::builder(
                fake.connection(),
                OctopusConfig::project(SPACE, "web"),
            )
            .settings(paced(fake.base_url(), budget))
            .build()?;
            (Fake::Octopus(fake), Arc::new(dest), budget)
        }
    })
}

/// Peak resident memory of this process so far (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn child(destination: &str, keys: usize, real_time: bool) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (fake, dest, budget) = start(destination, real_time).await?;
        let asked = keys;
        let keys = match destination {
            "github" => keys.min(kms_sync_github::MAX_ORGANIZATION_SECRETS),
            _ => keys,
        };
        fake.faults()
            .set_budget(budget.requests() as usize, budget.per());
        let mut secrets = SecretSet::new("prod");
        for i in 0..keys {
            secrets.insert(format!("LOAD_{i:05}"), format!("value-{i:05}-{}", "x".repeat(24)));
        }
        let syncer = Syncer::builder()
            .id("load")
            .source(Arc::new(StaticSource::new(secrets)))
            .destination(dest)
            .key_schema_template("KMS_{{secretKey}}")
            .options(SyncOptions::default())
            .state(
                Arc::new(MemoryStateStore::default()),
                Fingerprinter::new(vec![7; 32])?,
            )
            .build()?;
        let started = Instant::now();
        let report = syncer.sync().await?;
        let took = started.elapsed();
        let failed = report.keys_with(KeyStatus::Failed).len();
        let requests = report.requests.total();
        let resync = syncer.sync().await?;
        let refused = fake.faults().budget_refusals();
        let log_429 = fake.faults().log().iter().filter(|r| r.status == 429).count();
        println!(
            "| {destination} | {keys}{} | {} per {:.1} s | {:.1} s | {requests} | {} | {failed} | {} | {:.0} MiB |",
            if asked > keys { format!(" (of {asked}: the scope's limit)") } else { String::new() },
            budget.requests(),
            budget.per().as_secs_f64(),
            took.as_secs_f64(),
            refused.max(log_429),
            resync.requests.total(),
            peak_rss_mib().unwrap_or(f64::NAN),
        );
        if failed > 0 || refused.max(log_429) > 0 {
            return Err(format!(
                "{destination}: {failed} failed keys, {} 429s",
                refused.max(log_429)
            )
            .into());
        }
        Ok(())
    })
}
