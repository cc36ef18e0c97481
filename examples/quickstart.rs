//! Quickstart: plan, apply, rotate one secret, resync — against a fake Bitbucket served on
//! 127.0.0.1, with no account and no network beyond loopback.
//!
//! Run: `cargo run --example quickstart`
//!
//! The source is an in-memory set of secrets (the Hanzo KMS source takes its place in a real
//! deployment). The destination is the real Bitbucket destination talking HTTP to the fake:
//! values are written secured and never read back, so a ledger of HMAC fingerprints lets the
//! resync skip the values that did not change. A variable someone else manages sits beside
//! ours and is never touched.

use std::sync::Arc;

use kms_sync::{Destination, Fingerprinter, MemoryStateStore, SecretSet, StaticSource, Syncer};
use kms_sync_bitbucket::fake::{FakeBitbucket, REPOSITORY, WORKSPACE};
use kms_sync_bitbucket::BitbucketConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fake = FakeBitbucket::start().await;
    fake.seed(
        WORKSPACE,
        REPOSITORY,
        None,
        "DEPLOY_TOKEN",
        "not ours",
        true,
    );
    println!("fake Bitbucket at {}\n", fake.base_url());

    let source = Arc::new(
        StaticSource::new(
            SecretSet::new("prod")
                .with("DATABASE_URL", "postgres://app:s3cret@db/app")
                .with("STRIPE_KEY", "sk_live_example")
                .with("JWT_SECRET", "a-long-random-string"),
        )
        .named("kms:prod:/backend"),
    );
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
    source.set("STRIPE_KEY", "sk_live_rotated")?;
    let before = destination.request_stats();
    let report = syncer.sync().await?;
    println!("{report}");
    let written: Vec<&str> = report
        .keys
        .iter()
        .filter(|k| k.change.is_some())
        .map(|k| k.key.as_str())
        .collect();
    let used = destination.request_stats().since(&before);
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
