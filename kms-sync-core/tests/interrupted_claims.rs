//! Interrupted runs stay owned: a sync that dies partway through its writes (the future
//! dropped, as `kill -9` would) has already recorded a claim on every key it was about to
//! write, so the next sync deletes the keys the source dropped and `remove` deletes them
//! all. Refused writes withdraw their claims; ambiguous ones keep them. Run with a memory
//! ledger, a file ledger, and (where ownership comes from the schema alone) no ledger.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::*;

const SCHEMA: &str = "KMS_{{secretKey}}";
/// Foreign entries: never touched.
const FOREIGN: [&str; 2] = ["OTHER", "ALSO_OTHER"];

#[derive(Clone, Copy, Debug)]
/// Where the ledger is kept.
enum Ledgers {
    Memory,
    File,
    Without,
}

struct World {
    memory: MemoryDestination,
    source: Arc<StaticSource>,
    store: Option<Arc<dyn StateStore>>,
    _dir: tempfile::TempDir,
}

fn set(keys: &[String]) -> SecretSet {
    let mut set = SecretSet::new("prod");
    for k in keys {
        set.insert(k.as_str(), format!("value-of-{k}"));
    }
    set
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("K{i:02}")).collect()
}

impl World {
    fn new(mode: Ledgers, readable: bool) -> World {
        let memory = MemoryDestination::builder()
            .readable_values(readable)
            .concurrency(1)
            .build();
        for k in FOREIGN {
            memory.insert(k, "theirs").expect("insert");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Option<Arc<dyn StateStore>> = match mode {
            Ledgers::Memory => Some(Arc::new(MemoryStateStore::default())),
            Ledgers::File => Some(Arc::new(JsonFileStateStore::new(
                dir.path().join("ledger.json"),
            ))),
            Ledgers::Without => None,
        };
        World {
            memory,
            source: Arc::new(StaticSource::new(set(&["KEEP".to_owned()]))),
            store,
            _dir: dir,
        }
    }

    /// A syncer on `destination` (the memory one, or a wrapper of it).
    fn syncer(&self, destination: Arc<dyn Destination>) -> Syncer {
        let mut builder = Syncer::builder()
            .id("interrupted")
            .source(self.source.clone())
            .destination(destination)
            .key_schema_template(SCHEMA)
            .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()));
        if let Some(store) = &self.store {
            builder = builder.state(store.clone(), Fingerprinter::new(vec![9; 32]).expect("fp"));
        }
        builder.build().expect("syncer")
    }

    fn plain(&self) -> Syncer {
        self.syncer(Arc::new(self.memory.clone()))
    }

    /// A syncer whose `n`-th write (from 0) never answers.
    fn hanging_at(&self, n: usize) -> Syncer {
        let hook = move |call: usize| async move {
            if call >= n {
                std::future::pending::<()>().await;
            }
        };
        self.syncer(Arc::new(kms_sync_testkit::before_apply(
            Arc::new(self.memory.clone()),
            hook,
        )))
    }

    fn keys(&self) -> Vec<String> {
        self.memory
            .contents()
            .expect("contents")
            .into_keys()
            .collect()
    }

    async fn ledger_keys(&self) -> Vec<String> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let ledger = store.load("interrupted").await.expect("load");
        let mut keys: Vec<String> = ledger
            .map(|l| l.keys().map(str::to_owned).collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

fn rendered(keys: &[String]) -> Vec<String> {
    keys.iter().map(|k| format!("KMS_{k}")).collect()
}

/// A settled first sync, then ten new keys whose sync dies inside its fifth write.
async fn killed_mid_sync(world: &World) -> Vec<String> {
    let first = world.plain().sync().await.expect("first sync");
    assert!(first.is_success(), "{first}");
    let mut wanted = names(10);
    wanted.push("KEEP".to_owned());
    world.source.replace(set(&wanted)).expect("replace");
    let killed = tokio::time::timeout(Duration::from_secs(30), world.hanging_at(5).sync()).await;
    assert!(
        killed.is_err(),
        "the sync must still be inside its hanging write"
    );
    let written = rendered(&names(5));
    for key in &written {
        assert!(
            world.keys().contains(key),
            "{key} was written before the kill"
        );
    }
    written
}

async fn every_key_written_by_a_killed_sync_is_claimed_and_reconciled(mode: Ledgers) {
    let world = World::new(mode, false);
    let written = killed_mid_sync(&world).await;
    if world.store.is_some() {
        let ledger = world.ledger_keys().await;
        for key in rendered(&names(10)) {
            assert!(
                ledger.contains(&key),
                "{mode:?}: {key} is claimed in the ledger before it is written: {ledger:?}"
            );
        }
    }
    // The source drops the new keys: the next sync deletes what the killed one wrote.
    world
        .source
        .replace(set(&["KEEP".to_owned()]))
        .expect("revert");
    let report = world.plain().sync().await.expect("reconciling sync");
    assert!(report.is_success(), "{mode:?}: {report}");
    assert_eq!(
        sorted(
            report
                .keys_with(KeyStatus::Deleted)
                .into_iter()
                .map(str::to_owned)
                .collect()
        ),
        written,
        "{mode:?}: {report}"
    );
    let mut expected: Vec<String> = FOREIGN.iter().map(|k| k.to_string()).collect();
    expected.push("KMS_KEEP".to_owned());
    assert_eq!(world.keys(), sorted(expected), "{mode:?}");
    if world.store.is_some() {
        // Stale claims (never written, no longer wanted) are forgotten.
        assert_eq!(world.ledger_keys().await, ["KMS_KEEP"], "{mode:?}");
    }
    let removed = world.plain().remove().await.expect("remove");
    assert!(removed.is_success(), "{mode:?}: {removed}");
    let foreign: Vec<String> = FOREIGN.iter().map(|k| k.to_string()).collect();
    assert_eq!(world.keys(), sorted(foreign), "{mode:?}");
}

#[tokio::test(start_paused = true)]
async fn a_killed_sync_is_reconciled_with_a_memory_ledger() {
    every_key_written_by_a_killed_sync_is_claimed_and_reconciled(Ledgers::Memory).await;
}

#[tokio::test(start_paused = true)]
async fn a_killed_sync_is_reconciled_with_a_file_ledger() {
    every_key_written_by_a_killed_sync_is_claimed_and_reconciled(Ledgers::File).await;
}

#[tokio::test(start_paused = true)]
async fn a_killed_sync_is_reconciled_without_a_ledger() {
    every_key_written_by_a_killed_sync_is_claimed_and_reconciled(Ledgers::Without).await;
}

/// `remove` right after the kill (no reconciling sync) deletes every key the killed sync
/// wrote, though its source no longer renders them.
async fn remove_after_a_kill_deletes_what_it_wrote(mode: Ledgers) {
    let world = World::new(mode, false);
    killed_mid_sync(&world).await;
    world
        .source
        .replace(set(&["KEEP".to_owned()]))
        .expect("revert");
    let removed = world.plain().remove().await.expect("remove");
    assert!(removed.is_success(), "{mode:?}: {removed}");
    let foreign: Vec<String> = FOREIGN.iter().map(|k| k.to_string()).collect();
    assert_eq!(world.keys(), sorted(foreign), "{mode:?}: {removed}");
    assert!(world.ledger_keys().await.is_empty(), "{mode:?}");
}

#[tokio::test(start_paused = true)]
async fn remove_after_a_kill_deletes_every_written_key_memory_ledger() {
    remove_after_a_kill_deletes_what_it_wrote(Ledgers::Memory).await;
}

#[tokio::test(start_paused = true)]
async fn remove_after_a_kill_deletes_every_written_key_file_ledger() {
    remove_after_a_kill_deletes_what_it_wrote(Ledgers::File).await;
}

/// With the source unchanged, the next sync rewrites the claimed keys (hidden values: the
/// claim has no fingerprint) and creates the rest; the ledger then holds every key with
/// its fingerprint, and a third sync writes nothing.
#[tokio::test(start_paused = true)]
async fn the_next_sync_rewrites_claimed_keys_and_settles() {
    let world = World::new(Ledgers::Memory, false);
    let written = killed_mid_sync(&world).await;
    let report = world.plain().sync().await.expect("resync");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        sorted(
            report
                .keys_with(KeyStatus::Updated)
                .into_iter()
                .map(str::to_owned)
                .collect()
        ),
        written,
        "{report}"
    );
    assert_eq!(report.counts.created, 5, "{report}");
    let again = world.plain().sync().await.expect("third sync");
    assert_eq!(again.requests.writes(), 0, "{again}");
}

/// A create the service refuses (a conflict: someone else's key) withdraws the claim, so
/// the sync never comes to own, and later delete, that key. One that may have reached the
/// service (unavailable) keeps its claim.
#[tokio::test(start_paused = true)]
async fn refused_writes_withdraw_their_claim_and_ambiguous_ones_keep_it() {
    let world = World::new(Ledgers::Memory, true);
    world.plain().sync().await.expect("first sync");
    world
        .source
        .replace(set(&["KEEP".into(), "REFUSED".into(), "DOWN".into()]))
        .expect("replace");
    world
        .memory
        .fail_writes_to("KMS_REFUSED", ErrorKind::Conflict)
        .expect("fail");
    world
        .memory
        .fail_writes_to("KMS_DOWN", ErrorKind::Unavailable)
        .expect("fail");
    let report = world.plain().sync().await.expect("sync");
    assert_eq!(report.counts.failed, 2, "{report}");
    let ledger = world.ledger_keys().await;
    assert!(!ledger.contains(&"KMS_REFUSED".to_owned()), "{ledger:?}");
    assert!(ledger.contains(&"KMS_DOWN".to_owned()), "{ledger:?}");
    // Someone else creates the refused key; the source drops both: only ours may go.
    world.memory.clear_failures().expect("clear");
    world
        .memory
        .insert("KMS_REFUSED", "theirs")
        .expect("insert");
    world
        .source
        .replace(set(&["KEEP".to_owned()]))
        .expect("revert");
    let report = world.plain().sync().await.expect("sync");
    assert!(report.is_success(), "{report}");
    assert!(world.keys().contains(&"KMS_REFUSED".to_owned()), "{report}");
    assert_eq!(
        world.ledger_keys().await,
        ["KMS_KEEP"],
        "the DOWN claim was stale"
    );
}
