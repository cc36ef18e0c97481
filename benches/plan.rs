//! Planning at scale: `plan()` for 1k, 10k and 100k keys.
//!
//! - `readable`: values come back from the destination and are compared directly.
//! - `hidden+ledger`: every value is hidden and the ledger holds a fingerprint for each, so
//!   the plan computes one HMAC-SHA256 per key (the expensive, realistic case for
//!   Bitbucket, Checkly and Octopus).
//! - `hidden`: hidden values without a ledger (everything is an update).
//!
//! Run: `cargo bench --bench plan`. Target: 100k keys with fingerprints ≤ 100 ms median.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kms_sync::{
    plan, DeletionGuard, Fingerprinter, Ledger, MemoryDestination, PlanInput, PlanOptions,
    RemoteEntry, RemoteValue, SecretSet, SecretValue, Snapshot, TemplateKeySchema,
};

struct Case {
    source: SecretSet,
    snapshot: Snapshot,
    ledger: Option<Ledger>,
}

fn case(n: usize, readable: bool, with_ledger: bool, fp: &Fingerprinter) -> Case {
    let mut source = SecretSet::new("prod");
    let mut entries = Vec::with_capacity(n + n / 10);
    let mut ledger = Ledger::default();
    for i in 0..n {
        let key = format!("SECRET_{i:06}");
        let value = SecretValue::new(format!("value-{i}-{}", "x".repeat(24)));
        let dest_key = format!("KMS_{key}");
        let remote = if readable {
            RemoteValue::Known(value.clone())
        } else {
            RemoteValue::Hidden
        };
        let id = format!("{{{i:08x}-0000-4000-8000-000000000000}}");
        if with_ledger {
            ledger.record(
                dest_key.clone(),
                Some(id.clone()),
                fp.fingerprint(&dest_key, &value),
            );
        }
        entries.push(RemoteEntry::new(dest_key, remote).with_id(id));
        source.insert(key, value);
    }
    // Foreign keys the schema does not own.
    for i in 0..n / 10 {
        entries.push(RemoteEntry::new(format!("OTHER_{i}"), RemoteValue::Hidden));
    }
    Case {
        source,
        snapshot: Snapshot::new(entries),
        ledger: with_ledger.then_some(ledger),
    }
}

fn bench_plan(c: &mut Criterion) {
    let fp = match Fingerprinter::new(vec![42; 32]) {
        Ok(fp) => fp,
        Err(e) => panic!("{e}"),
    };
    let schema = match TemplateKeySchema::parse("KMS_{{secretKey}}") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let destination = MemoryDestination::builder().build();
    let mut group = c.benchmark_group("plan");
    group.sample_size(20);
    for n in [1_000usize, 10_000, 100_000] {
        for (label, readable, with_ledger) in [
            ("readable", true, false),
            ("hidden+ledger", false, true),
            ("hidden", false, false),
        ] {
            let case = case(n, readable, with_ledger, &fp);
            group.bench_with_input(BenchmarkId::new(label, n), &case, |b, case| {
                b.iter(|| {
                    let plan = plan(PlanInput {
                        source: &case.source,
                        source_name: "bench",
                        snapshot: &case.snapshot,
                        schema: &schema,
                        destination: &destination,
                        ledger: case.ledger.as_ref(),
                        claim_unrecorded: false,
                        fingerprinter: Some(&fp),
                        options: PlanOptions {
                            disable_secret_deletion: false,
                            deletion_guard: DeletionGuard::default(),
                        },
                    });
                    match plan {
                        Ok(plan) => black_box(plan.counts()),
                        Err(e) => panic!("{e}"),
                    }
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
