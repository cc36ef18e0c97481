//! The engine's rules, the same for every destination: progress per finished change, the
//! deadline, the circuit breaker, confirmation, and protected entries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_sync_core::*;
use tokio::time::{sleep, Instant};

fn source(pairs: &[(&str, &str)]) -> Arc<StaticSource> {
    let mut set = SecretSet::new("test");
    for (k, v) in pairs {
        set.insert(*k, *v);
    }
    Arc::new(StaticSource::new(set))
}

fn keys(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("K{i:02}"), format!("v{i}")))
        .collect()
}

fn source_of(pairs: &[(String, String)]) -> Arc<StaticSource> {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    source(&refs)
}

/// A memory destination whose writer can be made to hang, answer unconfirmed, or mark
/// entries protected, to reach the engine's paths without HTTP.
struct Scripted {
    memory: MemoryDestination,
    hang_writes: AtomicBool,
    hang_list: AtomicBool,
    write_delay: Duration,
    unconfirmed: Mutex<Vec<String>>,
    protected: Vec<String>,
    scope: Option<String>,
}

impl Scripted {
    fn new(memory: MemoryDestination) -> Scripted {
        Scripted {
            memory,
            hang_writes: AtomicBool::new(false),
            hang_list: AtomicBool::new(false),
            write_delay: Duration::ZERO,
            unconfirmed: Mutex::new(Vec::new()),
            protected: Vec::new(),
            scope: None,
        }
    }
}

#[async_trait]
impl Destination for Scripted {
    fn info(&self) -> &DestinationInfo {
        self.memory.info()
    }
    fn rules(&self) -> &dyn KeyRules {
        self.memory.rules()
    }
    async fn list(&self) -> Result<Snapshot> {
        if self.hang_list.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let listed = self.memory.list().await?;
        let entries = listed
            .entries()
            .iter()
            .map(|e| match self.protected.iter().any(|p| p == e.key()) {
                true => e
                    .clone()
                    .with_state(EntryState::protected("locked by the service")),
                false => e.clone(),
            })
            .collect();
        Ok(Snapshot::new(entries))
    }
    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        Ok(self.scope.clone())
    }
}

#[async_trait]
impl PerKeyWriter for Scripted {
    async fn write(&self, change: &Change) -> Result<Applied> {
        if self.hang_writes.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        sleep(self.write_delay).await;
        let unconfirmed = self
            .unconfirmed
            .lock()
            .map_err(|_| Error::unexpected("poisoned"))?
            .contains(&change.key);
        if unconfirmed {
            // The service answered 2xx with a body nobody can read, and applied nothing.
            return Err(Error::new(
                ErrorKind::Unconfirmed,
                "an unreadable 2xx answer",
            ));
        }
        let Writer::PerKey(inner) = self.memory.writer() else {
            return Err(Error::unexpected("memory writes per key here"));
        };
        inner.write(change).await
    }
}

fn ledger() -> (Arc<MemoryStateStore>, Fingerprinter) {
    let fp = Fingerprinter::new(b"engine-rules-test-hmac-key-0123456".to_vec());
    (
        Arc::new(MemoryStateStore::default()),
        fp.unwrap_or_else(|e| panic!("{e}")),
    )
}

#[tokio::test(start_paused = true)]
async fn progress_moves_while_a_paced_apply_runs() -> Result<()> {
    let mut scripted = Scripted::new(MemoryDestination::builder().build());
    scripted.write_delay = Duration::from_secs(1);
    let progress = Arc::new(Progress::new());
    let syncer = Arc::new(
        Syncer::builder()
            .source(source_of(&keys(10)))
            .destination(Arc::new(scripted))
            .options(SyncOptions::default().with_concurrency(1))
            .progress(progress.clone())
            .build()?,
    );
    let running = tokio::spawn({
        let syncer = syncer.clone();
        async move { syncer.sync().await }
    });
    let mut seen = Vec::new();
    while !running.is_finished() {
        sleep(Duration::from_millis(1_500)).await;
        seen.push(progress.done());
    }
    let report = running
        .await
        .map_err(|e| Error::unexpected(e.to_string()))??;
    assert_eq!(report.counts.created, 10, "{report}");
    assert!(
        seen.iter().any(|&d| d > 0 && d < 10),
        "progress must reach intermediate values while writes run: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_destination_that_hangs_on_every_write_ends_at_the_deadline() -> Result<()> {
    let scripted = Scripted::new(MemoryDestination::builder().build());
    scripted.hang_writes.store(true, Ordering::SeqCst);
    let syncer = Syncer::builder()
        .source(source_of(&keys(24)))
        .destination(Arc::new(scripted))
        .options(
            SyncOptions::default()
                .with_concurrency(4)
                .with_deadline(Duration::from_secs(30)),
        )
        .build()?;
    let started = Instant::now();
    let report = syncer.sync().await?;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
    // The four in flight were cut off (they may have been applied); the rest never started.
    assert_eq!(report.counts.unconfirmed, 4, "{report}");
    assert_eq!(report.counts.not_attempted, 20, "{report}");
    assert!(!report.is_success());
    assert_eq!(syncer.status().sync_status, Some(RunStatus::Failed));
    let message = syncer.status().last_sync_message.unwrap_or_default();
    assert!(message.contains("20 not attempted"), "{message}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn without_a_deadline_set_a_hanging_destination_ends_at_the_default() -> Result<()> {
    let scripted = Scripted::new(MemoryDestination::builder().build());
    scripted.hang_writes.store(true, Ordering::SeqCst);
    let syncer = Syncer::builder()
        .source(source_of(&keys(5)))
        .destination(Arc::new(scripted))
        .build()?;
    let started = Instant::now();
    let report = syncer.sync().await?;
    let took = started.elapsed();
    assert!(took >= DEFAULT_APPLY_DEADLINE, "{took:?}");
    assert!(
        took < DEFAULT_READ_DEADLINE + DEFAULT_APPLY_DEADLINE,
        "{took:?}"
    );
    assert_eq!(
        report.counts.unconfirmed + report.counts.not_attempted,
        5,
        "{report}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_list_that_never_answers_fails_at_the_read_deadline_writing_nothing() -> Result<()> {
    let memory = MemoryDestination::builder().build();
    let scripted = Scripted::new(memory.clone());
    scripted.hang_list.store(true, Ordering::SeqCst);
    let syncer = Syncer::builder()
        .source(source_of(&keys(3)))
        .destination(Arc::new(scripted))
        .options(SyncOptions::default().with_deadline(Duration::from_secs(10)))
        .build()?;
    let started = Instant::now();
    let err = syncer.sync().await.expect_err("the list never answers");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(11));
    assert_eq!(memory.requests().writes(), 0);
    Ok(())
}

#[tokio::test]
async fn repeated_transport_failures_stop_the_apply() -> Result<()> {
    let memory = MemoryDestination::builder().build();
    let pairs = keys(10);
    for (k, _) in &pairs {
        memory.fail_writes_to(k.clone(), ErrorKind::Unavailable)?;
    }
    let syncer = Syncer::builder()
        .source(source_of(&pairs))
        .destination(Arc::new(memory.clone()))
        .options(SyncOptions::default().with_concurrency(1))
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.counts.failed, 3, "{report}");
    assert_eq!(report.counts.not_attempted, 7, "{report}");
    assert_eq!(memory.requests().writes(), 3, "the rest were never sent");
    let note = report
        .keys
        .iter()
        .find(|k| k.status == KeyStatus::NotAttempted)
        .and_then(|k| k.note.clone())
        .unwrap_or_default();
    assert!(note.contains("3 consecutive"), "{note}");
    // Failures of kinds that say nothing about the service (a refused key) do not trip it.
    let memory = MemoryDestination::builder().build();
    for (k, _) in &pairs {
        memory.fail_writes_to(k.clone(), ErrorKind::PermissionDenied)?;
    }
    let syncer = Syncer::builder()
        .source(source_of(&pairs))
        .destination(Arc::new(memory.clone()))
        .options(SyncOptions::default().with_concurrency(1))
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.counts.failed, 10, "{report}");
    assert_eq!(report.counts.not_attempted, 0, "{report}");
    Ok(())
}

/// A 2xx nobody could read is not a confirmation: the change is reported unconfirmed, the
/// ledger does not record the new value, and the next sync rewrites it — even though the
/// source did not change again.
#[tokio::test]
async fn an_unconfirmed_write_is_rewritten_by_the_next_sync() -> Result<()> {
    let memory = MemoryDestination::builder().readable_values(false).build();
    let scripted = Arc::new(Scripted::new(memory.clone()));
    let (store, fp) = ledger();
    let src = source(&[("A", "1"), ("B", "1")]);
    let syncer = Syncer::builder()
        .source(src.clone())
        .destination(scripted.clone())
        .state(store, fp)
        .build()?;
    syncer.sync().await?;
    src.set("A", "2")?;
    scripted
        .unconfirmed
        .lock()
        .map_err(|_| Error::unexpected("poisoned"))?
        .push("A".to_owned());
    let report = syncer.sync().await?;
    assert_eq!(
        report.key("A").map(|k| k.status),
        Some(KeyStatus::Unconfirmed)
    );
    assert_eq!(
        report.counts.failed, 1,
        "unconfirmed counts as failed: {report}"
    );
    assert!(!report.is_success());
    scripted
        .unconfirmed
        .lock()
        .map_err(|_| Error::unexpected("poisoned"))?
        .clear();
    let next = syncer.sync().await?;
    assert_eq!(next.keys_with(KeyStatus::Updated), ["A"], "{next}");
    assert_eq!(
        memory.value("A")?.map(|v| v.expose_secret().to_owned()),
        Some("2".to_owned())
    );
    let idle = syncer.sync().await?;
    assert_eq!(idle.requests.writes(), 0, "{idle}");
    Ok(())
}

/// Protected entries are never written or deleted: not by sync (a managed key on one is
/// skipped), not when the source drops it, not by remove — with or without a ledger.
#[tokio::test]
async fn protected_entries_survive_sync_and_remove() -> Result<()> {
    for with_ledger in [false, true] {
        let memory = MemoryDestination::builder().build();
        memory.insert("APP_LOCKED", "theirs")?;
        let mut scripted = Scripted::new(memory.clone());
        scripted.protected = vec!["APP_LOCKED".to_owned()];
        let src = source(&[("LOCKED", "ours"), ("FREE", "1")]);
        let mut builder = Syncer::builder()
            .source(src.clone())
            .destination(Arc::new(scripted))
            .key_schema_template("APP_{{secretKey}}");
        if with_ledger {
            let (store, fp) = ledger();
            builder = builder.state(store, fp);
        }
        let syncer = builder.build()?;
        let report = syncer.sync().await?;
        assert_eq!(
            report.key("APP_LOCKED").map(|k| k.status),
            Some(KeyStatus::Skipped)
        );
        src.remove("LOCKED")?;
        let report = syncer.sync().await?;
        assert!(report.key("APP_LOCKED").is_none(), "{report}");
        src.set("LOCKED", "ours")?;
        let removed = syncer.remove().await?;
        assert_eq!(
            removed.keys_with(KeyStatus::Deleted),
            ["APP_FREE"],
            "{removed}"
        );
        assert_eq!(
            memory
                .value("APP_LOCKED")?
                .map(|v| v.expose_secret().to_owned()),
            Some("theirs".to_owned()),
            "ledger: {with_ledger}"
        );
    }
    Ok(())
}

/// A destination whose list is locked by another sync: the sync waits within its read
/// deadline, then fails with the provider's error naming the scope, writing nothing.
#[tokio::test(start_paused = true)]
async fn a_held_scope_lock_ends_the_sync_with_the_providers_error() -> Result<()> {
    let locks = Arc::new(LocalScopeLocks::new());
    let _held = locks.lock("svc:group:7", Duration::from_secs(1)).await?;
    let memory = MemoryDestination::builder().build();
    let mut scripted = Scripted::new(memory.clone());
    scripted.scope = Some("svc:group:7".to_owned());
    let syncer = Syncer::builder()
        .source(source_of(&keys(2)))
        .destination(Arc::new(scripted))
        .scope_locks(locks.clone())
        .options(SyncOptions::default().with_deadline(Duration::from_secs(10)))
        .build()?;
    let err = syncer.sync().await.expect_err("the scope is held");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("svc:group:7"), "{err}");
    assert_eq!(memory.requests().total(), 0, "not even listed");
    Ok(())
}

/// A disabled sync (the KMS's `isEnabled: false`) plans, but sync, apply and remove refuse
/// before reading or writing anything.
#[tokio::test]
async fn a_disabled_sync_plans_but_never_writes() -> Result<()> {
    let memory = MemoryDestination::builder().build();
    let syncer = Syncer::builder()
        .source(source_of(&keys(2)))
        .destination(Arc::new(memory.clone()))
        .options(SyncOptions::default().with_enabled(false))
        .build()?;
    let plan = syncer.plan().await?;
    assert_eq!(plan.counts().create, 2);
    let before = memory.requests();
    for result in [
        syncer.sync().await,
        syncer.apply(&plan).await,
        syncer.remove().await,
    ] {
        let err = result.expect_err("disabled");
        assert_eq!(err.kind(), ErrorKind::Disabled, "{err}");
        assert!(err.to_string().contains("isEnabled: false"), "{err}");
    }
    assert_eq!(memory.requests().since(&before).total(), 0);
    assert!(memory.contents()?.is_empty());
    assert_eq!(syncer.status().sync_status, Some(RunStatus::Failed));
    Ok(())
}
