//! The stop signal: after `StopSignal::stop` no new write starts (deletes never), writes in
//! flight get the grace and are then reported unconfirmed with their claims kept, the rest
//! are not attempted ("interrupted"), the ledger is saved, the report says interrupted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::*;

fn set(keys: &[&str]) -> SecretSet {
    let mut set = SecretSet::new("prod");
    for k in keys {
        set.insert(*k, format!("value-of-{k}"));
    }
    set
}

const TEN: [&str; 10] = ["K0", "K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "K9"];

struct Bench {
    memory: MemoryDestination,
    store: Arc<MemoryStateStore>,
    signal: StopSignal,
    calls: Arc<AtomicUsize>,
}

/// What the hook does at the write call it is told about.
#[derive(Clone, Copy)]
enum AtCall {
    /// Stops the run, and the write goes on.
    Stop(usize),
    /// Stops the run, and the write never answers.
    StopAndHang(usize),
}

impl Bench {
    fn new(mode: WriteMode) -> Bench {
        let memory = MemoryDestination::builder()
            .write_mode(mode)
            .readable_values(false)
            .concurrency(1)
            .build();
        memory.insert("FOREIGN", "theirs").expect("insert");
        Bench {
            memory,
            store: Arc::new(MemoryStateStore::default()),
            signal: StopSignal::new(),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn syncer(&self, keys: &[&str], at: Option<AtCall>) -> Syncer {
        let (signal, calls) = (self.signal.clone(), self.calls.clone());
        let hook = move |n: usize| {
            calls.fetch_add(1, Ordering::SeqCst);
            let signal = signal.clone();
            async move {
                match at {
                    Some(AtCall::Stop(k)) if k == n => signal.stop(),
                    Some(AtCall::StopAndHang(k)) if k == n => {
                        signal.stop();
                        std::future::pending::<()>().await;
                    }
                    _ => {}
                }
            }
        };
        let destination = kms_sync_testkit::before_apply(Arc::new(self.memory.clone()), hook);
        Syncer::builder()
            .id("stopped")
            .source(Arc::new(StaticSource::new(set(keys))))
            .destination(Arc::new(destination))
            .key_schema_template("KMS_{{secretKey}}")
            .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()))
            .state(
                self.store.clone(),
                Fingerprinter::new(vec![4; 32]).expect("fp"),
            )
            .stop_signal(self.signal.clone())
            .stop_grace(Duration::from_secs(2))
            .build()
            .expect("syncer")
    }

    fn held(&self) -> Vec<String> {
        self.memory
            .contents()
            .expect("contents")
            .into_keys()
            .collect()
    }

    async fn ledger(&self) -> Ledger {
        self.store
            .load("stopped")
            .await
            .expect("load")
            .unwrap_or_default()
    }
}

fn interrupted_note(report: &SyncReport, key: &str) -> bool {
    report
        .key(key)
        .and_then(|k| k.note.as_deref())
        .is_some_and(|n| n.contains("interrupted"))
}

#[tokio::test(start_paused = true)]
async fn no_write_starts_after_a_stop_and_every_written_key_is_recorded() {
    let bench = Bench::new(WriteMode::PerKey);
    let report = bench
        .syncer(&TEN, Some(AtCall::Stop(3)))
        .sync()
        .await
        .expect("sync");
    assert_eq!(
        bench.calls.load(Ordering::SeqCst),
        4,
        "no write after the stop"
    );
    assert!(report.interrupted, "{report}");
    assert_eq!(
        report.counts.created, 4,
        "the write in flight finished: {report}"
    );
    assert_eq!(report.counts.not_attempted, 6, "{report}");
    assert!(interrupted_note(&report, "KMS_K4"), "{report}");
    assert!(
        report.to_string().starts_with("interrupted sync"),
        "{report}"
    );
    let message = report.status.last_sync_message.clone().unwrap_or_default();
    assert!(message.contains("interrupted"), "{message}");
    assert_eq!(bench.held().len(), 5, "FOREIGN and four created");
    let ledger = bench.ledger().await;
    for key in ["KMS_K0", "KMS_K1", "KMS_K2", "KMS_K3"] {
        let entry = ledger.get(key).expect("recorded");
        assert!(entry.fingerprint.is_some(), "{key} confirmed");
    }
    assert!(
        ledger.get("KMS_K4").is_none(),
        "a claim never written is withdrawn"
    );
    assert!(!ledger.is_settled());
}

#[tokio::test(start_paused = true)]
async fn a_write_in_flight_past_the_grace_is_unconfirmed_and_keeps_its_claim() {
    let bench = Bench::new(WriteMode::PerKey);
    let report = bench
        .syncer(&TEN, Some(AtCall::StopAndHang(2)))
        .sync()
        .await
        .expect("sync");
    assert!(report.interrupted, "{report}");
    assert_eq!(bench.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        report.keys_with(KeyStatus::Unconfirmed),
        ["KMS_K2"],
        "{report}"
    );
    let error = report
        .key("KMS_K2")
        .and_then(|k| k.error.clone())
        .expect("error");
    assert!(error.to_string().contains("interrupted"), "{error}");
    assert_eq!(report.counts.not_attempted, 7, "{report}");
    let ledger = bench.ledger().await;
    let claim = ledger.get("KMS_K2").expect("the claim stays");
    assert!(claim.fingerprint.is_none());
    // The next run (no stop) rewrites the claimed key and settles.
    let next = Bench {
        signal: StopSignal::new(),
        ..bench
    };
    let report = next.syncer(&TEN, None).sync().await.expect("next sync");
    assert!(report.is_success() && !report.interrupted, "{report}");
    assert!(next.ledger().await.is_settled());
}

#[tokio::test(start_paused = true)]
async fn deletes_never_start_after_a_stop() {
    let bench = Bench::new(WriteMode::PerKey);
    let first = bench
        .syncer(&["A", "B", "C"], None)
        .sync()
        .await
        .expect("first");
    assert!(first.is_success(), "{first}");
    let report = bench
        .syncer(&["D"], Some(AtCall::Stop(0)))
        .sync()
        .await
        .expect("sync");
    assert!(report.interrupted, "{report}");
    assert_eq!(report.counts.created, 1, "{report}");
    assert_eq!(report.counts.deleted, 0, "{report}");
    for key in ["KMS_A", "KMS_B", "KMS_C"] {
        assert!(interrupted_note(&report, key), "{report}");
        assert!(bench.held().contains(&key.to_owned()));
        assert!(bench.ledger().await.get(key).is_some(), "still owned");
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_in_flight_past_the_grace_is_unconfirmed_with_every_claim_kept() {
    let bench = Bench::new(WriteMode::Batch);
    let report = bench
        .syncer(&["A", "B"], Some(AtCall::StopAndHang(0)))
        .sync()
        .await
        .expect("sync");
    assert!(report.interrupted, "{report}");
    assert_eq!(report.counts.unconfirmed, 2, "{report}");
    let ledger = bench.ledger().await;
    assert!(ledger.get("KMS_A").is_some() && ledger.get("KMS_B").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_stop_before_the_run_writes_nothing() {
    let bench = Bench::new(WriteMode::PerKey);
    bench.signal.stop();
    let err = bench
        .syncer(&TEN, None)
        .sync()
        .await
        .expect_err("stopped while reading");
    assert_eq!(err.kind(), ErrorKind::NotAttempted);
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert_eq!(bench.calls.load(Ordering::SeqCst), 0);
    assert_eq!(bench.held(), ["FOREIGN"]);
}
