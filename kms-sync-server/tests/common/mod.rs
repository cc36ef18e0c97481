//! Running `kms-sync-server` as a real child process for the tests: its settings file and
//! secrets, its HTTP endpoints, signals.

#![allow(dead_code)]

pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A credential key ring of two keys (current first).
pub const CREDENTIAL_KEYS: &str = "k2:4b4d532d53594e432d544553542d4b45592d32000000000000000000000000aa,k1:4b4d532d53594e432d544553542d4b45592d31000000000000000000000000bb";
/// The ledger key.
pub const LEDGER_KEY: &str = "server-test-ledger-key-5f3e2a1b0c";
/// The API token of the test's tenant.
pub const API_TOKEN: &str = "server-test-api-token-8c7d6e5f";

/// Variables a developer's shell might carry that the server reads: removed from children.
const SERVER_VARIABLES: [&str; 14] = [
    "KMS_SYNC_DATABASE_URL",
    "KMS_SYNC_CREDENTIAL_KEYS",
    "KMS_SYNC_LEDGER_KEY",
    "KMS_URL",
    "KMS_CLIENT_ID",
    "KMS_CLIENT_SECRET",
    "KMS_ACCESS_TOKEN",
    "KMS_SYNC_API_TOKENS",
    "KMS_SYNC_API_TOKENS_FILE",
    "KMS_SYNC_ALLOW_ADDRESS",
    "KMS_SYNC_NOTICE_WEBHOOK_URL",
    "KMS_SYNC_NOTICE_SIGNING_KEY",
    "KMS_SYNC_SERVER_CONFIG",
    "RUST_LOG",
];

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// The token file giving `API_TOKEN` every action in `project`.
pub fn token_file(project: &str) -> String {
    let digest = kms_sync_api::TokenFileAuthorizer::digest(API_TOKEN);
    serde_json::json!({"tokens": [{"name": "test", "sha256": digest, "projects": {project: [
        {"subject": "secret-syncs", "actions": ["read", "create", "edit", "delete", "sync-secrets", "remove-secrets"]},
        {"subject": "app-connections", "actions": ["read", "create", "edit", "delete", "connect"]},
        {"subject": "secrets", "actions": ["read-value"]}
    ]}}]})
    .to_string()
}

/// A `kms-sync-server` command with the three secrets in its environment and nothing
/// inherited that it reads.
pub fn server(config: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kms-sync-server"));
    for name in SERVER_VARIABLES {
        command.env_remove(name);
    }
    command
        .arg("--config")
        .arg(config)
        .env("KMS_SYNC_DATABASE_URL", database_url)
        .env("KMS_SYNC_CREDENTIAL_KEYS", CREDENTIAL_KEYS)
        .env("KMS_SYNC_LEDGER_KEY", LEDGER_KEY)
        .stdin(Stdio::null());
    command
}

/// A running server whose stderr goes to a file (read back for the canary).
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
    pub base: String,
}

impl Running {
    /// Starts `serve` with `extra` arguments, logging to `log`.
    pub fn start(mut command: Command, log: PathBuf, port: u16, extra: &[&str]) -> Running {
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
        let child = command
            .arg("serve")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting kms-sync-server: {e}"));
        Running {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `KILL`, …).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit, up to `limit`; its exit code (`None`: killed by a
    /// signal).
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
                other => {
                    let _ = self.child.kill();
                    panic!(
                        "the server did not exit in time ({other:?}): {}",
                        self.log_text()
                    )
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for the tests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// Waits until `GET base/readyz` answers 200; fails at once if the server exits.
pub async fn ready(running: &mut Running, limit: Duration) {
    let client = http();
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(Some(status)) = running.child.try_wait() {
            panic!("the server exited ({status}): {}", running.log_text());
        }
        let answer = client.get(format!("{}/readyz", running.base)).send().await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never became ready: {}", running.log_text());
}

/// `POST base/path` with the test's token; the answer's status and JSON.
pub async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let answer = http()
        .post(format!("{base}{path}"))
        .bearer_auth(API_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = answer.status().as_u16();
    let json = answer.json::<Value>().await.unwrap_or(Value::Null);
    (status, json)
}

/// `GET base/path` without a token; status and text.
pub async fn get(base: &str, path: &str) -> (u16, String) {
    let answer = http()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

/// `GET base/path` with the test's token; the answer's status and JSON.
pub async fn get_json(base: &str, path: &str) -> (u16, Value) {
    let answer = http()
        .get(format!("{base}{path}"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = answer.status().as_u16();
    (status, answer.json::<Value>().await.unwrap_or(Value::Null))
}

/// Waits until `check` holds, up to `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}
