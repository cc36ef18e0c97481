//! `kms-sync-server serve` as a real process, with a ten-line TOML and three environment
//! variables: it serves the API, runs the syncs it creates against the loopback fakes,
//! answers /healthz, /readyz and /metrics, stops cleanly on SIGTERM, and never shows a
//! secret; `check-config` and `migrate` refuse what is wrong, naming it.

mod common;

use std::time::Duration;

use common::*;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use kms_sync_hanzo::fake::{FakeKms, CLIENT_ID, CLIENT_SECRET, PROJECT_ID};
use serde_json::{json, Value};

const VALUE: &str = "server-canary-value-31a9f0";

/// The settings: at most ten lines. Secrets appear only as file paths (`secret_files`).
fn ten_lines(schema: &str, port: u16, bitbucket: &str, files: &str) -> String {
    format!(
        "secret_files = {files}\n[database]\nschema = \"{schema}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
         [destinations.bitbucket]\nbase_url = \"{bitbucket}\"\n[log]\nformat = \"json\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_api_and_the_syncs_then_stops_on_sigterm() {
    let Some(db) = kms_sync_fleet::testing::database("kms-sync-server", "serve").await else {
        return;
    };
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "DB_URL", VALUE);
    let bitbucket = FakeBitbucket::start().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let files = format!(
        "{{ kms_url = \"{}\", kms_client_id = \"{}\", kms_client_secret = \"{}\", api_tokens = \"{}\", allow_address = \"{}\" }}",
        write("kms-url", &kms.base_url()),
        write("client-id", CLIENT_ID),
        write("client-secret", CLIENT_SECRET),
        write("tokens.json", &token_file(PROJECT_ID)),
        write("allow", &format!("{},{}", bitbucket.base_url(), kms.base_url())),
    );
    let port = free_port();
    let toml = ten_lines(db.schema(), port, &bitbucket.base_url(), &files);
    assert!(toml.lines().count() <= 10, "{toml}");
    let config = write("server.toml", &toml);
    let mut running = Running::start(
        server(config.as_ref(), db.url()),
        dir.path().join("server.log"),
        port,
        &[],
    );
    ready(&mut running, Duration::from_secs(60)).await;
    assert_eq!(get(&running.base, "/healthz").await.0, 200);

    let (status, connection) = post(
        &running.base,
        "/api/v1/app-connections/bitbucket",
        &json!({"name": "bb", "method": "api-token", "projectId": PROJECT_ID,
                "credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}}),
    )
    .await;
    assert_eq!(status, 200, "{connection}");
    let connection_id = connection["appConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, sync) = post(
        &running.base,
        "/api/v1/secret-syncs/bitbucket",
        &json!({"name": "to-bitbucket", "projectId": PROJECT_ID, "connectionId": connection_id,
                "environment": "prod", "secretPath": "/", "isEnabled": true,
                "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
                "destinationConfig": {"workspaceSlug": WORKSPACE, "repositorySlug": REPOSITORY}}),
    )
    .await;
    assert_eq!(status, 200, "{sync}");
    let synced = eventually(Duration::from_secs(60), || {
        bitbucket
            .variables(WORKSPACE, REPOSITORY, None)
            .contains_key("DB_URL")
    })
    .await;
    assert!(synced, "the sync never ran: {}", running.log_text());

    // The run is counted when its end is recorded, just after its last write.
    let mut metrics = String::new();
    for _ in 0..300 {
        let (status, text) = get(&running.base, "/metrics").await;
        assert_eq!(status, 200);
        metrics = text;
        if metrics.contains("kms_sync_fleet_runs_total") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("kms_sync_fleet_runs_total"), "{metrics}");
    assert!(metrics.contains("kms_sync_fleet_claims_total"), "{metrics}");

    // The run is in the audit trail beside the calls that created it (told after its end).
    let audit_path = format!("/api/v1/audit-events?projectId={PROJECT_ID}");
    let mut audit = Value::Null;
    for _ in 0..300 {
        let (status, list) = get_json(&running.base, &audit_path).await;
        assert_eq!(status, 200, "{list}");
        audit = list;
        if audit.to_string().contains("secret-sync-sync-secrets") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit_text = audit.to_string();
    for event in [
        "create-app-connection",
        "create-secret-sync",
        "secret-sync-sync-secrets",
    ] {
        assert!(
            audit_text.contains(event),
            "{event} not audited: {audit_text}"
        );
    }
    assert!(!audit_text.contains(VALUE), "a value in the audit trail");

    running.signal("TERM");
    assert_eq!(
        running.wait(Duration::from_secs(30)),
        Some(0),
        "{}",
        running.log_text()
    );
    let log = running.log_text();
    assert!(log.lines().any(|l| l.starts_with('{')), "JSON logs: {log}");
    for secret in [
        VALUE,
        FAKE_TOKEN,
        CLIENT_SECRET,
        LEDGER_KEY,
        &CREDENTIAL_KEYS[3..40],
        API_TOKEN,
    ] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
        assert!(!metrics.contains(secret), "{secret} in /metrics");
    }
    let _ = db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_names_what_is_missing_or_misplaced() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "[worker]\nconcurrency = 2\n").unwrap();
    let out = server(&config, "postgres://127.0.0.1:1/none")
        .arg("check-config")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("KMS_SYNC_LEDGER_KEY") && stdout.contains("set"),
        "{stdout}"
    );
    assert!(
        stderr.contains("KMS_SYNC_API_TOKENS"),
        "the missing token file: {stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains(LEDGER_KEY));

    std::fs::write(
        &config,
        "[database]\ndatabase_url = \"postgres://u:hunter2@h/d\"\n",
    )
    .unwrap();
    let out = server(&config, "postgres://127.0.0.1:1/none")
        .arg("check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("database.database_url") && stderr.contains("KMS_SYNC_DATABASE_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let mut bad_ring = server(&config, "postgres://127.0.0.1:1/none");
    std::fs::write(&config, "").unwrap();
    let out = bad_ring
        .env("KMS_SYNC_CREDENTIAL_KEYS", "k1:abc")
        .env("KMS_SYNC_API_TOKENS", token_file(PROJECT_ID))
        .arg("check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("KMS_SYNC_CREDENTIAL_KEYS entry 1"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_schema_and_serve_refuses_a_missing_database_url() {
    let Some(db) = kms_sync_fleet::testing::database("kms-sync-server", "migrate").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!("[database]\nschema = \"{}\"\n", db.schema()),
    )
    .unwrap();
    let out = server(&config, db.url()).arg("migrate").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(db.schema()), "{stdout}");
    let tables = db
        .count(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
            db.schema()
        ))
        .await
        .unwrap();
    assert!(tables > 3, "{tables} tables");

    let out = server(&config, db.url())
        .env_remove("KMS_SYNC_DATABASE_URL")
        .args(["serve", "--no-api"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("KMS_SYNC_DATABASE_URL is not set"),
        "{stderr}"
    );
    let _ = db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_workers_needs_no_kms_nor_ledger_key_and_no_api_serves_only_the_ops_endpoints() {
    let Some(db) = kms_sync_fleet::testing::database("kms-sync-server", "parts").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.json");
    std::fs::write(&tokens, token_file(PROJECT_ID)).unwrap();
    let config = dir.path().join("server.toml");
    let port = free_port();
    // The API checks a new connection's credentials against the service: a fake one here.
    let bitbucket = FakeBitbucket::start().await;
    let toml = format!(
        "[database]\nschema = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
         [destinations.bitbucket]\nbase_url = \"{}\"\n",
        db.schema(),
        bitbucket.base_url()
    );
    std::fs::write(&config, toml).unwrap();

    // The API alone: no ledger key, no KMS identity, and the API answers.
    let mut command = server(&config, db.url());
    command
        .env_remove("KMS_SYNC_LEDGER_KEY")
        .env("KMS_SYNC_ALLOW_ADDRESS", bitbucket.base_url())
        .env("KMS_SYNC_API_TOKENS_FILE", &tokens);
    let mut api_only = Running::start(command, dir.path().join("api.log"), port, &["--no-workers"]);
    ready(&mut api_only, Duration::from_secs(60)).await;
    let (status, _) = post(
        &api_only.base,
        "/api/v1/app-connections/bitbucket",
        &json!({"name": "bb", "method": "api-token", "projectId": PROJECT_ID,
                "credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}}),
    )
    .await;
    assert_eq!(status, 200, "{}", api_only.log_text());
    api_only.signal("TERM");
    assert_eq!(
        api_only.wait(Duration::from_secs(30)),
        Some(0),
        "{}",
        api_only.log_text()
    );

    // Workers alone: no token file needed, and no API route.
    let kms = FakeKms::start().await;
    let mut command = server(&config, db.url());
    command
        .env("KMS_URL", kms.base_url())
        .env("KMS_CLIENT_ID", CLIENT_ID)
        .env("KMS_CLIENT_SECRET", CLIENT_SECRET);
    let mut workers_only =
        Running::start(command, dir.path().join("workers.log"), port, &["--no-api"]);
    ready(&mut workers_only, Duration::from_secs(60)).await;
    let (status, _) = get(&workers_only.base, "/api/v1/app-connections/bitbucket").await;
    assert_eq!(status, 404, "no API with --no-api");
    assert_eq!(get(&workers_only.base, "/healthz").await.0, 200);
    workers_only.signal("TERM");
    assert_eq!(
        workers_only.wait(Duration::from_secs(30)),
        Some(0),
        "{}",
        workers_only.log_text()
    );
    let _ = db.finish().await;
}
