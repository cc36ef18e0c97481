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
/// Saving writes a temporary file beside the target (a fresh random name each time, from
/// `tempfile`), fsyncs it and renames it over the target, so a crash leaves either the old or
/// the new file, never half of one. Every read
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
        let json = serde_json::to_vec_pretty(file)
            .map_err(|e| Error::unexpected(format!("cannot encode state: {e}")))?;
        // A fresh random name beside the target for every write, so two stores on one path
        // (in one process or several) never share a temporary file. It is created
        // owner-only, and removed if anything fails before it replaces the target.
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        let mut tmp = builder.tempfile_in(&dir).map_err(|e| io_err("create", e))?;
        tmp.write_all(&json).map_err(|e| io_err("write", e))?;
        tmp.as_file().sync_all().map_err(|e| io_err("sync", e))?;
        tmp.persist(&self.path)
            .map_err(|e| io_err("replace", e.error))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // Persist the rename itself; not every platform can fsync a directory.
            let _ = d.sync_all();
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
    }

    /// Two stores on one path in one process, writing at once without the lock: each write
    /// has its own temporary file, so none fails or replaces the target with another's half
    /// written file (one shared name per process did), and none is left behind.
    #[test]
    fn two_stores_on_one_path_never_share_a_temporary_file() {
        let dir = temp_dir();
        let path = dir.path().join("state.json");
        let threads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|id| {
                let store = JsonFileStateStore::new(&path);
                std::thread::spawn(move || {
                    let mut file = StateFile {
                        format: FORMAT.to_owned(),
                        version: VERSION,
                        syncs: BTreeMap::new(),
                    };
                    for i in 0..200 {
                        file.syncs.insert(format!("{id}{i}"), Ledger::default());
                        store.write(&file)?;
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for thread in threads {
            let joined = thread
                .join()
                .unwrap_or_else(|_| panic!("a writer panicked"));
            assert!(joined.is_ok(), "{joined:?}");
        }
        let last = JsonFileStateStore::new(&path).read();
        assert!(
            last.as_ref().is_ok_and(|f| f.syncs.len() == 200),
            "{last:?}"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("read dir: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.json"], "no temporary file left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode())
                .unwrap_or_default();
            assert_eq!(mode & 0o777, 0o600, "owner-only: {mode:o}");
        }
    }
}
