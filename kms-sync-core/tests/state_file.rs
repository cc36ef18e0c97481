//! The JSON file state store: round trips, persistence across instances, and refusals.

use std::sync::Arc;

use kms_sync_core::*;

fn fp() -> Result<Fingerprinter> {
    Fingerprinter::new(b"state-file-test-key-0123456789abcdef".to_vec())
}

#[tokio::test]
async fn ledger_survives_a_restart_so_hidden_values_are_not_rewritten() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join("state.json");
    let dest = Arc::new(MemoryDestination::builder().readable_values(false).build());
    let source = Arc::new(StaticSource::new(
        SecretSet::new("dev").with("A", "1").with("B", "2"),
    ));
    let build = || {
        Syncer::builder()
            .id("sync-1")
            .source(source.clone())
            .destination(dest.clone())
            .state(Arc::new(JsonFileStateStore::new(&path)), fp()?)
            .build()
    };
    build()?.sync().await?;
    // A new process: new store instance, same file.
    let report = build()?.sync().await?;
    assert_eq!(report.requests.writes(), 0, "{report}");
    assert_eq!(report.counts.unchanged, 2);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::unexpected(e.to_string()))?;
    assert!(text.contains("\"format\": \"kms-sync-state\""), "{text}");
    assert!(
        !text.contains("\"1\"") && !text.contains("\"2\""),
        "no values in the file"
    );
    Ok(())
}

#[tokio::test]
async fn several_syncs_share_one_file() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let store = JsonFileStateStore::new(dir.path().join("s.json"));
    let f = fp()?;
    let mut a = Ledger::default();
    a.record("A", None, f.fingerprint("A", &SecretValue::new("x")));
    store.save("one", &a).await?;
    store.save("two", &Ledger::default()).await?;
    assert_eq!(store.load("one").await?, Some(a));
    assert_eq!(store.load("two").await?, Some(Ledger::default()));
    assert_eq!(store.load("three").await?, None);
    Ok(())
}

#[tokio::test]
async fn broken_files_are_errors_and_are_left_alone() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let cases = [
        (
            "corrupt.json",
            "{\"format\": \"kms-sync-state\", \"vers",
            "truncated",
        ),
        ("syntax.json", "not json at all", "syntax error"),
        (
            "foreign.json",
            "{\"format\": \"something-else\", \"version\": 1, \"syncs\": {}}",
            "not a kms-sync state file",
        ),
        (
            "newer.json",
            "{\"format\": \"kms-sync-state\", \"version\": 99, \"syncs\": {}}",
            "newer",
        ),
        (
            "unknown.json",
            "{\"format\": \"kms-sync-state\", \"version\": 1, \"syncs\": {}, \"extra\": 1}",
            "unexpected content",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).map_err(|e| Error::unexpected(e.to_string()))?;
        let store = JsonFileStateStore::new(&path);
        let err = store.load("x").await.expect_err(name);
        assert!(err.to_string().contains(expected), "{name}: {err}");
        assert!(
            err.to_string().contains(name),
            "{name}: the path is named: {err}"
        );
        let err = store.save("x", &Ledger::default()).await.expect_err(name);
        assert!(err.to_string().contains(expected), "{name}: {err}");
        let after = std::fs::read_to_string(&path).map_err(|e| Error::unexpected(e.to_string()))?;
        assert_eq!(after, content, "{name} must not be reset");
    }
    Ok(())
}

#[tokio::test]
async fn a_sync_with_an_unreadable_state_file_fails_before_writing() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join("state.json");
    std::fs::write(&path, "garbage").map_err(|e| Error::unexpected(e.to_string()))?;
    let dest = Arc::new(MemoryDestination::builder().build());
    let syncer = Syncer::builder()
        .source(Arc::new(StaticSource::new(
            SecretSet::new("dev").with("A", "1"),
        )))
        .destination(dest.clone())
        .state(Arc::new(JsonFileStateStore::new(&path)), fp()?)
        .build()?;
    let err = syncer.sync().await.expect_err("state unreadable");
    assert_eq!(err.kind(), ErrorKind::Unexpected);
    assert_eq!(dest.requests().writes(), 0);
    Ok(())
}

const CHILD: &str = "KMS_SYNC_STATE_FILE_CHILD";
const ROUNDS: usize = 40;

/// In a child process: record `ROUNDS` entries, one update at a time, for one sync id.
fn child(spec: &str) -> Result<()> {
    let (id, path) = spec
        .split_once('|')
        .ok_or_else(|| Error::config("child spec is id|path"))?;
    let store = JsonFileStateStore::new(path);
    let fp = fp()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::unexpected(e.to_string()))?;
    runtime.block_on(async {
        for i in 0..ROUNDS {
            let key = format!("{id}_{i}");
            let fingerprint = Some(fp.fingerprint(&key, &SecretValue::new("v")));
            let update = LedgerUpdate::Record {
                key,
                entry: LedgerEntry {
                    id: None,
                    fingerprint,
                },
            };
            store.update(id, &[update]).await?;
        }
        Ok(())
    })
}

/// Two processes (parallel CI jobs, say) saving different syncs to one state file at the
/// same time lose nothing: the read-modify-write holds a lock across processes. The file is
/// readable by its owner only.
#[test]
fn two_processes_saving_to_one_state_file_lose_nothing() -> Result<()> {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join("state.json");
    let exe = std::env::current_exe().map_err(|e| Error::unexpected(e.to_string()))?;
    let children: Vec<std::process::Child> = ["left", "right"]
        .iter()
        .map(|id| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "two_processes_saving_to_one_state_file_lose_nothing",
                ])
                .env(CHILD, format!("{id}|{}", path.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(|e| Error::unexpected(e.to_string()))
        })
        .collect::<Result<_>>()?;
    for mut child in children {
        let status = child.wait().map_err(|e| Error::unexpected(e.to_string()))?;
        assert!(status.success(), "a child failed: {status}");
    }
    let store = JsonFileStateStore::new(&path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::unexpected(e.to_string()))?;
    for id in ["left", "right"] {
        let ledger = runtime.block_on(store.load(id))?.unwrap_or_default();
        assert_eq!(ledger.len(), ROUNDS, "{id} lost entries");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map_err(|e| Error::unexpected(e.to_string()))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only: {mode:o}");
    }
    Ok(())
}

/// Two stores on one path in one process (two syncers sharing a state file), updating at
/// once: the lock serialises them, each write has its own temporary file, nothing is lost
/// and no temporary file is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_path_in_one_process_lose_nothing() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join("state.json");
    let fp = fp()?;
    let work = ["left", "right"].map(|id| {
        let store = JsonFileStateStore::new(&path);
        let updates: Vec<LedgerUpdate> = (0..ROUNDS)
            .map(|i| {
                let key = format!("{id}_{i}");
                let fingerprint = Some(fp.fingerprint(&key, &SecretValue::new("v")));
                LedgerUpdate::Record {
                    key,
                    entry: LedgerEntry {
                        id: None,
                        fingerprint,
                    },
                }
            })
            .collect();
        tokio::spawn(async move {
            for update in updates {
                store.update(id, &[update]).await?;
            }
            Ok::<(), Error>(())
        })
    });
    for task in work {
        task.await.map_err(|e| Error::unexpected(e.to_string()))??;
    }
    let store = JsonFileStateStore::new(&path);
    for id in ["left", "right"] {
        let ledger = store.load(id).await?.unwrap_or_default();
        assert_eq!(ledger.len(), ROUNDS, "{id} lost entries");
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .map_err(|e| Error::unexpected(e.to_string()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["state.json", "state.json.lock"]);
    Ok(())
}

#[tokio::test]
async fn the_destination_a_ledger_describes_survives_the_file() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join("bound.json");
    let destination = DestinationIdentity::new("checkly")
        .with("account", "3c90c3cc")
        .with("group", "a,b=c");
    let store = JsonFileStateStore::new(&path);
    store
        .update(
            "one",
            &[LedgerUpdate::Bind {
                destination: destination.clone(),
            }],
        )
        .await?;
    let again = JsonFileStateStore::new(&path).load("one").await?;
    assert_eq!(
        again.as_ref().and_then(Ledger::destination),
        Some(&destination)
    );
    let text = std::fs::read_to_string(&path).map_err(|e| Error::unexpected(e.to_string()))?;
    assert!(
        text.contains(r#""destination": "checkly:account=3c90c3cc,group=a%2Cb%3Dc""#),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_file_from_before_ledgers_were_bound_still_loads() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join("old.json");
    let old = r#"{"format": "kms-sync-state", "version": 1, "syncs": {"old-sync": {
        "entries": {"KMS_A": {"id": "{1}", "fingerprint": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}},
        "settled": true}}}"#;
    std::fs::write(&path, old).map_err(|e| Error::unexpected(e.to_string()))?;
    let ledger = JsonFileStateStore::new(&path)
        .load("old-sync")
        .await?
        .unwrap_or_default();
    assert!(ledger.destination().is_none());
    assert!(ledger.is_settled());
    assert_eq!(
        ledger.get("KMS_A").and_then(|e| e.id.as_deref()),
        Some("{1}")
    );
    Ok(())
}
