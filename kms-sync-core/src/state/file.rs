//! A state store in one JSON file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Ledger, LedgerUpdate, StateStore};
use crate::error::{Error, Result};

const FORMAT: &str = "kms-sync-state";
const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: String,
    version: u32,
    syncs: BTreeMap<String, Ledger>,
}

/// Keeps the ledgers of any number of syncs in one JSON file.
///
/// Saving writes a temporary file beside the target, fsyncs it and renames it over the
/// target, so a crash leaves either the old or the new file, never half of one. Every read
/// and read-modify-write holds an exclusive advisory lock on `<path>.lock`, so processes
/// sharing one file (parallel CI jobs) never lose each other's entries; the state file and
/// its lock file are created readable by their owner only. A missing
/// file is an empty store; a file that is not valid JSON, or not a kms-sync state file, or of
/// a newer format version, is an error naming the path — it is never silently reset.
///
/// ```no_run
/// use kms_sync_core::{JsonFileStateStore, StateStore};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let store = JsonFileStateStore::new("/var/lib/kms-sync/state.json");
/// let ledger = store.load("my-bitbucket-sync").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JsonFileStateStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonFileStateStore {
    /// A store at `path` (created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFileStateStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<StateFile> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StateFile {
                    format: FORMAT.to_owned(),
                    version: VERSION,
                    syncs: BTreeMap::new(),
                })
            }
            Err(e) => {
                return Err(Error::unexpected(format!(
                    "cannot read state file {}: {e}",
                    self.path.display()
                ))
                .with_source(e))
            }
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::unexpected(format!(
                "state file {} is not a valid kms-sync state file (line {}, column {}): {}; \
                 move it aside to start afresh",
                self.path.display(),
                e.line(),
                e.column(),
                classify(&e)
            ))
        })?;
        if file.format != FORMAT {
            return Err(Error::unexpected(format!(
                "{} is not a kms-sync state file (format `{}`, expected `{FORMAT}`)",
                self.path.display(),
                file.format
            )));
        }
        if file.version > VERSION {
            return Err(Error::unexpected(format!(
                "state file {} has format version {}, newer than this kms-sync understands ({VERSION})",
                self.path.display(),
                file.version
            )));
        }
        Ok(file)
    }

    /// Runs `work` on a blocking thread while holding the cross-process lock.
    async fn locked<T: Send + 'static>(
        &self,
        work: impl FnOnce(&JsonFileStateStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _in_process = self.lock.lock().await;
        let store = JsonFileStateStore::new(self.path.clone());
        tokio::task::spawn_blocking(move || {
            let _lock = store.lock_file()?;
            work(&store)
        })
        .await
        .map_err(|e| Error::unexpected(format!("the state file task failed: {e}")))?
    }

    fn lock_file(&self) -> Result<std::fs::File> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let file = owner_only(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true),
        )
        .open(&name)
        .map_err(|e| {
            Error::unexpected(format!(
                "cannot open the state lock file for {}: {e}",
                self.path.display()
            ))
            .with_source(e)
        })?;
        file.lock().map_err(|e| {
            Error::unexpected(format!(
                "cannot lock the state file {}: {e}",
                self.path.display()
            ))
            .with_source(e)
        })?;
        Ok(file)
    }

    fn modify(&self, change: impl FnOnce(&mut StateFile)) -> Result<()> {
        let mut file = self.read()?;
        change(&mut file);
        file.format = FORMAT.to_owned();
        file.version = VERSION;
        self.write(&file)
    }

    fn write(&self, file: &StateFile) -> Result<()> {
        let io_err = |what: &str, e: std::io::Error| {
            Error::unexpected(format!(
                "cannot {what} state file {}: {e}",
                self.path.display()
            ))
            .with_source(e)
        };
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state.json".to_owned());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let json = serde_json::to_vec_pretty(file)
            .map_err(|e| Error::unexpected(format!("cannot encode state: {e}")))?;
        let result = (|| {
            let mut f = owner_only(
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .write(true),
            )
            .open(&tmp)
            .map_err(|e| io_err("create", e))?;
            f.write_all(&json).map_err(|e| io_err("write", e))?;
            f.sync_all().map_err(|e| io_err("sync", e))?;
            std::fs::rename(&tmp, &self.path).map_err(|e| io_err("replace", e))?;
            if let Ok(d) = std::fs::File::open(&dir) {
                // Persist the rename itself; not every platform can fsync a directory.
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(unix)]
fn owner_only(options: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600)
}

#[cfg(not(unix))]
fn owner_only(options: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    options
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "truncated",
    }
}

#[async_trait]
impl StateStore for JsonFileStateStore {
    async fn load(&self, sync_id: &str) -> Result<Option<Ledger>> {
        let sync_id = sync_id.to_owned();
        self.locked(move |store| Ok(store.read()?.syncs.remove(&sync_id)))
            .await
    }

    async fn save(&self, sync_id: &str, ledger: &Ledger) -> Result<()> {
        let (sync_id, ledger) = (sync_id.to_owned(), ledger.clone());
        self.locked(move |store| {
            store.modify(|file| {
                file.syncs.insert(sync_id, ledger);
            })
        })
        .await
    }

    async fn update(&self, sync_id: &str, updates: &[LedgerUpdate]) -> Result<()> {
        let (sync_id, updates) = (sync_id.to_owned(), updates.to_vec());
        self.locked(move |store| {
            store.modify(|file| {
                let ledger = file.syncs.entry(sync_id).or_default();
                for update in &updates {
                    ledger.apply(update);
                }
            })
        })
        .await
    }
}
