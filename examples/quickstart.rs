//! Quickstart: plan, apply, change one secret, resync — with no account and no network.
//!
//! Run: `cargo run --example quickstart`
//!
//! The source is an in-memory set of secrets and the destination an in-memory service that
//! behaves like Bitbucket's secured variables: values are never read back, one request per
//! key, and a foreign variable someone else manages sits beside ours. A ledger of HMAC
//! fingerprints lets the resync skip values it cannot read.

use std::sync::Arc;

use kms_sync::{
    Fingerprinter, KeyRule, MemoryDestination, MemoryStateStore, SecretSet, StaticSource,
    SyncOptions, Syncer,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = Arc::new(
        StaticSource::new(
            SecretSet::new("prod")
                .with("DATABASE_URL", "postgres://app:s3cret@db/app")
                .with("STRIPE_KEY", "sk_live_example")
                .with("JWT_SECRET", "a-long-random-string"),
        )
        .named("kms:prod:/backend"),
    );
    let destination = Arc::new(
        MemoryDestination::builder()
            .kind("bitbucket-like")
            .target("acme/api")
            .readable_values(false)
            .key_rule(KeyRule::Identifier)
            .case_insensitive_keys(true)
            .build(),
    );
    // Someone else's variable: outside the key schema, so never touched.
    destination.insert("DEPLOY_TOKEN", "not ours")?;

    // In a real service the HMAC key comes from your own secret store.
    let fingerprinter = Fingerprinter::new(b"quickstart-only-hmac-key-change-me".to_vec())?;
    let syncer = Syncer::builder()
        .id("quickstart")
        .source(source.clone())
        .destination(destination.clone())
        .key_schema_template("KMS_{{secretKey}}")
        .options(SyncOptions::default())
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
    let report = syncer.sync().await?;
    println!("{report}");
    let written: Vec<&str> = report
        .keys
        .iter()
        .filter(|k| k.change.is_some())
        .map(|k| k.key.as_str())
        .collect();
    println!(
        "written on resync: {written:?} (writes: {})",
        report.requests.writes()
    );

    println!("\n== 4. Status record (the KMS's field names)\n");
    println!("{}", serde_json::to_string_pretty(&syncer.status())?);

    println!("\n== Destination now holds\n");
    for key in destination.contents()?.keys() {
        println!("  {key}");
    }
    if written != ["KMS_STRIPE_KEY"] {
        return Err("the resync should have written only KMS_STRIPE_KEY".into());
    }
    Ok(())
}
