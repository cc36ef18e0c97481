//! What the server turns on in the API from its KMS settings, and its failure notices:
//! a sync of a folder the KMS does not have is refused as the KMS refuses it, the plan
//! route answers a value-free plan (with the workers' ledger key), and a failing
//! destination sends one signed notice per failure episode to the webhook — with no value
//! in the notice or the server's log, nor the webhook's URL in the log.

mod common;

use std::time::Duration;

use common::webhook::{signed_with, Receiver};
use common::*;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use kms_sync_fleet::testing::TestDb;
use kms_sync_hanzo::fake::{FakeKms, CLIENT_ID, CLIENT_SECRET, PROJECT_ID};
use serde_json::{json, Value};

const VALUE: &str = "checks-canary-value-7d21c4";
/// The webhook's path: a secret part of its URL, as a Slack webhook's is.
const HOOK_PATH: &str = "/hooks/T000/B000/hook-secret-9e8d7c";
const SIGNING_KEY: &str = "notice-signing-key-3b5a7c9e1f";

/// `let server = server!("name");` — a started [`Server`], or return (no database: skipped).
macro_rules! server {
    ($name:expr) => {
        match Server::start($name).await {
            Some(server) => server,
            None => return,
        }
    };
}

/// A server (API and workers) on the fakes, with notices to `receiver`; the fake
/// Bitbucket has the repository the syncs write to.
struct Server {
    running: Running,
    _kms: FakeKms,
    bitbucket: FakeBitbucket,
    receiver: Receiver,
    db: TestDb,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(name: &str) -> Option<Server> {
        let db = kms_sync_fleet::testing::database("kms-sync-server", name).await?;
        let kms = FakeKms::start().await;
        kms.set("prod", "/", "DB_URL", VALUE);
        let bitbucket = FakeBitbucket::start().await;
        bitbucket.add_repository(WORKSPACE, REPOSITORY);
        let receiver = Receiver::start(HOOK_PATH).await;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let toml = format!(
            "[database]\nschema = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
             [destinations.bitbucket]\nbase_url = \"{}\"\n[notices]\nretry_backoff = \"50ms\"\n",
            db.schema(),
            bitbucket.base_url()
        );
        let config = dir.path().join("server.toml");
        std::fs::write(&config, toml).unwrap();
        let mut command = server(&config, db.url());
        command
            .env("KMS_URL", kms.base_url())
            .env("KMS_CLIENT_ID", CLIENT_ID)
            .env("KMS_CLIENT_SECRET", CLIENT_SECRET)
            .env("KMS_SYNC_API_TOKENS", token_file(PROJECT_ID))
            .env(
                "KMS_SYNC_ALLOW_ADDRESS",
                format!("{},{}", bitbucket.base_url(), kms.base_url()),
            )
            .env("KMS_SYNC_NOTICE_WEBHOOK_URL", &receiver.url)
            .env("KMS_SYNC_NOTICE_SIGNING_KEY", SIGNING_KEY);
        let mut running = Running::start(command, dir.path().join("server.log"), port, &[]);
        ready(&mut running, Duration::from_secs(60)).await;
        Some(Server {
            running,
            _kms: kms,
            bitbucket,
            receiver,
            db,
            _dir: dir,
        })
    }

    /// A Bitbucket connection; its id.
    async fn connection(&self) -> String {
        let (status, body) = post(
            &self.running.base,
            "/api/v1/app-connections/bitbucket",
            &json!({"name": "bb", "method": "api-token", "projectId": PROJECT_ID,
                    "credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["appConnection"]["id"].as_str().unwrap().to_owned()
    }

    /// `POST /api/v1/secret-syncs/bitbucket` of `prod:<path>` over `connection`, which
    /// must answer `status`; the answer's body.
    async fn create_sync(&self, connection: &str, path: &str, auto: bool, status: u16) -> Value {
        let (got, body) = post(
            &self.running.base,
            "/api/v1/secret-syncs/bitbucket",
            &json!({"name": "to-bitbucket", "projectId": PROJECT_ID, "connectionId": connection,
                    "environment": "prod", "secretPath": path, "isAutoSyncEnabled": auto,
                    "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
                    "destinationConfig": {"workspaceSlug": WORKSPACE, "repositorySlug": REPOSITORY}}),
        )
        .await;
        assert_eq!(got, status, "creating a sync of {path}: {body}");
        body
    }

    /// Stops the server with SIGTERM (it exits 0); its log.
    async fn stop(mut self) -> String {
        self.running.signal("TERM");
        let code = self.running.wait(Duration::from_secs(30));
        let log = self.running.log_text();
        assert_eq!(code, Some(0), "{log}");
        let _ = self.db.finish().await;
        log
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_a_missing_folder_answers_the_kms_400_naming_the_folder() {
    let server = server!("missing_folder");
    let connection = server.connection().await;
    let refused = server
        .create_sync(&connection, "/not-there", false, 400)
        .await;
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("/not-there"), "{refused}");
    assert_eq!(refused["error"], json!("BadRequest"), "{refused}");
    server.create_sync(&connection, "/", false, 200).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_route_answers_a_plan_that_names_the_key_and_holds_no_value() {
    let server = server!("plan");
    let connection = server.connection().await;
    let sync = server.create_sync(&connection, "/", false, 200).await;
    let id = sync["secretSync"]["id"].as_str().unwrap();
    let path = format!("/api/v1/secret-syncs/bitbucket/{id}/plan");
    let (status, plan) = post(&server.running.base, &path, &json!({})).await;
    assert_eq!(status, 200, "planning is configured: {plan}");
    let changes = plan["plan"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(changes.len(), 1, "{plan}");
    assert_eq!(changes[0]["action"], json!("create"), "{plan}");
    assert!(
        changes[0]["key"]
            .as_str()
            .unwrap_or_default()
            .contains("DB_URL"),
        "{plan}"
    );
    assert!(
        !plan.to_string().contains(VALUE),
        "a value in the plan: {plan}"
    );
    let written = server.bitbucket.variables(WORKSPACE, REPOSITORY, None);
    assert!(written.is_empty(), "planning wrote to the destination");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_sends_one_signed_notice_without_a_value() {
    let server = server!("notices");
    server.bitbucket.fail_writes_to("DB_URL");
    let connection = server.connection().await;
    let sync = server.create_sync(&connection, "/", true, 200).await;
    let id = sync["secretSync"]["id"].as_str().unwrap().to_owned();
    let noticed = eventually(Duration::from_secs(60), || {
        !server.receiver.received().is_empty()
    })
    .await;
    assert!(noticed, "no notice: {}", server.running.log_text());

    // A second failure of the same episode (a trigger) sends nothing more.
    let base = &server.running.base;
    let trigger = format!("/api/v1/secret-syncs/bitbucket/{id}/sync-secrets");
    let (status, body) = post(base, &trigger, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let runs_path = format!("/api/v1/secret-syncs/bitbucket/{id}/runs");
    let mut failed = 0;
    for _ in 0..600 {
        let (_, runs) = get_json(base, &runs_path).await;
        let list = runs["runs"].as_array().cloned().unwrap_or_default();
        failed = list
            .iter()
            .filter(|r| r["status"] == json!("failed"))
            .count();
        if failed >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failed >= 2,
        "the trigger's run never failed: {}",
        server.running.log_text()
    );
    // The second run's listener has had its chance to (wrongly) send a notice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = server.receiver.received();
    assert_eq!(received.len(), 1, "one notice per episode: {received:?}");
    let notice = &received[0];
    assert!(
        signed_with(SIGNING_KEY.as_bytes(), &notice.signature, &notice.body),
        "the notice's signature does not check: {notice:?}"
    );
    let json: Value = serde_json::from_str(&notice.body).unwrap();
    assert!(json["text"].is_string(), "Slack-compatible text: {json}");
    assert!(
        notice.body.contains(&id),
        "the notice names the sync: {json}"
    );
    assert!(
        !notice.body.contains(VALUE),
        "a value in the notice: {json}"
    );
    let log = server.stop().await;
    for secret in [
        VALUE,
        SIGNING_KEY,
        "hook-secret-9e8d7c",
        FAKE_TOKEN,
        CLIENT_SECRET,
    ] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_notices_and_names_half_a_notice_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "[notices]\nretry_backoff = \"1s\"\n").unwrap();
    let run = |url: Option<&str>, key: Option<&str>| {
        let mut command = server(&config, "postgres://127.0.0.1:1/none");
        command.env("KMS_SYNC_API_TOKENS", token_file(PROJECT_ID));
        if let Some(url) = url {
            command.env("KMS_SYNC_NOTICE_WEBHOOK_URL", url);
        }
        if let Some(key) = key {
            command.env("KMS_SYNC_NOTICE_SIGNING_KEY", key);
        }
        let out = command.arg("check-config").output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let hook = format!("http://127.0.0.1:9{HOOK_PATH}");
    let (code, text) = run(Some(&hook), Some(SIGNING_KEY));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("failure notices") && text.contains("on"),
        "{text}"
    );
    let (code, text) = run(Some(&hook), None);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("KMS_SYNC_NOTICE_SIGNING_KEY is not set"),
        "{text}"
    );
    let (code, text) = run(Some(&hook), Some("short"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("shorter than 16 bytes"), "{text}");
    for (_, text) in [run(Some(&hook), Some(SIGNING_KEY)), run(Some(&hook), None)] {
        assert!(
            !text.contains("hook-secret-9e8d7c"),
            "the URL shown: {text}"
        );
        assert!(!text.contains(SIGNING_KEY), "the key shown: {text}");
    }
}
