//! The `kms-sync` tool end to end as a real child process: against the `fakes` example
//! (every destination, the KMS source, the commands it prints), `watch` with a source change
//! and Ctrl-C, and the KMS's Checkly group JSON (id and name together, a group holding
//! secrets this sync does not manage).

mod cli_common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use cli_common::*;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID, FAKE_API_KEY};
use kms_sync_hanzo::fake::{FakeKms, CLIENT_ID, CLIENT_SECRET, PROJECT_ID};
use serde_json::json;

/// Collects a child's stdout on a thread.
fn collect(child: &mut Child) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    if let Some(mut out) = child.stdout.take() {
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
    }
    text
}

/// Waits for a child to exit, up to `limit`; its exit code.
async fn wait_exit(mut child: Child, limit: Duration) -> i32 {
    let waited = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait().map(|s| s.code().unwrap_or(-1))),
    )
    .await;
    match waited {
        Ok(Ok(Ok(code))) => code,
        other => panic!("the child did not exit in time: {other:?}"),
    }
}

/// Runs the `fakes` example and every command it prints; then stops it with Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fakes_example_serves_every_command_it_prints() {
    let scratch = Scratch::new();
    let mut fakes = std::process::Command::new(example("fakes"))
        .arg(scratch.path("files"))
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the fakes: {e}"));
    let stdout = fakes.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("the fakes did not get ready: {e}; so far {lines:#?}"));
        if line == "ready" {
            break;
        }
        lines.push(line);
    }
    let mut env: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.push(("XDG_STATE_HOME".into(), scratch.path("state")));
    let commands: Vec<Vec<String>> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("kms-sync "))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    let destinations = lines.iter().filter(|l| l.starts_with("# ")).count();
    assert_eq!(
        destinations, 6,
        "Bitbucket, Checkly (account and group), Octopus, GitHub and GitLab: {lines:#?}"
    );
    assert_eq!(
        commands.len(),
        3 * destinations,
        "three commands per destination: {lines:#?}"
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for args in &commands {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        kms_sync(&argv, &env_refs)
            .await
            .expect(APPLIED, &args.join(" "));
    }
    for args in commands.iter().filter(|a| a[0] == "sync") {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        kms_sync(&argv, &env_refs)
            .await
            .expect(NOTHING_TO_DO, "a resync with the default ledger");
    }
    interrupt(fakes.id());
    assert_eq!(
        wait_exit(fakes, Duration::from_secs(20)).await,
        0,
        "Ctrl-C stops the fakes"
    );
}

/// watch: the initial sync, a sync after the KMS changes, and a clean stop on Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_source_change_and_stops_on_ctrl_c() {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    let bitbucket = FakeBitbucket::start().await;
    let scratch = Scratch::new();
    let definition = scratch.write(
        "sync.json",
        &json!({"name": "cli-watch", "projectId": PROJECT_ID, "environment": "prod", "secretPath": "/",
                "destination": "bitbucket", "syncOptions": {"keySchema": "KMS_{{secretKey}}"},
                "destinationConfig": {"workspaceSlug": WORKSPACE, "repositorySlug": REPOSITORY}})
        .to_string(),
    );
    let connection = scratch.write(
        "connection.json",
        &json!({"method": "api-token", "credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}})
            .to_string(),
    );
    let mut command = tool();
    command
        .args([
            "watch",
            "--definition",
            &definition,
            "--connection",
            &connection,
        ])
        .args([
            "--base-url",
            &bitbucket.base_url(),
            "--poll-interval",
            "200ms",
        ])
        .env("KMS_URL", kms.base_url())
        .env("KMS_CLIENT_ID", CLIENT_ID)
        .env("KMS_CLIENT_SECRET", CLIENT_SECRET)
        .env("KMS_SYNC_STATE_KEY", "cli-watch-state-key-0123456789")
        .env("XDG_STATE_HOME", scratch.path("state"))
        .stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting watch: {e}"));
    let stdout = collect(&mut child);
    let value = |key: &str| {
        bitbucket
            .variables(WORKSPACE, REPOSITORY, None)
            .get(key)
            .map(|(v, _)| v.clone())
    };
    assert!(
        eventually(Duration::from_secs(30), || value("KMS_A").as_deref()
            == Some("1"))
        .await,
        "the initial sync"
    );
    kms.set("prod", "/", "A", "2");
    kms.set("prod", "/", "B", "new");
    assert!(
        eventually(Duration::from_secs(30), || {
            value("KMS_A").as_deref() == Some("2") && value("KMS_B").as_deref() == Some("new")
        })
        .await,
        "the change reached the destination"
    );
    assert!(
        eventually(Duration::from_secs(10), || stdout
            .lock()
            .is_ok_and(|s| s.contains("source change sync succeeded")))
        .await,
        "the run is reported"
    );
    interrupt(child.id());
    let code = wait_exit(child, Duration::from_secs(30)).await;
    let out = stdout.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(code, APPLIED, "Ctrl-C ends watch cleanly: {out}");
    assert!(
        out.contains("watch: initial sync succeeded: 1 created"),
        "{out}"
    );
    assert!(
        out.contains("watch: source change sync succeeded: 1 created, 1 updated"),
        "{out}"
    );
}

fn checkly_files(scratch: &Scratch, config: serde_json::Value) -> (String, String) {
    let definition = scratch.write(
        "checkly.json",
        &json!({"name": "cli-checkly", "environment": "prod", "secretPath": "/", "destination": "checkly",
                "syncOptions": {"keySchema": "KMS_{{secretKey}}"}, "destinationConfig": config})
        .to_string(),
    );
    let connection = scratch.write(
        "checkly-connection.json",
        &json!({"name": "ck", "method": "api-key", "credentials": {"apiKey": FAKE_API_KEY}})
            .to_string(),
    );
    (definition, connection)
}

/// The KMS stores a Checkly group as `groupId` (a string) with `groupName`: accepted, the
/// id decides, and a name that does not match is a clear configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkly_groups_as_the_kms_writes_them() {
    let fake = FakeChecklyServer::start().await;
    let group = fake.add_group("API checks");
    let scratch = Scratch::new();
    let dotenv = scratch.write(".env", "A=1\n");
    let base = fake.base_url();
    let run = |config: serde_json::Value| {
        let (definition, connection) = checkly_files(&scratch, config);
        let dotenv = dotenv.clone();
        let base = base.clone();
        async move {
            kms_sync(
                &[
                    "sync",
                    "--definition",
                    &definition,
                    "--connection",
                    &connection,
                    "--dotenv",
                    &dotenv,
                    "--base-url",
                    &base,
                    "--no-state",
                ],
                &[],
            )
            .await
        }
    };
    let both = json!({"accountId": ACCOUNT_ID, "accountName": "Fake Company",
                      "groupId": group.to_string(), "groupName": "API checks"});
    run(both)
        .await
        .expect(APPLIED, "groupId and groupName together");
    assert_eq!(fake.group_variables(group).len(), 1);

    let mismatch =
        json!({"accountId": ACCOUNT_ID, "groupId": group.to_string(), "groupName": "Web checks"});
    let refused = run(mismatch)
        .await
        .expect(USAGE, "a name that is not the group's");
    for part in ["`API checks`", "`Web checks`", "the id decides"] {
        assert!(refused.stderr.contains(part), "{refused:#?}");
    }

    // A secret this sync does not manage would be destroyed by the group's PUT: refused.
    fake.seed_group_variable(
        group,
        json!({"key": "FOREIGN_SECRET", "value": "theirs", "locked": false, "secret": true}),
    );
    std::fs::write(&dotenv, "A=2\n").unwrap_or_else(|e| panic!("{e}"));
    let foreign = run(json!({"accountId": ACCOUNT_ID, "groupId": group.to_string()}))
        .await
        .expect(REFUSED, "a group holding foreign secrets");
    assert!(foreign.stdout.contains("FOREIGN_SECRET"), "{foreign:#?}");
    assert_eq!(fake.group_variables(group).len(), 2, "nothing written");
}
