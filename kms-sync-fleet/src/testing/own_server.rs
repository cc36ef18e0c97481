//! A PostgreSQL server a test starts for itself: `initdb` into a temporary directory, its own
//! port on 127.0.0.1, stopped and removed when dropped. For tests that restart or kill the
//! server — never the machine's own cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A throwaway PostgreSQL server on 127.0.0.1 (trust auth, user `postgres`).
///
/// Run as root (as on this project's machines and CI), the server runs as the `postgres`
/// user through `runuser`, since PostgreSQL refuses to run as root.
///
/// ```no_run
/// use kms_sync_fleet::testing::OwnServer;
/// let server = match OwnServer::start() {
///     Ok(server) => server,
///     Err(why) => { eprintln!("SKIPPED: {why}"); return; }
/// };
/// let url = server.url("postgres");
/// server.restart().expect("restarted");
/// # drop(url);
/// ```
#[derive(Debug)]
pub struct OwnServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl OwnServer {
    /// `initdb` and start a server on a free port.
    ///
    /// # Errors
    ///
    /// Why it cannot run here (no server binaries, `initdb` or `pg_ctl` failed), in words.
    pub fn start() -> Result<OwnServer, String> {
        let bin = server_binaries()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("kms-sync-pg-")
            .tempdir()
            .map_err(|e| format!("no temporary directory: {e}"))?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()))?;
        }
        let port = free_port()?;
        let server = OwnServer {
            dir,
            bin,
            port,
            as_postgres,
        };
        server.initdb()?;
        server.pg_ctl(&["start", "-w", "-t", "60"])?;
        Ok(server)
    }

    /// The connection URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts it (fast shutdown: open connections are cut), returning how long it took.
    ///
    /// # Errors
    ///
    /// What `pg_ctl` said when it failed.
    pub fn restart(&self) -> Result<Duration, String> {
        let started = Instant::now();
        self.pg_ctl(&["restart", "-w", "-t", "60", "-m", "fast"])?;
        Ok(started.elapsed())
    }

    /// Stops it at once (as a crash would); [`start_again`](Self::start_again) brings it back.
    ///
    /// # Errors
    ///
    /// What `pg_ctl` said when it failed.
    pub fn kill(&self) -> Result<(), String> {
        self.pg_ctl(&["stop", "-w", "-m", "immediate"])
    }

    /// Starts it after [`kill`](Self::kill).
    ///
    /// # Errors
    ///
    /// What `pg_ctl` said when it failed.
    pub fn start_again(&self) -> Result<(), String> {
        self.pg_ctl(&["start", "-w", "-t", "60"])
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn initdb(&self) -> Result<(), String> {
        let data = self.data();
        let mut cmd = self.command("initdb");
        cmd.args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data);
        run(&mut cmd).map(|_| ())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .arg("-o")
            .arg(options)
            .args(args);
        run(&mut cmd).map(|_| ())
    }

    /// `program` from the server binaries, as the `postgres` user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-w", "-m", "immediate"]);
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `pg_config --bindir`, or the
/// newest `/usr/lib/postgresql/*/bin`.
fn server_binaries() -> Result<PathBuf, String> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let candidates = from_config.into_iter().chain(debian_bindirs());
    for dir in candidates {
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    Err("the PostgreSQL server binaries (initdb, pg_ctl) are not installed".to_owned())
}

fn debian_bindirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .map_err(|e| format!("{shown} cannot run: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{shown} exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
