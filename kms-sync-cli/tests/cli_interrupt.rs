//! Interrupted runs stay owned, with real OS processes: `kms-sync sync` against the fake
//! Bitbucket (each request slowed down), stopped by SIGTERM, SIGINT or SIGKILL after a
//! seeded number of writes; then the source drops the new keys, `sync` and `remove` run, and
//! the destination must end exactly as the model says — foreign variables untouched, every
//! key the stopped run created gone. SIGTERM and SIGINT exit 130 ("interrupted"); a second
//! signal exits at once with 130.

mod cli_common;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use cli_common::*;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};

const STATE_KEY: &str = "cli-interrupt-state-key-0123456789abcdef";
/// The tool's code for a run stopped by SIGINT or SIGTERM.
const INTERRUPTED: i32 = 130;
/// Keys the stopped run is asked to create.
const NEW_KEYS: usize = 30;
/// Someone else's variables: never touched.
const FOREIGN: [(&str, &str); 2] = [("FOREIGN_A", "theirs-a"), ("OTHER_TEAM_KEY", "theirs-b")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Term,
    Int,
    Kill,
}

impl Stop {
    fn flag(self) -> &'static str {
        match self {
            Stop::Term => "-TERM",
            Stop::Int => "-INT",
            Stop::Kill => "-KILL",
        }
    }
}

/// SplitMix64: a fixed seed gives the same kill points on every run.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn send(pid: u32, stop: Stop) {
    let status = std::process::Command::new("kill")
        .args([stop.flag(), &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("running kill: {e}"));
    assert!(status.success(), "kill {} {pid} failed", stop.flag());
}

/// One sync against the fake, with a private ledger and a dotenv source.
struct Case {
    scratch: Scratch,
    fake: FakeBitbucket,
    definition: String,
    connection: String,
    dotenv: String,
}

impl Case {
    async fn new() -> Case {
        let scratch = Scratch::new();
        let fake = FakeBitbucket::start().await;
        for (key, value) in FOREIGN {
            fake.seed(WORKSPACE, REPOSITORY, None, key, value, false);
        }
        let connection = scratch.write(
            "connection.json",
            &format!(
                r#"{{"name": "bb", "method": "api-token", "credentials": {{"email": "{FAKE_EMAIL}", "apiToken": "{FAKE_TOKEN}"}}}}"#
            ),
        );
        let definition = scratch.write(
            "interrupt.json",
            &format!(
                r#"{{"name": "interrupt", "environment": "prod", "secretPath": "/", "destination": "bitbucket",
                    "syncOptions": {{"keySchema": "INT_{{{{secretKey}}}}"}},
                    "destinationConfig": {{"workspaceSlug": "{WORKSPACE}", "repositorySlug": "{REPOSITORY}"}}}}"#
            ),
        );
        let dotenv = scratch.write(".env", "KEEP=kept\n");
        Case {
            scratch,
            fake,
            definition,
            connection,
            dotenv,
        }
    }

    fn command(&self, command: &str) -> std::process::Command {
        let mut tool = tool();
        let base = self.fake.base_url();
        tool.args([
            command,
            "--definition",
            &self.definition,
            "--connection",
            &self.connection,
            "--dotenv",
            &self.dotenv,
            "--base-url",
            &base,
            "--concurrency",
            "2",
            "-q",
        ]);
        tool.env("KMS_SYNC_STATE_KEY", STATE_KEY)
            .env("XDG_STATE_HOME", self.scratch.path("state-home"));
        tool
    }

    async fn run(&self, command: &str) -> Run {
        run(self.command(command)).await
    }

    fn with_new_keys(&self) {
        let mut text = String::from("KEEP=kept\n");
        for i in 0..NEW_KEYS {
            text.push_str(&format!("NEW_{i:02}=value-{i}\n"));
        }
        std::fs::write(&self.dotenv, text).unwrap_or_else(|e| panic!("dotenv: {e}"));
    }

    fn reverted(&self) {
        std::fs::write(&self.dotenv, "KEEP=kept\n").unwrap_or_else(|e| panic!("dotenv: {e}"));
    }

    fn held(&self) -> BTreeMap<String, String> {
        self.fake
            .variables(WORKSPACE, REPOSITORY, None)
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
    }

    fn foreign() -> BTreeMap<String, String> {
        FOREIGN
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Starts `sync` with the new keys and waits until `writes` of them are at the fake.
    async fn sync_until(&self, writes: usize) -> Child {
        self.with_new_keys();
        let child = self
            .command("sync")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning the tool: {e}"));
        let target = FOREIGN.len() + 1 + writes;
        let reached = eventually(Duration::from_secs(30), || self.held().len() >= target).await;
        assert!(reached, "the sync made {writes} writes");
        child
    }
}

async fn finish(child: Child) -> std::process::Output {
    let waited = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(Ok(Ok(output))) => output,
        other => panic!("the stopped tool did not exit: {other:?}"),
    }
}

fn check_exit(stop: Stop, output: &std::process::Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    match stop {
        Stop::Kill => assert_eq!(output.status.signal(), Some(9), "{what}"),
        Stop::Term | Stop::Int => {
            assert_eq!(
                output.status.code(),
                Some(INTERRUPTED),
                "{what}: {stdout}\n{stderr}"
            );
            assert!(stdout.starts_with("interrupted sync"), "{what}: {stdout}");
            assert!(stdout.contains("not attempted"), "{what}: {stdout}");
        }
    }
}

/// Revert the source, then `sync` and `remove`: the destination ends as the model says.
async fn reconcile(case: &Case, what: &str) {
    case.reverted();
    // Deleting what the stopped run created is most of the managed keys: lift the guard.
    let mut sync = case.command("sync");
    sync.args(["--max-delete-share", "1"]);
    let synced = run(sync).await.expect(APPLIED, what);
    let mut model = Case::foreign();
    model.insert("INT_KEEP".into(), "kept".into());
    assert_eq!(case.held(), model, "{what}: after sync: {synced:#?}");
    case.run("remove").await.expect(APPLIED, what);
    assert_eq!(case.held(), Case::foreign(), "{what}: after remove");
}

async fn stopped_at(stop: Stop, seed: u64) {
    let mut state = seed;
    let writes = 2 + (next(&mut state) % 18) as usize;
    let what = format!("{stop:?} after {writes} writes (seed {seed})");
    let case = Case::new().await;
    case.run("sync").await.expect(APPLIED, "the first sync");
    case.fake.faults().set_latency(Duration::from_millis(50));
    let child = case.sync_until(writes).await;
    send(child.id(), stop);
    let output = finish(child).await;
    check_exit(stop, &output, &what);
    reconcile(&case, &what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_leaves_nothing_unowned() {
    for seed in [11, 2024] {
        stopped_at(Stop::Term, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_at_seeded_points_leaves_nothing_unowned() {
    for seed in [7, 4242] {
        stopped_at(Stop::Int, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_seeded_points_leaves_nothing_unowned() {
    for seed in [3, 99, 31337] {
        stopped_at(Stop::Kill, seed).await;
    }
}

/// A second signal while writes are in flight exits at once with 130; the claims are
/// already in the ledger, so the next sync and remove still clean up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_loses_no_claim() {
    let case = Case::new().await;
    case.run("sync").await.expect(APPLIED, "the first sync");
    case.fake.faults().set_latency(Duration::from_millis(50));
    let child = case.sync_until(6).await;
    // Writes now take longer than the tool's grace: only the second signal ends it soon.
    case.fake.faults().set_latency(Duration::from_secs(6));
    // The writes already sent end within 50 ms; the next ones then hang at the fake.
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(child.id(), Stop::Term);
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(child.id(), Stop::Int);
    let output = finish(child).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(INTERRUPTED), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    // Let the fake finish the requests it was holding, then reconcile at full speed.
    case.fake.faults().set_latency(Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(7)).await;
    reconcile(&case, "after a second signal").await;
}
