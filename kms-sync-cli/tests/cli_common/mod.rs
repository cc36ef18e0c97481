//! Running the `kms-sync` binary (this crate's) and the workspace's `fakes` example as real
//! child processes, for the `cli*` tests.
//!
//! Cargo builds the crate's `[[bin]]` before its integration tests and gives them its path
//! (`CARGO_BIN_EXE_kms-sync`). The `fakes` example belongs to the `kms-sync` library package,
//! so cargo gives no path for it: it is normally next to this test's own binary
//! (`target/<profile>/examples/`, as a workspace `cargo test` builds every example); when it
//! is missing or older than any source file, it is built here with `cargo build -p kms-sync
//! --example fakes`, once per test binary — cargo is not holding its build lock while tests
//! run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The variables the tool reads; removed from every child's environment unless a test sets
/// them, so the developer's own shell cannot change a result.
const TOOL_VARIABLES: [&str; 7] = [
    "KMS_CLIENT_ID",
    "KMS_CLIENT_SECRET",
    "KMS_ACCESS_TOKEN",
    "KMS_SYNC_STATE_KEY",
    "KMS_URL",
    "RUST_LOG",
    "XDG_STATE_HOME",
];

/// The exit codes the tool promises.
pub const APPLIED: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const NOTHING_TO_DO: i32 = 3;
pub const REFUSED: i32 = 4;

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()))
}

fn newest_in(path: &Path, newest: &mut SystemTime) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                newest_in(&entry.path(), newest);
            }
        }
    } else if let Ok(modified) = meta.modified() {
        *newest = (*newest).max(modified);
    }
}

/// The newest modification time of anything the examples are built from.
fn newest_source() -> SystemTime {
    let root = workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    for part in ["examples", "src", "Cargo.toml", "Cargo.lock"] {
        newest_in(&root.join(part), &mut newest);
    }
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("kms-sync-") {
                newest_in(&entry.path().join("src"), &mut newest);
                newest_in(&entry.path().join("Cargo.toml"), &mut newest);
            }
        }
    }
    newest
}

/// The workspace's root: this crate's parent directory.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn is_fresh(binary: &Path, newest: SystemTime) -> bool {
    std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .is_ok_and(|built| built >= newest)
}

/// The path of the `kms-sync` binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kms-sync"))
}

/// The path of an example binary, built first if it is missing or stale.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = profile_dir();
        let newest = newest_source();
        let names = ["fakes"];
        if names
            .iter()
            .all(|n| is_fresh(&dir.join("examples").join(n), newest))
        {
            return dir;
        }
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "kms-sync",
                "--features",
                "full,fake",
            ])
            .args(names.iter().flat_map(|n| ["--example", n]));
        if dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let out = cargo
            .output()
            .unwrap_or_else(|e| panic!("running cargo: {e}"));
        assert!(
            out.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    });
    dir.join("examples").join(name)
}

/// A command for the `kms-sync` tool with a clean environment for its own variables.
pub fn tool() -> Command {
    let mut command = Command::new(binary());
    for name in TOOL_VARIABLES {
        command.env_remove(name);
    }
    command.stdin(Stdio::null());
    command
}

/// What one run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(self, code: i32, what: &str) -> Run {
        assert_eq!(self.code, code, "{what}: {self:#?}");
        self
    }
}

/// Runs a prepared command off the async runtime (the in-process fakes keep serving).
pub async fn run(mut command: Command) -> Run {
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap_or_else(|e| panic!("joining: {e}"))
        .unwrap_or_else(|e| panic!("running the tool: {e}"));
    Run::from(out)
}

/// Runs the tool with `args` and `env` (on top of a clean environment).
pub async fn kms_sync(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tool();
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    run(command).await
}

/// Waits until `check` holds, up to `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// Sends SIGINT (Ctrl-C) to a process, as a terminal would.
pub fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("running kill: {e}"));
    assert!(status.success(), "kill -INT {pid} failed");
}

/// A scratch directory with helpers to write files into it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
        }
    }

    /// The path of `name` in the directory, as a string for arguments.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Writes `text` to `name`; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        path
    }
}
