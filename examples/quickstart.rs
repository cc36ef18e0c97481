//! Quickstart: plan, apply, rotate one secret, resync — from a fake Hanzo KMS to a fake
//! Bitbucket, both served on 127.0.0.1: no account, no network beyond loopback.
//!
//! Run: `cargo run --example quickstart`
//!
//! The source is the real KMS source (Universal Auth login, secret imports, references)
//! talking HTTP to the fake KMS; the destination is the real Bitbucket destination talking
//! HTTP to the fake Bitbucket. Values are written secured and never read back, so a ledger
//! of HMAC fingerprints lets the resync skip the values that did not change. A variable
//! someone else manages sits beside ours and is never touched.

use std::sync::Arc;

use kms_sync::{Fingerprinter, MemoryStateStore, Syncer};
use kms_sync_bitbucket::fake::{FakeBitbucket, REPOSITORY, WORKSPACE};
use kms_sync_bitbucket::BitbucketConfig;
use kms_sync_hanzo::fake::FakeKms;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/backend", "DB_HOST", "db.internal");
    kms.set(
        "prod",
        "/backend",
        "DATABASE_URL",
        "postgres://app:s3cret@${DB_HOST}/app",
    );
    kms.set("prod", "/backend", "STRIPE_KEY", "sk_live_example");
    kms.set("prod", "/shared", "JWT_SECRET", "a-long-random-string");
    kms.add_import("prod", "/backend", "prod", "/shared");
    let fake = FakeBitbucket::start().await;
    fake.seed(
        WORKSPACE,
        REPOSITORY,
        None,
        "DEPLOY_TOKEN",
        "not ours",
        true,
    );
    println!(
        "fake KMS at {}, fake Bitbucket at {}\n",
        kms.base_url(),
        fake.base_url()
    );

    let source = Arc::new(kms.source("prod", "/backend"));
    let destination =
        Arc::new(fake.destination(BitbucketConfig::repository(WORKSPACE, REPOSITORY))?);

    // In a real service the HMAC key comes from your own secret store.
    let fingerprinter = Fingerprinter::new(b"quickstart-only-hmac-key-change-me".to_vec())?;
    let syncer = Syncer::builder()
        .id("quickstart")
        .source(source.clone())
        .destination(destination.clone())
        .key_schema_template("KMS_{{secretKey}}")
        .state(Arc::new(MemoryStateStore::default()), fingerprinter)
        .build()?;

    println!("== 1. Plan (nothing written yet)\n");
    let plan = syncer.plan().await?;
    println!("{plan}\n");

    println!("== 2. Apply\n");
    let report = syncer.apply(&plan).await?;
    println!("{report}");

    println!("== 3. Rotate one secret at the source and resync\n");
    kms.set("prod", "/backend", "STRIPE_KEY", "sk_live_rotated");
    let report = syncer.sync().await?;
    println!("{report}");
    let written: Vec<&str> = report
        .keys
        .iter()
        .filter(|k| k.change.is_some())
        .map(|k| k.key.as_str())
        .collect();
    let used = report.requests; // this run's requests, counted by the engine
    println!(
        "written on resync: {written:?} ({} requests: {} list page(s) and {} write)",
        used.total(),
        used.get,
        used.writes()
    );

    println!("\n== 4. Status record (the KMS's field names)\n");
    println!("{}", serde_json::to_string_pretty(&syncer.status())?);

    println!("\n== Bitbucket now holds\n");
    for (key, (_, secured)) in fake.variables(WORKSPACE, REPOSITORY, None) {
        println!("  {key}{}", if secured { " (secured)" } else { "" });
    }
    if written != ["KMS_STRIPE_KEY"] {
        return Err("the resync should have written only KMS_STRIPE_KEY".into());
    }
    Ok(())
}
